//! Operations logging, fifth round, read from the real binary: actix's own
//! start and stop lines kept below info, one line per request even when its
//! response is an error (with the cause on it), and the caller named on the
//! line for a staff user, a self-service subscriber and an API token.

use crate::common::{
    client, csrf_of, drop_database, fresh_database, profile_json, run_mdm, ADMIN_PASSWORD,
};
use crate::served::{serve_command, Served};

/// `mdm serve` with `MDM_LOG` set to `filter`, or unset.
fn start(database_url: &str, data_dir: &std::path::Path, filter: Option<&str>) -> Served {
    let mut command = serve_command(database_url, data_dir);
    command.env_remove("RUST_LOG").env_remove("MDM_LOG_FORMAT");
    match filter {
        Some(f) => command.env("MDM_LOG", f),
        None => command.env_remove("MDM_LOG"),
    };
    Served::spawn(&mut command)
}

/// The completion lines of requests to exactly `path`.
fn request_lines<'a>(log: &'a str, path: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.contains(" mdm::http: ") && l.contains(&format!(" path={path} ")))
        .collect()
}

/// The value of `field=` in a text log line, up to the next space.
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let start = line
        .find(&format!(" {name}="))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + name.len()
        + 2;
    line[start..].split(' ').next().unwrap_or("")
}

#[test]
fn actix_start_and_stop_lines_stay_below_info_unless_asked_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let (database_url, pg) = fresh_database(dir.path());
    let (code, _, err) = run_mdm(&database_url, &data, &["migrate"], None);
    assert_eq!(code, 0, "{err}");

    for filter in [None, Some("info"), Some("debug,mdm=info")] {
        let mut served = start(&database_url, &data, filter);
        // Stopped as soon as the start is announced: the signal is not
        // lost between two handlers.
        served.base();
        let log = served.stop();
        assert!(
            !log.contains("actix_server") && !log.contains("actix_http"),
            "MDM_LOG={filter:?}: actix's own lines at info:\n{log}"
        );
        // The product's own lines tell the start and the stop.
        assert!(log.contains("MDM platform listening"), "{log}");
        assert!(log.contains("SIGTERM received"), "{log}");
        assert!(log.contains("server stopped"), "{log}");
    }
    // Named in the filter, they are what the filter says.
    let mut served = start(&database_url, &data, Some("info,actix_server=info"));
    served.base();
    let log = served.stop();
    assert!(
        log.lines()
            .any(|l| l.contains(" INFO actix_server::") && l.contains("starting")),
        "actix_server named at info:\n{log}"
    );
    drop_database(pg);
}

#[tokio::test]
async fn an_error_response_is_one_line_and_every_caller_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let (database_url, pg) = fresh_database(dir.path());
    let (code, _, err) = run_mdm(&database_url, &data, &["migrate"], None);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run_mdm(
        &database_url,
        &data,
        &["token", "create", "--role", "admin", "pos-loader"],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let token = out
        .split_whitespace()
        .find(|w| w.starts_with("mdm_"))
        .unwrap_or_else(|| panic!("no token in {out:?}"))
        .to_string();

    let mut served = start(&database_url, &data, Some("info"));
    let base = served.base();

    // A subscriber with a Self Service PIN, by API (the token is the caller).
    let mdn = "3125550177";
    let mut profile = profile_json(mdn);
    profile["pin"] = serde_json::json!("2468");
    profile
        .as_object_mut()
        .expect("profile object")
        .remove("prl_id");
    let api = client();
    let res = api
        .post(format!("{base}/api/v1/profiles"))
        .bearer_auth(&token)
        .json(&profile)
        .send()
        .await
        .expect("create profile");
    let status = res.status().as_u16();
    assert_eq!(status, 201, "{}", res.text().await.unwrap_or_default());
    // An API error: the token is still named, the cause is on the line.
    let res = api
        .get(format!("{base}/api/v1/devices/lookup/3122000000"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("lookup");
    assert_eq!(res.status().as_u16(), 404);

    // A portal error, nobody signed in.
    let anonymous = client();
    let res = anonymous
        .get(format!("{base}/no-such-page"))
        .send()
        .await
        .expect("missing page");
    assert_eq!(res.status().as_u16(), 404);

    // A staff user.
    let staff = client();
    let html = staff
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("sign-in page")
        .text()
        .await
        .expect("page");
    let res = staff
        .post(format!("{base}/login"))
        .form(&[
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
            ("csrf", &csrf_of(&html)),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(res.status().as_u16(), 303, "admin signs in");
    let res = staff
        .get(format!("{base}/devices"))
        .send()
        .await
        .expect("devices");
    assert_eq!(res.status().as_u16(), 200);

    // The subscriber, in Self Service.
    let subscriber = client();
    let html = subscriber
        .get(format!("{base}/self/login"))
        .send()
        .await
        .expect("self sign-in page")
        .text()
        .await
        .expect("page");
    let res = subscriber
        .post(format!("{base}/self/login"))
        .form(&[("mdn", mdn), ("pin", "2468"), ("csrf", &csrf_of(&html))])
        .send()
        .await
        .expect("self sign in");
    assert_eq!(res.status().as_u16(), 303, "the subscriber signs in");
    let line_page = format!("/self/line/{mdn}");
    let res = subscriber
        .get(format!("{base}{line_page}"))
        .send()
        .await
        .expect("line page");
    assert_eq!(res.status().as_u16(), 200);
    res.bytes().await.expect("body");
    served.wait_for(&format!(" path={line_page} "));
    let log = served.stop();

    assert!(
        !log.contains("tracing_actix_web") && !log.contains("Error encountered"),
        "a second, generic line for an error response:\n{log}"
    );
    for (path, status, caller, cause) in [
        (
            "/api/v1/devices/lookup/3122000000",
            404,
            "\"token pos-loader (#1)\"",
            Some("error="),
        ),
        ("/no-such-page", 404, "\"-\"", Some("error=")),
        ("/devices", 200, "\"user admin\"", None),
        (line_page.as_str(), 200, "\"subscriber 3125550177\"", None),
        ("/api/v1/profiles", 201, "\"token pos-loader (#1)\"", None),
    ] {
        let lines = request_lines(&log, path);
        assert_eq!(lines.len(), 1, "one line for {path}:\n{log}");
        let line = lines[0];
        assert_eq!(field(line, "status"), status.to_string(), "{line}");
        assert!(
            line.contains(&format!(" caller={caller}")),
            "{path}: caller {caller} in {line}"
        );
        match cause {
            Some(cause) => assert!(line.contains(cause), "{path}: no cause in {line}"),
            None => assert!(!line.contains(" error="), "{path}: {line}"),
        }
        // Any other line of the request (its cause, as the handler logged
        // it) is the product's own, never a repeat of the request.
        let id = field(line, "request_id");
        assert!(!id.is_empty(), "{line}");
        let others: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(id) && *l != line)
            .collect();
        for other in &others {
            assert!(
                !other.contains(" mdm::http: ") && other.contains(": mdm::"),
                "{path}: a second line for the request: {other}"
            );
        }
    }
    let missing = request_lines(&log, "/no-such-page")[0];
    assert!(
        missing.contains("There is no page at this address"),
        "the cause on the line: {missing}"
    );
    drop_database(pg);
}
