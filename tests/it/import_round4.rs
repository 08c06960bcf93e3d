//! Import pages that only read: a run whose process is gone is shown ended
//! without a page recording it; the server's start and the next import
//! record it. And the outbox claim time from `MDM_OUTBOX_CLAIM_SECS`.

use std::time::Duration;

use diesel::prelude::*;
use mdm::db::schema::import_runs;
use mdm::registry::import::{self, ImportRun, CLI_INTERRUPTED, INTERRUPTED, LEASE_MS};

use crate::common::{run_mdm, spawn_app, TestApp};

/// A holder of this host and boot that certainly runs no more: this very
/// process's pid with another start time (a pid reused since).
fn dead_local_holder() -> String {
    let me = mdm::retention::lease::this_process();
    let (pid_part, _start) = me.rsplit_once(':').expect("host:boot:pid:start");
    format!("{pid_part}:1")
}

/// Whether this system lets a gone process be told from a live one.
fn holders_can_be_checked() -> bool {
    std::path::Path::new("/proc/sys/kernel/random/boot_id").exists()
}

struct Left<'a> {
    filename: &'a str,
    holder: String,
    source: &'a str,
    total: i64,
    written: i64,
    heartbeat_at: i64,
    content_hash: String,
}

/// A run recorded as running, as its process left it.
async fn leave_run(app: &TestApp, run: Left<'_>) -> i64 {
    let Left {
        filename,
        holder,
        source,
        total,
        written,
        heartbeat_at,
        content_hash,
    } = run;
    let filename = filename.to_string();
    let source = source.to_string();
    app.with_conn(move |c| {
        diesel::insert_into(import_runs::table)
            .values((
                import_runs::filename.eq(&filename),
                import_runs::state.eq("running"),
                import_runs::total_lines.eq(total),
                import_runs::processed_lines.eq(total),
                import_runs::imported_lines.eq(written),
                import_runs::errors.eq(""),
                import_runs::created_by.eq("ops"),
                import_runs::created_at.eq(heartbeat_at - 1_000),
                import_runs::holder.eq(&holder),
                import_runs::heartbeat_at.eq(heartbeat_at),
                import_runs::unlisted_errors.eq(0i64),
                import_runs::source.eq(&source),
                import_runs::content_hash.eq(&content_hash),
                import_runs::batches.eq(written / 250),
            ))
            .execute(c)
            .unwrap();
        import_runs::table
            .filter(import_runs::filename.eq(&filename))
            .select(import_runs::id)
            .order(import_runs::id.desc())
            .first::<i64>(c)
            .unwrap()
    })
    .await
}

/// The runs as the database holds them, oldest first.
async fn stored(app: &TestApp) -> Vec<ImportRun> {
    let mut runs = app
        .with_conn(|c| import::recent_runs(c, 100).unwrap())
        .await;
    runs.reverse();
    runs
}

/// The list page's row of run `id`.
fn row_of(list: &str, id: i64) -> &str {
    let at = list
        .find(&format!("data-run=\"{id}\""))
        .unwrap_or_else(|| panic!("run {id} listed: {list}"));
    let end = list[at..].find("</tr>").expect("row ends") + at;
    &list[at..end]
}

#[tokio::test]
async fn a_run_whose_process_is_gone_is_shown_ended_by_pages_that_record_nothing() {
    if !holders_can_be_checked() {
        return; // a killed process cannot be told from a live one
    }
    let app = spawn_app().await;
    app.login_admin().await;
    let now = mdm::db::now_ms();
    // A command-line import killed after two batches of four.
    let killed = leave_run(
        &app,
        Left {
            filename: "killed.csv",
            holder: dead_local_holder(),
            source: "cli",
            total: 1_000,
            written: 500,
            heartbeat_at: now,
            content_hash: "a".repeat(64),
        },
    )
    .await;
    // A portal import of another host, silent for longer than its lease,
    // before it wrote anything.
    let silent = leave_run(
        &app,
        Left {
            filename: "silent.csv",
            holder: "another-host:boot:4242:99999".into(),
            source: "portal",
            total: 40,
            written: 0,
            heartbeat_at: now - LEASE_MS - 60_000,
            content_hash: "b".repeat(64),
        },
    )
    .await;
    // Another host's import that said it is alive a moment ago.
    let alive = leave_run(
        &app,
        Left {
            filename: "alive.csv",
            holder: "another-host:boot:4243:99999".into(),
            source: "portal",
            total: 40,
            written: 0,
            heartbeat_at: now,
            content_hash: "c".repeat(64),
        },
    )
    .await;
    let before = format!("{:?}", stored(&app).await);

    let (status, list) = app.page("/devices/import").await;
    assert_eq!(status, 200);
    assert!(row_of(&list, killed).contains(">interrupted<"), "{list}");
    assert!(row_of(&list, silent).contains(">failed<"), "{list}");
    assert!(row_of(&list, alive).contains(">running<"), "{list}");

    let (status, page) = app.page(&format!("/devices/import/{killed}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("data-state=\"interrupted\""), "{page}");
    assert!(
        page.contains("Interrupted after 500 of 1000 line(s) were written; 500 line(s) remain"),
        "{page}"
    );
    assert!(page.contains("mdm import killed.csv"), "{page}");
    assert!(
        page.contains(
            "interrupted after 500 of 1000 lines were written; import the same file again to write the other 500"
        ),
        "{page}"
    );
    assert!(!page.contains("http-equiv=\"refresh\""), "{page}");
    let (_, page) = app.page(&format!("/devices/import/{silent}")).await;
    assert!(page.contains("data-state=\"failed\""), "{page}");
    assert!(page.contains(INTERRUPTED), "{page}");
    let (_, page) = app.page(&format!("/devices/import/{alive}")).await;
    assert!(page.contains("data-state=\"running\""), "{page}");

    // Nothing read changed a row.
    let after_pages = stored(&app).await;
    assert_eq!(format!("{after_pages:?}"), before);
    assert!(after_pages.iter().all(|r| r.state == "running"));

    // A server starting on the database records what the pages showed.
    let node = app.second_node(|_| {}).await.expect("second node starts");
    let recorded = stored(&app).await;
    let shown: Vec<(String, String)> = after_pages
        .into_iter()
        .map(|r| r.as_seen(mdm::db::now_ms()))
        .map(|r| (r.state, r.errors))
        .collect();
    let states: Vec<(String, String)> = recorded
        .iter()
        .map(|r| (r.state.clone(), r.errors.clone()))
        .collect();
    assert_eq!(states, shown);
    assert_eq!(recorded[0].state, "interrupted");
    assert_eq!(recorded[0].imported_lines, 500);
    assert!(recorded[0].finished_at.is_some());
    assert_eq!(recorded[1].state, "failed");
    assert!(
        recorded[1].errors.contains(INTERRUPTED),
        "{:?}",
        recorded[1]
    );
    assert_eq!(recorded[2].state, "running");
    assert_eq!(recorded[2].finished_at, None);
    drop(node);
}

/// `n` POS lines, each a subscriber with a device.
fn pos_csv(n: usize) -> String {
    let mut s = String::from(
        "mdn,min,account_id,subscriber_name,sid_nid_pairs,prl_id,esn,make,model,firmware_version\n",
    );
    for i in 0..n {
        let mdn = format!("31{:08}", 40_000_000 + i);
        s.push_str(&format!(
            "{mdn},{mdn},ACC{i},Sub {i},4145/65535,10001,{:08X},Samsung,SCH-U350,U350.01\n",
            0x9E00_0000u32 + i as u32
        ));
    }
    s
}

#[tokio::test]
async fn the_same_file_on_the_command_line_records_the_dead_run_and_takes_it_over() {
    if !holders_can_be_checked() {
        return;
    }
    let app = spawn_app().await;
    app.login_admin().await;
    let body = pos_csv(3);
    // Its first two lines' batch was written (here: said to be; the
    // resumed run does not look them up) before its command was killed.
    let left = leave_run(
        &app,
        Left {
            filename: "pos.csv",
            holder: dead_local_holder(),
            source: "cli",
            total: 3,
            written: 2,
            heartbeat_at: mdm::db::now_ms(),
            content_hash: import::content_hash(body.as_bytes()),
        },
    )
    .await;
    // An unrelated run killed before writing anything.
    let other = leave_run(
        &app,
        Left {
            filename: "other.csv",
            holder: dead_local_holder(),
            source: "cli",
            total: 9,
            written: 0,
            heartbeat_at: mdm::db::now_ms(),
            content_hash: "d".repeat(64),
        },
    )
    .await;
    let (_, page) = app.page(&format!("/devices/import/{left}")).await;
    assert!(page.contains("data-state=\"interrupted\""), "{page}");
    assert!(stored(&app).await.iter().all(|r| r.state == "running"));

    let path = app.data_dir.join("pos.csv");
    std::fs::write(&path, &body).unwrap();
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["import", &path.to_string_lossy()],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(&format!("import {left} ")) && err.contains("resuming: the first 2 line(s)"),
        "{err}"
    );
    assert!(
        out.contains("imported 3 line(s): 1 profile(s), 1 device(s)"),
        "{out}"
    );
    let runs = stored(&app).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    let resumed = runs.iter().find(|r| r.id == left).unwrap();
    assert_eq!(
        (resumed.state.as_str(), resumed.imported_lines),
        ("imported", 3)
    );
    // Starting an import recorded every run whose process is gone.
    let ended = runs.iter().find(|r| r.id == other).unwrap();
    assert_eq!(ended.state, "failed");
    assert!(ended.errors.contains(CLI_INTERRUPTED), "{ended:?}");
    assert_eq!(app.count("profiles").await, 1);
}

/// Runs `mdm serve` with `claim` as MDM_OUTBOX_CLAIM_SECS on a database
/// nothing is started on; returns its exit code and standard error once it
/// stopped.
fn serve_with_claim(claim: &str) -> (Option<i32>, String) {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdm"))
        .arg("serve")
        .env("DATABASE_URL", dir.path().join("mdm.db"))
        .env("MDM_DATA_DIR", dir.path().join("data"))
        .env("MDM_BIND", "127.0.0.1:0")
        .env("MDM_LOG", "warn")
        .env("MDM_OUTBOX_CLAIM_SECS", claim)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server started with MDM_OUTBOX_CLAIM_SECS={claim}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_outbox_claim_time_stops_the_server_at_start() {
    for (claim, says) in [
        ("two minutes", "is not a whole number of seconds"),
        ("-30", "is not a whole number of seconds"),
        ("0", "must be at least 1 second(s)"),
        ("100000", "is more than 86400"),
    ] {
        let (code, err) = serve_with_claim(claim);
        assert_eq!(code, Some(2), "{claim}: {err}");
        assert!(
            err.contains("configuration: MDM_OUTBOX_CLAIM_SECS:") && err.contains(says),
            "{claim}: {err}"
        );
    }
}

#[tokio::test]
async fn the_outbox_claim_time_is_the_senders_lease() {
    let smsc = crate::messaging::start_smsc().await;
    // Submits go unanswered for a while: the row stays claimed meanwhile.
    smsc.set_response_delay(Duration::from_secs(30));
    let app = spawn_app().await;
    let (device_id, _) = crate::messaging::line(&app).await;
    let vault = app.vault.clone();
    app.with_conn(move |c| {
        mdm::omadm::job::notify(
            c,
            &vault,
            device_id,
            mdm::omadm::job::JobKind::Refresh,
            &mdm::registry::Actor::System("test"),
            8,
        )
        .unwrap();
    })
    .await;
    // The only sender: a server of its own, on the same database and keys.
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_mdm"))
        .arg("serve")
        .env("DATABASE_URL", &app.database_url)
        .env("MDM_DATA_DIR", &app.data_dir)
        .env("MDM_BIND", "127.0.0.1:0")
        .env("MDM_LOG", "warn")
        .env("MDM_SWEEP_INTERVAL_SECS", "0")
        .env("MDM_PURGE_INTERVAL_SECS", "0")
        .env("MDM_CAMPAIGN_INTERVAL_SECS", "0")
        .env("MDM_SMSC_URL", smsc.url())
        .env("MDM_OUTBOX_CLAIM_SECS", "600")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mdm serve starts");
    let mut claim = None;
    for _ in 0..600 {
        claim = app
            .with_conn(|c| {
                use mdm::db::schema::outbox;
                outbox::table
                    .filter(outbox::state.eq("sending"))
                    .select((outbox::claimed_until, outbox::updated_at))
                    .first::<(Option<i64>, i64)>(c)
                    .optional()
                    .unwrap()
            })
            .await;
        if claim.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = server.kill();
    let _ = server.wait();
    let (until, claimed_at) = claim.expect("the server's sender claimed the message");
    assert_eq!(until.map(|u| u - claimed_at), Some(600_000));
}
