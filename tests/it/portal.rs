use mdm::auth::Role;
use reqwest::Method;

use crate::common::{csrf_of, profile_json, spawn_app, spawn_app_with, SendJson, ADMIN_PASSWORD};

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status().as_u16(), 200);
    let r = app.get("/readyz").await;
    assert_eq!(r.status().as_u16(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in_and_back() {
    let app = spawn_app().await;
    let r = app.get("/devices?make=LG").await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers()["location"],
        "/login?next=%2Fdevices%3Fmake%3DLG"
    );
    let csrf = app.csrf("/login").await;
    let r = app
        .post_form(
            "/login",
            &[
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("csrf", &csrf),
                ("next", "/devices?make=LG"),
            ],
        )
        .await;
    assert_eq!(r.headers()["location"], "/devices?make=LG");
    // An open redirect to another site is not followed.
    let app2 = spawn_app().await;
    let csrf = app2.csrf("/login").await;
    let r = app2
        .post_form(
            "/login",
            &[
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("csrf", &csrf),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.headers()["location"], "/");
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_repeated_failures_are_throttled() {
    let app = spawn_app_with(|c| c.login_max_failures = 3).await;
    let r = app.login("admin", "wrong-password").await;
    assert_eq!(r.status().as_u16(), 401);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Wrong username or password."));
    app.login("admin", "wrong-password").await;
    app.login("admin", "wrong-password").await;
    // Locked now, even with the right password.
    let r = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.text().await.unwrap().contains("Too many failed sign-ins"));
    let (status, _) = app.page("/ops").await;
    assert_eq!(status, 303, "still signed out");
}

#[tokio::test]
async fn session_cookie_is_http_only_same_site_and_renewed_at_sign_in() {
    let app = spawn_app().await;
    let r = app.get("/login").await;
    let before = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        before.contains("HttpOnly") && before.contains("SameSite=Lax"),
        "{before}"
    );
    let html = r.text().await.unwrap();
    let csrf = csrf_of(&html);
    let r = app
        .post_form(
            "/login",
            &[
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    let after = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(before.split(';').next(), after.split(';').next());
    // The CSRF token is new after sign-in, so a pre-sign-in token is useless.
    let (_, html) = app.page("/devices/new").await;
    assert_ne!(csrf_of(&html), csrf);
}

#[tokio::test]
async fn forms_without_a_valid_csrf_token_change_nothing() {
    let app = spawn_app().await;
    app.login_admin().await;
    let fields = [
        ("esn", "9F100001"),
        ("make", "Samsung"),
        ("model", "SCH-U350"),
        ("firmware_version", "U350.01"),
    ];
    let r = app.post_form("/devices/new", &fields).await;
    assert_eq!(r.status().as_u16(), 403);
    let mut with_bad: Vec<(&str, &str)> = fields.to_vec();
    with_bad.push(("csrf", "0000"));
    let r = app.post_form("/devices/new", &with_bad).await;
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("This form has expired"));
    assert_eq!(app.count("devices").await, 0);
    // The sign-in form is protected too.
    let other = spawn_app().await;
    let r = other
        .post_form(
            "/login",
            &[("username", "admin"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn device_form_validates_and_audits_and_the_detail_page_shows_the_timeline() {
    let app = spawn_app().await;
    app.login_admin().await;
    let csrf = app.csrf("/devices/new").await;
    let r = app
        .post_form(
            "/devices/new",
            &[
                ("csrf", &csrf),
                ("esn", "9F10000Z"),
                ("make", "Samsung"),
                ("model", ""),
                ("firmware_version", "U350.01"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("ESN must be 8 hexadecimal digits or 11 decimal digits"),
        "{html}"
    );
    assert!(html.contains("is required"));
    assert!(html.contains("value=\"9F10000Z\""), "typed values are kept");
    assert_eq!(app.count("devices").await, 0);

    let r = app
        .post_form(
            "/devices/new",
            &[
                ("csrf", &csrf),
                ("esn", "9f100001"),
                ("make", "Samsung"),
                ("model", "SCH-U350"),
                ("firmware_version", "U350.01"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let r = app
        .post_form(
            "/devices/new",
            &[
                ("csrf", &csrf),
                ("esn", "9F100001"),
                ("make", "Samsung"),
                ("model", "SCH-U350"),
                ("firmware_version", "U350.01"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 409);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("ESN 9F100001 is already registered"));

    let edit = format!("{location}/edit");
    let r = app
        .post_form(
            &edit,
            &[
                ("csrf", &csrf),
                ("esn", "9F100001"),
                ("make", "Samsung"),
                ("model", "SCH-U350"),
                ("firmware_version", "U350.02"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (status, html) = app.page(&location).await;
    assert_eq!(status, 200);
    assert!(html.contains("15901048577"), "decimal ESN shown");
    assert!(html.contains("user:admin"));
    assert!(html.contains("&#34;firmware_version&#34;:{&#34;from&#34;:&#34;U350.01&#34;,&#34;to&#34;:&#34;U350.02&#34;}"), "{html}");
}

#[tokio::test]
async fn care_agents_edit_profiles_and_deactivate_but_cannot_administer() {
    let app = spawn_app().await;
    app.add_user("carol", "care-password-1", Role::Care).await;
    let (_, token) = app.token(Role::Admin).await;
    let p: serde_json::Value = app
        .api(Method::POST, "/profiles", &token)
        .json(&profile_json("7135550100"))
        .send_json()
        .await;
    let id = p["id"].as_i64().unwrap();

    assert_eq!(
        app.login("carol", "care-password-1")
            .await
            .status()
            .as_u16(),
        303
    );
    let (status, html) = app.page("/care?mdn=7135550100").await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("/care/profiles/{id}")));
    let (status, html) = app.page("/care?mdn=71355501").await;
    assert_eq!(status, 400);
    assert!(html.contains("MDN"));

    let (_, form) = app.page(&format!("/care/profiles/{id}/edit")).await;
    let csrf = csrf_of(&form);
    let edit = format!("/care/profiles/{id}/edit");
    let good = [
        ("csrf", csrf.as_str()),
        ("mdn", "7135550100"),
        ("min", "7135550100"),
        ("imsi", "310007135550100"),
        ("account_id", "ACC-1"),
        ("subscriber_name", "Test Subscriber"),
        ("sid_nid_pairs", "4145/65535 4146/0"),
        ("accolc", "3"),
        ("scm", "234"),
        ("mob_p_rev", "6"),
        ("slot_cycle_index", "2"),
        ("mob_term_home", "on"),
        ("prl_id", "10005"),
        ("nai", "7135550100@mobile.example.net"),
        ("brew_url", "http://brew.example.net/x"),
    ];
    let mut bad = good.to_vec();
    bad[7] = ("accolc", "sixteen");
    bad.push(("home_agent", "not-an-ip"));
    let r = app.post_form(&edit, &bad).await;
    assert_eq!(r.status().as_u16(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("must be a whole number, got &#34;sixteen&#34;"),
        "{html}"
    );
    assert!(html.contains("must be an IP address"));
    let r = app.post_form(&edit, &good).await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.page(&format!("/care/profiles/{id}")).await;
    assert!(html.contains("4145/65535,4146/0"));
    assert!(html.contains("310 / 00 / 7135550100"), "IMSI parts shown");

    let r = app
        .post_form(
            &format!("/care/profiles/{id}/state"),
            &[("csrf", &csrf), ("state", "deactivated")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.page(&format!("/care/profiles/{id}")).await;
    assert!(html.contains("De-activated"));
    assert!(html.contains("activation state changed"));

    for path in [
        "/admin/users",
        "/admin/tokens",
        "/ops",
        "/devices/import",
        "/firmware",
    ] {
        let (status, _) = app.page(path).await;
        assert_eq!(status, 403, "{path}");
    }
    let r = app
        .post_form(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "mallory"),
                ("password", "long-enough-pw"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(app.count("users").await, 2);
}

#[tokio::test]
async fn a_subscriber_sees_only_their_own_line() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Admin).await;
    let mut mine = profile_json("2065550100");
    mine["pin"] = serde_json::json!("4321");
    let p: serde_json::Value = app
        .api(Method::POST, "/profiles", &token)
        .json(&mine)
        .send_json()
        .await;
    let other: serde_json::Value = app
        .api(Method::POST, "/profiles", &token)
        .json(&profile_json("2065550199"))
        .send_json()
        .await;
    app.api(Method::POST, "/devices", &token)
        .json(&serde_json::json!({"esn": "9F100001", "make": "Samsung", "model": "SCH-U350", "firmware_version": "U350.01", "profile_mdn": "2065550100"}))
        .send()
        .await
        .unwrap();

    let csrf = app.csrf("/self/login").await;
    let r = app
        .post_form(
            "/self/login",
            &[("mdn", "2065550100"), ("pin", "0000"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.text().await.unwrap().contains("Wrong MDN or PIN."));
    let r = app
        .post_form(
            "/self/login",
            &[("mdn", "(206) 555-0100"), ("pin", "4321"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (status, html) = app.page("/self/line/2065550100").await;
    assert_eq!(status, 200);
    assert!(html.contains("SCH-U350") && html.contains("9F100001"));

    let (status, _) = app.page("/self/line/2065550199").await;
    assert_eq!(status, 403, "another subscriber's line");
    for path in [
        format!("/care/profiles/{}", other["id"]),
        format!("/care/profiles/{}", p["id"]),
        "/devices".into(),
        "/devices/1".into(),
        "/ops".into(),
    ] {
        let (status, _) = app.page(&path).await;
        assert_eq!(status, 403, "{path}");
    }
    // Staff credentials for a subscriber's session do not reach the API either.
    let r = app
        .client
        .get(app.url("/api/v1/profiles"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn admins_manage_users_and_tokens_and_a_token_is_shown_once() {
    let app = spawn_app().await;
    app.login_admin().await;
    let csrf = app.csrf("/admin/users").await;
    let r = app
        .post_form(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "olga"),
                ("password", "short"),
                ("role", "operator"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("at least 10 characters"));
    let r = app
        .post_form(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "olga"),
                ("password", "operator-pass-1"),
                ("role", "operator"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let r = app
        .post_form(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "olga"),
                ("password", "operator-pass-1"),
                ("role", "operator"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 409);
    let hash: String = app
        .with_conn(|c| {
            use diesel::prelude::*;
            use mdm::db::schema::users;
            users::table
                .filter(users::username.eq("olga"))
                .select(users::password_hash)
                .first(c)
                .unwrap()
        })
        .await;
    assert!(hash.starts_with("$argon2id$"));

    let r = app
        .post_form(
            "/admin/tokens",
            &[
                ("csrf", &csrf),
                ("name", "pos-system"),
                ("role", "care"),
                ("days", "30"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    let start = html.find("<pre id=\"new-token\">").unwrap() + "<pre id=\"new-token\">".len();
    let secret = html[start..].split('<').next().unwrap().to_string();
    assert!(secret.starts_with("mdm_"));
    let r = app
        .api(Method::GET, "/profiles", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, list) = app.page("/admin/tokens").await;
    assert!(
        list.contains("pos-system") && !list.contains(&secret),
        "the secret is not shown again"
    );
}

#[tokio::test]
async fn dashboard_firmware_and_capability_pages_show_registry_data() {
    let app = spawn_app().await;
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || mdm::demo::load(&db, 40, &mut |_| {}).unwrap())
        .await
        .unwrap();
    app.login_admin().await;
    let (status, html) = app.page("/ops").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("id=\"metric-profiles\">40<"),
        "dashboard counts profiles"
    );
    assert!(
        html.contains("Devices by make") && html.contains("SQLite") || html.contains("PostgreSQL")
    );
    let (status, html) = app.page("/firmware").await;
    assert_eq!(status, 200);
    assert!(html.contains("SCH-U960") || html.contains("VX9600"));
    let (status, html) = app.page("/capabilities").await;
    assert_eq!(status, 200);
    assert!(html.contains("IOTA ESN number series") && html.contains("9F100000"));
    let (status, html) = app.page("/devices?make=Samsung").await;
    assert_eq!(status, 200);
    assert!(html.contains("Samsung"));
    let r = app.get("/devices/export.csv?make=Samsung").await;
    assert_eq!(r.status().as_u16(), 200);
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("esn,esn_decimal,meid"));
    assert!(lines.len() > 1 && lines[1..].iter().all(|l| l.contains("Samsung")));
}
