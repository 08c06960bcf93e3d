//! `Idempotency-Key` on the API's state-changing requests, after the IETF
//! draft "The Idempotency-Key HTTP Header Field": a billing, POS or care
//! system whose connection dropped after a POST sends it again with the same
//! key and gets the first answer, not a second campaign, order or DM job.
//!
//! Keys are kept in the database (every node sees the same ones), scoped to
//! the API token, with a fingerprint of the request (method, path and query,
//! SHA-256 of the body). The first request claims its key; the answer it
//! gets is stored with it, unless it is a 5xx (the client may try again).
//! A retry that matches the fingerprint is answered from the store; one that
//! does not is a 422; one that comes while the first is still being carried
//! out is a 409. A claim whose node died runs out after [`CLAIM_TTL_MS`];
//! a stored answer after [`KEY_TTL_MS`], when the sweeper deletes it.
//!
//! Nothing is carried out twice, even when the node dies between the
//! handler's commit and the storing of its answer: every write transaction
//! the handler commits also sets the key's `carried_out_at` (a
//! [`crate::db::CommitMark`] run by `db::write` inside that transaction,
//! so the mark is durable exactly when the changes are). A retry that
//! finds the claim run out with `carried_out_at` set and no answer stored
//! is not carried out again: it is a 422 `idempotency_key_answer_lost`
//! saying when the first request committed and where to look, until the
//! key expires. So is a retry of a request that committed changes and then
//! failed with a 5xx (its key is kept, not released). A write whose claim
//! another node took over meanwhile is rolled back rather than committed
//! beside the other node's. A handler whose transaction rolled back marks
//! nothing, and its key runs out and is carried out again as before.

use std::pin::Pin;
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{HeaderMap, CONTENT_TYPE, LOCATION};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use diesel::prelude::*;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use super::caller;
use super::error::ApiError;
use crate::db::schema::api_idempotency_keys as keys;
use crate::db::{is_unique_violation, now_ms, CommitMark, DbConnection, DbError};
use crate::secrets::Vault;
use crate::web::AppState;

/// The request header (field names are case-insensitive).
pub const HEADER: &str = "idempotency-key";
/// Set to `true` on an answer given again from the store.
pub const REPLAYED: &str = "idempotent-replayed";
/// The error code of a retry whose first request was carried out but whose
/// answer was never stored.
pub const ANSWER_LOST: &str = "idempotency_key_answer_lost";
/// How long a key answers retries.
pub const KEY_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// How long a claim holds without its node renewing it: the bound on how
/// long a client waits to retry after the node carrying out its request died.
pub const CLAIM_TTL_MS: i64 = 60 * 1000;
/// A node renews the claims of the requests it is carrying out this often,
/// so a long upload is not taken for a dead node's.
const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(20);
/// The longest key the draft's examples and our column sensibly take.
const MAX_KEY_LEN: usize = 255;

/// The key of a request's `Idempotency-Key`, or why it is not one. The
/// draft makes the value a structured-field string (`"…"`); most clients
/// send it bare, so both are taken and name the same key.
pub fn key_of(headers: &HeaderMap) -> Result<Option<String>, String> {
    let mut values = headers.get_all(HEADER);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("send one Idempotency-Key header, not several".into());
    }
    parse_key(value.as_bytes()).map(Some)
}

fn parse_key(raw: &[u8]) -> Result<String, String> {
    let key = match raw {
        [b'"', inner @ .., b'"'] => unquote(inner)?,
        [b'"', ..] => return Err("the quoted Idempotency-Key has no closing quote".into()),
        _ => raw.to_vec(),
    };
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(format!(
            "an Idempotency-Key is 1 to {MAX_KEY_LEN} visible ASCII characters; this one has {}",
            key.len()
        ));
    }
    if !key.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(
            "an Idempotency-Key is visible ASCII characters only (no spaces or control characters)"
                .into(),
        );
    }
    String::from_utf8(key).map_err(|_| "the Idempotency-Key is not ASCII".to_string())
}

/// The content of a structured-field string (RFC 8941 §3.3.3): `\"` and
/// `\\` are the only escapes.
fn unquote(inner: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(inner.len());
    let mut bytes = inner.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => match bytes.next() {
                Some(&e @ (b'"' | b'\\')) => out.push(e),
                _ => return Err("the quoted Idempotency-Key has a bad escape".into()),
            },
            b'"' => return Err("the quoted Idempotency-Key has an unescaped quote".into()),
            other => out.push(other),
        }
    }
    Ok(out)
}

/// The methods that change state, and so take a key. GET and HEAD are safe
/// to repeat already; a key on them is ignored, as the draft allows.
fn changes_state(m: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(m)
}

/// What a request claims: its caller's key and its fingerprint.
#[derive(Debug, Clone)]
pub struct Request {
    pub token_id: i64,
    pub key: String,
    pub method: String,
    pub target: String,
}

/// A finished request's stored answer, as read back.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = keys)]
pub struct Stored {
    pub id: i64,
    pub method: String,
    pub target: String,
    pub body_sha256: Option<String>,
    pub response_status: Option<i32>,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub response_body: Option<String>,
}

/// What claiming a key found.
#[derive(Debug)]
pub enum Claim {
    /// The key is this request's to carry out: `token` proves it when
    /// storing or releasing.
    Mine { id: i64, token: String },
    /// Another request with this key is being carried out.
    Busy,
    /// The key's request has finished: its answer.
    Done(Stored),
    /// The key's request committed its changes at `carried_out_at`, but no
    /// answer was stored (its node died first, or it failed afterwards):
    /// it must not be carried out again, and there is nothing to replay.
    CarriedOut {
        method: String,
        target: String,
        carried_out_at: i64,
    },
}

/// Claims `req`'s key: a new key, one whose stored answer expired, or one
/// whose claimant stopped renewing it (its node died) before committing
/// anything becomes this request's.
pub fn claim(conn: &mut DbConnection, req: &Request, now: i64) -> Result<Claim, DbError> {
    let token = hex::encode(rand::random::<[u8; 16]>());
    let claimed = crate::db::write(conn, |conn| -> Result<Claim, diesel::result::Error> {
        type Found = (Stored, Option<String>, i64, i64, Option<i64>);
        let found: Option<Found> = keys::table
            .filter(keys::token_id.eq(req.token_id))
            .filter(keys::idempotency_key.eq(&req.key))
            .select((
                Stored::as_select(),
                keys::claim,
                keys::claimed_until,
                keys::expires_at,
                keys::carried_out_at,
            ))
            .first(conn)
            .optional()?;
        match found {
            Some((stored, _, _, expires_at, _))
                if expires_at > now && stored.response_status.is_some() =>
            {
                Ok(Claim::Done(stored))
            }
            // Committed, then its node died (the claim ran out) or it failed
            // (the claim was given up): carrying it out again would do it
            // twice.
            Some((stored, claim, claimed_until, expires_at, Some(carried_out_at)))
                if expires_at > now && (claim.is_none() || claimed_until <= now) =>
            {
                Ok(Claim::CarriedOut {
                    method: stored.method,
                    target: stored.target,
                    carried_out_at,
                })
            }
            Some((_, _, claimed_until, expires_at, _))
                if expires_at > now && claimed_until > now =>
            {
                Ok(Claim::Busy)
            }
            Some((stored, _, claimed_until, expires_at, carried_out_at)) => {
                // Expired, or a claim nobody renewed: taken over only if no
                // other node took it over first (a takeover moves both),
                // and only if the claimant did not commit meanwhile
                // (PostgreSQL checks the filter again on the row its commit
                // left).
                let taken = diesel::update(
                    keys::table
                        .filter(keys::id.eq(stored.id))
                        .filter(keys::claimed_until.eq(claimed_until))
                        .filter(keys::expires_at.eq(expires_at))
                        .filter(
                            keys::carried_out_at
                                .is_null()
                                .or(keys::carried_out_at.eq(carried_out_at.unwrap_or(i64::MIN))),
                        ),
                )
                .set((
                    keys::method.eq(&req.method),
                    keys::target.eq(&req.target),
                    keys::body_sha256.eq(None::<String>),
                    keys::claim.eq(&token),
                    keys::claimed_until.eq(now + CLAIM_TTL_MS),
                    keys::response_status.eq(None::<i32>),
                    keys::content_type.eq(None::<String>),
                    keys::location.eq(None::<String>),
                    keys::response_body.eq(None::<String>),
                    keys::created_at.eq(now),
                    keys::expires_at.eq(now + KEY_TTL_MS),
                    keys::carried_out_at.eq(None::<i64>),
                ))
                .execute(conn)?;
                Ok(if taken == 1 {
                    Claim::Mine {
                        id: stored.id,
                        token: token.clone(),
                    }
                } else {
                    Claim::Busy
                })
            }
            None => {
                diesel::insert_into(keys::table)
                    .values((
                        keys::token_id.eq(req.token_id),
                        keys::idempotency_key.eq(&req.key),
                        keys::method.eq(&req.method),
                        keys::target.eq(&req.target),
                        keys::claim.eq(&token),
                        keys::claimed_until.eq(now + CLAIM_TTL_MS),
                        keys::created_at.eq(now),
                        keys::expires_at.eq(now + KEY_TTL_MS),
                    ))
                    .execute(conn)?;
                let id = keys::table
                    .filter(keys::token_id.eq(req.token_id))
                    .filter(keys::idempotency_key.eq(&req.key))
                    .select(keys::id)
                    .first(conn)?;
                Ok(Claim::Mine {
                    id,
                    token: token.clone(),
                })
            }
        }
    });
    match claimed {
        // Another request with the key inserted it first.
        Err(e) if is_unique_violation(&e) => Ok(Claim::Busy),
        other => other.map_err(DbError::from),
    }
}

/// Keeps a claim held while its request is being carried out.
pub fn renew(conn: &mut DbConnection, id: i64, token: &str, now: i64) -> Result<bool, DbError> {
    let n = crate::db::write(conn, |conn| {
        diesel::update(
            keys::table
                .filter(keys::id.eq(id))
                .filter(keys::claim.eq(token)),
        )
        .set(keys::claimed_until.eq(now + CLAIM_TTL_MS))
        .execute(conn)
    })?;
    Ok(n == 1)
}

/// The mark that every write transaction of the request holding claim `id`
/// commits with: the key is carried out from then on. A claim another node
/// took over (this one's renewals stopped reaching the database) fails the
/// write, so the request is not carried out by both.
pub fn carried_out_mark(id: i64, token: String) -> CommitMark {
    Arc::new(move |conn: &mut DbConnection| {
        let n = diesel::update(
            keys::table
                .filter(keys::id.eq(id))
                .filter(keys::claim.eq(&token)),
        )
        .set(keys::carried_out_at.eq(now_ms()))
        .execute(conn)?;
        if n == 1 {
            Ok(())
        } else {
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::Unknown,
                Box::new(format!(
                    "the Idempotency-Key claim {id} was taken over by another request; \
                     this one's changes are rolled back"
                )),
            ))
        }
    })
}

/// Runs `work` (the request's handler) holding claim `id`: each write
/// transaction it commits marks the key carried out (see
/// [`carried_out_mark`]).
pub async fn carrying_out<F: std::future::Future>(id: i64, token: String, work: F) -> F::Output {
    crate::db::marking_writes(carried_out_mark(id, token), work).await
}

/// A finished request's answer, to be given again to its retries.
pub struct Answer {
    pub body_sha256: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: String,
}

/// Stores the answer of a claimed request; the body is sealed, as it may
/// carry a secret shown once (a generated DM server password).
pub fn store(
    conn: &mut DbConnection,
    vault: &Vault,
    id: i64,
    token: &str,
    answer: &Answer,
) -> Result<bool, DbError> {
    let sealed = vault.seal(&sealed_as(id), &answer.body);
    let n = crate::db::write(conn, |conn| {
        diesel::update(
            keys::table
                .filter(keys::id.eq(id))
                .filter(keys::claim.eq(token)),
        )
        .set((
            keys::body_sha256.eq(&answer.body_sha256),
            keys::claim.eq(None::<String>),
            keys::response_status.eq(i32::from(answer.status)),
            keys::content_type.eq(&answer.content_type),
            keys::location.eq(&answer.location),
            keys::response_body.eq(sealed),
        ))
        .execute(conn)
    })?;
    Ok(n == 1)
}

/// Gives a claimed key up: its request had no answer worth keeping (a 5xx,
/// a body cut off), so a retry carries it out again. A request that had
/// committed changes before failing keeps its key, its claim ended: its
/// retry is told it was carried out rather than carrying it out twice.
/// Returns the number of keys deleted.
pub fn release(conn: &mut DbConnection, id: i64, token: &str) -> Result<usize, DbError> {
    Ok(crate::db::write(conn, |conn| {
        let deleted = diesel::delete(
            keys::table
                .filter(keys::id.eq(id))
                .filter(keys::claim.eq(token))
                .filter(keys::carried_out_at.is_null()),
        )
        .execute(conn)?;
        if deleted == 0 {
            diesel::update(
                keys::table
                    .filter(keys::id.eq(id))
                    .filter(keys::claim.eq(token)),
            )
            .set(keys::claim.eq(None::<String>))
            .execute(conn)?;
        }
        Ok::<_, diesel::result::Error>(deleted)
    })?)
}

/// Deletes the keys that no longer answer retries; run by the sweeper.
pub fn sweep_expired(conn: &mut DbConnection, now: i64) -> Result<usize, DbError> {
    Ok(crate::db::write(conn, |conn| {
        diesel::delete(keys::table.filter(keys::expires_at.le(now))).execute(conn)
    })?)
}

fn sealed_as(id: i64) -> String {
    format!("api_idempotency_keys.response_body:{id}")
}

/// Whether an answer is kept for retries: a 5xx is not (the failure may be
/// passing, and the client must be able to try again), nor an answer to a
/// body that never fully arrived.
pub fn keeps(status: StatusCode, body_whole: bool) -> bool {
    body_whole && !status.is_server_error()
}

/// The middleware on the API scope. A request without the header, or with
/// a method that changes nothing, goes through untouched.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !changes_state(req.method()) || !req.headers().contains_key(HEADER) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let key = match key_of(req.headers()) {
        Ok(Some(k)) => k,
        Ok(None) => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)
        }
        Err(why) => return Ok(refuse(req, ApiError::BadRequest(why))),
    };
    let caller = match caller::authenticate(req.request()).await {
        Ok(c) => c,
        Err(e) => return Ok(refuse(req, e)),
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(refuse(
            req,
            ApiError::Internal("application state missing".into()),
        ));
    };
    let asked = Request {
        token_id: caller.token_id,
        key,
        method: req.method().as_str().to_string(),
        target: req
            .uri()
            .path_and_query()
            .map_or_else(|| req.path().to_string(), |p| p.as_str().to_string()),
    };
    req.extensions_mut().insert(caller);
    let now = now_ms();
    let claim_req = asked.clone();
    let claimed = state.db.run(move |c| claim(c, &claim_req, now)).await;
    match claimed {
        Err(e) => Ok(refuse(req, e.into())),
        Ok(Claim::Busy) => Ok(refuse(
            req,
            ApiError::InProgress(
                "a request with this Idempotency-Key is still being carried out: retry once it has finished"
                    .into(),
            ),
        )),
        Ok(Claim::Done(stored)) => {
            let body = drain(req.take_payload()).await;
            match body {
                None => Ok(refuse(
                    req,
                    ApiError::BadRequest("the request body was cut off".into()),
                )),
                Some(hash) => {
                    if stored.method != asked.method
                        || stored.target != asked.target
                        || stored.body_sha256.as_deref() != Some(hash.as_str())
                    {
                        return Ok(refuse(req, ApiError::KeyReused(format!(
                            "this Idempotency-Key was used for another request ({} {}): use a new key for a new request",
                            stored.method, stored.target
                        ))));
                    }
                    let replay = replay(&state.vault, &stored);
                    Ok(req.into_response(replay))
                }
            }
        }
        Ok(Claim::CarriedOut {
            method,
            target,
            carried_out_at,
        }) => {
            // The body's hash was never stored (the node died before), so
            // method, path and query are what can be compared.
            if method != asked.method || target != asked.target {
                return Ok(refuse(req, ApiError::KeyReused(format!(
                    "this Idempotency-Key was used for another request ({method} {target}): use a new key for a new request"
                ))));
            }
            tracing::warn!(
                token = asked.token_id,
                key = %asked.key,
                method = %method,
                target = %target,
                carried_out_at = %crate::timefmt::iso(carried_out_at),
                "a retried API request was carried out before but its answer was lost; not carried out again"
            );
            Ok(req.into_response(answer_lost(&method, &target, carried_out_at)))
        }
        Ok(Claim::Mine { id, token }) => {
            // Carried out in a task of its own: a client that goes away
            // mid-request drops this future, and the request must still
            // finish and have its answer stored for the retry.
            let task = actix_web::rt::spawn(carry_out(state, req, next, id, token));
            task.await
                .unwrap_or_else(|e| Err(ApiError::Internal(format!("request task: {e}")).into()))
        }
    }
}

async fn carry_out<B: MessageBody + 'static>(
    state: web::Data<AppState>,
    mut req: ServiceRequest,
    next: Next<B>,
    id: i64,
    token: String,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let (payload, body_hash) = tee(req.take_payload());
    req.set_payload(payload);
    let renewer = {
        let (db, token) = (state.db.clone(), token.clone());
        actix_web::rt::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                let token = token.clone();
                if let Err(e) = db.run(move |c| renew(c, id, &token, now_ms())).await {
                    tracing::warn!(error = %e, "renewing an idempotency claim failed");
                }
            }
        })
    };
    let outcome = carrying_out(id, token.clone(), next.call(req)).await;
    let outcome = match outcome {
        Ok(res) => collect(res).await,
        Err(e) => Err(e),
    };
    renewer.abort();
    let whole = body_hash.await.ok().flatten();
    let db = state.db.clone();
    let vault = state.vault.clone();
    let answer = match (&outcome, whole) {
        (Ok((res, body)), whole) if keeps(res.status(), whole.is_some()) => {
            let hash = whole.unwrap_or_default();
            match String::from_utf8(body.to_vec()) {
                Ok(text) => Some(Answer {
                    body_sha256: hash,
                    status: res.status().as_u16(),
                    content_type: header_text(res.headers(), CONTENT_TYPE),
                    location: header_text(res.headers(), LOCATION),
                    body: text,
                }),
                Err(_) => None,
            }
        }
        _ => None,
    };
    let settled = match answer {
        Some(answer) => {
            let token = token.clone();
            db.run(move |c| store(c, &vault, id, &token, &answer).map(|_| ()))
                .await
        }
        None => db.run(move |c| release(c, id, &token).map(|_| ())).await,
    };
    if let Err(e) = settled {
        // The answer still goes out; a retry waits for the claim to run out.
        tracing::error!(error = %e, "settling an idempotency key failed");
    }
    outcome.map(|(res, body)| res.map_body(|_, _| BoxBody::new(body)))
}

/// The answer with its body read whole, to be stored and sent.
async fn collect<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> Result<(ServiceResponse<()>, Bytes), actix_web::Error> {
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.map_err(|e| {
        let e: Box<dyn std::error::Error> = e.into();
        ApiError::Internal(format!("reading the answer: {e}"))
    })?;
    Ok((ServiceResponse::new(req, head), bytes))
}

fn header_text(headers: &HeaderMap, name: actix_web::http::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The stored answer given again, marked as such.
fn replay(vault: &Vault, stored: &Stored) -> HttpResponse {
    let body = match stored.response_body.as_deref() {
        Some(sealed) => match vault.open(&sealed_as(stored.id), sealed) {
            Ok(b) => b,
            Err(e) => return ApiError::Internal(e.to_string()).error_response(),
        },
        None => String::new(),
    };
    let status = stored
        .response_status
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut res = HttpResponse::build(status);
    res.insert_header((REPLAYED, "true"));
    if let Some(ct) = &stored.content_type {
        res.insert_header((CONTENT_TYPE, ct.as_str()));
    }
    if let Some(location) = &stored.location {
        res.insert_header((LOCATION, location.as_str()));
    }
    res.body(body)
}

/// The answer to a retry whose first request was carried out but never
/// answered: in the API's error form, with a code of its own so a client
/// can tell it from a refusal it may fix and send again.
pub fn answer_lost(method: &str, target: &str, carried_out_at: i64) -> HttpResponse {
    let message = format!(
        "the first request with this Idempotency-Key ({method} {target}) was carried out: \
         its changes were committed at {}, but its answer was lost (the node carrying it out \
         stopped before storing it, or it failed after committing), so it is not carried out \
         again. Look up what it created or changed (the list it adds to, the record it changes, \
         or that record's audit trail) before deciding whether to send it again with a new key",
        crate::timefmt::iso(carried_out_at)
    );
    HttpResponse::UnprocessableEntity().json(serde_json::json!({
        "error": {"code": ANSWER_LOST, "message": message}
    }))
}

fn refuse(req: ServiceRequest, e: ApiError) -> ServiceResponse<BoxBody> {
    req.into_response(e.error_response())
}

type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>;

/// The body's SHA-256, reading it whole; none when it was cut off.
async fn drain(mut payload: Payload) -> Option<String> {
    let mut h = Sha256::new();
    while let Some(chunk) = payload.next().await {
        h.update(chunk.ok()?);
    }
    Some(hex::encode(h.finalize()))
}

/// The body passed on to the handler as it arrives (a firmware upload is
/// not held in memory), hashed on the way; the hash comes once the body has
/// been read whole, by the handler or after it, and is none when it was cut
/// off.
fn tee(mut payload: Payload) -> (Payload, tokio::sync::oneshot::Receiver<Option<String>>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, PayloadError>>(8);
    let (done, hash) = tokio::sync::oneshot::channel();
    actix_web::rt::spawn(async move {
        let mut h = Sha256::new();
        let mut forward = true;
        let mut whole = true;
        while let Some(item) = payload.next().await {
            match item {
                Ok(chunk) => {
                    h.update(&chunk);
                    // A handler that answered without the whole body no
                    // longer listens; the rest is still read for the hash.
                    if forward && tx.send(Ok(chunk)).await.is_err() {
                        forward = false;
                    }
                }
                Err(e) => {
                    whole = false;
                    if forward {
                        let _ = tx.send(Err(e)).await;
                    }
                    break;
                }
            }
        }
        drop(tx);
        let _ = done.send(whole.then(|| hex::encode(h.finalize())));
    });
    let chunks: Chunks = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    (Payload::Stream { payload: chunks }, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_1_to_255_visible_ascii_characters_bare_or_quoted() {
        assert_eq!(
            parse_key(b"8e03978e-40d5-43e8").unwrap(),
            "8e03978e-40d5-43e8"
        );
        assert_eq!(parse_key(b"\"8e03978e-40d5\"").unwrap(), "8e03978e-40d5");
        assert_eq!(parse_key(br#""a\"b\\c""#).unwrap(), r#"a"b\c"#);
        assert_eq!(parse_key(&[b'k'; 255]).unwrap().len(), 255);
        for bad in [
            &b""[..],
            &b"\"\""[..],
            &[b'k'; 256][..],
            &b"two words"[..],
            &b"tab\there"[..],
            &b"caf\xc3\xa9"[..],
            &br#""bad\escape""#[..],
            &br#""in"side""#[..],
            &b"\"open"[..],
        ] {
            assert!(
                parse_key(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn several_keys_are_refused_and_none_is_no_key() {
        let mut h = HeaderMap::new();
        assert_eq!(key_of(&h), Ok(None));
        h.append(
            actix_web::http::header::HeaderName::from_static(HEADER),
            actix_web::http::header::HeaderValue::from_static("a"),
        );
        assert_eq!(key_of(&h), Ok(Some("a".into())));
        h.append(
            actix_web::http::header::HeaderName::from_static(HEADER),
            actix_web::http::header::HeaderValue::from_static("b"),
        );
        assert!(key_of(&h).is_err());
    }

    #[test]
    fn server_errors_and_cut_off_bodies_are_not_kept_client_errors_are() {
        assert!(keeps(StatusCode::CREATED, true));
        assert!(keeps(StatusCode::UNPROCESSABLE_ENTITY, true));
        assert!(keeps(StatusCode::NOT_FOUND, true));
        assert!(!keeps(StatusCode::INTERNAL_SERVER_ERROR, true));
        assert!(!keeps(StatusCode::SERVICE_UNAVAILABLE, true));
        assert!(!keeps(StatusCode::CREATED, false));
    }
}
