//! Re-queueing a campaign's skipped devices (from its page, the API and the
//! CLI), its chart of thousands of waves, and scheduled starts typed with an
//! offset from UTC.

use mdm::auth::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::campaigns::{line, meid};
use crate::common::{run_mdm, spawn_app_with, SendJson, TestApp};
use crate::messaging::{DEVICE_PASSWORD, SERVER_PASSWORD};

/// An app whose scheduler never ticks on its own: each wave moves when
/// the test (or an operator's action) says; and an API token of `role`.
pub(crate) async fn app(role: Role) -> (TestApp, String) {
    let app = spawn_app_with(|c| c.campaign_interval_secs = 0).await;
    let (_, token) = app.token(role).await;
    (app, token)
}

/// Lines 1..=n on the LG VX9600 path, none with DM credentials (so every
/// one is skipped), and a released package for the path.
pub(crate) async fn uncredentialed_path(app: &TestApp, token: &str, n: u32) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 1..=n {
        ids.push(line(app, token, i, "VX9600V04", false).await);
    }
    app.release_package(token, "LG", "VX9600", "VX9600V04", "VX9600V06", 2000)
        .await;
    ids
}

pub(crate) async fn give_credentials(app: &TestApp, n: u32, device_id: i64) {
    app.set_dm_credentials(
        device_id,
        &format!("MEID:{}", meid(n)),
        DEVICE_PASSWORD,
        SERVER_PASSWORD,
    )
    .await;
}

/// The path of [`uncredentialed_path`] whose first `reachable` lines have
/// DM credentials (they can be notified); the rest are skipped.
async fn partly_credentialed_path(
    app: &TestApp,
    token: &str,
    n: u32,
    reachable: usize,
) -> Vec<i64> {
    let ids = uncredentialed_path(app, token, n).await;
    for (n, device) in ids.iter().enumerate().take(reachable) {
        give_credentials(app, n as u32 + 1, *device).await;
    }
    ids
}

async fn campaign(app: &TestApp, id: i64) -> mdm::fota::campaign::Campaign {
    app.with_conn(move |c| mdm::fota::campaign::get(c, id).unwrap())
        .await
}

async fn progress(app: &TestApp, id: i64) -> mdm::fota::campaign::Progress {
    app.with_conn(move |c| {
        let camp = mdm::fota::campaign::get(c, id).unwrap();
        mdm::fota::campaign::progress(c, &camp).unwrap()
    })
    .await
}

async fn audits(app: &TestApp, id: i64, action: &'static str) -> i64 {
    app.with_conn(move |c| {
        use diesel::prelude::*;
        use mdm::db::schema::audit_events;
        audit_events::table
            .filter(audit_events::entity_kind.eq("campaign"))
            .filter(audit_events::entity_id.eq(id))
            .filter(audit_events::action.eq(action))
            .count()
            .get_result::<i64>(c)
            .unwrap()
    })
    .await
}

/// Runs the `mdm` command line against the app's database.
fn mdm(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    run_mdm(&app.database_url, &app.data_dir, args, None)
}

const REQUEUED: &str = "FOTA campaign skipped devices queued again";

/// Plans a campaign `name` over the path by API, in waves of `wave_size`,
/// with what `more` adds to the plan; returns the API's answer.
async fn plan(app: &TestApp, token: &str, name: &str, wave_size: i32, more: Value) -> Value {
    let mut plan = json!({"name": name, "make": "LG", "model": "VX9600",
                          "from_version": "VX9600V04", "wave_size": wave_size, "failure_threshold": 20});
    for (k, v) in more.as_object().expect("more of the plan is an object") {
        plan[k] = v.clone();
    }
    app.api(Method::POST, "/campaigns", token)
        .json(&plan)
        .send_json()
        .await
}

/// POSTs the campaign action `action` (start, pause, cancel, requeue) by
/// API with `body`, if any; returns the answer.
async fn act(
    app: &TestApp,
    token: &str,
    id: i64,
    action: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = app.api(Method::POST, &format!("/campaigns/{id}/{action}"), token);
    if let Some(body) = body {
        r = r.json(&body);
    }
    r.send().await.unwrap()
}

/// Re-queues by API, for `round`; returns the API's answer.
async fn requeue(app: &TestApp, token: &str, id: i64, round: i64) -> Value {
    act(app, token, id, "requeue", Some(json!({ "round": round })))
        .await
        .json()
        .await
        .unwrap()
}

/// Re-queues by API for `round` (none: a body without one); returns the
/// answer's status.
async fn requeue_status(app: &TestApp, token: &str, id: i64, round: Option<i64>) -> u16 {
    let body = round.map_or(json!({}), |round| json!({ "round": round }));
    act(app, token, id, "requeue", Some(body))
        .await
        .status()
        .as_u16()
}

/// Plans and starts a campaign over the path by API; with nobody
/// reachable, every wave ends at once and the campaign completes.
async fn completed_campaign(app: &TestApp, token: &str, wave_size: i32) -> i64 {
    let c = plan(app, token, "VX9600 to V06", wave_size, json!({})).await;
    let id = c["id"].as_i64().unwrap();
    let r = act(app, token, id, "start", None).await;
    assert_eq!(r.status().as_u16(), 200);
    id
}

/// Signs the app's client in as a new firmware manager.
async fn firmware_manager(app: &TestApp) {
    app.add_user("fw", "fw-pass-12345", Role::Firmware).await;
    app.login("fw", "fw-pass-12345").await;
}

/// The campaign page's re-queue form posted with `csrf`, for round 0.
async fn requeue_from_page(app: &TestApp, location: &str, csrf: &str) -> reqwest::Response {
    app.post_form(
        &format!("{location}/requeue"),
        &[("csrf", csrf), ("round", "0")],
    )
    .await
}

#[tokio::test]
async fn skipped_devices_are_requeued_from_the_page_once_however_often_it_is_clicked() {
    let (app, token) = app(Role::Admin).await;
    let ids = uncredentialed_path(&app, &token, 5).await;
    let id = completed_campaign(&app, &token, 2).await;
    let c = campaign(&app, id).await;
    assert_eq!(
        (c.state.as_str(), c.waves, c.requeue_round),
        ("completed", 3, 0)
    );
    assert_eq!(progress(&app, id).await.overall.skipped, 5);

    // The causes are fixed for three of them.
    for (n, device) in ids.iter().enumerate().take(3) {
        give_credentials(&app, n as u32 + 1, *device).await;
    }

    // A care agent may not manage campaigns: no form, and the server
    // refuses the POST whatever the page showed.
    app.add_user("care", "care-pass-12345", Role::Care).await;
    app.login("care", "care-pass-12345").await;
    let csrf = app.csrf("/account").await;
    let r = requeue_from_page(&app, &format!("/firmware/campaigns/{id}"), &csrf).await;
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(campaign(&app, id).await.waves, 3);

    firmware_manager(&app).await;
    let location = format!("/firmware/campaigns/{id}");
    let (_, page) = app.page(&location).await;
    assert!(page.contains(r#"id="campaign-requeue""#), "{page}");
    assert!(page.contains("Re-queue 5 skipped device(s)"), "{page}");
    assert!(page.contains(r#"data-confirm="Queue campaign VX9600 to V06's 5 skipped device(s) again, in waves of 2 after wave 3?"#), "{page}");
    assert!(page.contains(r#"name="round" value="0""#), "{page}");
    let csrf = app.csrf(&location).await;

    // Without the CSRF token nothing happens.
    let r = requeue_from_page(&app, &location, "forged").await;
    assert!(r.status().is_client_error(), "{}", r.status());
    assert_eq!(campaign(&app, id).await.waves, 3);

    let r = requeue_from_page(&app, &location, &csrf).await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = app.page(&location).await;
    assert!(
        page.contains("5 skipped device(s) re-queued as waves 4–6."),
        "{page}"
    );
    // The finished campaign runs again; its first new wave went out now:
    // devices 1 and 2 have credentials now.
    assert!(page.contains("Now 2 notified, 0 skipped again"), "{page}");
    let c = campaign(&app, id).await;
    assert_eq!(
        (c.state.as_str(), c.wave, c.waves, c.requeue_round),
        ("running", 4, 6, 1)
    );
    assert_eq!(c.finished_at, None);
    assert_eq!(c.devices, 5);

    // A second click with the same page's form queues nothing again.
    let r = requeue_from_page(&app, &location, &csrf).await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = app.page(&location).await;
    assert!(page.contains("were already re-queued"), "{page}");
    assert!(page.contains("nothing was queued again"), "{page}");
    let c = campaign(&app, id).await;
    assert_eq!((c.waves, c.requeue_round), (6, 1));
    assert_eq!(audits(&app, id, REQUEUED).await, 1);

    // Each device counted once, with its latest outcome; the waves they
    // left hold nobody now.
    let p = progress(&app, id).await;
    assert_eq!(p.overall.total(), 5);
    assert_eq!(
        (p.overall.notified, p.overall.queued, p.overall.skipped),
        (2, 3, 0)
    );
    assert!(p.waves[..3].iter().all(|w| w.total() == 0));
    assert_eq!(p.waves[3].notified, 2);
    assert_eq!(p.waves[4].queued, 2);
    assert_eq!(p.waves[5].queued, 1);
    let members = app
        .with_conn(move |c| mdm::fota::campaign::members(c, id, None, 0, 100).unwrap())
        .await;
    let last = members
        .iter()
        .find(|m| m.member.device_id == ids[4])
        .unwrap();
    assert_eq!(last.member.wave, 6);
    assert!(
        last.member
            .detail
            .starts_with("queued again; skipped before: "),
        "{}",
        last.member.detail
    );

    // Nobody is skipped now: nothing to offer.
    let (_, page) = app.page(&location).await;
    assert!(!page.contains(r#"id="campaign-requeue""#), "{page}");
    assert!(page.contains(">running<"), "{page}");
}

#[tokio::test]
async fn a_paused_campaign_keeps_its_requeued_devices_after_the_waves_still_to_come() {
    let (app, token) = app(Role::Admin).await;
    // Lines 1-2 can be notified; 3-6 cannot.
    partly_credentialed_path(&app, &token, 6, 2).await;
    let id = plan(&app, &token, "waves", 3, json!({})).await["id"]
        .as_i64()
        .unwrap();
    let started: Value = act(&app, &token, id, "start", None)
        .await
        .json()
        .await
        .unwrap();
    // Wave 1: two notified (their sessions open), one skipped.
    assert_eq!(
        (started["notified"].as_i64(), started["skipped"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(started["requeue_round"], 0);
    let r = act(&app, &token, id, "pause", None).await;
    assert_eq!(r.status().as_u16(), 200);

    let r = requeue(&app, &token, id, 0).await;
    // One skipped device, one wave after the last (wave 3 of 3 planned
    // devices is still to come): the campaign stays paused.
    assert_eq!(r["requeued"], 1);
    assert_eq!(
        (r["first_wave"].as_i64(), r["last_wave"].as_i64()),
        (Some(3), Some(3))
    );
    assert_eq!(r["repeated"], false);
    assert_eq!(r["state"], "paused");
    assert_eq!(r["wave"], 1);
    assert_eq!(r["waves"], 3);
    assert_eq!(r["notified"], 0);
    let p = progress(&app, id).await;
    assert_eq!(
        (p.overall.total(), p.overall.queued, p.overall.notified),
        (6, 4, 2)
    );
}

#[tokio::test]
async fn the_api_requeues_once_per_round_and_refuses_what_it_cannot() {
    let (app, token) = app(Role::Firmware).await;
    let (_, admin) = app.token(Role::Admin).await;
    uncredentialed_path(&app, &admin, 3).await;
    let id = completed_campaign(&app, &token, 2).await;

    // A care token may not.
    let (_, care) = app.token(Role::Care).await;
    assert_eq!(requeue_status(&app, &care, id, Some(0)).await, 403);
    // The round is required: it is what makes a retry safe.
    assert_eq!(requeue_status(&app, &token, id, None).await, 400);
    // A round the campaign has not reached is refused.
    assert_eq!(requeue_status(&app, &token, id, Some(3)).await, 422);
    assert_eq!(campaign(&app, id).await.waves, 2);

    let r = requeue(&app, &token, id, 0).await;
    assert_eq!(r["requeued"], 3);
    assert_eq!(
        (r["first_wave"].as_i64(), r["last_wave"].as_i64()),
        (Some(3), Some(4))
    );
    // Nobody could be notified again: both new waves ended at once, and
    // the campaign completed again.
    assert_eq!(r["skipped"], 3);
    assert_eq!(r["state"], "completed");
    assert_eq!(r["requeue_round"], 1);
    assert_eq!(r["waves"], 4);

    // The same request again (an answer lost, a retry): nothing queued,
    // though the devices are skipped again.
    let again = requeue(&app, &token, id, 0).await;
    assert_eq!(again["repeated"], true);
    assert_eq!(again["requeued"], 0);
    assert_eq!(again["waves"], 4);
    assert_eq!(audits(&app, id, REQUEUED).await, 1);
    let p = progress(&app, id).await;
    assert_eq!((p.overall.total(), p.overall.skipped), (3, 3));

    // A new round, asked for knowingly, takes them again.
    let r = requeue(&app, &token, id, 1).await;
    assert_eq!(
        (r["requeued"].as_i64(), r["waves"].as_i64()),
        (Some(3), Some(6))
    );

    // Neither a draft nor a cancelled campaign is re-queued.
    let draft = plan(&app, &token, "draft", 2, json!({})).await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(requeue_status(&app, &token, draft, Some(0)).await, 409);
    let r = act(&app, &token, draft, "cancel", None).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(requeue_status(&app, &token, draft, Some(0)).await, 409);
}

#[tokio::test]
async fn the_cli_requeues_skipped_devices_and_a_repeated_round_queues_nothing() {
    let (app, token) = app(Role::Admin).await;
    let ids = uncredentialed_path(&app, &token, 3).await;
    let id = completed_campaign(&app, &token, 1).await;
    give_credentials(&app, 1, ids[0]).await;
    let sid = id.to_string();
    let (code, out, err) = mdm(&app, &["campaign", "requeue", &sid]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!(
            "campaign {id}: 3 skipped device(s) re-queued as waves 4-6 (round 1)"
        )),
        "{out}"
    );
    assert!(
        out.contains("1 device(s) notified now, 0 skipped again"),
        "{out}"
    );
    let (code, out, err) = mdm(&app, &["campaign", "requeue", &sid, "--round", "0"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("round 0 was already re-queued"), "{out}");
    assert_eq!(campaign(&app, id).await.waves, 6);
    assert_eq!(audits(&app, id, REQUEUED).await, 1);
    // Nobody skipped now (the other two are waiting for waves 5 and 6).
    let (code, _, err) = mdm(&app, &["campaign", "requeue", &sid]);
    assert_ne!(code, 0);
    assert!(
        err.contains("is skipped: there is nobody to re-queue"),
        "{err}"
    );
}

#[tokio::test]
async fn a_campaign_of_many_waves_is_charted_whole_in_runs() {
    let (app, token) = app(Role::Admin).await;
    uncredentialed_path(&app, &token, 45).await;
    // 45 waves of one device: past the chart's 40 bars.
    let id = completed_campaign(&app, &token, 1).await;
    // A step walks at most 16 empty waves; the scheduler's next ticks.
    let vault = app.vault.clone();
    app.with_conn(move |c| {
        for _ in 0..4 {
            let mut t = mdm::fota::campaign_run::Ticked::default();
            mdm::fota::campaign_run::step(c, &vault, 8, id, &mut t).unwrap();
        }
    })
    .await;
    let c = campaign(&app, id).await;
    assert_eq!((c.waves, c.state.as_str()), (45, "completed"));
    firmware_manager(&app).await;
    let (_, page) = app.page(&format!("/firmware/campaigns/{id}")).await;
    // 23 bars of two waves (the last of one), all 45 waves in them.
    assert!(page.contains(">Waves 1–2<"), "{page}");
    assert!(page.contains(">Waves 43–44<"), "{page}");
    assert!(page.contains(">Wave 45<"), "{page}");
    assert_eq!(page.matches("<rect ").count(), 23, "{page}");
    assert!(
        page.contains("45 waves: each bar, and each row below, sums 2 consecutive waves"),
        "{page}"
    );
    // The table says what the bars draw, row for row.
    assert!(
        page.contains(r#"<th scope="row" class="num">43–44</th><td class="num">2</td>"#),
        "{page}"
    );
    assert!(page.contains("Highest wave failure rate"), "{page}");
    assert_eq!(
        page.matches(r#"<th scope="row" class="num">"#).count(),
        23,
        "{page}"
    );
}

#[tokio::test]
async fn a_scheduled_start_with_an_offset_is_kept_in_utc_everywhere() {
    let (app, token) = app(Role::Admin).await;
    uncredentialed_path(&app, &token, 1).await;
    // 02:00 at UTC+1 is 01:00 UTC.
    let c = plan(
        &app,
        &token,
        "offset",
        2,
        json!({"not_before": "2036-12-01T02:00+01:00"}),
    )
    .await;
    let id = c["id"].as_i64().unwrap();
    let utc = mdm::fota::campaign_schedule::parse_time("2036-12-01 01:00").unwrap();
    assert_eq!(c["not_before"].as_i64(), Some(utc));

    // The form says the field is UTC and takes an offset too.
    firmware_manager(&app).await;
    let location = format!("/firmware/campaigns/{id}");
    let (_, page) = app.page(&location).await;
    assert!(page.contains("Not before (UTC)"), "{page}");
    assert!(
        page.contains(
            "a local time needs its offset from UTC: 2026-12-01T02:00+01:00 is 01:00 UTC"
        ),
        "{page}"
    );
    assert!(page.contains(r#"value="2036-12-01 01:00""#), "{page}");
    let csrf = app.csrf(&location).await;
    let r = app
        .post_form(
            &format!("{location}/schedule"),
            &[
                ("csrf", &csrf),
                ("not_before", "2036-12-01 03:30 -05:00"),
                ("answer_within_mins", "60"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let at = mdm::fota::campaign_schedule::parse_time("2036-12-01 08:30").unwrap();
    assert_eq!(campaign(&app, id).await.not_before, Some(at));
    let (_, page) = app.page(&location).await;
    assert!(page.contains("from 2036-12-01 08:30"), "{page}");

    // The CLI converts too.
    let sid = id.to_string();
    let schedule = |at: &str| mdm(&app, &["campaign", "schedule", &sid, "--not-before", at]);
    let (code, out, err) = schedule("2036-12-02T00:15+05:30");
    assert_eq!(code, 0, "{out}{err}");
    let at = mdm::fota::campaign_schedule::parse_time("2036-12-01 18:45").unwrap();
    assert_eq!(campaign(&app, id).await.not_before, Some(at));
    // A time that is none says both ways to write one.
    let (code, _, err) = schedule("2036-12-01 02:00+1");
    assert_ne!(code, 0);
    assert!(
        err.contains("or with an offset from UTC: 2026-12-01T02:00+01:00"),
        "{err}"
    );
}

#[tokio::test]
async fn a_running_campaign_sends_its_requeued_devices_after_its_planned_waves() {
    let (app, token) = app(Role::Admin).await;
    partly_credentialed_path(&app, &token, 4, 2).await;
    let id = plan(&app, &token, "mid-way", 3, json!({})).await["id"]
        .as_i64()
        .unwrap();
    act(&app, &token, id, "start", None).await;
    // Wave 1: devices 1 and 2 notified (their sessions open), 3 skipped;
    // device 4 waits in wave 2.
    firmware_manager(&app).await;
    let location = format!("/firmware/campaigns/{id}");
    let csrf = app.csrf(&location).await;
    let r = requeue_from_page(&app, &location, &csrf).await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = app.page(&location).await;
    assert!(
        page.contains("1 skipped device(s) re-queued as wave 3. They follow the waves still to come (now at wave 1)."),
        "{page}"
    );
    let c = campaign(&app, id).await;
    assert_eq!((c.state.as_str(), c.wave, c.waves), ("running", 1, 3));
    let p = progress(&app, id).await;
    assert_eq!(
        (p.waves[0].notified, p.waves[1].queued, p.waves[2].queued),
        (2, 1, 1)
    );
    assert_eq!(app.count("dm_jobs").await, 2, "nobody notified out of turn");
}
