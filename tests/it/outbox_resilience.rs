//! The outbox sends each message once: a backlog larger than the link lets
//! out within a claim, a link slower than the claim time, outcomes the
//! database would not take for longer than a claim, and the claims of a
//! node's predecessor after a restart.

use std::collections::HashMap;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use mdm::db::now_ms;
use mdm::db::schema::outbox;
use mdm::messaging::outbox::{Kind, NewMessage};
use mdm::messaging::smpp::{SmscConfig, TestSmsc};
use mdm::registry::identifiers::Mdn;
use mdm::retention::lease;

use crate::common::{spawn_app, spawn_app_with, TestApp};
use crate::messaging::{smsc_config, start_smsc};

fn mdn(i: usize) -> String {
    format!("31255{:05}", 10_000 + i)
}

/// Queues `n` texts to `n` handsets; returns their MDNs.
async fn queue_texts(app: &TestApp, n: usize) -> Vec<String> {
    let mdns: Vec<String> = (0..n).map(mdn).collect();
    let to = mdns.clone();
    // In one transaction: a sender claims them together.
    app.with_conn(move |c| {
        mdm::db::write(c, |c| -> diesel::QueryResult<()> {
            for m in &to {
                let msg = NewMessage {
                    kind: Kind::Text,
                    device_id: None,
                    mdn: Mdn::parse(m).unwrap(),
                    payload: format!("Hello {m}").into_bytes(),
                    wdp_port: None,
                    summary: "resilience".into(),
                };
                mdm::messaging::outbox::queue(c, &msg, "test", 8)?;
            }
            Ok(())
        })
        .unwrap()
    })
    .await;
    mdns
}

/// (id, mdn, state, attempts, smsc message id, claimed_by, claimed_until)
type Row = (
    i64,
    String,
    String,
    i32,
    Option<String>,
    Option<String>,
    Option<i64>,
);

async fn rows(app: &TestApp) -> Vec<Row> {
    app.with_conn(|c| {
        outbox::table
            .order(outbox::id)
            .select((
                outbox::id,
                outbox::mdn,
                outbox::state,
                outbox::attempts,
                outbox::smsc_message_id,
                outbox::claimed_by,
                outbox::claimed_until,
            ))
            .load(c)
            .unwrap()
    })
    .await
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1_200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn all_in(app: &TestApp, states: &[&str]) -> bool {
    rows(app)
        .await
        .iter()
        .all(|r| states.contains(&r.2.as_str()))
}

/// How many submit_sm the SMSC accepted for each destination.
fn sent_to(smsc: &TestSmsc) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for s in smsc.accepted() {
        *n.entry(s.destination_addr.clone()).or_insert(0) += 1;
    }
    n
}

fn assert_each_sent_once(smsc: &TestSmsc, mdns: &[String]) {
    let sent = sent_to(smsc);
    let twice: Vec<_> = sent.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    assert_eq!(sent.len(), mdns.len());
    assert_eq!(smsc.accepted().len(), mdns.len());
}

fn fast(smsc: &TestSmsc, claim: Duration) -> SmscConfig {
    let mut c = smsc_config(smsc);
    c.claim_time = claim;
    c
}

#[tokio::test]
async fn a_backlog_larger_than_the_rate_lets_out_within_a_claim_goes_out_once() {
    let smsc = start_smsc().await;
    smsc.set_receipts(false);
    // 50 a second for 2 seconds: 100 messages a claim, per node.
    let mut sc = fast(&smsc, Duration::from_secs(2));
    sc.rate_limit_per_sec = Some(50);
    let second = sc.clone();
    let app = spawn_app_with(move |c| c.smsc = Some(sc)).await;
    let node = app
        .second_node(move |c| c.smsc = Some(second))
        .await
        .unwrap();
    let mdns = queue_texts(&app, 300).await;
    wait_for("every message submitted", || {
        all_in(&app, &["submitted", "delivered"])
    })
    .await;
    assert_each_sent_once(&smsc, &mdns);
    for r in rows(&app).await {
        assert_eq!(r.3, 1, "{r:?}");
    }
    drop(node);
}

#[tokio::test]
async fn rows_waiting_longer_than_their_claim_for_a_slow_link_go_out_once() {
    let smsc = start_smsc().await;
    smsc.set_receipts(false);
    // One outstanding submit, answered after 250 ms: a claim of a second
    // covers four of the twelve rows claimed together.
    smsc.set_response_delay(Duration::from_millis(250));
    let mut sc = fast(&smsc, Duration::from_secs(1));
    sc.window = 1;
    let app = spawn_app_with(move |c| c.smsc = Some(sc)).await;
    let mdns = queue_texts(&app, 12).await;
    wait_for("every message submitted", || {
        all_in(&app, &["submitted", "delivered"])
    })
    .await;
    assert_each_sent_once(&smsc, &mdns);
    for r in rows(&app).await {
        assert_eq!(r.3, 1, "{r:?}");
    }
}

fn is_postgres(app: &TestApp) -> bool {
    app.database_url.starts_with("postgres")
}

/// Makes every write to a claimed row fail (outcomes, claim renewals, a
/// claim taking it over), as a database that went away would.
async fn fail_writes_of_claimed_rows(app: &TestApp) {
    let sql = if is_postgres(app) {
        "CREATE FUNCTION outbox_unavailable() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'outbox unavailable'; END $$; \
         CREATE TRIGGER outbox_unavailable BEFORE UPDATE ON outbox FOR EACH ROW \
         WHEN (OLD.state = 'sending') EXECUTE FUNCTION outbox_unavailable();"
    } else {
        "CREATE TRIGGER outbox_unavailable BEFORE UPDATE ON outbox \
         WHEN OLD.state = 'sending' BEGIN SELECT RAISE(ABORT, 'outbox unavailable'); END;"
    };
    app.with_conn(move |c| c.batch_execute(sql).unwrap()).await;
}

async fn writes_work_again(app: &TestApp) {
    app.with_conn(|c| {
        c.batch_execute("DROP TRIGGER IF EXISTS outbox_unavailable ON outbox")
            .or_else(|_| c.batch_execute("DROP TRIGGER IF EXISTS outbox_unavailable"))
            .unwrap()
    })
    .await;
}

#[tokio::test]
async fn outcomes_the_database_would_not_take_are_recorded_later_and_nothing_goes_twice() {
    let smsc = start_smsc().await;
    let sc = fast(&smsc, Duration::from_secs(1));
    let app = spawn_app_with(move |c| c.smsc = Some(sc)).await;
    fail_writes_of_claimed_rows(&app).await;
    let mdns = queue_texts(&app, 20).await;
    assert!(smsc.wait_for_accepted(20, Duration::from_secs(30)).await);
    // The outcomes are not written and the claims run out meanwhile.
    wait_for("the claims to run out", || async {
        let now = now_ms();
        rows(&app)
            .await
            .iter()
            .all(|r| r.2 == "sending" && r.6.is_some_and(|until| until < now))
    })
    .await;
    for r in rows(&app).await {
        // The claim names its holder: this process.
        let holder = r.5.clone().unwrap();
        assert!(
            holder.starts_with(&format!("{}#", lease::this_process())),
            "{holder}"
        );
    }
    writes_work_again(&app).await;
    // Recorded as the SMSC took them, receipts included.
    wait_for("every message delivered", || all_in(&app, &["delivered"])).await;
    assert_each_sent_once(&smsc, &mdns);
    let ids: HashMap<String, String> = smsc
        .accepted()
        .into_iter()
        .map(|s| (s.destination_addr, s.message_id))
        .collect();
    for r in rows(&app).await {
        assert_eq!(r.3, 1, "{r:?}");
        assert_eq!(r.4.as_deref(), ids.get(&r.1).map(String::as_str), "{r:?}");
        assert_eq!((r.5.as_deref(), r.6), (None, None), "{r:?}");
    }
}

#[tokio::test]
async fn a_restarted_node_sends_at_once_what_its_stopped_predecessor_had_claimed() {
    if !std::path::Path::new("/proc/sys/kernel/random/boot_id").exists() {
        return; // a stopped process cannot be told from a live one
    }
    // The messages were queued and claimed by the node's previous process:
    // this host's server, the same pid started at another moment.
    let app = spawn_app().await;
    let mdns = queue_texts(&app, 4).await;
    let me = lease::this_process();
    let (rest, _) = me.rsplit_once(':').unwrap();
    let dead = format!("{rest}:1#0badc0de");
    let elsewhere = "another-host:boot:7:42#00c0ffee".to_string();
    let far = now_ms() + 3_600_000;
    let ids: Vec<i64> = rows(&app).await.iter().map(|r| r.0).collect();
    let (of_dead, of_live) = (ids[..3].to_vec(), ids[3]);
    let (d, e) = (dead.clone(), elsewhere.clone());
    app.with_conn(move |c| {
        diesel::update(outbox::table.filter(outbox::id.eq_any(&of_dead)))
            .set((
                outbox::state.eq("sending"),
                outbox::claimed_by.eq(d),
                outbox::claimed_until.eq(far),
                outbox::attempts.eq(1),
            ))
            .execute(c)
            .unwrap();
        diesel::update(outbox::table.find(of_live))
            .set((
                outbox::state.eq("sending"),
                outbox::claimed_by.eq(e),
                outbox::claimed_until.eq(far),
                outbox::attempts.eq(1),
            ))
            .execute(c)
            .unwrap();
    })
    .await;

    let smsc = start_smsc().await;
    let sc = smsc_config(&smsc);
    let node = app.second_node(move |c| c.smsc = Some(sc)).await.unwrap();
    wait_for("the predecessor's messages submitted", || async {
        rows(&app)
            .await
            .iter()
            .filter(|r| r.0 != of_live)
            .all(|r| r.2 == "submitted" || r.2 == "delivered")
    })
    .await;
    assert_each_sent_once(&smsc, &mdns[..3]);
    // A claim a process elsewhere holds is not this node's to judge.
    let live = rows(&app)
        .await
        .into_iter()
        .find(|r| r.0 == of_live)
        .unwrap();
    assert_eq!(live.2, "sending");
    assert_eq!(live.5.as_deref(), Some(elsewhere.as_str()));
    assert_eq!(live.6, Some(far));
    for r in rows(&app).await.iter().filter(|r| r.0 != of_live) {
        // The dead holder's attempt counts: it may have sent the message.
        assert_eq!(r.3, 2, "{r:?}");
    }
    drop(node);
}
