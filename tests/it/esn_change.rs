//! ESN changes end to end: billing's API call, the care screen and the CLI;
//! completion by the new handset's IOTA activation; the old handset's
//! de-activation and its purge to the offline archive.

use diesel::prelude::*;
use mdm::auth::Role;
use mdm::db::schema::{devices, esn_changes, profiles};
use mdm::sim::iota_client::{self, IotaOutcome};
use mdm::sim::iota_handset::{HandsetIdentity, IotaFault, IotaHandset};
use mdm::sim::trace::Trace;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{profile_json, run_mdm, spawn_app, SendJson, TestApp};

const MDN: &str = "6135550177";
const OLD_ESN: &str = "9F100001";
const NEW_ESN: &str = "9F100002";

async fn activate(app: &TestApp, esn: &str) -> IotaOutcome {
    let mut h = IotaHandset::new(
        HandsetIdentity::new(esn, None, "Kyocera", "KX-IOTA", 0x0102, 0x2A),
        IotaFault::None,
    );
    iota_client::run(
        &mut h,
        &app.url("/iota/activate"),
        true,
        &Trace::new(None).unwrap(),
    )
    .await
    .unwrap()
}

/// An active subscriber on its first handset, activated over IOTA.
async fn active_line(app: &TestApp, token: &str, mdn: &str, esn: &str) -> i64 {
    let p: Value = app
        .api(Method::POST, "/profiles", token)
        .json(&profile_json(mdn))
        .send_json()
        .await;
    let r = app
        .api(Method::POST, "/devices", token)
        .json(&json!({"esn": esn, "make": "Kyocera", "model": "KX-IOTA", "firmware_version": "1.0", "profile_mdn": mdn}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert!(matches!(
        activate(app, esn).await,
        IotaOutcome::Completed { .. }
    ));
    p["id"].as_i64().unwrap()
}

async fn device_state(app: &TestApp, esn: &'static str) -> (String, Option<i64>) {
    app.with_conn(move |c| {
        devices::table
            .filter(devices::esn.eq(esn))
            .select((devices::activation_state, devices::deactivated_at))
            .first::<(String, Option<i64>)>(c)
            .unwrap()
    })
    .await
}

async fn esns(app: &TestApp, pid: i64) -> (String, Option<String>, Option<String>) {
    app.with_conn(move |c| {
        profiles::table
            .find(pid)
            .select((
                profiles::activation_state,
                profiles::new_esn,
                profiles::activated_esn,
            ))
            .first(c)
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn billing_changes_the_esn_and_the_new_handsets_activation_retires_the_old() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let pid = active_line(&app, &token, MDN, OLD_ESN).await;

    let r = app
        .api(Method::POST, "/esn-changes", &token)
        .json(&json!({"from": MDN, "to": NEW_ESN}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let change: Value = r.json().await.unwrap();
    assert_eq!(change["state"], "pending");
    assert_eq!(change["variant"], "copy");
    assert_eq!(change["old_esn"], OLD_ESN);
    // The copy waits in Pending Activation; the subscriber stays active.
    assert_eq!(device_state(&app, NEW_ESN).await.0, "pending");
    assert_eq!(device_state(&app, OLD_ESN).await.0, "activated");
    assert_eq!(esns(&app, pid).await.0, "activated");

    // A second change while this one waits is refused.
    let r = app
        .api(Method::POST, "/esn-changes", &token)
        .json(&json!({"from": MDN, "to": "9F100003"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);

    // The new handset's one-button activation completes the change.
    assert!(matches!(
        activate(&app, NEW_ESN).await,
        IotaOutcome::Completed { .. }
    ));
    assert_eq!(device_state(&app, NEW_ESN).await.0, "activated");
    let (old_state, stamped) = device_state(&app, OLD_ESN).await;
    assert_eq!(old_state, "deactivated");
    assert!(stamped.is_some(), "time-stamped for purge");
    assert_eq!(
        esns(&app, pid).await,
        ("activated".into(), None, Some(NEW_ESN.into()))
    );
    let r: Value = app
        .api(Method::GET, &format!("/profiles/{pid}/esn-changes"), &token)
        .send_json()
        .await;
    assert_eq!(r["items"][0]["state"], "completed");
    // The retired handset cannot be activated again.
    assert!(matches!(
        activate(&app, OLD_ESN).await,
        IotaOutcome::Refused { code: 403, .. }
    ));

    // The purge archives the retired handset and keeps the subscriber.
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["purge", "--older-than", "0s"],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(app.count("profiles").await, 1);
    assert_eq!(app.count("devices").await, 1);
    let (code, out, _) = run_mdm(&app.database_url, &app.data_dir, &["archive", "list"], None);
    assert_eq!(code, 0);
    assert!(
        out.contains("0 subscribers") && out.contains("1 devices"),
        "{out}"
    );
    let run_id = out
        .lines()
        .find_map(|l| l.split_whitespace().next()?.parse::<i64>().ok())
        .expect("a run id");
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["archive", "restore", &run_id.to_string()],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(device_state(&app, OLD_ESN).await.0, "deactivated");
    assert_eq!(app.count("devices").await, 2);
}

#[tokio::test]
async fn the_field_variant_moves_new_esn_to_activated_esn() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let pid = active_line(&app, &token, MDN, OLD_ESN).await;
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &[
            "esn",
            "change",
            "--from",
            OLD_ESN,
            "--to",
            NEW_ESN,
            "--variant",
            "field",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pending activation"), "{out}");
    assert_eq!(
        esns(&app, pid).await,
        (
            "activated".into(),
            Some(NEW_ESN.into()),
            Some(OLD_ESN.into())
        )
    );
    assert!(matches!(
        activate(&app, NEW_ESN).await,
        IotaOutcome::Completed { .. }
    ));
    assert_eq!(
        esns(&app, pid).await,
        ("activated".into(), None, Some(NEW_ESN.into()))
    );
    assert_eq!(device_state(&app, OLD_ESN).await.0, "deactivated");
}

#[tokio::test]
async fn an_esn_active_elsewhere_is_refused_and_nothing_changes() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    active_line(&app, &token, MDN, OLD_ESN).await;
    active_line(&app, &token, "6135550178", NEW_ESN).await;
    let before = (app.count("devices").await, esn_change_count(&app).await);

    let r = app
        .api(Method::POST, "/esn-changes", &token)
        .json(&json!({"from": MDN, "to": NEW_ESN}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let body: Value = r.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("already active elsewhere") && message.contains("6135550178"),
        "{message}"
    );
    // The CLI says the same and fails.
    let (code, _, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["esn", "change", "--from", MDN, "--to", NEW_ESN],
        None,
    );
    assert_ne!(code, 0);
    assert!(err.contains("already active elsewhere"), "{err}");
    // Malformed and unknown identifiers.
    let r = app
        .api(Method::POST, "/esn-changes", &token)
        .json(&json!({"from": MDN, "to": "not-an-esn"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let r = app
        .api(Method::POST, "/esn-changes", &token)
        .json(&json!({"from": "6135559999", "to": "9F100009"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(
        (app.count("devices").await, esn_change_count(&app).await),
        before
    );
    assert_eq!(device_state(&app, NEW_ESN).await.0, "activated");
}

async fn esn_change_count(app: &TestApp) -> i64 {
    app.with_conn(|c| esn_changes::table.count().get_result::<i64>(c).unwrap())
        .await
}

#[tokio::test]
async fn care_changes_the_esn_from_the_profile_page() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let pid = active_line(&app, &token, MDN, OLD_ESN).await;
    app.add_user("carol", "care-password-123", Role::Care).await;
    let r = app.login("carol", "care-password-123").await;
    assert_eq!(r.status().as_u16(), 303);
    let page = format!("/care/profiles/{pid}");
    let csrf = app.csrf(&page).await;
    let r = app
        .post_form(
            &format!("/care/profiles/{pid}/esn-change"),
            &[("csrf", &csrf), ("to", "9F1ABCDE"), ("variant", "copy")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.page(&page).await;
    assert!(html.contains("pending activation"), "flash shown");
    assert!(html.contains("9F1ABCDE"));
    // A refused change says why on the page and changes nothing.
    let csrf = crate::common::csrf_of(&html);
    let r = app
        .post_form(
            &format!("/care/profiles/{pid}/esn-change"),
            &[("csrf", &csrf), ("to", "9F1ABCDF")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.page(&page).await;
    assert!(html.contains("ESN change refused"), "flash shown");
    assert_eq!(esn_change_count(&app).await, 1);
    // Without the CSRF token nothing happens.
    let r = app
        .post_form(
            &format!("/care/profiles/{pid}/esn-change"),
            &[("to", "9F1ABCD0")],
        )
        .await;
    assert!(r.status().is_client_error());
    assert_eq!(esn_change_count(&app).await, 1);
}
