//! A refresh's one Get of five Items answered with one Status whose
//! TargetRef repeats, naming every Item it applies to (SyncML RepPro 1.2,
//! Status: `TargetRef*`): each named node gets that Status, so a handset
//! lacking two of the five nodes leaves a record of the three read and the
//! two missing, whether the simulated handset answers on its own or a
//! message carries only the 404 for the missing ones.

use mdm::omadm::syncml::{Command, Encoding, Message, Results};
use mdm::sim::omadm_handset::{GetStatuses, Variant};
use mdm::sim::trace::Trace;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{spawn_app, SendJson, TestApp};
use crate::dm_wap_round3::{
    get_status, post, pushed_refresh, results, session_asked, trace_files, wbxml2xml,
};
use crate::fota::dm_message;

const READ: [(&str, &str); 3] = [
    ("./DevInfo/Man", "LG"),
    ("./DevInfo/Mod", "VX9600"),
    ("./DevDetail/FwV", "VX9600V05"),
];
const LACKING: [&str; 2] = ["./DevInfo/DmV", "./DevInfo/Lang"];
const DETAIL: &str =
    "5 commands: 3 succeeded; not on the handset (404): ./DevInfo/DmV, ./DevInfo/Lang";

/// The job as the REST API shows it.
async fn job_view(app: &TestApp, token: &str, id: i64) -> Value {
    let r = app
        .api(Method::GET, &format!("/dm-jobs/{id}"), token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

/// What the device's record says the refresh came to: the job's state and
/// detail, each node's status and value, and the registry's firmware.
async fn assert_recorded(app: &TestApp, token: &str, device_id: i64, job_id: i64) {
    let j = job_view(app, token, job_id).await;
    assert_eq!(
        (j["state"].as_str(), j["detail"].as_str()),
        (Some("done"), Some(DETAIL)),
        "{j:#}"
    );
    let results = j["results"].as_array().unwrap();
    let by_path = |p: &str| {
        results
            .iter()
            .find(|r| r["path"] == p)
            .unwrap_or_else(|| panic!("{p} in {j:#}"))
    };
    assert_eq!(results.len(), 5, "{j:#}");
    for (node, value) in READ {
        let r = by_path(node);
        assert_eq!(
            (r["status"].as_u64(), r["value"].as_str()),
            (Some(200), Some(value)),
            "{r}"
        );
    }
    for node in LACKING {
        let r = by_path(node);
        assert_eq!(r["status"].as_u64(), Some(404), "{r}");
        assert!(r.get("value").is_none(), "nothing read for {node}: {r}");
    }

    // The device's own list of jobs says the same.
    let list = app
        .api(Method::GET, &format!("/devices/{device_id}/dm-jobs"), token)
        .send_json()
        .await;
    let listed = list["items"]
        .as_array()
        .and_then(|l| l.iter().find(|x| x["id"] == job_id))
        .unwrap_or_else(|| panic!("job {job_id} in {list:#}"));
    assert_eq!(listed["detail"], DETAIL);

    // What was read reached the registry: the firmware it reported.
    let d = app
        .api(Method::GET, &format!("/devices/{device_id}"), token)
        .send_json()
        .await;
    assert_eq!(d["device"]["firmware_version"], "VX9600V05", "{d:#}");
}

/// Asks for a refresh through the API, as an operations system does.
async fn refresh(app: &TestApp, token: &str, device_id: i64) -> (i64, String) {
    let r = app
        .api(
            Method::POST,
            &format!("/devices/{device_id}/dm-jobs"),
            token,
        )
        .json(&json!({"job": "refresh"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let j: Value = r.json().await.unwrap();
    (
        j["id"].as_i64().unwrap(),
        j["session_id"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn a_handset_lacking_two_nodes_names_both_in_one_status_and_the_refresh_records_each() {
    let smsc = crate::messaging::start_smsc().await;
    let app = crate::messaging::app_with_smsc(&smsc, 8).await;
    let (device_id, token) = crate::messaging::line(&app).await;
    let (job_id, _) = refresh(&app, &token, device_id).await;
    let (body, mut h) = pushed_refresh(&app, &smsc, device_id).await;
    let dir = tempfile::tempdir().unwrap();
    let variant = Variant {
        lacks: LACKING.iter().map(|n| n.to_string()).collect(),
        get_statuses: GetStatuses::PerCode,
    };
    h.run_notified_as(
        &body,
        &Trace::new(Some(dir.path().to_path_buf())).unwrap(),
        &variant,
    )
    .await
    .unwrap();
    assert_recorded(&app, &token, device_id, job_id).await;

    // The device's page shows each node's answer: what was read, with its
    // value, and the two not found.
    app.login_admin().await;
    let (code, html) = app.page(&format!("/devices/{device_id}")).await;
    assert_eq!(code, 200);
    assert!(html.contains(DETAIL), "{html}");
    for node in LACKING {
        let row = format!("<td class=\"mono\">get {node}</td><td class=\"bad\">404 not found</td>");
        assert!(html.contains(&row), "{row} in {html}");
    }
    for (node, value) in READ {
        let row =
            format!("<td class=\"mono\">get {node}</td><td>200 OK</td><td class=\"mono\">{value}");
        assert!(html.contains(&row), "{row} in {html}");
    }

    // On the wire: the handset's answer to the Get is one Status 404 with a
    // TargetRef for each node it lacks, one 200 naming the three it read,
    // and one Results; libwbxml reads the repeated TargetRef too.
    let mut answered = false;
    for f in trace_files(dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("-request-dm-session-"))
    {
        let bytes = std::fs::read(&f).unwrap();
        let m = Message::decode(&bytes, Encoding::Wbxml).unwrap();
        let statuses: Vec<(u16, Vec<&str>)> = m
            .body
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Status(s) if s.cmd == "Get" => {
                    Some((s.data, s.target_refs.iter().map(String::as_str).collect()))
                }
                _ => None,
            })
            .collect();
        if statuses.is_empty() {
            continue;
        }
        answered = true;
        assert_eq!(
            statuses,
            [
                (200, READ.iter().map(|(n, _)| *n).collect::<Vec<_>>()),
                (404, LACKING.to_vec()),
            ],
            "{f:?}"
        );
        let xml: String = wbxml2xml(&bytes).split('\n').map(str::trim).collect();
        assert!(
            xml.contains(
                "<TargetRef>./DevInfo/DmV</TargetRef><TargetRef>./DevInfo/Lang</TargetRef><Data>404</Data>"
            ),
            "{xml}"
        );
        let results: Vec<&Results> = m
            .body
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Results(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(results.len(), 1, "{f:?}");
        assert_eq!(results[0].items.len(), 3, "{f:?}");
    }
    assert!(answered, "the trace holds the handset's answer to the Get");
}

/// The ways a client names only some Items by repeated TargetRef.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// One Status 404 naming the two missing nodes (one written without
    /// "./"), and one Results for the three read: no Status names those.
    MissingNamedResultsForTheRest,
    /// The Results first, then a 404 naming the two missing and a 200
    /// naming the three read.
    ResultsThenStatusPerCode,
}

fn answer(shape: Shape, get_id: u32) -> Vec<Command> {
    // `results` gives each of these nodes READ's value.
    let read: Vec<&str> = READ.iter().map(|(n, _)| *n).collect();
    match shape {
        Shape::MissingNamedResultsForTheRest => vec![
            get_status(1, get_id, &["./DevInfo/DmV", "DevInfo/Lang"], 404),
            results(2, get_id, &read),
        ],
        Shape::ResultsThenStatusPerCode => vec![
            results(1, get_id, &read),
            get_status(2, get_id, &LACKING, 404),
            get_status(3, get_id, &read, 200),
        ],
    }
}

#[tokio::test]
async fn a_status_naming_only_the_missing_nodes_completes_the_refresh_in_xml_and_wbxml() {
    let app = spawn_app().await;
    let (device_id, token) = crate::messaging::line(&app).await;
    let cases = [
        (Shape::MissingNamedResultsForTheRest, Encoding::Xml),
        (Shape::MissingNamedResultsForTheRest, Encoding::Wbxml),
        (Shape::ResultsThenStatusPerCode, Encoding::Xml),
    ];
    for (shape, enc) in cases {
        let (job_id, session) = refresh(&app, &token, device_id).await;
        let (get_id, asked, url) = session_asked(&app, &session, enc).await;
        assert_eq!(asked.len(), 5, "{shape:?} {enc:?}: one Get of five");
        let msg = dm_message(&session, 2, 65_535, None, answer(shape, get_id));
        if enc == Encoding::Xml {
            // The repeated TargetRef is on the wire as the handset sends it.
            let xml = String::from_utf8(msg.encode(enc).unwrap()).unwrap();
            assert!(
                xml.contains("<TargetRef>./DevInfo/DmV</TargetRef><TargetRef>"),
                "{xml}"
            );
        }
        let last = post(&app, &url, &msg, enc).await;
        assert!(
            last.body
                .commands
                .iter()
                .all(|c| matches!(c, Command::Status(_))),
            "{shape:?} {enc:?}: nothing more to ask: {last:?}"
        );
        assert_recorded(&app, &token, device_id, job_id).await;
    }
}
