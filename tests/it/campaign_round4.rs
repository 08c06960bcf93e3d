//! Devices a notification cannot reach (no OMA-DM credentials): Self
//! Service tells the subscriber the truth, a campaign's plan warns, a
//! canary of only such devices holds the campaign, and a campaign that
//! updated nobody does not read as a success.

use mdm::auth::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::campaign_requeue::{give_credentials, uncredentialed_path};
use crate::campaigns::{mdn, meid};
use crate::common::{run_mdm, SendJson, TestApp};

/// An app whose scheduler never ticks on its own, and an admin token.
async fn app() -> (TestApp, String) {
    crate::campaign_requeue::app(Role::Admin).await
}

async fn plan(app: &TestApp, token: &str, wave_size: i32, first: Option<i32>) -> Value {
    let mut body = json!({"name": "VX9600 to V06", "make": "LG", "model": "VX9600",
                          "from_version": "VX9600V04", "wave_size": wave_size, "failure_threshold": 20});
    if let Some(f) = first {
        body["first_wave_size"] = json!(f);
    }
    app.api(Method::POST, "/campaigns", token)
        .json(&body)
        .send_json()
        .await
}

pub(crate) async fn act(
    app: &TestApp,
    token: &str,
    id: i64,
    action: &str,
    body: Option<Value>,
) -> Value {
    let mut r = app.api(Method::POST, &format!("/campaigns/{id}/{action}"), token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{action}");
    r.json().await.unwrap()
}

async fn get(app: &TestApp, token: &str, id: i64) -> Value {
    app.api(Method::GET, &format!("/campaigns/{id}"), token)
        .send_json()
        .await
}

/// The text from `start` to the next `end` in `page` (empty when absent).
fn between<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    page.find(start)
        .map(|i| &page[i..])
        .and_then(|rest| rest.find(end).map(|j| &rest[..j]))
        .unwrap_or_default()
}

fn mdm(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    run_mdm(&app.database_url, &app.data_dir, args, None)
}

#[tokio::test]
async fn self_service_says_an_unset_handset_cannot_be_updated_yet_and_why() {
    let (app, token) = app().await;
    // The path takes FOTA over OMA-DM; the line has a Self Service PIN.
    let r = app
        .api(Method::POST, "/capabilities", &token)
        .json(&json!({"make": "LG", "model": "VX9600", "protocol": "omadm", "fota": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    app.self_service_subscriber(&token, &mdn(1), "2468").await;
    let d: Value = app
        .api(Method::POST, "/devices", &token)
        .json(&json!({"meid": meid(1), "make": "LG", "model": "VX9600", "firmware_version": "VX9600V04", "profile_mdn": mdn(1)}))
        .send_json()
        .await;
    let device = d["id"].as_i64().unwrap();
    app.release_package(&token, "LG", "VX9600", "VX9600V04", "VX9600V06", 2000)
        .await;
    let csrf = app.self_sign_in(&mdn(1), "2468").await;
    let (_, page) = app.page(&format!("/self/line/{}", mdn(1))).await;
    // The capability line says what holds for THIS handset, and the page
    // offers no check that could only refuse.
    assert!(
        page.contains("your phone has not been set up for updates over the air"),
        "{page}"
    );
    assert!(!page.contains(r#"id="over-the-air">supported"#), "{page}");
    assert!(!page.contains(r#"action="/self/firmware-check""#), "{page}");

    // A check posted anyway gets the real reason and a next step, in
    // plain words: no "OMA-DM", no "credentials", no false "cannot".
    let r = app
        .post_form("/self/firmware-check", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, page) = app.page(&format!("/self/line/{}", mdn(1))).await;
    assert!(
        page.contains("Your phone has not been set up for updates over the air yet"),
        "{page}"
    );
    assert!(page.contains("Customer care can send your phone its update settings"));
    assert!(!page.contains("cannot be updated over the air"), "{page}");
    // The flash and the capability line, not the site's footer.
    let flash = between(&page, r#"<div class="flash"#, "</div>");
    let line = between(&page, r#"id="over-the-air">"#, "</dd>");
    for said in [flash, line] {
        assert!(!said.contains("OMA-DM"), "{said}");
        assert!(!said.contains("credentials"), "{said}");
    }
    assert_eq!(app.count("dm_jobs").await, 0);

    // Once care has set it up, the page and the check agree again.
    give_credentials(&app, 1, device).await;
    let (_, page) = app.page(&format!("/self/line/{}", mdn(1))).await;
    assert!(
        page.contains(r#"id="over-the-air">supported</dd>"#),
        "{page}"
    );
    assert!(page.contains(r#"action="/self/firmware-check""#), "{page}");
    app.post_form("/self/firmware-check", &[("csrf", &csrf)])
        .await;
    let (_, page) = app.page(&format!("/self/line/{}", mdn(1))).await;
    assert!(page.contains("An update is available"), "{page}");
    assert_eq!(app.count("dm_jobs").await, 1);
}

#[tokio::test]
async fn the_plan_says_how_many_devices_cannot_be_reached() {
    let (app, token) = app().await;
    let ids = uncredentialed_path(&app, &token, 4).await;
    // All four unreachable: the API's plan warns.
    let c = plan(&app, &token, 10, None).await;
    let id = c["id"].as_i64().unwrap();
    assert_eq!(c["state"], "draft");
    assert_eq!(c["reach"]["queued"], 4);
    assert_eq!(c["reach"]["no_credentials"], 4);
    assert_eq!(c["reach"]["unreachable"], 4);
    assert_eq!(c["reach"]["mostly_unreachable"], true);
    let warning = c["reach"]["warning"].as_str().unwrap();
    assert!(warning.contains("None of the 4 devices"), "{warning}");
    assert!(
        warning.contains("4 have no OMA-DM credentials"),
        "{warning}"
    );
    assert_eq!(get(&app, &token, id).await["reach"]["unreachable"], 4);

    // The draft's page shows it prominently.
    app.login_admin().await;
    let (_, page) = app.page(&format!("/firmware/campaigns/{id}")).await;
    assert!(page.contains(r#"id="campaign-reach""#), "{page}");
    assert!(
        page.contains("<strong>Warning:</strong> None of the 4 devices"),
        "{page}"
    );

    // Three get credentials: one of four is said, without the alarm.
    for (n, d) in ids.iter().enumerate().take(3) {
        give_credentials(&app, n as u32 + 1, *d).await;
    }
    let v = get(&app, &token, id).await;
    assert_eq!(v["reach"]["unreachable"], 1);
    assert_eq!(v["reach"]["mostly_unreachable"], false);
    let (_, page) = app.page(&format!("/firmware/campaigns/{id}")).await;
    assert!(
        page.contains("1 of the 4 devices still to notify cannot be reached"),
        "{page}"
    );
    assert!(!page.contains("<strong>Warning:</strong>"), "{page}");

    // Planned in the portal: the flash says it too.
    let csrf = app.csrf("/firmware/campaigns/new").await;
    let path = "make=LG&model=VX9600&from=VX9600V04";
    let r = app
        .post_form(
            "/firmware/campaigns",
            &[
                ("csrf", &csrf),
                ("name", "second"),
                ("path", path),
                ("wave_size", "10"),
                ("failure_threshold", "10"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    let (_, page) = app.page(&to).await;
    assert!(page.contains("planned: 4 device(s) in 1 wave(s)"), "{page}");
    assert!(
        page.contains("1 of the 4 devices still to notify cannot be reached"),
        "{page}"
    );
}

#[tokio::test]
async fn a_canary_whose_devices_were_all_skipped_holds_the_campaign() {
    let (app, token) = app().await;
    let ids = uncredentialed_path(&app, &token, 6).await;
    // Lines 3..=6 can be reached; the canary (lines 1 and 2) cannot.
    for (n, d) in ids.iter().enumerate().skip(2) {
        give_credentials(&app, n as u32 + 1, *d).await;
    }
    let c = plan(&app, &token, 3, Some(2)).await;
    let id = c["id"].as_i64().unwrap();
    assert_eq!(c["waves"], 3);
    let v = act(&app, &token, id, "start", None).await;
    assert_eq!(
        (v["notified"].as_i64(), v["skipped"].as_i64()),
        (Some(0), Some(2))
    );
    // Held, not released: nobody of wave 2 was notified.
    assert_eq!(v["state"], "paused", "{v}");
    assert_eq!(v["wave"], 2);
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("held before wave 2: none of wave 1's 2 device(s) could be notified"),
        "{detail}"
    );
    assert!(
        detail.contains("2: the device has no OMA-DM credentials"),
        "{detail}"
    );
    assert!(
        detail.contains("re-queue the skipped devices, then resume"),
        "{detail}"
    );
    let v = get(&app, &token, id).await;
    assert_eq!(v["progress"]["overall"]["queued"], 4);
    assert_eq!(v["progress"]["overall"]["notified"], 0);
    assert_eq!(app.count("dm_jobs").await, 0);
    // A later tick does not release it either.
    let vault = app.vault.clone();
    app.with_conn(move |c| mdm::fota::campaign_run::tick(c, &vault, 8).unwrap())
        .await;
    assert_eq!(get(&app, &token, id).await["state"], "paused");

    // The operator fixes the canary's credentials, re-queues and resumes.
    give_credentials(&app, 1, ids[0]).await;
    give_credentials(&app, 2, ids[1]).await;
    let r = act(&app, &token, id, "requeue", Some(json!({"round": 0}))).await;
    assert_eq!(r["requeued"], 2);
    let v = act(&app, &token, id, "resume", None).await;
    // The re-queued canary goes out first, before wave 2 (campaign_round5).
    assert_eq!(v["state"], "running", "{v}");
    assert_eq!(
        (v["wave"].as_i64(), v["notified"].as_i64()),
        (Some(1), Some(2))
    );

    // A canary that reaches its devices does not hold anything.
    let (app2, token2) = self::app().await;
    let ids = uncredentialed_path(&app2, &token2, 3).await;
    give_credentials(&app2, 1, ids[0]).await;
    let c = plan(&app2, &token2, 2, Some(1)).await;
    let id = c["id"].as_i64().unwrap();
    let v = act(&app2, &token2, id, "start", None).await;
    assert_eq!(
        (v["state"].as_str(), v["notified"].as_i64()),
        (Some("running"), Some(1))
    );
}

#[tokio::test]
async fn a_campaign_that_updated_nobody_does_not_read_as_a_success() {
    let (app, token) = app().await;
    uncredentialed_path(&app, &token, 3).await;
    // Equal waves (no canary): every wave ends at once.
    let c = plan(&app, &token, 2, None).await;
    let id = c["id"].as_i64().unwrap();
    let v = act(&app, &token, id, "start", None).await;
    assert_eq!(v["state"], "completed", "{v}");
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(
            "nothing updated: all 3 device(s) skipped (3: the device has no OMA-DM credentials"
        ),
        "{detail}"
    );
    // The API adds the outcome; the state stays what clients know.
    let v = get(&app, &token, id).await;
    assert_eq!(v["outcome"], "nothing_updated");
    assert_eq!(v["state"], "completed");
    let list: Value = app.api(Method::GET, "/campaigns", &token).send_json().await;
    assert_eq!(list["items"][0]["outcome"], "nothing_updated");

    // The portal's list and page show a distinct, non-green outcome.
    app.login_admin().await;
    let (_, page) = app.page("/firmware/campaigns").await;
    assert!(
        page.contains(r#"<span class="badge badge-fail">completed: nothing updated</span>"#),
        "{page}"
    );
    let (_, page) = app.page(&format!("/firmware/campaigns/{id}")).await;
    assert!(page.contains("completed: nothing updated</span>"), "{page}");
    assert!(!page.contains(r#"badge-ok" id="campaign-state""#), "{page}");

    // And the command line.
    let (code, out, err) = mdm(&app, &["campaign", "show", &id.to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "state     completed: nothing updated (nothing updated: all 3 device(s) skipped"
        ),
        "{out}"
    );
    let (_, out, _) = mdm(&app, &["campaign", "list"]);
    assert!(out.contains("completed: nothing updated"), "{out}");
    let (_, out, _) = mdm(&app, &["campaign", "list", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["outcome"], "nothing_updated");
}
