//! Registry benchmark: loads 1,000,000 profiles with devices, then prints
//! p50/p99 latency of exact lookups by ESN, MEID and MDN, of the first
//! page of a make/model list, and of the capped match count the device
//! search shows beside its page.
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
    // One handset in ten waits for its activation, so a state filter has
    // both a rare and a common value to count.
    {
        use diesel::connection::SimpleConnection;
        conn.batch_execute("UPDATE devices SET activation_state = 'pending' WHERE id % 10 = 3")
            .expect("pending handsets");
        // A server's autovacuum would have cleaned up after the load and
        // the update by then; without it every index scan visits the heap.
        if db.backend() == mdm::db::Backend::Postgres {
            conn.batch_execute("VACUUM (ANALYZE) profiles, devices")
                .expect("vacuum");
        }
    }

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
    measure("count of the whole registry", 200, |_| {
        let n =
            device::count(&mut conn, &DeviceQuery::default(), device::COUNT_CAP).expect("count");
        assert!(n.more || rows <= device::COUNT_CAP as u64);
    });
    measure("count of a make/model", 500, |r| {
        let (make, model) = model_of(r % 1000);
        let q = DeviceQuery {
            make: Some(make.into()),
            model: Some(model.into()),
            ..Default::default()
        };
        device::count(&mut conn, &q, device::COUNT_CAP).expect("count");
    });
    measure("count of pending handsets", 200, |_| {
        let q = DeviceQuery {
            state: Some("pending".into()),
            ..Default::default()
        };
        device::count(&mut conn, &q, device::COUNT_CAP).expect("count");
    });
    measure("first page of pending handsets", 500, |_| {
        let q = DeviceQuery {
            state: Some("pending".into()),
            limit: Some(50),
            ..Default::default()
        };
        let page = device::search(&mut conn, &q).expect("list");
        assert_eq!(page.rows.len(), 50);
    });
    measure("count of a model's pending handsets", 500, |r| {
        let (make, model) = model_of(r % 1000);
        let q = DeviceQuery {
            make: Some(make.into()),
            model: Some(model.into()),
            state: Some("pending".into()),
            ..Default::default()
        };
        device::count(&mut conn, &q, device::COUNT_CAP).expect("count");
    });
    // The portal's search: the count, then the page. One make in five has
    // pending handsets (half of its own), so the other makes' models have
    // none, the sparsest case.
    measure("portal page of a model's pending", 500, |r| {
        let (make, model) = model_of(r % 1000);
        let q = DeviceQuery {
            make: Some(make.into()),
            model: Some(model.into()),
            state: Some("pending".into()),
            limit: Some(50),
            ..Default::default()
        };
        device::search_counted(&mut conn, &q, device::COUNT_CAP).expect("list");
    });
    // The same page without the count (the API's and the export's).
    measure("page alone of a model's pending", 100, |r| {
        let (make, model) = model_of(r % 1000);
        let q = DeviceQuery {
            make: Some(make.into()),
            model: Some(model.into()),
            state: Some("pending".into()),
            limit: Some(50),
            ..Default::default()
        };
        device::search(&mut conn, &q).expect("list");
    });
    measure("portal page of a make/model", 500, |r| {
        let (make, model) = model_of(r % 1000);
        let q = DeviceQuery {
            make: Some(make.into()),
            model: Some(model.into()),
            limit: Some(50),
            ..Default::default()
        };
        let (page, total) = device::search_counted(&mut conn, &q, device::COUNT_CAP).expect("list");
        assert_eq!(page.rows.len(), 50);
        assert!(total.more);
    });
    drop(conn);
    drop(db);
    support::drop_scratch(cleanup);
}
