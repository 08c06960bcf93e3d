//! Firmware Management and FOTA defects QA found: stuck sessions, the
//! FOTA=no flag outside campaigns, the download endpoints, campaign
//! messages, the sessions chart and the portal's package screens.

use diesel::prelude::*;
use mdm::auth::Role;
use mdm::fota::FotaState;
use mdm::omadm::syncml::{Alert, Command, Encoding};
use mdm::sim::omadm_handset::FotaOutcome;
use mdm::sim::trace::Trace;
use reqwest::Method;
use serde_json::json;

use crate::common::{run_mdm, spawn_app, spawn_app_with, TestApp};
use crate::fota::{
    ask_fota_url, dm_message, handset, md5_cred, post_dm, sessions, setup, PASSWORD,
};

const DEV_ID: &str = "MEID:A1000012345678";

/// Where the store keeps package `id`'s file.
async fn blob_path(app: &TestApp, id: i64) -> std::path::PathBuf {
    let p = app
        .with_conn(move |c| mdm::firmware::package::get(c, id).unwrap())
        .await;
    mdm::firmware::blobs::BlobStore::new(&app.data_dir).path(&p.sha256)
}

/// Sets a SQL statement's worth of test state.
async fn exec(app: &TestApp, sql: String) {
    app.with_conn(move |c| {
        use diesel::connection::SimpleConnection;
        c.batch_execute(&sql).unwrap();
    })
    .await;
}

fn alert(code: u16) -> Command {
    Command::Alert(Alert {
        cmd_id: 1,
        data: code,
        correlator: None,
        items: vec![],
    })
}

fn has_get(m: &mdm::omadm::syncml::Message) -> bool {
    m.body.commands.iter().any(|c| matches!(c, Command::Get(_)))
}

#[tokio::test]
async fn a_handset_that_lost_its_download_or_its_query_is_served_when_it_asks_again() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let trace = Trace::new(None).unwrap();
    let mut h = handset(&app, Encoding::Wbxml, None, PASSWORD);

    // The package's file is gone for a while: the download fails and the
    // session stays offered, as a handset that lost its download leaves it.
    let blob = blob_path(&app, 1).await;
    let hidden = blob.with_extension("hidden");
    std::fs::rename(&blob, &hidden).unwrap();
    assert!(h.run_fota(&trace).await.is_err());
    let first = sessions(&app, device_id).await.remove(0);
    assert_eq!(first.state, "offered");
    std::fs::rename(&hidden, &blob).unwrap();

    // Asking again, it is offered the package again and updates.
    let outcome = h.run_fota(&trace).await.unwrap();
    assert_eq!(
        outcome,
        FotaOutcome::Updated {
            from: "U960.05".into(),
            to: "U960.07".into()
        }
    );
    let all = sessions(&app, device_id).await;
    assert_eq!(all.len(), 1, "the same session, offered again");
    assert_eq!(all[0].state, "succeeded");
    assert_eq!(all[0].correlator, first.correlator);
}

#[tokio::test]
async fn a_handset_that_dropped_after_the_query_is_queried_again_when_it_asks_again() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let r = ask_fota_url(&app, DEV_ID).await;
    let url = r.headers()["location"].to_str().unwrap().to_string();
    let reply = app.open_fota_dm_session(&url, "7").await;
    assert!(has_get(&reply));
    assert_eq!(sessions(&app, device_id).await[0].state, "querying");

    let trace = Trace::new(None).unwrap();
    let mut h = handset(&app, Encoding::Xml, None, PASSWORD);
    let outcome = h.run_fota(&trace).await.unwrap();
    assert!(
        matches!(outcome, FotaOutcome::Updated { .. }),
        "{outcome:?}"
    );
    let all = sessions(&app, device_id).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].state, "succeeded");
}

#[tokio::test]
async fn offers_a_handset_went_silent_on_are_closed_after_a_day_and_free_the_device() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let offered = |age_ms: i64| {
        let at = mdm::db::now_ms() - age_ms;
        format!(
            "INSERT INTO fota_sessions (device_id, protocol, state, from_version, to_version, \
             package_id, correlator, detail, created_at, updated_at) VALUES ({device_id}, 'omadm', \
             'offered', 'U960.05', 'U960.07', 1, 'c0rr', 'package 1 to U960.07 offered', {at}, {at})"
        )
    };
    let sweep = || app.with_conn(|c| mdm::fota::sweeper::sweep(c).unwrap());

    // Two hours: a long download, still open.
    exec(&app, offered(2 * 3_600_000)).await;
    assert_eq!(sweep().await.fota_sessions, 0);
    assert_eq!(sessions(&app, device_id).await[0].state, "offered");

    // A day and more: given up, with the reason.
    exec(
        &app,
        format!(
            "UPDATE fota_sessions SET updated_at = {}",
            mdm::db::now_ms() - 25 * 3_600_000
        ),
    )
    .await;
    assert_eq!(sweep().await.fota_sessions, 1);
    let s = sessions(&app, device_id).await.remove(0);
    assert_eq!(s.state, "failed");
    assert!(
        s.detail.contains("never reported its download"),
        "{}",
        s.detail
    );

    // The device is free: its next request gets a new session.
    assert_eq!(ask_fota_url(&app, DEV_ID).await.status().as_u16(), 302);
    let all = sessions(&app, device_id).await;
    assert_eq!((all.len(), all[0].state.as_str()), (2, "pending"));

    // A downloaded session the handset never finished goes the same way,
    // also when the device asks before the sweeper has run.
    exec(
        &app,
        format!(
            "UPDATE fota_sessions SET state = 'downloaded', package_id = 1, updated_at = {} \
             WHERE id = {}",
            mdm::db::now_ms() - 25 * 3_600_000,
            all[0].id
        ),
    )
    .await;
    assert_eq!(ask_fota_url(&app, DEV_ID).await.status().as_u16(), 302);
    let all = sessions(&app, device_id).await;
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].state, "pending");
    assert_eq!(all[1].state, "failed");
    assert!(all[1].detail.contains("never reported the update's result"));
}

#[tokio::test]
async fn an_operator_or_firmware_manager_closes_a_stuck_session_from_the_portal() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    assert_eq!(ask_fota_url(&app, DEV_ID).await.status().as_u16(), 302);
    let id = sessions(&app, device_id).await[0].id;
    let page = format!("/firmware/sessions/{id}");
    let close = format!("/firmware/sessions/{id}/close");

    // A care agent sees the session but cannot close it.
    app.add_user("agent", "care-agent-pass-1", Role::Care).await;
    assert_eq!(app.login("agent", "care-agent-pass-1").await.status(), 303);
    let (status, html) = app.page(&page).await;
    assert_eq!(status, 200);
    assert!(!html.contains("id=\"close-session\""));
    let csrf = app.csrf("/devices").await;
    let r = app.post_form(&close, &[("csrf", &csrf)]).await;
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(sessions(&app, device_id).await[0].state, "pending");

    app.add_user("olga", "operator-pass-1", Role::Operator)
        .await;
    assert_eq!(app.login("olga", "operator-pass-1").await.status(), 303);
    let (_, html) = app.page(&page).await;
    assert!(html.contains("id=\"close-session\""), "{html}");
    // Without the form's token nothing changes.
    let r = app.post_form(&close, &[("reason", "x")]).await;
    assert_ne!(r.status().as_u16(), 303);
    assert_eq!(sessions(&app, device_id).await[0].state, "pending");
    let csrf = app.csrf(&page).await;
    let r = app
        .post_form(&close, &[("csrf", &csrf), ("reason", "download lost")])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let s = sessions(&app, device_id).await.remove(0);
    assert_eq!(s.state, "failed");
    assert_eq!(s.detail, "closed by user:olga while pending: download lost");
    let (_, html) = app.page(&page).await;
    assert!(html.contains("can be updated again"), "{html}");
    assert!(!html.contains("id=\"close-session\""));
    // Audited on the device.
    let audited = app
        .with_conn(move |c| {
            use mdm::db::schema::audit_events;
            audit_events::table
                .filter(audit_events::action.eq("FOTA session closed"))
                .select(audit_events::actor)
                .load::<String>(c)
                .unwrap()
        })
        .await;
    assert_eq!(audited, ["user:olga"]);
    // Closing it again says so and changes nothing.
    let r = app.post_form(&close, &[("csrf", &csrf)]).await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.page(&page).await;
    assert!(html.contains("is already closed (failed)"), "{html}");

    // A firmware manager may too; the device's next request gets a session.
    assert_eq!(ask_fota_url(&app, DEV_ID).await.status().as_u16(), 302);
    let id = sessions(&app, device_id).await[0].id;
    app.add_user("fred", "firmware-pass-1", Role::Firmware)
        .await;
    assert_eq!(app.login("fred", "firmware-pass-1").await.status(), 303);
    let page = format!("/firmware/sessions/{id}");
    let csrf = app.csrf(&page).await;
    let r = app
        .post_form(&format!("{page}/close"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(sessions(&app, device_id).await[0].state, "failed");
}

#[tokio::test]
async fn a_model_whose_capability_says_fota_no_is_not_updated_over_the_air() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;

    // Registered while the entry still said yes; it says no by the query.
    let r = ask_fota_url(&app, DEV_ID).await;
    let url = r.headers()["location"].to_str().unwrap().to_string();
    exec(&app, "UPDATE capabilities SET fota = false".into()).await;
    let reply = app.open_fota_dm_session(&url, "7").await;
    let reply = app.answer_make_model_version("7", &reply, "U960.05").await;
    assert!(!reply
        .body
        .commands
        .iter()
        .any(|c| matches!(c, Command::Replace(_) | Command::Exec(_))));
    let s = sessions(&app, device_id).await.remove(0);
    assert_eq!(s.state(), FotaState::NoUpdate);
    assert!(
        s.detail.contains("capability entry says FOTA no"),
        "{}",
        s.detail
    );

    // The FOTA URL says so at once, over either protocol, and records why.
    for protocol in ["omadm", "iota"] {
        exec(
            &app,
            format!("UPDATE capabilities SET protocol = '{protocol}'"),
        )
        .await;
        let r = ask_fota_url(&app, DEV_ID).await;
        assert_eq!(r.status().as_u16(), 409, "{protocol}");
        let text = r.text().await.unwrap();
        assert_eq!(
            text,
            "no update over the air for Samsung SCH-U960 U960.05: its capability entry says FOTA no"
        );
        let s = sessions(&app, device_id).await.remove(0);
        assert_eq!(
            (s.state.as_str(), s.protocol.as_str()),
            ("no_update", protocol)
        );
        assert_eq!(s.detail, text);
    }
    let devices = app
        .with_conn(move |c| mdm::registry::device::get(c, device_id).unwrap())
        .await;
    assert_eq!(devices.firmware_version, "U960.05");
}

#[tokio::test]
async fn a_network_initiated_update_of_a_fota_no_model_is_refused() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let device_id = crate::campaigns::line(&app, &token, 1, "VX9600V04", true).await;
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 3000)
        .await;
    exec(&app, "UPDATE capabilities SET fota = false".into()).await;
    let vault = app.vault.clone();
    let refused = app
        .with_conn(move |c| {
            mdm::omadm::job::notify(
                c,
                &vault,
                device_id,
                mdm::omadm::job::JobKind::Fota,
                &mdm::registry::Actor::System("test"),
                8,
            )
            .map(|_| ())
            .unwrap_err()
            .to_string()
        })
        .await;
    assert!(
        refused.contains("LG VX9600 VX9600V04 over the air: its capability entry says FOTA no"),
        "{refused}"
    );
    assert_eq!(app.count("dm_jobs").await, 0);
    assert_eq!(app.count("outbox").await, 0);
}

#[tokio::test]
async fn head_on_a_package_gives_the_length_a_get_would() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let id = app
        .release_package(&token, "Samsung", "SCH-U960", "U960.05", "U960.07", 5000)
        .await;
    let url = app.url(&format!("/dl/{id}/package"));
    let header = |r: &reqwest::Response, h: &str| {
        r.headers().get(h).map(|v| v.to_str().unwrap().to_string())
    };
    let r = app.client.head(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(&r, "content-length").as_deref(), Some("5000"));
    assert_eq!(header(&r, "accept-ranges").as_deref(), Some("bytes"));
    let r = app
        .client
        .head(&url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(header(&r, "content-length").as_deref(), Some("100"));
    assert_eq!(
        header(&r, "content-range").as_deref(),
        Some("bytes 100-199/5000")
    );
    // The connection still serves a GET after those.
    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().len(), 5000);
}

#[tokio::test]
async fn resuming_a_campaign_that_is_held_at_once_says_it_is_held() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let pkg = app
        .release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 3000)
        .await;
    let id = crate::campaigns::started_campaign(&app, &token, 2, 1).await;
    let r = app
        .api(
            Method::POST,
            &format!("/firmware/packages/{pkg}/state"),
            &token,
        )
        .json(&json!({"state": "withdrawn"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(crate::campaigns::tick(&app).await.paused, [id]);

    app.login_admin().await;
    let page = format!("/firmware/campaigns/{id}");
    let csrf = app.csrf(&page).await;
    let r = app
        .post_form(&format!("{page}/resume"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.page(&page).await;
    assert!(
        html.contains("Campaign held is paused (held: package"),
        "{html}"
    );
    assert!(!html.contains("is running"), "{html}");

    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["campaign", "resume", &id.to_string()],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("campaign {id} is paused (held: package {pkg}")),
        "{out}"
    );
}

#[tokio::test]
async fn campaign_show_does_not_count_a_wave_emptied_by_renotify_as_not_reached() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 3000)
        .await;
    let id = crate::campaigns::started_campaign(&app, &token, 2, 2).await;
    // What renotify leaves: wave 1's unanswered devices queued as wave 2.
    exec(
        &app,
        format!(
            "UPDATE fota_campaign_devices SET wave = 2 WHERE campaign_id = {id}; \
             UPDATE fota_campaigns SET waves = 2 WHERE id = {id}"
        ),
    )
    .await;
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["campaign", "show", &id.to_string()],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("wave   1  empty"), "{out}");
    assert!(out.contains("  1 wave(s) not reached yet"), "{out}");
}

#[tokio::test]
async fn the_campaign_form_counts_the_devices_a_plan_would_take() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    for n in 1..=3 {
        crate::campaigns::line(&app, &token, n, "VX9600V04", false).await;
    }
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 3000)
        .await;
    exec(
        &app,
        format!(
            "UPDATE devices SET deactivated_at = {} WHERE meid = '{}'",
            mdm::db::now_ms(),
            crate::campaigns::meid(3)
        ),
    )
    .await;
    app.login_admin().await;
    let (_, html) = app.page("/firmware/campaigns/new").await;
    assert!(html.contains(", 2 devices)"), "{html}");
    assert!(!html.contains("3 devices"), "{html}");
}

#[tokio::test]
async fn the_sessions_screen_charts_unanswered_sessions_apart_from_failed_updates() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let now = mdm::db::now_ms();
    // One update succeeded, one failed, two notifications never answered.
    for (state, package, detail) in [
        ("succeeded", "1", ""),
        ("failed", "1", "download failed"),
        ("failed", "NULL", mdm::fota::session::NEVER_ANSWERED),
        ("failed", "NULL", mdm::fota::session::NEVER_ANSWERED),
    ] {
        exec(
            &app,
            format!(
                "INSERT INTO fota_sessions (device_id, protocol, state, from_version, detail, \
                 package_id, created_at, updated_at) \
                 VALUES ({device_id}, 'omadm', '{state}', 'U960.05', '{detail}', {package}, {now}, {now})"
            ),
        )
        .await;
    }
    app.login_admin().await;
    let (_, html) = app.page("/firmware/sessions").await;
    assert!(html.contains("id=\"total-failed\">1<"), "{html}");
    assert!(html.contains("id=\"total-unanswered\">2<"), "{html}");
    assert!(html.contains("id=\"success-rate\">50.0 %<"), "{html}");
}

#[tokio::test]
async fn the_cli_refuses_an_empty_package_file() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &[
            "firmware",
            "add",
            "--make",
            "Samsung",
            "--model",
            "SCH-U960",
            "--from",
            "U960.05",
            "--to",
            "U960.07",
            "--file",
            empty.to_str().unwrap(),
        ],
        None,
    );
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("the package file is empty"), "{err}");
    let packages = app
        .with_conn(|c| mdm::firmware::package::list(c).unwrap().len())
        .await;
    assert_eq!(packages, 0);
}

/// Files in the blob store (outside its temp folder).
fn stored_blobs(app: &TestApp) -> usize {
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|d| {
                d.map(|e| {
                    let p = e.unwrap().path();
                    if p.is_dir() {
                        count(&p)
                    } else {
                        1
                    }
                })
                .sum()
            })
            .unwrap_or(0)
    }
    count(&app.data_dir.join("blobs/sha256"))
}

#[tokio::test]
async fn a_refused_upload_stores_nothing() {
    let app = spawn_app().await;
    app.login_admin().await;
    let csrf = app.csrf("/firmware/packages/new").await;
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("make", "")
        .text("model", "SCH-U960")
        .text("to_version", "U960.07")
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![7u8; 4096]).file_name("delta.bin"),
        );
    let r = app
        .client
        .post(app.url("/firmware/packages/new"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert_eq!(stored_blobs(&app), 0);
    assert_eq!(
        std::fs::read_dir(app.data_dir.join("blobs/tmp"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}

#[tokio::test]
async fn release_notes_too_long_are_shown_again_with_the_reason() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let id = app
        .release_package(&token, "Samsung", "SCH-U960", "U960.05", "U960.07", 100)
        .await;
    app.login_admin().await;
    let page = format!("/firmware/packages/{id}");
    let (_, html) = app.page(&page).await;
    assert!(html.contains("maxlength=\"8000\""));
    let csrf = app.csrf(&page).await;
    let typed = format!("{}END", "n".repeat(8000));
    let r = app
        .post_form(
            &format!("{page}/notes"),
            &[("csrf", &csrf), ("release_notes", &typed)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains(&typed), "the typed notes come back");
    assert!(html.contains("must be at most 8000 characters"), "{html}");
    let p = app
        .with_conn(move |c| mdm::firmware::package::get(c, id).unwrap())
        .await;
    assert_eq!(p.release_notes, "Better battery");
}

#[tokio::test]
async fn install_reports_for_a_draft_package_are_refused_like_its_descriptor() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let r = app
        .api(
            Method::POST,
            "/firmware/packages?make=Samsung&model=SCH-U960&from_version=U960.05&to_version=U960.07",
            &token,
        )
        .body(vec![1u8; 100])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let id: i64 = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(app.get(&format!("/dl/{id}/dd")).await.status(), 404);
    let r = app
        .client
        .post(app.url(&format!("/dl/{id}/notify")))
        .body("900 Success")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let installs = app
        .with_conn(move |c| mdm::firmware::package::installs(c, id, 10).unwrap().len())
        .await;
    assert_eq!(installs, 0);
}

#[tokio::test]
async fn server_msg_ids_keep_increasing_after_an_authentication_challenge() {
    let app = spawn_app().await;
    setup(&app, true).await;
    let r = ask_fota_url(&app, DEV_ID).await;
    let url = r.headers()["location"].to_str().unwrap().to_string();
    let challenge = post_dm(
        &app,
        &url,
        &dm_message("9", 1, 65_535, None, vec![alert(1201)]),
    )
    .await;
    assert_eq!(challenge.hdr.msg_id, 1);
    let cred = md5_cred(&app).await;
    let reply = post_dm(
        &app,
        &url,
        &dm_message("9", 2, 65_535, Some(cred), vec![alert(1201)]),
    )
    .await;
    assert!(has_get(&reply), "authenticated and queried");
    assert_eq!(reply.hdr.msg_id, 2);
    let next = app.answer_make_model_version("9", &reply, "U960.05").await;
    assert_eq!(next.hdr.msg_id, 3);
}

#[tokio::test]
async fn the_package_page_shows_the_links_handsets_are_given() {
    let app = spawn_app_with(|c| c.public_url = Some("https://fota.example.net".into())).await;
    let (_, token) = app.token(Role::Admin).await;
    let id = app
        .release_package(&token, "Samsung", "SCH-U960", "U960.05", "U960.07", 100)
        .await;
    app.login_admin().await;
    let (_, html) = app.page(&format!("/firmware/packages/{id}")).await;
    assert!(
        html.contains(&format!("https://fota.example.net/dl/{id}/dd")),
        "{html}"
    );
    assert!(html.contains(&format!("https://fota.example.net/dl/{id}/package")));
}

/// When the device's OMA-DM credentials were set, as the device page shows it.
async fn set_at(app: &TestApp, device_id: i64) -> i64 {
    let vault = app.vault.clone();
    app.with_conn(move |c| {
        mdm::omadm::account::get(c, &vault, device_id)
            .unwrap()
            .unwrap()
            .updated_at
    })
    .await
}

#[tokio::test]
async fn the_credentials_set_time_does_not_move_with_dm_sessions() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let before = set_at(&app, device_id).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let trace = Trace::new(None).unwrap();
    let mut h = handset(&app, Encoding::Wbxml, None, PASSWORD);
    assert!(matches!(
        h.run_fota(&trace).await.unwrap(),
        FotaOutcome::Updated { .. }
    ));
    assert_eq!(set_at(&app, device_id).await, before);
    // Setting them again moves it.
    app.set_dm_credentials(device_id, DEV_ID, "another-secret-2", "server-secret-2")
        .await;
    assert!(set_at(&app, device_id).await > before);
}

#[tokio::test]
async fn the_next_page_of_sessions_keeps_the_device_and_limit_filters() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, false).await;
    let now = mdm::db::now_ms();
    for i in 0..3 {
        exec(
            &app,
            format!(
                "INSERT INTO fota_sessions (device_id, protocol, state, from_version, detail, \
                 created_at, updated_at) VALUES ({device_id}, 'omadm', 'no_update', 'U960.05', '', {t}, {t})",
                t = now + i
            ),
        )
        .await;
    }
    app.login_admin().await;
    let (_, html) = app
        .page(&format!("/firmware/sessions?device_id={device_id}&limit=2"))
        .await;
    let next = html
        .split("rel=\"next\"")
        .next()
        .and_then(|h| h.rsplit("href=\"").next())
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(next.contains(&format!("device_id={device_id}&")), "{next}");
    assert!(next.contains("limit=2&"), "{next}");
}

#[tokio::test]
async fn the_sessions_list_names_each_handset_and_its_line() {
    let app = spawn_app().await;
    let (meid_device, token) = setup(&app, false).await;
    let r = app
        .api(Method::POST, "/profiles", &token)
        .json(&crate::common::profile_json("3125550142"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let d: serde_json::Value = app
        .api(Method::POST, "/devices", &token)
        .json(
            &json!({"esn": "9F100142", "make": "Samsung", "model": "SCH-U960",
                      "firmware_version": "U960.05", "profile_mdn": "3125550142"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let esn_device = d["id"].as_i64().unwrap();
    let now = mdm::db::now_ms();
    for device_id in [meid_device, esn_device] {
        exec(
            &app,
            format!(
                "INSERT INTO fota_sessions (device_id, protocol, state, from_version, detail, \
                 created_at, updated_at) VALUES ({device_id}, 'omadm', 'no_update', 'U960.05', '', {now}, {now})"
            ),
        )
        .await;
    }
    app.login_admin().await;
    let (_, html) = app.page("/firmware/sessions").await;
    // The handset as people know it, linked to its page, and its line.
    assert!(
        html.contains(&format!(
            r#"<a class="mono" href="/devices/{meid_device}">MEID A1000012345678</a>"#
        )),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            r#"<a class="mono" href="/devices/{esn_device}">ESN 9F100142</a></td><td class="mono">3125550142</td>"#
        )),
        "{html}"
    );
    assert!(!html.contains(">device "), "{html}");
}

#[tokio::test]
async fn a_handset_nobody_identified_is_told_how_to_be_identified() {
    let app = spawn_app_with(|c| c.trusted_gateways.clear()).await;
    let (_, _) = setup(&app, true).await;
    // The header from an address not listed as a gateway is not believed:
    // the answer says why and what to set up.
    let r = ask_fota_url(&app, DEV_ID).await;
    assert_eq!(r.status().as_u16(), 400);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("the x-device-id header from 127.0.0.1 was ignored: that address is not a trusted gateway")
            && body.contains("MDM_TRUSTED_GATEWAYS")
            && body.contains("?devid=MEID:"),
        "{body}"
    );
    let r = app.get("/fota/check").await;
    assert_eq!(r.status().as_u16(), 400);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("no trusted gateway identified the handset")
            && body.contains("MDM_TRUSTED_GATEWAYS")
            && body.contains("DevId"),
        "{body}"
    );
    // By its DevId it is identified.
    let r = app.get(&format!("/fota/check?devid={DEV_ID}")).await;
    assert_eq!(r.status().as_u16(), 302);
    // The simulator plays the gateway; it says what the server needs.
    let base = app.base.clone();
    let (code, _, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &[
            "sim",
            "fota",
            "--server",
            &base,
            "--device",
            "A1000012345678",
            "--password",
            PASSWORD,
        ],
        None,
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("hint: the simulator plays the WAP gateway")
            && err.contains("MDM_TRUSTED_GATEWAYS set to this machine's address"),
        "{err}"
    );
}
