//! Self Service: a subscriber signed in with MDN + PIN sees their own line,
//! and only their own line.

use actix_web::{web, HttpResponse};
use askama::Template;

use super::forms::FormData;
use super::session::{flash, Area, CurrentUser, PageCtx};
use super::{redirect, render, AppState, WebError};
use crate::auth::Permission;
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
}

impl DeviceCard {
    /// Whether the software-update check is offered: not for a model whose
    /// capability entry says FOTA no (the check would only refuse).
    pub fn offers_update_check(&self) -> bool {
        self.capability.as_ref().is_none_or(|c| c.fota)
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
        return Err(WebError::Forbidden);
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
                cards.push(DeviceCard {
                    device: d,
                    capability,
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
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::SelfService)?;
    user.check_form(&form)?;
    let current = form.get("current_pin").cloned().unwrap_or_default();
    let new = form.get("new_pin").cloned().unwrap_or_default();
    let back = format!("/self/line/{}", user.name);
    if let Err(m) = profile::check_pin(&new) {
        flash(&user.session, "error", m);
        return Ok(redirect(&back));
    }
    let mdn = user.name.clone();
    let actor = user.actor();
    let id = user.id;
    let changed = state
        .db
        .run(move |c| -> Result<Option<String>, RegistryError> {
            if crate::auth::users::authenticate_subscriber(c, &mdn, &current).is_err() {
                return Ok(None);
            }
            let hash = crate::auth::password::hash(&new)
                .map_err(|e| RegistryError::invalid("pin", e.to_string()))?;
            profile::set_pin_hash(c, &actor, id, &hash)?;
            Ok(crate::auth::users::subscriber_stamp(c, id)?)
        })
        .await?;
    if let Some(stamp) = changed {
        // This session goes on; any other one of this subscriber ends.
        super::session::set_credential_stamp(&user.session, stamp)?;
        flash(&user.session, "success", "Your PIN has been changed.");
    } else {
        tracing::warn!(subscriber = %user.name, "PIN change with a wrong current PIN");
        flash(&user.session, "error", "The current PIN is not correct.");
    }
    Ok(redirect(&back))
}
