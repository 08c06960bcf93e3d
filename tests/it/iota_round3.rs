//! IOTA and messaging, third round: the handset a late-identifying session
//! ran with, retrying the push of a session that is over, the star-code
//! welcome as a concatenated text, and the indexes behind a line's sessions
//! and the start-up scan of the outbox.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Text;
use mdm::auth::Role;
use mdm::db::schema::{iota_sessions, outbox};
use mdm::db::DbConnection;
use mdm::iota::session::IotaSession;
use mdm::messaging::smpp::test_smsc::{texts, TestSmsc, TestSmscOptions};
use mdm::messaging::smpp::SmscConfig;
use mdm::registry::identifiers::Meid;
use mdm::sim::iota_client::{self, push_href, IotaOutcome};
use mdm::sim::iota_handset::{HandsetIdentity, IotaFault, IotaHandset};
use mdm::sim::sms_inbox::SmsInbox;
use mdm::sim::trace::Trace;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{csrf_of, profile_json, run_mdm, spawn_app, spawn_app_with, SendJson, TestApp};
use crate::iota::prl;

const MDN: &str = "6135550300";
const ESN: &str = "9F1ABD30";

async fn line(app: &TestApp, token: &str, handset: Value) -> (i64, i64) {
    let mut p = profile_json(MDN);
    p["sspr_table"] = json!(1);
    p["prl_id"] = Value::Null;
    app.kyocera_line(token, &p, handset).await
}

fn handset(esn: &str, meid: Option<&str>) -> IotaHandset {
    IotaHandset::new(
        HandsetIdentity::new(esn, meid, "Kyocera", "KX-IOTA", 0x0102, 0x2A),
        IotaFault::None,
    )
}

/// One-button activation with the handset naming itself only in the POST
/// that answers the Protocol Capability Request.
async fn activate_late(app: &TestApp, h: &mut IotaHandset) -> IotaOutcome {
    iota_client::run(
        h,
        &app.url("/iota/activate"),
        false,
        &Trace::new(None).unwrap(),
    )
    .await
    .unwrap()
}

async fn sessions(app: &TestApp) -> Vec<IotaSession> {
    app.with_conn(|c| {
        iota_sessions::table
            .order(iota_sessions::id.asc())
            .select(IotaSession::as_select())
            .load(c)
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn a_handset_that_identifies_itself_late_is_recorded_on_its_session() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    app.file_prl(prl(10300, 4), 1).await;
    let registered = "A100123420004C";
    let pesn = Meid::parse(registered).unwrap().pseudo_esn().to_hex();
    let (pid, _) = line(&app, &token, json!({"meid": registered})).await;

    // A stranger's MEID, sent with the registered handset's pESN: refused
    // (a MEID is never matched on its pESN), and the session says which
    // MEID tried, without the pESN.
    let stranger = "A1FFFFFFFFFFFF";
    let outcome = activate_late(&app, &mut handset(&pesn, Some(stranger))).await;
    assert!(
        matches!(outcome, IotaOutcome::Refused { code: 404, .. }),
        "{outcome:?}"
    );
    let s = sessions(&app).await;
    let late = s
        .iter()
        .find(|s| s.state == "failed")
        .expect("the late session failed");
    assert_eq!(late.meid.as_deref(), Some(stranger));
    assert_eq!(late.esn, None, "a pESN is not an identity");
    assert_eq!((late.device_id, late.profile_id), (None, None));

    // The registered handset, late: activated, and its session names it.
    let outcome = activate_late(&app, &mut handset(&pesn, Some(registered))).await;
    assert!(
        matches!(outcome, IotaOutcome::Completed { .. }),
        "{outcome:?}"
    );
    let done = sessions(&app)
        .await
        .into_iter()
        .find(|s| s.state == "completed")
        .expect("a completed session");
    assert_eq!(done.meid.as_deref(), Some(registered));
    assert_eq!(done.profile_id, Some(pid));

    // Where sessions are shown: O&M, care and the API.
    app.login_admin().await;
    let (_, ops) = app.page("/ops/iota").await;
    assert!(ops.contains(&format!("MEID {registered}")), "{ops}");
    assert!(ops.contains(&format!("MEID {stranger}")), "{ops}");
    let (_, care) = app.page(&format!("/care/profiles/{pid}")).await;
    assert!(care.contains(&format!("MEID {registered}")), "{care}");
    let api: Value = app
        .api(
            Method::GET,
            &format!("/iota/sessions?profile_id={pid}"),
            &token,
        )
        .send_json()
        .await;
    assert_eq!(api["items"][0]["meid"], registered, "{api}");
}

async fn start_smsc() -> TestSmsc {
    TestSmsc::start("127.0.0.1:0".parse().unwrap(), TestSmscOptions::default())
        .await
        .expect("test SMSC starts")
}

async fn app_with_smsc(smsc: &TestSmsc, welcome: Option<String>) -> TestApp {
    let mut sc = SmscConfig::from_url(&smsc.url()).unwrap();
    sc.reconnect_min = Duration::from_millis(50);
    sc.reconnect_max = Duration::from_millis(400);
    spawn_app_with(move |c| {
        c.smsc = Some(sc);
        c.iota_welcome = welcome;
    })
    .await
}

/// A star-code activation of the ESN handset, through the API.
async fn star_code(app: &TestApp, token: &str) -> Value {
    let r = app
        .api(Method::POST, "/iota/activations", token)
        .json(&json!({"device": ESN}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    r.json().await.unwrap()
}

/// The push (SI) of session `token`, once the outbox has given up on it.
async fn failed_push_of(app: &TestApp, session: &str) -> i64 {
    let needle = format!("%{session}");
    for _ in 0..200 {
        let n = needle.clone();
        let row = app
            .with_conn(move |c| {
                outbox::table
                    .filter(outbox::kind.eq("wap_si"))
                    .filter(outbox::summary.like(n))
                    .select((outbox::id, outbox::state))
                    .first::<(i64, String)>(c)
                    .optional()
                    .unwrap()
            })
            .await;
        if let Some((id, state)) = row {
            if state == "failed" {
                return id;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the push of {session} did not fail");
}

async fn state_of(app: &TestApp, id: i64) -> String {
    app.with_conn(move |c| {
        outbox::table
            .find(id)
            .select(outbox::state)
            .first::<String>(c)
            .unwrap()
    })
    .await
}

async fn portal_retry(app: &TestApp, id: i64) -> (u16, String) {
    let (_, page) = app.page(&format!("/ops/messages/{id}")).await;
    let r = app
        .post_form(
            &format!("/ops/messages/{id}/retry"),
            &[("csrf", &csrf_of(&page))],
        )
        .await;
    let to = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (r.status().as_u16(), to)
}

#[tokio::test]
async fn retrying_the_push_of_a_session_that_is_over_is_refused_and_points_to_a_fresh_one() {
    let smsc = start_smsc().await;
    // The SMSC refuses the line's number for good: every push fails.
    smsc.reject_destination(MDN, 0x0000_000B);
    let app = app_with_smsc(&smsc, None).await;
    let (_, token) = app.token(Role::Admin).await;
    app.file_prl(prl(10301, 4), 1).await;
    app.kyocera_iota_series().await;
    let (pid, _) = line(&app, &token, json!({"esn": ESN})).await;
    app.login_admin().await;

    // A session still waiting for its handset: its push is sent again.
    let first = star_code(&app, &token).await;
    let first_token = first["token"].as_str().unwrap().to_string();
    let push = failed_push_of(&app, &first_token).await;
    let (status, to) = portal_retry(&app, push).await;
    assert_eq!(
        (status, to.as_str()),
        (303, &*format!("/ops/messages/{push}"))
    );
    let (_, page) = app.page(&format!("/ops/messages/{push}")).await;
    assert!(page.contains("queued again"), "{page}");
    failed_push_of(&app, &first_token).await;

    // The call-back goes unanswered for a day: the session expires, and
    // its link is dead.
    app.with_conn(|c| {
        diesel::update(iota_sessions::table)
            .set(iota_sessions::created_at.eq(iota_sessions::created_at - 25 * 3600 * 1000))
            .execute(c)
            .unwrap();
        mdm::iota::session::expire_unanswered(c, mdm::db::now_ms()).unwrap();
    })
    .await;
    let (status, to) = portal_retry(&app, push).await;
    assert_eq!(status, 303);
    assert_eq!(
        to,
        format!("/care/profiles/{pid}#iota"),
        "to a fresh session"
    );
    let (_, care) = app.page(&to).await;
    assert!(
        care.contains(&format!("carries the call-back of star-code activation session {first_token}, which is over (it has expired: the handset never called back)"))
            && care.contains("Start a fresh star-code activation instead"),
        "{care}"
    );
    assert!(care.contains(&format!("/care/profiles/{pid}/iota/activate")));
    assert_eq!(state_of(&app, push).await, "failed", "nothing sent");
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["outbox", "retry", &push.to_string()],
        None,
    );
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("which is over") && err.contains("Start a fresh star-code activation"),
        "{err}"
    );
    assert_eq!(state_of(&app, push).await, "failed");

    // A newer request supersedes a waiting session: its push is not sent
    // again either, and the newer one's own push is what counts.
    let second = star_code(&app, &token).await;
    let second_token = second["token"].as_str().unwrap().to_string();
    let second_push = failed_push_of(&app, &second_token).await;
    star_code(&app, &token).await;
    let (status, to) = portal_retry(&app, second_push).await;
    assert_eq!(
        (status, to.as_str()),
        (303, &*format!("/ops/messages/{second_push}"))
    );
    let (_, page) = app.page(&to).await;
    assert!(
        page.contains("which is over (it was superseded by a newer request)")
            && page.contains("The newer request has its own push"),
        "{page}"
    );
    assert_eq!(state_of(&app, second_push).await, "failed");
    let accepted = smsc.accepted_count();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smsc.accepted_count(), accepted);
}

#[tokio::test]
async fn a_welcome_longer_than_one_short_message_goes_concatenated_before_the_push() {
    let smsc = start_smsc().await;
    // 45 + 6 * 23 + 19 = 202 characters, the € taking two septets: 203.
    let welcome = format!(
        "Welcome to ExampleTel, your new network (€). {}Enjoy your phone!!!",
        "Calls, texts and data. ".repeat(6)
    );
    assert_eq!(welcome.chars().count(), 202);
    let app = app_with_smsc(&smsc, Some(welcome.clone())).await;
    let (_, token) = app.token(Role::Admin).await;
    app.file_prl(prl(10302, 4), 1).await;
    app.kyocera_iota_series().await;
    line(&app, &token, json!({"esn": ESN})).await;
    star_code(&app, &token).await;

    let mut href = None;
    for _ in 0..200 {
        let mut inbox = SmsInbox::new();
        href = smsc
            .accepted()
            .iter()
            .filter(|s| !texts::is_text(s))
            .find_map(|s| inbox.receive(&s.destination_addr, &s.short_message).ok()?)
            .and_then(|p| push_href(&p.push));
        if href.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(href.is_some(), "the SI went out");

    let accepted = smsc.accepted();
    let row = app
        .with_conn(|c| {
            outbox::table
                .filter(outbox::kind.eq("text"))
                .select(outbox::id)
                .first::<i64>(c)
                .unwrap()
        })
        .await;
    let reference = (row & 0xFF) as u8;
    // Two GSM 7-bit parts, each with UDHI and the 8-bit reference IE, the
    // first full (153 septets), both before the push.
    assert!(texts::is_text(&accepted[0]) && texts::is_text(&accepted[1]));
    assert!(!texts::is_text(&accepted[2]), "the push after the welcome");
    let mut parts = accepted[..2].to_vec();
    parts.sort_by_key(|s| s.short_message[5]);
    for (i, p) in parts.iter().enumerate() {
        assert_eq!((p.esm_class, p.data_coding), (0x40, 0x00));
        assert_eq!(
            &p.short_message[..6],
            &[0x05, 0x00, 0x03, reference, 0x02, i as u8 + 1]
        );
    }
    assert_eq!(parts[0].short_message.len(), 6 + 153);
    assert_eq!(parts[1].short_message.len(), 6 + 203 - 153);
    assert_eq!(&parts[0].short_message[6..13], b"Welcome");
    // The SMSC delivers each part packed, the fill bit after the header,
    // and the handset reads the whole welcome back.
    let delivered = texts::part_of(&parts[0]).unwrap().unwrap();
    assert_eq!((delivered.tp_udl, delivered.tp_ud.len()), (160, 140));
    assert_eq!(delivered.tp_ud[6], b'W' << 1, "one fill bit, then 'W'");
    let whole = smsc.texts();
    assert_eq!(whole.len(), 1, "{whole:?}");
    assert_eq!(
        (whole[0].text.as_str(), whole[0].parts),
        (welcome.as_str(), 2)
    );
}

#[derive(QueryableByName)]
struct SqlitePlan {
    #[diesel(sql_type = Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PgPlan {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    line: String,
}

/// The plan the backend picks for `sql`, one line a step.
fn plan(c: &mut DbConnection, sql: &str) -> String {
    match c {
        DbConnection::Sqlite(s) => diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load::<SqlitePlan>(s)
            .unwrap()
            .into_iter()
            .map(|p| p.detail)
            .collect::<Vec<_>>()
            .join("\n"),
        DbConnection::Postgres(p) => diesel::sql_query(format!("EXPLAIN {sql}"))
            .load::<PgPlan>(p)
            .unwrap()
            .into_iter()
            .map(|p| p.line)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[tokio::test]
async fn a_lines_sessions_and_the_unsealed_outbox_rows_are_read_through_indexes() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let p: Value = app
        .api(Method::POST, "/profiles", &token)
        .json(&profile_json(MDN))
        .send_json()
        .await;
    let pid = p["id"].as_i64().unwrap();
    let plans = app
        .with_conn(move |c| {
            // A large outbox: 20,000 messages, a tenth of them bootstraps,
            // all but twenty of which have their masked copy; and 20,000
            // IOTA sessions, five of them the line's.
            let (series, blob) = match c {
                DbConnection::Sqlite(_) => (
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) SELECT {} FROM n",
                    "x'00'",
                ),
                DbConnection::Postgres(_) => (
                    "SELECT {} FROM generate_series(1, 20000) AS n(i)",
                    "decode('00', 'hex')",
                ),
            };
            let outbox_rows = format!(
                "CASE WHEN i % 10 = 0 THEN 'cp_bootstrap' ELSE 'text' END, '{MDN}', {blob}, 0, 'delivered', 0, 'test', 0, 0, \
                 CASE WHEN i % 1000 = 0 THEN NULL WHEN i % 10 = 0 THEN {blob} ELSE NULL END"
            );
            diesel::sql_query(format!(
                "INSERT INTO outbox (kind, mdn, payload, data_coding, state, next_attempt_at, created_by, created_at, updated_at, payload_view) {}",
                series.replace("{}", &outbox_rows)
            ))
            .execute(c)
            .unwrap();
            let session_rows = format!(
                "'t' || i, 'one_button', 'completed', 'done', CASE WHEN i % 4000 = 0 THEN {pid} ELSE NULL END, 0, 0"
            );
            diesel::sql_query(format!(
                "INSERT INTO iota_sessions (token, flow, state, step, profile_id, created_at, updated_at) {}",
                series.replace("{}", &session_rows)
            ))
            .execute(c)
            .unwrap();
            diesel::sql_query("ANALYZE").execute(c).unwrap();
            // The start-up scan, as `outbox::seal_stored_payloads` writes it,
            // and a line's sessions as `iota::session::search` reads them.
            let scan = plan(
                c,
                &format!(
                    "SELECT * FROM outbox WHERE outbox.id > 0 AND {} ORDER BY outbox.id LIMIT 200",
                    mdm::messaging::outbox::UNSEALED_SECRETS
                ),
            );
            let line = plan(
                c,
                &format!(
                    "SELECT * FROM iota_sessions WHERE iota_sessions.profile_id = {pid} ORDER BY iota_sessions.id DESC LIMIT 101"
                ),
            );
            (scan, line)
        })
        .await;
    let (scan, line) = plans;
    assert!(scan.contains("outbox_unsealed_secrets"), "{scan}");
    assert!(line.contains("iota_sessions_profile"), "{line}");
    println!("outbox scan:\n{scan}\nline's sessions:\n{line}");

    // The scan still finds what it must seal.
    let vault = app.vault.clone();
    let sealed = app
        .with_conn(move |c| mdm::messaging::outbox::seal_stored_payloads(c, &vault).unwrap())
        .await;
    assert_eq!(sealed, 20, "the twenty delivered bootstraps without a copy");
}
