//! The command line's lists as JSON, and a restore that reports progress.

use mdm::auth::Role;
use mdm::registry::profile::ActivationState;
use mdm::registry::Actor;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{profile_json, run_mdm, spawn_app, SendJson};

#[tokio::test]
async fn campaign_list_and_show_speak_json_with_the_wait() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    for n in 1..=2 {
        crate::campaigns::line(&app, &token, n, "VX9600V04", true).await;
    }
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 2000)
        .await;
    let mdm = |args: &[&str]| run_mdm(&app.database_url, &app.data_dir, args, None);
    let (code, out, err) = mdm(&[
        "campaign",
        "create",
        "--name",
        "later",
        "--make",
        "LG",
        "--model",
        "VX9600",
        "--from",
        "VX9600V04",
        "--not-before",
        "2099-01-01 02:00",
        "--start",
    ]);
    assert_eq!(code, 0, "{out}{err}");

    let (code, out, err) = mdm(&["campaign", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let list: Vec<Value> = serde_json::from_str(&out).expect("campaign list --json");
    assert_eq!(list.len(), 1, "{out}");
    let c = &list[0];
    assert_eq!(c["state"], "running");
    assert_eq!(c["name"], "later");
    assert_eq!(
        (c["wave"].as_i64(), c["waves"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (c["finished"].as_i64(), c["total"].as_i64()),
        (Some(0), Some(2))
    );
    assert_eq!(c["path"], "LG VX9600 VX9600V04 → VX9600V06");
    let id = c["id"].as_i64().expect("an id").to_string();

    let (code, out, err) = mdm(&["campaign", "show", &id, "--json"]);
    assert_eq!(code, 0, "{err}");
    let shown: Value = serde_json::from_str(&out).expect("campaign show --json");
    let waiting = shown["waiting"].as_str().unwrap_or_default();
    assert!(waiting.contains("2099"), "{out}");
    assert_eq!(shown["progress"]["overall"]["queued"], 2, "{out}");
}

#[tokio::test]
async fn archive_list_speaks_json_and_a_restore_reports_its_progress() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    for i in 0..3u32 {
        let mdn = format!("31255{:05}", 20_000 + i);
        let p: Value = app
            .api(Method::POST, "/profiles", &token)
            .json(&profile_json(&mdn))
            .send_json()
            .await;
        app.api(Method::POST, "/devices", &token)
            .json(&json!({"esn": format!("9F3{:05X}", i), "make": "LG", "model": "VX8360", "firmware_version": "1", "profile_mdn": mdn}))
            .send()
            .await
            .unwrap();
        let id = p["id"].as_i64().unwrap();
        app.with_conn(move |c| {
            mdm::registry::profile::set_state(
                c,
                &Actor::System("test"),
                id,
                ActivationState::Deactivated,
            )
            .unwrap()
        })
        .await;
    }
    let mdm = |args: &[&str]| run_mdm(&app.database_url, &app.data_dir, args, None);
    let (code, out, err) = mdm(&["purge", "--older-than", "0s"]);
    assert_eq!(code, 0, "{out}{err}");

    let (code, out, err) = mdm(&["archive", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let runs: Vec<Value> = serde_json::from_str(&out).expect("archive list --json");
    assert_eq!(runs.len(), 1, "{out}");
    let r = &runs[0];
    assert_eq!(r["state"], "completed");
    assert_eq!(
        (r["subscribers"].as_i64(), r["devices"].as_i64()),
        (Some(3), Some(3))
    );
    assert!(
        r["started_at"].as_i64().is_some() && r["cutoff"].as_i64().is_some(),
        "{out}"
    );
    let id = r["id"].as_i64().expect("an id").to_string();

    let (code, out, err) = mdm(&["archive", "restore", &id, "--progress-every", "1"]);
    assert_eq!(code, 0, "{err}");
    for done in 1..=3 {
        assert!(
            err.contains(&format!(
                "restore of run {id}: {done} of 3 archived record(s) done ("
            )),
            "{err}"
        );
    }
    assert!(
        out.starts_with(&format!(
            "restored 3 subscriber(s) and 3 device(s) from run {id},"
        )),
        "{out}"
    );
    assert!(
        !out.contains("of 3"),
        "progress stays off standard output: {out}"
    );
}
