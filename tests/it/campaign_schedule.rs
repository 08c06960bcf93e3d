//! When campaigns may wake handsets, and what becomes of handsets that do
//! not answer: a first moment and a daily window hold a started campaign's
//! wave; an answer time turns silence into "unanswered" (not a failed
//! update), and those devices can be notified again.

use std::time::Duration;

use diesel::prelude::*;
use mdm::auth::Role;
use mdm::db::schema::{dm_jobs, fota_campaign_devices, fota_campaigns, outbox};
use mdm::fota::campaign_schedule::minute_of_day;
use mdm::sim::omadm_handset::FotaOutcome;
use mdm::sim::trace::Trace;
use reqwest::Method;
use serde_json::{json, Value};

use crate::campaigns::{line, meid, tick};
use crate::common::{spawn_app_with, SendJson, TestApp};
use crate::messaging::{handset_of, smsc_config, start_smsc};
use mdm::messaging::smpp::test_smsc::TestSmsc;

fn hhmm(minute: i32) -> String {
    let m = minute.rem_euclid(24 * 60);
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// Moves a campaign's notifications `minutes` into the past, as the clock
/// would: when they were queued, and when the SMSC took those it took.
async fn age_notified(app: &TestApp, id: i64, minutes: i64) {
    app.with_conn(move |c| {
        let then = mdm::db::now_ms() - minutes * 60_000;
        diesel::update(
            fota_campaign_devices::table
                .filter(fota_campaign_devices::campaign_id.eq(id))
                .filter(fota_campaign_devices::state.eq("notified")),
        )
        .set(fota_campaign_devices::updated_at.eq(then))
        .execute(c)
        .unwrap();
        diesel::update(outbox::table.filter(outbox::submitted_at.is_not_null()))
            .set(outbox::submitted_at.eq(then))
            .execute(c)
            .unwrap();
    })
    .await;
}

/// Waits until the SMSC has taken `n` notifications, as the outbox records.
async fn submitted(app: &TestApp, n: i64) {
    crate::messaging::wait_until("the notifications to be submitted", || async {
        app.with_conn(|c| {
            outbox::table
                .filter(outbox::submitted_at.is_not_null())
                .count()
                .get_result::<i64>(c)
                .unwrap()
        })
        .await
            == n
    })
    .await;
}

/// Line `n`'s handset answers the latest notification the SMSC took for it
/// and updates.
async fn answers_and_updates(app: &TestApp, smsc: &TestSmsc, n: u32, device: i64) {
    let pushes = crate::campaigns::pushes_by_mdn(smsc);
    let body = &pushes
        .iter()
        .rev()
        .find(|(to, _)| *to == crate::campaigns::mdn(n))
        .expect("a notification for the line")
        .1;
    let mut h = handset_of(app, &meid(n), device, "VX9600V04", None).await;
    let out = h
        .run_notified(body, &Trace::new(None).unwrap())
        .await
        .unwrap();
    assert!(
        matches!(out.fota, Some(FotaOutcome::Updated { .. })),
        "{:?}",
        out.fota
    );
}

async fn campaign_json(app: &TestApp, token: &str, id: i64) -> Value {
    app.api(Method::GET, &format!("/campaigns/{id}"), token)
        .send_json()
        .await
}

fn plan(window: &str, not_before: &str) -> Value {
    json!({"name": "night run", "make": "LG", "model": "VX9600", "from_version": "VX9600V04",
           "wave_size": 10, "failure_threshold": 10, "answer_within_mins": 30,
           "window": window, "not_before": not_before})
}

#[tokio::test]
async fn a_campaign_notifies_only_from_its_start_and_inside_its_daily_window() {
    let app = spawn_app_with(|_| {}).await;
    let (_, token) = app.token(Role::Admin).await;
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 3000)
        .await;
    for n in 1..=2 {
        line(&app, &token, n, "VX9600V04", true).await;
    }
    let now = mdm::db::now_ms();
    let minute = minute_of_day(now);
    // Opens in an hour, for an hour: closed now.
    let closed = format!("{}-{}", hhmm(minute + 60), hhmm(minute + 120));
    let in_an_hour = mdm::timefmt::iso(now + 3_600_000);

    // Schedules that are not times are refused, naming the field; nothing
    // is planned.
    for (window, at, field) in [
        ("25:00-01:00", "", "window"),
        ("02:00-02:00", "", "window"),
        ("", "next tuesday", "not_before"),
    ] {
        let r = app
            .api(Method::POST, "/campaigns", &token)
            .json(&plan(window, at))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 422, "{window} {at}");
        let body: Value = r.json().await.unwrap();
        assert!(body.to_string().contains(field), "{body}");
    }
    let mut bad_zone = plan("01:00-05:00", "");
    bad_zone["window_zone"] = json!("Mars/Olympus");
    let r = app
        .api(Method::POST, "/campaigns", &token)
        .json(&bad_zone)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("window_zone"));
    // A zone is the clock of a window: without one it is refused rather
    // than dropped.
    let mut zone_only = plan("", "");
    zone_only["window_zone"] = json!("America/Chicago");
    let r = app
        .api(Method::POST, "/campaigns", &token)
        .json(&zone_only)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["fields"]["window_zone"]
            .as_str()
            .unwrap()
            .contains("give the window too"),
        "{body}"
    );
    assert_eq!(app.count("fota_campaigns").await, 0);
    let mut bad_answer = plan("", "");
    bad_answer["answer_within_mins"] = json!(2);
    let r = app
        .api(Method::POST, "/campaigns", &token)
        .json(&bad_answer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert_eq!(app.count("fota_campaigns").await, 0);

    let r = app
        .api(Method::POST, "/campaigns", &token)
        .json(&plan(&closed, &in_an_hour))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let c: Value = r.json().await.unwrap();
    let id = c["id"].as_i64().unwrap();
    assert_eq!(c["answer_within_mins"], 30);
    assert_eq!(c["window_from"], (minute + 60) % 1440);

    // Started, but before its first moment: nobody is notified, and the
    // campaign says until when.
    let r: Value = app
        .api(Method::POST, &format!("/campaigns/{id}/start"), &token)
        .send_json()
        .await;
    assert_eq!(
        (r["state"].as_str(), r["notified"].as_i64()),
        (Some("running"), Some(0))
    );
    let c = campaign_json(&app, &token, id).await;
    let waiting = c["waiting"].as_str().unwrap().to_string();
    assert!(
        waiting.starts_with("waiting: notifications start at "),
        "{waiting}"
    );
    assert_eq!(tick(&app).await.notified, 0);
    assert_eq!(app.count("dm_jobs").await, 0);

    // The start time passes (moved back, as the clock would): still
    // outside the window.
    app.with_conn(move |c| {
        diesel::update(fota_campaigns::table.find(id))
            .set(fota_campaigns::not_before.eq(Some(now - 1000)))
            .execute(c)
            .unwrap()
    })
    .await;
    assert_eq!(tick(&app).await.notified, 0);
    let c = campaign_json(&app, &token, id).await;
    let waiting = c["waiting"].as_str().unwrap();
    assert!(
        waiting.contains(&format!("outside its notification window {closed} UTC")),
        "{waiting}"
    );
    // The portal says so on the list and the campaign page.
    app.login_admin().await;
    let (_, page) = app.page(&format!("/firmware/campaigns/{id}")).await;
    assert!(page.contains(r#"id="campaign-waiting""#), "{page}");
    assert!(page.contains(&format!("daily {closed} UTC")), "{page}");
    let (_, list) = app.page("/firmware/campaigns").await;
    assert!(list.contains("outside its notification window"), "{list}");

    // A bad new schedule is refused and changes nothing.
    let r = app
        .api(Method::PUT, &format!("/campaigns/{id}/schedule"), &token)
        .json(&json!({"window": "9-5"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("window"));
    let r = app
        .api(Method::PUT, &format!("/campaigns/{id}/schedule"), &token)
        .json(&json!({"window_zone": "Asia/Kolkata"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("window_zone"));
    assert_eq!(
        campaign_json(&app, &token, id).await["window_from"],
        (minute + 60) % 1440
    );
    // The operator moves the window to one open now: the wave goes out at
    // the next tick.
    // Kept on Kolkata's clock (UTC+05:30, no daylight saving): open there
    // now, though the same times in UTC would be closed.
    let kolkata = minute + 330;
    let open_now = format!("{}-{}", hhmm(kolkata), hhmm(kolkata + 60));
    let c: Value = app
        .api(Method::PUT, &format!("/campaigns/{id}/schedule"), &token)
        .json(&json!({"window": open_now, "window_zone": "Asia/Kolkata", "answer_within_mins": 45}))
        .send_json()
        .await;
    assert_eq!(c["window_from"], kolkata % 1440);
    assert_eq!(c["window_zone"], "Asia/Kolkata");
    assert_eq!(c["answer_within_mins"], 45);
    assert!(c["not_before"].is_null(), "left out: from now");
    assert!(c.get("waiting").is_none(), "{c}");
    assert_eq!(tick(&app).await.notified, 2);
    assert_eq!(app.count("dm_jobs").await, 2);
    let c = campaign_json(&app, &token, id).await;
    assert!(c.get("waiting").is_none(), "{c}");
}

#[tokio::test]
async fn the_portal_plans_a_scheduled_campaign_and_refuses_a_bad_window() {
    let app = spawn_app_with(|_| {}).await;
    let (_, token) = app.token(Role::Admin).await;
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 3000)
        .await;
    line(&app, &token, 1, "VX9600V04", true).await;
    app.login_admin().await;
    let path = "make=LG&model=VX9600&from=VX9600V04";
    let fields = |window: &'static str, csrf: String| {
        vec![
            ("csrf", csrf),
            ("path", path.to_string()),
            ("name", "nightly".to_string()),
            ("wave_size", "10".to_string()),
            ("failure_threshold", "10".to_string()),
            ("answer_within_mins", "120".to_string()),
            ("window", window.to_string()),
            ("not_before", "2030-01-02 03:04".to_string()),
            ("window_zone", "America/Chicago".to_string()),
        ]
    };
    let csrf = app.csrf("/firmware/campaigns/new").await;
    let f = fields("5pm-6pm", csrf);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = app.post_form("/firmware/campaigns", &f).await;
    assert_eq!(r.status().as_u16(), 422);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("is not a window: write it as 01:00-05:00"),
        "{body}"
    );
    // What was typed is kept for correcting.
    assert!(body.contains(r#"value="5pm-6pm""#), "{body}");
    assert_eq!(app.count("fota_campaigns").await, 0);

    // A time zone without a window is refused at its field, not dropped.
    let csrf = app.csrf("/firmware/campaigns/new").await;
    let f = fields("", csrf);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = app.post_form("/firmware/campaigns", &f).await;
    assert_eq!(r.status().as_u16(), 422);
    let body = r.text().await.unwrap();
    assert!(
        body.contains(r#"value="America/Chicago" aria-invalid="true""#),
        "{body}"
    );
    assert!(
        body.contains(r#"<p class="field-error" id="window_zone-err">A time zone is the clock of a daily window"#),
        "{body}"
    );
    assert!(body.contains(r#"value="2030-01-02 03:04""#), "{body}");
    assert_eq!(app.count("fota_campaigns").await, 0);

    let csrf = app.csrf("/firmware/campaigns/new").await;
    let f = fields("22:00-04:00", csrf);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = app.post_form("/firmware/campaigns", &f).await;
    assert_eq!(r.status().as_u16(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let (_, page) = app.page(&location).await;
    assert!(
        page.contains(
            "from 2030-01-02 03:04:00 UTC; daily 22:00-04:00 America/Chicago; handsets answer within 2 hours"
        ),
        "{page}"
    );
    // The schedule form shows the schedule as it was typed.
    assert!(
        page.contains(r#"name="window" placeholder="01:00-05:00" value="22:00-04:00""#),
        "{page}"
    );
    assert!(page.contains(r#"value="2030-01-02 03:04""#), "{page}");
    assert!(
        page.contains(r#"list="zones" placeholder="UTC" value="America/Chicago""#),
        "{page}"
    );
    assert!(
        page.contains(r#"<option value="Asia/Kolkata">"#),
        "zones are suggested"
    );

    // Changing it: a bad time is refused with the reason, nothing changes.
    let reschedule = |window: &'static str, at: &'static str| {
        let app = &app;
        let location = location.clone();
        async move {
            let csrf = app.csrf(&location).await;
            app.post_form(
                &format!("{location}/schedule"),
                &[
                    ("csrf", &csrf),
                    ("window", window),
                    ("not_before", at),
                    ("answer_within_mins", "60"),
                ],
            )
            .await
        }
    };
    let r = reschedule("", "tomorrow").await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = app.page(&location).await;
    assert!(page.contains("tomorrow&#34; is not a time"), "{page}");
    assert!(page.contains("daily 22:00-04:00 America/Chicago"), "{page}");
    // Cleared: any time, from now.
    reschedule("", "").await;
    let (_, page) = app.page(&location).await;
    assert!(
        page.contains("now runs any time of day; handsets answer within 1 hour."),
        "{page}"
    );
    // Without a session's CSRF token nothing changes.
    let r = app
        .post_form(
            &format!("{location}/schedule"),
            &[("window", "01:00-02:00")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 403);
    let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    let c = app
        .with_conn(move |c| mdm::fota::campaign::get(c, id).unwrap())
        .await;
    assert_eq!(
        (c.window_from, c.not_before, c.answer_within_mins),
        (None, None, 60)
    );
}

#[tokio::test]
async fn handsets_that_do_not_answer_are_unanswered_not_failed_and_can_be_notified_again() {
    let smsc = start_smsc().await;
    let config = smsc_config(&smsc);
    // Ticks by hand: the test decides when time has passed.
    let app = spawn_app_with(move |c| c.smsc = Some(config)).await;
    let (_, token) = app.token(Role::Admin).await;
    let mut ids = Vec::new();
    for n in 1..=3 {
        ids.push(line(&app, &token, n, "VX9600V04", true).await);
    }
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 3000)
        .await;
    // A threshold of 0: a single failed update would hold the campaign.
    let c: Value = app
        .api(Method::POST, "/campaigns", &token)
        .json(
            &json!({"name": "all or nothing", "make": "LG", "model": "VX9600",
                      "from_version": "VX9600V04", "wave_size": 3, "failure_threshold": 0,
                      "answer_within_mins": 5}),
        )
        .send_json()
        .await;
    let id = c["id"].as_i64().unwrap();
    let r: Value = app
        .api(Method::POST, &format!("/campaigns/{id}/start"), &token)
        .send_json()
        .await;
    assert_eq!(r["notified"], 3);
    assert!(smsc.wait_for_accepted(3, Duration::from_secs(10)).await);

    // Only handset 1 answers.
    answers_and_updates(&app, &smsc, 1, ids[0]).await;
    // Within the answer time the others are still awaited.
    let t = tick(&app).await;
    assert_eq!((t.settled, t.unanswered), (1, 0));
    assert_eq!(campaign_json(&app, &token, id).await["state"], "running");

    // Six minutes on.
    submitted(&app, 3).await;
    age_notified(&app, id, 6).await;
    let t = tick(&app).await;
    assert_eq!(t.unanswered, 2);
    assert_eq!(t.completed, [id], "silence is no failed update: {t:?}");
    let c = campaign_json(&app, &token, id).await;
    assert_eq!(
        c["detail"],
        "1 updated, 0 failed, 0 declined, 2 unanswered, 0 skipped"
    );
    assert_eq!(c["progress"]["overall"]["unanswered"], 2);
    let expired: i64 = app
        .with_conn(|c| {
            dm_jobs::table
                .filter(dm_jobs::state.eq("expired"))
                .count()
                .get_result(c)
                .unwrap()
        })
        .await;
    assert_eq!(expired, 2, "their notifications no longer stand");
    let abandoned: i64 = app
        .with_conn(|c| {
            use mdm::db::schema::fota_sessions;
            fota_sessions::table
                .filter(fota_sessions::state.eq("failed"))
                .filter(fota_sessions::detail.eq(mdm::fota::session::NEVER_ANSWERED))
                .count()
                .get_result(c)
                .unwrap()
        })
        .await;
    assert_eq!(abandoned, 2, "their FOTA sessions ended");
    // Handset 2 comes back on and answers its old notification: it is no
    // longer there to run, so nothing is updated behind the campaign.
    let pushes = crate::campaigns::pushes_by_mdn(&smsc);
    let old = &pushes
        .iter()
        .find(|(to, _)| *to == crate::campaigns::mdn(2))
        .unwrap()
        .1;
    let mut h2 = handset_of(&app, &meid(2), ids[1], "VX9600V04", None).await;
    let late = h2
        .run_notified(old, &Trace::new(None).unwrap())
        .await
        .unwrap();
    assert!(late.fota.is_none(), "{:?}", late.fota);
    let fw = app
        .with_conn({
            let d = ids[1];
            move |c| mdm::registry::device::get(c, d).unwrap().firmware_version
        })
        .await;
    assert_eq!(fw, "VX9600V04");
    // Ticking again changes nothing.
    let t = tick(&app).await;
    assert_eq!((t.unanswered, t.settled, t.notified), (0, 0, 0));

    // The portal offers to notify them again; they become one more wave.
    app.login_admin().await;
    let location = format!("/firmware/campaigns/{id}");
    let (_, page) = app.page(&location).await;
    assert!(page.contains(r#"id="campaign-renotify""#), "{page}");
    assert!(
        page.contains(r#"<strong id="count-unanswered">2</strong>"#),
        "{page}"
    );
    let (_, filtered) = app.page(&format!("{location}?state=unanswered")).await;
    assert!(filtered.contains("did not answer within 5 minutes of its notification"));
    // Care gets the list to call: the unanswered lines as CSV.
    assert!(filtered.contains(&format!(
        r#"href="/firmware/campaigns/{id}/devices.csv?state=unanswered""#
    )));
    let r = app
        .get(&format!("{location}/devices.csv?state=unanswered"))
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(&format!("campaign-{id}-unanswered.csv")));
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "device_id,meid,esn,mdn,wave,state,fota_session,detail,updated_at"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    for (line, n) in lines[1..].iter().zip([2, 3]) {
        assert!(
            line.starts_with(&format!(
                "{},{},,{},1,unanswered,",
                ids[n as usize - 1],
                meid(n),
                crate::campaigns::mdn(n)
            )),
            "{line}"
        );
    }
    let r = app.get(&format!("{location}/devices.csv?state=lost")).await;
    assert_eq!(r.status().as_u16(), 400);
    let csrf = app.csrf(&location).await;
    let r = app
        .post_form(&format!("{location}/renotify"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = app.page(&location).await;
    assert!(
        page.contains("its unanswered devices are queued again as wave 2; 2 notified now"),
        "{page}"
    );
    let c = campaign_json(&app, &token, id).await;
    assert_eq!(
        (c["state"].as_str(), c["wave"].as_i64(), c["waves"].as_i64()),
        (Some("running"), Some(2), Some(2))
    );
    assert!(smsc.wait_for_accepted(5, Duration::from_secs(10)).await);

    // This time they answer.
    for (n, device) in [(2, ids[1]), (3, ids[2])] {
        answers_and_updates(&app, &smsc, n, device).await;
    }
    let t = tick(&app).await;
    assert_eq!(t.completed, [id]);
    let c = campaign_json(&app, &token, id).await;
    assert_eq!(
        c["detail"],
        "3 updated, 0 failed, 0 declined, 0 unanswered, 0 skipped"
    );

    // A finished campaign's schedule is history.
    let r = app
        .api(Method::PUT, &format!("/campaigns/{id}/schedule"), &token)
        .json(&json!({"window": "01:00-02:00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);

    // Nobody left unanswered: the API says so and nothing changes.
    let r = app
        .api(Method::POST, &format!("/campaigns/{id}/renotify"), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let c = campaign_json(&app, &token, id).await;
    assert_eq!(
        (c["state"].as_str(), c["waves"].as_i64()),
        (Some("completed"), Some(2))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smsc.accepted().len(), 5);
}

#[tokio::test]
async fn a_paused_or_cancelled_campaign_still_records_what_its_notified_devices_did() {
    let smsc = start_smsc().await;
    let config = smsc_config(&smsc);
    let app = spawn_app_with(move |c| c.smsc = Some(config)).await;
    let (_, token) = app.token(Role::Admin).await;
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 3000)
        .await;
    let id = crate::campaigns::started_campaign(&app, &token, 4, 2).await;
    assert_eq!(tick(&app).await.notified, 2);
    submitted(&app, 2).await;
    let act = |action| {
        app.with_conn(move |c| {
            let actor = mdm::registry::Actor::System("test");
            mdm::fota::campaign::act(c, &actor, id, action).unwrap()
        })
    };
    act(mdm::fota::campaign::Action::Pause).await;
    age_notified(&app, id, 25 * 60).await;
    let t = tick(&app).await;
    assert_eq!((t.unanswered, t.notified), (2, 0), "{t:?}");
    assert_eq!(
        campaign_json(&app, &token, id).await["state"],
        "paused",
        "recording outcomes does not resume it"
    );

    act(mdm::fota::campaign::Action::Resume).await;
    assert_eq!(tick(&app).await.notified, 2, "wave 2");
    submitted(&app, 4).await;
    act(mdm::fota::campaign::Action::Cancel).await;
    age_notified(&app, id, 25 * 60).await;
    assert_eq!(tick(&app).await.unanswered, 2);
    let c = campaign_json(&app, &token, id).await;
    assert_eq!(c["state"], "cancelled");
    assert_eq!(c["progress"]["overall"]["unanswered"], 4);
    assert_eq!(c["progress"]["overall"]["notified"], 0);
}

#[tokio::test]
async fn a_deleted_device_leaves_its_campaigns() {
    let app = spawn_app_with(|_| {}).await;
    let (_, token) = app.token(Role::Admin).await;
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 3000)
        .await;
    let id = crate::campaigns::started_campaign(&app, &token, 3, 10).await;
    let members = || {
        app.with_conn(move |c| {
            mdm::fota::campaign::members(c, id, None, 0, 100)
                .unwrap()
                .into_iter()
                .map(|m| m.member.device_id)
                .collect::<Vec<_>>()
        })
    };
    let before = members().await;
    assert_eq!(before.len(), 3);
    let r = app
        .api(Method::DELETE, &format!("/devices/{}", before[1]), &token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(members().await, [before[0], before[2]]);
    let c = campaign_json(&app, &token, id).await;
    assert_eq!(c["progress"]["overall"]["queued"], 2, "{c}");
    // The wave goes out to the devices that are left.
    assert_eq!(tick(&app).await.notified, 2);
}

#[tokio::test]
async fn the_answer_time_counts_from_when_the_smsc_took_the_notification() {
    // No SMSC: the notifications wait in the outbox.
    let app = spawn_app_with(|_| {}).await;
    let (_, token) = app.token(Role::Admin).await;
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 3000)
        .await;
    let id = crate::campaigns::started_campaign(&app, &token, 2, 2).await;
    assert_eq!(tick(&app).await.notified, 2);
    // A day after they were queued, nobody has had the chance to answer.
    age_notified(&app, id, 25 * 60).await;
    assert_eq!(tick(&app).await.unanswered, 0);
    // The outbox gives up on one: that handset cannot answer either.
    app.with_conn(|c| {
        let first: i64 = outbox::table
            .select(outbox::id)
            .order(outbox::id)
            .first(c)
            .unwrap();
        diesel::update(outbox::table.find(first))
            .set((
                outbox::state.eq("failed"),
                outbox::last_error.eq("SMSC: destination barred"),
            ))
            .execute(c)
            .unwrap()
    })
    .await;
    assert_eq!(tick(&app).await.unanswered, 1);
    let page: Value = app
        .api(
            Method::GET,
            &format!("/campaigns/{id}/devices?state=unanswered"),
            &token,
        )
        .send_json()
        .await;
    assert_eq!(
        page["items"][0]["detail"],
        "its notification could not be sent: SMSC: destination barred"
    );
    assert_eq!(
        campaign_json(&app, &token, id).await["progress"]["overall"]["notified"],
        1
    );
}
