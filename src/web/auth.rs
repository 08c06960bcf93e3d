//! Sign-in for staff (username + password) and subscribers (MDN + PIN), and sign-out.

use actix_session::Session;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::session::{self, PageCtx};
use super::{redirect, render, render_status, AppState, WebError};
use crate::auth::throttle::{self, Policy};
use crate::auth::{users, AuthError, Role};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login))
        .route("/self/login", web::get().to(subscriber_form))
        .route("/self/login", web::post().to(subscriber_login))
        .route("/logout", web::post().to(logout));
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    ctx: PageCtx,
    subscriber: bool,
    next: String,
    username: String,
    error: String,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only same-site paths are followed after sign-in, never another host.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".into(),
    }
}

async fn login_form(session: Session, q: web::Query<NextQuery>) -> Result<HttpResponse, WebError> {
    render(&LoginPage {
        ctx: PageCtx::anonymous(&session),
        subscriber: false,
        next: safe_next(q.next.as_deref()),
        username: String::new(),
        error: String::new(),
    })
}

async fn subscriber_form(session: Session) -> Result<HttpResponse, WebError> {
    render(&LoginPage {
        ctx: PageCtx::anonymous(&session),
        subscriber: true,
        next: "/self".into(),
        username: String::new(),
        error: String::new(),
    })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

/// The client address for throttling: the peer, or the forwarded address
/// when the peer is a configured trusted proxy.
fn client_ip(req: &HttpRequest, state: &AppState) -> String {
    let peer = req.peer_addr().map(|a| a.ip());
    if let Some(p) = peer {
        if state.config.trusted_proxies.contains(&p) {
            if let Some(fwd) = req.connection_info().realip_remote_addr() {
                return fwd.to_string();
            }
        }
    }
    peer.map(|p| p.to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn policy(state: &AppState) -> Policy {
    Policy {
        max_failures: state.config.login_max_failures,
        window_ms: state.config.login_window_secs * 1000,
        lockout_ms: state.config.login_lockout_secs * 1000,
    }
}

enum Who {
    Staff(String),
    Subscriber(String),
}

/// Checks credentials behind the throttle; on success returns (id, role, name).
async fn check(
    state: &AppState,
    req: &HttpRequest,
    who: Who,
    secret: String,
) -> Result<(i64, Role, String), AuthError> {
    let ip = client_ip(req, state);
    let name = match &who {
        Who::Staff(n) => format!("user:{}", n.to_ascii_lowercase()),
        Who::Subscriber(m) => format!("mdn:{m}"),
    };
    let keys = vec![name, format!("ip:{ip}")];
    let policy = policy(state);
    state
        .db
        .run(move |conn| {
            if let Some(secs) = throttle::locked_for(conn, &keys)? {
                return Err(AuthError::Throttled(secs));
            }
            let outcome = match &who {
                Who::Staff(username) => users::authenticate(conn, username, &secret)
                    .map(|u| (u.id, u.role(), u.username)),
                Who::Subscriber(mdn) => users::authenticate_subscriber(conn, mdn, &secret)
                    .map(|s| (s.profile_id, Role::Subscriber, s.mdn)),
            };
            match &outcome {
                Ok(_) => throttle::clear(conn, &keys)?,
                Err(AuthError::BadCredentials) => throttle::record_failure(conn, &keys, policy)?,
                Err(_) => {}
            }
            outcome
        })
        .await
}

async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    session::check_csrf(&session, &form.csrf)?;
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let username = form.username.trim().to_string();
    match check(&state, &req, Who::Staff(username.clone()), form.password).await {
        Ok((id, role, name)) => {
            session::sign_in(&session, id, role, &name)?;
            tracing::info!(user = %name, role = role.as_str(), "signed in");
            Ok(redirect(&next))
        }
        Err(e) => failed(&session, false, next, username, e),
    }
}

fn failed(
    session: &Session,
    subscriber: bool,
    next: String,
    username: String,
    e: AuthError,
) -> Result<HttpResponse, WebError> {
    let status = match e {
        AuthError::BadCredentials => actix_web::http::StatusCode::UNAUTHORIZED,
        AuthError::Throttled(_) => actix_web::http::StatusCode::TOO_MANY_REQUESTS,
        AuthError::Db(d) => return Err(WebError::Internal(d.to_string())),
        _ => actix_web::http::StatusCode::BAD_REQUEST,
    };
    tracing::warn!(who = %username, error = %e, "sign-in refused");
    let error = match (&e, subscriber) {
        (AuthError::BadCredentials, true) => "Wrong MDN or PIN.".to_string(),
        (AuthError::BadCredentials, false) => "Wrong username or password.".to_string(),
        (other, _) => {
            let mut s = other.to_string();
            if let Some(first) = s.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            format!("{s}.")
        }
    };
    render_status(
        status,
        &LoginPage {
            ctx: PageCtx::anonymous(session),
            subscriber,
            next,
            username,
            error,
        },
    )
}

#[derive(Deserialize)]
struct SubscriberForm {
    mdn: String,
    pin: String,
    #[serde(default)]
    csrf: String,
}

async fn subscriber_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    session: Session,
    form: web::Form<SubscriberForm>,
) -> Result<HttpResponse, WebError> {
    session::check_csrf(&session, &form.csrf)?;
    let form = form.into_inner();
    let mdn = form.mdn.trim().to_string();
    match check(&state, &req, Who::Subscriber(mdn.clone()), form.pin).await {
        Ok((id, role, name)) => {
            session::sign_in(&session, id, role, &name)?;
            tracing::info!(mdn = %name, "subscriber signed in");
            Ok(redirect("/self"))
        }
        Err(e) => failed(&session, true, "/self".into(), mdn, e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(session: Session, form: web::Form<CsrfForm>) -> Result<HttpResponse, WebError> {
    session::check_csrf(&session, &form.csrf)?;
    session::sign_out(&session);
    Ok(redirect("/login"))
}
