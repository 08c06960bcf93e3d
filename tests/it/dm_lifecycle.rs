//! Generic Alerts, FUMO results, download reports and server-initiated jobs
//! whose DM session breaks, as a protocol engineer's QA found them: a report
//! applies only to the offer it answers, every Item counts, and a job never
//! stays running (nor keeps its device's FOTA session) for good.

use mdm::omadm::job::JobKind;
use mdm::omadm::syncml::{Alert, Command, Item, ItemData, Message, Meta, Results, Status};
use mdm::registry::Actor;
use reqwest::Method;

use crate::common::{spawn_app, FumoOffer, TestApp};
use crate::fota::{ask_fota_url, dm_message, md5_cred, post_dm, sessions, setup};

pub(crate) const FUMO_TYPE: &str = "org.openmobilealliance.dm.firmwareupdate.downloadandupdate";

/// A Generic Alert (1226) with one Item per (type, result code).
pub(crate) fn generic_alert(
    cmd_id: u32,
    correlator: Option<&str>,
    items: &[(&str, &str)],
) -> Command {
    Command::Alert(Alert {
        cmd_id,
        data: 1226,
        correlator: correlator.map(String::from),
        items: items
            .iter()
            .map(|(t, code)| Item {
                source: Some("./FUMO/pkg1/DownloadAndUpdate".into()),
                target: None,
                meta: Some(Meta {
                    format: Some("int".into()),
                    r#type: Some(t.to_string()),
                    size: None,
                    mark: Some("critical".into()),
                }),
                data: Some(ItemData::Text(code.to_string())),
                more_data: false,
            })
            .collect(),
    })
}

fn alert(cmd_id: u32, code: u16) -> Command {
    Command::Alert(Alert {
        cmd_id,
        data: code,
        correlator: None,
        items: vec![],
    })
}

/// The status the server gave command `cmd_id` of the handset's message.
pub(crate) fn status_of(reply: &Message, cmd: &str, cmd_id: u32) -> u16 {
    reply
        .body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Status(s) if s.cmd == cmd && s.cmd_ref == cmd_id => Some(s.data),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no status for {cmd} {cmd_id}: {reply:?}"))
}

fn header_status(reply: &Message) -> u16 {
    status_of(reply, "SyncHdr", 0)
}

/// The Gets of a server message, as (CmdID, node).
fn gets(reply: &Message) -> Vec<(u32, String)> {
    reply
        .body
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Get(g) => Some(
                g.items
                    .iter()
                    .map(|i| (g.cmd_id, i.target.clone().unwrap_or_default()))
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The handset's answers to `asked` Gets of message `msg_ref`: a Status and
/// a Results each, the value read being the node's name.
fn answers(msg_ref: u32, asked: &[(u32, String)]) -> Vec<Command> {
    let mut out = Vec::new();
    for (n, (cmd_id, node)) in asked.iter().enumerate() {
        out.push(Command::Status(Status {
            cmd_id: 2 * n as u32 + 1,
            msg_ref,
            cmd_ref: *cmd_id,
            cmd: "Get".into(),
            target_refs: vec![node.clone()],
            source_refs: vec![],
            chal: None,
            data: 200,
            items: vec![],
        }));
        out.push(Command::Results(Results {
            cmd_id: 2 * n as u32 + 2,
            msg_ref,
            cmd_ref: *cmd_id,
            items: vec![Item {
                source: Some(node.clone()),
                target: None,
                meta: None,
                data: Some(ItemData::Text(format!("value of {node}"))),
                more_data: false,
            }],
        }));
    }
    out
}

/// The firmware version the registry holds for the device.
pub(crate) async fn firmware_of(app: &TestApp, device_id: i64) -> String {
    app.with_conn(move |c| {
        mdm::registry::device::get(c, device_id)
            .unwrap()
            .firmware_version
    })
    .await
}

/// Sends one message of a new DM session (package 1, authenticated).
pub(crate) async fn package1(app: &TestApp, session: &str, commands: Vec<Command>) -> Message {
    let cred = md5_cred(app).await;
    post_dm(
        app,
        &app.url("/omadm"),
        &dm_message(session, 1, 65_535, Some(cred), commands),
    )
    .await
}

#[tokio::test]
async fn a_generic_alert_applies_only_to_the_offer_it_answers_and_every_item_counts() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;

    // A pending session (the FOTA URL, nothing offered yet): a success or
    // failure report without a correlator has no offer to answer.
    ask_fota_url(&app, "MEID:A1000012345678").await;
    let pending = sessions(&app, device_id).await[0].id;
    let reply = package1(
        &app,
        "41",
        vec![
            alert(1, 1201),
            generic_alert(2, None, &[(FUMO_TYPE, "200")]),
            generic_alert(3, None, &[(FUMO_TYPE, "410")]),
        ],
    )
    .await;
    assert_eq!(header_status(&reply), 212);
    assert_eq!(status_of(&reply, "Alert", 2), 404);
    assert_eq!(status_of(&reply, "Alert", 3), 404);
    let s = sessions(&app, device_id).await.remove(0);
    assert_eq!(s.id, pending);
    assert!(!s.state().is_terminal(), "{s:?}");
    assert_eq!(s.result_code, None);
    assert_eq!(firmware_of(&app, device_id).await, "U960.05");

    // Offered: a report naming another correlator is not this offer's.
    let FumoOffer {
        correlator,
        fota_session: fota,
        ..
    } = app.dm_session_to_fumo_offer("51").await;
    assert_eq!(fota, pending);
    let reply = package1(
        &app,
        "42",
        vec![generic_alert(
            1,
            Some(&format!("NOT-{correlator}")),
            &[(FUMO_TYPE, "200")],
        )],
    )
    .await;
    assert_eq!(status_of(&reply, "Alert", 1), 404);
    assert_eq!(sessions(&app, device_id).await[0].state, "offered");
    assert_eq!(firmware_of(&app, device_id).await, "U960.05");

    // A vendor's Item before the FUMO one: both are handled.
    let reply = package1(
        &app,
        "43",
        vec![generic_alert(
            1,
            Some(&correlator),
            &[("com.example.vendor.battery", "1"), (FUMO_TYPE, "200")],
        )],
    )
    .await;
    assert_eq!(status_of(&reply, "Alert", 1), 200);
    let s = sessions(&app, device_id).await.remove(0);
    assert_eq!((s.state.as_str(), s.result_code), ("succeeded", Some(200)));
    assert_eq!(firmware_of(&app, device_id).await, "U960.07");
}

#[tokio::test]
async fn a_fumo_result_after_a_failed_download_report_is_kept() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let FumoOffer {
        pkg_url: dd,
        correlator,
        fota_session: fota,
    } = app.dm_session_to_fumo_offer("51").await;
    let notify = dd.replace("/dd?", "/notify?");
    let r = app
        .client
        .post(&notify)
        .body("953 Non-Acceptable Content")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let s = sessions(&app, device_id).await.remove(0);
    assert_eq!((s.state.as_str(), s.result_code), ("failed", None));
    let events = app
        .with_conn(move |c| mdm::fota::session::events(c, fota).unwrap().len())
        .await;

    let reply = package1(
        &app,
        "44",
        vec![generic_alert(1, Some(&correlator), &[(FUMO_TYPE, "402")])],
    )
    .await;
    assert_eq!(status_of(&reply, "Alert", 1), 200);
    let s = sessions(&app, device_id).await.remove(0);
    assert_eq!((s.state.as_str(), s.result_code), ("failed", Some(402)));
    // The state did not change a second time.
    let after = app
        .with_conn(move |c| mdm::fota::session::events(c, fota).unwrap().len())
        .await;
    assert_eq!(after, events);
}

#[tokio::test]
async fn the_download_endpoints_answer_head_repeats_bad_queries_and_preconditions() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;

    let head = app.client.head(app.url("/dl/1/dd")).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(
        head.headers()["content-type"],
        mdm::firmware::descriptor::DD_MEDIA_TYPE
    );

    let dd = app.dm_session_to_fumo_offer("51").await.pkg_url;
    let notify = dd.replace("/dd?", "/notify?");
    let installs = || async {
        app.with_conn(|c| {
            use diesel::prelude::*;
            mdm::db::schema::install_notifications::table
                .count()
                .get_result::<i64>(c)
                .unwrap()
        })
        .await
    };
    for _ in 0..2 {
        let r = app
            .client
            .post(&notify)
            .body("900 Success")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.text().await.unwrap(), "OK");
    }
    // The repeat changed nothing.
    assert_eq!(installs().await, 1);
    assert_eq!(sessions(&app, device_id).await[0].state, "downloaded");
    // Another report for the downloaded session is still refused.
    let r = app
        .client
        .post(&notify)
        .body("902 User Cancelled")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    let r = app
        .client
        .post(app.url("/dl/1/notify?fota=abc"))
        .body("900 Success")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));

    let r = app
        .client
        .get(app.url("/dl/1/package"))
        .header("range", "bytes=0-99999999999999999999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 0-199999/200000");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();

    let r = app
        .client
        .get(app.url("/dl/1/package"))
        .header("if-match", "\"zz\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 412);
    let r = app
        .client
        .get(app.url("/dl/1/package"))
        .header("if-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// A subscriber line's handset with a job of `kind` notified; returns the
/// job and the SessionID the handset is told, as it writes it.
pub(crate) async fn notified(app: &TestApp, device_id: i64, kind: JobKind) -> (i64, String) {
    let vault = app.vault.clone();
    let job = app
        .with_conn(move |c| {
            mdm::omadm::job::notify(c, &vault, device_id, kind, &Actor::System("test"), 8)
                .unwrap()
                .0
        })
        .await;
    (job.id, format!("{:04X}", job.dm_session_id))
}

/// The DM job `id` as the server keeps it.
pub(crate) async fn job(app: &TestApp, id: i64) -> mdm::omadm::job::DmJob {
    app.with_conn(move |c| mdm::omadm::job::get(c, id).unwrap().unwrap())
        .await
}

#[tokio::test]
async fn a_job_whose_package_1_is_sent_again_is_taken_up_without_doing_anything_twice() {
    let app = spawn_app().await;
    let (device_id, _) = crate::messaging::line(&app).await;
    let (id, session) = notified(&app, device_id, JobKind::Refresh).await;

    // The answer to package 1 is lost: the handset sends the same bytes
    // again (refused: the nonce moved on), then signs in afresh.
    let first = dm_message(
        &session,
        1,
        65_535,
        Some(md5_cred(&app).await),
        vec![alert(1, 1200)],
    );
    let reply = post_dm(&app, &app.url("/omadm"), &first).await;
    assert_eq!(gets(&reply).len(), 5);
    let again = post_dm(&app, &app.url("/omadm"), &first).await;
    assert_eq!(header_status(&again), 401);
    let reply = package1(&app, &session, vec![alert(1, 1200)]).await;
    let asked = gets(&reply);
    assert_eq!(asked.len(), 5, "the job is taken up: {reply:?}");
    assert_eq!(job(&app, id).await.state, "running");

    // Two answers arrive, then the session breaks and starts again: only
    // the three unanswered commands go out.
    let url = reply.hdr.resp_uri.clone().unwrap();
    post_dm(
        &app,
        &url,
        &dm_message(&session, 2, 65_535, None, answers(1, &asked[..2])),
    )
    .await;
    let reply = package1(&app, &session, vec![alert(1, 1200)]).await;
    let rest = gets(&reply);
    let nodes: Vec<&str> = rest.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(
        nodes,
        asked[2..]
            .iter()
            .map(|(_, n)| n.as_str())
            .collect::<Vec<_>>()
    );
    let url = reply.hdr.resp_uri.clone().unwrap();
    let last = post_dm(
        &app,
        &url,
        &dm_message(&session, 2, 65_535, None, answers(1, &rest)),
    )
    .await;
    assert!(gets(&last).is_empty());

    let j = job(&app, id).await;
    assert_eq!(j.state, "done", "{}", j.detail);
    let results = j.results();
    assert_eq!(results.len(), 5, "{results:?}");
    assert!(results.iter().all(|r| r.status == Some(200)));
    assert_eq!(
        results.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        asked.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>()
    );
    assert!(results
        .iter()
        .all(|r| r.value.as_deref() == Some(&format!("value of {}", r.path)[..])));
}

#[tokio::test]
async fn a_session_the_handset_aborts_fails_its_job_and_sends_nothing_more() {
    let app = spawn_app().await;
    let (device_id, _) = crate::messaging::line(&app).await;
    let (id, session) = notified(&app, device_id, JobKind::Refresh).await;
    let reply = package1(&app, &session, vec![alert(1, 1200)]).await;
    let asked = gets(&reply);
    let url = reply.hdr.resp_uri.clone().unwrap();
    let mut msg2 = answers(1, &asked[..1]);
    msg2.push(alert(9, 1223));
    let reply = post_dm(&app, &url, &dm_message(&session, 2, 65_535, None, msg2)).await;
    assert_eq!(status_of(&reply, "Alert", 9), 200);
    assert!(reply.body.final_);
    assert!(reply
        .body
        .commands
        .iter()
        .all(|c| matches!(c, Command::Status(_))));

    let j = job(&app, id).await;
    assert_eq!(j.state, "failed");
    assert!(
        j.detail
            .starts_with("the device aborted the session (Alert 1223); 5 commands: 1 succeeded"),
        "{}",
        j.detail
    );
    // The session is over: a later message of it must sign in again.
    let late = post_dm(&app, &url, &dm_message(&session, 3, 65_535, None, vec![])).await;
    assert_ne!(header_status(&late), 200);
}

#[tokio::test]
async fn a_job_whose_handset_dropped_the_session_times_out_and_frees_the_fota_session() {
    let app = spawn_app().await;
    let (device_id, token) = crate::messaging::line(&app).await;
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V05", 1_000)
        .await;
    let (id, session) = notified(&app, device_id, JobKind::Fota).await;
    let reply = package1(&app, &session, vec![alert(1, 1200)]).await;
    assert_eq!(gets(&reply).len(), 3, "the make-model-version query");
    let fota = sessions(&app, device_id).await.remove(0);
    assert_eq!(fota.state, "querying");

    let sweep = || app.with_conn(|c| mdm::fota::sweeper::sweep(c).unwrap());
    // A quiet while is no drop yet.
    sweep().await;
    assert_eq!(job(&app, id).await.state, "running");

    // The handset said nothing more for over half an hour.
    let long_ago = mdm::db::now_ms() - 31 * 60_000;
    app.with_conn(move |c| {
        use diesel::connection::SimpleConnection;
        c.batch_execute(&format!(
            "UPDATE dm_sessions SET updated_at = {long_ago}; \
             UPDATE dm_jobs SET updated_at = {long_ago}; \
             UPDATE fota_sessions SET updated_at = {long_ago};"
        ))
        .unwrap();
    })
    .await;
    sweep().await;
    let j = job(&app, id).await;
    assert_eq!(j.state, "failed");
    assert_eq!(
        j.detail,
        format!(
            "the device's DM session ended before the job did (nothing heard for 30 minutes); \
             FOTA session {} is querying",
            fota.id
        )
    );
    assert_eq!(sessions(&app, device_id).await[0].state, "failed");

    // The device can be updated again.
    let r = app
        .api(
            Method::POST,
            &format!("/devices/{device_id}/dm-jobs"),
            &token,
        )
        .json(&serde_json::json!({"job": "fota"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap());
}
