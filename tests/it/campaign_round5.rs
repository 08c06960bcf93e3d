//! A slow download that keeps going is not closed for silence; a canary is
//! asked for by name (`canary`), and its skipped devices re-queued before
//! wave 2 go out first; the plan form says who each path can reach.

use diesel::prelude::*;
use mdm::auth::Role;
use mdm::db::schema::{dm_jobs, fota_campaign_devices, fota_sessions};
use reqwest::Method;
use serde_json::{json, Value};

use crate::campaign_requeue::{app, give_credentials, uncredentialed_path};
use crate::campaign_round4::act;
use crate::common::{spawn_app_with, SendJson, TestApp};
use crate::fota::{ask_fota_url, sessions, setup};
use crate::fota_round4::sweep;

const HOUR: i64 = 60 * 60_000;
/// The package `fota::setup` releases.
const SIZE: i64 = 200_000;

// ---- FOTA sweeper: silence counts from the last activity ------------------

/// The test handset's FOTA session, offered package 1.
async fn offered_session(app: &TestApp, device_id: i64) -> i64 {
    app.with_conn(move |c| {
        use mdm::fota::session;
        let s = session::register_pending(c, device_id, "omadm", "U960.05", "test").unwrap();
        let s = session::advance(c, s.id, mdm::fota::FotaState::Querying, "asked").unwrap();
        session::offer(c, s, 1, "U960.07", "corr-1").unwrap().id
    })
    .await
}

/// Sets the session's last state change and its last download activity
/// (`None`: none recorded) so many milliseconds ago.
async fn age(app: &TestApp, fota: i64, changed_ago: i64, download: Option<(i64, i64)>) {
    app.with_conn(move |c| {
        let now = mdm::db::now_ms();
        diesel::update(fota_sessions::table.find(fota))
            .set((
                fota_sessions::updated_at.eq(now - changed_ago),
                fota_sessions::download_at.eq(download.map(|(ago, _)| now - ago)),
                fota_sessions::download_bytes.eq(download.map(|(_, bytes)| bytes)),
            ))
            .execute(c)
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_slow_download_still_making_progress_is_not_closed_after_a_day() {
    // Nothing sweeps but the test.
    let app = spawn_app_with(|c| c.sweep_interval_secs = 0).await;
    let (device_id, _) = setup(&app, true).await;
    let fota = offered_session(&app, device_id).await;

    // Offered 30 hours ago; its download asked for more ten minutes ago.
    age(&app, fota, 30 * HOUR, Some((10 * 60_000, 120_000))).await;
    assert_eq!(sweep(&app, 60).await, 0);
    assert_eq!(sweep(&app, 0).await, 0, "with the stall rule off too");
    assert_eq!(sessions(&app, device_id).await[0].state, "offered");
    // The handset asking its FOTA URL again finds the same session, not a
    // new one with this one closed as abandoned.
    assert_eq!(
        ask_fota_url(&app, "MEID:A1000012345678")
            .await
            .status()
            .as_u16(),
        302
    );
    let all = sessions(&app, device_id).await;
    assert_eq!(
        (all.len(), all[0].state.as_str()),
        (1, "offered"),
        "{all:?}"
    );

    // A whole download, ended two hours ago: it waits for the install and
    // report, a day from that last request, not from the offer.
    age(&app, fota, 30 * HOUR, Some((2 * HOUR, SIZE))).await;
    assert_eq!(sweep(&app, 60).await, 0);
    assert_eq!(sessions(&app, device_id).await[0].state, "offered");

    // The stalled-download rule is as it was: short and quiet for over
    // the window, closed as stalled.
    age(&app, fota, 30 * HOUR, Some((61 * 60_000, 120_000))).await;
    assert_eq!(sweep(&app, 60).await, 1);
    let s = sessions(&app, device_id).await.remove(0);
    assert_eq!(s.state, "failed");
    assert!(
        s.detail
            .starts_with("download stopped after 120000 of 200000 bytes"),
        "{}",
        s.detail
    );
}

#[tokio::test]
async fn a_download_silent_for_a_day_since_its_last_request_is_closed() {
    let app = spawn_app_with(|c| c.sweep_interval_secs = 0).await;
    let (device_id, _) = setup(&app, true).await;
    let fota = offered_session(&app, device_id).await;

    // Its last request just under a day ago: still open.
    age(&app, fota, 40 * HOUR, Some((23 * HOUR, SIZE))).await;
    assert_eq!(sweep(&app, 0).await, 0);
    assert_eq!(sessions(&app, device_id).await[0].state, "offered");

    // Over a day since the last request (the stall rule off, so only
    // silence can close it).
    age(&app, fota, 40 * HOUR, Some((25 * HOUR, 120_000))).await;
    assert_eq!(sweep(&app, 0).await, 1);
    let s = sessions(&app, device_id).await.remove(0);
    assert_eq!(s.state, "failed");
    assert!(
        s.detail.contains("never reported its download"),
        "{}",
        s.detail
    );

    // An offer the handset never downloaded at all: a day from the offer,
    // as before.
    let fota = {
        ask_fota_url(&app, "MEID:A1000012345678").await;
        let open = sessions(&app, device_id).await.remove(0).id;
        // The FOTA URL opened a pending session; offer it by hand.
        app.with_conn(move |c| {
            use mdm::fota::session;
            let s = session::advance(c, open, mdm::fota::FotaState::Querying, "asked").unwrap();
            session::offer(c, s, 1, "U960.07", "corr-2").unwrap().id
        })
        .await
    };
    age(&app, fota, 23 * HOUR, None).await;
    assert_eq!(sweep(&app, 0).await, 0);
    age(&app, fota, 25 * HOUR, None).await;
    assert_eq!(sweep(&app, 0).await, 1);
    assert_eq!(sessions(&app, device_id).await[0].state, "failed");
}

// ---- Campaigns: an explicit canary -----------------------------------------

async fn plan(app: &TestApp, token: &str, wave_size: i32, more: Value) -> (u16, Value) {
    let mut body = json!({"name": "VX9600 to V06", "make": "LG", "model": "VX9600",
                          "from_version": "VX9600V04", "wave_size": wave_size, "failure_threshold": 20});
    for (k, v) in more.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app
        .api(Method::POST, "/campaigns", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The devices a campaign's notifications went to, by device id.
async fn notified_devices(app: &TestApp) -> Vec<i64> {
    app.with_conn(|c| {
        dm_jobs::table
            .order(dm_jobs::device_id)
            .select(dm_jobs::device_id)
            .load(c)
            .unwrap()
    })
    .await
}

/// Each of the campaign's devices' wave and state, by device id.
async fn members(app: &TestApp, id: i64) -> Vec<(i64, i32, String)> {
    app.with_conn(move |c| {
        fota_campaign_devices::table
            .filter(fota_campaign_devices::campaign_id.eq(id))
            .order(fota_campaign_devices::device_id)
            .select((
                fota_campaign_devices::device_id,
                fota_campaign_devices::wave,
                fota_campaign_devices::state,
            ))
            .load(c)
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn a_canary_is_what_the_operator_asks_for_even_as_large_as_the_other_waves() {
    let (app, token) = app(Role::Admin).await;
    let ids = uncredentialed_path(&app, &token, 6).await;
    // Lines 3..=6 can be reached; lines 1 and 2 (wave 1) cannot.
    for (n, d) in ids.iter().enumerate().skip(2) {
        give_credentials(&app, n as u32 + 1, *d).await;
    }

    // Equal waves and no canary asked for: wave 1 proves nothing and the
    // campaign runs on, as before.
    let (s, c) = plan(&app, &token, 2, json!({})).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["canary"], Value::Null);
    let v = act(&app, &token, c["id"].as_i64().unwrap(), "start", None).await;
    assert_eq!(
        (v["state"].as_str(), v["wave"].as_i64()),
        (Some("running"), Some(2)),
        "{v}"
    );
    act(&app, &token, c["id"].as_i64().unwrap(), "cancel", None).await;
    // (Its notified devices keep open sessions: the next campaign skips
    // them as busy, so the canary test below uses a fresh app.)

    let (app, token) = self::app(Role::Admin).await;
    let ids = uncredentialed_path(&app, &token, 6).await;
    for (n, d) in ids.iter().enumerate().skip(2) {
        give_credentials(&app, n as u32 + 1, *d).await;
    }
    // A canary of 2 in waves of 2: wave 1 is the canary all the same.
    let (s, c) = plan(&app, &token, 2, json!({"canary": 2})).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(
        (c["canary"].as_i64(), c["first_wave_size"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(c["waves"], 3);
    let id = c["id"].as_i64().unwrap();
    let v = act(&app, &token, id, "start", None).await;
    assert_eq!(v["state"], "paused", "{v}");
    assert_eq!(v["wave"], 2);
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .starts_with("held before wave 2: none of wave 1's 2 device(s) could be notified"),
        "{v}"
    );
    assert!(notified_devices(&app).await.is_empty());

    // The campaign's page says it has a canary.
    app.login_admin().await;
    let (_, page) = app.page(&format!("/firmware/campaigns/{id}")).await;
    assert!(
        page.contains(r#"<span id="campaign-canary">a canary of 2 device(s)"#),
        "{page}"
    );
}

#[tokio::test]
async fn a_first_wave_sized_apart_keeps_meaning_a_canary_and_bad_canaries_are_refused() {
    let (app, token) = app(Role::Admin).await;
    uncredentialed_path(&app, &token, 4).await;
    // The field clients have sent all along: a canary of that size.
    let (s, c) = plan(&app, &token, 3, json!({"first_wave_size": 1})).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(
        (c["canary"].as_i64(), c["first_wave_size"].as_i64()),
        (Some(1), Some(1))
    );
    // A first wave as large as the rest is none.
    let (s, c) = plan(&app, &token, 3, json!({"first_wave_size": 3})).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["canary"], Value::Null);
    // Both, agreeing, are one canary.
    let (s, c) = plan(&app, &token, 3, json!({"first_wave_size": 2, "canary": 2})).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(
        (c["canary"].as_i64(), c["waves"].as_i64()),
        (Some(2), Some(2))
    );

    let before = app.count("fota_campaigns").await;
    for (more, why) in [
        (json!({"canary": 0}), "between 1 and"),
        (json!({"canary": 100_001}), "between 1 and"),
        (
            json!({"canary": 2, "first_wave_size": 3}),
            "The canary is the first wave",
        ),
    ] {
        let (s, v) = plan(&app, &token, 3, more.clone()).await;
        assert_eq!(s, 422, "{more}: {v}");
        let text = v["error"]["fields"]["canary"].as_str().unwrap_or_default();
        assert!(text.contains(why), "{more}: {v}");
    }
    assert_eq!(app.count("fota_campaigns").await, before, "nothing planned");

    // Documented for clients, as an optional field.
    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    let plan_schema = &doc["components"]["schemas"]["CampaignPlan"];
    assert_eq!(plan_schema["properties"]["canary"]["type"], "integer");
    assert!(!plan_schema["required"]
        .as_array()
        .unwrap()
        .contains(&json!("canary")));
    assert!(doc["components"]["schemas"]["Campaign"]["properties"]["canary"].is_object());
}

#[tokio::test]
async fn the_plan_form_asks_for_a_canary_and_refuses_a_bad_one_in_its_own_words() {
    let (app, token) = app(Role::Admin).await;
    uncredentialed_path(&app, &token, 3).await;
    app.login_admin().await;
    let (_, form) = app.page("/firmware/campaigns/new").await;
    assert!(
        form.contains(r#"<input id="canary" name="canary""#),
        "{form}"
    );
    let csrf = app.csrf("/firmware/campaigns/new").await;
    let path = "make=LG&model=VX9600&from=VX9600V04";
    let post = |canary: &'static str| {
        let csrf = csrf.clone();
        let app = &app;
        async move {
            let r = app
                .post_form(
                    "/firmware/campaigns",
                    &[
                        ("csrf", csrf.as_str()),
                        ("name", "canary"),
                        ("path", path),
                        ("wave_size", "1"),
                        ("failure_threshold", "10"),
                        ("canary", canary),
                    ],
                )
                .await;
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    for (bad, message) in [
        ("a few", "The canary must be a whole number."),
        ("0", "The canary must be between 1 and 100000 devices."),
    ] {
        let (s, body) = post(bad).await;
        assert_eq!(s, 422, "{bad}");
        assert!(body.contains(message), "{bad}: {body}");
        // The form comes back with what was typed.
        assert!(
            body.contains(&format!(
                r#"name="canary" type="number" min="1" max="100000" value="{bad}""#
            )),
            "{body}"
        );
    }
    assert_eq!(app.count("fota_campaigns").await, 0);
    // Without the session's token: refused, nothing planned.
    let r = app
        .post_form(
            "/firmware/campaigns",
            &[
                ("name", "x"),
                ("path", path),
                ("wave_size", "1"),
                ("failure_threshold", "10"),
                ("canary", "1"),
            ],
        )
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    assert_eq!(app.count("fota_campaigns").await, 0);

    let (s, _) = post("1").await;
    assert_eq!(s, 303);
    let c = app
        .with_conn(|c| mdm::fota::campaign::list(c, 1).unwrap().remove(0))
        .await;
    // A canary of 1 in waves of 1.
    assert_eq!(
        (c.canary, c.first_wave_size, c.wave_size, c.waves),
        (Some(1), 1, 1, 3)
    );
}

// ---- Campaigns: the canary's re-queued devices go first --------------------

#[tokio::test]
async fn a_held_canarys_requeued_devices_go_out_before_wave_2() {
    let (app, token) = app(Role::Admin).await;
    let ids = uncredentialed_path(&app, &token, 6).await;
    for (n, d) in ids.iter().enumerate().skip(2) {
        give_credentials(&app, n as u32 + 1, *d).await;
    }
    let (_, c) = plan(&app, &token, 2, json!({"canary": 2})).await;
    let id = c["id"].as_i64().unwrap();
    let v = act(&app, &token, id, "start", None).await;
    assert_eq!(
        (v["state"].as_str(), v["wave"].as_i64()),
        (Some("paused"), Some(2))
    );

    // The operator sets the canary's credentials and re-queues from the page.
    give_credentials(&app, 1, ids[0]).await;
    give_credentials(&app, 2, ids[1]).await;
    app.login_admin().await;
    let location = format!("/firmware/campaigns/{id}");
    let (_, page) = app.page(&location).await;
    assert!(
        page.contains("back in the canary (wave 1), which goes out first, before wave 2"),
        "{page}"
    );
    let csrf = app.csrf(&location).await;
    let r = app
        .post_form(
            &format!("{location}/requeue"),
            &[("csrf", &csrf), ("round", "0")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = app.page(&location).await;
    assert!(
        page.contains("2 skipped device(s) re-queued as wave 1. The campaign is paused: Resume sends them first, with the canary, before wave 2."),
        "{page}"
    );
    // Back in wave 1, the campaign at wave 1; no wave added; nobody sent yet.
    let m = members(&app, id).await;
    assert_eq!(
        m.iter()
            .map(|(_, w, s)| (*w, s.as_str()))
            .collect::<Vec<_>>(),
        [
            (1, "queued"),
            (1, "queued"),
            (2, "queued"),
            (2, "queued"),
            (3, "queued"),
            (3, "queued")
        ]
    );
    let v: Value = app
        .api(Method::GET, &format!("/campaigns/{id}"), &token)
        .send_json()
        .await;
    assert_eq!(
        (v["wave"].as_i64(), v["waves"].as_i64()),
        (Some(1), Some(3)),
        "{v}"
    );
    assert!(notified_devices(&app).await.is_empty());

    // Resume: the canary goes out, wave 2 waits for it.
    let v = act(&app, &token, id, "resume", None).await;
    assert_eq!(
        (
            v["state"].as_str(),
            v["wave"].as_i64(),
            v["notified"].as_i64()
        ),
        (Some("running"), Some(1), Some(2)),
        "{v}"
    );
    assert_eq!(notified_devices(&app).await, [ids[0], ids[1]]);
    // A tick while the canary's updates run sends nobody else.
    crate::campaigns::tick(&app).await;
    assert_eq!(notified_devices(&app).await.len(), 2);

    // The canary updates: then wave 2 goes out.
    app.with_conn(|c| {
        diesel::update(fota_sessions::table)
            .set(fota_sessions::state.eq("succeeded"))
            .execute(c)
            .unwrap();
    })
    .await;
    crate::campaigns::tick(&app).await;
    assert_eq!(
        notified_devices(&app).await,
        [ids[0], ids[1], ids[2], ids[3]]
    );
    let m = members(&app, id).await;
    assert_eq!(m[0].2, "succeeded");
    assert_eq!(m[2].2, "notified");
}

#[tokio::test]
async fn skipped_devices_go_after_the_last_wave_once_wave_2_has_gone_out() {
    let (app, token) = app(Role::Admin).await;
    let ids = uncredentialed_path(&app, &token, 5).await;
    // The canary (line 1) is reached; line 3 of wave 2 is not.
    for n in [1usize, 2, 4, 5] {
        give_credentials(&app, n as u32, ids[n - 1]).await;
    }
    let (_, c) = plan(&app, &token, 2, json!({"canary": 1})).await;
    let id = c["id"].as_i64().unwrap();
    assert_eq!(c["waves"], 3);
    act(&app, &token, id, "start", None).await;
    app.with_conn(|c| {
        diesel::update(fota_sessions::table)
            .set(fota_sessions::state.eq("succeeded"))
            .execute(c)
            .unwrap();
    })
    .await;
    // The canary updated; wave 2 goes out (line 3 skipped).
    crate::campaigns::tick(&app).await;
    give_credentials(&app, 3, ids[2]).await;
    let r = act(&app, &token, id, "requeue", Some(json!({"round": 0}))).await;
    assert_eq!(
        (
            r["first_wave"].as_i64(),
            r["last_wave"].as_i64(),
            r["waves"].as_i64(),
            r["wave"].as_i64()
        ),
        (Some(4), Some(4), Some(4), Some(2)),
        "{r}"
    );
}

// ---- The plan form: who each path can reach --------------------------------

#[tokio::test]
async fn the_plan_form_shows_each_paths_devices_with_credentials() {
    let (app, token) = app(Role::Admin).await;
    let ids = uncredentialed_path(&app, &token, 3).await;
    give_credentials(&app, 1, ids[0]).await;
    // A fourth handset with credentials and no line.
    let d: Value = app
        .api(Method::POST, "/devices", &token)
        .json(&json!({"meid": crate::campaigns::meid(9), "make": "LG", "model": "VX9600", "firmware_version": "VX9600V04"}))
        .send_json()
        .await;
    give_credentials(&app, 9, d["id"].as_i64().unwrap()).await;

    app.login_admin().await;
    let (_, form) = app.page("/firmware/campaigns/new").await;
    assert!(
        form.contains("4 devices) · 2 with DM credentials</option>"),
        "{form}"
    );
    let table = form
        .split(r#"id="path-reach""#)
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .unwrap_or_default();
    // Devices, with credentials, on a line, can be notified (most cannot).
    assert!(
        table.contains(
            r#"<td class="mono">LG VX9600 VX9600V04 → VX9600V06</td><td class="num">4</td><td class="num">2</td><td class="num">3</td><td class="num"><span class="badge badge-fail">1</span> <span class="muted">most would be skipped</span></td>"#
        ),
        "{table}"
    );

    // The API's reach of the campaign planned for it says the same.
    let (_, c) = plan(&app, &token, 10, json!({})).await;
    assert_eq!(
        (
            c["reach"]["queued"].as_i64(),
            c["reach"]["no_credentials"].as_i64(),
            c["reach"]["no_line"].as_i64(),
            c["reach"]["unreachable"].as_i64()
        ),
        (Some(4), Some(2), Some(1), Some(3)),
        "{c}"
    );
}
