//! The purge, round 4: a frozen holder keeps its run (the OS lock on the
//! run's lock file), a run whose archive is lost for good is abandoned (CLI
//! and portal) so a new purge can start, and the dashboard says why a run is
//! stuck.

use std::path::Path;
use std::process::{Command, Stdio};

use diesel::prelude::*;
use mdm::auth::Role;
use mdm::db::schema::{audit_events, purge_runs};
use mdm::registry::Actor;
use mdm::retention::lease::{self, RunLock};
use mdm::retention::purge::{self, PurgeOptions, PurgeRun};
use mdm::retention::{archive, RetentionError};

use crate::common::{client, spawn_app, staff_sign_in, TestApp};

/// Runs `mdm` to its end as another process would: (exit code, stdout, stderr).
fn mdm(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mdm"))
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("MDM_DATA_DIR", &app.data_dir)
        .env("MDM_ARCHIVE_DIR", app.data_dir.join("archive"))
        .env("MDM_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run mdm");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn run_of(app: &TestApp, id: i64) -> PurgeRun {
    app.with_conn(move |c| purge::find(c, id).unwrap()).await
}

/// 20 subscribers due, a purge of batches of 3 that stopped after archiving
/// its second batch (the first committed, the second not): the run is left
/// running, held by this test process.
async fn interrupted_run(app: &TestApp) -> PurgeRun {
    app.purgeable_subscribers("31277", "9F4").await;
    let mut opts = PurgeOptions::new(0, &app.data_dir.join("archive"));
    opts.batch = 3;
    opts.crash_after_batches = Some(2);
    let db = app.db.clone();
    let crashed = tokio::task::spawn_blocking(move || purge::run(&db, "test", &opts, &mut |_| {}))
        .await
        .unwrap();
    assert!(
        matches!(crashed, Err(RetentionError::Interrupted)),
        "{crashed:?}"
    );
    assert_eq!(app.count("profiles").await, 22);
    let run = app
        .with_conn(|c| purge::recent(c, 1).unwrap())
        .await
        .remove(0);
    assert_eq!((run.state.as_str(), run.profiles), ("running", 3));
    run
}

/// Names `holder` as the run's process, its lease renewed at `heartbeat_at`.
async fn held_by(app: &TestApp, id: i64, holder: &str, heartbeat_at: i64) {
    let holder = holder.to_string();
    app.with_conn(move |c| {
        diesel::update(purge_runs::table.find(id))
            .set((
                purge_runs::holder.eq(holder),
                purge_runs::heartbeat_at.eq(heartbeat_at),
            ))
            .execute(c)
            .unwrap()
    })
    .await;
}

/// The run's folder and its first segment's path.
fn folder(run: &PurgeRun) -> (std::path::PathBuf, std::path::PathBuf) {
    let root = Path::new(&run.archive_dir);
    (
        archive::run_dir(root, run.id),
        archive::segment_path(root, run.id, 1),
    )
}

/// The parts of a run a refused taker or abandoner must leave alone.
fn unchanged(r: &PurgeRun) -> (String, String, i64, i64, i32, i64, String) {
    (
        r.state.clone(),
        r.holder.clone(),
        r.heartbeat_at,
        r.committed_bytes,
        r.segment,
        r.profiles,
        r.error.clone(),
    )
}

/// The run's abandonment in the audit trail (its start and end are there
/// too: see purge_round5).
async fn audit_of(app: &TestApp, id: i64) -> Vec<(String, String, String)> {
    app.with_conn(move |c| {
        audit_events::table
            .filter(audit_events::entity_kind.eq("purge_run"))
            .filter(audit_events::entity_id.eq(id))
            .filter(audit_events::action.eq("abandoned"))
            .select((
                audit_events::actor,
                audit_events::action,
                audit_events::detail,
            ))
            .load(c)
            .unwrap()
    })
    .await
}

/// A child process killed when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_frozen_purge_process_keeps_its_run_and_a_taker_refuses_changing_nothing() {
    let app = spawn_app().await;
    let run = interrupted_run(&app).await;
    let (dir, segment) = folder(&run);
    let lock_file = lease::lock_path(&dir);
    assert!(lock_file.is_file(), "the run's lock file is in its folder");
    // The lease ran out, but the holder process (this one) is alive.
    held_by(&app, run.id, lease::this_process(), 0).await;

    // Another process holds the run's lock and is frozen (SIGSTOP), as a
    // purge paused past its lease would be: a shell that becomes `sleep`,
    // flock(1) taking the lock on the shell's open file.
    let mut frozen = Killed(
        Command::new("sh")
            .args(["-c", "exec 9>>\"$0\"; flock 9; exec sleep 600"])
            .arg(&lock_file)
            .stdin(Stdio::null())
            .spawn()
            .expect("sh and flock(1)"),
    );
    let mut locked = false;
    for _ in 0..500 {
        if RunLock::try_acquire(&dir).unwrap().is_none() {
            locked = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(locked, "the other process holds the lock");
    let stopped = Command::new("kill")
        .args(["-STOP", &frozen.0.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let before = run_of(&app, run.id).await;
    let bytes = std::fs::read(&segment).unwrap();

    // `mdm purge` in a process of its own refuses, naming run and folder.
    let (code, out, err) = mdm(&app, &["purge", "--older-than", "0s"]);
    assert!(code != 0, "{out} {err}");
    assert!(
        err.contains(&format!("purge run {} is held by a live process", run.id))
            && err.contains(&dir.display().to_string())
            && err.contains("nothing was changed"),
        "{err}"
    );
    // So does a taker in this process (the lock is per open file).
    let opts = PurgeOptions::new(0, &app.data_dir.join("archive"));
    let refused = {
        let (db, opts) = (app.db.clone(), opts.clone());
        tokio::task::spawn_blocking(move || purge::run(&db, "test", &opts, &mut |_| {}))
            .await
            .unwrap()
    };
    assert!(
        matches!(&refused, Err(RetentionError::StillHeld { run: id, why }) if *id == run.id && why.contains("purge.lock")),
        "{refused:?}"
    );
    let after = run_of(&app, run.id).await;
    assert_eq!(
        unchanged(&after),
        unchanged(&before),
        "the run is as it was"
    );
    assert_eq!(std::fs::read(&segment).unwrap(), bytes, "its archive too");
    assert_eq!(app.count("profiles").await, 22, "nothing deleted");

    // The frozen process dies: the kernel drops its lock, and the run is
    // taken over and finished.
    frozen.0.kill().unwrap();
    frozen.0.wait().unwrap();
    let (code, out, err) = mdm(&app, &["purge", "--older-than", "0s"]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        out.contains(&format!("purge run {} archived 20 subscriber(s)", run.id)),
        "{out}"
    );
    assert_eq!(app.count("profiles").await, 5);
    let records = archive::read_records(Path::new(&run.archive_dir), run.id).unwrap();
    assert_eq!(records.len(), 20, "each archived once");
}

#[tokio::test]
async fn a_run_whose_archive_is_lost_is_abandoned_from_the_cli_and_a_new_purge_runs() {
    let app = spawn_app().await;
    let run = interrupted_run(&app).await;
    let (_, segment) = folder(&run);
    // Its process died and its segment is lost for good.
    held_by(&app, run.id, "", 0).await;
    std::fs::remove_file(&segment).unwrap();
    let (code, _, err) = mdm(&app, &["purge", "--older-than", "0s"]);
    assert!(
        code != 0 && err.contains(&format!("the archive of run {}", run.id)),
        "{err}"
    );
    let (_, list, _) = mdm(&app, &["archive", "list"]);
    assert!(
        list.contains("running")
            && list.contains("is not on")
            && list.contains(&format!("mdm archive abandon {} --reason", run.id)),
        "{list}"
    );
    let stuck = run_of(&app, run.id).await;

    // No reason, or a blank one: refused, nothing changed.
    let (code, _, _) = mdm(&app, &["archive", "abandon", &run.id.to_string()]);
    assert_ne!(code, 0);
    let (code, _, err) = mdm(
        &app,
        &["archive", "abandon", &run.id.to_string(), "--reason", "  "],
    );
    assert!(code != 0 && err.contains("give the reason"), "{err}");
    assert_eq!(unchanged(&run_of(&app, run.id).await), unchanged(&stuck));

    let (code, out, err) = mdm(
        &app,
        &[
            "archive",
            "abandon",
            &run.id.to_string(),
            "--reason",
            "disk of node A lost",
        ],
    );
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        out.contains(&format!("purge run {} abandoned by cli:", run.id)),
        "{out}"
    );
    let gone = run_of(&app, run.id).await;
    assert_eq!(
        (
            gone.state.as_str(),
            gone.abandon_reason.as_str(),
            gone.profiles,
            gone.error.as_str()
        ),
        ("abandoned", "disk of node A lost", 3, stuck.error.as_str()),
        "what it archived and why it was stuck stay"
    );
    assert!(gone.abandoned_by.starts_with("cli:") && gone.abandoned_at.is_some());
    assert_eq!(app.count("profiles").await, 22, "nothing more deleted");
    let audit = audit_of(&app, run.id).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (audit[0].0.as_str(), audit[0].1.as_str()),
        ("system:cli", "abandoned")
    );
    assert!(audit[0].2.contains("disk of node A lost"), "{audit:?}");
    let (_, json, _) = mdm(&app, &["archive", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(rows[0]["state"], "abandoned");
    assert_eq!(rows[0]["abandon_reason"], "disk of node A lost");

    // Only a running run is abandoned.
    let (code, _, err) = mdm(
        &app,
        &[
            "archive",
            "abandon",
            &run.id.to_string(),
            "--reason",
            "again",
        ],
    );
    assert!(
        code != 0 && err.contains(&format!("purge run {} is abandoned, not running", run.id)),
        "{err}"
    );

    // The one-running-purge constraint is free: a new run archives the rest.
    let (code, out, err) = mdm(&app, &["purge", "--older-than", "0s"]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("archived 17 subscriber(s)"), "{out}");
    let newest = app
        .with_conn(|c| purge::recent(c, 1).unwrap())
        .await
        .remove(0);
    assert!(newest.id > run.id && newest.state == "completed");
    assert_eq!(app.count("profiles").await, 5);
    let (code, _, err) = mdm(
        &app,
        &[
            "archive",
            "abandon",
            &newest.id.to_string(),
            "--reason",
            "x",
        ],
    );
    assert!(
        code != 0 && err.contains("is completed, not running"),
        "{err}"
    );
}

#[tokio::test]
async fn abandoning_is_refused_while_a_live_process_holds_the_run() {
    let app = spawn_app().await;
    let run = interrupted_run(&app).await;
    let (dir, _) = folder(&run);
    let id = run.id;
    let abandon = || {
        app.with_conn(move |c| {
            purge::abandon(c, id, &Actor::System("test"), "test", "archive lost")
        })
    };
    let before = run_of(&app, run.id).await;

    // Its holder renewed its lease just now.
    let refused = abandon().await;
    assert!(
        matches!(&refused, Err(RetentionError::StillHeld { why, .. }) if why.contains("renewed its lease")),
        "{refused:?}"
    );
    // Its lease ran out, but it is a process of this host that still runs.
    held_by(&app, run.id, lease::this_process(), 0).await;
    let refused = abandon().await;
    assert!(
        matches!(&refused, Err(RetentionError::StillHeld { why, .. }) if why.contains("still runs")),
        "{refused:?}"
    );
    // Another node's process, its lease out, but it holds the run's lock.
    held_by(&app, run.id, "other-node:boot:1:1", 0).await;
    let lock = RunLock::try_acquire(&dir)
        .unwrap()
        .expect("the lock is free");
    let refused = abandon().await;
    let message = refused.as_ref().map(|_| ()).unwrap_err().to_string();
    assert!(
        message.contains(&format!("purge run {} is held by a live process", run.id))
            && message.contains(&lease::lock_path(&dir).display().to_string()),
        "{message}"
    );
    let after = run_of(&app, run.id).await;
    assert_eq!(
        (after.state.as_str(), after.profiles, after.committed_bytes),
        ("running", before.profiles, before.committed_bytes)
    );
    assert!(audit_of(&app, run.id).await.is_empty());

    drop(lock);
    let done = abandon().await.expect("abandoned once the lock is free");
    assert_eq!(done.state, "abandoned");
}

#[tokio::test]
async fn an_abandoned_runs_archived_subscribers_can_be_read_and_restored() {
    let app = spawn_app().await;
    let run = interrupted_run(&app).await;
    held_by(&app, run.id, "", 0).await;
    let id = run.id;
    app.with_conn(move |c| purge::abandon(c, id, &Actor::System("test"), "test", "node retired"))
        .await
        .unwrap();

    // What it committed (its first batch) is read; its second batch, written
    // but never committed, is not: those subscribers are still live.
    let (code, shown, err) = mdm(&app, &["archive", "show", &id.to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(shown.contains("was abandoned by test") && shown.contains("node retired"));
    assert_eq!(
        shown.lines().filter(|l| l.contains("device(s)")).count(),
        3,
        "{shown}"
    );

    let (code, out, err) = mdm(&app, &["archive", "restore", &id.to_string()]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        out.contains("restored 3 subscriber(s) and 3 device(s)"),
        "{out}"
    );
    assert!(
        err.contains("was abandoned") && !err.contains("skipped"),
        "{err}"
    );
    assert_eq!(app.count("profiles").await, 25);

    // A lost segment: nothing to restore, and the restore says why.
    let (_, segment) = folder(&run);
    std::fs::remove_file(&segment).unwrap();
    let (code, out, err) = mdm(&app, &["archive", "restore", &id.to_string()]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("restored 0 subscriber(s)"), "{out}");
    assert!(err.contains("cannot be restored"), "{err}");
}

#[tokio::test]
async fn the_dashboard_says_why_a_run_is_stuck_and_an_administrator_abandons_it() {
    let app = spawn_app().await;
    let run = interrupted_run(&app).await;
    let (_, segment) = folder(&run);
    held_by(&app, run.id, "", 0).await;
    std::fs::remove_file(&segment).unwrap();
    // A purge finds the archive lost and records why on the run.
    let opts = PurgeOptions::new(0, &app.data_dir.join("archive"));
    let db = app.db.clone();
    let refused = tokio::task::spawn_blocking(move || purge::run(&db, "test", &opts, &mut |_| {}))
        .await
        .unwrap();
    assert!(matches!(
        refused,
        Err(RetentionError::ArchiveElsewhere { .. })
    ));
    let stuck = run_of(&app, run.id).await;
    assert!(stuck.error.contains("is not on"), "{}", stuck.error);
    let path = format!("/ops/purges/{}/abandon", run.id);

    // An operator sees why and the way out, but no form, and cannot post one.
    app.add_user("opal", "operator-password-1", Role::Operator)
        .await;
    let operator = client();
    staff_sign_in(&app, &operator, "opal", "operator-password-1").await;
    let html = operator
        .get(app.url("/ops"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!("id=\"purge-{}-stuck\"", run.id)),
        "{html}"
    );
    assert!(html.contains(&askama_escaped(&stuck.error)), "{html}");
    assert!(html.contains(&format!("mdm archive abandon {} --reason", run.id)));
    assert!(!html.contains(&format!("id=\"abandon-{}\"", run.id)));
    let r = operator
        .post(app.url(&path))
        .form(&[
            ("csrf", crate::common::csrf_of(&html).as_str()),
            ("reason", "lost"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);

    // An administrator has the form, with the portal's confirmation.
    app.login_admin().await;
    let (_, html) = app.page("/ops").await;
    let form_at = html
        .find(&format!("id=\"abandon-{}\"", run.id))
        .expect("the abandon form");
    assert!(html[form_at..].contains("data-confirm=\"Abandon purge run"));
    let csrf = crate::common::csrf_of(&html);
    let r = app.post_form(&path, &[("reason", "lost")]).await;
    assert_eq!(r.status().as_u16(), 403, "no CSRF token");
    let r = app
        .post_form(&path, &[("csrf", &csrf), ("reason", "   ")])
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let page = r.text().await.unwrap();
    assert!(
        page.contains(&format!("id=\"abandon-{}-error\"", run.id))
            && page.contains("give the reason")
    );
    assert_eq!(unchanged(&run_of(&app, run.id).await), unchanged(&stuck));

    let r = app
        .post_form(
            &path,
            &[("csrf", &csrf), ("reason", "archive disk replaced")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.page("/ops").await;
    assert!(
        html.contains(&format!("Purge run {} abandoned", run.id)),
        "{html}"
    );
    assert!(
        html.contains(&format!("id=\"purge-{}-abandoned\"", run.id))
            && html.contains("Abandoned by user:admin")
            && html.contains("archive disk replaced"),
        "{html}"
    );
    let gone = run_of(&app, run.id).await;
    assert_eq!(
        (gone.state.as_str(), gone.abandoned_by.as_str()),
        ("abandoned", "user:admin")
    );
    assert_eq!(app.count("profiles").await, 22);
    let audit = audit_of(&app, run.id).await;
    assert_eq!(
        audit
            .iter()
            .map(|a| (a.0.as_str(), a.1.as_str()))
            .collect::<Vec<_>>(),
        [("user:admin", "abandoned")]
    );

    // Again: refused, and said so on the page.
    let r = app
        .post_form(&path, &[("csrf", &csrf), ("reason", "again")])
        .await;
    assert_eq!(r.status().as_u16(), 409);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("id=\"abandon-error\"") && page.contains("not running"),
        "{page}"
    );
    assert_eq!(audit_of(&app, run.id).await.len(), 1);
}

/// Text as askama's HTML escaping writes it.
fn askama_escaped(s: &str) -> String {
    s.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}
