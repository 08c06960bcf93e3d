//! Errors of the portal, rendered as pages a person can act on.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::auth::AuthError;
use crate::db::DbError;
use crate::registry::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("please sign in")]
    Unauthenticated(String),
    #[error("your role does not give access to this page")]
    Forbidden,
    #[error("this form has expired or did not come from this site; reload the page and try again")]
    Csrf,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DbError> for WebError {
    fn from(e: DbError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<RegistryError> for WebError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Invalid(_) => WebError::BadRequest(e.to_string()),
            RegistryError::Duplicate(m) | RegistryError::Conflict(m) => WebError::Conflict(m),
            RegistryError::NotFound(m) => WebError::NotFound(format!("{m} not found")),
            RegistryError::Db(d) => WebError::Internal(d.to_string()),
        }
    }
}

impl From<AuthError> for WebError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::NotFound(m) => WebError::NotFound(format!("{m} not found")),
            AuthError::Duplicate(_) => WebError::Conflict(e.to_string()),
            AuthError::Db(d) => WebError::Internal(d.to_string()),
            AuthError::Hash(m) => WebError::Internal(m),
            other => WebError::BadRequest(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for WebError {
    fn from(e: diesel::result::Error) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(format!("template: {e}"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: String,
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::Unauthenticated(_) => StatusCode::SEE_OTHER,
            WebError::Forbidden | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let WebError::Unauthenticated(next) = self {
            let target = format!(
                "/login?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            );
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, target))
                .finish();
        }
        let status = self.status_code();
        let message = match self {
            WebError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                "Something went wrong on our side. The error has been logged.".to_string()
            }
            other => {
                tracing::warn!(status = status.as_u16(), error = %other, "request refused");
                other.to_string()
            }
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error"),
            message,
        };
        let body = page.render().unwrap_or_else(|_| status.to_string());
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body)
    }
}
