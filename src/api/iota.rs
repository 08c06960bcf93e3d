//! ESN changes (billing) and server-initiated IOTA sessions (care, OTAP
//! administration) over the REST API.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::caller::ApiCaller;
use super::error::ApiError;
use super::{paged, PageQuery};
use crate::auth::Permission;
use crate::iota::driver::{self, PushContext};
use crate::iota::session::{self, SessionQuery};
use crate::iota::{prl_store, IotaError};
use crate::registry::esn_change::{self, EsnChangeRequest};
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/esn-changes", web::post().to(esn_change_create))
        .route(
            "/esn-changes/{id}/cancel",
            web::post().to(esn_change_cancel),
        )
        .route("/profiles/{id}/esn-changes", web::get().to(esn_changes_of))
        .route("/iota/activations", web::post().to(star_code))
        .route("/iota/prl-downloads", web::post().to(otapa))
        .route("/iota/sessions", web::get().to(sessions))
        .route("/prls", web::get().to(prls));
}

type ApiResult = Result<HttpResponse, ApiError>;

impl From<IotaError> for ApiError {
    fn from(e: IotaError) -> Self {
        match e {
            IotaError::Registry(r) => r.into(),
            IotaError::NotFound(m) => ApiError::NotFound(format!("{m} not found")),
            IotaError::Conflict(m) | IotaError::Duplicate(m) => ApiError::Conflict(m),
            IotaError::Invalid(m) => ApiError::BadRequest(m),
            e @ IotaError::BadPrl(_) => ApiError::BadRequest(e.to_string()),
            IotaError::Db(d) => ApiError::Internal(d.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EsnChangeBody {
    from: String,
    to: String,
    variant: Option<String>,
    make: Option<String>,
    model: Option<String>,
    firmware_version: Option<String>,
}

async fn esn_change_create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Json<EsnChangeBody>,
) -> ApiResult {
    caller.require(Permission::EditProfiles)?;
    let actor = caller.actor();
    let b = body.into_inner();
    let req = EsnChangeRequest {
        from: b.from,
        to: b.to,
        variant: b.variant,
        make: b.make,
        model: b.model,
        firmware_version: b.firmware_version,
    };
    let c = state
        .db
        .run(move |conn| esn_change::request(conn, &actor, &req))
        .await?;
    Ok(HttpResponse::Created().json(c))
}

async fn esn_change_cancel(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
) -> ApiResult {
    caller.require(Permission::EditProfiles)?;
    let actor = caller.actor();
    let id = path.into_inner();
    let c = state
        .db
        .run(move |conn| esn_change::cancel(conn, &actor, id))
        .await?;
    Ok(HttpResponse::Ok().json(c))
}

async fn esn_changes_of(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
    q: web::Query<PageQuery>,
) -> ApiResult {
    caller.require(Permission::ViewRegistry)?;
    let id = path.into_inner();
    let (after, limit) = (q.after, q.limit(100, 500));
    let items = state
        .db
        .run(move |c| -> Result<_, crate::registry::RegistryError> {
            // An empty list would say the subscriber exists and never changed handsets.
            crate::registry::profile::get(c, id)?;
            Ok(esn_change::page_for_profile(c, id, after, limit + 1)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(paged(items, limit, |e| e.id)))
}

fn push_context(state: &AppState, req: &HttpRequest) -> PushContext {
    PushContext {
        base_url: crate::web::omadm::base_url(state, req),
        max_parts: state.config.sms_max_parts,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StarCodeBody {
    device: String,
}

/// The star-code activation an IVR (or care) asks for.
async fn star_code(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Json<StarCodeBody>,
) -> ApiResult {
    caller.require(Permission::EditDevices)?;
    let actor = caller.actor();
    let ctx = push_context(&state, &req);
    let welcome = state.config.iota_welcome.clone();
    let device = body.into_inner().device;
    let s = state
        .db
        .run(move |c| driver::start_star_code(c, &actor, &device, welcome.as_deref(), &ctx))
        .await?;
    if let Some(m) = &state.messaging {
        m.wake();
    }
    Ok(HttpResponse::Accepted().json(s))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OtapaBody {
    device: String,
    prl_id: i32,
}

async fn otapa(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Json<OtapaBody>,
) -> ApiResult {
    caller.require(Permission::EditDevices)?;
    let actor = caller.actor();
    let ctx = push_context(&state, &req);
    let b = body.into_inner();
    let s = state
        .db
        .run(move |c| driver::start_otapa(c, &actor, &b.device, b.prl_id, &ctx))
        .await?;
    if let Some(m) = &state.messaging {
        m.wake();
    }
    Ok(HttpResponse::Accepted().json(s))
}

#[derive(Deserialize)]
struct SessionsQuery {
    device_id: Option<i64>,
    profile_id: Option<i64>,
    flow: Option<String>,
    state: Option<String>,
    /// The previous page's `next_after`: older sessions come next.
    after: Option<i64>,
    limit: Option<i64>,
}

async fn sessions(
    state: web::Data<AppState>,
    caller: ApiCaller,
    q: web::Query<SessionsQuery>,
) -> ApiResult {
    caller.require(Permission::ViewRegistry)?;
    let q = q.into_inner();
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let query = SessionQuery {
        device_id: q.device_id,
        profile_id: q.profile_id,
        flow: q.flow,
        state: q.state,
        before: q.after,
        limit: limit + 1,
    };
    let items = state
        .db
        .run(move |c| session::search(c, &query).map_err(IotaError::from))
        .await?;
    Ok(HttpResponse::Ok().json(paged(items, limit, |s| s.id)))
}

async fn prls(state: web::Data<AppState>, caller: ApiCaller) -> ApiResult {
    caller.require(Permission::ViewRegistry)?;
    let items = state
        .db
        .run(|c| prl_store::list(c).map_err(IotaError::from))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}
