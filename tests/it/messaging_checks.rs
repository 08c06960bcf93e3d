//! Messaging checks from QA: DM secrets sealed in the outbox, the
//! star-code welcome (order, alphabet, length), the Self Service update
//! check of a model without FOTA, unknown feature codes, and the outbox's
//! retry and CLI details.

use std::time::Duration;

use diesel::prelude::*;
use mdm::auth::Role;
use mdm::db::schema::{capabilities, outbox, profiles};
use mdm::messaging::codec::cp_security::{verify_mac, Credentials};
use mdm::messaging::codec::wsp::Parameter;
use mdm::messaging::outbox::{Kind, NewMessage, OutboxMessage, SendOutcome};
use mdm::registry::Actor;
use reqwest::Method;
use serde_json::json;

use crate::common::{profile_json, run_mdm, spawn_app_with, subscriber_sign_in, TestApp};
use crate::messaging::{
    app_with_smsc, line, pushes, smsc_config, start_smsc, wait_until, DEVICE_PASSWORD,
    SERVER_PASSWORD,
};

/// The line and handset `crate::messaging::line` registers.
const MDN: &str = "3125550100";
const MEID: &str = "A1000012345678";

async fn rows(app: &TestApp) -> Vec<OutboxMessage> {
    app.with_conn(|c| {
        outbox::table
            .order(outbox::id)
            .select(OutboxMessage::as_select())
            .load(c)
            .unwrap()
    })
    .await
}

fn holds(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn has_no_secret(bytes: &[u8]) -> bool {
    !holds(bytes, DEVICE_PASSWORD) && !holds(bytes, SERVER_PASSWORD)
}

/// The submits to `mdn` whose push carries both DM passwords and a MAC the
/// handset accepts: what only the opened payload can be.
fn bootstrap_reached_the_handset(smsc: &mdm::messaging::smpp::test_smsc::TestSmsc) -> bool {
    let imsi = format!("31000{MDN}");
    pushes(&smsc.accepted()).iter().any(|p| {
        let Some(Parameter::Mac(mac)) = p.push.content_type.params.get(1) else {
            return false;
        };
        let doc = mdm::wbxml::decode(&p.push.body, mdm::wbxml::known_vocabulary).unwrap();
        let xml = mdm::wbxml::to_xml(&doc);
        xml.contains(DEVICE_PASSWORD)
            && xml.contains(SERVER_PASSWORD)
            && verify_mac(&Credentials::NetwPin { imsi: &imsi }, &p.push.body, mac)
    })
}

#[tokio::test]
async fn a_dm_bootstrap_is_sealed_at_rest_sent_in_clear_and_dropped_once_delivered() {
    let smsc = start_smsc().await;
    smsc.set_receipts(false);
    let app = app_with_smsc(&smsc, 8).await;
    line(&app).await;
    // Without --server-url the CLI falls back as `otapa prl` does: the
    // public URL, else the address the server listens on (MDM_BIND).
    let (code, out, err) = mdm(&app, &["push", "bootstrap", "--device", MEID]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("http://127.0.0.1:8080/omadm"), "{out}");

    let row = rows(&app).await.remove(0);
    assert_eq!(row.kind, "cp_bootstrap");
    assert!(row.payload.starts_with(b"sealed:v1:"), "sealed at rest");
    assert!(has_no_secret(&row.payload));
    let view = row.payload_view.clone().expect("a masked copy for the log");
    assert!(has_no_secret(&view));

    // The sender opens it: the handset gets the passwords, signed.
    wait_until("the bootstrap at the SMSC", || async {
        bootstrap_reached_the_handset(&smsc)
    })
    .await;
    wait_until("submitted", || async {
        rows(&app).await[0].state == "submitted"
    })
    .await;
    let submitted = rows(&app).await.remove(0);
    assert!(
        submitted.payload.starts_with(b"sealed:v1:"),
        "never written back in clear"
    );

    // Delivered, it never goes out again: the sealed payload is dropped,
    // the log keeps showing the masked copy.
    let message_id = submitted.smsc_message_id.clone().unwrap();
    app.with_conn(move |c| {
        mdm::messaging::outbox::apply_receipts(
            c,
            &[mdm::messaging::outbox::Receipt {
                message_id,
                delivered: true,
                detail: "Delivered".into(),
            }],
        )
        .unwrap()
    })
    .await;
    let delivered = rows(&app).await.remove(0);
    assert_eq!(delivered.state, "delivered");
    assert!(delivered.payload.is_empty());
    assert_eq!(delivered.payload_view.as_deref(), Some(view.as_slice()));

    app.login_admin().await;
    let (status, page) = app.page(&format!("/ops/messages/{}", row.id)).await;
    assert_eq!(status, 200);
    for needle in [
        "(hidden)",
        "APPSRV",
        "CLIENT",
        "http://127.0.0.1:8080/omadm",
    ] {
        assert!(page.contains(needle), "{needle}: {page}");
    }
    assert!(!page.contains(DEVICE_PASSWORD) && !page.contains(SERVER_PASSWORD));

    let (code, out, err) = mdm(&app, &["outbox", "show", &row.id.to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("(hidden)") && out.contains("APPSRV"), "{out}");
    assert!(!out.contains(DEVICE_PASSWORD), "{out}");
    let state_line = out.lines().nth(1).unwrap();
    assert!(
        state_line.starts_with("state delivered after 1 attempt(s); SMSC id "),
        "{state_line}"
    );
    assert!(!state_line.trim_end().ends_with(';'), "{state_line:?}");
}

#[tokio::test]
async fn bootstraps_stored_in_clear_are_sealed_when_a_node_starts_and_still_go_out() {
    let app = spawn_app_with(|_| {}).await;
    let (device_id, _) = line(&app).await;
    // Two bootstraps as a release before sealing stored them: one waiting,
    // one delivered long ago.
    let vault = app.vault.clone();
    let ids = app
        .with_conn(move |c| {
            let acct = mdm::omadm::account::get(c, &vault, device_id)
                .unwrap()
                .unwrap();
            let doc = mdm::messaging::content::dm_bootstrap_document(
                &acct,
                "https://dm.operator.example/omadm",
            );
            let pdu = mdm::messaging::content::cp_push(&doc, &format!("31000{MDN}")).unwrap();
            let mut ids = Vec::new();
            for _ in 0..2 {
                let msg = NewMessage::push(
                    Kind::CpBootstrap,
                    Some(device_id),
                    mdm::registry::identifiers::Mdn::parse(MDN).unwrap(),
                    pdu.clone(),
                    "OMA CP bootstrap (an older release)".into(),
                );
                ids.push(mdm::messaging::outbox::queue(c, &msg, "old", 8).unwrap().id);
            }
            diesel::update(outbox::table.find(ids[1]))
                .set(outbox::state.eq("delivered"))
                .execute(c)
                .unwrap();
            ids
        })
        .await;
    let before = rows(&app).await;
    assert!(
        holds(&before[0].payload, DEVICE_PASSWORD),
        "stored in clear"
    );

    // A node starting with the same key seals them, and sends the waiting one.
    let key = std::fs::read_to_string(app.data_dir.join("secrets.key")).unwrap();
    let smsc = start_smsc().await;
    let sc = smsc_config(&smsc);
    let node = app
        .second_node(move |c| {
            c.secrets_key = Some(key.trim().to_string());
            c.smsc = Some(sc);
        })
        .await
        .unwrap();
    let after = rows(&app).await;
    for r in &after {
        assert!(has_no_secret(&r.payload), "row {}", r.id);
        let view = r.payload_view.as_deref().expect("masked copy");
        assert!(has_no_secret(view) && holds(view, "dm.operator.example"));
    }
    assert_eq!(after[1].id, ids[1]);
    assert!(after[1].payload.is_empty(), "a delivered one is emptied");
    wait_until("the old bootstrap at the SMSC", || async {
        bootstrap_reached_the_handset(&smsc)
    })
    .await;
    // Its log entry reads as before.
    node.login_admin().await;
    let (_, page) = node.page(&format!("/ops/messages/{}", ids[0])).await;
    assert!(page.contains("(hidden)") && page.contains("https://dm.operator.example/omadm"));
    assert!(!page.contains(DEVICE_PASSWORD), "{page}");
}

/// Kyocera ESN handset on a line whose SSPR table holds a PRL, with the
/// manufacturer's IOTA series: ready for star-code activation.
async fn iota_line(app: &TestApp, mdn: &str, esn: &str) {
    let (_, token) = app.token(Role::Admin).await;
    let (pid, _) = app
        .kyocera_line(&token, &profile_json(mdn), json!({"esn": esn}))
        .await;
    // The PRL and the series are filed once per app: a second line finds them.
    let filed = app
        .with_conn(|c| mdm::iota::prl_store::by_prl_id(c, 10040).unwrap().is_some())
        .await;
    if !filed {
        app.file_prl(crate::iota::prl(10040, 4), 1).await;
        app.kyocera_iota_series().await;
    }
    app.with_conn(move |c| {
        diesel::update(profiles::table.find(pid))
            .set(profiles::sspr_table.eq(Some(1)))
            .execute(c)
            .unwrap();
    })
    .await;
}

/// Runs the `mdm` command line against the app's database.
fn mdm(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    run_mdm(&app.database_url, &app.data_dir, args, None)
}

const WELCOME_PL: &str = "Witaj w sieci ExampleTel, Łódź!";

#[tokio::test]
async fn the_si_waits_until_the_welcome_text_has_been_submitted() {
    let app = spawn_app_with(|_| {}).await;
    iota_line(&app, "6135550140", "9F100140").await;
    let ctx = mdm::iota::driver::PushContext {
        base_url: app.base.clone(),
        max_parts: 8,
    };
    let claimed = app
        .with_conn(move |c| {
            mdm::iota::driver::start_star_code(
                c,
                &Actor::System("test"),
                "9F100140",
                Some(WELCOME_PL),
                &ctx,
            )
            .unwrap();
            let first = mdm::messaging::outbox::claim(c, "node", 10, 60_000).unwrap();
            // Still sending: the SI is not due yet.
            let none = mdm::messaging::outbox::claim(c, "node", 10, 60_000).unwrap();
            let text = &first[0];
            mdm::messaging::outbox::record(
                c,
                "node",
                &[(
                    text.id,
                    text.attempts,
                    SendOutcome::Accepted {
                        message_id: "m1".into(),
                    },
                )],
                10,
            )
            .unwrap();
            let then = mdm::messaging::outbox::claim(c, "node", 10, 60_000).unwrap();
            (first, none, then)
        })
        .await;
    let (first, none, then) = claimed;
    let kinds = |rs: &[OutboxMessage]| rs.iter().map(|r| r.kind.clone()).collect::<Vec<_>>();
    assert_eq!(kinds(&first), vec!["text"], "the welcome alone first");
    assert!(none.is_empty());
    assert_eq!(kinds(&then), vec!["wap_si"], "then the SI");
    // The row says how it goes out: UCS-2, since "Ł" is not GSM 7-bit.
    assert_eq!(first[0].data_coding, 8);
}

#[tokio::test]
async fn the_welcome_reaches_the_smsc_first_in_ucs2_when_it_needs_it() {
    let smsc = start_smsc().await;
    let sc = smsc_config(&smsc);
    let app = spawn_app_with(move |c| {
        c.smsc = Some(sc);
        c.iota_welcome = Some(WELCOME_PL.into());
    })
    .await;
    let (_, token) = app.token(Role::Admin).await;
    let lines = [("6135550141", "9F100141"), ("6135550142", "9F100142")];
    for (mdn, esn) in lines {
        iota_line(&app, mdn, esn).await;
        let r = app
            .api(Method::POST, "/iota/activations", &token)
            .json(&json!({"device": esn}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap());
    }
    wait_until("both welcomes and SIs", || async {
        smsc.accepted().len() >= 4
    })
    .await;
    let submits = smsc.accepted();
    for (mdn, _) in lines {
        let mine: Vec<_> = submits
            .iter()
            .filter(|s| s.destination_addr == mdn)
            .collect();
        assert_eq!(mine.len(), 2, "{mine:?}");
        let (text, si) = (mine[0], mine[1]);
        assert_eq!(text.esm_class & 0x40, 0, "the text first");
        assert_eq!(text.data_coding, 0x08);
        let units: Vec<u16> = text
            .short_message
            .chunks(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
            .collect();
        assert_eq!(String::from_utf16(&units).unwrap(), WELCOME_PL);
        assert_eq!(si.esm_class & 0x40, 0x40, "then the push");
    }
}

#[test]
fn a_welcome_longer_than_four_short_messages_stops_the_server_at_start() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdm"))
        .arg("serve")
        .env("DATABASE_URL", dir.path().join("mdm.db"))
        .env("MDM_DATA_DIR", dir.path().join("data"))
        .env("MDM_BIND", "127.0.0.1:0")
        .env("MDM_LOG", "warn")
        .env("MDM_IOTA_WELCOME", "Welcome to ExampleTel! ".repeat(30))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started with a welcome text that cannot be sent");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains("MDM_IOTA_WELCOME")
            && err.contains("690")
            && err.contains("5 short messages of 153")
            && err.contains("at most 4"),
        "{err}"
    );
    // Four parts of 67 UCS-2 characters, or of 153 GSM ones, and no more.
    assert!(mdm::config::check_welcome(&"ł".repeat(268), 8).is_ok());
    assert!(mdm::config::check_welcome(&"ł".repeat(269), 8).is_err());
    assert!(mdm::config::check_welcome(&"e".repeat(612), 8).is_ok());
    assert!(mdm::config::check_welcome(&"e".repeat(613), 8).is_err());
    // Nor more than the outbox lets any message take.
    assert!(mdm::config::check_welcome(&"e".repeat(200), 1).is_err());
}

#[tokio::test]
async fn self_service_offers_no_update_check_for_a_model_without_fota() {
    let app = spawn_app_with(|_| {}).await;
    let (_, token) = app.token(Role::Admin).await;
    app.self_service_subscriber(&token, MDN, "4321").await;
    let handset = json!({"meid": MEID, "make": "LG", "model": "VX9600", "firmware_version": "V1", "profile_mdn": MDN});
    app.api_create("/devices", &token, &handset).await;
    let without_fota = json!({"make": "LG", "model": "VX9600", "protocol": "omadm", "fota": false});
    app.api_create("/capabilities", &token, &without_fota).await;
    // A released package would otherwise be offered.
    app.release_package(&token, "LG", "VX9600", "V1", "V2", 1_000)
        .await;

    let c = crate::common::client();
    subscriber_sign_in(&app, &c, MDN, "4321", None).await;
    let page = |c: &reqwest::Client| {
        let url = app.url(&format!("/self/line/{MDN}"));
        let c = c.clone();
        async move { c.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let html = page(&c).await;
    assert!(html.contains("not supported by this model"), "{html}");
    assert!(!html.contains("Check for a software update"), "{html}");
    let check = |c: &reqwest::Client, csrf: String| {
        let url = app.url("/self/firmware-check");
        let c = c.clone();
        async move {
            c.post(url)
                .form(&[("csrf", csrf.as_str())])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The form posted anyway is refused with the same words.
    assert_eq!(check(&c, crate::common::csrf_of(&html)).await, 303);
    let html = page(&c).await;
    assert!(
        html.contains("Over-the-air updates are not supported by this model."),
        "{html}"
    );
    assert!(!html.contains("up to date"), "{html}");
    let jobs = app.count("dm_jobs").await;
    assert_eq!(jobs, 0, "nothing queued");

    // An IOTA-only model: the subscriber is told where to look instead of
    // getting a server error.
    app.with_conn(|c| {
        diesel::update(capabilities::table)
            .set((
                capabilities::protocol.eq("iota"),
                capabilities::fota.eq(true),
            ))
            .execute(c)
            .unwrap();
    })
    .await;
    let html = page(&c).await;
    assert!(html.contains("Check for a software update"), "{html}");
    assert_eq!(check(&c, crate::common::csrf_of(&html)).await, 303);
    let html = page(&c).await;
    assert!(html.contains("looks for software updates itself"), "{html}");
}

#[tokio::test]
async fn a_feature_code_outside_the_catalogue_is_a_field_error() {
    let app = spawn_app_with(|_| {}).await;
    let (_, token) = app.token(Role::Admin).await;
    let mut p = profile_json(MDN);
    p["features"] = json!("mobile_web,nonexistent");
    let (status, body) = app.api_call(Method::POST, "/profiles", &token, &p).await;
    assert_eq!(status, 422);
    let says = body["error"]["fields"]["features"].as_str().unwrap_or("");
    assert!(
        says.contains("\"nonexistent\" is not in the feature catalogue")
            && says.contains("mobile_web"),
        "{body}"
    );
    assert_eq!(app.count("profiles").await, 0);

    // Created with known codes; a change may not add an unknown one, but a
    // code the line already has (the catalogue stopped selling it) stays.
    let pid = app.add_subscriber(&token, &profile_json(MDN)).await;
    let profile = format!("/profiles/{pid}");
    assert_eq!(app.api_call(Method::PUT, &profile, &token, &p).await.0, 422);
    app.with_conn(move |c| {
        diesel::update(profiles::table.find(pid))
            .set(profiles::features.eq("legacy_wap,mobile_web"))
            .execute(c)
            .unwrap();
    })
    .await;
    let mut kept = profile_json(MDN);
    kept["features"] = json!("legacy_wap,mobile_web,touch2talk");
    let (status, body) = app.api_call(Method::PUT, &profile, &token, &kept).await;
    assert_eq!(status, 200, "{body}");

    // The CSV import checks the codes too, and imports nothing.
    let csv = app.data_dir.join("lines.csv");
    std::fs::write(
        &csv,
        "mdn,min,account_id,subscriber_name,sid_nid_pairs,features\n\
         3125550191,3125550191,A1,Ana,4145/65535,mobile_web\n\
         3125550192,3125550192,A1,Bo,4145/65535,teleportation\n",
    )
    .unwrap();
    let (code, _, err) = mdm(&app, &["import", csv.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("line 3: features: \"teleportation\" is not in the feature catalogue"),
        "{err}"
    );
    assert_eq!(app.count("profiles").await, 1);
}

#[tokio::test]
async fn a_retried_message_keeps_its_count_of_attempts_and_gets_a_full_round() {
    let app = spawn_app_with(|_| {}).await;
    let (device_id, _) = line(&app).await;
    let vault = app.vault.clone();
    // It failed after the ten attempts a message gets.
    let id = app
        .with_conn(move |c| {
            let (_, msg) = mdm::omadm::job::notify(
                c,
                &vault,
                device_id,
                mdm::omadm::job::JobKind::Refresh,
                &Actor::System("test"),
                8,
            )
            .unwrap();
            diesel::update(outbox::table.find(msg.id))
                .set((outbox::state.eq("failed"), outbox::attempts.eq(10)))
                .execute(c)
                .unwrap();
            msg.id
        })
        .await;
    let (code, out, err) = mdm(&app, &["outbox", "retry", &id.to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    let row = app
        .with_conn(|c| {
            let claimed = mdm::messaging::outbox::claim(c, "node", 10, 60_000).unwrap();
            assert_eq!(claimed.len(), 1);
            let r = &claimed[0];
            // The SMSC is busy: the first attempt of the retry is deferred,
            // not the message failed for good.
            mdm::messaging::outbox::record(
                c,
                "node",
                &[(
                    r.id,
                    r.attempts_this_round(),
                    SendOutcome::Retry {
                        error: "throttled".into(),
                        retry_in_ms: 0,
                    },
                )],
                10,
            )
            .unwrap();
            mdm::messaging::outbox::get(c, r.id).unwrap().unwrap()
        })
        .await;
    assert_eq!(row.attempts, 11, "the eleventh attempt, not the first");
    assert_eq!(row.state, "queued", "{}", row.last_error);
}
