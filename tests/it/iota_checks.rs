//! The OSPP driver's checks on a session under way and on the data it
//! programs: de-activations, the handset's identity, the PRL a session
//! started with, concurrent sessions, OTAPA's pending PRL and its pushes,
//! the NAM data a profile may hold, and pseudo-ESNs.

use diesel::prelude::*;
use mdm::auth::Role;
use mdm::db::schema::{devices, esn_changes, iota_sessions, profiles};
use mdm::iota::is683::ReverseMessage;
use mdm::iota::mmc::{self, MmcDocument};
use mdm::registry::identifiers::Meid;
use mdm::sim::iota_client::{self, IotaOutcome};
use mdm::sim::iota_handset::{HandsetIdentity, IotaFault, IotaHandset, Step};
use mdm::sim::trace::Trace;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{profile_json, spawn_app, SendJson, TestApp};
use crate::iota::prl;

const MDN: &str = "6135550140";
const ESN: &str = "9F1ABC40";

/// A subscriber with one handset (ESN, or MEID when `meid` is given),
/// pending activation, on SSPR table `table`; IOTA support comes from the
/// Kyocera ESN series or, for a MEID handset, its model's capability entry.
async fn line(app: &TestApp, token: &str, mdn: &str, handset: Value, table: i32) -> (i64, i64) {
    let mut p = profile_json(mdn);
    p["sspr_table"] = json!(table);
    p["prl_id"] = Value::Null;
    app.kyocera_line(token, &p, handset).await
}

/// A fresh app and an admin's API token.
async fn admin_app() -> (TestApp, String) {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    (app, token)
}

fn handset(esn: &str, meid: Option<&str>, fault: IotaFault) -> IotaHandset {
    IotaHandset::new(
        HandsetIdentity::new(esn, meid, "Kyocera", "KX-IOTA", 0x0102, 0x2A),
        fault,
    )
}

async fn run(h: &mut IotaHandset, url: &str) -> IotaOutcome {
    iota_client::run(h, url, true, &Trace::new(None).unwrap())
        .await
        .unwrap()
}

/// Runs a whole session that must complete.
async fn run_completed(h: &mut IotaHandset, url: &str) {
    let outcome = run(h, url).await;
    assert!(
        matches!(outcome, IotaOutcome::Completed { .. }),
        "{outcome:?}"
    );
}

/// Runs a whole session that must be refused; returns the refusal's code
/// and text.
async fn run_refused(h: &mut IotaHandset, url: &str) -> (u16, String) {
    match run(h, url).await {
        IotaOutcome::Refused { code, text } => (code, text),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The ESN line of [`MDN`] on SSPR table 1, which holds PRL `prl_id`;
/// returns the profile's and the handset's ids and the activation URL.
async fn esn_line(app: &TestApp, token: &str, prl_id: u16) -> (i64, i64, String) {
    app.file_prl(prl(prl_id, 4), 1).await;
    let (pid, did) = line(app, token, MDN, json!({"esn": ESN}), 1).await;
    (pid, did, app.url("/iota/activate"))
}

/// Sends `body` to the API; returns the answer's status and its JSON body
/// (null when it has none).
async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let r = app
        .api(method, path, token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, url: &str, doc: &MmcDocument) -> MmcDocument {
    let r = app
        .client
        .get(url)
        .query(&[("mmc", doc.to_query_value().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    MmcDocument::decode(&r.bytes().await.unwrap()).unwrap()
}

async fn post(app: &TestApp, url: &str, doc: &MmcDocument) -> MmcDocument {
    let r = app
        .client
        .post(url)
        .header("Content-Type", mmc::CONTENT_TYPE)
        .body(doc.encode().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    MmcDocument::decode(&r.bytes().await.unwrap()).unwrap()
}

fn answers(doc: &MmcDocument, what: fn(&ReverseMessage) -> bool) -> bool {
    doc.messages
        .iter()
        .any(|m| ReverseMessage::decode(&m.bytes).is_ok_and(|r| what(&r)))
}

fn is_commit(r: &ReverseMessage) -> bool {
    matches!(r, ReverseMessage::CommitResponse { .. })
}

fn is_segment(r: &ReverseMessage) -> bool {
    matches!(r, ReverseMessage::SsprDownloadResponse { .. })
}

/// Starts a session at `url` and lets the handset answer until the answer
/// it is about to POST is one `hold` picks: that one is returned unsent.
async fn run_until(
    app: &TestApp,
    h: &mut IotaHandset,
    url: &str,
    hold: fn(&ReverseMessage) -> bool,
) -> MmcDocument {
    let mut doc = get(app, url, &h.start_document()).await;
    for _ in 0..50 {
        match h.handle(&doc) {
            Step::Post(next) if answers(&next, hold) => return *next,
            Step::Post(next) => doc = post(app, url, &next).await,
            other => panic!("the session ended early: {other:?}"),
        }
    }
    panic!("the handset never got that far");
}

/// A fresh handset of [`ESN`] that starts a session at `url` and holds
/// its commit's answer, returned unsent.
async fn held_at_commit(app: &TestApp, url: &str) -> (IotaHandset, MmcDocument) {
    let mut h = handset(ESN, None, IotaFault::None);
    let commit = run_until(app, &mut h, url, is_commit).await;
    (h, commit)
}

/// POSTs `doc` and lets the handset go on to the end of the session.
async fn finish(app: &TestApp, h: &mut IotaHandset, url: &str, doc: MmcDocument) -> Step {
    let mut answer = post(app, url, &doc).await;
    for _ in 0..50 {
        match h.handle(&answer) {
            Step::Post(next) => answer = post(app, url, &next).await,
            other => return other,
        }
    }
    panic!("the session did not end");
}

/// The API's error for the request field `field`.
fn field_error<'a>(body: &'a Value, field: &str) -> &'a str {
    body["error"]["fields"][field].as_str().unwrap()
}

/// How many times `action` stands on the profile's timeline.
async fn on_timeline(app: &TestApp, pid: i64, action: &str) -> usize {
    app.profile_timeline(pid)
        .await
        .iter()
        .filter(|s| *s == action)
        .count()
}

async fn set_line_state(app: &TestApp, token: &str, pid: i64, state: &str) {
    let r = app
        .api(Method::POST, &format!("/profiles/{pid}/activation"), token)
        .json(&json!({"state": state}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

#[derive(Debug, PartialEq)]
struct Line {
    state: String,
    device_state: String,
    activated_esn: Option<String>,
    new_esn: Option<String>,
    prl_id: Option<i32>,
    pending_prl_id: Option<i32>,
}

async fn line_of(app: &TestApp, pid: i64, did: i64) -> Line {
    app.with_conn(move |c| {
        let (state, activated_esn, new_esn, prl_id, pending_prl_id) = profiles::table
            .find(pid)
            .select((
                profiles::activation_state,
                profiles::activated_esn,
                profiles::new_esn,
                profiles::prl_id,
                profiles::pending_prl_id,
            ))
            .first(c)
            .unwrap();
        Line {
            state,
            device_state: devices::table
                .find(did)
                .select(devices::activation_state)
                .first(c)
                .unwrap(),
            activated_esn,
            new_esn,
            prl_id,
            pending_prl_id,
        }
    })
    .await
}

async fn sessions(app: &TestApp) -> Vec<(String, String, String)> {
    app.with_conn(|c| {
        iota_sessions::table
            .order(iota_sessions::id.asc())
            .select((
                iota_sessions::flow,
                iota_sessions::state,
                iota_sessions::detail,
            ))
            .load(c)
            .unwrap()
    })
    .await
}

fn refused(step: &Step) -> (u16, String) {
    match step {
        Step::Refused { code, text } => (*code, text.clone()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_deactivation_ends_an_activation_under_way_and_changes_nothing() {
    let (app, token) = admin_app().await;
    let (pid, did, url) = esn_line(&app, &token, 10060).await;

    let (mut h, commit) = held_at_commit(&app, &url).await;
    set_line_state(&app, &token, pid, "deactivated").await;
    let before = line_of(&app, pid, did).await;
    assert_eq!(
        (before.state.as_str(), before.device_state.as_str()),
        ("deactivated", "deactivated")
    );

    let (code, text) = refused(&finish(&app, &mut h, &url, commit).await);
    assert_eq!(code, 403);
    assert!(text.contains("de-activated"), "{text}");
    assert!(!h.rebooted(), "no reboot is asked for");
    assert_eq!(line_of(&app, pid, did).await, before);
    let steps = app.profile_timeline(pid).await;
    assert!(
        !steps.iter().any(|s| s == "activated over IOTA"),
        "{steps:?}"
    );
    assert!(
        steps.iter().any(|s| s == "IOTA session refused"),
        "{steps:?}"
    );
    assert_eq!(sessions(&app).await[0].1, "refused");

    // A fresh start on the de-activated line is refused at the GET.
    let mut again = handset(ESN, None, IotaFault::None);
    assert_eq!(run_refused(&mut again, &url).await.0, 403);
    assert_eq!(line_of(&app, pid, did).await, before);
}

/// An active line with an OTAPA download of PRL 10071 (table 2) pushed;
/// returns the call-back URL and the handset, which holds PRL 10070.
async fn otapa_pushed(app: &TestApp, token: &str) -> (i64, i64, String, IotaHandset) {
    app.file_prl(prl(10070, 3), 1).await;
    app.file_prl(prl(10071, 120), 2).await;
    let (pid, did) = line(app, token, MDN, json!({"esn": ESN}), 1).await;
    app.kyocera_iota_series().await;
    let mut h = handset(ESN, None, IotaFault::None);
    run_completed(&mut h, &app.url("/iota/activate")).await;
    let s = start_otapa(app, token, 10071).await;
    let url = app.url(&format!("/iota/callback/{}", s["token"].as_str().unwrap()));
    assert_eq!(line_of(app, pid, did).await.pending_prl_id, Some(10071));
    (pid, did, url, h)
}

/// Asks for an OTAPA download of `prl_id` to [`MDN`]; returns the
/// API's answer.
async fn ask_otapa(app: &TestApp, token: &str, prl_id: i32) -> (u16, Value) {
    let download = json!({"device": MDN, "prl_id": prl_id});
    call(app, token, Method::POST, "/iota/prl-downloads", &download).await
}

async fn start_otapa(app: &TestApp, token: &str, prl_id: i32) -> Value {
    let (status, started) = ask_otapa(app, token, prl_id).await;
    assert_eq!(status, 202);
    started
}

#[tokio::test]
async fn a_deactivation_ends_a_prl_download_under_way() {
    let (app, token) = admin_app().await;
    let (pid, did, url, mut h) = otapa_pushed(&app, &token).await;

    let commit = run_until(&app, &mut h, &url, is_commit).await;
    set_line_state(&app, &token, pid, "deactivated").await;
    let (code, text) = refused(&finish(&app, &mut h, &url, commit).await);
    assert_eq!(code, 403);
    assert!(text.contains("de-activated"), "{text}");
    let after = line_of(&app, pid, did).await;
    assert_eq!(after.state, "deactivated");
    assert_eq!(after.prl_id, Some(10070), "no new PRL on the record");
    assert_eq!(after.pending_prl_id, None, "nothing is pending any more");
    assert!(!app
        .profile_timeline(pid)
        .await
        .iter()
        .any(|s| s == "PRL downloaded over IOTA"));
}

#[tokio::test]
async fn a_failed_or_abandoned_prl_download_clears_the_pending_prl() {
    let (app, token) = admin_app().await;
    let (pid, did, url, mut h) = otapa_pushed(&app, &token).await;

    // The handset rejects the PRL.
    h.set_fault(IotaFault::BadPrlCrc);
    assert_eq!(run_refused(&mut h, &url).await.0, 422);
    let after = line_of(&app, pid, did).await;
    assert_eq!((after.prl_id, after.pending_prl_id), (Some(10070), None));

    // A call-back never followed, closed by the sweeper.
    start_otapa(&app, &token, 10071).await;
    assert_eq!(line_of(&app, pid, did).await.pending_prl_id, Some(10071));
    let swept = app
        .with_conn(|c| {
            mdm::iota::session::expire_unanswered(c, mdm::db::now_ms() + 2 * 86_400_000).unwrap()
        })
        .await;
    assert_eq!(swept, 1);
    assert_eq!(line_of(&app, pid, did).await.pending_prl_id, None);

    // A download the handset left mid-flow, closed by the sweeper.
    let s = start_otapa(&app, &token, 10071).await;
    let url = app.url(&format!("/iota/callback/{}", s["token"].as_str().unwrap()));
    h.set_fault(IotaFault::None);
    run_until(&app, &mut h, &url, is_commit).await;
    let swept = app
        .with_conn(|c| mdm::iota::session::expire_idle(c, mdm::db::now_ms() + 3_600_000).unwrap())
        .await;
    assert_eq!(swept, 1);
    assert_eq!(line_of(&app, pid, did).await.pending_prl_id, None);
    assert_eq!(on_timeline(&app, pid, "pending PRL cleared").await, 3);
}

#[tokio::test]
async fn a_repeated_prl_download_request_pushes_once_and_a_replaced_link_says_superseded() {
    let (app, token) = admin_app().await;
    let (pid, did, url, mut h) = otapa_pushed(&app, &token).await;
    let pushed = app.count("outbox").await;

    // The same request again: refused, nothing pushed.
    let (status, body) = ask_otapa(&app, &token, 10071).await;
    assert_eq!(status, 409);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("already waiting for the handset")
            && message.contains("nothing was sent again"),
        "{body}"
    );
    assert_eq!(app.count("outbox").await, pushed);

    // Another PRL replaces the first request: its link says so.
    app.file_prl(prl(10072, 5), 3).await;
    start_otapa(&app, &token, 10072).await;
    assert_eq!(line_of(&app, pid, did).await.pending_prl_id, Some(10072));
    let (code, text) = run_refused(&mut h, &url).await;
    assert_eq!(code, 410);
    assert_eq!(text, "this call-back URL was superseded by a newer request");
}

#[tokio::test]
async fn a_meid_handset_is_never_matched_on_its_pesn() {
    let (app, token) = admin_app().await;
    app.file_prl(prl(10080, 4), 1).await;
    let registered = "A100123420004C";
    let stranger = "A1FFFFFFFFFFFF";
    // The handset reports the registered MEID's pESN as its ESN, as a
    // handset whose own pESN collides with it would.
    let pesn = Meid::parse(registered).unwrap().pseudo_esn();
    let (pid, did) = line(&app, &token, MDN, json!({"meid": registered}), 1).await;
    let before = line_of(&app, pid, did).await;

    let mut h = handset(&pesn.to_hex(), Some(stranger), IotaFault::None);
    let (code, text) = run_refused(&mut h, &app.url("/iota/activate")).await;
    assert_eq!(code, 404);
    assert!(text.contains(&format!("MEID {stranger}")), "{text}");
    assert_eq!(h.committed_nam().mdn, None, "no NAM for the stranger");
    assert_eq!(line_of(&app, pid, did).await, before);

    // The registered MEID is activated, and its pESN is the Activated ESN.
    let mut h = handset(&pesn.to_hex(), Some(registered), IotaFault::None);
    run_completed(&mut h, &app.url("/iota/activate")).await;
    assert_eq!(
        line_of(&app, pid, did).await.activated_esn,
        Some(pesn.to_hex())
    );
}

#[tokio::test]
async fn the_session_keeps_the_prl_it_started_with() {
    let (app, token) = admin_app().await;
    let first = prl(10090, 120);
    assert!(first.len() > 251, "two segments");
    app.file_prl(first.clone(), 1).await;
    app.file_prl(prl(10091, 130), 2).await;
    let (pid, did) = line(&app, &token, MDN, json!({"esn": ESN}), 1).await;
    let url = app.url("/iota/activate");

    let mut h = handset(ESN, None, IotaFault::None);
    let segment = run_until(&app, &mut h, &url, is_segment).await;
    // Care moves the line to another SSPR table meanwhile.
    let mut edit = profile_json(MDN);
    edit["sspr_table"] = json!(2);
    edit["prl_id"] = json!(10091);
    let r = app
        .api(Method::PUT, &format!("/profiles/{pid}"), &token)
        .json(&edit)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    let end = finish(&app, &mut h, &url, segment).await;
    assert!(
        matches!(end, Step::Finished { reboot: true, .. }),
        "{end:?}"
    );
    assert_eq!(h.committed_prl(), Some(first.as_slice()));
    let after = line_of(&app, pid, did).await;
    assert_eq!(
        (after.state.as_str(), after.prl_id),
        ("activated", Some(10090))
    );
}

#[tokio::test]
async fn a_second_activation_start_supersedes_the_first_and_only_one_commits() {
    let (app, token) = admin_app().await;
    let (pid, _, url) = esn_line(&app, &token, 10100).await;

    let (mut first, held) = held_at_commit(&app, &url).await;
    let mut second = handset(ESN, None, IotaFault::None);
    assert!(matches!(
        run(&mut second, &url).await,
        IotaOutcome::Completed { reboot: true, .. }
    ));
    let (code, text) = refused(&finish(&app, &mut first, &url, held).await);
    assert_eq!(code, 410);
    assert!(
        text.contains("superseded by a new one-button activation"),
        "{text}"
    );
    let states: Vec<String> = sessions(&app).await.into_iter().map(|s| s.1).collect();
    assert_eq!(states, vec!["abandoned", "completed"]);
    assert_eq!(on_timeline(&app, pid, "activated over IOTA").await, 1);
}

#[tokio::test]
async fn nam_data_is_checked_when_saved_and_before_it_is_programmed() {
    let (app, token) = admin_app().await;
    let mut bad = profile_json(MDN);
    bad["sid_nid_pairs"] = json!("");
    bad["imsi"] = json!("310009999999999");
    let (status, body) = call(&app, &token, Method::POST, "/profiles", &bad).await;
    assert_eq!(status, 422);
    let fields = &body["error"]["fields"];
    // A line without a home system yet may be pre-loaded: it is the
    // activation that refuses it, below.
    assert!(fields.get("sid_nid_pairs").is_none(), "{body}");
    assert_eq!(
        fields["imsi"],
        json!(format!("the IMSI's last ten digits (9999999999) must be the MIN {MDN}: the handset is programmed with the MIN")),
        "{body}"
    );
    assert_eq!(app.count("profiles").await, 0);

    // Data saved before these checks fails the activation with its reason.
    let (pid, did, url) = esn_line(&app, &token, 10110).await;
    for (column, value, says) in [
        ("sid_nid_pairs", "", "no SID/NID pair"),
        ("imsi", "310009999999999", "must be the MIN"),
    ] {
        app.with_conn(move |c| {
            let target = profiles::table.find(pid);
            match column {
                "imsi" => diesel::update(target)
                    .set((
                        profiles::imsi.eq(value),
                        profiles::sid_nid_pairs.eq("4145/65535"),
                    ))
                    .execute(c),
                _ => diesel::update(target)
                    .set(profiles::sid_nid_pairs.eq(value))
                    .execute(c),
            }
            .unwrap();
        })
        .await;
        let before = line_of(&app, pid, did).await;
        let mut h = handset(ESN, None, IotaFault::None);
        let (code, text) = run_refused(&mut h, &url).await;
        assert_eq!(code, 409);
        assert!(
            text.contains("cannot be programmed") && text.contains(says),
            "{text}"
        );
        assert_eq!(h.committed_nam().mdn, None);
        assert_eq!(line_of(&app, pid, did).await, before);
    }
    assert!(sessions(&app).await.iter().all(|s| s.1 == "refused"));
}

#[tokio::test]
async fn esn_changes_are_refused_on_a_deactivated_line() {
    let (app, token) = admin_app().await;
    let (pid, _, url) = esn_line(&app, &token, 10120).await;
    run_completed(&mut handset(ESN, None, IotaFault::None), &url).await;
    let change = |to: &'static str| {
        let (app, token) = (&app, &token);
        async move {
            let change = json!({"from": MDN, "to": to});
            call(app, token, Method::POST, "/esn-changes", &change).await
        }
    };

    // A change asked for while the line was active, then the line is
    // de-activated: the new handset cannot bring it back.
    let (status, waiting) = change("9F1ABC41").await;
    assert_eq!(status, 201, "{waiting}");
    set_line_state(&app, &token, pid, "deactivated").await;
    let (code, text) = run_refused(&mut handset("9F1ABC41", None, IotaFault::None), &url).await;
    assert_eq!(code, 403);
    assert_eq!(text, "the line has been de-activated");
    let state: String = app
        .with_conn(move |c| {
            profiles::table
                .find(pid)
                .select(profiles::activation_state)
                .first(c)
                .unwrap()
        })
        .await;
    assert_eq!(state, "deactivated");
    let r = app
        .api(
            Method::POST,
            &format!("/esn-changes/{}/cancel", waiting["id"]),
            &token,
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    // A new change on the de-activated line is refused, naming why.
    let (status, body) = change("9F1ABC42").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"]["message"],
        json!(format!(
            "line {MDN} is de-activated: re-activate it before changing its handset"
        ))
    );
    let pending: i64 = app
        .with_conn(|c| {
            esn_changes::table
                .filter(esn_changes::state.eq("pending"))
                .count()
                .get_result(c)
                .unwrap()
        })
        .await;
    assert_eq!(pending, 0);
    assert_eq!(app.count("devices").await, 2, "no handset was registered");
}

#[tokio::test]
async fn a_field_esn_change_to_a_meid_moves_new_esn_on_activation() {
    let (app, token) = admin_app().await;
    let (pid, did, url) = esn_line(&app, &token, 10130).await;
    run_completed(&mut handset(ESN, None, IotaFault::None), &url).await;
    let meid = "A1000012345678";
    let change = json!({"from": MDN, "to": meid, "variant": "field"});
    let (status, _) = call(&app, &token, Method::POST, "/esn-changes", &change).await;
    assert_eq!(status, 201);
    assert_eq!(line_of(&app, pid, did).await.new_esn.as_deref(), Some(meid));

    let pesn = Meid::parse(meid).unwrap().pseudo_esn().to_hex();
    run_completed(&mut handset(&pesn, Some(meid), IotaFault::None), &url).await;
    let after = line_of(&app, pid, did).await;
    assert_eq!(after.activated_esn, Some(pesn));
    assert_eq!(after.new_esn, None, "New ESN moved");
}

#[tokio::test]
async fn pseudo_esns_are_refused_where_a_real_esn_is_required() {
    let (app, token) = admin_app().await;
    let pid = app.add_subscriber(&token, &profile_json(MDN)).await;
    let pseudo = json!({"esn": "80ABCDEF", "make": "Kyocera", "model": "KX-IOTA", "firmware_version": "1.0"});
    let (status, body) = call(&app, &token, Method::POST, "/devices", &pseudo).await;
    assert_eq!(status, 422);
    assert!(
        field_error(&body, "esn").starts_with("80ABCDEF is a pseudo-ESN"),
        "{body}"
    );
    assert_eq!(app.count("devices").await, 0);
    // As a MEID's derived value it is still what the registry keeps.
    let d: Value = app
        .api(Method::POST, "/devices", &token)
        .json(&json!({"meid": "AF0123450ABCDE", "make": "Kyocera", "model": "KX-IOTA", "firmware_version": "1.0", "profile_mdn": MDN}))
        .send_json()
        .await;
    assert_eq!(d["pesn"], "8016B128");

    for (to, says) in [
        ("80ABCDEF", "80ABCDEF is a pseudo-ESN"),
        (
            "12345678901",
            "serial number must be 00000000-16777215 but is 45678901",
        ),
    ] {
        let change = json!({"from": MDN, "to": to});
        let (status, body) = call(&app, &token, Method::POST, "/esn-changes", &change).await;
        assert_eq!(status, 422);
        assert!(field_error(&body, "to").contains(says), "{body}");
    }
    // A profile's New ESN is an ESN change's target too.
    let mut edit = profile_json(MDN);
    edit["new_esn"] = json!("80ABCDEF");
    let profile = format!("/profiles/{pid}");
    let (status, _) = call(&app, &token, Method::PUT, &profile, &edit).await;
    assert_eq!(status, 422);
    assert_eq!(app.count("devices").await, 1);
}
