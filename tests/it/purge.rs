use mdm::auth::Role;
use mdm::registry::Actor;
use mdm::retention::purge::{self, PurgeOptions, PurgeRun};
use mdm::retention::RetentionError;
use reqwest::Method;
use serde_json::json;

use crate::common::{profile_json, spawn_app, SendJson, TestApp};

/// Runs the purge with `opts` on a blocking thread, as `mdm purge` runs it.
pub(crate) async fn run_purge(
    app: &TestApp,
    opts: &PurgeOptions,
) -> Result<Option<PurgeRun>, RetentionError> {
    let (db, opts) = (app.db.clone(), opts.clone());
    tokio::task::spawn_blocking(move || purge::run(&db, "test", &opts, &mut |_| {}))
        .await
        .unwrap()
}

/// [`TestApp::purgeable_subscribers`] and a purge of them to `root`, in
/// batches of three, killed after its second batch: the first committed,
/// the second written but not. Returns the MDNs due and the options to
/// resume the purge with.
pub(crate) async fn interrupted_purge(
    app: &TestApp,
    mdn_prefix: &str,
    esn_prefix: &str,
    root: &std::path::Path,
) -> (Vec<String>, PurgeOptions) {
    let due = app.purgeable_subscribers(mdn_prefix, esn_prefix).await;
    let mut opts = PurgeOptions::new(0, root);
    opts.batch = 3;
    opts.crash_after_batches = Some(2);
    let crashed = run_purge(app, &opts).await;
    assert!(matches!(crashed, Err(RetentionError::Interrupted)));
    opts.crash_after_batches = None;
    (due, opts)
}

#[tokio::test]
async fn a_purge_killed_midway_resumes_and_archives_each_subscriber_exactly_once() {
    let app = spawn_app().await;
    let root = app.data_dir.join("archive");
    let (_, mut opts) = interrupted_purge(&app, "31255", "9F2", &root).await;
    // The first batch was committed; the second was written but not committed.
    assert_eq!(app.count("profiles").await, 22);

    // A lease of nothing: the killed run, still marked running, is taken
    // over at once.
    opts.lease_ms = 0;
    let done = run_purge(&app, &opts).await.unwrap().expect("a run");
    assert_eq!(
        (done.state.as_str(), done.profiles, done.devices),
        ("completed", 20, 20)
    );
    assert_eq!(app.count("profiles").await, 5);
    assert_eq!(app.count("devices").await, 5);

    let records = mdm::retention::archive::read_records(&root, done.id).unwrap();
    let mut mdns: Vec<&str> = records.iter().map(|r| r.mdn()).collect();
    mdns.sort();
    mdns.dedup();
    assert_eq!(
        (records.len(), mdns.len()),
        (20, 20),
        "no subscriber lost or archived twice"
    );
    assert!(
        records
            .iter()
            .all(|r| r.devices.len() == 1 && !r.audit.is_empty()),
        "devices and history travel along"
    );
    let manifest = mdm::retention::archive::read_manifest(&root, done.id).unwrap();
    assert_eq!(manifest.profiles, 20);
    assert_eq!(manifest.segments.iter().map(|s| s.records).sum::<u64>(), 20);

    app.login_admin().await;
    let (_, html) = app.page("/ops").await;
    assert!(html.contains("id=\"purge-runs\"") && html.contains("20 of 20"));
}

#[tokio::test]
async fn recent_deactivations_stay_and_the_cli_lists_shows_and_restores_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = crate::common::fresh_database(dir.path());
    let app = crate::common::spawn_app_with({
        let url = url.clone();
        move |c| c.database_url = url
    })
    .await;
    app.purgeable_subscribers("31255", "9F2").await;
    let data = dir.path().join("cli-data");
    let mdm = |args: &[&str]| crate::common::run_mdm(&url, &data, args, None);

    let (code, out, err) = mdm(&["purge", "--older-than", "1d"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("archived 0 subscriber(s)"), "{out}");
    assert_eq!(app.count("profiles").await, 25);

    let (code, out, err) = mdm(&["purge", "--older-than", "0s"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("archived 20 subscriber(s) and 20 device(s)"),
        "{out}"
    );
    assert_eq!(app.count("profiles").await, 5);
    let (_, list, _) = mdm(&["archive", "list"]);
    assert!(
        list.contains("completed") && list.contains("20 subscribers"),
        "{list}"
    );
    let run_id = list
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (code, shown, _) = mdm(&["archive", "show", &run_id]);
    assert_eq!(code, 0);
    assert!(
        shown.contains("\"format\": \"mdm-offline-archive\"") && shown.contains("3125510000"),
        "{shown}"
    );

    let (code, out, err) = mdm(&["archive", "restore", &run_id]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("restored 20 subscriber(s) and 20 device(s)"),
        "{out}"
    );
    assert_eq!(app.count("profiles").await, 25);
    let (_, out, err) = mdm(&["archive", "restore", &run_id]);
    assert!(
        out.contains("restored 0 subscriber(s)") && err.contains("in use again"),
        "{out}{err}"
    );
    let (code, _, err) = mdm(&["purge", "--older-than", "six months"]);
    assert_ne!(code, 0);
    assert!(err.contains("duration"), "{err}");
    drop(app);
    crate::common::drop_database(pg);
}

#[tokio::test]
async fn a_restored_subscriber_signs_in_with_its_pin_and_the_next_purge_leaves_it() {
    use diesel::prelude::*;
    use mdm::db::schema::{devices, profiles};
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let mdn = "3125599001";
    let mut line = profile_json(mdn);
    line["pin"] = json!("4321");
    let p: serde_json::Value = app
        .api(Method::POST, "/profiles", &token)
        .json(&line)
        .send_json()
        .await;
    app.api(Method::POST, "/devices", &token)
        .json(&json!({"esn": "9F3A0001", "make": "LG", "model": "VX8360", "firmware_version": "1", "profile_mdn": mdn}))
        .send()
        .await
        .unwrap();
    let r = app
        .api(
            Method::POST,
            &format!("/profiles/{}/activation", p["id"]),
            &token,
        )
        .json(&json!({"state": "deactivated"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // De-activated three days ago.
    let long_ago = mdm::db::now_ms() - 3 * 86_400_000;
    app.with_conn(move |c| {
        diesel::update(profiles::table)
            .set(profiles::state_changed_at.eq(long_ago))
            .execute(c)
            .unwrap();
        diesel::update(devices::table)
            .set(devices::deactivated_at.eq(long_ago))
            .execute(c)
            .unwrap();
    })
    .await;
    let mdm = |args: &[&str]| crate::common::run_mdm(&app.database_url, &app.data_dir, args, None);
    let (code, out, err) = mdm(&["purge", "--older-than", "1d"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("archived 1 subscriber(s) and 1 device(s)"),
        "{out}"
    );
    let run: i64 = out.split_whitespace().nth(2).unwrap().parse().unwrap();
    let root = app.data_dir.join("archive");
    let records = mdm::retention::archive::read_records(&root, run).unwrap();
    let hash = records[0].profile["pin_hash"].as_str().unwrap_or_default();
    assert!(hash.starts_with("$argon2id$"), "{}", records[0].profile);

    let (code, out, err) = mdm(&["archive", "restore", &run.to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("restored 1 subscriber(s) and 1 device(s)"),
        "{out}"
    );
    // The restore restarts the purge clock.
    let (code, out, err) = mdm(&["purge", "--older-than", "1d"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("archived 0 subscriber(s) and 0 device(s)"),
        "{out}"
    );
    assert_eq!(
        (app.count("profiles").await, app.count("devices").await),
        (1, 1)
    );
    // The subscriber signs in with the PIN it had.
    let csrf = app.csrf("/self/login").await;
    let r = app
        .post_form(
            "/self/login",
            &[("mdn", mdn), ("pin", "4321"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
}

#[tokio::test]
async fn an_archive_from_before_pins_were_archived_still_restores() {
    use diesel::prelude::*;
    use mdm::db::schema::devices;
    let app = spawn_app().await;
    let root = app.data_dir.join("archive");
    let run = 900;
    // Records as older releases wrote them: no pin_hash, no retired_at; a
    // handset an ESN change retired, and one purged although it had only
    // been de-activated with its line.
    let line = json!({
        "profile": {"id": 7, "mdn": "3125599002", "min": "3125599002", "account_id": "ACC-1",
            "subscriber_name": "Old Archive", "sid_nid_pairs": "4145/65535", "features": "",
            "activation_state": "deactivated", "state_changed_at": 1_000, "created_at": 1_000},
        "devices": [{"id": 3, "esn": "9F3A0002", "make": "LG", "model": "VX8360",
            "firmware_version": "1", "profile_id": 7, "activation_state": "deactivated",
            "deactivated_at": 1_000}],
        "audit": []
    });
    let handset = |id: i64, esn: &str, action: &str| {
        json!({
            "retired": true,
            "profile": {"id": 7, "mdn": "3125599002"},
            "devices": [{"id": id, "esn": esn, "make": "LG", "model": "VX8360",
                "firmware_version": "1", "profile_id": 7, "activation_state": "deactivated",
                "deactivated_at": 1_000}],
            "audit": [{"id": 1, "at": 1_000, "actor": "system:iota", "entity_kind": "device",
                "entity_id": id, "action": action, "detail": ""}]
        })
        .to_string()
    };
    mdm::retention::archive::append_member(
        &mdm::retention::archive::segment_path(&root, run, 1),
        0,
        &[
            line.to_string(),
            handset(4, "9F3A0003", "de-activated by ESN change"),
            handset(5, "9F3A0004", "updated"),
        ],
    )
    .unwrap();
    mdm::retention::archive::write_manifest(&root, run, 1_000, 1, 3).unwrap();
    let vault = app.vault.clone();
    let report = app
        .with_conn(move |c| {
            mdm::retention::restore::restore(
                c,
                &vault,
                &root,
                run,
                &Actor::System("test"),
                &mut |_, _| {},
            )
            .unwrap()
        })
        .await;
    assert_eq!((report.profiles, report.devices), (1, 3));
    let retired = app
        .with_conn(|c| {
            devices::table
                .order(devices::esn.asc())
                .select(devices::retired_at.is_not_null())
                .load::<bool>(c)
                .unwrap()
        })
        .await;
    assert_eq!(retired, [false, true, false]);
    // The restore restarted their purge clocks: the retired handset waits too.
    let (code, out, err) = crate::common::run_mdm(
        &app.database_url,
        &app.data_dir,
        &["purge", "--older-than", "1d"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("archived 0 subscriber(s) and 0 device(s)"),
        "{out}"
    );
}
