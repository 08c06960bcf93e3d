//! An `Idempotency-Key` whose request committed its changes and whose node
//! died before storing the answer: the retry after the claim runs out must
//! not carry the request out a second time. A request whose changes rolled
//! back is still carried out by its retry.

use diesel::prelude::*;
use mdm::api::idempotency::{self, Claim, Request, CLAIM_TTL_MS};
use mdm::auth::Role;
use mdm::db::now_ms;
use mdm::db::schema::api_idempotency_keys as keys;
use mdm::registry::profile::{self, ProfileDraft};
use mdm::registry::{Actor, RegistryError};
use serde_json::Value;

use crate::common::{profile_json, spawn_app, TestApp};

const PROFILES: &str = "/api/v1/profiles";

fn order(token_id: i64, key: &str) -> Request {
    Request {
        token_id,
        key: key.into(),
        method: "POST".into(),
        target: PROFILES.into(),
    }
}

async fn claim_at(app: &TestApp, req: Request, now: i64) -> Claim {
    app.with_conn(move |c| idempotency::claim(c, &req, now).unwrap())
        .await
}

/// The key's `carried_out_at`, as the database holds it.
async fn carried_out_at(app: &TestApp, token_id: i64, key: &'static str) -> Option<i64> {
    app.with_conn(move |c| {
        keys::table
            .filter(keys::token_id.eq(token_id))
            .filter(keys::idempotency_key.eq(key))
            .select(keys::carried_out_at)
            .first(c)
            .unwrap()
    })
    .await
}

/// What `profile_create` does for a request holding claim (`id`, `token`):
/// the profile is created in the request's own write transaction.
async fn create_profile_holding(
    app: &TestApp,
    id: i64,
    token: String,
    body: &Value,
) -> Result<profile::Profile, RegistryError> {
    let draft: ProfileDraft = serde_json::from_value(body.clone()).unwrap();
    let db = app.db.clone();
    idempotency::carrying_out(id, token, async move {
        db.run(move |c| profile::create(c, &Actor::System("api-test"), &draft))
            .await
    })
    .await
}

async fn post(app: &TestApp, bearer: &str, key: &str, body: &Value) -> (u16, Value) {
    let r = app
        .api(reqwest::Method::POST, "/profiles", bearer)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_request_committed_before_its_node_died_is_not_carried_out_again() {
    let app = spawn_app().await;
    let (token_id, care) = app.token(Role::Care).await;
    let body = profile_json("6135550141");
    // The first attempt claimed the key a claim's lifetime ago...
    let first = now_ms() - CLAIM_TTL_MS - 1_000;
    let Claim::Mine { id, token } = claim_at(&app, order(token_id, "pos-41"), first).await else {
        panic!("a new key is the first request's");
    };
    // ...carried the request out, and its node died before storing the
    // answer: nothing but the handler's own transaction ran.
    create_profile_holding(&app, id, token, &body)
        .await
        .expect("the handler's write");
    assert_eq!(app.count("profiles").await, 1);
    assert!(carried_out_at(&app, token_id, "pos-41").await.is_some());

    // The claim has run out: the domain says carried out, not "yours".
    let later = first + CLAIM_TTL_MS + 1;
    match claim_at(&app, order(token_id, "pos-41"), later).await {
        Claim::CarriedOut { method, target, .. } => {
            assert_eq!((method.as_str(), target.as_str()), ("POST", PROFILES));
        }
        other => panic!("the retry would carry it out again: {other:?}"),
    }

    // The client's retry over HTTP: a clear refusal, nothing done twice,
    // however often it is sent.
    for _ in 0..2 {
        let (status, answer) = post(&app, &care, "pos-41", &body).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(
            answer["error"]["code"],
            idempotency::ANSWER_LOST,
            "{answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("was carried out"), "{message}");
        assert!(message.contains("POST /api/v1/profiles"), "{message}");
        assert_eq!(app.count("profiles").await, 1);
    }

    // The same key on another request is still the usual 422.
    let r = app
        .api(reqwest::Method::POST, "/devices", &care)
        .header("Idempotency-Key", "pos-41")
        .json(&body)
        .send()
        .await
        .unwrap();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(
        answer["error"]["code"], "idempotency_key_reused",
        "{answer}"
    );

    // A new key is a new request.
    let (status, answer) = post(&app, &care, "pos-42", &profile_json("6135550142")).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(app.count("profiles").await, 2);
    // The middleware's own handler run marked its key in the handler's
    // transaction, through `Db::run` and the server's SQLite group writer.
    assert!(carried_out_at(&app, token_id, "pos-42").await.is_some());
}

#[tokio::test]
async fn a_request_whose_write_rolled_back_is_carried_out_after_its_claim_runs_out() {
    let app = spawn_app().await;
    let (token_id, care) = app.token(Role::Care).await;
    let body = profile_json("6135550143");
    let first = now_ms() - CLAIM_TTL_MS - 1_000;
    let Claim::Mine { id, token } = claim_at(&app, order(token_id, "pos-43"), first).await else {
        panic!("a new key is the first request's");
    };
    // The handler created the profile, then failed: its transaction rolled
    // back, the mark with it. Its node died before releasing the key.
    let draft: ProfileDraft = serde_json::from_value(body.clone()).unwrap();
    let db = app.db.clone();
    let failed = idempotency::carrying_out(id, token, async move {
        db.run(move |c| {
            mdm::db::write(c, |c| -> Result<(), RegistryError> {
                profile::create(c, &Actor::System("api-test"), &draft)?;
                Err(RegistryError::Conflict(
                    "the handler failed after its insert".into(),
                ))
            })
        })
        .await
    })
    .await;
    assert!(failed.is_err());
    assert_eq!(app.count("profiles").await, 0);
    assert_eq!(carried_out_at(&app, token_id, "pos-43").await, None);

    // Once the claim has run out the key is the retry's, as before.
    let later = first + CLAIM_TTL_MS + 1;
    assert!(matches!(
        claim_at(&app, order(token_id, "pos-43"), later).await,
        Claim::Mine { .. }
    ));
    // And over HTTP (the claim taken at `later` has run out too).
    app.with_conn(|c| {
        diesel::update(keys::table)
            .set(keys::claimed_until.eq(now_ms() - 1))
            .execute(c)
            .unwrap()
    })
    .await;
    let (status, answer) = post(&app, &care, "pos-43", &body).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(app.count("profiles").await, 1);
    let (status, again) = post(&app, &care, "pos-43", &body).await;
    assert_eq!((status, &again), (201, &answer), "replayed");
    assert_eq!(app.count("profiles").await, 1);
}

#[tokio::test]
async fn a_write_whose_claim_was_taken_over_is_rolled_back() {
    let app = spawn_app().await;
    let (token_id, _) = app.token(Role::Care).await;
    let first = now_ms() - CLAIM_TTL_MS - 1_000;
    let Claim::Mine { id, token } = claim_at(&app, order(token_id, "pos-44"), first).await else {
        panic!("a new key is the first request's");
    };
    // The first node stopped renewing (but lives): a retry took the key.
    let Claim::Mine { id: taken, .. } = claim_at(&app, order(token_id, "pos-44"), now_ms()).await
    else {
        panic!("an unrenewed claim is taken over");
    };
    assert_eq!(taken, id);
    // The first node's handler now commits: refused, rolled back.
    let late = create_profile_holding(&app, id, token, &profile_json("6135550144")).await;
    assert!(late.is_err(), "{late:?}");
    assert_eq!(app.count("profiles").await, 0);
    assert_eq!(carried_out_at(&app, token_id, "pos-44").await, None);
}

#[tokio::test]
async fn a_request_that_committed_then_failed_keeps_its_key() {
    let app = spawn_app().await;
    let (token_id, _) = app.token(Role::Care).await;
    let Claim::Mine { id, token } = claim_at(&app, order(token_id, "pos-45"), now_ms()).await
    else {
        panic!("a new key is the first request's");
    };
    create_profile_holding(&app, id, token.clone(), &profile_json("6135550145"))
        .await
        .expect("the handler's write");
    // It answered with a 5xx after committing: the middleware releases the
    // key, which must not make the retry carry it out again.
    let deleted = app
        .with_conn(move |c| idempotency::release(c, id, &token).unwrap())
        .await;
    assert_eq!(deleted, 0);
    assert!(matches!(
        claim_at(&app, order(token_id, "pos-45"), now_ms()).await,
        Claim::CarriedOut { .. }
    ));
    assert_eq!(app.count("profiles").await, 1);
}
