//! The client-initiated FOTA URL (claims 1-5 of the source document): the
//! handset asks for an update; the platform identifies it by the ESN/MEID
//! its WAP gateway inserted (trusted gateways only) or by its DevId, looks
//! up its capability, registers a pending FOTA session with the adapter for
//! its protocol and redirects the handset to that session.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::AppState;
use crate::fota::session as fota;
use crate::omadm::engine::device_key_of;
use crate::registry::capability::Protocol;
use crate::registry::lookup::{self, DeviceKey};
use crate::registry::RegistryError;

#[derive(Deserialize)]
pub struct CheckQuery {
    /// The DM client's DevId, used when no trusted gateway identified the handset.
    devid: Option<String>,
}

fn plain(status: actix_web::http::StatusCode, text: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(text)
}

/// Which device is asking: the gateway's header, believed only from a
/// configured gateway address, or else the DevId the client sent.
fn identify(state: &AppState, req: &HttpRequest, q: &CheckQuery) -> Result<DeviceKey, String> {
    let peer = req.peer_addr().map(|a| a.ip());
    let from_gateway = peer.is_some_and(|p| state.config.trusted_gateways.contains(&p));
    let header_value = req
        .headers()
        .get(state.config.gateway_header.as_str())
        .and_then(|v| v.to_str().ok());
    let header = state.config.gateway_header.as_str();
    let mut ignored = false;
    if let Some(v) = header_value {
        if from_gateway {
            return device_key_of(v)
                .ok_or_else(|| format!("the gateway's device id \"{v}\" is not an ESN or MEID"));
        }
        tracing::warn!(peer = ?peer, "device-id header from an untrusted address ignored");
        ignored = true;
    }
    // Whoever reads this (a gateway's operator, a test engineer) is told
    // which of the two ways in to set up.
    let how = "list the gateway's address in MDM_TRUSTED_GATEWAYS, or name the handset by \
               its DevId (?devid=MEID:A1000012345678 or ?devid=ESN:9F100004)";
    match q.devid.as_deref() {
        Some(d) => {
            device_key_of(d).ok_or_else(|| format!("DevId \"{d}\" is not an ESN, MEID or MDN"))
        }
        None if ignored => Err(format!(
            "the {header} header from {} was ignored: that address is not a trusted gateway; {how}",
            peer.map_or_else(|| "an unknown address".to_string(), |p| p.to_string())
        )),
        None => Err(format!(
            "no trusted gateway identified the handset (by its {header} header) and no DevId was given; {how}"
        )),
    }
}

/// The device lookup and the registration, in one transaction: on SQLite a
/// read of its own would start (and pay for) a second one. `Ok(Err(_))` is
/// a device whose protocol is unknown, or that takes no update over the air.
async fn register(
    state: &AppState,
    key: DeviceKey,
) -> Result<Result<String, String>, RegistryError> {
    state
        .db
        .run_write(move |c| -> Result<_, RegistryError> {
            // Only the capability decides the branch; the profile is not read.
            let device = lookup::find(c, &key)?;
            let capability = crate::registry::capability::for_device(
                c,
                &device.make,
                &device.model,
                &device.firmware_version,
            )?;
            let protocol = capability.as_ref().map(|cap| cap.protocol());
            let d = &device;
            if capability.as_ref().is_some_and(|cap| !cap.fota) {
                return no_fota(c, d, protocol);
            }
            match protocol {
                Some(Protocol::Omadm) | Some(Protocol::Both) => {
                    let s = fota::register_pending_in(
                        c,
                        d.id,
                        "omadm",
                        &d.firmware_version,
                        "client-initiated",
                    )
                    .map_err(registration_error)?;
                    Ok(Ok(format!("/omadm?fota={}", s.id)))
                }
                Some(Protocol::Iota) => {
                    let s = fota::register_pending_in(
                        c,
                        d.id,
                        "iota",
                        &d.firmware_version,
                        "client-initiated",
                    )
                    .map_err(registration_error)?;
                    let pending = crate::iota::fota::register(c, d, s.id)
                        .map_err(|e| RegistryError::Conflict(e.to_string()))?;
                    Ok(Ok(format!(
                        "{}{}",
                        crate::iota::fota::FOTA_PATH,
                        pending.token
                    )))
                }
                None => Ok(Err(format!(
                    "{} {} {} has no capability entry, so its protocol is unknown",
                    d.make, d.model, d.firmware_version
                ))),
            }
        })
        .await
}

/// A model whose capability entry says FOTA no gets no session to follow:
/// the request is recorded as a session that ends at once with the reason,
/// and the handset is told there is no update over the air for it.
fn no_fota(
    c: &mut crate::db::DbConnection,
    d: &crate::registry::device::Device,
    protocol: Option<Protocol>,
) -> Result<Result<String, String>, RegistryError> {
    let why = format!(
        "no update over the air for {} {} {}: its capability entry says FOTA no",
        d.make, d.model, d.firmware_version
    );
    let over = match protocol {
        Some(Protocol::Iota) => "iota",
        _ => "omadm",
    };
    let s = fota::register_pending_in(c, d.id, over, &d.firmware_version, "client-initiated")
        .map_err(registration_error)?;
    // An update already under way (begun before the entry said no) is left
    // to finish; only the request just registered ends here.
    if s.state() == crate::fota::FotaState::Pending {
        fota::advance_loaded(c, s, crate::fota::FotaState::NoUpdate, &why)
            .map_err(registration_error)?;
    }
    Ok(Err(why))
}

fn registration_error(e: crate::fota::FotaError) -> RegistryError {
    match e {
        crate::fota::FotaError::AlreadyOpen(_) => RegistryError::Duplicate(e.to_string()),
        other => RegistryError::Conflict(other.to_string()),
    }
}

pub async fn check(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<CheckQuery>,
) -> HttpResponse {
    let key = match identify(&state, &req, &q) {
        Ok(k) => k,
        Err(m) => {
            tracing::warn!(reason = %m, "FOTA request refused");
            return plain(actix_web::http::StatusCode::BAD_REQUEST, m);
        }
    };
    let mut outcome = register(&state, key.clone()).await;
    if let Err(RegistryError::Duplicate(m)) = &outcome {
        // A second request of the same handset registered the open session
        // first; this one now finds it.
        tracing::info!(reason = %m, "FOTA request raced another; asking again");
        outcome = register(&state, key).await;
    }
    match outcome {
        Ok(Ok(path)) => {
            let base = super::omadm::base_url(&state, &req);
            tracing::info!(to = %path, "client-initiated FOTA registered");
            HttpResponse::Found()
                .insert_header((header::LOCATION, format!("{base}{path}")))
                .finish()
        }
        Ok(Err(m)) => plain(actix_web::http::StatusCode::CONFLICT, m),
        Err(RegistryError::NotFound(m)) => plain(
            actix_web::http::StatusCode::NOT_FOUND,
            format!("{m} not found"),
        ),
        Err(e) => {
            tracing::error!(error = %e, "FOTA request failed");
            plain(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "try again later".into(),
            )
        }
    }
}
