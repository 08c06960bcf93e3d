//! Who is signed in, the CSRF token of their session, and one-shot flash messages.

use std::future::{ready, Ready};

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use subtle::ConstantTimeEq;

use super::error::WebError;
use crate::auth::{Permission, Role};
use crate::registry::Actor;

const UID: &str = "uid";
const ROLE: &str = "role";
const NAME: &str = "name";
const CSRF: &str = "csrf";
const FLASH: &str = "flash";

/// The signed-in person. Extracting it from a request that has no session
/// sends the browser to the sign-in page and back.
#[derive(Clone)]
pub struct CurrentUser {
    /// Staff user id, or the profile id for a subscriber.
    pub id: i64,
    pub role: Role,
    /// Username, or the MDN for a subscriber.
    pub name: String,
    pub session: Session,
}

impl CurrentUser {
    pub fn require(&self, p: Permission) -> Result<(), WebError> {
        if self.role.can(p) {
            Ok(())
        } else {
            tracing::warn!(user = %self.name, role = self.role.as_str(), permission = ?p, "access refused");
            Err(WebError::Forbidden)
        }
    }

    pub fn can(&self, p: Permission) -> bool {
        self.role.can(p)
    }

    pub fn actor(&self) -> Actor {
        match self.role {
            Role::Subscriber => Actor::Subscriber(self.name.clone()),
            _ => Actor::User(self.name.clone()),
        }
    }

    pub fn ctx(&self, area: Area) -> PageCtx {
        PageCtx {
            area,
            user: Some(UserBadge {
                name: self.name.clone(),
                role: self.role.label(),
                is_subscriber: self.role == Role::Subscriber,
                ops: self.can(Permission::ViewOps),
                registry: self.can(Permission::ViewRegistry),
                care: self.can(Permission::EditProfiles) || self.role == Role::Care,
                firmware: self.can(Permission::ManageFirmware),
                access: self.can(Permission::ManageAccess),
            }),
            csrf: csrf_token(&self.session),
            flash: take_flash(&self.session),
        }
    }

    pub fn check_csrf(&self, presented: &str) -> Result<(), WebError> {
        check_csrf(&self.session, presented)
    }

    /// Checks the `csrf` field of a posted form.
    pub fn check_form(
        &self,
        form: &std::collections::HashMap<String, String>,
    ) -> Result<(), WebError> {
        self.check_csrf(form.get("csrf").map(String::as_str).unwrap_or(""))
    }
}

impl FromRequest for CurrentUser {
    type Error = WebError;
    type Future = Ready<Result<CurrentUser, WebError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let next = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let user = (|| {
            let id = session.get::<i64>(UID).ok()??;
            let role = Role::parse(&session.get::<String>(ROLE).ok()??)?;
            let name = session.get::<String>(NAME).ok()??;
            Some(CurrentUser {
                id,
                role,
                name,
                session: session.clone(),
            })
        })();
        ready(user.ok_or(WebError::Unauthenticated(next)))
    }
}

/// Starts a signed-in session. The session id is renewed so that a cookie
/// planted before sign-in is worthless after it.
pub fn sign_in(session: &Session, id: i64, role: Role, name: &str) -> Result<(), WebError> {
    session.renew();
    session.clear();
    let set = |k: &str, v: String| {
        session
            .insert(k, v)
            .map_err(|e| WebError::Internal(e.to_string()))
    };
    session
        .insert(UID, id)
        .map_err(|e| WebError::Internal(e.to_string()))?;
    set(ROLE, role.as_str().to_string())?;
    set(NAME, name.to_string())?;
    set(CSRF, crate::auth::password::random_secret(32))?;
    Ok(())
}

pub fn sign_out(session: &Session) {
    session.purge();
}

/// The session's CSRF token, created on first use (also for anonymous
/// visitors, so the sign-in form is protected too).
pub fn csrf_token(session: &Session) -> String {
    if let Ok(Some(t)) = session.get::<String>(CSRF) {
        return t;
    }
    let t = crate::auth::password::random_secret(32);
    let _ = session.insert(CSRF, t.clone());
    t
}

pub fn check_csrf(session: &Session, presented: &str) -> Result<(), WebError> {
    match session.get::<String>(CSRF) {
        Ok(Some(expected))
            if !presented.is_empty()
                && bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) =>
        {
            Ok(())
        }
        _ => {
            tracing::warn!("CSRF token missing or wrong");
            Err(WebError::Csrf)
        }
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Flash {
    pub kind: String,
    pub message: String,
}

pub fn flash(session: &Session, kind: &str, message: impl Into<String>) {
    let _ = session.insert(
        FLASH,
        Flash {
            kind: kind.into(),
            message: message.into(),
        },
    );
}

fn take_flash(session: &Session) -> Option<Flash> {
    session.remove_as::<Flash>(FLASH).and_then(Result::ok)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Area {
    Ops,
    Devices,
    Firmware,
    Care,
    SelfService,
    SignIn,
}

#[derive(Clone, Debug)]
pub struct UserBadge {
    pub name: String,
    pub role: &'static str,
    pub is_subscriber: bool,
    pub ops: bool,
    pub registry: bool,
    pub care: bool,
    pub firmware: bool,
    pub access: bool,
}

/// What every page's layout needs: navigation, the user, CSRF and a flash.
#[derive(Clone, Debug)]
pub struct PageCtx {
    pub area: Area,
    pub user: Option<UserBadge>,
    pub csrf: String,
    pub flash: Option<Flash>,
}

impl PageCtx {
    pub fn anonymous(session: &Session) -> PageCtx {
        PageCtx {
            area: Area::SignIn,
            user: None,
            csrf: csrf_token(session),
            flash: take_flash(session),
        }
    }

    pub fn is(&self, area: &str) -> bool {
        let a = match self.area {
            Area::Ops => "ops",
            Area::Devices => "devices",
            Area::Firmware => "firmware",
            Area::Care => "care",
            Area::SelfService => "self",
            Area::SignIn => "signin",
        };
        a == area
    }
}
