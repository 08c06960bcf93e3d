//! FOTA load generator: N simulated OMA-DM handsets run complete
//! client-initiated FOTA sessions (FOTA URL, DM session with md5 auth,
//! make-model-version query, package offer, descriptor, download, install
//! report, final Generic Alert) against the real server, started as its own
//! process on a registry of 1,000,000 devices. Prints sessions per second,
//! per-request p50/p99 and the server's resident memory.
//!
//!     cargo bench --bench fota_load
//!     MDM_BENCH_DATABASE_URL=postgres://mdm:mdm@127.0.0.1/postgres cargo bench --bench fota_load
//!
//! MDM_BENCH_ROWS (default 1,000,000), MDM_BENCH_SESSIONS (default 20,000) and
//! MDM_BENCH_CONCURRENCY (default 64) change the run.

#[path = "support/mod.rs"]
mod support;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use mdm::db::schema::dm_accounts;
use mdm::db::{Db, DbConnection};
use mdm::omadm::syncml::Encoding;
use mdm::registry::Actor;
use mdm::sim::omadm_handset::{FotaOutcome, Handset};
use mdm::sim::trace::Trace;

/// The load generator shares the server's two cores, so every millisecond
/// it spends is one the server does not get; glibc's malloc and free were
/// a quarter of its CPU (its handsets hop between tokio worker threads).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU seconds (user, system) the process has used, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> (f64, f64) {
    let ticks = 100.0; // USER_HZ is 100 on Linux.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are 14 and 15.
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            let u: f64 = rest.get(11)?.parse().ok()?;
            let st: f64 = rest.get(12)?.parse().ok()?;
            Some((u / ticks, st / ticks))
        })
        .unwrap_or((0.0, 0.0))
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Capabilities (OMA-DM, FOTA) for every model and a released full image to
/// version 9.9 for each, so every handset gets an update.
fn prepare(db: &Db, conn: &mut DbConnection, data_dir: &std::path::Path, sessions: u64) {
    let now = mdm::db::now_ms();
    let actor = Actor::System("bench");
    for (make, models) in support::MAKES {
        for model in models.iter() {
            support::fota_capability(conn, make, model);
            let draft = mdm::firmware::package::PackageDraft {
                name: None,
                make: Some(make.to_string()),
                model: Some(model.to_string()),
                from_version: None,
                to_version: Some("9.9".into()),
                release_notes: Some("Load-test image".into()),
                mandatory: Some(false),
            };
            let image: Vec<u8> = (0..4096u32)
                .map(|i| (i % 251) as u8 ^ model.len() as u8)
                .collect();
            mdm::web::firmware::add_from_file(
                db,
                &data_dir.join("blobs"),
                &actor,
                &draft,
                &image,
                true,
                1 << 20,
            )
            .expect("package");
        }
    }
    // DM credentials for the devices the handsets play: every odd row is a MEID device.
    let mut n = 1u64;
    let mut batch = Vec::new();
    while (batch.len() as u64) < sessions {
        batch.push(n);
        n += 2;
    }
    for chunk in batch.chunks(500) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|n| {
                (
                    dm_accounts::device_id.eq(*n as i64 + 1),
                    dm_accounts::server_id.eq("mdm"),
                    dm_accounts::server_password.eq("server-secret"),
                    dm_accounts::client_username.eq(format!("MEID:{}", support::meid(*n).to_hex())),
                    dm_accounts::client_password.eq("device-secret"),
                    dm_accounts::client_nonce.eq(""),
                    dm_accounts::server_nonce.eq(""),
                    dm_accounts::updated_at.eq(now),
                )
            })
            .collect();
        match conn {
            DbConnection::Sqlite(c) => diesel::insert_into(dm_accounts::table)
                .values(&rows)
                .execute(c),
            DbConnection::Postgres(c) => diesel::insert_into(dm_accounts::table)
                .values(&rows)
                .execute(c),
        }
        .expect("accounts");
    }
}

/// A registry of this size has a FOTA history: one finished session for
/// every tenth device, from a campaign three months ago. Without it the
/// tables the run writes start empty, and PostgreSQL keeps the plans it
/// made for empty tables (sequential scans) for the whole run, which no
/// operator's database would show.
fn history(conn: &mut DbConnection) {
    let then = mdm::db::now_ms() - 90 * 24 * 3600 * 1000;
    let sql = format!(
        "INSERT INTO fota_sessions (device_id, protocol, state, from_version, to_version, \
         result_code, created_at, updated_at) \
         SELECT id, 'omadm', CASE WHEN id % 7 = 0 THEN 'failed' ELSE 'succeeded' END, '1.0', '1.1', \
         CASE WHEN id % 7 = 0 THEN 410 ELSE 200 END, {then}, {then} FROM devices WHERE id % 10 = 0"
    );
    let started = Instant::now();
    let n = diesel::sql_query(sql).execute(conn).expect("FOTA history");
    println!(
        "  FOTA history: {n} finished sessions ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
}

/// Runs `count` handsets, the devices after the first `first` the run
/// uses, `concurrency` at a time; returns how many did not complete.
async fn drive(
    base: &str,
    first: u64,
    count: u64,
    concurrency: usize,
    timings: Arc<Mutex<Vec<Duration>>>,
) -> u64 {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let failures = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (base, timings, next, failures) = (
            base.to_string(),
            timings.clone(),
            next.clone(),
            failures.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let trace = Trace::new(None).expect("trace");
            // One client per simulated gateway connection: its
            // connections stay open across the handsets it carries.
            let http = Handset::http_client().expect("http client");
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let n = 1 + 2 * (first + i);
                let (make, model) = support::model_of(n);
                let dev_id = format!("MEID:{}", support::meid(n).to_hex());
                let mut h = Handset {
                    server: base.clone(),
                    fota_path: "/fota/check".into(),
                    dev_id: dev_id.clone(),
                    username: dev_id,
                    password: "device-secret".into(),
                    man: make.into(),
                    model: model.into(),
                    firmware: format!("{}.{}", 1 + n % 3, n % 5),
                    encoding: Encoding::Wbxml,
                    fail: None,
                    gateway_header: Some("x-device-id".into()),
                    timings: Some(timings.clone()),
                    server_password: None,
                    server_nonce: Vec::new(),
                    server_id: None,
                    client_nonce: Default::default(),
                };
                match h.run_fota_with(&http, &trace).await {
                    Ok(FotaOutcome::Updated { .. }) => {}
                    other => {
                        if failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 3 {
                            eprintln!("session {i} did not complete: {other:?}");
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    failures.load(std::sync::atomic::Ordering::Relaxed)
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let env = |k: &str, d: u64| support::env_or(k, d);
    let rows = env("MDM_BENCH_ROWS", 1_000_000);
    // Every odd device plays a handset: the timed ones, then a tenth as
    // many for the warm-up.
    // Enough sessions for the run to last several seconds at over 1,000/s.
    let sessions = env("MDM_BENCH_SESSIONS", 20_000).min(rows * 10 / 22);
    let warmup = sessions / 10;
    let concurrency = env("MDM_BENCH_CONCURRENCY", 64) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let (url, cleanup) = support::scratch_database(dir.path(), "mdm_fota_bench");
    {
        let db = Db::connect(&url, 2).expect("database");
        db.migrate().expect("migrations");
        let mut conn = db.get().expect("connection");
        println!(
            "FOTA load on {} with {rows} devices, {sessions} sessions, {concurrency} at a time",
            db.backend().name()
        );
        support::load(&mut conn, rows);
        prepare(&db, &mut conn, &data_dir, sessions + warmup.max(1));
        history(&mut conn);
        support::settle(&mut conn);
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_mdm"))
        .arg("serve")
        .env("DATABASE_URL", &url)
        .env("MDM_DATA_DIR", &data_dir)
        .env("MDM_BIND", format!("127.0.0.1:{port}"))
        .env("MDM_TRUSTED_GATEWAYS", "127.0.0.1")
        .env("MDM_BOOTSTRAP_ADMIN_PASSWORD", "bench-admin-password")
        .env(
            "MDM_DB_POOL_SIZE",
            std::env::var("MDM_BENCH_POOL").unwrap_or_else(|_| "16".into()),
        )
        .env("MDM_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .expect("start mdm serve");
    let server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let failed = rt.block_on(async {
        for _ in 0..100 {
            if reqwest::get(format!("{base}/readyz"))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // A warm-up round on other devices first, then the statistics
        // autovacuum would gather in a live system's first minute: a fresh
        // database's per-session tables start empty, and PostgreSQL keeps the
        // plans made for empty tables until their statistics change.
        let warmup = warmup.max(1);
        let _ = drive(&base, sessions, warmup, concurrency, Arc::default()).await;
        if let Ok(mut c) = Db::connect(&url, 1).and_then(|db| db.get()) {
            if let DbConnection::Postgres(pg) = &mut *c {
                diesel::connection::SimpleConnection::batch_execute(pg, "ANALYZE")
                    .expect("analyze after the warm-up");
            }
        }
        let timings: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::new()));
        let cpu_before = cpu_seconds(server.0.id());
        let own_before = cpu_seconds(std::process::id());
        let started = Instant::now();
        let failed = drive(&base, 0, sessions, concurrency, timings.clone()).await;
        let elapsed = started.elapsed();
        let mut all = timings.lock().map(|v| v.clone()).unwrap_or_default();
        all.sort();
        let pid = server.0.id();
        let cpu_after = cpu_seconds(pid);
        let own_after = cpu_seconds(std::process::id());
        println!(
            "complete sessions     {} of {sessions} ({} failed)",
            sessions - failed,
            failed
        );
        println!("wall time             {:.1} s", elapsed.as_secs_f64());
        println!(
            "sessions per second   {:.0}",
            (sessions - failed) as f64 / elapsed.as_secs_f64()
        );
        println!(
            "HTTP requests         {} ({:.1} per session)",
            all.len(),
            all.len() as f64 / sessions as f64
        );
        println!(
            "per-request p50       {:.2} ms",
            support::percentile(&all, 0.50)
        );
        println!(
            "per-request p99       {:.2} ms",
            support::percentile(&all, 0.99)
        );
        println!(
            "server CPU            {:.1} s user, {:.1} s system ({:.0}% of the 2 cores' wall time)",
            cpu_after.0 - cpu_before.0,
            cpu_after.1 - cpu_before.1,
            100.0 * (cpu_after.0 - cpu_before.0 + cpu_after.1 - cpu_before.1)
                / (2.0 * elapsed.as_secs_f64())
        );
        let own = own_after.0 - own_before.0 + own_after.1 - own_before.1;
        println!(
            "load generator CPU    {own:.1} s ({:.2} ms per session)",
            1000.0 * own / sessions as f64
        );
        println!(
            "server RSS            {} MiB now, {} MiB peak",
            rss_kib(pid, "VmRSS:") / 1024,
            rss_kib(pid, "VmHWM:") / 1024
        );
        println!("server threads        {}", rss_kib(pid, "Threads:"));
        failed
    });
    drop(server);
    support::drop_scratch(cleanup);
    // Failed sessions make every other figure meaningless: say so in the
    // exit status, not only in the first line.
    if failed > 0 {
        eprintln!("{failed} of {sessions} sessions failed: the figures above do not count");
        std::process::exit(1);
    }
}
