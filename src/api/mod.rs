//! REST API v1 for billing, POS and customer-care systems. JSON in and out,
//! bearer-token authentication, described by `/api/v1/openapi.json`.

pub mod caller;
pub mod campaigns;
pub mod dm_jobs;
pub mod error;
pub mod firmware;
pub mod iota;
pub mod openapi;
pub mod registry;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .app_data(
                web::JsonConfig::default()
                    .limit(1024 * 1024)
                    .error_handler(error::json_error),
            )
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .app_data(web::PathConfig::default().error_handler(error::path_error))
            .route("/openapi.json", web::get().to(openapi::document))
            .configure(registry::routes)
            .configure(firmware::routes)
            .configure(campaigns::routes)
            .configure(dm_jobs::routes)
            .configure(iota::routes)
            .default_service(web::to(not_found)),
    );
}

async fn not_found() -> Result<actix_web::HttpResponse, error::ApiError> {
    Err(error::ApiError::NotFound("no such API endpoint".into()))
}
