//! Self service's feature changes and firmware check: the same activation
//! flow as the handset decks (billing information and terms, logged
//! acceptance, the billing gateway), for the signed-in subscriber's own
//! line only; and a software-update check that starts a network-initiated
//! FOTA through the notification path when an update exists.

use actix_web::{web, HttpResponse};
use askama::Template;

use super::forms::FormData;
use super::session::{flash, Area, CurrentUser, PageCtx};
use super::{redirect, render, AppState, WebError};
use crate::auth::Permission;
use crate::features::activation::{self, Outcome, Step};
use crate::features::FeatureError;
use crate::omadm::job::{self, JobError, JobKind};
use crate::registry::RegistryError;

fn back(user: &CurrentUser) -> HttpResponse {
    redirect(&format!("/self/line/{}", user.name))
}

/// A change that went no further: the subscriber reads why in their own
/// words on their line's page (the log keeps the operators'); a failure of
/// ours is the portal's error page.
fn refuse(user: &CurrentUser, e: FeatureError) -> Result<HttpResponse, WebError> {
    match e {
        FeatureError::Registry(RegistryError::Db(d)) => Err(d.into()),
        FeatureError::Db(d) => Err(d.into()),
        other => {
            tracing::info!(subscriber = %user.name, error = %other, "self-service feature change refused");
            flash(&user.session, "error", other.for_subscriber());
            Ok(back(user))
        }
    }
}

/// Activate or Deactivate: the change is offered and its terms shown.
pub async fn start(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(String, String)>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::SelfService)?;
    user.check_form(&form)?;
    let (code, action) = path.into_inner();
    let add = match action.as_str() {
        "activate" => true,
        "deactivate" => false,
        _ => return Err(WebError::NotFound("There is no such action.".into())),
    };
    let profile_id = user.id;
    let started = state
        .db
        .run(move |c| -> Result<Step, FeatureError> {
            let s = activation::offer(c, profile_id, None, &code, add, "self_service")?;
            activation::show_terms(c, &s.activation.token, None)
        })
        .await;
    match started {
        Ok(s) => Ok(redirect(&format!(
            "/self/activations/{}",
            s.activation.token
        ))),
        Err(e) => refuse(&user, e),
    }
}

#[derive(Template)]
#[template(path = "self/terms.html")]
struct TermsPage {
    ctx: PageCtx,
    s: Step,
}

/// Only the subscriber whose line it is may see or agree to an activation.
async fn own(state: &AppState, user: &CurrentUser, token: &str) -> Result<(), WebError> {
    let t = token.to_string();
    let owner = state.db.run(move |c| activation::owner(c, &t)).await;
    match owner {
        Ok(p) if p == user.id => Ok(()),
        Ok(_) | Err(FeatureError::UnknownActivation) => {
            tracing::warn!(subscriber = %user.name, "subscriber asked for an activation not theirs");
            Err(WebError::NotFound(
                "There is no such request on your line. Please start again from your line's \
                 services."
                    .into(),
            ))
        }
        Err(e) => Err(WebError::Internal(e.to_string())),
    }
}

pub async fn terms(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::SelfService)?;
    let token = path.into_inner();
    own(&state, &user, &token).await?;
    let s = state
        .db
        .run(move |c| activation::current(c, &token))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    if s.activation.state != "terms_shown" {
        flash(
            &user.session,
            "error",
            "This request was already answered; start again if you still want the change.",
        );
        return Ok(back(&user));
    }
    render(&TermsPage {
        ctx: user.ctx(Area::SelfService),
        s,
    })
}

pub async fn agree(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::SelfService)?;
    user.check_form(&form)?;
    let token = path.into_inner();
    own(&state, &user, &token).await?;
    let actor = user.actor();
    let accepted = {
        let actor = actor.clone();
        state
            .db
            .run(move |c| activation::accept(c, &token, None, &actor))
            .await
    };
    let accepted = match accepted {
        Ok(a) => a,
        Err(e) => return refuse(&user, e),
    };
    let done = activation::provision(&state.db, state.billing.as_ref(), accepted, actor).await;
    let s = match done {
        Ok(s) => s,
        Err(e) => return refuse(&user, e),
    };
    let verb = if s.activation.action == "add" {
        "added to"
    } else {
        "removed from"
    };
    let why = s.activation.failure_reason();
    let advice = s.activation.advice();
    match s.activation.outcome() {
        Outcome::Provisioned => flash(
            &user.session,
            "success",
            format!("{} has been {verb} your line.", s.feature.name),
        ),
        Outcome::Unanswered => flash(
            &user.session,
            "info",
            format!("{}: {why}. {advice}", s.feature.name),
        ),
        _ => flash(
            &user.session,
            "error",
            format!("{} was not changed: {why}. {advice}", s.feature.name),
        ),
    }
    Ok(back(&user))
}

/// What the software-update check came to.
enum UpdateCheck {
    Started,
    /// The model's capability entry says FOTA no: nothing to check.
    NotSupported,
    /// The server cannot wake the handset (no OMA-DM credentials), but it
    /// also speaks IOTA: it can ask for its update itself.
    FromThePhone,
    Refused(JobError),
}

/// What a subscriber reads when their handset looks for updates itself.
const FROM_THE_PHONE: &str = "Your phone looks for software updates itself: start the update from the phone's own menu (its software update or phone update entry).";

/// The subscriber's answer for each way a notification can be refused:
/// none is a server error to them (the details go to the log).
fn refusal(e: &JobError) -> (&'static str, &'static str) {
    const CONTACT_CARE: &str =
        "Your phone cannot be updated over the air. Please contact customer care.";
    match e {
        JobError::NoUpdate(_) => ("success", "Your phone's software is up to date."),
        JobError::FotaBusy(_) | JobError::FotaStarted => {
            ("success", "An update for your phone is already in progress.")
        }
        // An IOTA handset asks for its update itself.
        JobError::NotOmadm(_) => ("info", FROM_THE_PHONE),
        // The model can be updated; this handset was never given the
        // settings the server needs to reach it (the page says so too).
        JobError::NoAccount => ("error", super::self_service::NOT_SET_UP_ANSWER),
        JobError::HandsetDeactivated => (
            "error",
            "This phone is no longer active on your line, so it cannot be updated. Please contact customer care.",
        ),
        JobError::NoMdn => ("error", CONTACT_CARE),
        JobError::Registry(_)
        | JobError::Content(_)
        | JobError::Fota(_)
        | JobError::Commands(_)
        | JobError::Db(_) => (
            "error",
            "We could not check for a software update just now. Please try again later.",
        ),
    }
}

/// "Check for a software update": when a released package updates the
/// phone, a network-initiated FOTA starts through the notification path.
pub async fn firmware_check(
    state: web::Data<AppState>,
    user: CurrentUser,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::SelfService)?;
    user.check_form(&form)?;
    let profile_id = user.id;
    let actor = user.actor();
    let max_parts = state.config.sms_max_parts;
    let vault = state.vault.clone();
    let outcome = state
        .db
        .run(move |c| -> Result<UpdateCheck, RegistryError> {
            let Some(d) = crate::registry::device::phone_of(c, profile_id)? else {
                return Ok(UpdateCheck::Refused(JobError::NoMdn));
            };
            // The page says so and offers no check; a form posted anyway
            // gets the same answer, not "up to date".
            let capability =
                crate::registry::capability::for_device(c, &d.make, &d.model, &d.firmware_version)?;
            if capability.as_ref().is_some_and(|cap| !cap.fota) {
                return Ok(UpdateCheck::NotSupported);
            }
            Ok(
                match job::notify(c, &vault, d.id, JobKind::Fota, &actor, max_parts) {
                    Ok(_) => UpdateCheck::Started,
                    // As the page says: a handset that also speaks IOTA
                    // asks for its update itself.
                    Err(JobError::NoAccount)
                        if capability.is_some_and(|cap| {
                            cap.protocol() == crate::registry::capability::Protocol::Both
                        }) =>
                    {
                        UpdateCheck::FromThePhone
                    }
                    Err(e) => UpdateCheck::Refused(e),
                },
            )
        })
        .await?;
    match outcome {
        UpdateCheck::Started => {
            if let Some(m) = &state.messaging {
                m.wake();
            }
            flash(
                &user.session,
                "success",
                "An update is available. Your phone has been asked to download it; keep it switched on and follow its prompts.",
            );
        }
        UpdateCheck::NotSupported => flash(
            &user.session,
            "error",
            "Over-the-air updates are not supported by this model.",
        ),
        UpdateCheck::FromThePhone => {
            tracing::info!(subscriber = %user.name, "self-service software update check: the handset has no OMA-DM credentials and asks over IOTA itself");
            flash(&user.session, "info", FROM_THE_PHONE)
        }
        UpdateCheck::Refused(e) => {
            let internal = matches!(
                e,
                JobError::Registry(_)
                    | JobError::Content(_)
                    | JobError::Fota(_)
                    | JobError::Commands(_)
                    | JobError::Db(_)
            );
            if internal {
                tracing::warn!(subscriber = %user.name, error = %e, "self-service software update check failed");
            } else {
                tracing::info!(subscriber = %user.name, error = %e, "self-service software update check refused");
            }
            let (level, message) = refusal(&e);
            flash(&user.session, level, message);
        }
    }
    Ok(back(&user))
}
