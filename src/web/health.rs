//! Liveness and readiness for load balancers and orchestrators.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready only when the database answers.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.db.clone();
    let backend = db.backend().name();
    match tokio::task::spawn_blocking(move || db.ping()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({"status": "ready", "database": backend})),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "unavailable", "database": backend, "error": e.to_string()}))
        }
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "error": e.to_string()})),
    }
}
