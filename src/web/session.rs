//! Who is signed in, the CSRF token of their session, and one-shot flash messages.

use std::future::ready;

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use subtle::ConstantTimeEq;

use super::error::WebError;
use crate::auth::{Permission, Role};
use crate::registry::Actor;

const UID: &str = "uid";
const ROLE: &str = "role";
const NAME: &str = "name";
const CSRF: &str = "csrf";
const FLASH: &str = "flash";
const STAMP: &str = "stamp";
const GENERATION: &str = "generation";

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
    type Future = LocalBoxFuture<'static, Result<CurrentUser, WebError>>;

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
        let Some(user) = user else {
            return Box::pin(ready(Err(WebError::Unauthenticated(next))));
        };
        crate::logging::note_caller(req, || match user.role {
            Role::Subscriber => format!("subscriber {}", user.name),
            _ => format!("user {}", user.name),
        });
        // The cookie alone cannot be taken back, so every request asks the
        // database whether its session still holds. A subscriber's holds
        // while the line's credentials are the ones it signed in with (care
        // setting a new PIN, de-activating the line or the subscriber
        // signing out ends it everywhere); a staff user's while the account
        // is enabled, keeps its role and no session of it has been ended.
        let held_stamp = session.get::<String>(STAMP).ok().flatten();
        let held_generation = session.get::<i64>(GENERATION).ok().flatten();
        let state = req.app_data::<web::Data<super::AppState>>().cloned();
        Box::pin(async move {
            let holds = match state {
                Some(state) => {
                    let (id, role) = (user.id, user.role);
                    state
                        .db
                        .run(move |c| -> Result<bool, crate::auth::AuthError> {
                            use crate::auth::users;
                            if role == Role::Subscriber {
                                let current = users::subscriber_stamp(c, id)?;
                                return Ok(current.is_some() && current == held_stamp);
                            }
                            Ok(match held_generation {
                                Some(g) => users::staff_session_holds(c, id, role, g)?,
                                None => false,
                            })
                        })
                        .await
                        .map_err(|e| WebError::Internal(e.to_string()))?
                }
                None => false,
            };
            if holds {
                return Ok(user);
            }
            if user.role == Role::Subscriber {
                tracing::info!(subscriber = %user.name, "subscriber session ended: PIN, line state or sign-out since sign-in");
            } else {
                tracing::info!(user = %user.name, "staff session ended: account disabled, changed or signed out since sign-in");
            }
            sign_out(&user.session);
            Err(WebError::Unauthenticated(next))
        })
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

/// Records the subscriber's credential stamp in their session, at sign-in
/// and when they change their own PIN (which should not sign them out).
pub fn set_credential_stamp(session: &Session, stamp: String) -> Result<(), WebError> {
    session
        .insert(STAMP, stamp)
        .map_err(|e| WebError::Internal(e.to_string()))
}

/// Records the staff user's session generation at sign-in: the session
/// ends once the account's generation moves on.
pub fn set_session_generation(session: &Session, generation: i64) -> Result<(), WebError> {
    session
        .insert(GENERATION, generation)
        .map_err(|e| WebError::Internal(e.to_string()))
}

/// Keeps this session signed in after its own account changed (a new
/// password, another role) while every other session of the account ends.
pub fn carry_on(session: &Session, role: Role, generation: i64) -> Result<(), WebError> {
    session.renew();
    session
        .insert(ROLE, role.as_str().to_string())
        .map_err(|e| WebError::Internal(e.to_string()))?;
    set_session_generation(session, generation)
}

/// Who the session was signed in as, whether or not it still holds: the
/// account whose sessions signing out ends.
pub fn signed_in_as(session: &Session) -> Option<(i64, Role)> {
    let id = session.get::<i64>(UID).ok()??;
    let role = Role::parse(&session.get::<String>(ROLE).ok()??)?;
    Some((id, role))
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
            // Shown as a sentence, whatever layer wrote the text.
            message: super::labels::capitalised(&message.into()),
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
    /// A staff user's own account.
    Account,
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
            Area::Account => "account",
            Area::SignIn => "signin",
        };
        a == area
    }
}
