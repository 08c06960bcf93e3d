//! The OMA-DM HTTP binding (OMA-TS-DM_HTTPBinding): SyncML messages POSTed
//! as `application/vnd.syncml.dm+xml` or `+wbxml`, answered in the same
//! encoding. The session engine does the work; this only moves bytes.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::AppState;
use crate::omadm::auth::parse_hmac_header;
use crate::omadm::engine::{self, EngineConfig, Incoming};
use crate::omadm::syncml::{Encoding, Message};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/omadm", web::post().to(message));
}

#[derive(Deserialize)]
struct DmQuery {
    /// The FOTA session a device was redirected to by the FOTA URL.
    fota: Option<i64>,
    /// The session token of the RespURI we gave.
    s: Option<String>,
}

pub fn base_url(state: &AppState, req: &HttpRequest) -> String {
    match &state.config.public_url {
        Some(u) => u.clone(),
        None => super::firmware::base_url(req),
    }
}

fn plain(status: actix_web::http::StatusCode, text: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(text.to_string())
}

async fn message(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<DmQuery>,
    mut payload: web::Payload,
) -> HttpResponse {
    use futures_util::StreamExt;
    let Some(encoding) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Encoding::from_content_type)
    else {
        return plain(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send application/vnd.syncml.dm+xml or application/vnd.syncml.dm+wbxml",
        );
    };
    let limit = state.config.dm_max_body;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return plain(
                actix_web::http::StatusCode::BAD_REQUEST,
                "the message was cut off",
            );
        };
        if body.len() + chunk.len() > limit {
            tracing::warn!(limit, "OMA-DM message larger than the limit");
            return plain(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "message larger than MaxMsgSize",
            );
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let message = match Message::decode(&body, encoding) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "malformed OMA-DM message");
            return plain(
                actix_web::http::StatusCode::BAD_REQUEST,
                &format!("malformed SyncML: {e}"),
            );
        }
    };
    let hmac = match req
        .headers()
        .get("x-syncml-hmac")
        .and_then(|v| v.to_str().ok())
        .map(parse_hmac_header)
    {
        None => None,
        Some(Ok(h)) => Some(h),
        Some(Err(e)) => {
            return plain(
                actix_web::http::StatusCode::BAD_REQUEST,
                &format!("x-syncml-hmac: {e}"),
            )
        }
    };
    let cfg = EngineConfig {
        server_uri: format!("{}/omadm", base_url(&state, &req)),
        base_url: base_url(&state, &req),
        allow_basic: state.config.dm_allow_basic,
        vault: state.vault.clone(),
        max_body: limit,
    };
    let fota_hint = q.fota;
    let resp_token = q.into_inner().s;
    let session = message.hdr.session_id.clone();
    let outcome = state
        .db
        // Every message writes (nonce, session state): one write
        // transaction, on SQLite straight on the writer's thread.
        .run_write(move |c| {
            engine::handle_in(
                c,
                &cfg,
                Incoming {
                    message,
                    hmac,
                    body: &body,
                    fota_hint,
                    resp_token,
                    encoding,
                },
            )
            .map_err(|e| crate::db::DbError::Task(e.to_string()))
        })
        .await;
    match outcome {
        Ok(o) => match o.reply.encode(encoding) {
            Ok(bytes) => {
                tracing::info!(device = ?o.device_id, session = %session, "OMA-DM message handled");
                let mut response = HttpResponse::Ok();
                response.content_type(encoding.content_type());
                if let Some(mac) = &o.server_mac {
                    response.insert_header(("x-syncml-hmac", mac.header(&bytes)));
                }
                response.body(bytes)
            }
            Err(e) => {
                tracing::error!(error = %e, "could not encode the OMA-DM reply");
                plain(
                    actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "could not encode the reply",
                )
            }
        },
        Err(e) => {
            tracing::error!(error = %e, "OMA-DM message failed");
            plain(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "try again later",
            )
        }
    }
}
