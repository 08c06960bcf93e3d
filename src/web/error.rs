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
/// portal's 400 page, saying which, for whatever query type the page takes.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    req: &actix_web::HttpRequest,
) -> actix_web::Error {
    tracing::info!(path = %req.path(), query = %req.query_string(), error = %err, "unreadable query parameter");
    let complaint = match &err {
        actix_web::error::QueryPayloadError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    unreadable_param(&complaint, &pairs)
        .unwrap_or_else(|| {
            WebError::BadRequest(
                "This address has a value the page cannot read. Go back and use the page's own links and forms.".into(),
            )
        })
        .into()
}

/// The 400 that names the query parameter serde could not read, found from
/// its complaint alone: the error handler is not told the page's query
/// type, and serde's message for a value names no field ("invalid digit
/// found in string"). A parameter is the culprit when its value draws that
/// very complaint from the parse serde_urlencoded made of it (a number, a
/// truth value, a character), or is the variant an enum did not know; a
/// missing or repeated field is named by serde itself.
///
/// When several values draw the same complaint (`make=Kyocera&after=abc`:
/// a text filter takes any value, but "Kyocera" is no number either), the
/// last one is taken: the portal's own links put their text filters first
/// and the paging parameters (`after`, `before`, `limit`) last, which are
/// the ones an edited address gets wrong.
fn unreadable_param(complaint: &str, pairs: &[(String, String)]) -> Option<WebError> {
    let quoted = |prefix: &str| {
        complaint
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string)
    };
    if let Some(name) = quoted("missing field `") {
        return Some(WebError::BadRequest(format!(
            "The address needs the parameter “{name}”."
        )));
    }
    if let Some(name) = quoted("duplicate field `") {
        return Some(WebError::BadRequest(format!(
            "The address parameter “{name}” is given more than once; it takes one value."
        )));
    }
    if let Some(variant) = quoted("unknown variant `") {
        // "expected one of `a`, `b`" or "expected `a` or `b`".
        let expected = complaint
            .split_once("expected")
            .map(|(_, e)| e)
            .unwrap_or("");
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let (name, got) = pairs.iter().rev().find(|(_, v)| *v == variant)?;
        return Some(bad_param(name, &known.join(", "), got));
    }
    let (name, got) = pairs
        .iter()
        .rev()
        .find(|(_, v)| value_complaints(v).any(|(c, _)| c == complaint))?;
    let accepts = value_complaints(got)
        .find(|(c, _)| c == complaint)
        .map(|(_, accepts)| accepts)?;
    Some(bad_param(name, accepts, got))
}

/// What serde_urlencoded says of `value` read as each kind of scalar a
/// query field can be (it parses the text with `FromStr`), with what that
/// kind takes.
fn value_complaints(value: &str) -> impl Iterator<Item = (String, &'static str)> + '_ {
    fn fails<T: std::str::FromStr>(v: &str) -> Option<String>
    where
        T::Err: std::fmt::Display,
    {
        v.parse::<T>().err().map(|e| e.to_string())
    }
    /// serde_urlencoded's complaint about a value read as one scalar type.
    type Probe = fn(&str) -> Option<String>;
    const WHOLE: &str = "a whole number";
    let probes: [(Probe, &'static str); 14] = [
        (fails::<i8>, WHOLE),
        (fails::<i16>, WHOLE),
        (fails::<i32>, WHOLE),
        (fails::<i64>, WHOLE),
        (fails::<i128>, WHOLE),
        (fails::<u8>, WHOLE),
        (fails::<u16>, WHOLE),
        (fails::<u32>, WHOLE),
        (fails::<u64>, WHOLE),
        (fails::<u128>, WHOLE),
        (fails::<f32>, "a number"),
        (fails::<f64>, "a number"),
        (fails::<bool>, "true or false"),
        (fails::<char>, "a single character"),
    ];
    probes
        .into_iter()
        .filter_map(move |(probe, accepts)| probe(value).map(|c| (c, accepts)))
}

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
mod query_tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Page {
        make: Option<String>,
        after: Option<i64>,
        size: Option<u8>,
        ratio: Option<f64>,
        all: Option<bool>,
        order: Option<Order>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Order {
        Newest,
        Oldest,
    }

    /// The message for `query`, as the portal's handler words it from the
    /// complaint the Query extractor really makes.
    fn said(query: &str) -> String {
        let complaint = match actix_web::web::Query::<Page>::from_query(query) {
            Err(actix_web::error::QueryPayloadError::Deserialize(e)) => e.to_string(),
            other => panic!("{query} does not parse: {other:?}"),
        };
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        unreadable_param(&complaint, &pairs)
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn the_parameter_serde_could_not_read_is_named_whatever_its_name() {
        for (query, name, accepts) in [
            ("after=abc", "after", "a whole number"),
            ("after=99999999999999999999", "after", "a whole number"),
            ("make=Kyocera&after=abc", "after", "a whole number"),
            ("size=300", "size", "a whole number"),
            ("size=-1", "size", "a whole number"),
            ("ratio=half", "ratio", "a number"),
            ("all=maybe", "all", "true or false"),
            ("order=sideways", "order", "newest, oldest"),
        ] {
            let m = said(query);
            assert!(
                m.contains(&format!("“{name}” takes {accepts}")),
                "{query}: {m}"
            );
        }
        assert!(said("after=1&after=2").contains("“after” is given more than once"));
    }
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
