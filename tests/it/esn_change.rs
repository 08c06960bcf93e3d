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
    // A subscriber that does not exist has no history to show: 404, as its
    // audit trail answers.
    for path in ["esn-changes", "audit"] {
        let r = app
            .api(Method::GET, &format!("/profiles/999999/{path}"), &token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{path}");
    }
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
    // Answered with the page itself, the form kept.
    assert_eq!(r.status().as_u16(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("ESN change refused"), "reason shown");
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

async fn set_line_state(app: &TestApp, token: &str, pid: i64, state: &str) {
    let r = app
        .api(Method::POST, &format!("/profiles/{pid}/activation"), token)
        .json(&json!({ "state": state }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

async fn change_esn(app: &TestApp, token: &str, from: &str, to: &str) -> reqwest::Response {
    app.api(Method::POST, "/esn-changes", token)
        .json(&json!({ "from": from, "to": to }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_reactivated_line_takes_back_its_handset_and_the_purge_takes_only_the_retired_one() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let pid = active_line(&app, &token, MDN, OLD_ESN).await;
    assert_eq!(
        change_esn(&app, &token, MDN, NEW_ESN)
            .await
            .status()
            .as_u16(),
        201
    );
    assert!(matches!(
        activate(&app, NEW_ESN).await,
        IotaOutcome::Completed { .. }
    ));

    set_line_state(&app, &token, pid, "deactivated").await;
    assert_eq!(device_state(&app, NEW_ESN).await.0, "deactivated");
    set_line_state(&app, &token, pid, "activated").await;
    // The handset de-activated with the line follows it back; the one the
    // ESN change retired does not.
    assert_eq!(
        device_state(&app, NEW_ESN).await,
        ("activated".into(), None)
    );
    assert_eq!(device_state(&app, OLD_ESN).await.0, "deactivated");

    // De-activated again and re-activated after a pending deactivation:
    // the purge never takes the active line's handset.
    set_line_state(&app, &token, pid, "deactivated").await;
    set_line_state(&app, &token, pid, "pending").await;
    set_line_state(&app, &token, pid, "activated").await;
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["purge", "--older-than", "0s"],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 subscriber(s) and 1 device(s)"), "{out}");
    assert_eq!(device_state(&app, NEW_ESN).await.0, "activated");
    assert_eq!(app.count("devices").await, 1);

    // A handset de-activated with its line waits for the line's own purge
    // clock, however long ago the handset itself was stamped.
    set_line_state(&app, &token, pid, "deactivated").await;
    app.with_conn(|c| {
        diesel::update(devices::table.filter(devices::esn.eq(NEW_ESN)))
            .set(devices::deactivated_at.eq(mdm::db::now_ms() - 2 * 86_400_000))
            .execute(c)
            .unwrap()
    })
    .await;
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["purge", "--older-than", "1d"],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 subscriber(s) and 0 device(s)"), "{out}");
    assert_eq!(app.count("devices").await, 1);
}

#[tokio::test]
async fn a_second_esn_change_goes_from_the_current_handset_not_the_retired_one() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    active_line(&app, &token, MDN, OLD_ESN).await;
    assert_eq!(
        change_esn(&app, &token, MDN, NEW_ESN)
            .await
            .status()
            .as_u16(),
        201
    );
    assert!(matches!(
        activate(&app, NEW_ESN).await,
        IotaOutcome::Completed { .. }
    ));
    // The line's phone is the handset in service, not the retired one.
    let v: Value = app
        .api(Method::GET, &format!("/devices/lookup/{MDN}"), &token)
        .send_json()
        .await;
    assert_eq!(v["device"]["esn"], NEW_ESN, "{v}");
    let (code, out, _) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["device", "show", MDN],
        None,
    );
    assert_eq!(code, 0);
    assert!(out.contains(NEW_ESN) && !out.contains(OLD_ESN), "{out}");

    // Naming the retired handset is refused and changes nothing.
    let r = change_esn(&app, &token, OLD_ESN, "9F100003").await;
    assert_eq!(r.status().as_u16(), 409);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("retired"),
        "{body}"
    );
    assert_eq!(esn_change_count(&app).await, 1);

    let r = change_esn(&app, &token, MDN, "9F100003").await;
    assert_eq!(r.status().as_u16(), 201);
    let change: Value = r.json().await.unwrap();
    assert_eq!(change["old_esn"], NEW_ESN);
    assert!(matches!(
        activate(&app, "9F100003").await,
        IotaOutcome::Completed { .. }
    ));
    assert_eq!(device_state(&app, NEW_ESN).await.0, "deactivated");
    assert_eq!(device_state(&app, "9F100003").await.0, "activated");
    assert_eq!(device_state(&app, OLD_ESN).await.0, "deactivated");
}

async fn change_state(app: &TestApp, id: i64) -> String {
    app.with_conn(move |c| {
        esn_changes::table
            .find(id)
            .select(esn_changes::state)
            .first::<String>(c)
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn deleting_the_new_handset_or_asking_cancels_a_waiting_esn_change() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let pid = active_line(&app, &token, MDN, OLD_ESN).await;
    let r = app
        .api(Method::POST, "/esn-changes", &token)
        .json(&json!({"from": MDN, "to": NEW_ESN, "variant": "field"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let first: Value = r.json().await.unwrap();
    let r = app
        .api(
            Method::DELETE,
            &format!("/devices/{}", first["new_device_id"]),
            &token,
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let first_id = first["id"].as_i64().unwrap();
    assert_eq!(change_state(&app, first_id).await, "cancelled");
    // The New ESN went with it; the subscriber stays on the old handset.
    assert_eq!(
        esns(&app, pid).await,
        ("activated".into(), None, Some(OLD_ESN.into()))
    );
    assert_eq!(device_state(&app, OLD_ESN).await.0, "activated");

    // A later change is accepted, and care (here the API) can cancel it.
    let r = change_esn(&app, &token, MDN, "9F100003").await;
    assert_eq!(r.status().as_u16(), 201);
    let second: Value = r.json().await.unwrap();
    let cancel = format!("/esn-changes/{}/cancel", second["id"]);
    let r: Value = app.api(Method::POST, &cancel, &token).send_json().await;
    assert_eq!(r["state"], "cancelled");
    let new_owner = app
        .with_conn(|c| {
            devices::table
                .filter(devices::esn.eq("9F100003"))
                .select(devices::profile_id)
                .first::<Option<i64>>(c)
                .unwrap()
        })
        .await;
    assert_eq!(new_owner, None, "the new handset left the line");
    let r = app.api(Method::POST, &cancel, &token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 409, "already cancelled");
    let r = app
        .api(Method::POST, "/esn-changes/999999/cancel", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let (_, care) = app.token(Role::Firmware).await;
    let r = app.api(Method::POST, &cancel, &care).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let audit: Value = app
        .api(Method::GET, &format!("/profiles/{pid}/audit"), &token)
        .send_json()
        .await;
    let cancelled = audit.to_string().matches("ESN change cancelled").count();
    assert_eq!(cancelled, 2, "{audit}");

    // The CLI cancels the waiting change of a line.
    let (code, out, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["esn", "change", "--from", MDN, "--to", "9F100004"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let (code, out2, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["esn", "cancel", "--mdn", MDN],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out2.contains("cancelled"), "{out2}");
    let (code, _, err) = run_mdm(
        &app.database_url,
        &app.data_dir,
        &["esn", "cancel", "--mdn", MDN],
        None,
    );
    assert_ne!(code, 0);
    assert!(err.contains("waiting for activation"), "{err}");
    assert_eq!(
        change_esn(&app, &token, MDN, NEW_ESN)
            .await
            .status()
            .as_u16(),
        201
    );
}

#[tokio::test]
async fn care_cancels_a_waiting_esn_change_from_the_profile_page() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let pid = active_line(&app, &token, MDN, OLD_ESN).await;
    let other = active_line(&app, &token, "6135550178", "9F100005").await;
    let change: Value = change_esn(&app, &token, MDN, NEW_ESN)
        .await
        .json()
        .await
        .unwrap();
    let cid = change["id"].as_i64().unwrap();
    app.add_user("carol", "care-password-123", Role::Care).await;
    assert_eq!(
        app.login("carol", "care-password-123")
            .await
            .status()
            .as_u16(),
        303
    );
    let page = format!("/care/profiles/{pid}");
    let (_, html) = app.page(&page).await;
    let action = format!("/care/profiles/{pid}/esn-changes/{cid}/cancel");
    assert!(html.contains(&action), "a cancel button");
    let csrf = crate::common::csrf_of(&html);

    // Without the CSRF token, or through another subscriber's page, nothing happens.
    let r = app.post_form(&action, &[]).await;
    assert!(r.status().is_client_error());
    let r = app
        .post_form(
            &format!("/care/profiles/{other}/esn-changes/{cid}/cancel"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(change_state(&app, cid).await, "pending");

    let r = app.post_form(&action, &[("csrf", &csrf)]).await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.page(&page).await;
    assert!(
        html.contains("cancelled: the subscriber stays"),
        "flash shown"
    );
    assert!(!html.contains(&action), "no button once cancelled");
    assert_eq!(change_state(&app, cid).await, "cancelled");
    // Cancelling again says why on the page.
    let csrf = crate::common::csrf_of(&html);
    app.post_form(&action, &[("csrf", &csrf)]).await;
    let (_, html) = app.page(&page).await;
    assert!(html.contains("Not cancelled"), "flash shown");
}
