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
    /// A subscriber asked for a line that is not the one they signed in with.
    #[error("This line is not yours: you can only open the line you signed in with.")]
    NotYourLine,
    #[error("{0}")]
    NotFound(String),
    /// Not found, with the page to go back to (address, link text).
    #[error("{0}")]
    NotFoundBack(String, &'static str, &'static str),
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
    /// Where to go from here (address, link text); Home when none.
    back: Option<(&'a str, &'a str)>,
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::Unauthenticated(_) => StatusCode::SEE_OTHER,
            WebError::Forbidden | WebError::Csrf | WebError::NotYourLine => StatusCode::FORBIDDEN,
            WebError::NotFound(_) | WebError::NotFoundBack(..) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let WebError::Unauthenticated(next) = self {
            // Subscribers sign in with MDN + PIN, on their own page.
            let target = if next == "/self" || next.starts_with("/self/") {
                "/self/login".to_string()
            } else {
                format!(
                    "/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                )
            };
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
                super::labels::capitalised(&other.to_string())
            }
        };
        let back = match self {
            WebError::NotFoundBack(_, href, label) => Some((*href, *label)),
            _ => None,
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error"),
            message,
            back,
        };
        let body = page.render().unwrap_or_else(|_| status.to_string());
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body)
    }
}

/// A path parameter that does not parse (`/devices/abc`) names no page:
/// the portal's 404 page, not the framework's plain-text one.
pub fn path_error(
    err: actix_web::error::PathError,
    req: &actix_web::HttpRequest,
) -> actix_web::Error {
    tracing::debug!(path = %req.path(), error = %err, "unparsable path parameter");
    WebError::NotFound("There is no page at this address.".into()).into()
}

/// A query parameter that does not parse (`/devices?after=abc`): the
/// portal's 400 page, saying which.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    req: &actix_web::HttpRequest,
) -> actix_web::Error {
    tracing::info!(path = %req.path(), query = %req.query_string(), error = %err, "unreadable query parameter");
    // serde's message ("invalid digit found in string") names no parameter;
    // every number a portal address takes is an id or a count, so the
    // first one that is not a whole number is the culprit.
    let culprit = url::form_urlencoded::parse(req.query_string().as_bytes()).find(|(k, v)| {
        NUMBER_PARAMS.contains(&k.as_ref())
            && !v.trim().is_empty()
            && v.trim().parse::<i64>().is_err()
    });
    match culprit {
        Some((k, v)) => bad_param(&k, "a whole number", &v),
        None => WebError::BadRequest(
            "This address has a value the page cannot read. Go back and use the page's own links and forms.".into(),
        ),
    }
    .into()
}

/// The query parameters of portal pages that take numbers.
const NUMBER_PARAMS: &[&str] = &["after", "before", "limit", "device_id", "fota", "page"];

/// The 400 answer for a query parameter a list page does not accept: it
/// names the parameter and what it takes.
pub fn bad_param(name: &str, accepts: &str, got: &str) -> WebError {
    let got: String = got.chars().take(40).collect();
    WebError::BadRequest(format!(
        "The address parameter “{name}” takes {accepts}; “{got}” is not one of them."
    ))
}

/// Sends a sign-in redirect as the plain response it is, not as an error.
///
/// The sign-in guard answers with an error so that the handler never runs,
/// and the request logger reports every error response that is not a 4xx
/// at ERROR level: each visit to a page before signing in filled the log
/// with errors. The redirect is logged here at INFO instead; every other
/// response passes untouched.
pub async fn sign_in_redirects_are_not_errors(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let signing_in = res
        .response()
        .error()
        .and_then(|e| e.as_error::<WebError>())
        .is_some_and(|e| matches!(e, WebError::Unauthenticated(_)));
    if !signing_in {
        return Ok(res.map_into_left_body());
    }
    tracing::info!(path = %res.request().path(), "not signed in: sent to the sign-in page");
    let (req, response) = res.into_parts();
    // Rebuilding the response from its HTTP parts leaves the error behind.
    let plain: actix_web::dev::Response<_> = response.into();
    Ok(actix_web::dev::ServiceResponse::new(req, HttpResponse::from(plain)).map_into_right_body())
}

#[cfg(test)]
mod redirect_tests {
    use super::*;
    use actix_web::{middleware::from_fn, test, web, App};

    #[actix_web::test]
    async fn a_sign_in_redirect_reaches_the_logger_without_its_error() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(sign_in_redirects_are_not_errors))
                .route(
                    "/ops",
                    web::get().to(|| async {
                        Err::<HttpResponse, _>(WebError::Unauthenticated("/ops".into()))
                    }),
                )
                .route(
                    "/gone",
                    web::get()
                        .to(|| async { Err::<HttpResponse, _>(WebError::NotFound("page".into())) }),
                ),
        )
        .await;
        let res = test::call_service(&app, test::TestRequest::get().uri("/ops").to_request()).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            res.headers().get(header::LOCATION).unwrap(),
            "/login?next=%2Fops"
        );
        assert!(res.response().error().is_none());
        // Any other error is still reported as one.
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/gone").to_request()).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(res.response().error().is_some());
    }
}
