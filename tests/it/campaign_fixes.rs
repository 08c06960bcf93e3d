//! QA's campaign, import and retention findings: a session closed before
//! its handset answered is no failed update, a withdrawn package's hold
//! says how to go on, imports cut off by a restart end, a restore brings
//! the DM credentials and FOTA history back, and the smaller ones (paused
//! re-notify, list counts, empty purges, a dead purge's lease, a missing
//! import column).

use diesel::prelude::*;
use mdm::auth::Role;
use mdm::db::schema::{dm_jobs, fota_events, fota_sessions, import_runs, purge_runs};
use mdm::registry::Actor;
use mdm::retention::lease;
use mdm::retention::purge::{self, PurgeOptions};
use mdm::retention::RetentionError;
use reqwest::Method;
use serde_json::json;

use crate::campaigns::{line, started_campaign, tick};
use crate::common::{spawn_app, spawn_app_with, TestApp};

async fn members(app: &TestApp, id: i64) -> Vec<mdm::fota::campaign::Member> {
    app.with_conn(move |c| {
        mdm::fota::campaign::members(c, id, None, 0, 100)
            .unwrap()
            .into_iter()
            .map(|l| l.member)
            .collect()
    })
    .await
}

async fn campaign(app: &TestApp, id: i64) -> mdm::fota::campaign::Campaign {
    app.with_conn(move |c| mdm::fota::campaign::get(c, id).unwrap())
        .await
}

/// This host's process that held a run before a restart: the same pid (a
/// container's server is pid 1 every time) started at another moment.
fn dead_holder() -> String {
    let me = lease::this_process();
    let (rest, _) = me.rsplit_once(':').unwrap();
    format!("{rest}:1")
}

fn proc_available() -> bool {
    std::path::Path::new("/proc/sys/kernel/random/boot_id").exists()
}

#[tokio::test]
async fn closing_a_session_its_handset_never_answered_leaves_the_device_unanswered() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 3000)
        .await;
    // Two waves of one; a failed update in wave 1 would be over the 50%
    // threshold and hold the campaign.
    let id = started_campaign(&app, &token, 2, 1).await;
    assert_eq!(tick(&app).await.notified, 1);
    let first = members(&app, id).await.remove(0);
    let session = first.fota_session_id.expect("notified with a FOTA session");

    app.login_admin().await;
    let page = format!("/firmware/sessions/{session}");
    let csrf = app.csrf(&page).await;
    let r = app
        .post_form(
            &format!("{page}/close"),
            &[("csrf", &csrf), ("reason", "handset lost")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    // The notification no longer stands: a late call-back runs nothing.
    let (state, detail): (String, String) = app
        .with_conn(move |c| {
            dm_jobs::table
                .filter(dm_jobs::fota_session_id.eq(session))
                .select((dm_jobs::state, dm_jobs::detail))
                .first(c)
                .unwrap()
        })
        .await;
    assert_eq!(state, "expired");
    assert!(
        detail.contains(&format!("FOTA session {session} was closed by user:admin"))
            && detail.contains("handset lost"),
        "{detail}"
    );

    let t = tick(&app).await;
    assert!(t.paused.is_empty(), "no failed update to hold on: {t:?}");
    assert_eq!(t.notified, 1, "wave 2 goes out");
    let all = members(&app, id).await;
    let m = all.iter().find(|m| m.device_id == first.device_id).unwrap();
    assert_eq!(m.state, "unanswered");
    assert!(m.detail.contains("handset lost"), "{}", m.detail);
    let c = campaign(&app, id).await;
    assert_eq!((c.state.as_str(), c.wave), ("running", 2));

    // Paused, the campaign queues its unanswered device again but sends
    // nothing: the flash says what will.
    let location = format!("/firmware/campaigns/{id}");
    let csrf = app.csrf(&location).await;
    let r = app
        .post_form(&format!("{location}/pause"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let csrf = app.csrf(&location).await;
    let r = app
        .post_form(&format!("{location}/renotify"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.page(&location).await;
    assert!(
        html.contains("queued again as wave 3. The campaign is paused: Resume sends them"),
        "{html}"
    );
}

#[tokio::test]
async fn a_campaign_held_for_a_withdrawn_package_says_steps_that_work() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let pkg = app
        .release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 3000)
        .await;
    let id = started_campaign(&app, &token, 1, 1).await;
    let move_to = |state: &'static str| {
        app.api(
            Method::POST,
            &format!("/firmware/packages/{pkg}/state"),
            &token,
        )
        .json(&json!({"state": state}))
        .send()
    };
    assert_eq!(move_to("withdrawn").await.unwrap().status().as_u16(), 200);
    assert_eq!(tick(&app).await.paused, [id]);
    let detail = campaign(&app, id).await.detail;
    assert!(
        detail.contains("move it to testing, then move it to released"),
        "{detail}"
    );
    // Straight back to released is refused, as the hold no longer suggests.
    assert_ne!(move_to("released").await.unwrap().status().as_u16(), 200);
    // The steps it gives work.
    for state in ["testing", "released"] {
        assert_eq!(move_to(state).await.unwrap().status().as_u16(), 200);
    }
    let vault = app.vault.clone();
    let notified = app
        .with_conn(move |c| {
            let actor = Actor::System("test");
            mdm::fota::campaign::act(c, &actor, id, mdm::fota::campaign::Action::Resume).unwrap();
            mdm::fota::campaign_run::step_now(c, &vault, 8, id).notified
        })
        .await;
    assert_eq!(notified, 1);
}

#[tokio::test]
async fn the_campaign_list_counts_the_devices_its_page_counts() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    for n in 1..=2 {
        line(&app, &token, n, "VX9600V04", true).await;
    }
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 3000)
        .await;
    let (id, gone) = app
        .with_conn(|c| {
            let actor = Actor::System("test");
            let plan = mdm::fota::campaign::Plan {
                name: "counts".into(),
                make: "LG".into(),
                model: "VX9600".into(),
                from_version: "VX9600V04".into(),
                first_wave_size: None,
                wave_size: 10,
                failure_threshold: 50,
                ..Default::default()
            };
            let camp = mdm::fota::campaign::create(c, &actor, &plan).unwrap();
            let gone = mdm::fota::campaign::members(c, camp.id, None, 0, 10).unwrap()[1]
                .member
                .device_id;
            // A device deleted after the plan leaves the campaign.
            mdm::registry::device::delete(c, &actor, gone).unwrap();
            (camp.id, gone)
        })
        .await;
    assert!(gone > 0);
    app.login_admin().await;
    let (_, list) = app.page("/firmware/campaigns").await;
    assert!(list.contains("</span> 0 of 1</td>"), "{list}");
    let (_, detail) = app.page(&format!("/firmware/campaigns/{id}")).await;
    assert!(detail.contains("of 1 devices finished"), "{detail}");
}

#[tokio::test]
async fn imports_cut_off_by_a_restart_end_as_failed_and_live_ones_keep_running() {
    if !proc_available() {
        return;
    }
    let app = spawn_app().await;
    let now = mdm::db::now_ms();
    let runs: Vec<(&'static str, String, i64)> = vec![
        ("dead.csv", dead_holder(), now),
        ("alive-here.csv", lease::this_process().to_string(), now),
        ("elsewhere-alive.csv", "other-host:boot:42:7".into(), now),
        (
            "elsewhere-silent.csv",
            "other-host:boot:42:7".into(),
            now - 600_000,
        ),
        ("old-release.csv", String::new(), 0),
    ];
    let ids: Vec<i64> = app
        .with_conn(move |c| {
            runs.iter()
                .map(|(file, holder, beat)| {
                    diesel::insert_into(import_runs::table)
                        .values((
                            import_runs::filename.eq(*file),
                            import_runs::state.eq("running"),
                            import_runs::created_by.eq("user:admin"),
                            import_runs::created_at.eq(if holder.is_empty() {
                                now - 3_600_000
                            } else {
                                now
                            }),
                            import_runs::holder.eq(holder),
                            import_runs::heartbeat_at.eq(*beat),
                        ))
                        .returning(import_runs::id)
                        .get_result::<i64>(c)
                        .unwrap()
                })
                .collect()
        })
        .await;
    // Another node starts on the database (this one, restarted).
    let node = app.second_node(|_| {}).await.expect("second node starts");
    drop(node);
    let states: Vec<(i64, String)> = app
        .with_conn(|c| {
            import_runs::table
                .order(import_runs::id)
                .select((import_runs::id, import_runs::state))
                .load(c)
                .unwrap()
        })
        .await;
    let state_of = |id: i64| states.iter().find(|(i, _)| *i == id).unwrap().1.as_str();
    assert_eq!(state_of(ids[0]), "failed");
    assert_eq!(state_of(ids[1]), "running", "a live process's import");
    assert_eq!(
        state_of(ids[2]),
        "running",
        "its node still says it is alive"
    );
    assert_eq!(state_of(ids[3]), "failed");
    assert_eq!(state_of(ids[4]), "failed");

    app.login_admin().await;
    let (_, html) = app.page(&format!("/devices/import/{}", ids[0])).await;
    assert!(html.contains("data-state=\"failed\""), "{html}");
    assert!(
        html.contains("interrupted by a server restart; nothing was imported"),
        "{html}"
    );
    assert!(!html.contains("http-equiv=\"refresh\""));
}

#[tokio::test]
async fn a_missing_column_is_one_problem_and_per_line_problems_are_capped() {
    let app = spawn_app().await;
    app.login_admin().await;
    let mut missing = String::from("mdn,min\n");
    for i in 0..300 {
        missing.push_str(&format!("312555{i:04},312555{i:04}\n"));
    }
    let html = app.upload_import("missing.csv", &missing).await;
    assert!(html.contains("data-state=\"rejected\""), "{html}");
    assert!(
        html.contains("the file has no &#34;account_id&#34; column, which 300 line(s) need"),
        "{html}"
    );
    assert!(
        !html.contains("<td class=\"num\">2</td>"),
        "no line repeats it: {html}"
    );

    // Every line wrong in its own way: the first thousand listed, the rest
    // counted.
    let mut bad = String::from("mdn,min,account_id,subscriber_name,sid_nid_pairs\n");
    for i in 0..1500 {
        bad.push_str(&format!("312556{i:04},12,ACC,Name,4145/65535\n"));
    }
    let html = app.upload_import("bad.csv", &bad).await;
    assert!(
        html.contains("Nothing was imported: 1500 problem(s)"),
        "{}",
        &html[..html.len().min(3000)]
    );
    assert!(html.contains("<td class=\"num\">1001</td>"));
    assert!(!html.contains("<td class=\"num\">1002</td>"));
    assert!(html.contains("… and 500 more problem(s)"));
    assert!(html.len() < 400_000, "{} bytes", html.len());
    let (_, list) = app.page("/devices/import").await;
    assert!(list.contains("<td class=\"num\">1500</td>"), "{list}");
}

async fn purge_now(app: &TestApp, opts: PurgeOptions) -> Result<Option<i64>, RetentionError> {
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        purge::run(&db, "test", &opts, &mut |_| {}).map(|r| r.map(|r| r.id))
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_purge_with_nothing_to_do_records_nothing() {
    // The server's schedule runs at its start.
    let app = spawn_app_with(|c| c.purge_interval_secs = 3600).await;
    let root = app.data_dir.join("archive");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        purge_now(&app, PurgeOptions::new(0, &root)).await.unwrap(),
        None
    );
    let (code, out, err) =
        crate::common::run_mdm(&app.database_url, &app.data_dir, &["purge"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("nothing to purge"), "{out}");
    let runs: i64 = app
        .with_conn(|c| purge_runs::table.count().get_result(c).unwrap())
        .await;
    assert_eq!(runs, 0);
    assert!(!root.exists(), "no archive folder for nothing");
}

#[tokio::test]
async fn a_purge_this_node_ran_before_its_restart_is_taken_over_at_once() {
    if !proc_available() {
        return;
    }
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    for i in 0..4u32 {
        let mdn = format!("31257{:05}", i);
        let id = app
            .add_subscriber(&token, &crate::common::profile_json(&mdn))
            .await;
        app.with_conn(move |c| {
            mdm::registry::profile::set_state(
                c,
                &Actor::System("test"),
                id,
                mdm::registry::profile::ActivationState::Deactivated,
            )
            .unwrap()
        })
        .await;
    }
    // Past the cutoff even when the run starts within the same millisecond.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let root = app.data_dir.join("archive");
    let mut opts = PurgeOptions::new(0, &root);
    opts.batch = 1;
    opts.crash_after_batches = Some(2);
    assert!(matches!(
        purge_now(&app, opts.clone()).await,
        Err(RetentionError::Interrupted)
    ));
    opts.crash_after_batches = None;
    // Its holder is alive (this very process): the lease holds.
    assert!(matches!(
        purge_now(&app, opts.clone()).await,
        Err(RetentionError::Busy(_))
    ));
    // Another host's fresh run holds too.
    let set_holder = |holder: String| {
        app.with_conn(move |c| {
            diesel::update(purge_runs::table)
                .set((
                    purge_runs::holder.eq(holder),
                    purge_runs::heartbeat_at.eq(mdm::db::now_ms()),
                ))
                .execute(c)
                .unwrap()
        })
    };
    set_holder("other-host:boot:42:7".into()).await;
    assert!(matches!(
        purge_now(&app, opts.clone()).await,
        Err(RetentionError::Busy(_))
    ));
    // This host's process that is gone (the node before its restart): its
    // run resumes now, not two minutes later.
    set_holder(dead_holder()).await;
    let run = purge_now(&app, opts)
        .await
        .unwrap()
        .expect("the run resumes");
    let (state, profiles): (String, i64) = app
        .with_conn(move |c| {
            purge_runs::table
                .find(run)
                .select((purge_runs::state, purge_runs::profiles))
                .first(c)
                .unwrap()
        })
        .await;
    assert_eq!((state.as_str(), profiles), ("completed", 4));
}

#[tokio::test]
async fn a_restored_device_has_its_dm_credentials_and_fota_history_back() {
    use mdm::db::schema::{devices, profiles};
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let device = line(&app, &token, 1, "VX9600V04", true).await;
    let mdn = crate::campaigns::mdn(1);
    // A FOTA history: pending, querying, failed.
    let session = app
        .with_conn(move |c| {
            use mdm::fota::session as fota;
            let s = fota::register_pending(c, device, "omadm", "VX9600V04", "test").unwrap();
            fota::advance(c, s.id, mdm::fota::FotaState::Querying, "asked").unwrap();
            fota::advance(c, s.id, mdm::fota::FotaState::Failed, "gave up").unwrap();
            s.id
        })
        .await;
    let r = app
        .api(
            Method::GET,
            &format!("/devices/{device}/dm-credentials"),
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let before: serde_json::Value = r.json().await.unwrap();
    let profile: i64 = app
        .with_conn(move |c| {
            devices::table
                .find(device)
                .select(devices::profile_id.assume_not_null())
                .first(c)
                .unwrap()
        })
        .await;
    let long_ago = mdm::db::now_ms() - 3 * 86_400_000;
    app.with_conn(move |c| {
        mdm::registry::profile::set_state(
            c,
            &Actor::System("test"),
            profile,
            mdm::registry::profile::ActivationState::Deactivated,
        )
        .unwrap();
        diesel::update(profiles::table)
            .set(profiles::state_changed_at.eq(long_ago))
            .execute(c)
            .unwrap();
    })
    .await;
    let mdm = |args: &[&str]| crate::common::run_mdm(&app.database_url, &app.data_dir, args, None);
    let (code, out, err) = mdm(&["purge", "--older-than", "1d"]);
    assert_eq!(code, 0, "{err}");
    let run: i64 = out.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(app.count("dm_accounts").await, 0);
    let records =
        mdm::retention::archive::read_records(&app.data_dir.join("archive"), run).unwrap();
    let account = &records[0].dm_accounts[0];
    assert!(
        account.client_password.starts_with("sealed:")
            && !account
                .client_password
                .contains(crate::messaging::DEVICE_PASSWORD),
        "the archive keeps the secrets sealed"
    );
    assert_eq!(records[0].fota_sessions[0].events.len(), 3);

    let (code, out, err) = mdm(&["archive", "restore", &run.to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("restored 1 subscriber(s) and 1 device(s)")
            && out.contains("1 OMA-DM account(s) and 1 FOTA session(s)")
            && out.contains("campaign memberships and OMA-DM jobs are not archived"),
        "{out}"
    );
    let restored: i64 = app
        .with_conn(move |c| {
            devices::table
                .inner_join(profiles::table)
                .filter(profiles::mdn.eq(mdn))
                .select(devices::id)
                .first(c)
                .unwrap()
        })
        .await;
    assert_ne!(restored, device);
    let r = app
        .api(
            Method::GET,
            &format!("/devices/{restored}/dm-credentials"),
            &token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let after: serde_json::Value = r.json().await.unwrap();
    assert_eq!(after["client_username"], before["client_username"]);
    // The secrets open for the new row, as they did for the old one.
    let vault = app.vault.clone();
    let password = app
        .with_conn(move |c| {
            mdm::omadm::account::get(c, &vault, restored)
                .unwrap()
                .unwrap()
                .client_password
        })
        .await;
    assert_eq!(password, crate::messaging::DEVICE_PASSWORD);
    let history: Vec<(Option<String>, String, String)> = app
        .with_conn(move |c| {
            let ids: Vec<i64> = fota_sessions::table
                .filter(fota_sessions::device_id.eq(restored))
                .select(fota_sessions::id)
                .load(c)
                .unwrap();
            fota_events::table
                .filter(fota_events::fota_session_id.eq_any(ids))
                .order(fota_events::id)
                .select((
                    fota_events::from_state,
                    fota_events::to_state,
                    fota_events::detail,
                ))
                .load(c)
                .unwrap()
        })
        .await;
    assert_eq!(
        history
            .iter()
            .map(|(f, t, _)| (f.as_deref(), t.as_str()))
            .collect::<Vec<_>>(),
        [
            (None, "pending"),
            (Some("pending"), "querying"),
            (Some("querying"), "failed")
        ]
    );
    assert!(session > 0);
}
