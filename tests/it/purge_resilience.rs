//! The purge with several processes on one database: at most one run at a
//! time, a run taken over stops deleting, and a run resumed away from its
//! archive refuses rather than splitting or corrupting it.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};

use diesel::prelude::*;
use mdm::db::schema::purge_runs;
use mdm::retention::archive;
use mdm::retention::purge::{self, PurgeOptions, PurgeRun};
use mdm::retention::RetentionError;

use crate::common::{spawn_app, TestApp};
use crate::purge::{interrupted_purge, run_purge};

/// Starts `mdm` (not waiting for it) as another node would run it: its own
/// working directory and archive folder, the test's database.
fn start_mdm(app: &TestApp, cwd: &Path, archive_dir: &str, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_mdm"))
        .args(args)
        .current_dir(cwd)
        .env("DATABASE_URL", &app.database_url)
        .env("MDM_DATA_DIR", &app.data_dir)
        .env("MDM_ARCHIVE_DIR", archive_dir)
        .env("MDM_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mdm")
}

fn finish(child: std::process::Child) -> (i32, String, String) {
    let out = child.wait_with_output().expect("mdm finished");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn runs(app: &TestApp) -> Vec<PurgeRun> {
    app.with_conn(|c| purge::recent(c, 100).unwrap()).await
}

/// How often each MDN is in the archives of every completed run.
fn archived_mdns(runs: &[PurgeRun]) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in runs.iter().filter(|r| r.state == "completed") {
        for rec in archive::read_records(Path::new(&r.archive_dir), r.id).unwrap() {
            *seen.entry(rec.mdn().to_string()).or_insert(0) += 1;
        }
    }
    seen
}

fn exactly_once(due: &[String]) -> HashMap<String, usize> {
    due.iter().map(|m| (m.clone(), 1)).collect()
}

#[tokio::test]
async fn purges_started_at_once_on_several_nodes_archive_and_delete_each_subscriber_once() {
    let app = spawn_app().await;
    let due = app.purgeable_subscribers("31266", "9F3").await;
    // Three nodes, each with its own working directory and archive folder.
    let nodes: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            let dir = app.data_dir.join(format!("node-{n}"));
            std::fs::create_dir_all(&dir).unwrap();
            dir
        })
        .collect();
    let children: Vec<_> = nodes
        .iter()
        .map(|dir| start_mdm(&app, dir, "archive", &["purge", "--older-than", "0s"]))
        .collect();
    let outcomes: Vec<_> = children.into_iter().map(finish).collect();
    for (code, out, err) in &outcomes {
        // Each either did the purge, found nothing left, or was refused
        // while another ran: never a second run beside the first.
        assert!(
            (*code == 0
                && (out.contains("archived 20 subscriber(s)") || out.contains("nothing to purge")))
                || (*code != 0 && err.contains("another purge is running: run")),
            "{code} {out} {err}"
        );
    }
    let runs = runs(&app).await;
    assert!(runs.iter().all(|r| r.state == "completed"), "{runs:?}");
    assert_eq!(runs.iter().map(|r| r.profiles).sum::<i64>(), 20, "{runs:?}");
    assert_eq!(archived_mdns(&runs), exactly_once(&due));
    assert_eq!(app.count("profiles").await, 5);
    assert_eq!(app.count("devices").await, 5);
}

#[tokio::test]
async fn the_database_holds_to_one_running_purge_and_names_its_holder() {
    let app = spawn_app().await;
    let (_, opts) = interrupted_purge(&app, "31266", "9F3", &app.data_dir.join("archive")).await;
    let run = runs(&app).await.remove(0);
    assert_eq!(run.state, "running");

    // A second process that missed the first run's row (as two nodes
    // looking at once do) is refused by the database itself.
    let second = app
        .with_conn(move |c| {
            diesel::insert_into(purge_runs::table)
                .values((
                    purge_runs::state.eq("running"),
                    purge_runs::cutoff.eq(0i64),
                    purge_runs::archive_dir.eq("/elsewhere"),
                    purge_runs::started_by.eq("other node"),
                    purge_runs::started_at.eq(0i64),
                    purge_runs::heartbeat_at.eq(0i64),
                ))
                .execute(c)
        })
        .await;
    assert!(
        matches!(&second, Err(e) if mdm::db::is_unique_violation(e)),
        "{second:?}"
    );

    // This process is alive and its lease current: another purge is told
    // who holds the run, and changes nothing.
    let busy = run_purge(&app, &opts).await;
    let message = busy.as_ref().map(|_| ()).unwrap_err().to_string();
    assert!(
        message.contains(&format!(
            "another purge is running: run {} held by ",
            run.id
        )) && message.contains(&run.holder),
        "{message}"
    );
    assert_eq!(app.count("profiles").await, 22);
}

#[tokio::test]
async fn a_purge_taken_over_by_another_node_stops_deleting() {
    let app = spawn_app().await;
    let due = app.purgeable_subscribers("31266", "9F3").await;
    let root = app.data_dir.join("archive");
    let mut opts = PurgeOptions::new(0, &root);
    opts.batch = 3;
    let outcome = {
        let (db, opts) = (app.db.clone(), opts.clone());
        tokio::task::spawn_blocking(move || {
            let taker = db.clone();
            let mut taken = false;
            purge::run(&db, "test", &opts, &mut |r| {
                // After the first committed batch another node takes the
                // run over (this one went quiet past its lease).
                if r.profiles > 0 && !taken {
                    taken = true;
                    let mut c = taker.get().unwrap();
                    diesel::update(purge_runs::table.find(r.id))
                        .set((
                            purge_runs::holder.eq("other-node:boot:1:1"),
                            purge_runs::heartbeat_at.eq(mdm::db::now_ms()),
                        ))
                        .execute(&mut c)
                        .unwrap();
                }
            })
        })
        .await
        .unwrap()
    };
    let run = runs(&app).await.remove(0);
    assert!(
        matches!(outcome, Err(RetentionError::Lost(id)) if id == run.id),
        "{outcome:?}"
    );
    assert_eq!(app.count("profiles").await, 22, "nothing more deleted");
    assert_eq!(
        (run.state.as_str(), run.holder.as_str(), run.profiles),
        ("running", "other-node:boot:1:1", 3),
        "the run is the other node's, not failed"
    );

    // The other node went quiet too: its lease runs out and the run is
    // resumed here, where its archive is.
    app.with_conn(move |c| {
        diesel::update(purge_runs::table.find(run.id))
            .set(purge_runs::heartbeat_at.eq(0i64))
            .execute(c)
            .unwrap()
    })
    .await;
    let done = run_purge(&app, &opts).await.unwrap().expect("a run");
    assert_eq!(
        (done.id, done.state.as_str(), done.profiles),
        (run.id, "completed", 20)
    );
    assert_eq!(archived_mdns(&[done]), exactly_once(&due));
    assert_eq!(app.count("profiles").await, 5);
}

#[tokio::test]
async fn a_purge_resumed_away_from_its_archive_refuses_and_deletes_nothing() {
    let app = spawn_app().await;
    // Started from a relative archive folder in its own working directory.
    let node_a = app.data_dir.join("node-a");
    let node_b = app.data_dir.join("node-b");
    std::fs::create_dir_all(&node_a).unwrap();
    std::fs::create_dir_all(&node_b).unwrap();
    let (due, mut opts) = interrupted_purge(&app, "31266", "9F3", &node_a.join("archive")).await;
    let run = runs(&app).await.remove(0);
    let root = std::fs::canonicalize(node_a.join("archive")).unwrap();
    assert_eq!(Path::new(&run.archive_dir), root, "stored absolute");
    let segment = archive::segment_path(&root, run.id, 1);
    let whole = std::fs::read(&segment).unwrap();
    assert!(whole.len() as i64 > run.committed_bytes && run.committed_bytes > 0);
    // The process that held it is gone (killed, as `kill -9` would).
    app.with_conn(move |c| {
        diesel::update(purge_runs::table.find(run.id))
            .set((purge_runs::holder.eq(""), purge_runs::heartbeat_at.eq(0i64)))
            .execute(c)
            .unwrap()
    })
    .await;

    // Node B has no such folder: `mdm purge` there refuses, naming it.
    std::fs::rename(&root, node_a.join("elsewhere")).unwrap();
    let (code, out, err) = finish(start_mdm(&app, &node_b, "archive", &["purge"]));
    let expected = format!(
        "the archive of run {} is at {}",
        run.id,
        archive::run_dir(&root, run.id).display()
    );
    assert!(code != 0 && err.contains(&expected), "{code} {out} {err}");
    assert!(err.contains("run the purge there or make the archive directory shared storage"));
    assert_eq!(app.count("profiles").await, 22, "nothing deleted");
    assert!(!node_b
        .join("archive")
        .join(format!("run-{:06}", run.id))
        .exists());
    // Why it waits is on the run, for `mdm archive list`.
    let (_, list, _) = finish(start_mdm(&app, &node_b, "archive", &["archive", "list"]));
    assert!(
        list.contains("running") && list.contains(&expected),
        "{list}"
    );

    // A segment shorter than what was committed is refused the same way,
    // left as it is, not padded.
    std::fs::rename(node_a.join("elsewhere"), &root).unwrap();
    let short = run.committed_bytes as usize - 1;
    std::fs::write(&segment, &whole[..short]).unwrap();
    opts.lease_ms = 0;
    let refused = run_purge(&app, &opts).await;
    assert!(
        matches!(&refused, Err(RetentionError::ArchiveElsewhere { run: id, problem, .. })
            if *id == run.id && problem.contains("bytes committed")),
        "{refused:?}"
    );
    assert_eq!(std::fs::metadata(&segment).unwrap().len() as usize, short);
    assert_eq!(app.count("profiles").await, 22, "nothing deleted");
    let waiting = runs(&app).await.remove(0);
    assert_eq!(waiting.state, "running");
    assert!(waiting.error.contains(&expected), "{}", waiting.error);

    // Back where it belongs, the run resumes and completes whole.
    std::fs::write(&segment, &whole).unwrap();
    let done = run_purge(&app, &opts).await.unwrap().expect("a run");
    assert_eq!(
        (
            done.id,
            done.state.as_str(),
            done.profiles,
            done.error.as_str()
        ),
        (run.id, "completed", 20, "")
    );
    assert_eq!(
        archived_mdns(std::slice::from_ref(&done)),
        exactly_once(&due)
    );
    assert_eq!(app.count("profiles").await, 5);
}

#[tokio::test]
async fn a_relative_archive_folder_is_recorded_absolute_and_read_from_anywhere() {
    let app = spawn_app().await;
    let due = app.purgeable_subscribers("31266", "9F3").await;
    let node = app.data_dir.join("node-a");
    std::fs::create_dir_all(&node).unwrap();
    let (code, out, err) = finish(start_mdm(
        &app,
        &node,
        "rel-archive",
        &["purge", "--older-than", "0s"],
    ));
    assert_eq!(code, 0, "{out} {err}");
    let run = runs(&app).await.remove(0);
    let root = std::fs::canonicalize(node.join("rel-archive")).unwrap();
    assert_eq!(Path::new(&run.archive_dir), root);
    assert!(
        out.contains(&archive::run_dir(&root, run.id).display().to_string()),
        "{out}"
    );
    // Another working directory, another archive setting: `archive show`
    // reads the run's own folder.
    let (code, shown, err) = finish(start_mdm(
        &app,
        &app.data_dir,
        "other",
        &["archive", "show", &run.id.to_string()],
    ));
    assert_eq!(code, 0, "{err}");
    assert!(due.iter().all(|m| shown.contains(m.as_str())), "{shown}");
}
