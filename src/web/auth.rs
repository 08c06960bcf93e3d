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

/// Only a plain path of this site is followed after sign-in. Browsers drop
/// tabs and newlines from a URL and read `\\` as `/`, so `/<TAB>/host` or
/// `/\\host` leads to another host, and a control character does not even
/// fit in the Location header. The paths the sign-in redirect sends are
/// URIs, printable ASCII throughout.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.chars().all(|c| c.is_ascii_graphic()) =>
        {
            n.to_string()
        }
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
pub(super) fn client_ip(req: &HttpRequest, state: &AppState) -> String {
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

fn policy(state: &AppState, who: &Who) -> Policy {
    match who {
        Who::Staff(_) => Policy::staff(&state.config),
        Who::Subscriber(_) => Policy::line(&state.config),
    }
}

enum Who {
    Staff(String),
    Subscriber(String),
}

impl Who {
    /// The throttle key of the account or line: one per real line, however
    /// its MDN was spelled, so that another spelling is no way round a lock.
    fn throttle_key(&self) -> String {
        match self {
            Who::Staff(n) => throttle::staff_account(n),
            Who::Subscriber(m) => throttle::line_account(m),
        }
    }
}

/// Someone whose credentials were right.
struct SignedIn {
    id: i64,
    role: Role,
    name: String,
    /// What the session must carry to hold (see `session::CurrentUser`).
    proof: Proof,
}

enum Proof {
    Generation(i64),
    Stamp(String),
}

/// Checks credentials behind the throttle.
async fn check(
    state: &AppState,
    req: &HttpRequest,
    who: Who,
    secret: String,
) -> Result<SignedIn, AuthError> {
    let ip = client_ip(req, state);
    let keys = throttle::Keys::new(&who.throttle_key(), &ip);
    let policy = policy(state, &who);
    state
        .db
        .run(move |conn| {
            throttle::guarded(conn, &keys, policy, |conn| match &who {
                Who::Staff(username) => {
                    users::authenticate(conn, username, &secret).map(|u| SignedIn {
                        id: u.id,
                        role: u.role(),
                        proof: Proof::Generation(u.session_generation),
                        name: u.username,
                    })
                }
                Who::Subscriber(mdn) => {
                    users::authenticate_subscriber(conn, mdn, &secret).map(|s| SignedIn {
                        id: s.profile_id,
                        role: Role::Subscriber,
                        name: s.mdn,
                        proof: Proof::Stamp(s.stamp),
                    })
                }
            })
        })
        .await
}

/// Starts the session of someone whose credentials were right.
fn start_session(session: &Session, who: &SignedIn) -> Result<(), WebError> {
    session::sign_in(session, who.id, who.role, &who.name)?;
    match &who.proof {
        Proof::Generation(g) => session::set_session_generation(session, *g),
        Proof::Stamp(s) => session::set_credential_stamp(session, s.clone()),
    }
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
        Ok(who) => {
            start_session(&session, &who)?;
            tracing::info!(user = %who.name, role = who.role.as_str(), "signed in");
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
        (other, _) => sentence(other),
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

/// An error as a form message: a sentence. The throttle's refusal reads
/// the same wherever a secret is asked for.
pub(super) fn sentence(e: &AuthError) -> String {
    let mut s = e.to_string();
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    format!("{s}.")
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
        Ok(who) => {
            start_session(&session, &who)?;
            tracing::info!(mdn = %who.name, "subscriber signed in");
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

/// Signing out ends the account's sessions on the server too: a copy of
/// the cookie (another browser, a stolen one) is worthless afterwards.
async fn logout(
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    session::check_csrf(&session, &form.csrf)?;
    if let Some((id, role)) = session::signed_in_as(&session) {
        state
            .db
            .run(move |c| -> Result<(), AuthError> {
                if role == Role::Subscriber {
                    users::end_subscriber_sessions(c, id)?;
                } else {
                    users::end_sessions(c, id)?;
                }
                Ok(())
            })
            .await?;
    }
    session::sign_out(&session);
    Ok(redirect("/login"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_local_path_is_followed_after_sign_in() {
        for ok in ["/", "/devices?make=LG", "/devices/12", "/login?next=%2Fops"] {
            assert_eq!(safe_next(Some(ok)), ok);
        }
        for bad in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\nSet-Cookie: x=1",
            "/\\evil.example",
            "//evil.example",
            "/ /evil.example",
            "https://evil.example/",
            "evil.example",
            "/caf\u{e9}",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn every_spelling_of_a_line_shares_one_throttle_key() {
        let keys: Vec<String> = [
            "6462000002",
            "+1 646 200 0002",
            "(646) 200-0002",
            "16462000002",
        ]
        .into_iter()
        .map(|m| Who::Subscriber(m.into()).throttle_key())
        .collect();
        assert!(keys.iter().all(|k| k == "mdn:6462000002"), "{keys:?}");
        assert_eq!(Who::Staff("Admin".into()).throttle_key(), "user:admin");
    }
}
