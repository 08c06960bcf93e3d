//! Registry resources: profiles, devices, capabilities, IOTA ESN series.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::caller::ApiCaller;
use super::error::ApiError;
use super::{paged, PageQuery};
use crate::auth::Permission;
use crate::registry::audit::{self, EntityKind};
use crate::registry::capability::{self, CapabilityDraft, EsnSeriesDraft};
use crate::registry::device::{self, DeviceDraft, DeviceQuery};
use crate::registry::lookup::{self, DeviceKey};
use crate::registry::profile::{self, ActivationState, ProfileDraft, ProfileQuery};
use crate::registry::RegistryError;
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/profiles", web::get().to(profiles_search))
        .route("/profiles", web::post().to(profile_create))
        .route("/profiles/{id}", web::get().to(profile_get))
        .route("/profiles/{id}", web::put().to(profile_update))
        .route("/profiles/{id}", web::delete().to(profile_delete))
        .route("/profiles/{id}/activation", web::post().to(profile_state))
        .route("/profiles/{id}/audit", web::get().to(profile_audit))
        .route("/devices", web::get().to(devices_search))
        .route("/devices", web::post().to(device_create))
        .route("/devices/lookup/{key}", web::get().to(device_lookup))
        .route("/devices/{id}", web::get().to(device_get))
        .route("/devices/{id}", web::put().to(device_update))
        .route("/devices/{id}", web::delete().to(device_delete))
        .route("/devices/{id}/audit", web::get().to(device_audit))
        .route(
            "/devices/{id}/dm-credentials",
            web::get().to(dm_credentials_get),
        )
        .route(
            "/devices/{id}/dm-credentials",
            web::put().to(dm_credentials_set),
        )
        .route("/capabilities", web::get().to(capabilities_list))
        .route("/capabilities", web::post().to(capability_create))
        .route("/capabilities/{id}", web::get().to(capability_get))
        .route("/capabilities/{id}", web::put().to(capability_update))
        .route("/capabilities/{id}", web::delete().to(capability_delete))
        .route("/iota-esn-series", web::get().to(series_list))
        .route("/iota-esn-series", web::post().to(series_create))
        .route("/iota-esn-series/{id}", web::delete().to(series_delete));
}

type ApiResult = Result<HttpResponse, ApiError>;

// ---- Profiles ------------------------------------------------------------

async fn profiles_search(
    state: web::Data<AppState>,
    caller: ApiCaller,
    q: web::Query<ProfileQuery>,
) -> ApiResult {
    caller.require(Permission::ViewRegistry)?;
    let q = q.into_inner();
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let (items, more) = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            let items = profile::search(c, &q)?;
            // A full page may be the last one: next_after is null exactly
            // when no profile follows, so look one further.
            let more = match items.last() {
                Some(last) if items.len() as i64 == limit => {
                    let next = ProfileQuery {
                        after: Some(last.id),
                        limit: Some(1),
                        ..q
                    };
                    !profile::search(c, &next)?.is_empty()
                }
                _ => false,
            };
            Ok((items, more))
        })
        .await?;
    let next_after = if more {
        items.last().map(|p| p.id)
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(json!({"items": items, "next_after": next_after})))
}

async fn profile_create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Json<ProfileDraft>,
) -> ApiResult {
    caller.require(Permission::EditProfiles)?;
    let actor = caller.actor();
    let draft = body.into_inner();
    let p = state
        .db
        .run(move |c| profile::create(c, &actor, &draft))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/profiles/{}", p.id)))
        .json(p))
}

async fn profile_get(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
) -> ApiResult {
    caller.require(Permission::ViewRegistry)?;
    let id = path.into_inner();
    let (p, devices) = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            Ok((profile::get(c, id)?, device::of_profile(c, id)?))
        })
        .await?;
    let mut body = serde_json::to_value(&p).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["devices"] = json!(devices);
    Ok(HttpResponse::Ok().json(body))
}

async fn profile_update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
    body: web::Json<ProfileDraft>,
) -> ApiResult {
    caller.require(Permission::EditProfiles)?;
    let id = path.into_inner();
    let actor = caller.actor();
    let draft = body.into_inner();
    let p = state
        .db
        .run(move |c| profile::update(c, &actor, id, &draft))
        .await?;
    Ok(HttpResponse::Ok().json(p))
}

async fn profile_delete(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
) -> ApiResult {
    caller.require(Permission::EditProfiles)?;
    let id = path.into_inner();
    let actor = caller.actor();
    state
        .db
        .run(move |c| profile::delete(c, &actor, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateChange {
    state: String,
}

async fn profile_state(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
    body: web::Json<StateChange>,
) -> ApiResult {
    caller.require(Permission::EditProfiles)?;
    let id = path.into_inner();
    let target = ActivationState::parse(&body.state).ok_or_else(|| {
        ApiError::Invalid(
            [(
                "state".to_string(),
                "must be pending, activated or deactivated".to_string(),
            )]
            .into(),
        )
    })?;
    let actor = caller.actor();
    let p = state
        .db
        .run(move |c| profile::set_state(c, &actor, id, target))
        .await?;
    Ok(HttpResponse::Ok().json(p))
}

/// An audit page's size when the client names none, and the most it may.
const AUDIT_PAGE: (i64, i64) = (100, 500);

async fn profile_audit(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
    q: web::Query<PageQuery>,
) -> ApiResult {
    caller.require(Permission::ViewRegistry)?;
    let id = path.into_inner();
    let (after, limit) = (q.after, q.limit(AUDIT_PAGE.0, AUDIT_PAGE.1));
    let events = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            profile::get(c, id)?;
            Ok(audit::page_of(
                c,
                EntityKind::Profile,
                id,
                after,
                limit + 1,
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(paged(events, limit, |e| e.id)))
}

// ---- Devices -------------------------------------------------------------

async fn devices_search(
    state: web::Data<AppState>,
    caller: ApiCaller,
    q: web::Query<DeviceQuery>,
) -> ApiResult {
    caller.require(Permission::ViewRegistry)?;
    let q = q.into_inner();
    let page = state.db.run(move |c| device::search(c, &q)).await?;
    let next_after = if page.has_more {
        page.rows.last().map(|r| r.device.id)
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(json!({"items": page.rows, "next_after": next_after})))
}

async fn device_create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Json<DeviceDraft>,
) -> ApiResult {
    caller.require(Permission::EditDevices)?;
    let actor = caller.actor();
    let draft = body.into_inner();
    let d = state
        .db
        .run(move |c| device::create(c, &actor, &draft))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/devices/{}", d.id)))
        .json(d))
}

async fn device_get(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
) -> ApiResult {
    caller.require(Permission::ViewRegistry)?;
    let id = path.into_inner();
    let v = state.db.run(move |c| lookup::by_id(c, id)).await?;
    Ok(HttpResponse::Ok().json(v))
}

async fn device_lookup(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> ApiResult {
    caller.require(Permission::ViewRegistry)?;
    let key = DeviceKey::parse(&path)?;
    let v = state.db.run(move |c| lookup::by_key(c, &key)).await?;
    Ok(HttpResponse::Ok().json(v))
}

async fn device_update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
    body: web::Json<DeviceDraft>,
) -> ApiResult {
    caller.require(Permission::EditDevices)?;
    let id = path.into_inner();
    let actor = caller.actor();
    let draft = body.into_inner();
    let d = state
        .db
        .run(move |c| device::update(c, &actor, id, &draft))
        .await?;
    Ok(HttpResponse::Ok().json(d))
}

async fn device_delete(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
) -> ApiResult {
    caller.require(Permission::EditDevices)?;
    let id = path.into_inner();
    let actor = caller.actor();
    state.db.run(move |c| device::delete(c, &actor, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A DM account as the API shows it: never its secrets or nonces.
fn dm_account_json(a: &crate::omadm::account::DmAccount) -> serde_json::Value {
    json!({
        "device_id": a.device_id,
        "server_id": a.server_id,
        "client_username": a.client_username,
        "updated_at": a.updated_at,
    })
}

async fn dm_credentials_get(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
) -> ApiResult {
    caller.require(Permission::ViewRegistry)?;
    let id = path.into_inner();
    let vault = state.vault.clone();
    let account = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            device::get(c, id)?;
            Ok(crate::omadm::account::get(c, &vault, id)?)
        })
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("device {id}'s OMA-DM credentials")))?;
    Ok(HttpResponse::Ok().json(dm_account_json(&account)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DmCredentialsInput {
    client_password: String,
    server_password: Option<String>,
    server_id: Option<String>,
}

/// Sets a device's OMA-DM credentials (its DevId is the user name). A
/// server password the caller leaves out is generated and returned once.
async fn dm_credentials_set(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
    body: web::Json<DmCredentialsInput>,
) -> ApiResult {
    caller.require(Permission::EditDevices)?;
    let id = path.into_inner();
    let input = body.into_inner();
    let actor = caller.actor();
    let vault = state.vault.clone();
    let issued = state
        .db
        .run(move |c| {
            crate::omadm::account::issue(
                c,
                &vault,
                &actor,
                id,
                &crate::omadm::account::Given {
                    client_password: &input.client_password,
                    server_password: input.server_password.as_deref(),
                    server_id: input.server_id.as_deref(),
                },
            )
        })
        .await?;
    let mut out = dm_account_json(&issued.account);
    if let Some(p) = issued.generated_server_password {
        out["server_password"] = json!(p);
    }
    Ok(HttpResponse::Ok().json(out))
}

async fn device_audit(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
    q: web::Query<PageQuery>,
) -> ApiResult {
    caller.require(Permission::ViewRegistry)?;
    let id = path.into_inner();
    let (after, limit) = (q.after, q.limit(AUDIT_PAGE.0, AUDIT_PAGE.1));
    let events = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            device::get(c, id)?;
            Ok(audit::page_of(c, EntityKind::Device, id, after, limit + 1)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(paged(events, limit, |e| e.id)))
}

// ---- Capabilities and ESN series -----------------------------------------

async fn capabilities_list(state: web::Data<AppState>, caller: ApiCaller) -> ApiResult {
    caller.require(Permission::ViewRegistry)?;
    let items = state
        .db
        .run(|c| capability::list(c).map_err(RegistryError::from))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"items": items})))
}

async fn capability_create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Json<CapabilityDraft>,
) -> ApiResult {
    caller.require(Permission::EditCapabilities)?;
    let actor = caller.actor();
    let draft = body.into_inner();
    let cap = state
        .db
        .run(move |c| capability::create(c, &actor, &draft))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/capabilities/{}", cap.id)))
        .json(cap))
}

async fn capability_get(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
) -> ApiResult {
    caller.require(Permission::ViewRegistry)?;
    let id = path.into_inner();
    let cap = state.db.run(move |c| capability::get(c, id)).await?;
    Ok(HttpResponse::Ok().json(cap))
}

async fn capability_update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
    body: web::Json<CapabilityDraft>,
) -> ApiResult {
    caller.require(Permission::EditCapabilities)?;
    let id = path.into_inner();
    let actor = caller.actor();
    let draft = body.into_inner();
    let cap = state
        .db
        .run(move |c| capability::update(c, &actor, id, &draft))
        .await?;
    Ok(HttpResponse::Ok().json(cap))
}

async fn capability_delete(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
) -> ApiResult {
    caller.require(Permission::EditCapabilities)?;
    let id = path.into_inner();
    let actor = caller.actor();
    state
        .db
        .run(move |c| capability::delete(c, &actor, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn series_list(state: web::Data<AppState>, caller: ApiCaller) -> ApiResult {
    caller.require(Permission::ViewRegistry)?;
    let items = state
        .db
        .run(|c| capability::list_series(c).map_err(RegistryError::from))
        .await?;
    let items: Vec<_> = items
        .iter()
        .map(|s| json!({"id": s.id, "make": s.make, "first_esn": s.first_hex(), "last_esn": s.last_hex(), "size": s.size()}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"items": items})))
}

async fn series_create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Json<EsnSeriesDraft>,
) -> ApiResult {
    caller.require(Permission::EditCapabilities)?;
    let actor = caller.actor();
    let draft = body.into_inner();
    let s = state
        .db
        .run(move |c| capability::add_series(c, &actor, &draft))
        .await?;
    Ok(HttpResponse::Created().json(json!({"id": s.id, "make": s.make, "first_esn": s.first_hex(), "last_esn": s.last_hex(), "size": s.size()})))
}

async fn series_delete(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
) -> ApiResult {
    caller.require(Permission::EditCapabilities)?;
    let id = path.into_inner();
    let actor = caller.actor();
    state
        .db
        .run(move |c| capability::delete_series(c, &actor, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
