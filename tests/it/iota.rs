//! IOTA end to end: the real server's IOTA HTTP server and OSPP driver
//! against the simulated IOTA handset, over HTTP, with MMC documents.

use std::time::Duration;

use diesel::prelude::*;
use mdm::auth::Role;
use mdm::db::schema::{devices, iota_sessions, profiles};
use mdm::iota::is683::{AcqRecord, Nid, Preference, Prl, ReverseMessage, SysRecord};
use mdm::iota::mmc::{self, Is683Payload, Link, MmcDocument};
use mdm::messaging::smpp::test_smsc::{TestSmsc, TestSmscOptions};
use mdm::messaging::smpp::SmscConfig;
use mdm::sim::iota_client::{self, push_href, IotaOutcome};
use mdm::sim::iota_handset::{HandsetIdentity, IotaFault, IotaHandset};
use mdm::sim::sms_inbox::SmsInbox;
use mdm::sim::trace::Trace;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{profile_json, run_mdm, spawn_app, spawn_app_with, SendJson, TestApp};

const MDN: &str = "6135550100";
const ESN: &str = "9F1ABCDE";

/// A PRL of `systems` system records: 100 of them take two SSPR segments.
pub fn prl(id: u16, systems: u16) -> Vec<u8> {
    Prl {
        pr_list_id: id,
        pref_only: false,
        def_roam_ind: 1,
        acq_records: vec![
            AcqRecord::CellularCdmaStandard { a_b: 3, pri_sec: 3 },
            AcqRecord::PcsCdmaBlocks { blocks: vec![7] },
        ],
        sys_records: (0..systems)
            .map(|i| SysRecord {
                sid: 4145 + i,
                nid: Nid::Wildcard,
                preference: Preference::Preferred {
                    pri: true,
                    roam_ind: 1,
                },
                geo: i > 0,
                acq_index: u16::from(i % 2 == 1),
            })
            .collect(),
    }
    .encode()
    .unwrap()
}

/// A subscriber pre-loaded with its ESN handset and SSPR table, not yet
/// activated (the POS pre-load of the source document).
async fn line(app: &TestApp, mdn: &str, esn: &str, table: Option<i32>) -> (i64, i64) {
    let (_, token) = app.token(Role::Admin).await;
    let (pid, did) = app
        .kyocera_line(&token, &profile_json(mdn), json!({"esn": esn}))
        .await;
    app.with_conn(move |c| {
        diesel::update(profiles::table.find(pid))
            .set(profiles::sspr_table.eq(table))
            .execute(c)
            .unwrap();
    })
    .await;
    (pid, did)
}

fn handset(esn: &str, fault: IotaFault) -> IotaHandset {
    IotaHandset::new(
        HandsetIdentity::new(esn, None, "Kyocera", "KX-IOTA", 0x0102, 0x2A),
        fault,
    )
}

async fn activate(app: &TestApp, h: &mut IotaHandset, identify_in_get: bool) -> IotaOutcome {
    let trace = Trace::new(None).unwrap();
    iota_client::run(h, &app.url("/iota/activate"), identify_in_get, &trace)
        .await
        .unwrap()
}

#[derive(Debug, PartialEq)]
struct Line {
    state: String,
    activated_esn: Option<String>,
    prl_id: Option<i32>,
    sspr_table: Option<i32>,
    pending_prl_id: Option<i32>,
    device_state: String,
}

async fn line_state(app: &TestApp, pid: i64, did: i64) -> Line {
    app.with_conn(move |c| {
        let (state, activated_esn, prl_id, sspr_table, pending_prl_id) = profiles::table
            .find(pid)
            .select((
                profiles::activation_state,
                profiles::activated_esn,
                profiles::prl_id,
                profiles::sspr_table,
                profiles::pending_prl_id,
            ))
            .first::<(
                String,
                Option<String>,
                Option<i32>,
                Option<i32>,
                Option<i32>,
            )>(c)
            .unwrap();
        let device_state = devices::table
            .find(did)
            .select(devices::activation_state)
            .first::<String>(c)
            .unwrap();
        Line {
            state,
            activated_esn,
            prl_id,
            sspr_table,
            pending_prl_id,
            device_state,
        }
    })
    .await
}

async fn session_states(app: &TestApp) -> Vec<(String, String)> {
    app.with_conn(|c| {
        iota_sessions::table
            .order(iota_sessions::id.asc())
            .select((iota_sessions::flow, iota_sessions::state))
            .load::<(String, String)>(c)
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn one_button_activation_programs_the_handset_and_flags_the_profile() {
    let app = spawn_app().await;
    let prl_bytes = prl(10020, 100);
    let segments = prl_bytes.len().div_ceil(251);
    assert_eq!(segments, 2);
    app.file_prl(prl_bytes.clone(), 7).await;
    let (pid, did) = line(&app, MDN, ESN, Some(7)).await;
    assert_eq!(line_state(&app, pid, did).await.state, "pending");

    let dir = tempfile::tempdir().unwrap();
    let trace = Trace::new(Some(dir.path().to_path_buf())).unwrap();
    let mut h = handset(ESN, IotaFault::None);
    let outcome = iota_client::run(&mut h, &app.url("/iota/activate"), true, &trace)
        .await
        .unwrap();
    assert!(
        matches!(outcome, IotaOutcome::Completed { reboot: true, .. }),
        "{outcome:?}"
    );
    // The handset holds what the profile says, committed.
    let nam = h.committed_nam();
    assert_eq!(nam.imsi_m.min, MDN);
    assert_eq!(nam.mdn.as_deref(), Some(MDN));
    assert_eq!(nam.home_sid, 4145);
    assert_eq!(h.committed_prl(), Some(prl_bytes.as_slice()));
    assert!(h.rebooted());
    assert_eq!(
        line_state(&app, pid, did).await,
        Line {
            state: "activated".into(),
            activated_esn: Some(ESN.into()),
            prl_id: Some(10020),
            sspr_table: Some(7),
            pending_prl_id: None,
            device_state: "activated".into(),
        }
    );
    let steps = app.profile_timeline(pid).await;
    for want in [
        "IOTA session started",
        "IOTA step accepted",
        "activated over IOTA",
    ] {
        assert!(steps.iter().any(|s| s == want), "{want} in {steps:?}");
    }
    // GET, then POSTs: NAM, two PRL segments, commit; every body traced.
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2 * (segments + 3), "{files:?}");
    assert!(files[0].starts_with("001-send-GET"), "{files:?}");
    assert!(files[9].starts_with("010-recv-200"), "{files:?}");
    let last = std::fs::read(dir.path().join(&files[9])).unwrap();
    let last = MmcDocument::decode(&last).unwrap();
    assert!(last.has_control(mmc::Control::Terminate) && last.has_control(mmc::Control::Reboot));

    // Step 3: a handset previously activated is refused in the GET response.
    let mut again = handset(ESN, IotaFault::None);
    match activate(&app, &mut again, true).await {
        IotaOutcome::Refused { code, text } => {
            assert_eq!(code, 403);
            assert_eq!(text, "handset already activated");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(line_state(&app, pid, did).await.state, "activated");
    assert_eq!(
        session_states(&app).await,
        vec![
            ("one_button".into(), "completed".into()),
            ("one_button".into(), "refused".into())
        ]
    );
}

#[tokio::test]
async fn handset_faults_leave_the_profile_untouched_until_a_clean_commit() {
    let app = spawn_app().await;
    app.file_prl(prl(10021, 40), 3).await;
    let (pid, did) = line(&app, MDN, ESN, Some(3)).await;
    let before = line_state(&app, pid, did).await;

    for (fault, expect) in [
        (IotaFault::RejectBlock, "rejected"),
        (IotaFault::BadPrlCrc, "CRC"),
    ] {
        let mut h = handset(ESN, fault);
        match activate(&app, &mut h, true).await {
            IotaOutcome::Refused { code, text } => {
                assert_eq!(code, 422, "{text}");
                assert!(text.contains(expect), "{text}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(
            h.committed_nam().mdn,
            None,
            "nothing committed on the handset"
        );
        assert_eq!(line_state(&app, pid, did).await, before);
    }
    // The data call drops after the NAM download: nothing committed, and
    // the next attempt (the handset identifying itself late, through the
    // Protocol Capability Response) succeeds.
    let mut h = handset(ESN, IotaFault::DropCall { after_requests: 2 });
    assert_eq!(activate(&app, &mut h, true).await, IotaOutcome::Dropped);
    assert_eq!(line_state(&app, pid, did).await, before);

    let mut h = handset(ESN, IotaFault::None);
    let outcome = activate(&app, &mut h, false).await;
    assert!(
        matches!(outcome, IotaOutcome::Completed { .. }),
        "{outcome:?}"
    );
    assert_eq!(line_state(&app, pid, did).await.state, "activated");
    let flows = session_states(&app).await;
    assert_eq!(
        flows.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(),
        vec!["failed", "failed", "abandoned", "completed"],
        "the new start superseded the dropped session"
    );
    let steps = app.profile_timeline(pid).await;
    assert_eq!(
        steps.iter().filter(|s| *s == "IOTA session failed").count(),
        2
    );
}

async fn post(app: &TestApp, body: &str) -> (u16, String) {
    let r = app
        .client
        .post(app.url("/iota/activate"))
        .header("Content-Type", mmc::CONTENT_TYPE)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Opens a session by GET and returns its id and the first request's seq.
async fn open_session(app: &TestApp) -> (String, u32) {
    let h = handset(ESN, IotaFault::None);
    let q = h.start_document().to_query_value().unwrap();
    let r = app
        .client
        .get(app.url("/iota/activate"))
        .query(&[("mmc", q)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let doc = MmcDocument::decode(&r.bytes().await.unwrap()).unwrap();
    (doc.session.unwrap(), doc.messages[0].seq)
}

fn reverse(session: &str, seq: u32, bytes: Vec<u8>) -> String {
    MmcDocument {
        session: Some(session.into()),
        messages: vec![Is683Payload {
            link: Link::Reverse,
            seq,
            bytes,
        }],
        ..Default::default()
    }
    .encode()
    .unwrap()
}

fn status_of(body: &str) -> (u16, String) {
    let doc = MmcDocument::decode(body.as_bytes()).unwrap();
    let s = doc.status.expect("a status");
    (s.code, s.text)
}

#[tokio::test]
async fn bad_documents_get_clear_errors_and_change_nothing() {
    let app = spawn_app().await;
    let (pid, did) = line(&app, MDN, ESN, None).await;
    let before = line_state(&app, pid, did).await;

    // A malformed MMC document: 400 without a document.
    let (code, text) = post(&app, "<mmc version=\"1.0\"><bogus/></mmc>").await;
    assert_eq!(code, 400);
    assert!(text.contains("MMC document"), "{text}");
    // The wrong content type.
    let r = app
        .client
        .post(app.url("/iota/activate"))
        .header("Content-Type", "text/xml")
        .body("<mmc version=\"1.0\"/>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    // A malformed query document.
    let r = app
        .client
        .get(app.url("/iota/activate?mmc=%21%21"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // An unknown IS-683 message type (0x1F).
    let (session, seq) = open_session(&app).await;
    let (code, body) = post(&app, &reverse(&session, seq, vec![0x1F, 0x00])).await;
    assert_eq!(code, 200);
    let (status, text) = status_of(&body);
    assert_eq!(status, 400);
    assert!(text.contains("message type"), "{text}");

    // A Download Response whose block list is cut short (wrong length).
    let (session, seq) = open_session(&app).await;
    let (_, body) = post(&app, &reverse(&session, seq, vec![0x01, 0x02, 0x00])).await;
    let (status, text) = status_of(&body);
    assert_eq!(status, 400, "{text}");

    // A step out of order: a Commit Response while the NAM download waits.
    let (session, seq) = open_session(&app).await;
    let commit = ReverseMessage::CommitResponse {
        result: mdm::iota::is683::ResultCode::Accepted,
    }
    .encode()
    .unwrap();
    let (_, body) = post(&app, &reverse(&session, seq, commit.clone())).await;
    let (status, text) = status_of(&body);
    assert_eq!(status, 409);
    assert!(text.contains("Commit Response is not an answer"), "{text}");
    // The same POST again gets the same answer (a lost response), and a
    // different one to the ended session is a replay.
    let (_, again) = post(&app, &reverse(&session, seq, commit.clone())).await;
    assert_eq!(again, body);
    let (_, replay) = post(&app, &reverse(&session, seq + 1, commit)).await;
    let (status, text) = status_of(&replay);
    assert_eq!(status, 410);
    assert!(text.contains("has ended"), "{text}");

    // A seq the server never sent.
    let (session, seq) = open_session(&app).await;
    let (_, body) = post(
        &app,
        &reverse(
            &session,
            seq + 5,
            ReverseMessage::DownloadResponse { results: vec![] }
                .encode()
                .unwrap(),
        ),
    )
    .await;
    assert_eq!(status_of(&body).0, 409);
    // An unknown session.
    let (_, body) = post(&app, &reverse("nosuchsession", 1, vec![0x05, 0x00])).await;
    assert_eq!(status_of(&body).0, 404);

    assert_eq!(line_state(&app, pid, did).await, before);
    assert!(!app
        .profile_timeline(pid)
        .await
        .iter()
        .any(|s| s == "activated over IOTA"));
}

async fn start_smsc() -> TestSmsc {
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

async fn app_with_triggers(smsc: &TestSmsc) -> TestApp {
    let mut sc = SmscConfig::from_url(&smsc.url()).unwrap();
    sc.reconnect_min = Duration::from_millis(50);
    sc.reconnect_max = Duration::from_millis(400);
    spawn_app_with(move |c| {
        c.smsc = Some(sc);
        c.iota_ivr_sources = vec!["IVR1".into()];
        c.iota_otap_sources = vec!["OTAP1".into()];
        c.iota_welcome = Some("Welcome to the network".into());
    })
    .await
}

/// Waits for the WAP push to `mdn` that carries a call-back URL.
async fn callback_pushed(smsc: &TestSmsc, mdn: &str) -> String {
    for _ in 0..200 {
        let mut inbox = SmsInbox::new();
        for s in smsc.accepted() {
            if s.destination_addr != mdn || s.esm_class & 0x40 == 0 {
                continue;
            }
            if let Ok(Some(p)) = inbox.receive(&s.destination_addr, &s.short_message) {
                if let Some(href) = push_href(&p.push) {
                    return href;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no call-back push to {mdn}");
}

async fn inbound_result(app: &TestApp) -> Vec<(String, String)> {
    app.with_conn(|c| {
        use mdm::db::schema::sms_inbound;
        sms_inbound::table
            .order(sms_inbound::id.asc())
            .select((sms_inbound::handled_by, sms_inbound::result))
            .load::<(String, String)>(c)
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn star_code_activation_from_the_ivr_message() {
    let smsc = start_smsc().await;
    let app = app_with_triggers(&smsc).await;
    app.file_prl(prl(10030, 4), 1).await;
    let (pid, did) = line(&app, MDN, ESN, Some(1)).await;
    app.kyocera_iota_series().await;

    assert!(
        smsc.deliver_inbound("IVR1", "7000", format!("IOTA ACTIVATE {ESN}").as_bytes())
            .await
    );
    let href = callback_pushed(&smsc, MDN).await;
    assert!(
        href.starts_with(&app.base) && href.contains("/iota/callback/"),
        "{href}"
    );
    // The optional welcome text went first.
    let texts: Vec<String> = smsc
        .accepted()
        .iter()
        .filter(|s| s.esm_class & 0x40 == 0 && s.destination_addr == MDN)
        .map(|s| String::from_utf8_lossy(&s.short_message).into_owned())
        .collect();
    assert_eq!(texts, vec!["Welcome to the network".to_string()]);
    assert_eq!(line_state(&app, pid, did).await.state, "pending");

    let mut h = handset(ESN, IotaFault::None);
    let outcome = iota_client::run(&mut h, &href, true, &Trace::new(None).unwrap())
        .await
        .unwrap();
    assert!(
        matches!(outcome, IotaOutcome::Completed { reboot: true, .. }),
        "{outcome:?}"
    );
    assert_eq!(line_state(&app, pid, did).await.state, "activated");
    assert_eq!(h.committed_nam().mdn.as_deref(), Some(MDN));
    // The call-back URL works once.
    let mut replay = handset(ESN, IotaFault::None);
    let outcome = iota_client::run(&mut replay, &href, true, &Trace::new(None).unwrap())
        .await
        .unwrap();
    assert!(
        matches!(outcome, IotaOutcome::Refused { code: 410, .. }),
        "{outcome:?}"
    );

    // Previously activated: the IVR's request is refused and nothing is pushed.
    let pushed = smsc.accepted_count();
    assert!(
        smsc.deliver_inbound("IVR1", "7000", format!("IOTA ACTIVATE {ESN}").as_bytes())
            .await
    );
    // A stranger's message of the same form is not a trigger.
    assert!(
        smsc.deliver_inbound("5551234", "7000", format!("IOTA ACTIVATE {ESN}").as_bytes())
            .await
    );
    for _ in 0..100 {
        if inbound_result(&app).await.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let results = inbound_result(&app).await;
    assert_eq!(results.len(), 3, "{results:?}");
    assert_eq!(results[1].0, "iota-star-code");
    assert!(results[1].1.contains("already activated"), "{results:?}");
    assert_eq!(results[2].0, "");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smsc.accepted_count(), pushed);
}

#[tokio::test]
async fn star_code_activation_is_refused_for_a_handset_that_is_not_iota() {
    let smsc = start_smsc().await;
    let app = app_with_triggers(&smsc).await;
    app.file_prl(prl(10031, 4), 1).await;
    line(&app, MDN, ESN, Some(1)).await;
    let (_, token) = app.token(Role::Admin).await;
    let star_code = || async {
        let r = app
            .api(Method::POST, "/iota/activations", &token)
            .json(&json!({"device": ESN}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap())
    };

    // Nothing says the handset speaks IOTA.
    let (status, body) = star_code().await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot tell whether"),
        "{body}"
    );
    // Its model is registered as OMA-DM only, which wins over the series.
    app.kyocera_iota_series().await;
    let r = app
        .api(Method::POST, "/capabilities", &token)
        .json(&json!({"make": "Kyocera", "model": "KX-IOTA", "protocol": "omadm"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let (status, body) = star_code().await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("registered as an OMA-DM handset, not IOTA"),
        "{body}"
    );
    // The IVR's message is refused the same way.
    assert!(
        smsc.deliver_inbound("IVR1", "7000", format!("IOTA ACTIVATE {ESN}").as_bytes())
            .await
    );
    for _ in 0..100 {
        if !inbound_result(&app).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let results = inbound_result(&app).await;
    assert!(results[0].1.contains("OMA-DM handset"), "{results:?}");

    // Nothing was pushed and no session waits for the handset.
    assert_eq!(app.count("outbox").await, 0);
    assert!(session_states(&app)
        .await
        .iter()
        .all(|(_, state)| state != "awaiting_handset"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smsc.accepted_count(), 0);
}

#[tokio::test]
async fn otapa_prl_download_from_the_administrators_message() {
    let smsc = start_smsc().await;
    let app = app_with_triggers(&smsc).await;
    app.file_prl(prl(10040, 3), 1).await;
    let new_prl = prl(10041, 120);
    app.file_prl(new_prl.clone(), 2).await;
    let (pid, did) = line(&app, MDN, ESN, Some(1)).await;
    // The handset is active; IOTA support comes from the ESN series.
    let mut h = handset(ESN, IotaFault::None);
    assert!(matches!(
        activate(&app, &mut h, true).await,
        IotaOutcome::Completed { .. }
    ));
    let (_, token) = app.token(Role::Admin).await;

    // No capability entry and no series yet: the administrator is told.
    assert!(
        smsc.deliver_inbound("OTAP1", "7001", format!("OTAPA PRL {MDN} 10041").as_bytes())
            .await
    );
    for _ in 0..100 {
        if !inbound_result(&app).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = inbound_result(&app).await;
    assert!(r[0].1.contains("cannot tell whether"), "{r:?}");
    let resp = app
        .api(Method::POST, "/iota-esn-series", &token)
        .json(&json!({"make": "Kyocera", "first_esn": "9F100000", "last_esn": "9F1FFFFF"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        201,
        "{}",
        resp.text().await.unwrap()
    );

    assert!(
        smsc.deliver_inbound("OTAP1", "7001", format!("OTAPA PRL {MDN} 10041").as_bytes())
            .await
    );
    let href = callback_pushed(&smsc, MDN).await;
    // Step 1: the pending PRL id is on the profile before the handset calls.
    assert_eq!(line_state(&app, pid, did).await.pending_prl_id, Some(10041));
    assert_eq!(line_state(&app, pid, did).await.prl_id, Some(10040));

    let outcome = iota_client::run(&mut h, &href, true, &Trace::new(None).unwrap())
        .await
        .unwrap();
    assert!(
        matches!(outcome, IotaOutcome::Completed { reboot: false, .. }),
        "{outcome:?}"
    );
    assert_eq!(h.committed_prl(), Some(new_prl.as_slice()));
    assert!(!h.otapa_active());
    let after = line_state(&app, pid, did).await;
    assert_eq!(after.prl_id, Some(10041));
    assert_eq!(after.sspr_table, Some(2));
    assert_eq!(after.pending_prl_id, None);
    assert!(app
        .profile_timeline(pid)
        .await
        .iter()
        .any(|s| s == "PRL downloaded over IOTA"));
}

#[tokio::test]
async fn cli_files_a_prl_starts_otapa_and_runs_the_simulated_handset() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("network.prl");
    std::fs::write(&file, prl(10050, 6)).unwrap();
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["prl", "add", file.to_str().unwrap(), "--sspr-table", "5"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("PRL 10050 filed in SSPR table 5"), "{out}");
    // A corrupted PRL is refused with its CRC named.
    let mut bad = prl(10051, 6);
    let n = bad.len();
    bad[n - 1] ^= 0xFF;
    std::fs::write(&file, bad).unwrap();
    let (code, _, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["prl", "add", file.to_str().unwrap()],
        None,
    );
    assert_ne!(code, 0);
    assert!(err.contains("CRC"), "{err}");

    let (pid, did) = line(&app, MDN, ESN, Some(5)).await;
    let trace_dir = dir.path().join("trace");
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &[
            "sim",
            "activate",
            "--server",
            &app.base,
            "--device",
            ESN,
            "--trace",
            trace_dir.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("session completed"), "{out}");
    assert!(out.contains(&format!("MDN {MDN}")), "{out}");
    assert!(std::fs::read_dir(&trace_dir).unwrap().count() >= 8);
    assert_eq!(line_state(&app, pid, did).await.state, "activated");
    // Activating again fails with the server's reason.
    let (code, _, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["sim", "activate", "--server", &app.base, "--device", ESN],
        None,
    );
    assert_ne!(code, 0);
    assert!(err.contains("already activated"), "{err}");

    // OTAPA from the command line queues the SL push.
    let (code, _, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["otapa", "prl", "--device", MDN, "--prl", "10050"],
        None,
    );
    assert_ne!(code, 0, "no IOTA support known yet");
    assert!(err.contains("cannot tell whether"), "{err}");
    app.kyocera_iota_series().await;
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["otapa", "prl", "--device", MDN, "--prl", "10050"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("/iota/callback/"), "{out}");
    assert_eq!(app.count("outbox").await, 1);
    assert_eq!(line_state(&app, pid, did).await.pending_prl_id, Some(10050));
}

/// An IOTA handset at KX1.0 with an IOTA capability entry and, optionally,
/// a released delta to KX1.1.
async fn fota_line(app: &TestApp, with_package: bool) -> (i64, String) {
    let (_, token) = app.token(Role::Admin).await;
    let r = app
        .api(Method::POST, "/capabilities", &token)
        .json(&json!({"make": "Kyocera", "model": "KX-IOTA", "protocol": "iota", "fota": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let d: Value = app
        .api(Method::POST, "/devices", &token)
        .json(&json!({"esn": ESN, "make": "Kyocera", "model": "KX-IOTA", "firmware_version": "KX1.0"}))
        .send_json()
        .await;
    if with_package {
        app.release_package(&token, "Kyocera", "KX-IOTA", "KX1.0", "KX1.1", 70_000)
            .await;
    }
    (d["id"].as_i64().unwrap(), token)
}

fn fota_handset() -> IotaHandset {
    let mut identity = HandsetIdentity::new(ESN, None, "Kyocera", "KX-IOTA", 0x0102, 0x2A);
    identity.firmware = Some("KX1.0".into());
    IotaHandset::new(identity, IotaFault::None)
}

async fn fota_sessions(app: &TestApp, device_id: i64) -> Vec<mdm::fota::FotaSession> {
    app.with_conn(move |c| mdm::fota::session::for_device(c, device_id, 10).unwrap())
        .await
}

#[tokio::test]
async fn iota_fota_queries_offers_downloads_and_reports_over_iota() {
    use mdm::sim::iota_client::{run_fota, FotaFault};
    use mdm::sim::omadm_handset::FotaOutcome;
    let app = spawn_app().await;
    let (device_id, token) = fota_line(&app, true).await;
    let dir = tempfile::tempdir().unwrap();
    let trace = Trace::new(Some(dir.path().to_path_buf())).unwrap();
    let mut h = fota_handset();
    let outcome = run_fota(
        &mut h,
        &app.url("/fota/check"),
        Some(("x-device-id", ESN)),
        None,
        &trace,
    )
    .await
    .unwrap();
    assert_eq!(
        outcome,
        FotaOutcome::Updated {
            from: "KX1.0".into(),
            to: "KX1.1".into()
        }
    );
    // The registry follows, and the FOTA session went the whole way over IOTA.
    let d: Value = app
        .api(Method::GET, &format!("/devices/{device_id}"), &token)
        .send_json()
        .await;
    assert_eq!(d["device"]["firmware_version"], "KX1.1");
    let sessions = fota_sessions(&app, device_id).await;
    assert_eq!(sessions[0].protocol, "iota");
    assert_eq!(sessions[0].state, "succeeded");
    // The wire trace holds the MMC documents: the 1.1 GET with the firmware,
    // the Protocol Capability query, and the package.
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let texts: Vec<String> = files
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
        .collect();
    assert!(texts.iter().any(|t| t.contains("firmware=\"KX1.0\"")));
    assert!(texts.iter().any(|t| t.contains("<package href=")));
    assert!(texts.iter().any(|t| t.contains("update installed")));

    // Nothing newer than KX1.1: a clear "no update" over IOTA.
    let mut again = fota_handset();
    let mut identity = again.identity().clone();
    identity.firmware = Some("KX1.1".into());
    again = IotaHandset::new(identity, IotaFault::None);
    let outcome = run_fota(
        &mut again,
        &app.url("/fota/check"),
        Some(("x-device-id", ESN)),
        None,
        &Trace::new(None).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(outcome, FotaOutcome::NoUpdate);
    let _ = FotaFault::Cancel;
}

#[tokio::test]
async fn iota_fota_faults_end_the_session_and_leave_the_firmware() {
    use mdm::sim::iota_client::{run_fota, FotaFault};
    use mdm::sim::omadm_handset::FotaOutcome;
    let app = spawn_app().await;
    let (device_id, token) = fota_line(&app, true).await;
    for (fault, state) in [
        (FotaFault::Corrupt, "failed"),
        (FotaFault::Cancel, "cancelled"),
    ] {
        let mut h = fota_handset();
        let outcome = run_fota(
            &mut h,
            &app.url("/fota/check"),
            Some(("x-device-id", ESN)),
            Some(fault),
            &Trace::new(None).unwrap(),
        )
        .await
        .unwrap();
        assert!(
            matches!(outcome, FotaOutcome::Failed(_) | FotaOutcome::Cancelled),
            "{outcome:?}"
        );
        let sessions = fota_sessions(&app, device_id).await;
        assert_eq!(sessions[0].state, state, "{sessions:?}");
    }
    let d: Value = app
        .api(Method::GET, &format!("/devices/{device_id}"), &token)
        .send_json()
        .await;
    assert_eq!(d["device"]["firmware_version"], "KX1.0");
    // The CLI runs the same branch: `mdm sim fota --protocol iota`.
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &[
            "sim",
            "fota",
            "--protocol",
            "iota",
            "--server",
            &app.base,
            "--device",
            ESN,
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("updated from KX1.0 to KX1.1"), "{out}");
}

#[tokio::test]
async fn a_firmware_update_that_adds_a_capability_provisions_the_feature() {
    use mdm::billing::sim::{BillingSim, SimMode};
    use mdm::billing::BillingConfig;
    use mdm::sim::iota_client::run_fota;
    use mdm::sim::omadm_handset::FotaOutcome;
    let billing = BillingSim::start("127.0.0.1:0".parse().unwrap(), SimMode::Succeed)
        .await
        .unwrap();
    let url = billing.url();
    let app = spawn_app_with(move |c| c.billing = Some(BillingConfig::new(url))).await;
    let (_, token) = app.token(Role::Admin).await;
    // KX1.0 has no picture messaging; KX1.1 brings it.
    for (min, max, features) in [
        (None, Some("KX1.0"), ""),
        (Some("KX1.1"), None, "picture_messaging,brew"),
    ] {
        let r = app
            .api(Method::POST, "/capabilities", &token)
            .json(
                &json!({"make": "Kyocera", "model": "KX-IOTA", "protocol": "iota", "fota": true,
                          "version_min": min, "version_max": max, "features": features}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    }
    let pid = app.add_subscriber(&token, &profile_json(MDN)).await;
    app.api(Method::POST, "/devices", &token)
        .json(&json!({"esn": ESN, "make": "Kyocera", "model": "KX-IOTA", "firmware_version": "KX1.0", "profile_mdn": MDN}))
        .send()
        .await
        .unwrap();
    app.release_package(&token, "Kyocera", "KX-IOTA", "KX1.0", "KX1.1", 4096)
        .await;

    let mut h = fota_handset();
    let outcome = run_fota(
        &mut h,
        &app.url("/fota/check"),
        Some(("x-device-id", ESN)),
        None,
        &Trace::new(None).unwrap(),
    )
    .await
    .unwrap();
    assert!(
        matches!(outcome, FotaOutcome::Updated { .. }),
        "{outcome:?}"
    );
    // The new capability is billed and lands on the line.
    let mut features = String::new();
    for _ in 0..100 {
        features = app
            .with_conn(move |c| {
                profiles::table
                    .find(pid)
                    .select(profiles::features)
                    .first::<String>(c)
                    .unwrap()
            })
            .await;
        if features.contains("picture_messaging") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(features, "mobile_web,picture_messaging,text_messaging");
    assert_eq!(
        billing.provisioned(),
        vec![(MDN.to_string(), "MMS".to_string())]
    );
    let channels = app
        .with_conn(|c| {
            use mdm::db::schema::provisioning_records;
            provisioning_records::table
                .select((
                    provisioning_records::feature,
                    provisioning_records::channel,
                    provisioning_records::outcome,
                ))
                .load::<(String, String, String)>(c)
                .unwrap()
        })
        .await;
    assert_eq!(
        channels,
        vec![(
            "picture_messaging".to_string(),
            "firmware-update".to_string(),
            "provisioned".to_string()
        )]
    );
    assert!(app
        .profile_timeline(pid)
        .await
        .iter()
        .any(|s| s == "features added by a firmware update"));
}

async fn upload_prl(app: &TestApp, bytes: Vec<u8>, table: &str) -> reqwest::Response {
    let csrf = app.csrf("/ops/prls").await;
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("sspr_table", table.to_string())
        .text("name", "Northeast 2026")
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("ne.prl"),
        );
    app.client
        .post(app.url("/ops/prls"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn operators_upload_validate_and_view_prls_as_sspr_tables() {
    let app = spawn_app().await;
    app.login_admin().await;
    let r = upload_prl(&app, prl(10060, 3), "9").await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers().get("location").unwrap().to_str().unwrap(),
        "/ops/prls/9"
    );
    let (status, html) = app.page("/ops/prls/9").await;
    assert_eq!(status, 200);
    assert!(html.contains("PRL 10060"), "{html}");
    assert!(html.contains("checked (CRC"), "flash");
    assert!(
        html.contains("id=\"acq-table\"") && html.contains("Cellular CDMA (standard channels)")
    );
    assert!(html.contains("system A or B, primary or secondary channel"));
    assert!(
        html.contains("<td class=\"num\">4147</td>"),
        "third system record"
    );
    let (_, list) = app.page("/ops/prls").await;
    assert!(list.contains("Northeast 2026"));

    // A damaged PRL is refused with its CRC, and nothing is filed.
    let mut bad = prl(10061, 3);
    let n = bad.len();
    bad[n - 2] ^= 0x01;
    let r = upload_prl(&app, bad, "10").await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.page("/ops/prls").await;
    assert!(
        html.contains("PRL refused") && html.contains("CRC"),
        "{html}"
    );
    assert_eq!(app.page("/ops/prls/10").await.0, 404);
    // The same table twice is refused too.
    let r = upload_prl(&app, prl(10062, 2), "9").await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.page("/ops/prls").await;
    assert!(html.contains("already holds a PRL"), "{html}");
    // Care agents may look but not file.
    app.add_user("cara", "care-password-123", Role::Care).await;
    let care = crate::common::client();
    crate::common::staff_sign_in(&app, &care, "cara", "care-password-123").await;
    let r = care.get(app.url("/ops/prls")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // The IOTA sessions screen lists and filters.
    let (status, html) = app.page("/ops/iota?flow=one_button").await;
    assert_eq!(status, 200);
    assert!(html.contains("No IOTA sessions."));
}

#[tokio::test]
async fn the_sweeper_closes_dropped_sessions_and_stale_call_backs() {
    let app = spawn_app_with(|c| c.sweep_interval_secs = 1).await;
    app.file_prl(prl(10070, 4), 1).await;
    line(&app, MDN, ESN, Some(1)).await;
    app.kyocera_iota_series().await;
    // A care agent's star-code push is never followed...
    let (_, token) = app.token(Role::Admin).await;
    let r = app
        .api(Method::POST, "/iota/activations", &token)
        .json(&json!({"device": ESN}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let pushed: Value = r.json().await.unwrap();
    let callback = format!("/iota/callback/{}", pushed["token"].as_str().unwrap());
    // ...and the handset's own one-button attempt drops its data call mid-flow.
    let mut h = handset(ESN, IotaFault::DropCall { after_requests: 1 });
    assert_eq!(activate(&app, &mut h, true).await, IotaOutcome::Dropped);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        session_states(&app).await,
        vec![
            ("star_code".into(), "awaiting_handset".into()),
            ("one_button".into(), "running".into())
        ],
        "fresh sessions are left alone"
    );
    app.with_conn(|c| {
        diesel::update(iota_sessions::table)
            .set((
                iota_sessions::updated_at.eq(mdm::db::now_ms() - 2 * 3_600_000),
                iota_sessions::created_at.eq(mdm::db::now_ms() - 48 * 3_600_000),
            ))
            .execute(c)
            .unwrap();
    })
    .await;
    for _ in 0..60 {
        if session_states(&app)
            .await
            .iter()
            .all(|(_, s)| s == "abandoned")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(session_states(&app)
        .await
        .iter()
        .all(|(_, s)| s == "abandoned"));
    // The stale call-back no longer opens a session.
    let mut late = handset(ESN, IotaFault::None);
    let outcome = iota_client::run(
        &mut late,
        &app.url(&callback),
        true,
        &Trace::new(None).unwrap(),
    )
    .await
    .unwrap();
    assert!(
        matches!(outcome, IotaOutcome::Refused { code: 410, .. }),
        "{outcome:?}"
    );
}
