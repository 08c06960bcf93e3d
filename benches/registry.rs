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

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use mdm::db::schema::{devices, profiles};
use mdm::db::{Db, DbConnection};
use mdm::registry::device::{self, DeviceQuery};
use mdm::registry::identifiers::{Esn, Mdn, Meid};
use mdm::registry::lookup::{self, DeviceKey};

const MAKES: &[(&str, &[&str])] = &[
    ("Samsung", &["SCH-U350", "SCH-U960", "SCH-R500"]),
    ("LG", &["VX8360", "VX9600", "VX5500"]),
    ("Motorola", &["RAZR V3m", "W755", "Krave"]),
    ("Kyocera", &["K127", "S1300"]),
    ("HTC", &["Touch Pro", "Mogul"]),
];

#[derive(Insertable)]
#[diesel(table_name = profiles)]
struct P {
    mdn: String,
    min: String,
    account_id: String,
    subscriber_name: String,
    activation_state: &'static str,
    state_changed_at: i64,
    created_at: i64,
    updated_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = devices)]
struct D {
    esn: Option<String>,
    meid: Option<String>,
    pesn: Option<String>,
    make: &'static str,
    model: &'static str,
    firmware_version: String,
    profile_id: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

fn mdn(i: u64) -> String {
    format!("{}{:07}", 200 + (i / 10_000_000), i % 10_000_000)
}

fn esn(i: u64) -> Esn {
    Esn::from_u32(0x9F00_0000 | (i as u32 & 0x00FF_FFFF))
}

fn meid(i: u64) -> Meid {
    Meid::from_u64((0xA1_u64 << 48) | (0x0000_1234_u64 << 24) | (i & 0x00FF_FFFF))
        .expect("56-bit MEID")
}

fn model_of(i: u64) -> (&'static str, &'static str) {
    let (make, models) = MAKES[(i % MAKES.len() as u64) as usize];
    (make, models[((i / 7) % models.len() as u64) as usize])
}

fn load(conn: &mut DbConnection, rows: u64) {
    let now = mdm::db::now_ms();
    let batch = 1000;
    let started = Instant::now();
    let mut i = 0;
    while i < rows {
        let end = (i + batch).min(rows);
        conn.transaction(|c| -> QueryResult<()> {
            let ps: Vec<P> = (i..end)
                .map(|n| P {
                    mdn: mdn(n),
                    min: mdn(n),
                    account_id: format!("ACC{n:09}"),
                    subscriber_name: format!("Subscriber {n}"),
                    activation_state: if n % 10 == 0 { "pending" } else { "activated" },
                    state_changed_at: now,
                    created_at: now,
                    updated_at: now,
                })
                .collect();
            // Multi-row inserts need the concrete backend.
            match c {
                DbConnection::Sqlite(s) => diesel::insert_into(profiles::table)
                    .values(&ps)
                    .execute(s)?,
                DbConnection::Postgres(p) => diesel::insert_into(profiles::table)
                    .values(&ps)
                    .execute(p)?,
            };
            let ds: Vec<D> = (i..end)
                .map(|n| {
                    let (make, model) = model_of(n);
                    let (e, m) = if n % 2 == 0 {
                        (Some(esn(n).to_hex()), None)
                    } else {
                        (None, Some(meid(n)))
                    };
                    D {
                        esn: e,
                        meid: m.map(|m| m.to_hex()),
                        pesn: m.map(|m| m.pseudo_esn().to_hex()),
                        make,
                        model,
                        firmware_version: format!("{}.{}", 1 + n % 3, n % 5),
                        // Fresh database: profile n has id n + 1.
                        profile_id: Some(n as i64 + 1),
                        created_at: now,
                        updated_at: now,
                    }
                })
                .collect();
            match c {
                DbConnection::Sqlite(s) => {
                    diesel::insert_into(devices::table).values(&ds).execute(s)?
                }
                DbConnection::Postgres(p) => {
                    diesel::insert_into(devices::table).values(&ds).execute(p)?
                }
            };
            Ok(())
        })
        .expect("bulk load");
        i = end;
        if i % 100_000 == 0 {
            eprintln!(
                "  loaded {i}/{rows} ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    if let DbConnection::Postgres(_) = conn {
        conn.batch_execute("ANALYZE profiles; ANALYZE devices;")
            .expect("analyze");
    } else {
        conn.batch_execute("ANALYZE;").expect("analyze");
    }
    eprintln!(
        "  loaded {rows} profiles and {rows} devices in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

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
    let rows: u64 = std::env::var("MDM_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, cleanup) = match std::env::var("MDM_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(admin) => {
            let name = format!("mdm_bench_{}", std::process::id());
            let mut c =
                diesel::PgConnection::establish(&admin).expect("connect to MDM_BENCH_DATABASE_URL");
            c.batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .expect("create bench database");
            let mut u = url::Url::parse(&admin).expect("URL");
            u.set_path(&format!("/{name}"));
            (u.to_string(), Some((admin, name)))
        }
        None => (
            dir.path().join("bench.db").to_string_lossy().into_owned(),
            None,
        ),
    };
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
    if let Some((admin, name)) = cleanup {
        if let Ok(mut c) = diesel::PgConnection::establish(&admin) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
}
