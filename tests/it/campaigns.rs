//! FOTA campaigns end to end: planned and driven from the portal, waves
//! notified through the real SMPP sender to the test SMSC, the simulated
//! handsets answering, and the server's own timer moving the campaign on.

use std::collections::HashMap;
use std::time::Duration;

use mdm::auth::Role;
use mdm::messaging::smpp::test_smsc::TestSmsc;
use mdm::sim::omadm_handset::{Fail, FotaOutcome, Handset};
use mdm::sim::sms_inbox::SmsInbox;
use mdm::sim::trace::Trace;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{profile_json, spawn_app_with, SendJson, TestApp};
use crate::messaging::{
    handset_of, smsc_config, start_smsc, wait_until, DEVICE_PASSWORD, SERVER_PASSWORD,
};

async fn app_with_smsc(smsc: &TestSmsc, tick_secs: u64) -> TestApp {
    let config = smsc_config(smsc);
    spawn_app_with(move |c| {
        c.smsc = Some(config);
        c.campaign_interval_secs = tick_secs;
    })
    .await
}

pub(crate) fn meid(n: u32) -> String {
    format!("A10000123456{n:02}")
}

pub(crate) fn mdn(n: u32) -> String {
    format!("31255501{n:02}")
}

/// Subscriber line `n`: an LG VX9600 at `firmware`, with DM credentials
/// when `credentials`.
pub(crate) async fn line(
    app: &TestApp,
    token: &str,
    n: u32,
    firmware: &str,
    credentials: bool,
) -> i64 {
    // The path takes FOTA over OMA-DM (entered once; later calls find it).
    let r = app
        .api(Method::POST, "/capabilities", token)
        .json(&json!({"make": "LG", "model": "VX9600", "protocol": "omadm", "fota": true}))
        .send()
        .await
        .unwrap();
    assert!(matches!(r.status().as_u16(), 201 | 409), "{}", r.status());
    let r = app
        .api(Method::POST, "/profiles", token)
        .json(&profile_json(&mdn(n)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let d: Value = app
        .api(Method::POST, "/devices", token)
        .json(&json!({"meid": meid(n), "make": "LG", "model": "VX9600", "firmware_version": firmware, "profile_mdn": mdn(n)}))
        .send_json()
        .await;
    let device_id = d["id"].as_i64().unwrap();
    if credentials {
        app.set_dm_credentials(
            device_id,
            &format!("MEID:{}", meid(n)),
            DEVICE_PASSWORD,
            SERVER_PASSWORD,
        )
        .await;
    }
    device_id
}

async fn handset(app: &TestApp, n: u32, device_id: i64, fail: Option<Fail>) -> Handset {
    handset_of(app, &meid(n), device_id, "VX9600V04", fail).await
}

/// The pushes the SMSC accepted so far, by the MDN they went to.
pub(crate) fn pushes_by_mdn(smsc: &TestSmsc) -> Vec<(String, Vec<u8>)> {
    let mut inbox = SmsInbox::new();
    smsc.accepted()
        .iter()
        .filter_map(|s| {
            inbox
                .receive(&s.destination_addr, &s.short_message)
                .unwrap()
                .map(|p| (s.destination_addr.clone(), p.push.body))
        })
        .collect()
}

async fn campaign_state(app: &TestApp, id: i64) -> mdm::fota::campaign::Campaign {
    app.with_conn(move |c| mdm::fota::campaign::get(c, id).unwrap())
        .await
}

async fn member_states(app: &TestApp, id: i64) -> HashMap<i64, String> {
    app.with_conn(move |c| {
        mdm::fota::campaign::members(c, id, None, 0, 1000)
            .unwrap()
            .into_iter()
            .map(|l| (l.member.device_id, l.member.state))
            .collect()
    })
    .await
}

#[tokio::test]
async fn a_campaign_updates_its_path_wave_by_wave_and_holds_when_a_wave_fails() {
    let smsc = start_smsc().await;
    let app = app_with_smsc(&smsc, 1).await;
    let (_, token) = app.token(Role::Admin).await;
    // Lines 1-5 have credentials; line 6 has none (it is skipped); line 7
    // is at another version (not in the population).
    let mut ids = HashMap::new();
    for n in 1..=6 {
        ids.insert(n, line(&app, &token, n, "VX9600V04", n != 6).await);
    }
    let elsewhere = line(&app, &token, 7, "VX9600V05", true).await;
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 40_000)
        .await;
    app.add_user("fw", "fw-pass-12345", Role::Firmware).await;
    app.login("fw", "fw-pass-12345").await;

    // Firmware Management offers the path; the form plans the campaign.
    let (status, landscape) = app.page("/firmware").await;
    assert_eq!(status, 200);
    assert!(landscape.contains("plan a campaign"), "{landscape}");
    let (_, form) = app
        .page("/firmware/campaigns/new?make=LG&model=VX9600&from=VX9600V04")
        .await;
    let path = "make=LG&model=VX9600&from=VX9600V04";
    assert!(
        form.contains("selected>LG VX9600 VX9600V04 → VX9600V06"),
        "{form}"
    );
    assert!(!form.contains("VX9600V05 →"), "no package from V05: {form}");
    let csrf = app.csrf("/firmware/campaigns/new").await;
    let r = app
        .post_form(
            "/firmware/campaigns",
            &[
                ("csrf", &csrf),
                ("path", path),
                ("name", "VX9600 to V06"),
                ("wave_size", "2"),
                ("failure_threshold", "40"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    let c = campaign_state(&app, id).await;
    assert_eq!((c.state.as_str(), c.devices, c.waves), ("draft", 6, 3));
    assert!(!member_states(&app, id).await.contains_key(&elsewhere));
    assert_eq!(smsc.accepted().len(), 0, "a draft notifies nobody");

    // Start: wave 1 (the two lowest device ids) is notified at once.
    let csrf = app.csrf(&location).await;
    let r = app
        .post_form(&format!("{location}/start"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = app.page(&location).await;
    assert!(page.contains("2 device(s) notified now"), "{page}");
    assert!(smsc.wait_for_accepted(2, Duration::from_secs(10)).await);
    // Ticks in the meantime (and one more by hand, as a second node would)
    // notify nobody twice.
    let vault = app.vault.clone();
    app.with_conn(move |c| mdm::fota::campaign_run::tick(c, &vault, 8).unwrap())
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.count("dm_jobs").await, 2);
    let pushes = pushes_by_mdn(&smsc);
    assert_eq!(
        pushes.iter().map(|p| p.0.clone()).collect::<Vec<_>>(),
        [mdn(1), mdn(2)]
    );

    // Handset 1 updates; handset 2 gets a corrupted package.
    for (to, body) in &pushes {
        let n = if *to == mdn(1) { 1 } else { 2 };
        let fail = (n == 2).then_some(Fail::Corrupt);
        let mut h = handset(&app, n, ids[&n], fail).await;
        let outcome = h
            .run_notified(body, &Trace::new(None).unwrap())
            .await
            .unwrap();
        if n == 1 {
            assert!(
                matches!(outcome.fota, Some(FotaOutcome::Updated { .. })),
                "{:?}",
                outcome.fota
            );
        } else {
            assert!(
                matches!(outcome.fota, Some(FotaOutcome::Failed(_))),
                "{:?}",
                outcome.fota
            );
        }
    }
    // One of two failed: 50% is over 40%, so the timer holds wave 2.
    wait_until("the campaign to be held", || async {
        campaign_state(&app, id).await.state == "paused"
    })
    .await;
    let c = campaign_state(&app, id).await;
    assert_eq!(c.wave, 2);
    assert!(
        c.detail.contains(
            "held before wave 2: wave 1 failed 1 of 2 updates (50%), over the 40% threshold"
        ),
        "{}",
        c.detail
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smsc.accepted().len(), 2, "nothing more goes out while held");
    let (_, page) = app.page(&location).await;
    assert!(page.contains(r#"id="campaign-state">paused"#), "{page}");
    assert!(page.contains(r#"<strong id="count-failed">1</strong>"#));
    assert!(page.contains("Wave 1: 2 devices; 1 updated, 1 failed"));

    // Resume: wave 2 goes out; both update; wave 3 follows by itself.
    let csrf = app.csrf(&location).await;
    let r = app
        .post_form(&format!("{location}/resume"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let mut answered = 2;
    let mut rounds = 0;
    while campaign_state(&app, id).await.state == "running" {
        rounds += 1;
        assert!(rounds < 200, "the campaign did not finish");
        let pushes = pushes_by_mdn(&smsc);
        for (to, body) in pushes.iter().skip(answered) {
            let n = (1..=6).find(|n| mdn(*n) == *to).unwrap();
            let mut h = handset(&app, n, ids[&n], None).await;
            h.run_notified(body, &Trace::new(None).unwrap())
                .await
                .unwrap();
        }
        answered = pushes.len();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = campaign_state(&app, id).await;
    assert_eq!(c.state, "completed", "{}", c.detail);
    assert_eq!(
        c.detail,
        "4 updated, 1 failed, 0 declined, 0 unanswered, 1 skipped"
    );
    assert!(c.finished_at.is_some());
    let states = member_states(&app, id).await;
    assert_eq!(states[&ids[&1]], "succeeded");
    assert_eq!(states[&ids[&2]], "failed");
    assert_eq!(states[&ids[&5]], "succeeded");
    assert_eq!(states[&ids[&6]], "skipped");
    // Only lines 3, 4 and 5 were notified after the resume.
    assert_eq!(pushes_by_mdn(&smsc).len(), 5);
    let (fw1, fw2) = app
        .with_conn({
            let (a, b) = (ids[&1], ids[&2]);
            move |c| {
                (
                    mdm::registry::device::get(c, a).unwrap().firmware_version,
                    mdm::registry::device::get(c, b).unwrap().firmware_version,
                )
            }
        })
        .await;
    assert_eq!((fw1.as_str(), fw2.as_str()), ("VX9600V06", "VX9600V04"));

    // The page tells the story: why line 6 was skipped, each wave's counts.
    let (_, page) = app.page(&format!("{location}?state=skipped")).await;
    assert!(
        page.contains("the device has no OMA-DM credentials"),
        "{page}"
    );
    assert!(page.contains(&meid(6)));
    assert!(!page.contains(&meid(1)), "filtered to skipped devices");
    // The device page names the campaign and what it did there.
    let (_, device_page) = app.page(&format!("/devices/{}", ids[&6])).await;
    assert!(
        device_page.contains(&format!(
            r#"<a href="/firmware/campaigns/{id}">VX9600 to V06</a>: wave 3, <strong>skipped</strong>"#
        )),
        "{device_page}"
    );
    let (_, list) = app.page("/firmware/campaigns").await;
    assert!(list.contains("VX9600 to V06"));
    assert!(list.contains("6 of 6"));
    assert!(
        list.contains("20%"),
        "1 failed of 5 updates that ran: {list}"
    );
    // A finished campaign cannot be started again.
    let csrf = app.csrf(&location).await;
    app.post_form(&format!("{location}/start"), &[("csrf", &csrf)])
        .await;
    let (_, page) = app.page(&location).await;
    assert!(
        page.contains(&format!("Campaign {id} is completed: it cannot be started")),
        "{page}"
    );
}

#[tokio::test]
async fn bad_plans_are_refused_on_the_form_and_only_firmware_managers_reach_campaigns() {
    let app = spawn_app_with(|_| {}).await;
    let (_, token) = app.token(Role::Admin).await;
    line(&app, &token, 1, "VX9600V04", true).await;
    app.add_user("care", "care-pass-12345", Role::Care).await;
    app.login("care", "care-pass-12345").await;
    for p in [
        "/firmware/campaigns",
        "/firmware/campaigns/new",
        "/firmware/campaigns/1/devices.csv",
    ] {
        assert_eq!(app.get(p).await.status().as_u16(), 403, "{p}");
    }
    let csrf = app.csrf("/devices").await;
    let r = app
        .post_form(
            "/firmware/campaigns",
            &[
                ("csrf", &csrf),
                ("path", "make=LG&model=VX9600&from=VX9600V04"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 403);

    app.login_admin().await;
    let (_, form) = app.page("/firmware/campaigns/new").await;
    assert!(form.contains("No update path has devices, a released package and FOTA over OMA-DM"));
    let csrf = app.csrf("/firmware/campaigns/new").await;
    let post = |fields: Vec<(&'static str, &'static str)>| {
        let csrf = csrf.clone();
        let app = &app;
        async move {
            let mut all = vec![("csrf", csrf.as_str())];
            all.extend(fields);
            let r = app.post_form("/firmware/campaigns", &all).await;
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let plan = |wave: &'static str, threshold: &'static str, from: &'static str| {
        vec![
            ("name", "x"),
            ("path", from),
            ("wave_size", wave),
            ("failure_threshold", threshold),
        ]
    };
    let v04 = "make=LG&model=VX9600&from=VX9600V04";
    let (s, body) = post(plan("10", "10", v04)).await;
    assert_eq!(s, 422);
    assert!(body.contains("no released package updates LG VX9600 VX9600V04"));
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 1000)
        .await;
    for (fields, message) in [
        (
            plan("0", "10", v04),
            "The wave size must be between 1 and 100000",
        ),
        (
            plan("ten", "10", v04),
            "The wave size must be a whole number",
        ),
        (
            plan("10", "101", v04),
            "The failure threshold is a percentage",
        ),
        (
            [plan("10", "10", v04), vec![("first_wave_size", "a few")]].concat(),
            "The first wave must be a whole number",
        ),
        (
            [plan("10", "10", v04), vec![("first_wave_size", "0")]].concat(),
            "The first wave must be between 1 and 100000",
        ),
        (plan("10", "10", "make=LG"), "Choose the update path"),
        (
            plan("10", "10", "make=LG&model=VX9600&from=VX9600V01"),
            "no released package updates",
        ),
    ] {
        let (s, body) = post(fields).await;
        assert_eq!(s, 422, "{message}");
        assert!(body.contains(message), "{message}: {body}");
    }
    // A package from a version nobody is at: a campaign with nobody in it.
    app.release_package(&token, "LG", "VX9600", "VX9600V02", "VX9600V06", 1001)
        .await;
    let (s, body) = post(plan("10", "10", "make=LG&model=VX9600&from=VX9600V02")).await;
    assert_eq!(s, 422);
    assert!(
        body.contains("no device is at LG VX9600 VX9600V02"),
        "{body}"
    );
    // A path whose handsets update over IOTA cannot be woken for a campaign.
    let r = app
        .api(Method::POST, "/capabilities", &token)
        .json(&json!({"make": "Kyocera", "model": "K127", "protocol": "iota", "fota": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = app
        .api(Method::POST, "/devices", &token)
        .json(&json!({"esn": "B4100001", "make": "Kyocera", "model": "K127", "firmware_version": "K127.1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    app.release_package(&token, "Kyocera", "K127", "K127.1", "K127.2", 1002)
        .await;
    let (_, form) = app.page("/firmware/campaigns/new").await;
    assert!(!form.contains("Kyocera K127 K127.1"), "not offered: {form}");
    let (s, body) = post(plan("10", "10", "make=Kyocera&model=K127&from=K127.1")).await;
    assert_eq!(s, 422);
    assert!(
        body.contains("Kyocera K127 K127.1 updates over IOTA, when the handset asks"),
        "{body}"
    );
    assert_eq!(app.count("fota_campaigns").await, 0, "nothing was written");

    // Without the form's token nothing is planned.
    let r = app
        .post_form(
            "/firmware/campaigns",
            &[
                ("path", v04),
                ("name", "x"),
                ("wave_size", "1"),
                ("failure_threshold", "0"),
            ],
        )
        .await;
    assert_ne!(r.status().as_u16(), 303);
    assert_eq!(app.count("fota_campaigns").await, 0);

    // A draft cancelled before its start notifies nobody.
    let (s, _) = post(plan("10", "10", v04)).await;
    assert_eq!(s, 303, "on to the campaign page");
    // Refused plans used up identities on PostgreSQL: ask which it got.
    let id = app
        .with_conn(|c| mdm::fota::campaign::list(c, 1).unwrap()[0].id)
        .await;
    let location = &format!("/firmware/campaigns/{id}");
    let csrf = app.csrf(location).await;
    app.post_form(&format!("{location}/cancel"), &[("csrf", &csrf)])
        .await;
    let (_, page) = app.page(location).await;
    assert!(page.contains(r#"id="campaign-state">cancelled"#), "{page}");
    assert!(page.contains("the campaign was cancelled before its wave"));
    assert_eq!(app.count("dm_jobs").await, 0);
    let r = app
        .post_form(&format!("{location}/explode"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(
        app.get("/firmware/campaigns/99").await.status().as_u16(),
        404
    );
}

#[tokio::test]
async fn campaigns_are_scriptable_from_the_command_line() {
    use crate::common::run_mdm;
    let app = spawn_app_with(|_| {}).await;
    let (_, token) = app.token(Role::Admin).await;
    for n in 1..=3 {
        line(&app, &token, n, "VX9600V04", n != 3).await;
    }
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 2000)
        .await;
    let mdm = |args: &[&str]| run_mdm(&app.database_url, &app.data_dir, args, None);
    let (code, out, err) = mdm(&[
        "campaign",
        "create",
        "--name",
        "cli run",
        "--make",
        "LG",
        "--model",
        "VX9600",
        "--from",
        "VX9600V04",
        "--wave-size",
        "2",
        "--first-wave",
        "1",
        "--threshold",
        "25",
        "--start",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(
            "planned: 3 device(s) on LG VX9600 VX9600V04 → VX9600V06 in 2 wave(s) of up to 2, the first of 1"
        ),
        "{out}"
    );
    assert!(out.contains("campaign 1 is running"), "{out}");
    // The canary alone goes out first.
    assert!(out.contains("1 device(s) notified now, 0 skipped"), "{out}");
    // Queued in the outbox for a server with an SMSC to send.
    assert_eq!(app.count("outbox").await, 1);
    assert_eq!(app.count("dm_jobs").await, 1);

    let (code, out, _) = mdm(&["campaign", "show", "1", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["campaign"]["state"], "running");
    assert_eq!(v["campaign"]["wave"], 1);
    assert_eq!(v["campaign"]["first_wave_size"], 1);
    assert_eq!(v["progress"]["overall"]["notified"], 1);
    assert_eq!(v["progress"]["waves"][0]["notified"], 1);
    assert_eq!(v["progress"]["waves"][1]["queued"], 2);

    let (code, out, _) = mdm(&["campaign", "pause", "1"]);
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = mdm(&["campaign", "pause", "1"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("campaign 1 is paused: it cannot be paused"),
        "{err}"
    );
    let (code, out, _) = mdm(&["campaign", "cancel", "1"]);
    assert_eq!(code, 0, "{out}");
    let (_, out, _) = mdm(&["campaign", "list"]);
    assert!(out.contains("cancelled"), "{out}");
    assert!(out.contains("cli run"), "{out}");
    let (_, out, _) = mdm(&["campaign", "show", "1"]);
    assert!(out.contains("2 cancelled, 1 notified, 0 waiting"), "{out}");
    // No package from this version: refused, nothing written.
    let (code, _, err) = mdm(&[
        "campaign",
        "create",
        "--name",
        "x",
        "--make",
        "LG",
        "--model",
        "VX9600",
        "--from",
        "VX9600V06",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("no released package updates LG VX9600 VX9600V06"),
        "{err}"
    );
    assert_eq!(app.count("fota_campaigns").await, 1);

    // A schedule: a window that is not one is refused before anything is
    // written; a first moment far ahead holds the started campaign.
    let plan = |window: &'static str| {
        vec![
            "campaign",
            "create",
            "--name",
            "night",
            "--make",
            "LG",
            "--model",
            "VX9600",
            "--from",
            "VX9600V04",
            "--window",
            window,
            "--zone",
            "America/Chicago",
            "--not-before",
            "2099-01-01 01:00",
            "--answer-within",
            "90",
            "--start",
        ]
    };
    let (code, _, err) = mdm(&plan("1am-5am"));
    assert_ne!(code, 0);
    assert!(err.contains("\"1am-5am\" is not a window"), "{err}");
    assert_eq!(app.count("fota_campaigns").await, 1);
    // A zone without a window would be dropped: refused, saying what to do.
    let zone_only: Vec<&str> = plan("")
        .into_iter()
        .filter(|a| !a.is_empty())
        .filter(|a| *a != "--window")
        .collect();
    let (code, _, err) = mdm(&zone_only);
    assert_ne!(code, 0);
    assert!(
        err.contains("--zone America/Chicago needs --window"),
        "{err}"
    );
    assert_eq!(app.count("fota_campaigns").await, 1);
    let (code, out, err) = mdm(&plan("01:00-05:00"));
    assert_eq!(code, 0, "{out}{err}");
    // 01:00 UTC is 19:00 in Chicago: the first notification waits for
    // 01:00 there, 07:00 UTC.
    assert!(
        out.contains("waiting: notifications start at 2099-01-01 07:00:00 UTC"),
        "{out}"
    );
    assert!(out.contains("0 device(s) notified now"), "{out}");
    let (_, out, _) = mdm(&["campaign", "show", "2"]);
    assert!(
        out.contains(
            "schedule  from 2099-01-01 01:00:00 UTC; daily 01:00-05:00 America/Chicago; handsets answer within 90 minutes"
        ),
        "{out}"
    );
    assert_eq!(app.count("dm_jobs").await, 1, "nobody more notified");
    let (code, out, err) = mdm(&[
        "campaign",
        "schedule",
        "2",
        "--not-before",
        "now",
        "--window",
        "any",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("campaign 2 runs any time of day; handsets answer within 90 minutes"),
        "{out}"
    );
    let (code, _, err) = mdm(&["campaign", "schedule", "1", "--window", "01:00-02:00"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("campaign 1 is cancelled: it cannot be rescheduled"),
        "{err}"
    );
    // Narrowed to a market with no line on the path: refused.
    let (code, _, err) = mdm(&[
        "campaign",
        "create",
        "--name",
        "nyc",
        "--make",
        "LG",
        "--model",
        "VX9600",
        "--from",
        "VX9600V04",
        "--mdn-prefix",
        "212",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("among MDNs 212…"), "{err}");
    let (code, out, _) = mdm(&[
        "campaign",
        "create",
        "--name",
        "chicago",
        "--make",
        "LG",
        "--model",
        "VX9600",
        "--from",
        "VX9600V04",
        "--mdn-prefix",
        "312",
        "--account",
        "ACC-1",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("planned: 3 device(s)"), "{out}");
    // (PostgreSQL spends an id on the refused plan's rolled-back row.)
    let id = out.split_whitespace().nth(1).unwrap().to_string();
    let (_, out, _) = mdm(&["campaign", "show", &id]);
    assert!(out.contains("for       MDNs 312…, account ACC-1"), "{out}");
}

/// Plans and starts (without its immediate wave) a campaign over `lines`
/// lines with credentials, waves of `wave`.
pub(crate) async fn started_campaign(app: &TestApp, token: &str, lines: u32, wave: i32) -> i64 {
    for n in 1..=lines {
        line(app, token, n, "VX9600V04", true).await;
    }
    app.with_conn(move |c| {
        let actor = mdm::registry::Actor::System("test");
        let plan = mdm::fota::campaign::Plan {
            name: "held".into(),
            make: "LG".into(),
            model: "VX9600".into(),
            from_version: "VX9600V04".into(),
            first_wave_size: None,
            wave_size: wave,
            failure_threshold: 50,
            ..Default::default()
        };
        let camp = mdm::fota::campaign::create(c, &actor, &plan).unwrap();
        mdm::fota::campaign::act(c, &actor, camp.id, mdm::fota::campaign::Action::Start).unwrap();
        camp.id
    })
    .await
}

pub(crate) async fn tick(app: &TestApp) -> mdm::fota::campaign_run::Ticked {
    let vault = app.vault.clone();
    app.with_conn(move |c| mdm::fota::campaign_run::tick(c, &vault, 8).unwrap())
        .await
}

#[tokio::test]
async fn a_campaign_delivers_only_its_own_package_and_holds_when_the_path_changes() {
    let app = spawn_app_with(|_| {}).await;
    let (_, token) = app.token(Role::Admin).await;
    let pkg = app
        .release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 3000)
        .await;
    let id = started_campaign(&app, &token, 2, 1).await;

    // Withdrawn before the first wave: nobody is notified.
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
    let t = tick(&app).await;
    assert_eq!(t.paused, [id]);
    let c = campaign_state(&app, id).await;
    assert_eq!(c.state, "paused");
    assert_eq!(
        c.detail,
        format!(
            "held: package {pkg} is withdrawn; to deliver it, move it to testing, then move it to released on its page (/firmware/packages/{pkg}), then resume this campaign; or cancel it"
        )
    );
    assert_eq!(app.count("dm_jobs").await, 0);

    // A newer package for the path is not this campaign's to deliver.
    let newer = app
        .release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V07", 3001)
        .await;
    let vault = app.vault.clone();
    app.with_conn(move |c| {
        let actor = mdm::registry::Actor::System("test");
        mdm::fota::campaign::act(c, &actor, id, mdm::fota::campaign::Action::Resume).unwrap();
        let mut t = mdm::fota::campaign_run::Ticked::default();
        mdm::fota::campaign_run::step(c, &vault, 8, id, &mut t).unwrap();
        assert_eq!(t.notified, 0);
    })
    .await;
    let c = campaign_state(&app, id).await;
    assert_eq!(c.state, "paused");
    assert!(
        c.detail.contains(&format!(
            "the update for this path is now package {newer} (to VX9600V07)"
        )),
        "{}",
        c.detail
    );
    assert_eq!(app.count("dm_jobs").await, 0);
}

#[tokio::test]
async fn two_nodes_moving_a_campaign_on_at_once_notify_each_device_once() {
    let app = spawn_app_with(|_| {}).await;
    let (_, token) = app.token(Role::Admin).await;
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 3000)
        .await;
    let id = started_campaign(&app, &token, 30, 30).await;
    let data_dir = app.data_dir.clone();
    let other = app
        .second_node(move |c| c.data_dir = data_dir)
        .await
        .expect("second node starts");
    let (a, b) = tokio::join!(tick(&app), tick(&other));
    assert_eq!(a.notified + b.notified, 30, "{a:?} {b:?}");
    let (jobs, devices) = app
        .with_conn(|c| {
            use diesel::prelude::*;
            use mdm::db::schema::dm_jobs;
            let mut devices: Vec<i64> = dm_jobs::table.select(dm_jobs::device_id).load(c).unwrap();
            let jobs = devices.len();
            devices.sort_unstable();
            devices.dedup();
            (jobs, devices.len())
        })
        .await;
    assert_eq!((jobs, devices), (30, 30));
    assert_eq!(app.count("outbox").await, 30);
    let states = member_states(&app, id).await;
    assert!(states.values().all(|s| s == "notified"), "{states:?}");
}
