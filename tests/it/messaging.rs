//! Network-initiated contact end to end: the real server and its SMPP
//! sender against the test SMSC on a loopback port, and the simulated
//! handset answering what arrives.

use std::time::Duration;

use mdm::auth::Role;
use mdm::messaging::codec::cp_security::{verify_mac, Credentials};
use mdm::messaging::codec::wsp::{media, MediaType, Parameter};
use mdm::messaging::smpp::test_smsc::{RecordedSubmit, TestSmsc, TestSmscOptions};
use mdm::messaging::smpp::SmscConfig;
use mdm::omadm::syncml::Encoding;
use mdm::sim::omadm_handset::{Fail, FotaOutcome, Handset};
use mdm::sim::sms_inbox::{ReceivedPush, SmsInbox};
use mdm::sim::trace::Trace;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{profile_json, run_mdm, spawn_app_with, SendJson, TestApp};

pub(crate) const DEVICE_PASSWORD: &str = "device-secret-1";
pub(crate) const SERVER_PASSWORD: &str = "server-secret-1";
const MDN: &str = "3125550100";
const MEID: &str = "A1000012345678";

pub(crate) async fn start_smsc() -> TestSmsc {
    TestSmsc::start(
        "127.0.0.1:0".parse().unwrap(),
        TestSmscOptions {
            system_id: "mdm".into(),
            password: "smpp-pw".into(),
        },
    )
    .await
    .expect("test SMSC starts")
}

pub(crate) fn smsc_config(smsc: &TestSmsc) -> SmscConfig {
    let mut c = SmscConfig::from_url(&smsc.url()).unwrap();
    c.reconnect_min = Duration::from_millis(50);
    c.reconnect_max = Duration::from_millis(400);
    c
}

pub(crate) async fn app_with_smsc(smsc: &TestSmsc, max_parts: u8) -> TestApp {
    let config = smsc_config(smsc);
    spawn_app_with(move |c| {
        c.smsc = Some(config);
        c.sms_max_parts = max_parts;
    })
    .await
}

/// A subscriber line with a MEID handset at VX9600V04 and OMA-DM credentials.
pub(crate) async fn line(app: &TestApp) -> (i64, String) {
    let (_, token) = app.token(Role::Admin).await;
    let r = app
        .api(Method::POST, "/profiles", &token)
        .json(&profile_json(MDN))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let d: Value = app
        .api(Method::POST, "/devices", &token)
        .json(&json!({"meid": MEID, "make": "LG", "model": "VX9600", "firmware_version": "VX9600V04", "profile_mdn": MDN}))
        .send_json()
        .await;
    let device_id = d["id"].as_i64().unwrap();
    app.set_dm_credentials(
        device_id,
        &format!("MEID:{MEID}"),
        DEVICE_PASSWORD,
        SERVER_PASSWORD,
    )
    .await;
    (device_id, token)
}

/// The handset of `line`, holding the server credentials as provisioned.
pub(crate) async fn handset(app: &TestApp, device_id: i64, firmware: &str) -> Handset {
    handset_of(app, MEID, device_id, firmware, None).await
}

/// An LG VX9600 handset with MEID `meid`, at `firmware`, holding the DM
/// credentials the tests provision (and the server's nonce as stored).
pub(crate) async fn handset_of(
    app: &TestApp,
    meid: &str,
    device_id: i64,
    firmware: &str,
    fail: Option<Fail>,
) -> Handset {
    let vault = app.vault.clone();
    let nonce = app
        .with_conn(move |c| {
            mdm::omadm::account::get(c, &vault, device_id)
                .unwrap()
                .unwrap()
                .server_nonce_bytes()
        })
        .await;
    Handset {
        server: app.base.clone(),
        fota_path: "/fota/check".into(),
        dev_id: format!("MEID:{meid}"),
        username: format!("MEID:{meid}"),
        password: DEVICE_PASSWORD.into(),
        man: "LG".into(),
        model: "VX9600".into(),
        firmware: firmware.into(),
        encoding: Encoding::Wbxml,
        fail,
        gateway_header: None,
        timings: None,
        server_password: Some(SERVER_PASSWORD.into()),
        server_nonce: nonce,
        server_id: Some("mdm".into()),
        client_nonce: Default::default(),
    }
}

pub(crate) async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The pushes among the submits the SMSC accepted, reassembled.
pub(crate) fn pushes(submits: &[RecordedSubmit]) -> Vec<ReceivedPush> {
    let mut inbox = SmsInbox::new();
    submits
        .iter()
        .filter_map(|s| {
            inbox
                .receive(&s.destination_addr, &s.short_message)
                .unwrap()
        })
        .collect()
}

async fn message_states(app: &TestApp) -> Vec<(i64, String, i32, String)> {
    app.with_conn(|c| {
        use diesel::prelude::*;
        use mdm::db::schema::outbox;
        outbox::table
            .order(outbox::id)
            .select((
                outbox::id,
                outbox::state,
                outbox::attempts,
                outbox::last_error,
            ))
            .load(c)
            .unwrap()
    })
    .await
}

async fn all_in_state(app: &TestApp, state: &str) -> bool {
    let rows = message_states(app).await;
    !rows.is_empty() && rows.iter().all(|r| r.1 == state)
}

#[tokio::test]
async fn notification_wakes_the_handset_and_the_queued_commands_run() {
    let smsc = start_smsc().await;
    let app = app_with_smsc(&smsc, 8).await;
    let (device_id, _) = line(&app).await;
    app.login_admin().await;

    // The device page's form queues the session and its notification.
    let csrf = app.csrf(&format!("/devices/{device_id}")).await;
    let r = app
        .post_form(
            &format!("/devices/{device_id}/notify"),
            &[("csrf", &csrf), ("job", "refresh")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);

    assert!(smsc.wait_for_accepted(1, Duration::from_secs(10)).await);
    let submits = smsc.accepted();
    assert_eq!(submits[0].destination_addr, MDN);
    assert_eq!(submits[0].esm_class, 0x40);
    assert_eq!(submits[0].data_coding, 0x04);
    assert_eq!(submits[0].registered_delivery, 1);
    let push = pushes(&submits).remove(0);
    assert_eq!(
        push.push.content_type.media,
        MediaType::WellKnown(media::SYNCML_NOTIFICATION)
    );

    // The receipt moves the message to delivered.
    wait_until("the delivery receipt", || all_in_state(&app, "delivered")).await;

    // The handset, now reporting newer firmware, calls back with Alert 1200.
    let mut h = handset(&app, device_id, "VX9600V05").await;
    let outcome = h
        .run_notified(&push.push.body, &Trace::new(None).unwrap())
        .await
        .expect("notified session runs");
    assert!(outcome.fota.is_none());

    let (job_state, detail, fw) = app
        .with_conn(move |c| {
            let j = mdm::omadm::job::for_device(c, device_id, 1)
                .unwrap()
                .remove(0);
            let d = mdm::registry::device::get(c, device_id).unwrap();
            (j.state, j.detail, d.firmware_version)
        })
        .await;
    assert_eq!(job_state, "done", "{detail}");
    assert_eq!(detail, "5 commands: 5 succeeded");
    assert_eq!(fw, "VX9600V05");
    assert_eq!(
        format!(
            "{:X}",
            u16::from_str_radix(&outcome.session_id, 16).unwrap()
        ),
        outcome.session_id
    );

    // The device page and the message log show it, decoded.
    let (_, page) = app.page(&format!("/devices/{device_id}")).await;
    assert!(
        page.contains("get ./DevDetail/FwV</td><td>200 OK</td><td class=\"mono\">VX9600V05"),
        "{page}"
    );
    let (_, log) = app.page("/ops/messages").await;
    assert!(log.contains("OMA-DM notification: refresh session"));
    let id = message_states(&app).await[0].0;
    let (_, detail_page) = app.page(&format!("/ops/messages/{id}")).await;
    let sid = u16::from_str_radix(&outcome.session_id, 16).unwrap();
    assert!(detail_page.contains(&format!("session id {sid} (0x{sid:04X})")));
    let (_, dash) = app.page("/ops").await;
    assert!(
        dash.contains("bound as transceiver"),
        "dashboard shows the SMSC link"
    );
}

#[tokio::test]
async fn a_forged_notification_is_ignored_by_the_handset_and_a_stale_session_id_runs_nothing() {
    let smsc = start_smsc().await;
    let app = app_with_smsc(&smsc, 8).await;
    let (device_id, _) = line(&app).await;
    let vault = app.vault.clone();
    let (job, _) = app
        .with_conn(move |c| {
            mdm::omadm::job::notify(
                c,
                &vault,
                device_id,
                mdm::omadm::job::JobKind::Refresh,
                &mdm::registry::Actor::System("test"),
                8,
            )
            .unwrap()
        })
        .await;
    assert!(smsc.wait_for_accepted(1, Duration::from_secs(10)).await);
    let body = pushes(&smsc.accepted()).remove(0).push.body;
    // A handset with other server credentials rejects the digest.
    let mut h = handset(&app, device_id, "VX9600V04").await;
    h.server_password = Some("not-the-server".into());
    assert!(h
        .run_notified(&body, &Trace::new(None).unwrap())
        .await
        .is_err());
    // A trigger naming another session id does not pick up the job.
    let n = mdm::messaging::codec::notification::decode(&body).unwrap();
    let mut forged = n.notification.clone();
    forged.session_id = (job.dm_session_id as u16).wrapping_add(1);
    let other =
        mdm::messaging::codec::notification::encode(&forged, SERVER_PASSWORD, &h.server_nonce)
            .unwrap();
    h.server_password = Some(SERVER_PASSWORD.into());
    h.run_notified(&other, &Trace::new(None).unwrap())
        .await
        .unwrap();
    let state = app
        .with_conn(move |c| mdm::omadm::job::get(c, job.id).unwrap().unwrap().state)
        .await;
    assert_eq!(state, "notified");
}

#[tokio::test]
async fn network_initiated_fota_runs_through_the_notification() {
    let smsc = start_smsc().await;
    let app = app_with_smsc(&smsc, 8).await;
    let (device_id, token) = line(&app).await;
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 50_000)
        .await;
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["notify", "--device", MEID, "--job", "fota"],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("job 1 (fota) queued"), "{out}");
    // A second wake-up for the same pending update is refused.
    let (code, _, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["notify", "--device", MEID, "--job", "fota"],
        None,
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("already has a firmware update in progress")
            && err.contains("close it on its page, /firmware/sessions/"),
        "{err}"
    );
    assert!(smsc.wait_for_accepted(1, Duration::from_secs(10)).await);
    let push = pushes(&smsc.accepted()).remove(0);
    let mut h = handset(&app, device_id, "VX9600V04").await;
    let outcome = h
        .run_notified(&push.push.body, &Trace::new(None).unwrap())
        .await
        .unwrap();
    assert_eq!(
        outcome.fota,
        Some(FotaOutcome::Updated {
            from: "VX9600V04".into(),
            to: "VX9600V06".into()
        })
    );
    let (fw, fota_state, job_state) = app
        .with_conn(move |c| {
            let d = mdm::registry::device::get(c, device_id).unwrap();
            let s = mdm::fota::session::for_device(c, device_id, 1)
                .unwrap()
                .remove(0);
            let j = mdm::omadm::job::for_device(c, device_id, 1)
                .unwrap()
                .remove(0);
            (d.firmware_version, s.state, j.state)
        })
        .await;
    assert_eq!(fw, "VX9600V06");
    assert_eq!(fota_state, "succeeded");
    assert_eq!(job_state, "done");
}

#[tokio::test]
async fn care_pushes_signed_settings_and_a_dm_bootstrap() {
    let smsc = start_smsc().await;
    let app = app_with_smsc(&smsc, 8).await;
    let (device_id, _) = line(&app).await;
    app.login_admin().await;
    let csrf = app.csrf(&format!("/devices/{device_id}")).await;
    let r = app
        .post_form(
            &format!("/devices/{device_id}/push/settings"),
            &[
                ("csrf", &csrf),
                ("brew_url", "http://brew.operator.example/dl"),
                ("apn", "data.operator.example"),
                ("proxy", "10.1.2.3"),
                ("proxy_port", "9201"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let r = app
        .post_form(
            &format!("/devices/{device_id}/push/bootstrap"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    // Bad input: a BREW URL that is not one, and a proxy that is not IPv4.
    for (k, v, says) in [
        ("brew_url", "ftp://x", "must be an http or https URL"),
        ("proxy", "proxy.example", "must be an IPv4 address"),
        ("apn", "", "Nothing to push"),
    ] {
        app.post_form(
            &format!("/devices/{device_id}/push/settings"),
            &[("csrf", &csrf), (k, v)],
        )
        .await;
        let (_, page) = app.page(&format!("/devices/{device_id}")).await;
        assert!(page.contains(says), "{says}");
    }

    // The settings push and the bootstrap: two concatenated datagrams.
    let imsi = format!("31000{MDN}");
    wait_until("both pushes", || async {
        pushes(&smsc.accepted()).len() == 2
    })
    .await;
    assert_eq!(
        message_states(&app).await.len(),
        2,
        "bad input queued nothing"
    );
    for p in pushes(&smsc.accepted()) {
        assert_eq!(
            p.push.content_type.media,
            MediaType::WellKnown(media::CONNECTIVITY_WBXML)
        );
        let Some(Parameter::Mac(mac)) = p.push.content_type.params.get(1) else {
            panic!("no MAC parameter");
        };
        assert!(verify_mac(
            &Credentials::NetwPin { imsi: &imsi },
            &p.push.body,
            mac
        ));
        let doc = mdm::wbxml::decode(&p.push.body, mdm::wbxml::known_vocabulary).unwrap();
        let xml = mdm::wbxml::to_xml(&doc);
        assert!(
            xml.contains("http://brew.operator.example/dl")
                || (xml.contains("w7") && xml.contains(DEVICE_PASSWORD)),
            "{xml}"
        );
    }
    let rows = message_states(&app).await;
    let settings_id = rows[0].0;
    let (_, detail) = app.page(&format!("/ops/messages/{settings_id}")).await;
    assert!(detail.contains("http://brew.operator.example/dl"));
    assert!(detail.contains("data.operator.example"));
    let (_, boot) = app.page(&format!("/ops/messages/{}", rows[1].0)).await;
    assert!(
        !boot.contains(DEVICE_PASSWORD),
        "the log hides the DM secrets"
    );
}

#[tokio::test]
async fn cli_queues_pushes_and_lists_the_outbox() {
    let smsc = start_smsc().await;
    let app = app_with_smsc(&smsc, 8).await;
    line(&app).await;
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &[
            "push",
            "cp",
            "--device",
            MEID,
            "--brew-url",
            "http://brew.example/",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("OMA CP settings: BREW http://brew.example/"),
        "{out}"
    );
    wait_until("delivery", || all_in_state(&app, "delivered")).await;
    let (code, out, _) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["outbox", "list", "--json"],
        None,
    );
    assert_eq!(code, 0);
    let rows: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["state"], "delivered");
    assert_eq!(rows[0]["mdn"], MDN);
    assert_eq!(rows[0]["kind"], "cp_settings");
    let (code, _, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["push", "cp", "--device", MEID, "--brew-url", "not a url"],
        None,
    );
    assert_ne!(code, 0);
    assert!(err.contains("http or https"), "{err}");
}

#[tokio::test]
async fn unknown_mdn_and_oversized_payloads_fail_clearly() {
    let smsc = start_smsc().await;
    // One short message per payload at most: a settings push cannot fit.
    let app = app_with_smsc(&smsc, 1).await;
    let (device_id, _) = line(&app).await;
    smsc.reject_destination(MDN, 0x0000_000B);
    let vault = app.vault.clone();
    app.with_conn(move |c| {
        mdm::omadm::job::notify(
            c,
            &vault,
            device_id,
            mdm::omadm::job::JobKind::Refresh,
            &mdm::registry::Actor::System("test"),
            1,
        )
        .unwrap();
        mdm::messaging::provisioning::push_settings(
            c,
            device_id,
            &mdm::messaging::content::CpSettings {
                brew_url: "http://brew.operator.example/a/long/path/for/the/download/server".into(),
                apn: "data.operator.example".into(),
                proxy: "10.1.2.3".into(),
                proxy_port: "9201".into(),
                ..Default::default()
            },
            &mdm::registry::Actor::System("test"),
            1,
        )
        .unwrap();
    })
    .await;
    wait_until("both failed", || all_in_state(&app, "failed")).await;
    let rows = message_states(&app).await;
    assert!(rows[0].3.contains("ESME_RINVDSTADR"), "{:?}", rows[0]);
    assert_eq!(rows[0].2, 1, "a permanent refusal is not retried");
    assert!(rows[1].3.contains("payload too large"), "{:?}", rows[1]);
    assert_eq!(rows[1].2, 0, "never submitted");
    assert_eq!(smsc.accepted_count(), 0);

    // A device without a subscriber line cannot be notified: nothing queued.
    let (_, token) = app.token(Role::Admin).await;
    let d: Value = app
        .api(Method::POST, "/devices", &token)
        .json(&json!({"meid": "A1000012345679", "make": "LG", "model": "VX9600", "firmware_version": "V1"}))
        .send_json()
        .await;
    let (code, _, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["notify", "--device", d["meid"].as_str().unwrap()],
        None,
    );
    assert_ne!(code, 0);
    assert!(err.contains("no subscriber line"), "{err}");
    assert_eq!(message_states(&app).await.len(), 2);
}

async fn queue_notifications(app: &TestApp, device_id: i64, n: usize) {
    let vault = app.vault.clone();
    app.with_conn(move |c| {
        for _ in 0..n {
            mdm::omadm::job::notify(
                c,
                &vault,
                device_id,
                mdm::omadm::job::JobKind::Refresh,
                &mdm::registry::Actor::System("test"),
                8,
            )
            .unwrap();
        }
    })
    .await;
}

/// Each payload the SMSC accepted, once: no message was sent twice.
fn assert_no_duplicates(smsc: &TestSmsc, expected: usize) {
    let accepted = smsc.accepted();
    let mut payloads: Vec<Vec<u8>> = accepted.iter().map(|s| s.short_message.clone()).collect();
    payloads.sort();
    payloads.dedup();
    assert_eq!(accepted.len(), expected, "accepted submits");
    assert_eq!(payloads.len(), expected, "distinct payloads");
}

#[tokio::test]
async fn a_link_dropped_mid_window_loses_nothing_and_sends_nothing_twice() {
    let smsc = start_smsc().await;
    let app = app_with_smsc(&smsc, 8).await;
    let (device_id, _) = line(&app).await;
    smsc.set_receipts(false);
    smsc.drop_link_after(15);
    queue_notifications(&app, device_id, 40).await;
    wait_until("all submitted", || all_in_state(&app, "submitted")).await;
    assert_no_duplicates(&smsc, 40);
    assert!(smsc.bind_count() >= 2, "the link came back");
    let retried = message_states(&app)
        .await
        .iter()
        .filter(|r| r.2 > 1)
        .count();
    assert!(retried >= 1, "the unacknowledged messages went again");
}

#[tokio::test]
async fn throttling_defers_messages_until_the_smsc_takes_them() {
    let smsc = start_smsc().await;
    let app = app_with_smsc(&smsc, 8).await;
    let (device_id, _) = line(&app).await;
    smsc.throttle_next(3);
    queue_notifications(&app, device_id, 5).await;
    wait_until("all delivered", || all_in_state(&app, "delivered")).await;
    assert_no_duplicates(&smsc, 5);
    assert_eq!(smsc.rejected_count(), 3);
    let rows = message_states(&app).await;
    assert!(rows.iter().any(|r| r.2 > 1), "{rows:?}");
}

#[tokio::test]
async fn a_refused_bind_keeps_messages_queued_until_the_smsc_accepts_us() {
    let smsc = start_smsc().await;
    smsc.refuse_binds(true);
    let app = app_with_smsc(&smsc, 8).await;
    let (device_id, _) = line(&app).await;
    queue_notifications(&app, device_id, 2).await;
    app.login_admin().await;
    wait_until("the refusal on the dashboard", || async {
        app.page("/ops").await.1.contains("bind refused")
    })
    .await;
    let rows = message_states(&app).await;
    assert!(rows.iter().all(|r| r.1 == "queued" && r.2 == 0), "{rows:?}");
    smsc.refuse_binds(false);
    wait_until("delivery after the bind", || {
        all_in_state(&app, "delivered")
    })
    .await;
    assert_no_duplicates(&smsc, 2);
}

#[tokio::test]
async fn two_senders_on_one_database_never_send_a_row_twice() {
    let smsc = start_smsc().await;
    // The app itself sends nothing: two separate senders share its database.
    let app = spawn_app_with(|_| {}).await;
    let (device_id, _) = line(&app).await;
    queue_notifications(&app, device_id, 150).await;
    let mut senders = Vec::new();
    for node in ["node-a", "node-b"] {
        let mut opts = mdm::messaging::sender::SenderOptions::new(8, 10);
        opts.node = node.into();
        opts.batch = 20;
        senders.push(mdm::messaging::sender::Messaging::start(
            app.db.clone(),
            smsc_config(&smsc),
            opts,
            mdm::messaging::inbound::InboundRouter::default(),
        ));
    }
    wait_until("all delivered", || all_in_state(&app, "delivered")).await;
    assert_no_duplicates(&smsc, 150);
    for s in senders {
        s.shutdown().await;
    }
}

#[tokio::test]
async fn inbound_short_messages_are_stored_and_shown() {
    let smsc = start_smsc().await;
    let app = app_with_smsc(&smsc, 8).await;
    app.login_admin().await;
    wait_until("bound", || async {
        app.page("/ops").await.1.contains("bound as")
    })
    .await;
    assert!(
        smsc.deliver_inbound("3125550199", "4444", b"ACTIVATE 1234")
            .await
    );
    wait_until("stored", || async {
        app.page("/ops/messages").await.1.contains("ACTIVATE 1234")
    })
    .await;
    let (_, page) = app.page("/ops/messages?mdn=3125550199").await;
    assert!(page.contains("no handler for this message"));
    let (status, page) = app.page("/ops/messages?mdn=12").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("role=\"alert\""),
        "a bad MDN filter is explained"
    );
}

#[tokio::test]
async fn rows_held_by_a_node_that_died_are_sent_once_its_lease_runs_out() {
    let smsc = start_smsc().await;
    let app = spawn_app_with(|_| {}).await;
    let (device_id, _) = line(&app).await;
    queue_notifications(&app, device_id, 5).await;
    // A node claims three rows and dies before submitting them.
    let claimed = app
        .with_conn(|c| mdm::messaging::outbox::claim(c, "dead-node", 3, 300).unwrap())
        .await;
    assert_eq!(claimed.len(), 3);
    let mut opts = mdm::messaging::sender::SenderOptions::new(8, 10);
    opts.poll = Duration::from_millis(100);
    let sender = mdm::messaging::sender::Messaging::start(
        app.db.clone(),
        smsc_config(&smsc),
        opts,
        mdm::messaging::inbound::InboundRouter::default(),
    );
    wait_until("all delivered", || all_in_state(&app, "delivered")).await;
    assert_no_duplicates(&smsc, 5);
    let attempts: Vec<i32> = message_states(&app).await.iter().map(|r| r.2).collect();
    assert_eq!(
        attempts,
        vec![2, 2, 2, 1, 1],
        "the dead node's claim counted"
    );
    sender.shutdown().await;
}

#[tokio::test]
async fn a_bootstrap_needs_an_http_server_url() {
    let smsc = start_smsc().await;
    let app = app_with_smsc(&smsc, 8).await;
    let (device_id, _) = line(&app).await;
    for url in ["notaurl", "ftp://dm.example/omadm", "", "  "] {
        let vault = app.vault.clone();
        let refused = app
            .with_conn(move |c| {
                mdm::messaging::provisioning::push_bootstrap(
                    c,
                    &vault,
                    device_id,
                    url,
                    &mdm::registry::Actor::System("test"),
                    8,
                )
            })
            .await;
        match refused {
            Err(mdm::messaging::provisioning::PushError::Invalid(m)) => {
                assert!(m.contains("must be an http or https URL"), "{m}")
            }
            other => panic!("{url:?}: {other:?}"),
        }
    }
    let (code, _, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &[
            "push",
            "bootstrap",
            "--device",
            MEID,
            "--server-url",
            "notaurl",
        ],
        None,
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("OMA-DM server URL must be an http or https URL"),
        "{err}"
    );
    assert!(message_states(&app).await.is_empty(), "nothing queued");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(smsc.accepted_count(), 0);

    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &[
            "push",
            "bootstrap",
            "--device",
            MEID,
            "--server-url",
            "https://dm.operator.example/omadm",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(message_states(&app).await.len(), 1);
}
