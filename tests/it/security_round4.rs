//! Security, fourth round: filing PRLs takes the O&M role, the current PIN
//! and password asked before a change count in the sign-in throttle, the
//! care IOTA forms act only on the profile's own handsets, and the sign-in
//! throttle's settings are checked at start and lock at their limit.

use std::process::{Command, Stdio};

use diesel::dsl::count_star;
use diesel::prelude::*;
use mdm::auth::Role;
use mdm::db::schema::{devices, iota_sessions};
use serde_json::{json, Value};

use crate::common::{
    client, csrf_of, profile_json, spawn_app, spawn_app_with, staff_sign_in, staff_sign_in_answer,
    subscriber_sign_in, TestApp,
};
use crate::iota::prl;

const LOCKED: &str = "Too many failed sign-ins; try again in";

async fn upload_prl(app: &TestApp, csrf: &str, bytes: Vec<u8>) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.to_string())
        .text("sspr_table", "5")
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("x.prl"),
        );
    app.client
        .post(app.url("/ops/prls"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn prl_count(app: &TestApp) -> usize {
    app.with_conn(|c| mdm::iota::prl_store::list(c).unwrap().len())
        .await
}

#[tokio::test]
async fn a_care_agent_cannot_file_a_prl_and_an_operator_can() {
    let app = spawn_app().await;
    app.add_user("care1", "care-password-1", Role::Care).await;
    app.add_user("op1", "operator-password-1", Role::Operator)
        .await;

    staff_sign_in(&app, &app.client, "care1", "care-password-1").await;
    let csrf = app.csrf("/account").await;
    let r = upload_prl(&app, &csrf, prl(10009, 3)).await;
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(prl_count(&app).await, 0, "nothing filed");

    let op = client();
    staff_sign_in(&app, &op, "op1", "operator-password-1").await;
    let html = op.get(app.url("/ops/prls")).send().await.unwrap();
    let csrf = csrf_of(&html.text().await.unwrap());
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("sspr_table", "5")
        .part(
            "file",
            reqwest::multipart::Part::bytes(prl(10009, 3)).file_name("x.prl"),
        );
    let r = op
        .post(app.url("/ops/prls"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(prl_count(&app).await, 1, "the operator's PRL is filed");
}

/// The flash shown on the line's page after a PIN change.
pub(crate) async fn change_pin(
    app: &TestApp,
    mdn: &str,
    csrf: &str,
    current: &str,
    new: &str,
) -> String {
    let r = app
        .post_form(
            "/self/pin",
            &[("csrf", csrf), ("current_pin", current), ("new_pin", new)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    app.page(&format!("/self/line/{mdn}")).await.1
}

#[tokio::test]
async fn wrong_current_pins_lock_the_line_as_wrong_sign_ins_do() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let mdn = "4152000001";
    app.self_service_subscriber(&token, mdn, "2468").await;
    let csrf = app.self_sign_in(mdn, "2468").await;

    // Four wrong, then the right one: changed, and the count cleared.
    for guess in ["0000", "0001", "0002", "0003"] {
        let page = change_pin(&app, mdn, &csrf, guess, "1357").await;
        assert!(page.contains("The current PIN is not correct."), "{page}");
    }
    let page = change_pin(&app, mdn, &csrf, "2468", "1357").await;
    assert!(page.contains("Your PIN has been changed."), "{page}");

    // Five wrong (the limit) lock the line: the right PIN changes nothing.
    for guess in ["0004", "0005", "0006", "0007", "0008"] {
        let page = change_pin(&app, mdn, &csrf, guess, "9753").await;
        assert!(page.contains("The current PIN is not correct."), "{page}");
    }
    let page = change_pin(&app, mdn, &csrf, "1357", "9753").await;
    assert!(page.contains(LOCKED), "{page}");
    assert!(!page.contains("Your PIN has been changed."));

    // The same lock as sign-in's, from any address: the line, not the session.
    let other = client();
    let r = subscriber_sign_in(&app, &other, mdn, "1357", None).await;
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.text().await.unwrap().contains(LOCKED));
    let r = subscriber_sign_in(&app, &other, mdn, "9753", None).await;
    assert_eq!(r.status().as_u16(), 429, "the PIN was not changed either");
}

/// Sends `n` password changes whose current password is mistyped (each
/// named `{label}-{i}-…`), each refused as such.
pub(crate) async fn mistype_current_password(app: &TestApp, label: &str, n: usize, new: &str) {
    for i in 0..n {
        let (status, page) = change_password(app, &format!("{label}-{i}-xxxxx"), new, new).await;
        assert_eq!(status, 422);
        assert!(
            page.contains("The current password is not correct."),
            "{page}"
        );
    }
}

/// Posts the password-change form as the signed-in user; the repeat is
/// given apart so a mismatch can be sent.
pub(crate) async fn change_password(
    app: &TestApp,
    current: &str,
    new: &str,
    repeat: &str,
) -> (u16, String) {
    let csrf = app.csrf("/account").await;
    let r = app
        .post_form(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", current),
                ("new_password", new),
                ("repeat_password", repeat),
            ],
        )
        .await;
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn wrong_current_passwords_lock_the_account_as_wrong_sign_ins_do() {
    let app = spawn_app().await;
    app.add_user("care1", "care-password-1", Role::Care).await;
    staff_sign_in(&app, &app.client, "care1", "care-password-1").await;

    mistype_current_password(&app, "guess", 4, "new-password-22").await;
    let (status, _) = change_password(
        &app,
        "care-password-1",
        "care-password-2",
        "care-password-2",
    )
    .await;
    assert_eq!(status, 303, "right: changed, and the count cleared");

    mistype_current_password(&app, "guess-again", 5, "new-password-33").await;
    let (status, page) = change_password(
        &app,
        "care-password-2",
        "new-password-33",
        "new-password-33",
    )
    .await;
    assert_eq!(status, 429);
    assert!(page.contains(LOCKED), "{page}");

    // Sign-in from this address is locked too, and the password unchanged.
    let r = staff_sign_in_answer(&app, &client(), "care1", "care-password-2").await;
    assert_eq!(r.status().as_u16(), 429);
    let still = app
        .with_conn(|c| mdm::auth::users::authenticate(c, "care1", "care-password-2").is_ok())
        .await;
    assert!(still, "the password was not changed");
}

#[tokio::test]
async fn with_a_limit_of_one_the_first_failure_locks() {
    let app = spawn_app_with(|c| c.login_max_failures = 1).await;
    let r = app.login("admin", "wrong-password").await;
    assert_eq!(r.status().as_u16(), 401);
    let r = app.login("admin", crate::common::ADMIN_PASSWORD).await;
    assert_eq!(r.status().as_u16(), 429, "locked after the first failure");
}

async fn counts(app: &TestApp) -> (i64, i64) {
    let outbox = app.count("outbox").await;
    let sessions = app
        .with_conn(|c| {
            iota_sessions::table
                .select(count_star())
                .first::<i64>(c)
                .unwrap()
        })
        .await;
    (outbox, sessions)
}

/// The flash shown on profile `pid`'s care page after a care IOTA form.
async fn care_post(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let r = app.post_form(path, fields).await;
    let status = r.status().as_u16();
    match r.headers().get("location") {
        Some(to) => {
            let to = to.to_str().unwrap().to_string();
            (status, app.page(&to).await.1)
        }
        None => (status, r.text().await.unwrap()),
    }
}

#[tokio::test]
async fn care_iota_forms_act_only_on_the_profiles_own_handsets() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    app.file_prl(prl(10401, 4), 1).await;
    app.kyocera_iota_series().await;
    let line = |mdn: &str| {
        let mut p = profile_json(mdn);
        p["sspr_table"] = json!(1);
        p["prl_id"] = Value::Null;
        p
    };
    let (pa, _) = app
        .kyocera_line(&token, &line("6135550401"), json!({"esn": "9F1AB401"}))
        .await;
    let (pb, db) = app
        .kyocera_line(&token, &line("6135550402"), json!({"esn": "9F1AB402"}))
        .await;
    // B's handset is active, so OTAPA would reach it if it were asked for.
    app.with_conn(move |c| {
        diesel::update(devices::table.find(db))
            .set(devices::activation_state.eq("activated"))
            .execute(c)
            .unwrap()
    })
    .await;
    app.add_user("care1", "care-password-1", Role::Care).await;
    staff_sign_in(&app, &app.client, "care1", "care-password-1").await;
    let csrf = app.csrf(&format!("/care/profiles/{pa}")).await;
    let before = counts(&app).await;

    // Another profile's handset, from A's page: refused, nothing queued.
    for (path, fields) in [
        (
            format!("/care/profiles/{pa}/iota/prl"),
            vec![
                ("csrf", csrf.as_str()),
                ("device", "9F1AB402"),
                ("prl_id", "10401"),
            ],
        ),
        (
            format!("/care/profiles/{pa}/iota/activate"),
            vec![("csrf", csrf.as_str()), ("device", "9F1AB402")],
        ),
        (
            format!("/care/profiles/{pa}/iota/activate"),
            vec![("csrf", csrf.as_str()), ("device", "9F1FFFFF")],
        ),
    ] {
        let (status, page) = care_post(&app, &path, &fields).await;
        assert_eq!(status, 303, "{path}");
        assert!(
            page.contains("is not one of this subscriber")
                && page.contains("handsets; nothing was sent."),
            "{path}: {page}"
        );
    }
    // An unknown profile: not found, nothing queued.
    for (path, fields) in [
        (
            "/care/profiles/999999/iota/prl",
            vec![
                ("csrf", csrf.as_str()),
                ("device", "9F1AB402"),
                ("prl_id", "10401"),
            ],
        ),
        (
            "/care/profiles/999999/iota/activate",
            vec![("csrf", csrf.as_str()), ("device", "9F1AB401")],
        ),
    ] {
        let (status, page) = care_post(&app, path, &fields).await;
        assert_eq!(status, 404, "{path}: {page}");
        assert!(page.contains("Profile 999999 not found"), "{page}");
    }
    assert_eq!(counts(&app).await, before, "nothing sent or written");

    // Each profile's own handset still goes.
    let (status, page) = care_post(
        &app,
        &format!("/care/profiles/{pb}/iota/prl"),
        &[("csrf", &csrf), ("device", "9F1AB402"), ("prl_id", "10401")],
    )
    .await;
    assert_eq!(status, 303);
    assert!(page.contains("download requested"), "{page}");
    let (status, page) = care_post(
        &app,
        &format!("/care/profiles/{pa}/iota/activate"),
        &[("csrf", &csrf), ("device", "9F1AB401")],
    )
    .await;
    assert_eq!(status, 303);
    assert!(page.contains("Activation call-back queued"), "{page}");
    let after = counts(&app).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (2, 2));
}

/// `mdm user list` with only `env` set; (status, stderr).
fn mdm_with(env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_mdm"))
        .args(["user", "list"])
        .current_dir(dir.path())
        .env_clear()
        .env("MDM_LOG", "warn")
        .env("MDM_DATA_DIR", &data)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run mdm");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn throttle_settings_that_turn_it_off_or_lock_everyone_stop_the_start() {
    for (name, value) in [
        ("MDM_LOGIN_WINDOW_SECS", "0"),
        ("MDM_LOGIN_WINDOW_SECS", "-900"),
        ("MDM_LOGIN_WINDOW_SECS", "9223372036854775807"),
        ("MDM_LOGIN_LOCKOUT_SECS", "9223372036854775807"),
        ("MDM_LOGIN_LOCKOUT_SECS", "0"),
        ("MDM_LOGIN_MAX_FAILURES", "-3"),
        ("MDM_LOGIN_MAX_FAILURES", "0"),
        ("MDM_LOGIN_CEILING", "0"),
        ("MDM_LOGIN_CEILING", "4"),
    ] {
        let (code, err) = mdm_with(&[(name, value)]);
        assert_eq!(code, 2, "{name}={value}: {err}");
        assert!(
            err.starts_with(&format!("error: configuration: {name}: ")),
            "{name}={value}: {err}"
        );
    }
    let (code, err) = mdm_with(&[
        ("MDM_LOGIN_MAX_FAILURES", "1"),
        ("MDM_LOGIN_CEILING", "1"),
        ("MDM_LOGIN_WINDOW_SECS", "86400"),
        ("MDM_LOGIN_LOCKOUT_SECS", "1"),
    ]);
    assert_eq!(code, 0, "the bounds themselves are accepted: {err}");
}
