//! FOTA campaign benchmark: one campaign over every device of a 1,000,000
//! device registry (all on one update path). Prints the time to plan it
//! (the population fixed in waves), to read its progress (the campaign
//! page's query), the rate a wave's notifications are queued at, and what a
//! tick costs that records a wave's finished updates and sends the next, and
//! one that gives up on a wave of handsets that never answered.
//! MDM_BENCH_ROWS changes the registry, MDM_BENCH_WAVE the wave size (default
//! 10,000); MDM_BENCH_DATABASE_URL runs it on PostgreSQL.
//!
//!     cargo bench --bench campaign

#[path = "support/mod.rs"]
mod support;

use std::time::Instant;

use diesel::connection::SimpleConnection;
use mdm::db::Db;
use mdm::fota::campaign::{self, Action, Plan};
use mdm::fota::campaign_run;
use mdm::registry::Actor;
use mdm::secrets::Vault;

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let rows = support::env_or("MDM_BENCH_ROWS", 1_000_000u64);
    let wave = support::env_or("MDM_BENCH_WAVE", 10_000u64).min(rows);
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, cleanup) = support::scratch_database(dir.path(), "mdm_campaign_bench");
    let db = Db::connect(&url, 2).expect("database");
    db.migrate().expect("migrations");
    println!(
        "campaign benchmark on {} with {rows} devices on one path, waves of {wave}",
        db.backend().name()
    );
    let actor = Actor::System("bench");
    let vault = Vault::from_key(&[7u8; 32]);
    let mut conn = db.get().expect("connection");
    support::load(&mut conn, rows);
    conn.batch_execute(
        "UPDATE devices SET make = 'LG', model = 'VX9600', firmware_version = '1.0'",
    )
    .expect("one path");
    support::fota_capability(&mut conn, "LG", "VX9600");
    let draft = mdm::firmware::package::PackageDraft {
        name: None,
        make: Some("LG".into()),
        model: Some("VX9600".into()),
        from_version: Some("1.0".into()),
        to_version: Some("2.0".into()),
        release_notes: Some("Campaign bench".into()),
        mandatory: Some(false),
    };
    let image: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    mdm::web::firmware::add_from_file(&db, dir.path(), &actor, &draft, &image, true, 1 << 20)
        .expect("package");
    // The first three waves can be notified: they have DM credentials.
    let started = Instant::now();
    for id in 1..=(3 * wave) as i64 {
        mdm::omadm::account::set(
            &mut conn,
            &vault,
            &actor,
            id,
            &mdm::omadm::account::Credentials {
                server_id: "mdm",
                client_username: &format!("device-{id}"),
                client_password: "device-secret",
                server_password: "server-secret",
            },
        )
        .expect("credentials");
    }
    eprintln!(
        "  credentials for {} devices in {:.1} s",
        3 * wave,
        started.elapsed().as_secs_f64()
    );
    support::settle(&mut conn);

    let started = Instant::now();
    let plan = Plan {
        name: "bench".into(),
        make: "LG".into(),
        model: "VX9600".into(),
        from_version: "1.0".into(),
        first_wave_size: None,
        wave_size: wave as i32,
        failure_threshold: 10,
        ..Default::default()
    };
    let c = campaign::create(&mut conn, &actor, &plan).expect("plan");
    let planned = started.elapsed();
    println!(
        "plan                  {:.2} s for {} devices in {} waves ({:.0} devices/s)",
        planned.as_secs_f64(),
        c.devices,
        c.waves,
        c.devices as f64 / planned.as_secs_f64()
    );

    let mut reads = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        campaign::progress(&mut conn, &c).expect("progress");
        reads.push(t.elapsed());
    }
    reads.sort();
    println!(
        "progress read         {:.0} ms (median of 5; the campaign page and API)",
        support::percentile(&reads, 0.5)
    );

    campaign::act(&mut conn, &actor, c.id, Action::Start).expect("start");
    let started = Instant::now();
    let first = campaign_run::tick(&mut conn, &vault, 8).expect("first wave");
    let sent = started.elapsed();
    println!(
        "first wave            {} notifications queued in {:.1} s ({:.0}/s)",
        first.notified,
        sent.as_secs_f64(),
        first.notified as f64 / sent.as_secs_f64()
    );

    let started = Instant::now();
    let idle = campaign_run::tick(&mut conn, &vault, 8).expect("idle tick");
    println!(
        "tick, wave open       {:.0} ms (nothing finished: {} settled)",
        started.elapsed().as_secs_f64() * 1000.0,
        idle.settled
    );

    // Every handset of the wave reports success at once.
    conn.batch_execute(
        "UPDATE fota_sessions SET state = 'succeeded', to_version = '2.0' WHERE state = 'pending'",
    )
    .expect("wave finished");
    let started = Instant::now();
    let next = campaign_run::tick(&mut conn, &vault, 8).expect("next wave");
    let took = started.elapsed();
    println!(
        "tick, wave over       {:.1} s: {} outcomes recorded, next wave {} notified ({:.0} devices/s)",
        took.as_secs_f64(),
        next.settled,
        next.notified,
        (next.settled + next.notified) as f64 / took.as_secs_f64()
    );

    // Wave 2's handsets are all switched off: the SMSC took every
    // notification an answer time ago, and nobody called back.
    conn.batch_execute(&format!(
        "UPDATE outbox SET state = 'submitted', submitted_at = {}",
        mdm::db::now_ms() - 25 * 60 * 60 * 1000
    ))
    .expect("notifications sent a day ago");
    let started = Instant::now();
    let silent = campaign_run::tick(&mut conn, &vault, 8).expect("unanswered wave");
    let took = started.elapsed();
    println!(
        "tick, wave unanswered {:.1} s: {} devices unanswered, next wave {} notified ({:.0} devices/s)",
        took.as_secs_f64(),
        silent.unanswered,
        silent.notified,
        (silent.unanswered + silent.notified) as f64 / took.as_secs_f64()
    );
    drop(conn);
    drop(db);
    support::drop_scratch(cleanup);
}
