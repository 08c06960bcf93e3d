//! Purge benchmark: 1,000,000 deactivated subscribers (each with a device)
//! archived to the offline store and deleted. Prints the time and the archive
//! size. MDM_BENCH_ROWS changes the count; MDM_BENCH_DATABASE_URL runs it on
//! PostgreSQL.
//!
//!     cargo bench --bench purge

#[path = "support/mod.rs"]
mod support;

use std::time::Instant;

use diesel::connection::SimpleConnection;
use mdm::db::Db;
use mdm::retention::purge::{self, PurgeOptions};

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let rows: u64 = support::env_or("MDM_BENCH_ROWS", 1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, cleanup) = support::scratch_database(dir.path(), "mdm_purge_bench");
    let db = Db::connect(&url, 2).expect("database");
    db.migrate().expect("migrations");
    println!(
        "purge benchmark on {} with {rows} deactivated subscribers",
        db.backend().name()
    );
    {
        let mut conn = db.get().expect("connection");
        support::load(&mut conn, rows);
        conn.batch_execute(
            "UPDATE profiles SET activation_state = 'deactivated', state_changed_at = 0",
        )
        .expect("deactivate");
    }
    let root = dir.path().join("archive");
    let opts = PurgeOptions::new(0, &root);
    let started = Instant::now();
    let mut last = 0;
    let run = purge::run(&db, "bench", &opts, &mut |r| {
        if r.profiles - last >= 200_000 {
            last = r.profiles;
            eprintln!(
                "  {} of {} archived ({:.0} s)",
                r.profiles,
                r.eligible,
                started.elapsed().as_secs_f64()
            );
        }
    })
    .expect("purge")
    .expect("deactivated subscribers to purge");
    let elapsed = started.elapsed();
    let manifest = mdm::retention::archive::read_manifest(&root, run.id).expect("manifest");
    let bytes: u64 = manifest.segments.iter().map(|s| s.bytes).sum();
    println!(
        "purged                {} subscribers, {} devices",
        run.profiles, run.devices
    );
    println!("time                  {:.1} s", elapsed.as_secs_f64());
    println!(
        "throughput            {:.0} subscribers/s",
        run.profiles as f64 / elapsed.as_secs_f64()
    );
    println!(
        "archive size          {:.1} MiB in {} segment(s)",
        bytes as f64 / 1_048_576.0,
        manifest.segments.len()
    );
    drop(db);
    support::drop_scratch(cleanup);
}
