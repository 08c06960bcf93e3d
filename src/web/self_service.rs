//! Self Service: a subscriber signed in with MDN + PIN sees their own line,
//! and only their own line.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::forms::FormData;
use super::session::{flash, Area, CurrentUser, PageCtx};
use super::{redirect, render, AppState, WebError};
use crate::auth::throttle::{self, Policy};
use crate::auth::{users, AuthError, Permission};
use crate::registry::capability::{self, Capability};
use crate::registry::device::{self, Device};
use crate::registry::identifiers::Mdn;
use crate::registry::profile::{self, Profile};
use crate::registry::RegistryError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/self", web::get().to(home))
        .route("/self/line/{mdn}", web::get().to(line))
        .route("/self/pin", web::post().to(change_pin))
        .route(
            "/self/features/{code}/{action}",
            web::post().to(super::self_features::start),
        )
        .route(
            "/self/activations/{token}",
            web::get().to(super::self_features::terms),
        )
        .route(
            "/self/activations/{token}/agree",
            web::post().to(super::self_features::agree),
        )
        .route(
            "/self/firmware-check",
            web::post().to(super::self_features::firmware_check),
        );
}

async fn home(user: CurrentUser) -> Result<HttpResponse, WebError> {
    user.require(Permission::SelfService)?;
    Ok(redirect(&format!("/self/line/{}", user.name)))
}

pub struct DeviceCard {
    pub device: Device,
    pub capability: Option<Capability>,
    /// Whether the server holds the handset's OMA-DM credentials: without
    /// them it cannot ask this handset to update, whatever the model can.
    pub has_credentials: bool,
}

/// Whether THIS handset can be updated over the air now: what its model
/// can do, and what the server needs to reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverTheAir {
    /// The model can, and the server can ask the handset to.
    Ready,
    /// The handset asks for updates itself (IOTA): from its own menu.
    FromThePhone,
    /// The model can, but the handset was never given its update settings
    /// (no OMA-DM credentials): care can send them.
    NotSetUp,
    /// The model's capability entry says no updates over the air.
    NotSupported,
    /// The handset is de-activated: nothing is sent to it any more.
    Deactivated,
    /// No capability entry: the check finds out.
    Unknown,
}

impl OverTheAir {
    pub fn of(device: &Device, capability: Option<&Capability>, has_credentials: bool) -> Self {
        use crate::registry::capability::Protocol;
        if device.is_deactivated() {
            return OverTheAir::Deactivated;
        }
        match capability {
            None => OverTheAir::Unknown,
            Some(c) if !c.fota => OverTheAir::NotSupported,
            Some(c) if c.protocol() == Protocol::Iota => OverTheAir::FromThePhone,
            Some(_) if has_credentials => OverTheAir::Ready,
            // It also speaks IOTA: it can still ask for its update itself.
            Some(c) if c.protocol() == Protocol::Both => OverTheAir::FromThePhone,
            Some(_) => OverTheAir::NotSetUp,
        }
    }

    /// The "Over-the-air updates" line of the subscriber's page.
    pub fn label(self) -> &'static str {
        match self {
            OverTheAir::Ready => "supported",
            OverTheAir::FromThePhone => {
                "supported: start an update from your phone's own menu (its software update entry)"
            }
            OverTheAir::NotSetUp => NOT_SET_UP,
            OverTheAir::NotSupported => "not supported by this model",
            OverTheAir::Deactivated => "not available: this phone is no longer active on your line",
            OverTheAir::Unknown => "unknown",
        }
    }
}

/// What a subscriber whose handset has no OMA-DM credentials reads on the
/// page: the true reason and what to do.
pub const NOT_SET_UP: &str = "not available yet: your phone has not been set up for updates over the air. Customer care can send your phone its update settings; please contact them.";

/// The same, as the software-update check's answer.
pub const NOT_SET_UP_ANSWER: &str = "Your phone has not been set up for updates over the air yet, so we cannot send it an update. Customer care can send your phone its update settings; please contact them, then check again.";

/// Whether the server holds the device's OMA-DM credentials (read, not
/// opened: the page needs only whether they exist).
pub fn has_dm_credentials(
    conn: &mut crate::db::DbConnection,
    device_id: i64,
) -> diesel::QueryResult<bool> {
    use crate::db::schema::dm_accounts;
    use diesel::prelude::*;
    let n: i64 = dm_accounts::table
        .filter(dm_accounts::device_id.eq(device_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

impl DeviceCard {
    pub fn over_the_air(&self) -> OverTheAir {
        OverTheAir::of(&self.device, self.capability.as_ref(), self.has_credentials)
    }

    /// Whether the software-update check is offered: only where it can
    /// start an update (or find out whether one can), never where the
    /// page already says why it cannot.
    pub fn offers_update_check(&self) -> bool {
        matches!(
            self.over_the_air(),
            OverTheAir::Ready | OverTheAir::Unknown | OverTheAir::FromThePhone
        )
    }
}

#[derive(Template)]
#[template(path = "self/line.html")]
struct LinePage {
    ctx: PageCtx,
    p: Profile,
    devices: Vec<DeviceCard>,
    features: Vec<crate::features::catalogue::Feature>,
}

impl LinePage {
    fn has(&self, code: &str) -> bool {
        self.p.feature_list().contains(&code)
    }

    /// The line's services by the names the catalogue sells them under,
    /// not their codes; one no longer on sale by its code in words.
    fn service_names(&self) -> Vec<String> {
        self.p
            .feature_list()
            .into_iter()
            .map(|code| {
                self.features
                    .iter()
                    .find(|f| f.code == code)
                    .map(|f| f.name.clone())
                    .unwrap_or_else(|| code.replace('_', " "))
            })
            .collect()
    }
}

impl LinePage {
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
    fn topt(&self, ms: &Option<i64>) -> String {
        crate::timefmt::utc_opt(*ms)
    }
}

/// The subscriber's line. Any other MDN is refused, whether it exists or not,
/// so the page reveals nothing about other subscribers.
async fn line(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::SelfService)?;
    let asked = Mdn::parse(&path).map(|m| m.to_string()).unwrap_or_default();
    if asked != user.name {
        tracing::warn!(subscriber = %user.name, asked = %path, "subscriber asked for another line");
        return Err(WebError::NotYourLine);
    }
    let id = user.id;
    let (p, devices, features) = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            let p = profile::get(c, id)?;
            let mut cards = Vec::new();
            // The line's phone only: not a handset an ESN change retired.
            if let Some(d) = device::phone_of(c, id)? {
                let capability = capability::for_device(c, &d.make, &d.model, &d.firmware_version)?;
                let has_credentials = has_dm_credentials(c, d.id)?;
                cards.push(DeviceCard {
                    device: d,
                    capability,
                    has_credentials,
                });
            }
            Ok((p, cards, crate::features::catalogue::all(c)?))
        })
        .await?;
    render(&LinePage {
        ctx: user.ctx(Area::SelfService),
        p,
        devices,
        features,
    })
}

async fn change_pin(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::SelfService)?;
    user.check_form(&form)?;
    let current = form.get("current_pin").cloned().unwrap_or_default();
    let new = form.get("new_pin").cloned().unwrap_or_default();
    let back = format!("/self/line/{}", user.name);
    let mdn = user.name.clone();
    let actor = user.actor();
    let id = user.id;
    // The current PIN is checked behind the sign-in throttle, under the
    // line's sign-in keys: a session holder could otherwise try every PIN.
    let keys = throttle::Keys::new(
        &throttle::line_account(&mdn),
        &super::auth::client_ip(&req, &state),
    );
    let policy = Policy::line(&state.config);
    let changed = state
        .db
        .run(
            move |c| -> Result<Result<Option<String>, AuthError>, RegistryError> {
                let checked = throttle::guarded(c, &keys, policy, |c| {
                    users::authenticate_subscriber(c, &mdn, &current)
                });
                match checked {
                    Ok(_) => {}
                    Err(AuthError::Db(e)) => return Err(e.into()),
                    Err(refused) => return Ok(Err(refused)),
                }
                // Judged only once the current PIN is proved (and the line's
                // count cleared, as a sign-in clears it): a subscriber who
                // typed a new PIN badly is no nearer a lock for it.
                if let Err(m) = profile::check_pin(&new) {
                    return Ok(Err(AuthError::Invalid(m)));
                }
                let hash = crate::auth::password::hash(&new)
                    .map_err(|e| RegistryError::invalid("pin", e.to_string()))?;
                profile::set_pin_hash(c, &actor, id, &hash)?;
                Ok(Ok(users::subscriber_stamp(c, id)?))
            },
        )
        .await?;
    match changed {
        Ok(Some(stamp)) => {
            // This session goes on; any other one of this subscriber ends.
            super::session::set_credential_stamp(&user.session, stamp)?;
            flash(&user.session, "success", "Your PIN has been changed.");
        }
        // No stamp: the line went meanwhile, and the PIN with it.
        Ok(None) | Err(AuthError::BadCredentials) => {
            tracing::warn!(subscriber = %user.name, "PIN change with a wrong current PIN");
            flash(&user.session, "error", "The current PIN is not correct.");
        }
        Err(e) => {
            tracing::warn!(subscriber = %user.name, "PIN change refused: {e}");
            flash(&user.session, "error", super::auth::sentence(&e));
        }
    }
    Ok(redirect(&back))
}
