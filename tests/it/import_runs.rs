//! Imports as recorded runs: command-line imports listed with the portal's,
//! written in bounded batches, and resumed after an interruption without
//! writing a line twice.

use crate::common::{run_mdm, spawn_app, TestApp};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use mdm::registry::import::{self, ImportRun, BATCH_LINES};

/// `n` POS lines, each a subscriber with a device.
fn pos_csv(n: usize) -> String {
    let mut s = String::from(
        "mdn,min,account_id,subscriber_name,sid_nid_pairs,prl_id,esn,make,model,firmware_version\n",
    );
    for i in 0..n {
        let mdn = format!("31{:08}", 20_000_000 + i);
        s.push_str(&format!(
            "{mdn},{mdn},ACC{i},Sub {i},4145/65535,10001,{:08X},Samsung,SCH-U350,U350.01\n",
            0x9F00_0000u32 + i as u32
        ));
    }
    s
}

fn mdn_of_line(i: usize) -> String {
    format!("31{:08}", 20_000_000 + i)
}

fn write_file(app: &TestApp, name: &str, body: &str) -> String {
    let path = app.data_dir.join(name);
    std::fs::write(&path, body).unwrap();
    path.to_string_lossy().into_owned()
}

fn mdm_import(app: &TestApp, path: &str) -> (i32, String, String) {
    run_mdm(&app.database_url, &app.data_dir, &["import", path], None)
}

async fn latest_run(app: &TestApp) -> ImportRun {
    app.with_conn(|c| import::recent_runs(c, 1).unwrap().remove(0))
        .await
}

async fn runs(app: &TestApp) -> Vec<ImportRun> {
    app.with_conn(|c| import::recent_runs(c, 100).unwrap())
        .await
}

/// Profiles and devices, and how many distinct MDNs and ESNs they hold.
async fn registry_counts(app: &TestApp) -> (i64, i64, i64, i64) {
    app.with_conn(|c| {
        use mdm::db::schema::{devices, profiles};
        let p: i64 = profiles::table.count().get_result(c).unwrap();
        let d: i64 = devices::table.count().get_result(c).unwrap();
        let distinct = |v: Vec<Option<String>>| {
            v.into_iter()
                .collect::<std::collections::HashSet<_>>()
                .len() as i64
        };
        let mdns = distinct(
            profiles::table
                .select(profiles::mdn.nullable())
                .load(c)
                .unwrap(),
        );
        let esns = distinct(devices::table.select(devices::esn).load(c).unwrap());
        (p, d, mdns, esns)
    })
    .await
}

#[tokio::test]
async fn a_command_line_import_is_listed_in_the_portal_with_who_started_it() {
    let app = spawn_app().await;
    let path = write_file(&app, "pos-preload.csv", &pos_csv(3));
    let (code, out, err) = mdm_import(&app, &path);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("imported 3 line(s)"), "{out}");
    let run = latest_run(&app).await;
    assert!(
        err.contains(&format!("/devices/import/{}", run.id)),
        "{err}"
    );

    app.login_admin().await;
    let (status, list) = app.page("/devices/import").await;
    assert_eq!(status, 200);
    assert!(list.contains("pos-preload.csv"), "{list}");
    assert!(
        list.contains(&format!("data-run=\"{}\" data-source=\"cli\"", run.id)),
        "{list}"
    );
    assert!(list.contains("(command line)"), "{list}");

    // A portal import sits in the same list, labelled as the portal's.
    let html = app
        .upload_import(
            "counter.csv",
            "mdn,min,account_id,subscriber_name,sid_nid_pairs\n3125550100,3125550100,ACC1,Ana,4145/65535\n",
        )
        .await;
    assert!(html.contains("data-state=\"imported\""), "{html}");
    assert!(html.contains("user:admin (portal)"), "{html}");
    let (_, list) = app.page("/devices/import").await;
    assert!(list.contains("counter.csv") && list.contains("pos-preload.csv"));

    let (_, page) = app.page(&format!("/devices/import/{}", run.id)).await;
    assert!(page.contains("data-state=\"imported\""), "{page}");
    assert!(page.contains("Imported all 3 line(s)"), "{page}");
    assert!(page.contains("(command line)"), "{page}");
}

#[tokio::test]
async fn a_large_import_writes_in_bounded_batches_that_other_writers_go_between() {
    let app = spawn_app().await;
    let lines = 8 * BATCH_LINES;
    let path = write_file(&app, "big.csv", &pos_csv(lines));
    let importer = std::thread::spawn({
        let (url, dir) = (app.database_url.clone(), app.data_dir.clone());
        move || run_mdm(&url, &dir, &["import", &path], None)
    });
    // Once the first batch is in, a care agent registers a subscriber.
    let mut started = false;
    for _ in 0..2400 {
        let written = app
            .with_conn(|c| {
                import::recent_runs(c, 1)
                    .unwrap()
                    .first()
                    .map_or(0, |r| r.imported_lines)
            })
            .await;
        if written > 0 {
            started = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(started, "the import wrote its first batch");
    let care = app
        .with_conn(|c| {
            mdm::registry::profile::create(
                c,
                &mdm::registry::Actor::System("care"),
                &mdm::registry::profile::ProfileDraft {
                    mdn: Some("3125550199".into()),
                    min: Some("3125550199".into()),
                    account_id: Some("ACC-CARE".into()),
                    subscriber_name: Some("Walk-in".into()),
                    sid_nid_pairs: Some("4145/65535".into()),
                    ..Default::default()
                },
            )
            .unwrap()
            .id
        })
        .await;
    let written_then = latest_run(&app).await.imported_lines;
    let (code, out, err) = importer.join().unwrap();
    assert_eq!(code, 0, "{out}{err}");

    let run = latest_run(&app).await;
    assert_eq!(run.state, "imported");
    assert_eq!(run.imported_lines, lines as i64);
    // One transaction per batch of BATCH_LINES lines, not one for the file.
    assert_eq!(run.batches, 8);
    // The care agent's write went between two of the import's batches,
    // not after the whole file.
    assert!(
        written_then < lines as i64,
        "the import was still writing when the care agent wrote"
    );
    let (before, after): (i64, i64) = app
        .with_conn(move |c| {
            use mdm::db::schema::profiles;
            let before = profiles::table
                .filter(profiles::id.lt(care))
                .count()
                .get_result(c)
                .unwrap();
            let after = profiles::table
                .filter(profiles::id.gt(care))
                .count()
                .get_result(c)
                .unwrap();
            (before, after)
        })
        .await;
    assert!(
        before >= BATCH_LINES as i64 && after > 0,
        "{before} {after}"
    );
    assert_eq!(before + after, lines as i64);
}

/// Makes the database refuse the profile of one line, as a full disk or a
/// failing server would, until [`heal`].
async fn break_line(app: &TestApp, mdn: String) {
    app.with_conn(move |c| {
        let sql = match c {
            mdm::db::DbConnection::Sqlite(_) => format!(
                "CREATE TRIGGER fail_import_line BEFORE INSERT ON profiles \
                 WHEN NEW.mdn = '{mdn}' BEGIN SELECT RAISE(ABORT, 'storage failed'); END;"
            ),
            mdm::db::DbConnection::Postgres(_) => format!(
                "CREATE FUNCTION fail_import_line() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'storage failed'; END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER fail_import_line BEFORE INSERT ON profiles FOR EACH ROW \
                 WHEN (NEW.mdn = '{mdn}') EXECUTE FUNCTION fail_import_line();"
            ),
        };
        c.batch_execute(&sql).unwrap();
    })
    .await;
}

async fn heal(app: &TestApp) {
    app.with_conn(|c| {
        let sql = match c {
            mdm::db::DbConnection::Sqlite(_) => "DROP TRIGGER fail_import_line;",
            mdm::db::DbConnection::Postgres(_) => {
                "DROP TRIGGER fail_import_line ON profiles; DROP FUNCTION fail_import_line();"
            }
        };
        c.batch_execute(sql).unwrap();
    })
    .await;
}

#[tokio::test]
async fn an_import_whose_batch_fails_is_interrupted_and_the_same_file_writes_the_rest() {
    let app = spawn_app().await;
    let lines = 4 * BATCH_LINES;
    let body = pos_csv(lines);
    let path = write_file(&app, "preload.csv", &body);
    // The third batch fails: the first two stay written.
    break_line(&app, mdn_of_line(2 * BATCH_LINES + 10)).await;
    let (code, _, err) = mdm_import(&app, &path);
    assert_ne!(code, 0, "{err}");
    let run = latest_run(&app).await;
    assert_eq!(run.state, "interrupted", "{run:?}");
    assert_eq!(run.imported_lines, 2 * BATCH_LINES as i64);
    assert_eq!(run.batches, 2);
    let written = 2 * BATCH_LINES as i64;
    assert_eq!(
        registry_counts(&app).await,
        (written, written, written, written)
    );
    app.login_admin().await;
    let (_, page) = app.page(&format!("/devices/import/{}", run.id)).await;
    assert!(page.contains("data-state=\"interrupted\""), "{page}");
    assert!(
        page.contains(&format!(
            "Interrupted after {written} of {lines} line(s) were written"
        )),
        "{page}"
    );
    assert!(page.contains("storage failed"), "{page}");

    // The same file again, once the database is healthy, writes the rest.
    heal(&app).await;
    let (code, out, err) = mdm_import(&app, &path);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("resuming"), "{err}");
    let all = runs(&app).await;
    assert_eq!(all.len(), 1, "the run was resumed, not started again");
    let run = &all[0];
    assert_eq!(run.state, "imported");
    assert_eq!(run.imported_lines, lines as i64);
    assert_eq!(run.batches, 4);
    let n = lines as i64;
    assert_eq!(registry_counts(&app).await, (n, n, n, n));
    // Every device is linked to its own line's subscriber.
    let linked: i64 = app
        .with_conn(|c| {
            use mdm::db::schema::devices;
            devices::table
                .filter(devices::profile_id.is_not_null())
                .count()
                .get_result(c)
                .unwrap()
        })
        .await;
    assert_eq!(linked, n);

    // A third time there is nothing left to resume: every line is registered.
    let (code, _, err) = mdm_import(&app, &path);
    assert_ne!(code, 0);
    assert!(err.contains("nothing was imported"), "{err}");
    assert_eq!(registry_counts(&app).await, (n, n, n, n));
}

#[tokio::test]
async fn a_killed_command_line_import_is_shown_interrupted_and_resumes_from_the_portal() {
    if !std::path::Path::new("/proc/sys/kernel/random/boot_id").exists() {
        return; // a killed process cannot be told from a live one
    }
    let app = spawn_app().await;
    app.login_admin().await;
    let lines = 12 * BATCH_LINES;
    let body = pos_csv(lines);
    let path = write_file(&app, "killed.csv", &body);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mdm"))
        .args(["import", &path])
        .env("DATABASE_URL", &app.database_url)
        .env("MDM_DATA_DIR", &app.data_dir)
        .env("MDM_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mdm import starts");
    let mut seen_running = false;
    for _ in 0..4000 {
        let run = app
            .with_conn(|c| import::recent_runs(c, 1).unwrap().into_iter().next())
            .await;
        if let Some(run) = run.filter(|r| r.imported_lines >= BATCH_LINES as i64) {
            // Care sees it running, with its progress, while it runs.
            let (_, page) = app.page(&format!("/devices/import/{}", run.id)).await;
            if page.contains("data-state=\"running\"") {
                assert!(page.contains("(command line)"), "{page}");
                assert!(
                    page.contains(&format!("of {lines} lines, written")),
                    "{page}"
                );
                seen_running = true;
            }
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen_running, "the import was seen running before the kill");

    // Shown interrupted at once, with exactly the lines its batches wrote.
    let (_, list) = app.page("/devices/import").await;
    assert!(!list.contains(">running<"), "{list}");
    // The page records nothing (tests/it/import_round4.rs): as shown.
    let now = mdm::db::now_ms();
    let run = latest_run(&app).await.as_seen(now);
    assert_eq!(run.state, "interrupted", "{run:?}");
    assert!(run.imported_lines > 0 && run.imported_lines < lines as i64);
    assert_eq!(run.imported_lines % BATCH_LINES as i64, 0);
    let w = run.imported_lines;
    assert_eq!(registry_counts(&app).await, (w, w, w, w));
    let (_, page) = app.page(&format!("/devices/import/{}", run.id)).await;
    assert!(page.contains("data-state=\"interrupted\""), "{page}");
    assert!(page.contains("mdm import killed.csv"), "{page}");

    // The same file uploaded in the portal finishes the same run.
    let (id, html) = app.upload_import_run("killed-again.csv", &body).await;
    assert_eq!(id, run.id);
    assert!(html.contains("data-state=\"imported\""), "{html}");
    let n = lines as i64;
    assert_eq!(registry_counts(&app).await, (n, n, n, n));
    let done = latest_run(&app).await;
    assert_eq!(done.imported_lines, n);
    assert_eq!(runs(&app).await.len(), 1);
}

#[tokio::test]
async fn a_bad_line_at_the_end_of_a_large_file_still_imports_nothing() {
    let app = spawn_app().await;
    let lines = 4 * BATCH_LINES;
    let mut body = pos_csv(lines);
    body.push_str("3199999999,3199999999,ACCX,Bad,4145/65535,10001,XYZ,Samsung,SCH-U350,U350.01\n");
    let path = write_file(&app, "bad.csv", &body);
    let (code, _, err) = mdm_import(&app, &path);
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("line {}: ", lines + 2)),
        "the bad line is reported: {err}"
    );
    assert!(err.contains("nothing was imported"), "{err}");
    let run = latest_run(&app).await;
    assert_eq!(run.state, "rejected");
    assert_eq!((run.imported_lines, run.batches), (0, 0));
    assert_eq!(registry_counts(&app).await, (0, 0, 0, 0));
    app.login_admin().await;
    let (_, page) = app.page(&format!("/devices/import/{}", run.id)).await;
    assert!(page.contains("Nothing was imported"), "{page}");
}
