//! Feature-activation decks for handsets (the source document's steps
//! 45-62): the WAP service bootstrap URL, billing information, the legal
//! terms, "Agree", the billing gateway, and the result. Served as WML 1.3 or
//! XHTML Mobile Profile by the Accept header. The handset is known only by
//! the device-id header of a trusted WAP gateway.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::AppState;
use crate::features::activation::{self, Outcome, Step};
use crate::features::{catalogue, FeatureError};
use crate::omadm::engine::device_key_of;
use crate::registry::lookup;
use crate::registry::{Actor, RegistryError};

pub const BOOTSTRAP_PATH: &str = "/wap/activate";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(BOOTSTRAP_PATH, web::get().to(bootstrap))
        .route("/wap/activate/{token}/terms", web::get().to(terms))
        .route("/wap/activate/{token}/agree", web::get().to(agree));
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Markup {
    Wml,
    XhtmlMp,
}

/// XHTML-MP unless the browser only takes WML.
fn markup_of(req: &HttpRequest) -> Markup {
    let accept = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let xhtml = accept.contains("application/vnd.wap.xhtml+xml")
        || accept.contains("application/xhtml+xml")
        || accept.contains("text/html");
    if accept.contains("text/vnd.wap.wml") && !xhtml {
        Markup::Wml
    } else {
        Markup::XhtmlMp
    }
}

#[derive(Template)]
#[template(path = "wap/deck.wml", escape = "html")]
struct WmlDeck {
    title: String,
    paragraphs: Vec<String>,
    primary: Option<(String, String)>,
    links: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "wap/deck.xhtml", escape = "html")]
struct XhtmlDeck {
    title: String,
    paragraphs: Vec<String>,
    primary: Option<(String, String)>,
    links: Vec<(String, String)>,
}

/// One screen of the flow, in either markup.
struct Deck {
    title: String,
    paragraphs: Vec<String>,
    primary: Option<(String, String)>,
    links: Vec<(String, String)>,
}

/// WML reads `$` as a variable reference; a literal one is written `$$`.
fn wml_text(s: &str) -> String {
    s.replace('$', "$$")
}

fn render(markup: Markup, status: StatusCode, deck: Deck) -> HttpResponse {
    let (body, content_type) = match markup {
        Markup::Wml => (
            WmlDeck {
                title: wml_text(&deck.title),
                paragraphs: deck.paragraphs.iter().map(|p| wml_text(p)).collect(),
                primary: deck.primary.map(|(l, h)| (wml_text(&l), h)),
                links: deck
                    .links
                    .into_iter()
                    .map(|(l, h)| (wml_text(&l), h))
                    .collect(),
            }
            .render(),
            "text/vnd.wap.wml; charset=utf-8",
        ),
        Markup::XhtmlMp => (
            XhtmlDeck {
                title: deck.title,
                paragraphs: deck.paragraphs,
                primary: deck.primary,
                links: deck.links,
            }
            .render(),
            "application/vnd.wap.xhtml+xml; charset=utf-8",
        ),
    };
    match body {
        Ok(b) => HttpResponse::build(status)
            .content_type(content_type)
            .body(b),
        Err(e) => {
            tracing::error!(error = %e, "deck rendering failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// A deck saying why the request went no further. What the subscriber
/// should read (not found, refused, a step out of order) is answered 200:
/// many WAP gateways put a page of their own in place of the body of a 4xx
/// or 5xx answer, and the subscriber would never see ours. Only the
/// identification of the handset (no trusted gateway, no usable device-id
/// header) keeps its 403, and a failure of ours its 500. `cause` is the
/// operators' account of it, for the log.
fn error_deck(markup: Markup, status: StatusCode, message: String, cause: &str) -> HttpResponse {
    tracing::warn!(status = status.as_u16(), %cause, %message, "feature activation deck refused");
    render(
        markup,
        status,
        Deck {
            title: "Service activation".into(),
            paragraphs: vec![message],
            primary: None,
            links: vec![("Back to services".into(), BOOTSTRAP_PATH.into())],
        },
    )
}

fn feature_error(markup: Markup, e: FeatureError) -> HttpResponse {
    let status = match &e {
        FeatureError::Registry(RegistryError::NotFound(_)) => StatusCode::OK,
        FeatureError::Registry(_) | FeatureError::Db(_) => {
            tracing::error!(error = %e, "feature activation failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::OK,
    };
    error_deck(markup, status, e.for_subscriber(), &e.to_string())
}

/// Why a request is not taken as a handset's: its own words for the
/// subscriber, and the operators' for the log.
struct Unidentified {
    message: &'static str,
    cause: String,
}

/// The device behind the request, from a trusted gateway's header only.
fn identify(
    state: &AppState,
    req: &HttpRequest,
) -> Result<crate::registry::lookup::DeviceKey, Unidentified> {
    let peer = req.peer_addr().map(|a| a.ip());
    if !peer.is_some_and(|p| state.config.trusted_gateways.contains(&p)) {
        return Err(Unidentified {
            message: "This service is only available from your phone's own browser.",
            cause: format!("{peer:?} is not a trusted WAP gateway (MDM_TRUSTED_GATEWAYS)"),
        });
    }
    let header = state.config.gateway_header.as_str();
    let value = req
        .headers()
        .get(header)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Unidentified {
            message: "The network did not say which phone you are using. Please try again \
                      from your phone's browser; if this keeps happening, call customer care.",
            cause: format!("the gateway sent no {header} header"),
        })?;
    device_key_of(value).ok_or_else(|| Unidentified {
        message: "The network named your phone in a way this service cannot read. Please \
                  call customer care.",
        cause: format!("{header} {value:?} is not an ESN or MEID"),
    })
}

#[derive(Deserialize)]
pub struct BootstrapQuery {
    feature: Option<String>,
}

/// Resolves the calling device to (device id, profile id), or the deck
/// refusing it.
async fn line_of(
    state: &AppState,
    req: &HttpRequest,
    markup: Markup,
) -> Result<(i64, i64), HttpResponse> {
    let key = identify(state, req)
        .map_err(|u| error_deck(markup, StatusCode::FORBIDDEN, u.message.into(), &u.cause))?;
    let found = state.db.run(move |c| lookup::find(c, &key)).await;
    match found {
        Ok(d) => match d.profile_id {
            Some(p) => Ok((d.id, p)),
            None => Err(feature_error(markup, FeatureError::NoLine)),
        },
        Err(RegistryError::NotFound(what)) => Err(error_deck(
            markup,
            StatusCode::OK,
            "Your phone is not registered with this network. Please call customer care.".into(),
            &format!("{what} not found"),
        )),
        Err(e) => {
            tracing::error!(error = %e, "device lookup failed");
            Err(error_deck(
                markup,
                StatusCode::INTERNAL_SERVER_ERROR,
                "The service cannot be activated right now. Please try again later.".into(),
                &e.to_string(),
            ))
        }
    }
}

/// Steps 49-51: the bootstrap URL. Without a feature, the menu; with one,
/// its billing information and "Continue".
async fn bootstrap(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<BootstrapQuery>,
) -> HttpResponse {
    let markup = markup_of(&req);
    let (device_id, profile_id) = match line_of(&state, &req, markup).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let Some(code) = q.into_inner().feature.filter(|f| !f.is_empty()) else {
        let listed = state
            .db
            .run(move |c| -> Result<_, FeatureError> {
                let p = crate::registry::profile::get(c, profile_id)?;
                Ok((catalogue::all(c)?, p.features))
            })
            .await;
        return match listed {
            Ok((features, active)) => {
                let active: Vec<&str> = active.split(',').collect();
                let links = features
                    .iter()
                    .filter(|f| !active.contains(&f.code.as_str()))
                    .map(|f| {
                        (
                            f.name.clone(),
                            format!("{BOOTSTRAP_PATH}?feature={}", f.code),
                        )
                    })
                    .collect::<Vec<_>>();
                let paragraphs = if links.is_empty() {
                    vec!["Every service is already active on your line.".to_string()]
                } else {
                    vec!["Choose a service to add to your line.".to_string()]
                };
                render(
                    markup,
                    StatusCode::OK,
                    Deck {
                        title: "Add a service".into(),
                        paragraphs,
                        primary: None,
                        links,
                    },
                )
            }
            Err(e) => feature_error(markup, e),
        };
    };
    let offered = state
        .db
        .run(move |c| activation::offer(c, profile_id, Some(device_id), &code, true, "wap"))
        .await;
    match offered {
        Ok(s) => render(
            markup,
            StatusCode::OK,
            Deck {
                title: format!("Activate {}", s.feature.name),
                paragraphs: vec![
                    s.feature.description.clone(),
                    format!("Price: {}", s.feature.price),
                    format!(
                        "It will be added to account {} for {}.",
                        s.profile.account_id, s.profile.mdn
                    ),
                ],
                primary: Some((
                    "Continue".into(),
                    format!("{BOOTSTRAP_PATH}/{}/terms", s.activation.token),
                )),
                links: vec![("Cancel".into(), BOOTSTRAP_PATH.into())],
            },
        ),
        Err(e) => feature_error(markup, e),
    }
}

/// The markup the caller takes and its device, or the deck refusing it.
async fn caller(state: &AppState, req: &HttpRequest) -> Result<(Markup, i64), HttpResponse> {
    let markup = markup_of(req);
    let (device_id, _) = line_of(state, req, markup).await?;
    Ok((markup, device_id))
}

/// Steps 52-53: the contractual and legal text, and "Agree".
async fn terms(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let (markup, device_id) = match caller(&state, &req).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let token = path.into_inner();
    let shown = state
        .db
        .run(move |c| activation::show_terms(c, &token, Some(device_id)))
        .await;
    match shown {
        Ok(s) => render(
            markup,
            StatusCode::OK,
            Deck {
                title: format!("{}: terms", s.feature.name),
                paragraphs: vec![
                    s.feature.legal_text.clone(),
                    format!("Price: {}", s.feature.price),
                ],
                primary: Some((
                    "Agree".into(),
                    format!("{BOOTSTRAP_PATH}/{}/agree", s.activation.token),
                )),
                links: vec![("Cancel".into(), BOOTSTRAP_PATH.into())],
            },
        ),
        Err(e) => feature_error(markup, e),
    }
}

/// Steps 54-60: the acceptance is logged, billing is asked, the result shown.
async fn agree(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let (markup, device_id) = match caller(&state, &req).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let token = path.into_inner();
    let actor = Actor::System("wap-deck");
    let accepted = {
        let actor = actor.clone();
        state
            .db
            .run(move |c| activation::accept(c, &token, Some(device_id), &actor))
            .await
    };
    let accepted = match accepted {
        Ok(a) => a,
        Err(e) => return feature_error(markup, e),
    };
    let done = activation::provision(&state.db, state.billing.as_ref(), accepted, actor).await;
    match done {
        Ok(s) => result_deck(markup, &s),
        Err(e) => feature_error(markup, e),
    }
}

fn result_deck(markup: Markup, s: &Step) -> HttpResponse {
    let a = &s.activation;
    let deck = if a.state == "provisioned" {
        Deck {
            title: format!("{} is active", s.feature.name),
            paragraphs: vec![
                format!("{} has been added to your line.", s.feature.name),
                "To start using it, close the browser and open the service again: your phone then picks up the new settings.".into(),
            ],
            primary: None,
            links: vec![("More services".into(), BOOTSTRAP_PATH.into())],
        }
    } else if a.outcome() == Outcome::Unanswered {
        Deck {
            title: format!("{} is being checked", s.feature.name),
            paragraphs: vec![
                format!(
                    "We do not know yet whether it was done: {}.",
                    a.failure_reason()
                ),
                a.advice().into(),
            ],
            primary: None,
            links: vec![("Back to services".into(), BOOTSTRAP_PATH.into())],
        }
    } else {
        let why = format!("It was not done: {}.", a.failure_reason());
        Deck {
            title: format!("{} was not activated", s.feature.name),
            paragraphs: vec![
                why,
                format!("Nothing has changed on your line. {}", a.advice()),
            ],
            primary: None,
            links: vec![("Back to services".into(), BOOTSTRAP_PATH.into())],
        }
    };
    render(markup, StatusCode::OK, deck)
}
