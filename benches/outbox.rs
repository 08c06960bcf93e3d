//! SMS outbox benchmark: 100,000 OMA-DM notifications queued, then drained
//! through the SMPP link (window 10) to the test SMSC on loopback. Prints
//! submit_sm per second and the time to drain. MDM_BENCH_MESSAGES changes
//! the count, MDM_BENCH_WINDOW the window; MDM_BENCH_DATABASE_URL runs it on
//! PostgreSQL.
//!
//!     cargo bench --bench outbox

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use diesel::prelude::*;
use mdm::db::schema::outbox;
use mdm::db::Db;
use mdm::messaging::codec::notification::UiMode;
use mdm::messaging::content;
use mdm::messaging::inbound::InboundRouter;
use mdm::messaging::sender::{Messaging, SenderOptions};
use mdm::messaging::smpp::test_smsc::{TestSmsc, TestSmscOptions};
use mdm::messaging::smpp::SmscConfig;
use mdm::omadm::account::DmAccount;

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let messages: i64 = support::env_or("MDM_BENCH_MESSAGES", 100_000);
    let window: usize = support::env_or("MDM_BENCH_WINDOW", 10);
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, cleanup) = support::scratch_database(dir.path(), "mdm_outbox_bench");
    let db = Db::connect(&url, 4).expect("database");
    db.migrate().expect("migrations");
    println!(
        "outbox benchmark on {}: {messages} notifications, window {window}",
        db.backend().name()
    );

    let queued = Instant::now();
    {
        let mut conn = db.get().expect("connection");
        let now = mdm::db::now_ms();
        let mut i = 0;
        while i < messages {
            let end = (i + 1_000).min(messages);
            mdm::db::write(&mut conn, |c| -> QueryResult<()> {
                for n in i..end {
                    let acct = DmAccount {
                        device_id: n,
                        server_id: "mdm.operator.example".into(),
                        server_password: "server-secret".into(),
                        client_username: format!("MEID:{n}"),
                        client_password: String::new(),
                        client_nonce: String::new(),
                        server_nonce: "bm9uY2U=".into(),
                        updated_at: now,
                    };
                    let pdu = content::dm_notification(
                        &acct,
                        (n % 65_535 + 1) as u16,
                        UiMode::Background,
                    )
                    .expect("notification");
                    diesel::insert_into(outbox::table)
                        .values((
                            outbox::kind.eq("dm_notification"),
                            outbox::mdn.eq(support::mdn(n as u64)),
                            outbox::payload.eq(pdu),
                            outbox::data_coding.eq(4),
                            outbox::wdp_port.eq(Some(2948)),
                            outbox::summary.eq("benchmark notification"),
                            outbox::state.eq("queued"),
                            outbox::next_attempt_at.eq(now),
                            outbox::created_by.eq("bench"),
                            outbox::created_at.eq(now),
                            outbox::updated_at.eq(now),
                        ))
                        .execute(c)?;
                }
                Ok(())
            })
            .expect("queue");
            i = end;
        }
    }
    println!(
        "queued {messages} in {:.1} s",
        queued.elapsed().as_secs_f64()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let smsc = TestSmsc::start(
            "127.0.0.1:0".parse().expect("address"),
            TestSmscOptions {
                system_id: "mdm".into(),
                password: "bench".into(),
            },
        )
        .await
        .expect("test SMSC");
        let mut config = SmscConfig::from_url(&smsc.url()).expect("url");
        config.window = window;
        let started = Instant::now();
        let sender = Messaging::start(
            db.clone(),
            config,
            SenderOptions::new(8, 10),
            InboundRouter::default(),
        );
        let mut last_report = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let db2 = db.clone();
            let open: i64 = tokio::task::spawn_blocking(move || {
                let mut c = db2.get().expect("connection");
                outbox::table
                    .filter(outbox::state.eq_any(["queued", "sending"]))
                    .count()
                    .get_result(&mut c)
                    .expect("count")
            })
            .await
            .expect("count task");
            if last_report.elapsed() > Duration::from_secs(5) {
                last_report = Instant::now();
                eprintln!(
                    "  {} submitted, {open} still queued ({:.0} s)",
                    smsc.accepted_count(),
                    started.elapsed().as_secs_f64()
                );
            }
            if open == 0 {
                break;
            }
        }
        let drained = started.elapsed();
        let accepted = smsc.accepted_count();
        println!(
            "drained {accepted} submit_sm in {:.2} s: {:.0} submit_sm/s (window {window})",
            drained.as_secs_f64(),
            accepted as f64 / drained.as_secs_f64()
        );
        sender.shutdown().await;
        smsc.stop();
    });
    drop(db);
    support::drop_scratch(cleanup);
}
