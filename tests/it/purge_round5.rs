//! The purge, round 5: a run held by a frozen process is warned about once
//! per run and holder by the server's scheduler (not at error on every
//! tick), a run's start, take-over and end are in the audit trail and on
//! the dashboard, and the audit views label a deleted account's name.

use std::path::Path;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use mdm::auth::Role;
use mdm::db::schema::{audit_events, purge_runs};
use mdm::registry::audit::{self, EntityKind};
use mdm::registry::Actor;
use mdm::retention::lease::{self, RunLock};
use mdm::retention::purge::{self, PurgeOptions, PurgeRun};
use mdm::retention::{archive, RetentionError};
use serde_json::Value;

use crate::common::{profile_json, spawn_app, TestApp};
use crate::served::{serve_command, Served};

async fn run_purge(
    app: &TestApp,
    started_by: &'static str,
    opts: &PurgeOptions,
) -> Result<Option<PurgeRun>, RetentionError> {
    let (db, opts) = (app.db.clone(), opts.clone());
    tokio::task::spawn_blocking(move || purge::run(&db, started_by, &opts, &mut |_| {}))
        .await
        .unwrap()
}

/// 20 subscribers due and a purge of them killed after its second batch:
/// the run is left running, held by this (live) test process.
async fn interrupted_run(app: &TestApp) -> PurgeRun {
    app.purgeable_subscribers("31288", "9F5").await;
    let mut opts = PurgeOptions::new(0, &app.data_dir.join("archive"));
    opts.batch = 3;
    opts.crash_after_batches = Some(2);
    let crashed = run_purge(app, "test", &opts).await;
    assert!(
        matches!(crashed, Err(RetentionError::Interrupted)),
        "{crashed:?}"
    );
    let run = app
        .with_conn(|c| purge::recent(c, 1).unwrap())
        .await
        .remove(0);
    assert_eq!(run.state, "running");
    run
}

/// Names `holder` as the run's process, its lease run out long ago.
async fn held_by(app: &TestApp, id: i64, holder: &str) {
    let holder = holder.to_string();
    app.with_conn(move |c| {
        diesel::update(purge_runs::table.find(id))
            .set((
                purge_runs::holder.eq(holder),
                purge_runs::heartbeat_at.eq(0i64),
            ))
            .execute(c)
            .unwrap()
    })
    .await;
}

/// The run's audit events, oldest first: (actor, action, detail).
async fn trail_of(app: &TestApp, id: i64) -> Vec<(String, String, Value)> {
    let rows: Vec<(String, String, String)> = app
        .with_conn(move |c| {
            audit_events::table
                .filter(audit_events::entity_kind.eq("purge_run"))
                .filter(audit_events::entity_id.eq(id))
                .order(audit_events::id.asc())
                .select((
                    audit_events::actor,
                    audit_events::action,
                    audit_events::detail,
                ))
                .load(c)
                .unwrap()
        })
        .await;
    rows.into_iter()
        .map(|(a, b, d)| (a, b, serde_json::from_str(&d).expect("detail is JSON")))
        .collect()
}

/// `mdm serve` against the test's database, its purge scheduled every
/// second, its log in JSON lines.
struct Scheduler(Served);

impl Scheduler {
    fn start(app: &TestApp) -> Scheduler {
        Scheduler(Served::spawn(
            serve_command(&app.database_url, &app.data_dir)
                .env("MDM_ARCHIVE_DIR", app.data_dir.join("archive"))
                .env("MDM_PURGE_INTERVAL_SECS", "1")
                // The ticks after the warning are at debug: counted to know
                // that the scheduler went on refusing without warning again.
                .env("MDM_LOG", "info,mdm::retention::schedule=debug")
                .env("MDM_LOG_FORMAT", "json"),
        ))
    }

    fn all(&self) -> Vec<Value> {
        self.0
            .lines()
            .into_iter()
            .map(|line| {
                serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"level": "?", "raw": line}))
            })
            .collect()
    }

    fn dump(&self) -> String {
        self.0.text()
    }

    /// The lines at `level` whose message contains `text`.
    fn count(&self, level: &str, text: &str) -> usize {
        self.all()
            .iter()
            .filter(|l| l["level"] == level && message(l).contains(text))
            .count()
    }

    /// Waits until `count(level, text)` reaches `n`.
    fn wait_for(&self, level: &str, text: &str, n: usize) {
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            if self.count(level, text) >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "fewer than {n} {level} lines with {text:?} in:\n{}",
            self.dump()
        );
    }
}

fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or_default()
}

const HELD: &str = "held by a frozen process";
const STILL_HELD: &str = "still held by a frozen process";

#[tokio::test]
async fn a_frozen_holder_is_warned_about_once_per_holder_and_the_take_over_is_audited() {
    let app = spawn_app().await;
    let run = interrupted_run(&app).await;
    // Its lease ran out, but its holder (this process) is alive and holds
    // the run's lock, as a frozen purge would: the scheduler of another
    // process must leave it alone, tick after tick.
    held_by(&app, run.id, lease::this_process()).await;
    let dir = archive::run_dir(Path::new(&run.archive_dir), run.id);
    let lock = RunLock::try_acquire(&dir)
        .unwrap()
        .expect("the run's lock is free");

    let served = Scheduler::start(&app);
    served.wait_for("WARN", HELD, 1);
    served.wait_for("DEBUG", STILL_HELD, 3);
    let warned: Vec<Value> = served
        .all()
        .into_iter()
        .filter(|l| l["level"] == "WARN" && message(l).contains(HELD))
        .collect();
    assert_eq!(warned.len(), 1, "once, not per tick:\n{}", served.dump());
    assert_eq!(warned[0]["fields"]["run"], run.id);
    assert!(
        warned[0]["fields"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains(lease::this_process()),
        "it names the holder: {}",
        warned[0]
    );
    assert_eq!(
        served.count("ERROR", ""),
        0,
        "an expected refusal is no error:\n{}",
        served.dump()
    );

    // Another process comes to hold the run (another node's, frozen too):
    // warned about once more.
    let other = "node-b:another-boot:4242:99";
    held_by(&app, run.id, other).await;
    served.wait_for("WARN", HELD, 2);
    let debug_before = served.count("DEBUG", STILL_HELD);
    served.wait_for("DEBUG", STILL_HELD, debug_before + 2);
    assert_eq!(served.count("WARN", HELD), 2, "{}", served.dump());
    let last_warning = served
        .all()
        .into_iter()
        .rfind(|l| l["level"] == "WARN" && message(l).contains(HELD))
        .unwrap();
    assert!(
        last_warning["fields"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains(other),
        "{last_warning}"
    );
    assert_eq!(served.count("ERROR", ""), 0, "{}", served.dump());
    // Nothing was changed meanwhile.
    let before = app
        .with_conn(move |c| purge::find(c, run.id).unwrap())
        .await;
    assert_eq!(
        (
            before.state.as_str(),
            before.holder.as_str(),
            before.profiles
        ),
        ("running", other, 3)
    );

    // The holder ends: the scheduler takes the run over and finishes it.
    drop(lock);
    served.wait_for("INFO", "scheduled purge archived subscribers", 1);
    let done = app
        .with_conn(move |c| purge::find(c, run.id).unwrap())
        .await;
    assert_eq!((done.state.as_str(), done.profiles), ("completed", 20));
    assert_eq!(served.count("ERROR", ""), 0, "{}", served.dump());

    let trail = trail_of(&app, run.id).await;
    let actions: Vec<(&str, &str)> = trail
        .iter()
        .map(|(a, b, _)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("system:purge", "started"),
            ("system:purge-scheduler", "resumed"),
            ("system:purge-scheduler", "completed"),
        ],
        "{trail:?}"
    );
    let (started, resumed, completed) = (&trail[0].2, &trail[1].2, &trail[2].2);
    assert_eq!(started["started_by"], "test");
    assert_eq!(started["cutoff"], run.cutoff);
    assert_eq!(resumed["was_held_by"], other);
    assert_eq!(resumed["subscribers_archived"], 3);
    assert_eq!(completed["state"], "completed");
    assert_eq!(completed["subscribers_archived"], 20);
    assert_eq!(completed["devices_archived"], done.devices);
    assert_eq!(completed["cutoff"], run.cutoff);

    // On the dashboard's recent events, with what each says in brief.
    app.login_admin().await;
    let (status, page) = app.page("/ops").await;
    assert_eq!(status, 200);
    for said in [
        format!("started purge_run {}", run.id),
        format!("resumed purge_run {}", run.id),
        format!("completed purge_run {}", run.id),
        format!("20 subscriber(s) and {} device(s) archived", done.devices),
    ] {
        assert!(page.contains(&said), "{said:?} in the dashboard:\n{page}");
    }
}

#[tokio::test]
async fn a_runs_start_and_end_are_audited_with_its_cutoff_and_counts() {
    let app = spawn_app().await;
    app.purgeable_subscribers("31289", "9F6").await;
    let opts = PurgeOptions::new(0, &app.data_dir.join("archive"));
    let done = run_purge(&app, "cli", &opts).await.unwrap().expect("a run");
    let trail = trail_of(&app, done.id).await;
    assert_eq!(trail.len(), 2, "{trail:?}");
    let (actor, action, started) = &trail[0];
    assert_eq!((actor.as_str(), action.as_str()), ("system:cli", "started"));
    assert_eq!(started["started_by"], "cli");
    assert_eq!(started["cutoff"], done.cutoff);
    assert!(started["cutoff_at"].as_str().is_some_and(|s| !s.is_empty()));
    let (actor, action, ended) = &trail[1];
    assert_eq!(
        (actor.as_str(), action.as_str()),
        ("system:cli", "completed")
    );
    assert_eq!(ended["state"], "completed");
    assert_eq!(ended["subscribers_archived"], 20);
    assert_eq!(ended["devices_archived"], done.devices);
    assert_eq!(ended["eligible"], 20);

    // A purge with nobody due leaves no run, and nothing in the trail.
    let events = || async {
        app.with_conn(|c| {
            audit_events::table
                .filter(audit_events::entity_kind.eq("purge_run"))
                .count()
                .get_result::<i64>(c)
                .unwrap()
        })
        .await
    };
    let before = events().await;
    assert!(run_purge(&app, "scheduler", &opts).await.unwrap().is_none());
    assert_eq!(events().await, before);
}

#[tokio::test]
async fn a_failed_run_is_audited_with_its_error_in_the_same_change_as_its_state() {
    let app = spawn_app().await;
    app.purgeable_subscribers("31290", "9F7").await;
    let root = app.data_dir.join("archive");
    // The first segment's path is taken by a folder: the run's first write
    // to its archive fails, as a full or broken disk would make it.
    for id in 1..=5 {
        std::fs::create_dir_all(archive::segment_path(&root, id, 1)).unwrap();
    }
    let opts = PurgeOptions::new(0, &root);
    let failed = run_purge(&app, "scheduler", &opts).await;
    let Err(e) = failed else {
        panic!("the purge failed: {failed:?}")
    };
    let run = app
        .with_conn(|c| purge::recent(c, 1).unwrap())
        .await
        .remove(0);
    assert_eq!(run.state, "failed");
    let trail = trail_of(&app, run.id).await;
    let actions: Vec<(&str, &str)> = trail
        .iter()
        .map(|(a, b, _)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("system:purge-scheduler", "started"),
            ("system:purge-scheduler", "failed"),
        ]
    );
    let ended = &trail[1].2;
    assert_eq!(ended["state"], "failed");
    assert_eq!(ended["subscribers_archived"], 0);
    assert_eq!(run.error, e.to_string());
    assert_eq!(ended["error"], run.error.as_str());
    assert_eq!(app.count("profiles").await, 25, "nothing deleted");
}

#[tokio::test]
async fn the_audit_views_label_a_deleted_accounts_name() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let pid = app
        .add_subscriber(&token, &profile_json("3129110000"))
        .await;
    let device = app
        .api_create(
            "/devices",
            &token,
            &serde_json::json!({"esn": "9F800001", "make": "LG", "model": "VX8360", "firmware_version": "1", "profile_mdn": "3129110000"}),
        )
        .await;
    let device_id = device["id"].as_i64().expect("device id");
    let capability = app
        .api_create(
            "/capabilities",
            &token,
            &serde_json::json!({"make": "LG", "model": "VX8360", "version_min": "1", "protocol": "omadm"}),
        )
        .await;
    let capability_id = capability["id"].as_i64().expect("capability id");
    app.add_user("leaver", "leaver-password-1", Role::Care)
        .await;
    // `leaver.b` keeps its account: a name the deleted one is a prefix of.
    app.add_user("leaver.b", "leaver-password-2", Role::Care)
        .await;
    app.with_conn(move |c| {
        for (who, kind, id) in [
            ("leaver", EntityKind::Profile, pid),
            ("leaver.b", EntityKind::Profile, pid),
            ("leaver", EntityKind::Device, device_id),
            ("leaver", EntityKind::Capability, capability_id),
            ("leaver.b", EntityKind::Capability, capability_id),
        ] {
            audit::record(
                c,
                &Actor::User(who.into()),
                kind,
                id,
                "updated",
                &serde_json::json!({"note": "edited by hand"}),
            )
            .unwrap();
        }
        let leaver = mdm::auth::users::by_name(c, "leaver").unwrap();
        mdm::auth::users::delete(c, &Actor::User("admin".into()), leaver.id).unwrap();
    })
    .await;

    app.login_admin().await;
    let deleted = r#"user:leaver <span class="deleted-account""#;
    for path in [
        format!("/care/profiles/{pid}"),
        format!("/devices/{device_id}"),
        format!("/capabilities/{capability_id}/edit"),
        "/ops".to_string(),
    ] {
        let (status, page) = app.page(&path).await;
        assert_eq!(status, 200, "{path}");
        assert!(page.contains(deleted), "{path} labels the leaver:\n{page}");
        assert!(page.contains(">(deleted)</span>"), "{path}");
        for kept in ["user:leaver.b", "user:admin"] {
            assert!(
                !page.contains(&format!("{kept} <span class=\"deleted-account\"")),
                "{path}: {kept} is not deleted"
            );
        }
    }
    // The dashboard lists the deletion itself by the admin, unlabelled.
    let (_, dashboard) = app.page("/ops").await;
    assert!(
        dashboard.contains(r#"<span class="actor">user:admin</span>"#),
        "{dashboard}"
    );
}
