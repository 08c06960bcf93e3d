//! An operator's management commands end to end: queued through the API,
//! the portal or the CLI, sent by SMS through the test SMSC, run by the
//! simulated handset's own DM tree, and its answers stored with the job.

use std::time::Duration;

use mdm::auth::Role;
use mdm::sim::trace::Trace;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{run_mdm, SendJson, TestApp};
use crate::messaging::{app_with_smsc, handset, line, pushes, start_smsc};

/// The handset answers the notification the SMSC accepted as number `n`.
async fn answer(
    app: &TestApp,
    smsc: &mdm::messaging::smpp::test_smsc::TestSmsc,
    device_id: i64,
    n: usize,
) {
    assert!(smsc.wait_for_accepted(n, Duration::from_secs(10)).await);
    let push = pushes(&smsc.accepted()).remove(n - 1);
    let mut h = handset(app, device_id, "VX9600V04").await;
    let outcome = h
        .run_notified(&push.push.body, &Trace::new(None).unwrap())
        .await
        .expect("notified session runs");
    assert!(outcome.fota.is_none());
}

fn result<'a>(job: &'a Value, command: &str) -> &'a Value {
    job["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["command"] == command)
        .unwrap_or_else(|| panic!("no result for {command}: {job}"))
}

#[tokio::test]
async fn commands_read_and_set_nodes_and_the_handset_says_what_it_refused() {
    let smsc = start_smsc().await;
    let app = app_with_smsc(&smsc, 8).await;
    let (device_id, token) = line(&app).await;

    let r = app
        .api(Method::POST, &format!("/devices/{device_id}/dm-jobs"), &token)
        .json(&json!({"commands": [
            {"command": "get", "path": "./DevDetail/SwV"},
            {"command": "get", "path": "./Customization"},
            {"command": "replace", "path": "./Customization/BrowserHome", "value": "http://portal.example.net/"},
            {"command": "replace", "path": "./Customization/DataRoaming", "value": "true", "format": "bool"},
            {"command": "replace", "path": "./DevInfo/Man", "value": "Forged"},
            {"command": "get", "path": "./No/Such/Node"},
            {"command": "delete", "path": "./Customization/MmsProxy"},
            {"command": "exec", "path": "./LAWMO/Operations/PartiallyLock"},
            {"command": "get", "path": "./LAWMO/State"},
            {"command": "get", "path": "./Customization/BrowserHome"}
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let queued: Value = r.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/dm-jobs/{}", queued["id"]));
    assert_eq!(queued["kind"], "commands");
    assert_eq!(queued["state"], "notified");
    assert_eq!(
        queued["commands"][3],
        "replace:bool ./Customization/DataRoaming true"
    );
    assert_eq!(queued["results"], json!([]));

    answer(&app, &smsc, device_id, 1).await;

    let job: Value = app
        .api(Method::GET, &location.replace("/api/v1", ""), &token)
        .send_json()
        .await;
    // Two commands were refused, so the job failed; the others did what they said.
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(
        job["detail"],
        "10 commands: 8 succeeded, 2 failed (replace ./DevInfo/Man Forged: 405 command not allowed; get ./No/Such/Node: 404 not found)"
    );
    assert_eq!(result(&job, "get ./DevDetail/SwV")["value"], "1.0");
    assert_eq!(result(&job, "get ./DevDetail/SwV")["status"], 200);
    let children = result(&job, "get ./Customization");
    assert_eq!(children["format"], "node");
    assert_eq!(children["value"], "BrowserHome/DataRoaming/MmsProxy");
    assert_eq!(result(&job, "replace ./DevInfo/Man Forged")["status"], 405);
    assert_eq!(result(&job, "get ./No/Such/Node")["status"], 404);
    assert_eq!(
        result(&job, "delete ./Customization/MmsProxy")["status"],
        200
    );
    assert_eq!(
        result(&job, "exec ./LAWMO/Operations/PartiallyLock")["status"],
        200
    );
    // LAWMO State 20: partially locked. Values set earlier in the session read back.
    assert_eq!(result(&job, "get ./LAWMO/State")["value"], "20");
    assert_eq!(result(&job, "get ./LAWMO/State")["format"], "int");
    assert_eq!(
        result(&job, "get ./Customization/BrowserHome")["value"],
        "http://portal.example.net/"
    );

    // A refused Replace of DevInfo changed nothing in the registry either.
    let d: Value = app
        .api(Method::GET, &format!("/devices/{device_id}"), &token)
        .send_json()
        .await;
    assert_eq!(d["device"]["make"], "LG");

    let list: Value = app
        .api(
            Method::GET,
            &format!("/devices/{device_id}/dm-jobs"),
            &token,
        )
        .send_json()
        .await;
    assert_eq!(list["items"][0]["id"], job["id"]);
    assert_eq!(list["next_after"], Value::Null);
}

#[tokio::test]
async fn bad_commands_are_refused_and_nothing_is_sent() {
    let smsc = start_smsc().await;
    let app = app_with_smsc(&smsc, 8).await;
    let (device_id, token) = line(&app).await;
    let path = format!("/devices/{device_id}/dm-jobs");

    for (body, status, says) in [
        (
            json!({"commands": [{"command": "get", "path": "./a//b"}]}),
            422,
            "commands[0]: node \"./a//b\": empty segment",
        ),
        (
            json!({"commands": [{"command": "replace", "path": "./A", "value": "ten", "format": "int"}]}),
            422,
            "\"ten\" is not a 32-bit integer",
        ),
        (
            json!({"commands": [{"command": "copy", "path": "./A"}]}),
            422,
            "\"copy\" is not a command",
        ),
        (json!({"commands": []}), 422, "give at least one command"),
        (
            json!({"preset": "brick"}),
            422,
            "preset \"brick\": use one of lock, partial-lock, unlock, wipe, factory-reset",
        ),
        (json!({"preset": "wipe"}), 422, "send \"confirm\": true"),
        (
            json!({"preset": "lock", "job": "refresh"}),
            422,
            "exactly one of",
        ),
        (json!({"job": "commands"}), 422, "use refresh or fota"),
        (
            json!({"commands": [{"command": "get", "path": "./A", "extra": 1}]}),
            400,
            "extra",
        ),
    ] {
        let r = app
            .api(Method::POST, &path, &token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{body}");
        let e: Value = r.json().await.unwrap();
        let message = e["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
    let r = app
        .api(Method::POST, "/devices/999999/dm-jobs", &token)
        .json(&json!({"preset": "lock"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    // Firmware managers do not command handsets.
    let (_, fw_token) = app.token(Role::Firmware).await;
    let r = app
        .api(Method::POST, &path, &fw_token)
        .json(&json!({"preset": "lock"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = app
        .api(Method::GET, "/dm-jobs/424242", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    assert_eq!(app.count("dm_jobs").await, 0);
    assert_eq!(app.count("outbox").await, 0);
}

#[tokio::test]
async fn care_locks_a_lost_handset_from_its_page_and_the_cli_reads_a_node() {
    let smsc = start_smsc().await;
    let app = app_with_smsc(&smsc, 8).await;
    let (device_id, _) = line(&app).await;
    app.add_user("carol", "care-password-1", Role::Care).await;
    let r = app.login("carol", "care-password-1").await;
    assert_eq!(r.status().as_u16(), 303);
    let page_path = format!("/devices/{device_id}");
    let form = format!("/devices/{device_id}/commands");

    // Without the form's token nothing is queued.
    let r = app
        .post_form(&form, &[("csrf", "forged"), ("preset", "lock")])
        .await;
    assert_ne!(r.status().as_u16(), 303);
    // An operation must be chosen; a wipe must be confirmed; a bad line
    // is named; none of them queues anything.
    // The refusals answer with the page itself (422), the form kept.
    let csrf = app.csrf(&page_path).await;
    let r = app
        .post_form(&form, &[("csrf", &csrf), ("preset", "")])
        .await;
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Nothing was sent. Choose an operation to send."),
        "{page}"
    );
    let csrf = app.csrf(&page_path).await;
    let r = app
        .post_form(&form, &[("csrf", &csrf), ("preset", "wipe")])
        .await;
    let page = r.text().await.unwrap();
    assert!(page.contains("tick the box to confirm"), "{page}");
    let csrf = app.csrf(&page_path).await;
    let r = app
        .post_form(
            &form,
            &[
                ("csrf", &csrf),
                ("script", "get ./DevDetail/SwV\nreplace:int ./X seven"),
            ],
        )
        .await;
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Nothing was sent. Line 2: replace ./X:"),
        "{page}"
    );
    assert_eq!(app.count("dm_jobs").await, 0);

    let csrf = app.csrf(&page_path).await;
    let r = app
        .post_form(&form, &[("csrf", &csrf), ("preset", "lock")])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = app.page(&page_path).await;
    assert!(page.contains("2 commands queued"), "{page}");
    assert!(page.contains("exec ./LAWMO/Operations/FullyLock"), "{page}");

    answer(&app, &smsc, device_id, 1).await;
    let (_, page) = app.page(&page_path).await;
    assert!(page.contains("2 commands: 2 succeeded"), "{page}");
    assert!(
        page.contains("get ./LAWMO/State</td><td>200 OK</td><td class=\"mono\">10"),
        "fully locked: {page}"
    );

    // The CLI queues a read on the same database (the server's sender
    // finds it on its next poll) and shows what came back.
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &[
            "dm",
            "run",
            "--device",
            "A1000012345678",
            "get ./DevInfo/DmV",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("queued with 1 command(s)"), "{out}");
    let job_id = out.split_whitespace().nth(1).unwrap().to_string();
    answer(&app, &smsc, device_id, 2).await;
    let (code, out, _) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["dm", "job", &job_id, "--json"],
        None,
    );
    assert_eq!(code, 0);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["state"], "done");
    assert_eq!(j["results"][0]["value"], "1.2");
    let (code, _, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &[
            "dm",
            "run",
            "--device",
            "A1000012345678",
            "--preset",
            "factory-reset",
        ],
        None,
    );
    assert_eq!(code, 1);
    assert!(err.contains("add --confirm"), "{err}");
}

#[tokio::test]
async fn a_confirmed_wipe_is_accepted_and_its_end_is_recorded_when_the_handset_reports_it() {
    let smsc = start_smsc().await;
    let app = app_with_smsc(&smsc, 8).await;
    let (device_id, token) = line(&app).await;
    let r = app
        .api(
            Method::POST,
            &format!("/devices/{device_id}/dm-jobs"),
            &token,
        )
        .json(&json!({"preset": "wipe", "confirm": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let queued: Value = r.json().await.unwrap();

    answer(&app, &smsc, device_id, 1).await;

    let job: Value = app
        .api(Method::GET, &format!("/dm-jobs/{}", queued["id"]), &token)
        .send_json()
        .await;
    assert_eq!(job["state"], "done", "{job}");
    let wipe = result(&job, "exec ./LAWMO/Operations/Wipe");
    // 202: accepted for processing; the handset's Generic Alert, matched by
    // the Exec's correlator, says how it ended (LAWMO 1200: succeeded).
    assert_eq!(wipe["status"], 202);
    assert_eq!(
        wipe["reported"],
        "1200 (urn:oma:at:lawmo:1.0:OperationComplete)"
    );
    // The LAWMO alert closed no firmware update by mistake.
    let sessions = app
        .with_conn(move |c| {
            mdm::fota::session::for_device(c, device_id, 5)
                .unwrap()
                .len()
        })
        .await;
    assert_eq!(sessions, 0);
}

#[tokio::test]
async fn a_deactivated_handset_is_not_woken_managed_or_provisioned() {
    let app = crate::common::spawn_app().await;
    let (device_id, token) = line(&app).await;
    app.with_conn(move |c| {
        use diesel::prelude::*;
        use mdm::db::schema::devices;
        diesel::update(devices::table.find(device_id))
            .set(devices::activation_state.eq("deactivated"))
            .execute(c)
            .unwrap();
    })
    .await;

    // The API says why, for every kind of job.
    for body in [
        json!({"job": "refresh"}),
        json!({"preset": "lock"}),
        json!({"commands": [{"command": "get", "path": "./DevDetail/SwV"}]}),
    ] {
        let r = app
            .api(
                Method::POST,
                &format!("/devices/{device_id}/dm-jobs"),
                &token,
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 409, "{body}");
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("this handset has been de-activated"),
            "{e}"
        );
    }

    // The device page offers none of it...
    app.login_admin().await;
    let page = format!("/devices/{device_id}");
    let (_, html) = app.page(&page).await;
    assert!(html.contains(r#"id="deactivated-note""#), "{html}");
    for action in [
        "notify",
        "commands",
        "push/settings",
        "push/bootstrap",
        "dm-credentials",
    ] {
        assert!(
            !html.contains(&format!(r#"action="/devices/{device_id}/{action}""#)),
            "{action}: {html}"
        );
    }
    // ...and a form posted all the same is refused with the reason.
    let csrf = app.csrf(&page).await;
    for (action, fields) in [
        ("notify", vec![("job", "refresh")]),
        ("commands", vec![("preset", "lock")]),
        (
            "push/settings",
            vec![("brew_url", "http://brew.example.net/")],
        ),
        ("push/bootstrap", vec![]),
        (
            "dm-credentials",
            vec![("client_password", "device-secret-9")],
        ),
    ] {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(fields);
        let r = app
            .post_form(&format!("/devices/{device_id}/{action}"), &form)
            .await;
        assert_eq!(r.status().as_u16(), 303, "{action}");
        let (_, html) = app.page(&page).await;
        assert!(
            html.contains(r#"<div class="flash flash-error" role="alert">"#)
                && html.contains("This handset has been de-activated"),
            "{action}: {html}"
        );
    }
    assert_eq!(app.count("dm_jobs").await, 0);
    assert_eq!(app.count("outbox").await, 0);
}
