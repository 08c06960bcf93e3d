//! Downloads a handset started and dropped part-way: the package URL names
//! the FOTA session, its progress is recorded, and the sweeper closes a
//! download quiet for `MDM_FOTA_DOWNLOAD_STALL_MINUTES` (rather than after
//! the day a silent offer gets) without losing a handset that comes back.

use diesel::prelude::*;
use mdm::db::schema::fota_sessions;
use reqwest::header;

use crate::common::{spawn_app, TestApp};
use crate::dm_lifecycle::{firmware_of, generic_alert, package1, status_of, FUMO_TYPE};
use crate::fota::{ask_fota_url, sessions, setup};

const DEV_ID: &str = "MEID:A1000012345678";
/// The package `setup` releases.
const SIZE: i64 = 200_000;
const MINUTE: i64 = 60_000;

/// Runs the test handset's DM session of the FOTA URL to the offer; returns
/// the descriptor as the handset reads it, the Exec's correlator and the
/// FOTA session id.
async fn offered(app: &TestApp) -> (mdm::sim::omadm_handset::Dd, String, i64) {
    let offer = app.dm_session_to_fumo_offer("61").await;
    let dd = app
        .client
        .get(&offer.pkg_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dd = mdm::sim::omadm_handset::parse_dd(&dd);
    let s = sessions(app, 1).await.remove(0);
    assert_eq!((s.id, s.state.as_str()), (offer.fota_session, "offered"));
    (dd, offer.correlator, offer.fota_session)
}

/// Asks for `range` of the package at `url`; returns the status and how
/// many bytes came.
async fn fetch(app: &TestApp, url: &str, range: &str) -> (u16, usize) {
    let r = app
        .client
        .get(url)
        .header(header::RANGE, range)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap().len())
}

/// The session's recorded download activity: when, and how far.
async fn activity(app: &TestApp, fota: i64) -> (Option<i64>, Option<i64>) {
    app.with_conn(move |c| {
        fota_sessions::table
            .find(fota)
            .select((fota_sessions::download_at, fota_sessions::download_bytes))
            .first(c)
            .unwrap()
    })
    .await
}

/// Waits for the download endpoint's write (made after the response).
async fn recorded(app: &TestApp, fota: i64, bytes: i64) -> i64 {
    for _ in 0..100 {
        if let (Some(at), Some(b)) = activity(app, fota).await {
            if b == bytes {
                return at;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "download activity of {bytes} bytes never recorded: {:?}",
        activity(app, fota).await
    );
}

/// Moves the session's last download activity `minutes` into the past.
async fn age_download(app: &TestApp, fota: i64, minutes: i64) -> i64 {
    let at = mdm::db::now_ms() - minutes * MINUTE;
    app.with_conn(move |c| {
        diesel::update(fota_sessions::table.find(fota))
            .set(fota_sessions::download_at.eq(at))
            .execute(c)
            .unwrap()
    })
    .await;
    at
}

pub(crate) async fn sweep(app: &TestApp, stall_minutes: u32) -> usize {
    app.with_conn(move |c| {
        mdm::fota::sweeper::sweep_with(c, stall_minutes)
            .unwrap()
            .fota_sessions
    })
    .await
}

async fn history(app: &TestApp, fota: i64) -> Vec<String> {
    app.with_conn(move |c| {
        mdm::fota::session::events(c, fota)
            .unwrap()
            .into_iter()
            .map(|e| e.detail)
            .collect()
    })
    .await
}

#[tokio::test]
async fn a_download_dropped_part_way_is_closed_after_the_stall_window() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let (dd, _, fota) = offered(&app).await;
    assert!(
        dd.object_uri
            .contains(&format!("/dl/1/package?fota={fota}&key=")),
        "{}",
        dd.object_uri
    );

    // The handset gets the first half, then its connection is gone.
    assert_eq!(
        fetch(&app, &dd.object_uri, "bytes=0-99999").await,
        (206, 100_000)
    );
    recorded(&app, fota, 100_000).await;

    // Fresh: a dropped connection comes back within the window.
    assert_eq!(sweep(&app, 60).await, 0);
    assert_eq!(sessions(&app, device_id).await[0].state, "offered");

    // Quiet for over an hour: not while the check is off...
    age_download(&app, fota, 61).await;
    assert_eq!(sweep(&app, 0).await, 0);
    assert_eq!(sessions(&app, device_id).await[0].state, "offered");
    // ...but with it, closed with what is known of the download, hours
    // before the day an untouched offer is given.
    assert_eq!(sweep(&app, 60).await, 1);
    let s = sessions(&app, device_id).await.remove(0);
    assert_eq!(s.state, "failed");
    assert_eq!(
        s.detail,
        "download stopped after 100000 of 200000 bytes and was not resumed for 61 minutes"
    );
    assert_eq!(
        history(&app, fota).await.last().map(String::as_str),
        Some(s.detail.as_str())
    );
    assert_eq!(sweep(&app, 60).await, 0, "closed once");

    // A failed update for the campaign's count, and the device is free for
    // its next request.
    assert_eq!(s.package_id, Some(1));
    assert_eq!(ask_fota_url(&app, DEV_ID).await.status().as_u16(), 302);
    let all = sessions(&app, device_id).await;
    assert_eq!((all.len(), all[0].state.as_str()), (2, "pending"));
}

#[tokio::test]
async fn a_resumed_download_within_the_window_stays_open() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let (dd, _, fota) = offered(&app).await;
    assert_eq!(
        fetch(&app, &dd.object_uri, "bytes=0-99999").await,
        (206, 100_000)
    );
    recorded(&app, fota, 100_000).await;

    // Fifty quiet minutes: within the window.
    let aged = age_download(&app, fota, 50).await;
    assert_eq!(sweep(&app, 60).await, 0);

    // Requests that do not prove they are this session's record nothing:
    // the plain package URL, another key, another session's id.
    let plain = app.url("/dl/1/package");
    let forged = dd.object_uri.replace("key=", "key=x");
    let other = dd
        .object_uri
        .replace(&format!("fota={fota}"), &format!("fota={}", fota + 1));
    for url in [&plain, &forged, &other] {
        assert_eq!(fetch(&app, url, "bytes=100000-149999").await, (206, 50_000));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(activity(&app, fota).await, (Some(aged), Some(100_000)));

    // The handset resumes where it stopped: the window starts again.
    assert_eq!(
        fetch(&app, &dd.object_uri, "bytes=100000-149999").await,
        (206, 50_000)
    );
    let at = recorded(&app, fota, 150_000).await;
    assert!(at > aged + 49 * MINUTE);
    assert_eq!(sweep(&app, 60).await, 0);
    assert_eq!(sessions(&app, device_id).await[0].state, "offered");

    // The rest, within the minute: the end of the file is always recorded.
    assert_eq!(
        fetch(&app, &dd.object_uri, "bytes=150000-").await,
        (206, 50_000)
    );
    recorded(&app, fota, SIZE).await;
    // A complete download waits for its install and report, however long
    // ago it ended (up to the day any silent offer gets).
    age_download(&app, fota, 120).await;
    assert_eq!(sweep(&app, 60).await, 0);
    assert_eq!(sessions(&app, device_id).await[0].state, "offered");
}

#[tokio::test]
async fn a_handset_back_after_the_stall_close_is_heard_and_its_success_recorded() {
    let app = spawn_app().await;
    let (device_id, _) = setup(&app, true).await;
    let (dd, correlator, fota) = offered(&app).await;
    assert_eq!(
        fetch(&app, &dd.object_uri, "bytes=0-99999").await,
        (206, 100_000)
    );
    recorded(&app, fota, 100_000).await;
    age_download(&app, fota, 90).await;
    assert_eq!(sweep(&app, 60).await, 1);
    let closed = sessions(&app, device_id).await.remove(0);
    assert_eq!(closed.state, "failed");
    let changes = history(&app, fota).await.len();

    // It resumes after all: served, and noted once in the history.
    assert_eq!(
        fetch(&app, &dd.object_uri, "bytes=100000-").await,
        (206, 100_000)
    );
    recorded(&app, fota, SIZE).await;
    let notes = history(&app, fota).await;
    assert_eq!(notes.len(), changes + 1, "{notes:?}");
    assert_eq!(
        notes.last().unwrap(),
        "late: the handset came back for the package (bytes 100000 to 200000 of 200000) \
         after the session was closed; it stays closed"
    );

    // Its download report is kept, once.
    for _ in 0..2 {
        let r = app
            .client
            .post(&dd.notify_uri)
            .body("900 Success")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    let notes = history(&app, fota).await;
    assert_eq!(notes.len(), changes + 2, "{notes:?}");
    assert_eq!(
        notes.last().unwrap(),
        "late report: download complete (900) (after the session was closed; it stays closed)"
    );

    // The final success after the reboot: the device runs the new version,
    // and the session says so while staying as its campaign counted it.
    assert_eq!(firmware_of(&app, device_id).await, "U960.05");
    for session in ["62", "63"] {
        let reply = package1(
            &app,
            session,
            vec![generic_alert(1, Some(&correlator), &[(FUMO_TYPE, "200")])],
        )
        .await;
        assert_eq!(status_of(&reply, "Alert", 1), 200);
    }
    assert_eq!(firmware_of(&app, device_id).await, "U960.07");
    let s = sessions(&app, device_id).await.remove(0);
    assert_eq!(
        (s.id, s.state.as_str(), s.result_code),
        (fota, "failed", Some(200))
    );
    assert_eq!(
        s.detail,
        format!(
            "{}; late report: FUMO result 200, the device runs U960.07",
            closed.detail
        )
    );
    let notes = history(&app, fota).await;
    assert_eq!(
        notes.len(),
        changes + 3,
        "the repeat adds nothing: {notes:?}"
    );
    assert_eq!(
        notes.last().unwrap(),
        "late report: FUMO result 200, the device runs U960.07 \
         (after the session was closed; it stays closed)"
    );
    // Audited on the device as any update over the air.
    let audited = app
        .with_conn(move |c| {
            use mdm::db::schema::audit_events;
            audit_events::table
                .filter(audit_events::entity_id.eq(device_id))
                .filter(audit_events::action.eq("firmware updated over the air"))
                .count()
                .get_result::<i64>(c)
                .unwrap()
        })
        .await;
    assert_eq!(audited, 1);
}
