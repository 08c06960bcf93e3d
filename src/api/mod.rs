//! REST API v1 for billing, POS and customer-care systems. JSON in and out,
//! bearer-token authentication, described by `/api/v1/openapi.json`.

pub mod caller;
pub mod campaigns;
pub mod dm_jobs;
pub mod error;
pub mod firmware;
pub mod idempotency;
pub mod iota;
pub mod openapi;
pub mod registry;

use actix_web::{web, HttpRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            // Every state-changing route takes an Idempotency-Key, here
            // once rather than in each handler.
            .wrap(actix_web::middleware::from_fn(idempotency::guard))
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

/// A path the API has, asked with a method it does not take, is a 405
/// naming the ones it does (RFC 9110 §15.5.6); any other is a 404. The
/// routes' methods are read from the OpenAPI document, which a test keeps
/// equal to the routing.
async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, error::ApiError> {
    let path = req.path().strip_prefix("/api/v1").unwrap_or(req.path());
    let allowed = openapi::methods_of(path);
    if allowed.is_empty() {
        return Err(error::ApiError::NotFound("no such API endpoint".into()));
    }
    Err(error::ApiError::MethodNotAllowed {
        message: format!(
            "{} is not allowed on {}: use {}",
            req.method(),
            req.path(),
            allowed.join(" or ")
        ),
        allow: allowed.join(", "),
    })
}

/// `?after=…&limit=…` of a list paged by keyset.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    /// The previous page's `next_after`.
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

impl PageQuery {
    /// The page size asked for, brought within the list's range as every
    /// list of this API does.
    pub fn limit(&self, default: i64, max: i64) -> i64 {
        self.limit.unwrap_or(default).clamp(1, max)
    }
}

/// A page of a keyset-paged list as `{"items", "next_after"}`, from rows
/// fetched one beyond `limit`: the extra row only says whether another
/// page exists, so `next_after` is null exactly on the last page and a
/// client never has to ask for an empty one.
pub(crate) fn paged<T: Serialize>(
    mut rows: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> i64,
) -> serde_json::Value {
    let keep = usize::try_from(limit).unwrap_or(0);
    let more = rows.len() > keep;
    rows.truncate(keep);
    let next_after = if more { rows.last().map(key) } else { None };
    json!({"items": rows, "next_after": next_after})
}
