//! Errors of the REST API, as JSON bodies clients can act on:
//! `{"error": {"code": "...", "message": "...", "fields": {...}}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::auth::AuthError;
use crate::db::DbError;
use crate::registry::{FieldErrors, RegistryError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("this token's role does not allow that")]
    Forbidden,
    #[error("{0}")]
    NotFound(String),
    #[error("the request has invalid fields")]
    Invalid(FieldErrors),
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed, but the server cannot carry it out as asked; the
    /// message says why (there is no single field to blame).
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Conflict(String),
    /// A request with the same `Idempotency-Key` is still being carried
    /// out: the client should retry later, unlike after a `Conflict`.
    #[error("{0}")]
    InProgress(String),
    /// An `Idempotency-Key` already used for a different request.
    #[error("{0}")]
    KeyReused(String),
    /// The path exists but does not take this method; `allow` lists those
    /// it takes, for the `Allow` header.
    #[error("{message}")]
    MethodNotAllowed { message: String, allow: String },
    /// The request body is larger than the endpoint takes.
    #[error("{0}")]
    TooLarge(String),
    #[error("internal error")]
    Internal(String),
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Invalid(f) => ApiError::Invalid(f),
            RegistryError::Duplicate(m) | RegistryError::Conflict(m) => ApiError::Conflict(m),
            RegistryError::NotFound(m) => ApiError::NotFound(format!("{m} not found")),
            RegistryError::Db(d) => ApiError::Internal(d.to_string()),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Db(d) => ApiError::Internal(d.to_string()),
            AuthError::Hash(m) => ApiError::Internal(m),
            AuthError::NotFound(m) => ApiError::NotFound(format!("{m} not found")),
            AuthError::Duplicate(_) => ApiError::Conflict(e.to_string()),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Invalid(_) => "invalid",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::Conflict(_) => "conflict",
            ApiError::InProgress(_) => "idempotency_key_in_use",
            ApiError::KeyReused(_) => "idempotency_key_reused",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::TooLarge(_) => "too_large",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Invalid(_) | ApiError::Unprocessable(_) | ApiError::KeyReused(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) | ApiError::InProgress(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            ApiError::Internal(detail) => tracing::error!(error = %detail, "API request failed"),
            other => {
                tracing::warn!(status = status.as_u16(), error = %other, "API request refused")
            }
        }
        let mut body = json!({"code": self.code(), "message": self.to_string()});
        if let ApiError::Invalid(fields) = self {
            body["fields"] = json!(fields);
            let summary: Vec<String> = fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            body["message"] = json!(format!("invalid fields: {}", summary.join("; ")));
        }
        let mut resp = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            resp.insert_header(("WWW-Authenticate", "Bearer realm=\"mdm\""));
        }
        if let ApiError::MethodNotAllowed { allow, .. } = self {
            resp.insert_header((actix_web::http::header::ALLOW, allow.as_str()));
        }
        if let ApiError::InProgress(_) = self {
            resp.insert_header((actix_web::http::header::RETRY_AFTER, "1"));
        }
        resp.json(json!({ "error": body }))
    }
}

/// Turns serde's complaints about a JSON body into our JSON error.
pub fn json_error(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    // Too large is no fault of the JSON: a client told 400 would look for one.
    if err.status_code() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::TooLarge(err.to_string()).into();
    }
    ApiError::BadRequest(format!("invalid JSON body: {err}")).into()
}

pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(format!("invalid query: {err}")).into()
}

pub fn path_error(
    err: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(format!("invalid path: {err}")).into()
}
