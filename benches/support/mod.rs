//! Shared by the benchmarks: a bulk loader for a million-row registry and
//! a scratch database on SQLite or PostgreSQL.

#![allow(dead_code)]

use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use mdm::db::schema::{devices, profiles};
use mdm::db::DbConnection;
use mdm::registry::identifiers::{Esn, Meid};

/// An environment variable's value, or `default` when unset or unreadable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Enters a make and model in the capability registry as taking FOTA over
/// OMA-DM, as the benchmarks' handsets do.
pub fn fota_capability(conn: &mut DbConnection, make: &str, model: &str) {
    use mdm::db::schema::capabilities;
    let now = mdm::db::now_ms();
    diesel::insert_into(capabilities::table)
        .values((
            capabilities::make.eq(make),
            capabilities::model.eq(model),
            capabilities::protocol.eq("omadm"),
            capabilities::fota.eq(true),
            capabilities::brew.eq(false),
            capabilities::features.eq(""),
            capabilities::created_at.eq(now),
            capabilities::updated_at.eq(now),
        ))
        .execute(conn)
        .expect("capability");
}

pub const MAKES: &[(&str, &[&str])] = &[
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

pub fn mdn(i: u64) -> String {
    format!("{}{:07}", 200 + (i / 10_000_000), i % 10_000_000)
}

pub fn esn(i: u64) -> Esn {
    Esn::from_u32(0x9F00_0000 | (i as u32 & 0x00FF_FFFF))
}

pub fn meid(i: u64) -> Meid {
    Meid::from_u64((0xA1_u64 << 48) | (0x0000_1234_u64 << 24) | (i & 0x00FF_FFFF))
        .expect("56-bit MEID")
}

pub fn model_of(i: u64) -> (&'static str, &'static str) {
    let (make, models) = MAKES[(i % MAKES.len() as u64) as usize];
    (make, models[((i / 7) % models.len() as u64) as usize])
}

pub fn load(conn: &mut DbConnection, rows: u64) {
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

/// Lets the database finish the bulk load's aftermath before a run is
/// timed: on PostgreSQL a vacuum (so autovacuum does not start mid-run) and
/// a checkpoint (so the load's dirty pages are not written out during it);
/// on SQLite a WAL checkpoint.
pub fn settle(conn: &mut DbConnection) {
    let sql = match conn {
        DbConnection::Postgres(_) => "VACUUM ANALYZE",
        DbConnection::Sqlite(_) => "PRAGMA wal_checkpoint(TRUNCATE)",
    };
    conn.batch_execute(sql).expect("settle after the load");
    if let DbConnection::Postgres(_) = conn {
        // CHECKPOINT needs a superuser or pg_checkpoint; without it the run
        // goes on and the background writer does the work.
        if let Err(e) = conn.batch_execute("CHECKPOINT") {
            eprintln!("  no checkpoint before the run ({e})");
        }
    }
}

/// A scratch database: a SQLite file in `dir`, or a new PostgreSQL database
/// when MDM_BENCH_DATABASE_URL names a server. Returns the URL and what to drop.
pub fn scratch_database(dir: &std::path::Path, prefix: &str) -> (String, Option<(String, String)>) {
    match std::env::var("MDM_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(admin) => {
            let name = format!("{prefix}_{}", std::process::id());
            let mut c =
                diesel::PgConnection::establish(&admin).expect("connect to MDM_BENCH_DATABASE_URL");
            c.batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .expect("create bench database");
            let mut u = url::Url::parse(&admin).expect("URL");
            u.set_path(&format!("/{name}"));
            (u.to_string(), Some((admin, name)))
        }
        None => (
            dir.join(format!("{prefix}.db"))
                .to_string_lossy()
                .into_owned(),
            None,
        ),
    }
}

pub fn drop_scratch(cleanup: Option<(String, String)>) {
    if let Some((admin, name)) = cleanup {
        if let Ok(mut c) = diesel::PgConnection::establish(&admin) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
}

pub fn percentile(sorted: &[std::time::Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}
