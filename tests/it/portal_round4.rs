//! Portal round 4: forms keep what was typed after an error, screens show
//! words instead of stored codes, and a bad address names its parameter.

use mdm::auth::Role;
use serde_json::json;

use crate::common::{csrf_of, profile_json, spawn_app, TestApp};

/// A line with one handset, made by API; returns (profile id, device id).
async fn line(app: &TestApp, token: &str, mdn: &str, esn: &str) -> (i64, i64) {
    let p = app.api_create("/profiles", token, &profile_json(mdn)).await;
    let d = app
        .api_create(
            "/devices",
            token,
            &json!({"esn": esn, "make": "Kyocera", "model": "KX-IOTA", "firmware_version": "1.0", "profile_mdn": mdn}),
        )
        .await;
    (p["id"].as_i64().unwrap(), d["id"].as_i64().unwrap())
}

#[tokio::test]
async fn refused_forms_come_back_as_typed_with_the_reason_by_the_field() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let (pid, did) = line(&app, &token, "4155550101", "9F100001").await;
    app.login_admin().await;

    // ESN change: a bad ESN keeps the ESN, the variant and the make.
    let page = format!("/care/profiles/{pid}");
    let csrf = app.csrf(&page).await;
    let r = app
        .post_form(
            &format!("/care/profiles/{pid}/esn-change"),
            &[
                ("csrf", &csrf),
                ("to", "ZZZZ"),
                ("variant", "field"),
                ("make", "Samsung"),
                ("model", "SCH-U740"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"value="ZZZZ""#), "{html}");
    assert!(
        html.contains(r#"<option value="field" selected>"#),
        "variant kept"
    );
    assert!(html.contains(r#"value="Samsung""#), "make kept");
    assert!(html.contains(r#"value="SCH-U740""#), "model kept");
    assert!(html.contains(r#"id="esn-to-err""#), "error by the field");
    let (_, after) = app.page(&page).await;
    assert!(after.contains("No ESN changes."), "nothing recorded");

    // Lost or stolen: a wipe without the confirm box keeps "Wipe" chosen.
    let dpage = format!("/devices/{did}");
    let form = format!("/devices/{did}/commands");
    let csrf = app.csrf(&dpage).await;
    let r = app
        .post_form(&form, &[("csrf", &csrf), ("preset", "wipe")])
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"<option value="wipe" selected>"#), "{html}");
    assert!(html.contains(r#"id="preset-err""#));
    assert!(html.contains("tick the box to confirm"));

    // Typed commands: a bad line keeps the whole text.
    let csrf = csrf_of(&html);
    let script = "get ./DevDetail/SwV\nfrobnicate ./X";
    let r = app
        .post_form(&form, &[("csrf", &csrf), ("script", script)])
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("get ./DevDetail/SwV\nfrobnicate ./X</textarea>"),
        "{html}"
    );
    assert!(html.contains(r#"id="script-err""#));
    assert!(html.contains("Nothing was sent. Line 2"), "{html}");
    assert_eq!(app.count("dm_jobs").await, 0);
}

#[tokio::test]
async fn screens_show_words_for_codes() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Care).await;
    let (_, op_token) = app.token(Role::Admin).await;
    let (pid, _) = line(&app, &op_token, "4155550102", "9F100002").await;
    app.login_admin().await;

    let (_, html) = app.page(&format!("/care/profiles/{pid}")).await;
    assert!(html.contains(">Text Messaging</span>"), "{html}");
    assert!(!html.contains(">text_messaging</span>"));

    let (_, html) = app.page("/admin/tokens").await;
    assert!(html.contains(">Care agent</span>"), "{html}");
    assert!(!html.contains(r#"badge-role">care</span>"#));
    drop(token);

    // The upload limit in binary units, not a count of bytes.
    let (_, html) = app.page("/firmware/packages/new").await;
    let hint = html.split("At most ").nth(1).expect("limit hint");
    let limit = hint.split('.').next().unwrap();
    assert!(limit.ends_with("MiB") || limit.ends_with("GiB"), "{limit}");
}

#[tokio::test]
async fn bad_query_parameters_are_a_400_naming_the_parameter() {
    let app = spawn_app().await;
    app.login_admin().await;
    for (path, name) in [
        ("/devices?after=abc", "after"),
        ("/devices?after=99999999999999999999", "after"),
        ("/care?after=abc", "after"),
        ("/ops/messages?before=x", "before"),
        ("/ops/messages?state=bogus", "state"),
        ("/ops/messages?kind=bogus", "kind"),
        ("/firmware/sessions?state=bogus", "state"),
        ("/firmware/sessions?protocol=x", "protocol"),
        ("/devices?state=bogus", "state"),
    ] {
        let (status, html) = app.page(path).await;
        assert_eq!(status, 400, "{path}");
        assert!(
            html.to_lowercase().contains(name),
            "{path} names {name}: {html}"
        );
        assert!(!html.contains("invalid digit"), "{path}: {html}");
        assert!(!html.contains("too large to fit"), "{path}: {html}");
    }
    // A known value still lists.
    let (status, _) = app.page("/ops/messages?state=queued").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn error_pages_speak_to_the_reader() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    app.self_service_subscriber(&token, "4155550103", "2468")
        .await;
    app.self_service_subscriber(&token, "4155550104", "1357")
        .await;
    app.self_sign_in("4155550103", "2468").await;
    let (status, html) = app.page("/self/line/4155550104").await;
    assert_eq!(status, 403);
    assert!(html.contains("This line is not yours"), "{html}");
    assert!(!html.contains("role"), "{html}");

    let staff = spawn_app().await;
    staff.login_admin().await;
    let (status, html) = staff.page("/devices/999999").await;
    assert_eq!(status, 404);
    assert!(html.contains("No device with id 999999."), "{html}");
    assert!(html.contains(r#"href="/devices""#), "{html}");
}
