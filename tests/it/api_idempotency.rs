//! `Idempotency-Key` on the REST API: a client that lost the answer to a
//! POST sends it again and gets the first answer, and nothing is done twice.

use std::time::Duration;

use mdm::auth::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::campaigns::line;
use crate::common::{profile_json, spawn_app, spawn_app_with, SendJson, TestApp};

const REPLAYED: &str = "idempotent-replayed";

struct Answer {
    status: u16,
    replayed: bool,
    location: Option<String>,
    retry_after: Option<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

async fn send(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let mut r = app.api(method, path, token);
    if let Some(k) = key {
        r = r.header("Idempotency-Key", k);
    }
    if let Some(b) = body {
        r = r.json(b);
    }
    let r = r.send().await.unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (replayed, location, retry_after) = (
        header(REPLAYED).as_deref() == Some("true"),
        header("location"),
        header("retry-after"),
    );
    Answer {
        status: r.status().as_u16(),
        replayed,
        location,
        retry_after,
        text: r.text().await.unwrap(),
    }
}

/// POSTs a subscriber profile, under `key` when given.
async fn post_profile(app: &TestApp, token: &str, key: Option<&str>, body: &Value) -> Answer {
    send(app, token, Method::POST, "/profiles", key, Some(body)).await
}

/// POSTs `body` twice under `key`: the first is carried out (201), the
/// second is its stored answer replayed.
async fn created_then_replayed(app: &TestApp, token: &str, path: &str, key: &str, body: &Value) {
    let r = send(app, token, Method::POST, path, Some(key), Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(!r.replayed);
    let r = send(app, token, Method::POST, path, Some(key), Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.replayed);
}

async fn stored_keys(app: &TestApp) -> i64 {
    app.with_conn(|c| {
        use diesel::dsl::count_star;
        use diesel::prelude::*;
        use mdm::db::schema::api_idempotency_keys as keys;
        keys::table.select(count_star()).first::<i64>(c).unwrap()
    })
    .await
}

fn plan() -> Value {
    json!({"name": "VX9600 to V06", "make": "LG", "model": "VX9600",
           "from_version": "VX9600V04", "wave_size": 2, "failure_threshold": 50})
}

#[tokio::test]
async fn a_retried_campaign_or_dm_job_is_answered_again_and_created_once() {
    let app = spawn_app().await;
    let (_, admin) = app.token(Role::Admin).await;
    let (_, fw) = app.token(Role::Firmware).await;
    let device = line(&app, &admin, 1, "VX9600V04", true).await;
    line(&app, &admin, 2, "VX9600V04", true).await;
    app.release_package(&fw, "LG", "VX9600", "VX9600V04", "VX9600V06", 400)
        .await;

    // The billing system's connection drops after the campaign is planned;
    // it sends the same request with the same key.
    let key = Some("plan-2026-12-01-a");
    let first = send(&app, &fw, Method::POST, "/campaigns", key, Some(&plan())).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert!(!first.replayed);
    let again = send(&app, &fw, Method::POST, "/campaigns", key, Some(&plan())).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert!(again.replayed);
    assert_eq!(again.text, first.text);
    assert_eq!(again.json()["id"], first.json()["id"]);
    assert_eq!(again.location, first.location);
    assert_eq!(app.count("fota_campaigns").await, 1);

    // The same for a DM job: one job, one notification in the outbox. The
    // draft's quoted form of the key names the same key.
    let path = format!("/devices/{device}/dm-jobs");
    let job = json!({"commands": [{"command": "get", "path": "./DevDetail/SwV"}]});
    let first = send(&app, &admin, Method::POST, &path, Some("job-7"), Some(&job)).await;
    assert_eq!(first.status, 202, "{}", first.text);
    for key in ["job-7", "\"job-7\""] {
        let again = send(&app, &admin, Method::POST, &path, Some(key), Some(&job)).await;
        assert_eq!(again.status, 202, "{}", again.text);
        assert!(again.replayed, "{key}");
        assert_eq!(again.text, first.text);
    }
    assert_eq!(app.count("dm_jobs").await, 1);
    let outbox = app.count("outbox").await;

    // Another node on the same database answers the retry too.
    let data_dir = app.data_dir.clone();
    let node = app
        .second_node(move |c| c.data_dir = data_dir)
        .await
        .expect("second node starts");
    let there = send(
        &node,
        &admin,
        Method::POST,
        &path,
        Some("job-7"),
        Some(&job),
    )
    .await;
    assert_eq!(there.status, 202, "{}", there.text);
    assert!(there.replayed);
    assert_eq!(there.text, first.text);
    assert_eq!(app.count("dm_jobs").await, 1);
    assert_eq!(app.count("outbox").await, outbox);

    // Without a key, the request is carried out again, as it always was.
    let plain = send(&app, &admin, Method::POST, &path, None, Some(&job)).await;
    assert_eq!(plain.status, 202, "{}", plain.text);
    assert!(!plain.replayed);
    assert_ne!(plain.json()["id"], first.json()["id"]);
    assert_eq!(app.count("dm_jobs").await, 2);
}

#[tokio::test]
async fn a_key_used_for_another_request_is_a_422_and_keys_are_each_callers_own() {
    let app = spawn_app().await;
    let (_, care) = app.token(Role::Care).await;
    let (_, pos) = app.token(Role::Care).await;
    let (_, admin) = app.token(Role::Admin).await;
    let key = Some("order-1001");
    let mine = profile_json("6135550101");
    let first = post_profile(&app, &care, key, &mine).await;
    assert_eq!(first.status, 201, "{}", first.text);

    // Another body, another path or another method with the same key.
    let other = profile_json("6135550102");
    for (method, path) in [
        (Method::POST, "/profiles"),
        (Method::POST, "/devices"),
        (Method::PUT, "/profiles/1"),
    ] {
        let r = send(&app, &care, method.clone(), path, key, Some(&other)).await;
        assert_eq!(r.status, 422, "{method} {path}: {}", r.text);
        assert_eq!(r.code(), "idempotency_key_reused", "{}", r.text);
        assert!(r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("POST /api/v1/profiles"));
    }
    assert_eq!(app.count("profiles").await, 1);
    assert_eq!(app.count("devices").await, 0);

    // Another caller's key of the same name is its own.
    let theirs = post_profile(&app, &pos, key, &other).await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    assert!(!theirs.replayed);
    assert_eq!(app.count("profiles").await, 2);

    // A refused request keeps its answer: the retry of a duplicate is the
    // same 409, even once the duplicate is gone.
    let dup = post_profile(&app, &care, Some("order-1002"), &mine).await;
    assert_eq!(dup.status, 409, "{}", dup.text);
    let id = first.json()["id"].as_i64().unwrap();
    let gone = send(
        &app,
        &admin,
        Method::DELETE,
        &format!("/profiles/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    let again = post_profile(&app, &care, Some("order-1002"), &mine).await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert!(again.replayed);
    assert_eq!(again.text, dup.text);
    assert_eq!(app.count("profiles").await, 1);
}

#[tokio::test]
async fn bad_keys_are_a_400_and_change_nothing() {
    let app = spawn_app().await;
    let (_, care) = app.token(Role::Care).await;
    let body = profile_json("6135550111");
    let long = "k".repeat(256);
    for bad in ["", "two words", "\"open", "\"a\\b\"", long.as_str()] {
        let r = post_profile(&app, &care, Some(bad), &body).await;
        assert_eq!(r.status, 400, "{bad:?}: {}", r.text);
        assert_eq!(r.code(), "bad_request", "{}", r.text);
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Idempotency-Key"),
            "{}",
            r.text
        );
    }
    let status = |r: reqwest::RequestBuilder| {
        let r = r.json(&body);
        async move { r.send().await.unwrap().status().as_u16() }
    };
    let two_keys = app
        .api(Method::POST, "/profiles", &care)
        .header("Idempotency-Key", "a")
        .header("Idempotency-Key", "b");
    assert_eq!(status(two_keys).await, 400);
    // No token, no key of anybody's: the usual 401.
    let no_token = app
        .client
        .post(app.url("/api/v1/profiles"))
        .header("Idempotency-Key", "a");
    assert_eq!(status(no_token).await, 401);
    assert_eq!(app.count("profiles").await, 0);
    assert_eq!(stored_keys(&app).await, 0);
    // 255 characters is a key; on a read it is ignored.
    let longest = "k".repeat(255);
    let r = post_profile(&app, &care, Some(&longest), &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = send(&app, &care, Method::GET, "/profiles", Some("a b"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(stored_keys(&app).await, 1);
}

#[tokio::test]
async fn a_retry_while_the_first_is_carried_out_is_a_409_until_its_claim_runs_out() {
    let app = spawn_app().await;
    let (token_id, care) = app.token(Role::Care).await;
    let body = profile_json("6135550121");
    // A node took the key and is carrying the request out (or died doing so).
    let claimed = app
        .with_conn(move |c| {
            mdm::api::idempotency::claim(
                c,
                &mdm::api::idempotency::Request {
                    token_id,
                    key: "order-7".into(),
                    method: "POST".into(),
                    target: "/api/v1/profiles".into(),
                },
                mdm::db::now_ms(),
            )
            .unwrap()
        })
        .await;
    assert!(matches!(claimed, mdm::api::idempotency::Claim::Mine { .. }));
    let r = post_profile(&app, &care, Some("order-7"), &body).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.code(), "idempotency_key_in_use", "{}", r.text);
    assert_eq!(r.retry_after.as_deref(), Some("1"));
    assert_eq!(app.count("profiles").await, 0);

    // Its node stopped renewing the claim: the retry carries it out.
    app.with_conn(|c| {
        use diesel::prelude::*;
        use mdm::db::schema::api_idempotency_keys as keys;
        diesel::update(keys::table)
            .set(keys::claimed_until.eq(mdm::db::now_ms() - 1))
            .execute(c)
            .unwrap()
    })
    .await;
    created_then_replayed(&app, &care, "/profiles", "order-7", &body).await;
    assert_eq!(app.count("profiles").await, 1);
}

#[tokio::test]
async fn a_server_error_is_not_kept_so_the_retry_is_carried_out() {
    let app = spawn_app().await;
    let (_, admin) = app.token(Role::Admin).await;
    let entry = json!({"make": "LG", "model": "VX9600", "protocol": "omadm", "fota": true});
    let rename = |from: &'static str, to: &'static str| {
        app.with_conn(move |c| {
            use diesel::connection::SimpleConnection;
            c.batch_execute(&format!("ALTER TABLE {from} RENAME TO {to}"))
                .unwrap()
        })
    };
    // The database loses the table for a moment: the request fails inside.
    rename("capabilities", "capabilities_away").await;
    let r = send(
        &app,
        &admin,
        Method::POST,
        "/capabilities",
        Some("cap-1"),
        Some(&entry),
    )
    .await;
    assert_eq!(r.status, 500, "{}", r.text);
    assert_eq!(stored_keys(&app).await, 0, "a 5xx releases its key");
    rename("capabilities_away", "capabilities").await;

    created_then_replayed(&app, &admin, "/capabilities", "cap-1", &entry).await;
    assert_eq!(app.count("capabilities").await, 1);
}

#[tokio::test]
async fn keys_past_their_day_are_swept() {
    let app = spawn_app_with(|c| c.sweep_interval_secs = 1).await;
    let (_, care) = app.token(Role::Care).await;
    for (n, key) in [(1, "old"), (2, "recent")] {
        let body = profile_json(&format!("613555013{n}"));
        let r = post_profile(&app, &care, Some(key), &body).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    assert_eq!(stored_keys(&app).await, 2);
    app.with_conn(|c| {
        use diesel::prelude::*;
        use mdm::db::schema::api_idempotency_keys as keys;
        diesel::update(keys::table.filter(keys::idempotency_key.eq("old")))
            .set(keys::expires_at.eq(mdm::db::now_ms() - 1))
            .execute(c)
            .unwrap()
    })
    .await;
    let mut left = 2;
    for _ in 0..50 {
        left = stored_keys(&app).await;
        if left == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(left, 1, "the sweeper deletes the expired key only");
    let keys: Vec<String> = app
        .with_conn(|c| {
            use diesel::prelude::*;
            use mdm::db::schema::api_idempotency_keys as keys;
            keys::table.select(keys::idempotency_key).load(c).unwrap()
        })
        .await;
    assert_eq!(keys, ["recent"]);
    // The expired key is a new key: its request is carried out again.
    let body = profile_json("6135550133");
    let r = post_profile(&app, &care, Some("old"), &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(!r.replayed);
}

#[tokio::test]
async fn a_retried_firmware_upload_is_stored_once() {
    let app = spawn_app().await;
    let (_, fw) = app.token(Role::Firmware).await;
    // A body far larger than a chunk: it reaches the handler as it arrives
    // and is hashed on the way.
    let file: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let path = "/firmware/packages?make=LG&model=VX9600&from_version=V04&to_version=V06";
    let upload = |key: &'static str, body: Vec<u8>| {
        app.api(Method::POST, path, &fw)
            .header("Idempotency-Key", key)
            .body(body)
            .send()
    };
    let first = upload("pkg-1", file.clone()).await.unwrap();
    assert_eq!(first.status().as_u16(), 201);
    let first: Value = first.json().await.unwrap();
    let again = upload("pkg-1", file.clone()).await.unwrap();
    assert_eq!(again.status().as_u16(), 201);
    assert_eq!(again.headers()[REPLAYED], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    // One byte changed is another request.
    let mut other = file.clone();
    other[299_999] ^= 1;
    let r = upload("pkg-1", other).await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let list = app
        .api(Method::GET, "/firmware/packages", &fw)
        .send_json()
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
}
