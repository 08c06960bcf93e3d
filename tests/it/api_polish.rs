//! What exploratory QA found in the API, the CLI and the simulators: one
//! shape for the campaigns' field errors, an IOTA-only handset's FOTA job,
//! the release notes' revision history, `campaign show`'s waves, the
//! simulator's answer to an HTML error page, and a late LAWMO report's job.

use std::time::Duration;

use diesel::prelude::*;
use mdm::auth::Role;
use mdm::db::schema::dm_jobs;
use mdm::sim::trace::Trace;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{profile_json, run_mdm, spawn_app, SendJson, TestApp};

async fn status_and_body(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_field_error_of_the_campaign_api_names_its_field() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Firmware).await;
    let (_, admin) = app.token(Role::Admin).await;
    crate::campaigns::line(&app, &admin, 1, "VX9600V04", true).await;
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 1000)
        .await;
    let plan = |k: &str, v: Value| {
        let mut p = json!({
            "name": "VX9600 to V06", "make": "LG", "model": "VX9600",
            "from_version": "VX9600V04", "wave_size": 2, "failure_threshold": 50
        });
        p[k] = v;
        p
    };
    for (body, field, says) in [
        (
            plan("first_wave_size", json!(0)),
            "first_wave_size",
            "first wave",
        ),
        (plan("model", json!(" ")), "model", "Choose the update path"),
        (
            plan("mdn_prefix", json!("31%")),
            "mdn_prefix",
            "is not an MDN prefix",
        ),
        (
            plan("account_id", json!("A".repeat(65))),
            "account_id",
            "up to 64 characters",
        ),
        (
            plan("answer_within_mins", json!(2)),
            "answer_within_mins",
            "between 5 minutes and 24 hours",
        ),
        (plan("window", json!("5pm")), "window", ""),
    ] {
        let (s, answer) =
            status_and_body(app.api(Method::POST, "/campaigns", &token).json(&body)).await;
        assert_eq!(s, 422, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid", "{answer}");
        let named = answer["error"]["fields"][field]
            .as_str()
            .unwrap_or_default();
        assert!(!named.is_empty() && named.contains(says), "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("invalid fields: {field}: ")),
            "{answer}"
        );
    }
    assert_eq!(app.count("fota_campaigns").await, 0);
    // A plan the server cannot carry out has no field to blame: a message.
    let (s, answer) = status_and_body(
        app.api(Method::POST, "/campaigns", &token)
            .json(&plan("from_version", json!("VX9600V01"))),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(answer["error"]["code"], "unprocessable", "{answer}");
    assert!(answer["error"].get("fields").is_none(), "{answer}");

    // The document says which is which.
    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    let summary = doc["paths"]["/campaigns"]["post"]["summary"]
        .as_str()
        .unwrap_or_default()
        .to_string()
        + doc["paths"]["/campaigns"]["post"]["description"]
            .as_str()
            .unwrap_or_default();
    assert!(
        summary.contains("naming it in `fields`") && summary.contains("is a 400"),
        "{summary}"
    );
}

#[tokio::test]
async fn a_fota_job_for_an_iota_only_handset_says_it_speaks_iota_not_oma_dm() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let r = app
        .api(Method::POST, "/capabilities", &token)
        .json(&json!({"make": "Kyocera", "model": "KX-IOTA", "protocol": "iota", "fota": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = app
        .api(Method::POST, "/profiles", &token)
        .json(&profile_json("6135550177"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let d: Value = app
        .api(Method::POST, "/devices", &token)
        .json(
            &json!({"esn": "9F1ABC77", "make": "Kyocera", "model": "KX-IOTA",
                      "firmware_version": "KX1.0", "profile_mdn": "6135550177"}),
        )
        .send_json()
        .await;
    let device_id = d["id"].as_i64().unwrap();

    let says_iota = |text: &str| {
        assert!(
            text.contains("Kyocera KX-IOTA KX1.0 speaks IOTA, not OMA-DM")
                && text.contains("asks for its update itself"),
            "{text}"
        );
        assert!(!text.contains("no released firmware package"), "{text}");
    };
    app.login_admin().await;
    // Before a package and after one: the protocol is the answer either way.
    for release in [false, true] {
        if release {
            app.release_package(&token, "Kyocera", "KX-IOTA", "KX1.0", "KX1.1", 1000)
                .await;
        }
        let (code, _, err) = run_mdm(
            &app.database_url,
            &app.data_dir,
            &["notify", "--device", "9F1ABC77", "--job", "fota"],
            None,
        );
        assert_ne!(code, 0);
        says_iota(&err);
        let (s, answer) = status_and_body(
            app.api(
                Method::POST,
                &format!("/devices/{device_id}/dm-jobs"),
                &token,
            )
            .json(&json!({"job": "fota"})),
        )
        .await;
        assert_eq!(s, 422, "{answer}");
        assert_eq!(answer["error"]["code"], "unprocessable");
        says_iota(answer["error"]["message"].as_str().unwrap());

        // The device page's notify form: a message on the page, not a 500.
        let page = format!("/devices/{device_id}");
        let csrf = app.csrf(&page).await;
        let r = app
            .post_form(
                &format!("{page}/notify"),
                &[("csrf", &csrf), ("job", "fota")],
            )
            .await;
        assert_eq!(r.status().as_u16(), 303);
        let (_, html) = app.page(&page).await;
        says_iota(&html);
    }
    assert_eq!(app.count("dm_jobs").await, 0);
    assert_eq!(app.count("outbox").await, 0);
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
async fn the_revision_history_shows_the_release_notes_before_and_after_an_edit() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let id = app
        .release_package(&token, "Samsung", "SCH-U960", "U960.05", "U960.07", 100)
        .await;
    app.login_admin().await;
    let page = format!("/firmware/packages/{id}");
    let csrf = app.csrf(&page).await;
    let long = format!("Fixes 911 audio. {}", "x".repeat(3000));
    let r = app
        .post_form(
            &format!("{page}/notes"),
            &[
                ("csrf", &csrf),
                ("release_notes", &long),
                ("mandatory", "on"),
            ],
        )
        .await;
    assert!(r.status().is_redirection(), "{}", r.status());

    let p: Value = app
        .api(Method::GET, &format!("/firmware/packages/{id}"), &token)
        .send_json()
        .await;
    let note = p["revisions"][0]["note"].as_str().unwrap();
    assert!(
        note.starts_with("release notes: \"Better battery\" → \"Fixes 911 audio. xxx"),
        "{note}"
    );
    assert!(note.ends_with("…\"\nmandatory: no → yes"), "{note}");
    assert!(note.chars().count() < 700, "bounded: {}", note.len());
    // The portal's history shows the same note.
    let (_, html) = app.page(&page).await;
    assert!(
        html.contains("release notes: &quot;Better battery&quot; → &quot;Fixes 911 audio.")
            || html.contains("release notes: &#34;Better battery&#34; → &#34;Fixes 911 audio.")
            || html.contains("release notes: \"Better battery\" → \"Fixes 911 audio."),
        "{html}"
    );
}

#[tokio::test]
async fn campaign_show_counts_each_waves_skipped_devices() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    // Line 2 has no DM credentials: skipped when its wave is notified.
    crate::campaigns::line(&app, &token, 1, "VX9600V04", true).await;
    crate::campaigns::line(&app, &token, 2, "VX9600V04", false).await;
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 1000)
        .await;
    let c: Value = app
        .api(Method::POST, "/campaigns", &token)
        .json(&json!({"name": "skips", "make": "LG", "model": "VX9600",
                      "from_version": "VX9600V04", "wave_size": 2, "failure_threshold": 50}))
        .send_json()
        .await;
    let id = c["id"].as_i64().unwrap();
    let started: Value = app
        .api(Method::POST, &format!("/campaigns/{id}/start"), &token)
        .send_json()
        .await;
    assert_eq!(started["skipped"], 1, "{started}");
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["campaign", "show", &id.to_string()],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("  wave   1  1 of 2 finished: 0 updated, 0 failed, 1 skipped, 1 notified"),
        "{out}"
    );
}

#[tokio::test]
async fn the_iota_simulator_says_in_one_line_what_answered_404_and_exits_non_zero() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let r = app
        .api(Method::POST, "/devices", &token)
        .json(&json!({"esn": "9F1ABC78", "make": "Kyocera", "model": "KX-IOTA", "firmware_version": "KX1.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    // A base URL under which the server has no FOTA URL: its 404 is a page.
    let server = format!("{}/not-the-fota-url", app.base);
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &[
            "sim",
            "fota",
            "--protocol",
            "iota",
            "--server",
            &server,
            "--device",
            "9F1ABC78",
        ],
        None,
    );
    assert_ne!(code, 0, "{out}");
    let err = err.trim();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains('<'), "no HTML: {err}");
    assert!(
        err.contains(&format!(
            "GET {server}/fota/check (the FOTA URL) answered 404 Not Found: There is no page at this address."
        )),
        "{err}"
    );
    assert!(err.contains("hint: check that --server"), "{err}");
}

/// A handset answers the notification the test SMSC accepted as number `n`.
async fn answer(
    app: &TestApp,
    smsc: &mdm::messaging::smpp::test_smsc::TestSmsc,
    device_id: i64,
    n: usize,
) {
    assert!(smsc.wait_for_accepted(n, Duration::from_secs(10)).await);
    let push = crate::messaging::pushes(&smsc.accepted()).remove(n - 1);
    let mut h = crate::messaging::handset(app, device_id, "VX9600V04").await;
    h.run_notified(&push.push.body, &Trace::new(None).unwrap())
        .await
        .expect("notified session runs");
}

async fn job(app: &TestApp, id: i64) -> mdm::omadm::job::DmJob {
    app.with_conn(move |c| mdm::omadm::job::get(c, id).unwrap().unwrap())
        .await
}

#[tokio::test]
async fn a_late_lawmo_report_finds_its_job_by_correlator_however_many_jobs_came_after() {
    let smsc = crate::messaging::start_smsc().await;
    let app = crate::messaging::app_with_smsc(&smsc, 8).await;
    let (device_id, token) = crate::messaging::line(&app).await;
    // Two Execs in one job: each keeps a correlator of its own.
    let queued: Value = app
        .api(
            Method::POST,
            &format!("/devices/{device_id}/dm-jobs"),
            &token,
        )
        .json(&json!({"commands": [
            {"command": "exec", "path": "./LAWMO/Operations/PartiallyLock"},
            {"command": "exec", "path": "./LAWMO/Operations/UnLock"}
        ]}))
        .send_json()
        .await;
    let id = queued["id"].as_i64().unwrap();
    answer(&app, &smsc, device_id, 1).await;
    let ran = job(&app, id).await;
    let results = ran.results();
    assert_eq!(results.len(), 2, "{results:?}");
    let first = results[0].correlator.clone();
    assert_eq!(first.len(), 16, "{results:?}");
    assert_eq!(results[1].correlator, format!("{first}-2"));
    let stored: Option<String> = app
        .with_conn(move |c| {
            dm_jobs::table
                .find(id)
                .select(dm_jobs::correlator)
                .first(c)
                .unwrap()
        })
        .await;
    assert_eq!(stored.as_deref(), Some(first.as_str()));

    // Many jobs later (refreshes, say), the handset reports the second
    // operation's end: it lands on its own job and command.
    app.with_conn(move |c| {
        use diesel::connection::SimpleConnection;
        let copy = format!(
            "INSERT INTO dm_jobs (device_id, dm_session_id, kind, commands, state, detail, \
             created_by, created_at, updated_at, results) SELECT device_id, dm_session_id, \
             'refresh', '[]', 'done', '', 'test', created_at, updated_at, '[]' FROM dm_jobs \
             WHERE id = {id};"
        );
        c.batch_execute(&copy.repeat(25)).unwrap();
    })
    .await;
    let second = format!("{first}-2");
    let recorded = app
        .with_conn(move |c| {
            mdm::omadm::job::record_reported(
                c,
                device_id,
                Some(&second),
                "urn:oma:at:lawmo:1.0:OperationComplete",
                1400,
            )
            .unwrap()
        })
        .await;
    assert!(recorded, "the report found its job");
    let after = job(&app, id).await;
    assert_eq!(after.state, "failed");
    assert!(
        after
            .detail
            .ends_with("; exec ./LAWMO/Operations/UnLock reported 1400"),
        "{}",
        after.detail
    );
    let results = after.results();
    assert_eq!(results[0].reported, None);
    assert_eq!(
        results[1].reported.as_deref(),
        Some("1400 (urn:oma:at:lawmo:1.0:OperationComplete)")
    );
    // A correlator of no job of this device records nothing.
    let unknown = app
        .with_conn(move |c| {
            mdm::omadm::job::record_reported(
                c,
                device_id + 1,
                Some(&first),
                "urn:oma:at:lawmo:1.0:OperationComplete",
                1200,
            )
            .unwrap()
        })
        .await;
    assert!(!unknown);
}
