//! Turns HTTP requests into ledger calls and ledger replies into HTTP.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::super::order::ServiceOrder;
use super::super::wire::{IDEMPOTENCY_KEY, ORDERS_PATH};
use super::ledger::{lock, Incoming, Ledger, Reply};

/// Long enough to outlast any client timeout; the connection is dropped
/// sooner if the simulator stops.
const HANG: Duration = Duration::from_secs(3600);

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(ORDERS_PATH, web::post().to(service_order));
}

async fn service_order(
    ledger: web::Data<Mutex<Ledger>>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let incoming = parse(&req, &body);
    // The guard is a temporary, released before any await below.
    let reply = lock(&ledger).handle(incoming, SystemTime::now());
    match reply {
        Reply::Answer { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            HttpResponse::build(status).json(body)
        }
        Reply::Hang => {
            tokio::time::sleep(HANG).await;
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

fn parse(req: &HttpRequest, body: &[u8]) -> Result<Incoming, Reply> {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let key = header(IDEMPOTENCY_KEY)
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        return Err(Reply::failed(
            400,
            "E400",
            "Idempotency-Key header required",
        ));
    };
    // Strict on purpose: a client that forgets the header would be refused
    // by a real gateway too, better found here first.
    let is_json = header(CONTENT_TYPE.as_str())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Reply::failed(
            415,
            "E415",
            "Content-Type must be application/json",
        ));
    }
    let order: ServiceOrder = serde_json::from_slice(body)
        .map_err(|e| Reply::failed(400, "E400", format!("invalid order: {e}")))?;
    let fields = [
        &order.mdn,
        &order.account_id,
        &order.service,
        &order.reference,
    ];
    if fields.iter().any(|f| f.trim().is_empty()) {
        return Err(Reply::failed(
            400,
            "E400",
            "mdn, account_id, service and reference are required",
        ));
    }
    Ok(Incoming {
        key: key.to_string(),
        order,
    })
}
