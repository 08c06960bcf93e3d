//! Care actions on a subscriber's handsets: ESN change (and its
//! cancellation), star-code activation and the OTAPA PRL download.

use actix_web::{web, HttpRequest, HttpResponse};

use super::forms::FormData;
use super::session::{flash, CurrentUser};
use super::{redirect, AppState, WebError};
use crate::auth::Permission;
use crate::iota::driver::{self, PushContext};
use crate::iota::IotaError;
use crate::registry::esn_change::{self, EsnChangeRequest};
use crate::registry::lookup::{self, DeviceKey};
use crate::registry::RegistryError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/care/profiles/{id}/esn-change", web::post().to(esn_change))
        .route(
            "/care/profiles/{id}/esn-changes/{change}/cancel",
            web::post().to(esn_change_cancel),
        )
        .route(
            "/care/profiles/{id}/iota/activate",
            web::post().to(star_code),
        )
        .route("/care/profiles/{id}/iota/prl", web::post().to(otapa));
}

fn back(id: i64, anchor: &str) -> HttpResponse {
    redirect(&format!("/care/profiles/{id}#{anchor}"))
}

fn field(form: &FormData, name: &str) -> Option<String> {
    form.get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

async fn esn_change(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditProfiles)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let actor = user.actor();
    let to = field(&form, "to").unwrap_or_default();
    let variant = field(&form, "variant");
    let make = field(&form, "make");
    let model = field(&form, "model");
    // Kept to refill the form if the change is refused.
    let typed = super::care::EsnForm {
        to: to.clone(),
        variant: variant.clone().unwrap_or_default(),
        make: make.clone().unwrap_or_default(),
        model: model.clone().unwrap_or_default(),
        error: String::new(),
    };
    let outcome = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            let p = crate::registry::profile::get(c, id)?;
            esn_change::request(
                c,
                &actor,
                &EsnChangeRequest {
                    from: p.mdn,
                    to,
                    variant,
                    make,
                    model,
                    firmware_version: None,
                },
            )
        })
        .await;
    match outcome {
        Ok(ch) => flash(
            &user.session,
            "success",
            format!(
                "ESN change to {} recorded: the new handset is pending activation.",
                ch.new_esn
            ),
        ),
        Err(RegistryError::NotFound(what)) => return Err(WebError::NotFound(what)),
        Err(RegistryError::Db(e)) => return Err(WebError::Internal(e.to_string())),
        Err(e) => {
            tracing::info!(profile = id, error = %e, "ESN change refused");
            let error = format!(
                "ESN change refused: {}",
                super::labels::capitalised(&e.to_string())
            );
            return super::care::detail_page(
                &state,
                &user,
                id,
                super::care::EsnForm { error, ..typed },
            )
            .await;
        }
    }
    Ok(back(id, "esn-change"))
}

async fn esn_change_cancel(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(i64, i64)>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditProfiles)?;
    user.check_form(&form)?;
    let (id, change) = path.into_inner();
    let actor = user.actor();
    let outcome = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            // Only a change of the profile on screen.
            if esn_change::get(c, change)?.profile_id != id {
                return Err(RegistryError::NotFound(format!("ESN change {change}")));
            }
            esn_change::cancel(c, &actor, change)
        })
        .await;
    match outcome {
        Ok(ch) => flash(
            &user.session,
            "success",
            format!(
                "ESN change to {} cancelled: the subscriber stays on the current handset.",
                ch.new_esn
            ),
        ),
        Err(RegistryError::NotFound(what)) => return Err(WebError::NotFound(what)),
        Err(RegistryError::Db(e)) => return Err(WebError::Internal(e.to_string())),
        Err(e) => {
            tracing::info!(profile = id, error = %e, "ESN change cancellation refused");
            flash(&user.session, "error", format!("Not cancelled: {e}"));
        }
    }
    Ok(back(id, "esn-change"))
}

fn push_context(state: &AppState, req: &HttpRequest) -> PushContext {
    PushContext {
        base_url: super::omadm::base_url(state, req),
        max_parts: state.config.sms_max_parts,
    }
}

/// Why `handset` may not be acted on from profile `id`'s page, if it may
/// not: the form names the handset, the URL the profile, and only a handset
/// of that profile is ever pushed to (a forged or stale form must not reach
/// another subscriber's phone). An unknown profile is an error of its own
/// (the page is not found); an unknown handset reads as not this profile's.
fn refusal(
    conn: &mut crate::db::DbConnection,
    id: i64,
    handset: &str,
) -> Result<Option<IotaError>, RegistryError> {
    crate::registry::profile::get(conn, id)?;
    let not_here = || {
        IotaError::Invalid(format!(
            "Handset {handset} is not one of this subscriber's handsets; nothing was sent."
        ))
    };
    if handset.is_empty() {
        return Ok(Some(IotaError::Invalid("Choose a handset.".into())));
    }
    // Not an ESN, MEID or MDN: no handset of any profile.
    let Ok(key) = DeviceKey::parse(handset) else {
        return Ok(Some(not_here()));
    };
    match lookup::find(conn, &key) {
        Ok(d) if d.profile_id == Some(id) => Ok(None),
        Ok(_) | Err(RegistryError::NotFound(_)) => Ok(Some(not_here())),
        Err(e) => Err(e),
    }
}

fn iota_outcome(
    user: &CurrentUser,
    state: &AppState,
    id: i64,
    outcome: Result<String, IotaError>,
) -> Result<HttpResponse, WebError> {
    match outcome {
        Ok(note) => {
            if let Some(m) = &state.messaging {
                m.wake();
            }
            flash(&user.session, "success", note);
        }
        Err(IotaError::Db(e)) => return Err(WebError::Internal(e.to_string())),
        Err(e) => {
            tracing::info!(profile = id, error = %e, "IOTA request refused");
            flash(&user.session, "error", e.to_string());
        }
    }
    Ok(back(id, "iota"))
}

async fn star_code(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditDevices)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let actor = user.actor();
    let device = field(&form, "device").unwrap_or_default();
    let ctx = push_context(&state, &req);
    let welcome = state.config.iota_welcome.clone();
    let outcome = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            if let Some(refused) = refusal(c, id, &device)? {
                return Ok(Err(refused));
            }
            Ok(
                driver::start_star_code(c, &actor, &device, welcome.as_deref(), &ctx).map(|s| {
                    format!(
                        "Activation call-back queued for the handset (session {}); the outbox sends it.",
                        s.token
                    )
                }),
            )
        })
        .await?;
    iota_outcome(&user, &state, id, outcome)
}

async fn otapa(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditDevices)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let actor = user.actor();
    let device = field(&form, "device").unwrap_or_default();
    let Some(prl_id) = field(&form, "prl_id").and_then(|v| v.parse::<i32>().ok()) else {
        flash(&user.session, "error", "Choose a PRL.");
        return Ok(back(id, "iota"));
    };
    let ctx = push_context(&state, &req);
    let outcome = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            if let Some(refused) = refusal(c, id, &device)? {
                return Ok(Err(refused));
            }
            Ok(
                driver::start_otapa(c, &actor, &device, prl_id, &ctx).map(|s| {
                    format!(
                        "PRL {prl_id} download requested: WAP Push SL queued (session {}).",
                        s.token
                    )
                }),
            )
        })
        .await?;
    iota_outcome(&user, &state, id, outcome)
}
