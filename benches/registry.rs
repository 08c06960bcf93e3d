//! Registry benchmark: loads 1,000,000 profiles with devices, then prints
//! p50/p99 latency of exact lookups by ESN, MEID and MDN and of the first
//! page of a make/model list.
//!
//! SQLite (a temp file) by default; PostgreSQL when MDM_BENCH_DATABASE_URL
//! names a server database to create a scratch database in. The row count
//! can be changed with MDM_BENCH_ROWS.
//!
//!     cargo bench --bench registry
//!     MDM_BENCH_DATABASE_URL=postgres://mdm:mdm@127.0.0.1/postgres cargo bench --bench registry

#[path = "support/mod.rs"]
mod support;

use std::time::Instant;

use mdm::db::Db;
use mdm::registry::device::{self, DeviceQuery};
use mdm::registry::identifiers::Mdn;
use mdm::registry::lookup::{self, DeviceKey};
use support::{esn, load, mdn, meid, model_of, percentile};

fn measure(name: &str, samples: usize, mut f: impl FnMut(u64)) {
    let mut rng: u64 = 0x1234_5678;
    // Warm the cache a little, as a running server would be.
    for _ in 0..50 {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        f(rng >> 20);
    }
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let t = Instant::now();
        f(rng >> 20);
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{name:<34} p50 {:>7.3} ms   p99 {:>7.3} ms   ({samples} samples)",
        percentile(&times, 0.50),
        percentile(&times, 0.99)
    );
}

fn main() {
    // `cargo test --benches` runs bench targets with --bench absent; do nothing then.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let rows: u64 = support::env_or("MDM_BENCH_ROWS", 1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, cleanup) = support::scratch_database(dir.path(), "mdm_bench");
    let db = Db::connect(&url, 2).expect("database");
    db.migrate().expect("migrations");
    println!(
        "registry benchmark on {} with {rows} profiles and {rows} devices",
        db.backend().name()
    );
    let mut conn = db.get().expect("connection");
    load(&mut conn, rows);

    let samples = 2000;
    measure("lookup by ESN", samples, |r| {
        let n = (r % rows) & !1;
        let d = lookup::find(&mut conn, &DeviceKey::Esn(esn(n))).expect("ESN lookup");
        assert_eq!(d.profile_id, Some(n as i64 + 1));
    });
    measure("lookup by MEID", samples, |r| {
        let n = (r % rows) | 1;
        if n >= rows {
            return;
        }
        lookup::find(&mut conn, &DeviceKey::Meid(meid(n))).expect("MEID lookup");
    });
    measure("lookup by MDN", samples, |r| {
        let n = r % rows;
        let d = lookup::find(
            &mut conn,
            &DeviceKey::Mdn(Mdn::parse(&mdn(n)).expect("MDN")),
        )
        .expect("MDN lookup");
        assert_eq!(d.profile_id, Some(n as i64 + 1));
    });
    measure("first page of a make/model list", 500, |r| {
        let (make, model) = model_of(r % 1000);
        let q = DeviceQuery {
            make: Some(make.into()),
            model: Some(model.into()),
            limit: Some(50),
            ..Default::default()
        };
        let page = device::search(&mut conn, &q).expect("list");
        assert_eq!(page.rows.len(), 50);
    });
    measure("a deep page of a make/model list", 500, |r| {
        let (make, model) = model_of(r % 1000);
        let q = DeviceQuery {
            make: Some(make.into()),
            model: Some(model.into()),
            limit: Some(50),
            after: Some((rows / 2) as i64),
            ..Default::default()
        };
        device::search(&mut conn, &q).expect("list");
    });
    drop(conn);
    drop(db);
    support::drop_scratch(cleanup);
}
