//! The IOTA HTTP server: the handset side of the IOTA call flows. It only
//! translates HTTP to MMC documents and back; the OSPP driver decides.
//!
//! A document that does not decode is answered without a document (400,
//! 413 or 415, docs/iota-mmc.md "Transport"); everything the driver says,
//! refusals included, goes back as a document with status 200.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;

use super::AppState;
use crate::iota::driver::{self, BOOTSTRAP_PATH};
use crate::iota::mmc::{self, MmcDocument, MmcError};
use crate::iota::IotaError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(BOOTSTRAP_PATH, web::get().to(bootstrap))
        .route(BOOTSTRAP_PATH, web::post().to(post))
        .route("/iota/callback/{token}", web::get().to(callback))
        .route("/iota/callback/{token}", web::post().to(post))
        .route("/iota/fota/{token}", web::get().to(fota_get))
        .route("/iota/fota/{token}", web::post().to(post));
}

#[derive(Deserialize)]
struct MmcQuery {
    mmc: Option<String>,
}

fn plain(status: StatusCode, text: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(text.to_string())
}

fn undecodable(e: &MmcError) -> HttpResponse {
    tracing::warn!(error = %e, "IOTA request with an undecodable MMC document");
    let status = match e {
        MmcError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    plain(status, &format!("MMC document: {e}"))
}

fn answer(outcome: Result<MmcDocument, IotaError>) -> HttpResponse {
    let doc = match outcome {
        Ok(doc) => doc,
        Err(IotaError::Conflict(why)) => {
            // Two requests of one session raced; the handset repeats.
            tracing::warn!(reason = %why, "IOTA exchange conflict");
            return plain(StatusCode::CONFLICT, &why);
        }
        Err(IotaError::NotFound(what)) => {
            // Data the session needs is missing (e.g. the subscriber's SSPR
            // table holds no PRL): operators must fix it, the handset retries.
            tracing::error!(missing = %what, "IOTA session cannot go on");
            driver::refusal(None, 503, &format!("{what} is not available"))
        }
        Err(e) => {
            tracing::error!(error = %e, "IOTA exchange failed");
            driver::refusal(None, 500, "the server could not continue the session")
        }
    };
    match doc.encode() {
        Ok(body) => HttpResponse::Ok()
            .content_type(mmc::CONTENT_TYPE)
            .insert_header(("Cache-Control", "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "IOTA answer could not be encoded");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

fn query_document(q: &MmcQuery) -> Result<Option<MmcDocument>, MmcError> {
    match q.mmc.as_deref() {
        None | Some("") => Ok(None),
        Some(v) => MmcDocument::from_query_value(v).map(Some),
    }
}

async fn bootstrap(state: web::Data<AppState>, q: web::Query<MmcQuery>) -> HttpResponse {
    let doc = match query_document(&q) {
        Ok(d) => d,
        Err(e) => return undecodable(&e),
    };
    answer(state.db.run(move |c| driver::bootstrap(c, doc)).await)
}

async fn callback(
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<MmcQuery>,
) -> HttpResponse {
    let doc = match query_document(&q) {
        Ok(d) => d,
        Err(e) => return undecodable(&e),
    };
    let token = path.into_inner();
    let raw = q.mmc.clone().unwrap_or_default().into_bytes();
    answer(
        state
            .db
            .run(move |c| driver::callback(c, &token, doc, &raw))
            .await,
    )
}

/// The content type must be ours; `charset=utf-8` is the only parameter
/// tolerated.
fn content_type_ok(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';').map(str::trim);
    let media = parts.next().unwrap_or("");
    media.eq_ignore_ascii_case(mmc::CONTENT_TYPE)
        && parts.all(|p| p.is_empty() || p.replace(' ', "").eq_ignore_ascii_case("charset=utf-8"))
}

async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> HttpResponse {
    if !content_type_ok(&req) {
        tracing::warn!("IOTA POST with a wrong content type");
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("an IOTA POST carries {}", mmc::CONTENT_TYPE),
        );
    }
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return plain(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            );
        };
        if body.len() + chunk.len() > mmc::MAX_DOCUMENT {
            return undecodable(&MmcError::TooLarge(body.len() + chunk.len()));
        }
        body.extend_from_slice(&chunk);
    }
    let doc = match MmcDocument::decode(&body) {
        Ok(d) => d,
        Err(e) => return undecodable(&e),
    };
    let base = super::omadm::base_url(&state, &req);
    answer(
        state
            .db
            .run(move |c| driver::exchange(c, &doc, &body, &base))
            .await,
    )
}

async fn fota_get(
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<MmcQuery>,
) -> HttpResponse {
    let doc = match query_document(&q) {
        Ok(d) => d,
        Err(e) => return undecodable(&e),
    };
    let token = path.into_inner();
    let raw = q.mmc.clone().unwrap_or_default().into_bytes();
    answer(
        state
            .db
            .run(move |c| crate::iota::fota::get_request(c, &token, doc, &raw))
            .await,
    )
}
