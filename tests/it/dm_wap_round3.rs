//! A refresh reads DevInfo/DevDetail in one Get of five Items and takes
//! every answer shape a client may give; the WAP decks answer what the
//! subscriber should read with 200 and write nothing; WAP and self-service
//! messages in plain words; the start finds DM secrets to seal through an
//! index that is empty when there are none.

use std::time::Duration;

use diesel::prelude::*;
use mdm::auth::Role;
use mdm::billing::sim::{BillingSim, SimMode};
use mdm::billing::BillingConfig;
use mdm::omadm::job::JobKind;
use mdm::omadm::syncml::{Alert, Command, Encoding, Item, ItemData, Message, Results, Status};
use mdm::sim::trace::Trace;
use serde_json::json;

use crate::common::{assert_well_formed, profile_json, spawn_app, spawn_app_with_billing, TestApp};
use crate::dm_lifecycle::{firmware_of, job, notified};
use crate::fota::{dm_message, md5_cred};

const REFRESH_NODES: [&str; 5] = [
    "./DevInfo/Man",
    "./DevInfo/Mod",
    "./DevInfo/DmV",
    "./DevInfo/Lang",
    "./DevDetail/FwV",
];

// ---------------------------------------------------------------- refresh

/// Posts a handset message in `enc` and returns the server's answer as sent.
pub(crate) async fn post_raw(app: &TestApp, url: &str, msg: &Message, enc: Encoding) -> Vec<u8> {
    let r = app
        .client
        .post(url)
        .header("content-type", enc.content_type())
        .body(msg.encode(enc).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.bytes().await.unwrap().to_vec()
}

/// libwbxml's reading of `bytes`: an independent decoder.
pub(crate) fn wbxml2xml(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.wbxml"), dir.path().join("out.xml"));
    std::fs::write(&input, bytes).unwrap();
    let run = std::process::Command::new("/usr/bin/wbxml2xml")
        .arg("-o")
        .arg(&output)
        .arg(&input)
        .output()
        .expect("wbxml2xml (Debian package libwbxml2-utils)");
    let log = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success() && !log.contains("failed"), "{log}");
    let xml = std::fs::read_to_string(&output).unwrap();
    assert!(!xml.to_ascii_lowercase().contains("unknown"), "{xml}");
    xml
}

/// The server message as XML with what differs between runs (the session
/// id, nonces, digests, the port, the RespURI token) masked.
fn mask(xml: &str) -> String {
    let mut out = xml.to_string();
    for tag in ["SessionID", "NextNonce", "RespURI"] {
        out = mask_values(&out, tag, |_| true);
    }
    // The Cred's digest; status codes stay.
    out = mask_values(&out, "Data", |v| v.parse::<u32>().is_err());
    let port = out
        .find("http://127.0.0.1:")
        .map(|i| &out[i + 17..])
        .and_then(|rest| rest.split('/').next())
        .map(str::to_string);
    if let Some(port) = port {
        out = out.replace(&format!("http://127.0.0.1:{port}"), "http://SERVER");
    }
    out.replace("><", ">\n<")
}

fn mask_values(xml: &str, tag: &str, volatile: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    let mut rest = xml;
    let open = format!("<{tag}");
    while let Some(at) = rest.find(&open) {
        let Some(gt) = rest[at..].find('>') else {
            break;
        };
        let start = at + gt + 1;
        let end = start + rest[start..].find('<').unwrap_or(0);
        out.push_str(&rest[..start]);
        let value = &rest[start..end];
        out.push_str(if volatile(value) { "…" } else { value });
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Posts a handset message in `enc` and decodes the server's answer.
pub(crate) async fn post(app: &TestApp, url: &str, msg: &Message, enc: Encoding) -> Message {
    Message::decode(&post_raw(app, url, msg, enc).await, enc).unwrap()
}

/// Sends the handset's first message, in `enc`, of the DM session
/// `session` a notification opened; returns the server's answer as sent.
pub(crate) async fn open_session(app: &TestApp, session: &str, enc: Encoding) -> Vec<u8> {
    let cred = md5_cred(app).await;
    let first = dm_message(session, 1, 65_535, Some(cred), vec![alert_1200()]);
    post_raw(app, &app.url("/omadm"), &first, enc).await
}

/// [`open_session`], and the server's one Get in its answer: returns the
/// Get's CmdID, its Items' targets and the URL to answer at.
pub(crate) async fn session_asked(
    app: &TestApp,
    session: &str,
    enc: Encoding,
) -> (u32, Vec<String>, String) {
    let reply = Message::decode(&open_session(app, session, enc).await, enc).unwrap();
    let (get_id, targets) = the_get(&reply);
    (get_id, targets, reply.hdr.resp_uri.clone().unwrap())
}

/// Notifies a refresh of the device and opens its session with the
/// handset's first message; returns the job's id, the session and the
/// server's answer as sent.
async fn open_refresh(app: &TestApp, device_id: i64) -> (i64, String, Vec<u8>) {
    let (id, session) = notified(app, device_id, JobKind::Refresh).await;
    let bytes = open_session(app, &session, Encoding::Wbxml).await;
    (id, session, bytes)
}

/// A notified refresh and the server's one Get in its session: returns the
/// job's id, the session, the Get's CmdID and the URL to answer at.
async fn refresh_asked(app: &TestApp, device_id: i64) -> (i64, String, u32, String) {
    let (id, session) = notified(app, device_id, JobKind::Refresh).await;
    let (get_id, _, url) = session_asked(app, &session, Encoding::Wbxml).await;
    (id, session, get_id, url)
}

/// The refresh push the SMSC accepted, and the device's simulated handset
/// to answer it.
pub(crate) async fn pushed_refresh(
    app: &TestApp,
    smsc: &mdm::messaging::smpp::test_smsc::TestSmsc,
    device_id: i64,
) -> (Vec<u8>, mdm::sim::omadm_handset::Handset) {
    assert!(smsc.wait_for_accepted(1, Duration::from_secs(10)).await);
    let body = crate::messaging::pushes(&smsc.accepted())
        .remove(0)
        .push
        .body;
    let h = crate::messaging::handset(app, device_id, "VX9600V05").await;
    (body, h)
}

/// The files of a handset's trace folder, in the order they were written.
pub(crate) fn trace_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn alert_1200() -> Command {
    Command::Alert(Alert {
        cmd_id: 1,
        data: 1200,
        correlator: None,
        items: vec![],
    })
}

/// The one Get the server sent: its CmdID and its Items' targets.
pub(crate) fn the_get(reply: &Message) -> (u32, Vec<String>) {
    let gets: Vec<_> = reply
        .body
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Get(g) => Some(g),
            _ => None,
        })
        .collect();
    assert_eq!(gets.len(), 1, "one Get: {reply:?}");
    let targets = gets[0]
        .items
        .iter()
        .map(|i| i.target.clone().unwrap_or_default())
        .collect();
    (gets[0].cmd_id, targets)
}

/// The handset's Status for Get `cmd_ref` of the server's first message,
/// naming by TargetRef each Item of `refs` it applies to.
pub(crate) fn get_status(cmd_id: u32, cmd_ref: u32, refs: &[&str], code: u16) -> Command {
    Command::Status(Status {
        cmd_id,
        msg_ref: 1,
        cmd_ref,
        cmd: "Get".into(),
        target_refs: refs.iter().map(|r| r.to_string()).collect(),
        source_refs: vec![],
        chal: None,
        data: code,
        items: vec![],
    })
}

fn value_of(node: &str) -> String {
    match node {
        "./DevInfo/Man" => "LG".into(),
        "./DevInfo/Mod" => "VX9600".into(),
        "./DevDetail/FwV" => "VX9600V05".into(),
        other => format!("value of {other}"),
    }
}

/// The handset's Results for Get `cmd_ref` of the server's first message:
/// each of `nodes` read, with its value.
pub(crate) fn results(cmd_id: u32, cmd_ref: u32, nodes: &[&str]) -> Command {
    Command::Results(Results {
        cmd_id,
        msg_ref: 1,
        cmd_ref,
        items: nodes
            .iter()
            .map(|n| Item {
                source: Some(n.to_string()),
                data: Some(ItemData::Text(value_of(n))),
                ..Item::default()
            })
            .collect(),
    })
}

/// The ways a client answers a Get of five Items when it has all but
/// ./DevInfo/Lang (`missing`), or all five.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// A Status per Item naming it by TargetRef, a Results per Item.
    StatusAndResultsPerItem,
    /// A Status per Item, one Results holding every Item read.
    StatusPerItemOneResults,
    /// One Status for the command (the first failure's code, as some
    /// clients give it) and one Results with the Items read.
    OneStatusOneResults,
}

fn answer(shape: Shape, get_id: u32, missing: bool) -> Vec<Command> {
    let read: Vec<&str> = REFRESH_NODES
        .iter()
        .copied()
        .filter(|n| !(missing && *n == "./DevInfo/Lang"))
        .collect();
    let code = |n: &str| if read.contains(&n) { 200 } else { 404 };
    let mut out = Vec::new();
    let mut id = 0;
    let mut next = || {
        id += 1;
        id
    };
    match shape {
        Shape::StatusAndResultsPerItem | Shape::StatusPerItemOneResults => {
            for n in REFRESH_NODES {
                out.push(get_status(next(), get_id, &[n], code(n)));
            }
        }
        Shape::OneStatusOneResults => {
            let first = if missing { 404 } else { 200 };
            out.push(get_status(next(), get_id, &[], first));
        }
    }
    match shape {
        Shape::StatusAndResultsPerItem => {
            for n in &read {
                out.push(results(next(), get_id, &[n]));
            }
        }
        _ => out.push(results(next(), get_id, &read)),
    }
    out
}

#[tokio::test]
async fn a_refresh_sends_one_get_of_five_items_matching_its_snapshot() {
    let app = spawn_app().await;
    let (device_id, _) = crate::messaging::line(&app).await;
    let (_, _, bytes) = open_refresh(&app, device_id).await;

    // An independent decoder reads one Get carrying the five nodes.
    let xml = wbxml2xml(&bytes);
    assert_eq!(xml.matches("<Get>").count(), 1, "{xml}");
    let get = &xml[xml.find("<Get>").unwrap()..xml.find("</Get>").unwrap()];
    assert_eq!(get.matches("<Item>").count(), 5, "{get}");
    for node in REFRESH_NODES {
        assert!(get.contains(&format!("<LocURI>{node}</LocURI>")), "{get}");
    }

    let reply = Message::decode(&bytes, Encoding::Wbxml).unwrap();
    let (_, targets) = the_get(&reply);
    assert_eq!(targets, REFRESH_NODES);
    let got = mask(&reply.to_xml());
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/snapshots/dm-refresh-server-message-1.xml");
    if std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(&file, &got).unwrap();
    }
    let want = std::fs::read_to_string(&file).expect("the snapshot; UPDATE_SNAPSHOTS=1 writes it");
    assert_eq!(
        got, want,
        "the refresh's server message differs from {file:?}"
    );
}

#[tokio::test]
async fn a_refresh_takes_every_answer_shape_and_a_missing_node_loses_nothing_else() {
    let app = spawn_app().await;
    let (device_id, _) = crate::messaging::line(&app).await;
    let shapes = [
        (Shape::StatusAndResultsPerItem, true),
        (Shape::StatusPerItemOneResults, true),
        (Shape::OneStatusOneResults, true),
        (Shape::StatusPerItemOneResults, false),
        (Shape::OneStatusOneResults, false),
    ];
    for (shape, missing) in shapes {
        let (id, session, get_id, url) = refresh_asked(&app, device_id).await;
        let answered = dm_message(&session, 2, 65_535, None, answer(shape, get_id, missing));
        let last = post(&app, &url, &answered, Encoding::Wbxml).await;
        assert!(
            last.body
                .commands
                .iter()
                .all(|c| matches!(c, Command::Status(_))),
            "{shape:?}: nothing more to ask: {last:?}"
        );

        let j = job(&app, id).await;
        let what = format!("{shape:?} missing={missing}: {} {}", j.state, j.detail);
        assert_eq!(j.state, "done", "{what}");
        let results = j.results();
        assert_eq!(
            results.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
            REFRESH_NODES,
            "{what}"
        );
        for r in &results {
            if missing && r.path == "./DevInfo/Lang" {
                assert_eq!((r.status, r.value.as_deref()), (Some(404), None), "{what}");
            } else {
                assert_eq!(r.status, Some(200), "{what}: {r:?}");
                assert_eq!(
                    r.value.as_deref(),
                    Some(value_of(&r.path).as_str()),
                    "{what}"
                );
            }
        }
        let detail = if missing {
            "5 commands: 4 succeeded; not on the handset (404): ./DevInfo/Lang"
        } else {
            "5 commands: 5 succeeded"
        };
        assert_eq!(j.detail, detail, "{what}");
        // What was read reached the registry.
        assert_eq!(firmware_of(&app, device_id).await, "VX9600V05");
    }
}

#[tokio::test]
async fn a_refresh_whose_node_the_handset_refuses_otherwise_fails_and_says_which() {
    let app = spawn_app().await;
    let (device_id, _) = crate::messaging::line(&app).await;
    let (id, session, get_id, url) = refresh_asked(&app, device_id).await;
    // Two Items' Statuses in this message, the other three in the next:
    // the job waits for all of them.
    let mut first = vec![
        get_status(1, get_id, &["./DevInfo/Man"], 200),
        get_status(2, get_id, &["DevInfo/DmV"], 425),
    ];
    first.push(results(3, get_id, &["./DevInfo/Man"]));
    let mut msg = dm_message(&session, 2, 65_535, None, first);
    msg.body.final_ = false;
    post_raw(&app, &url, &msg, Encoding::Wbxml).await;
    assert_eq!(job(&app, id).await.state, "running");
    let rest = vec![
        get_status(1, get_id, &["./DevInfo/Mod"], 200),
        get_status(2, get_id, &["./DevInfo/Lang"], 200),
        get_status(3, get_id, &["./DevDetail/FwV"], 200),
        results(
            4,
            get_id,
            &["./DevInfo/Mod", "./DevInfo/Lang", "./DevDetail/FwV"],
        ),
    ];
    let last = dm_message(&session, 3, 65_535, None, rest);
    post_raw(&app, &url, &last, Encoding::Wbxml).await;
    let j = job(&app, id).await;
    assert_eq!(j.state, "failed", "{}", j.detail);
    assert_eq!(
        j.detail,
        "5 commands: 4 succeeded, 1 failed (get ./DevInfo/DmV: 425 permission denied)"
    );
    assert_eq!(firmware_of(&app, device_id).await, "VX9600V05");
}

#[tokio::test]
async fn the_simulated_handset_answers_the_refresh_as_a_client_does() {
    let smsc = crate::messaging::start_smsc().await;
    let app = crate::messaging::app_with_smsc(&smsc, 8).await;
    let (device_id, _) = crate::messaging::line(&app).await;
    let (id, _) = notified(&app, device_id, JobKind::Refresh).await;
    let (body, mut h) = pushed_refresh(&app, &smsc, device_id).await;
    let dir = tempfile::tempdir().unwrap();
    h.run_notified(&body, &Trace::new(Some(dir.path().to_path_buf())).unwrap())
        .await
        .unwrap();
    let j = job(&app, id).await;
    assert_eq!(
        (j.state.as_str(), j.detail.as_str()),
        ("done", "5 commands: 5 succeeded")
    );
    assert!(j.results().iter().all(|r| r.value.is_some()));

    // On the wire: the server's one Get, the handset's one Status for it
    // (every Item found) and one Results with the five.
    let mut seen_get = false;
    for f in trace_files(dir.path()) {
        let Ok(m) = Message::decode(&std::fs::read(&f).unwrap(), Encoding::Wbxml) else {
            continue;
        };
        for c in &m.body.commands {
            match c {
                Command::Get(g) => {
                    assert_eq!(g.items.len(), 5, "{f:?}");
                    seen_get = true;
                }
                Command::Results(r) => assert_eq!(r.items.len(), 5, "{f:?}"),
                Command::Status(s) if s.cmd == "Get" => {
                    assert!(s.target_refs.is_empty() && s.data == 200, "{s:?}")
                }
                _ => {}
            }
        }
    }
    assert!(seen_get, "the trace holds the server's Get");
}

// ---------------------------------------------------------------- WAP

const MDN: &str = "3125550177";
const MEID: &str = "A1000012345672";
const OTHER_MDN: &str = "3125550178";
const OTHER_MEID: &str = "A1000012345673";
const LINELESS_MEID: &str = "A1000012345674";
/// The Self Service PIN of [`MDN`]'s line, where it has one.
const PIN: &str = "4321";
const WML: &str = "text/vnd.wap.wml";
const XHTML: &str = "application/vnd.wap.xhtml+xml";

async fn wap_app(trusted: bool) -> (TestApp, BillingSim) {
    let billing = BillingSim::start("127.0.0.1:0".parse().unwrap(), SimMode::Succeed)
        .await
        .unwrap();
    let app = spawn_app_with_billing(BillingConfig::new(billing.url()), trusted).await;
    let (_, token) = app.token(Role::Admin).await;
    for (mdn, meid) in [
        (Some(MDN), MEID),
        (Some(OTHER_MDN), OTHER_MEID),
        (None, LINELESS_MEID),
    ] {
        let mut device =
            json!({"meid": meid, "make": "LG", "model": "VX9600", "firmware_version": "V1"});
        if let Some(mdn) = mdn {
            app.api_create("/profiles", &token, &profile_json(mdn))
                .await;
            device["profile_mdn"] = json!(mdn);
        }
        app.api_create("/devices", &token, &device).await;
    }
    (app, billing)
}

/// A handset browser's request through the gateway: (status, body).
async fn deck_as(app: &TestApp, header: Option<&str>, path: &str, accept: &str) -> (u16, String) {
    let mut r = app.client.get(app.url(path)).header("accept", accept);
    if let Some(h) = header {
        r = r.header("x-device-id", h);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn deck(app: &TestApp, path: &str, accept: &str) -> (u16, String) {
    deck_as(app, Some(&format!("MEID:{MEID}")), path, accept).await
}

fn continue_link(body: &str) -> String {
    let at = body.find("/wap/activate/").expect("a Continue link");
    body[at..].split('"').next().unwrap().to_string()
}

/// Words of the server's insides a subscriber must never read.
fn assert_plain(body: &str) {
    for word in [
        "database",
        "out of order",
        "there is no feature",
        "subscriber line",
        "ESN or MEID",
        "not found",
        "profile ",
        "device ",
        "billing refused",
    ] {
        assert!(!body.contains(word), "{word:?} in {body}");
    }
    assert_well_formed(body);
}

/// Everything a refused deck could have written: activations (and when
/// one last moved), audit events, provisioning records, the lines' services.
async fn written(app: &TestApp) -> (i64, Option<i64>, i64, i64, Vec<String>) {
    app.with_conn(|c| {
        use diesel::dsl::count_star;
        use mdm::db::schema::{audit_events, feature_activations, profiles, provisioning_records};
        let activations = feature_activations::table
            .select(count_star())
            .first::<i64>(c)
            .unwrap();
        let moved = feature_activations::table
            .select(diesel::dsl::max(feature_activations::updated_at))
            .first::<Option<i64>>(c)
            .unwrap();
        let audit = audit_events::table
            .select(count_star())
            .first::<i64>(c)
            .unwrap();
        let records = provisioning_records::table
            .select(count_star())
            .first::<i64>(c)
            .unwrap();
        let features = profiles::table
            .order(profiles::id)
            .select(profiles::features)
            .load(c)
            .unwrap();
        (activations, moved, audit, records, features)
    })
    .await
}

#[tokio::test]
async fn wap_refusals_the_subscriber_should_read_are_decks_with_200_that_change_nothing() {
    let (app, billing) = wap_app(true).await;
    // An offer whose terms were shown, as the refusals find it.
    let (status, info) = deck(&app, "/wap/activate?feature=video_messaging", WML).await;
    assert_eq!(status, 200, "{info}");
    let terms = continue_link(&info);
    let agree = terms.replace("/terms", "/agree");
    let before_terms = written(&app).await;
    // "Agree" before the terms were shown.
    let (status, body) = deck(&app, &agree, XHTML).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("came too early"), "{body}");
    assert!(body.contains("terms have not been shown yet"), "{body}");
    assert_plain(&body);
    assert_eq!(
        written(&app).await,
        before_terms,
        "an early Agree writes nothing"
    );
    assert_eq!(deck(&app, &terms, WML).await.0, 200);
    let before = written(&app).await;

    let other = format!("MEID:{OTHER_MEID}");
    let lineless = format!("MEID:{LINELESS_MEID}");
    let cases: Vec<(Option<&str>, String, &str)> = vec![
        // The terms again: already done.
        (None, terms.clone(), "already done"),
        (
            None,
            "/wap/activate?feature=teleportation".into(),
            "That service is not offered",
        ),
        (
            None,
            "/wap/activate/0000/terms".into(),
            "This link is no longer valid",
        ),
        (
            None,
            "/wap/activate/0000/agree".into(),
            "This link is no longer valid",
        ),
        // In the line's features from the start (profile_json).
        (
            None,
            "/wap/activate?feature=mobile_web".into(),
            "already active on this line",
        ),
        (
            Some(other.as_str()),
            agree.clone(),
            "started on another phone",
        ),
        (
            Some("MEID:A1000012345671"),
            "/wap/activate".into(),
            "not registered with this network",
        ),
        (
            Some(lineless.as_str()),
            "/wap/activate".into(),
            "not on a mobile line yet",
        ),
    ];
    for (who, path, says) in cases {
        for accept in [WML, XHTML] {
            let header = who.map(String::from).unwrap_or(format!("MEID:{MEID}"));
            let (status, body) = deck_as(&app, Some(&header), &path, accept).await;
            assert_eq!(status, 200, "{path} as {header}: {body}");
            assert!(body.contains(says), "{path}: {says:?} in {body}");
            assert!(body.contains("Back to services"), "{body}");
            assert_plain(&body);
            assert_eq!(written(&app).await, before, "{path} as {header} wrote");
        }
    }

    // The line de-activated, then the handset: still a deck to read.
    let (_, token) = app.token(Role::Admin).await;
    let id = app
        .with_conn(|c| {
            mdm::registry::profile::by_mdn(c, &mdm::registry::identifiers::Mdn::parse(MDN).unwrap())
                .unwrap()
                .unwrap()
                .id
        })
        .await;
    assert_eq!(app.set_line_state(&token, id, "deactivated").await, 200);
    let before = written(&app).await;
    let (status, body) = deck(&app, "/wap/activate?feature=touch2talk", WML).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Please call customer care"), "{body}");
    assert_plain(&body);
    assert_eq!(written(&app).await, before);
    assert!(billing.orders().is_empty());
}

#[tokio::test]
async fn the_identification_of_the_handset_keeps_its_403_in_plain_words() {
    let (app, _billing) = wap_app(true).await;
    let (status, body) = deck_as(&app, None, "/wap/activate", WML).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("did not say which phone you are using"),
        "{body}"
    );
    let (status, body) = deck_as(&app, Some("MEID:not-a-meid"), "/wap/activate", XHTML).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("call customer care") && !body.contains("not-a-meid"),
        "{body}"
    );
    assert_plain(&body);

    let (untrusted, _billing) = wap_app(false).await;
    let (status, body) = deck(&untrusted, "/wap/activate", WML).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("only available from your phone"), "{body}");
}

#[tokio::test]
async fn a_billing_refusal_gives_billing_s_reason_without_its_code() {
    let billing = BillingSim::start(
        "127.0.0.1:0".parse().unwrap(),
        SimMode::Fail {
            code: "E102".into(),
            message: "credit limit exceeded".into(),
        },
    )
    .await
    .unwrap();
    let app = spawn_app_with_billing(BillingConfig::new(billing.url()), true).await;
    let (_, token) = app.token(Role::Admin).await;
    app.self_service_subscriber(&token, MDN, PIN).await;
    let csrf = app.self_sign_in(MDN, PIN).await;
    let r = app
        .post_form("/self/features/touch2talk/activate", &[("csrf", &csrf)])
        .await;
    let terms = r.headers()["location"].to_str().unwrap().to_string();
    app.post_form(&format!("{terms}/agree"), &[("csrf", &csrf)])
        .await;
    let (_, page) = app.page(&format!("/self/line/{MDN}")).await;
    assert!(
        page.contains(
            "Touch2Talk was not changed: the billing system turned it down (credit limit exceeded)."
        ),
        "{page}"
    );
    assert!(!page.contains("E102"), "{page}");
    // The code stays with the provisioning record.
    let records = app
        .with_conn(|c| mdm::features::records::page(c, 0, 10).unwrap())
        .await;
    assert_eq!(records[0].code, "E102");
}

// ---------------------------------------------------------------- self service

#[tokio::test]
async fn self_service_names_services_and_refusals_in_plain_words() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    app.self_service_subscriber(&token, MDN, PIN).await;
    let csrf = app.self_sign_in(MDN, PIN).await;

    // The line's services by their names, not their codes.
    let (_, page) = app.page(&format!("/self/line/{MDN}")).await;
    let line = &page[page.find("id=\"my-line\"").unwrap()..];
    let line = &line[..line.find("</dl>").unwrap()];
    assert!(
        line.contains(">Mobile Web<") && line.contains(">Text Messaging<"),
        "{line}"
    );
    assert!(
        !line.contains("mobile_web") && !line.contains("text_messaging"),
        "{line}"
    );

    for (path, says) in [
        (
            "/self/features/teleportation/activate",
            "That service is not offered.",
        ),
        (
            "/self/features/mobile_web/activate",
            "Mobile Web is already active on this line",
        ),
        (
            "/self/features/touch2talk/deactivate",
            "there is nothing to remove",
        ),
    ] {
        let r = app.post_form(path, &[("csrf", &csrf)]).await;
        assert_eq!(r.status().as_u16(), 303, "{path}");
        let (_, page) = app.page(&format!("/self/line/{MDN}")).await;
        assert!(page.contains(says), "{path}: {says:?} in {page}");
        assert!(!page.contains("there is no feature"), "{page}");
    }
    let (status, page) = app.page("/self/activations/not-a-token").await;
    assert_eq!(status, 404);
    assert!(
        page.contains("There is no such request on your line"),
        "{page}"
    );
    let activations = app
        .with_conn(|c| {
            use mdm::db::schema::feature_activations;
            feature_activations::table
                .count()
                .get_result::<i64>(c)
                .unwrap()
        })
        .await;
    assert_eq!(activations, 0, "a refused change writes nothing");
}

// ---------------------------------------------------------------- start

/// The plan of the start's look for DM secrets to seal, as the backend
/// gives it.
async fn start_scan_plan(app: &TestApp) -> String {
    let sql = format!(
        "SELECT device_id, server_password, client_password FROM dm_accounts \
         WHERE device_id > -9223372036854775808 AND {} ORDER BY device_id LIMIT 500",
        mdm::omadm::account::IN_CLEAR
    );
    app.with_conn(move |c| {
        #[derive(QueryableByName)]
        struct SqlitePlan {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        #[derive(QueryableByName)]
        struct PgPlan {
            #[diesel(sql_type = diesel::sql_types::Text)]
            #[diesel(column_name = "QUERY PLAN")]
            line: String,
        }
        let lines: Vec<String> = match c {
            mdm::db::DbConnection::Sqlite(c) => {
                let plan =
                    diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}")).load::<SqlitePlan>(c);
                plan.unwrap().into_iter().map(|p| p.detail).collect()
            }
            mdm::db::DbConnection::Postgres(c) => {
                diesel::sql_query("ANALYZE dm_accounts").execute(c).unwrap();
                let plan = diesel::sql_query(format!("EXPLAIN {sql}")).load::<PgPlan>(c);
                plan.unwrap().into_iter().map(|p| p.line).collect()
            }
        };
        lines.join("\n")
    })
    .await
}

#[tokio::test]
async fn the_start_looks_for_secrets_to_seal_through_an_index_of_those_in_clear() {
    let app = spawn_app().await;
    let (device_id, _) = crate::messaging::line(&app).await;
    // The condition the start's query carries is the index's, pattern and all.
    assert_eq!(
        mdm::omadm::account::IN_CLEAR
            .matches(&format!("NOT LIKE '{}'", mdm::secrets::LIKE_SEALED))
            .count(),
        2
    );
    // An account with one secret in clear is still found and sealed by the
    // next node's start.
    app.with_conn(move |c| {
        use diesel::connection::SimpleConnection;
        c.batch_execute(&format!(
            "UPDATE dm_accounts SET client_password = 'old-client-pw' WHERE device_id = {device_id}"
        ))
        .unwrap();
    })
    .await;
    let data_dir = app.data_dir.clone();
    let node = app
        .second_node(move |c| c.data_dir = data_dir)
        .await
        .expect("a node with the same key starts");
    let vault = node.vault.clone();
    let (stored, acct) = node
        .with_conn(move |c| {
            use mdm::db::schema::dm_accounts;
            let stored: String = dm_accounts::table
                .find(device_id)
                .select(dm_accounts::client_password)
                .first(c)
                .unwrap();
            (
                stored,
                mdm::omadm::account::get(c, &vault, device_id)
                    .unwrap()
                    .unwrap(),
            )
        })
        .await;
    assert!(stored.starts_with("sealed:v1:"), "{stored}");
    assert_eq!(acct.client_password, "old-client-pw");

    // A registry of sealed accounts, large enough for a planner to care.
    app.with_conn(move |c| {
        use diesel::connection::SimpleConnection;
        c.batch_execute(
            "INSERT INTO devices (esn, make, model, firmware_version, activation_state, \
             created_at, updated_at) \
             SELECT printf('%08X', 2415919104 + n), 'LG', 'VX9600', 'V1', 'pending', 0, 0 \
             FROM (WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 3000) \
             SELECT n FROM s)",
        )
        .or_else(|_| {
            c.batch_execute(
                "INSERT INTO devices (esn, make, model, firmware_version, activation_state, \
                 created_at, updated_at) \
                 SELECT upper(to_hex(2415919104 + n)), 'LG', 'VX9600', 'V1', 'pending', 0, 0 \
                 FROM generate_series(1, 3000) AS n",
            )
        })
        .unwrap();
        c.batch_execute(&format!(
            "INSERT INTO dm_accounts (device_id, server_id, server_password, client_username, \
             client_password, client_nonce, server_nonce, updated_at) \
             SELECT id, 'mdm', (SELECT server_password FROM dm_accounts WHERE device_id = {device_id}), \
             'ESN:' || esn, (SELECT client_password FROM dm_accounts WHERE device_id = {device_id}), \
             '', '', 0 FROM devices WHERE id <> {device_id}"
        ))
        .unwrap();
    })
    .await;
    let plan = start_scan_plan(&app).await;
    assert!(plan.contains("dm_accounts_in_clear"), "{plan}");
    assert!(
        !plan.contains("SCAN dm_accounts\n") && !plan.ends_with("SCAN dm_accounts"),
        "{plan}"
    );
    assert!(!plan.contains("Seq Scan"), "{plan}");
}
