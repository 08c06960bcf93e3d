//! Firmware repository resources.

use actix_web::{web, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::caller::ApiCaller;
use super::error::ApiError;
use super::{paged, PageQuery};
use crate::auth::Permission;
use crate::firmware::blobs::BlobStore;
use crate::firmware::package::{self, PackageDraft, PackageState};
use crate::firmware::FirmwareError;
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/firmware/packages", web::get().to(list))
        .route("/firmware/packages", web::post().to(upload))
        .route("/firmware/packages/{id}", web::get().to(get))
        .route(
            "/firmware/packages/{id}/state",
            web::post().to(change_state),
        )
        .route("/firmware/update", web::get().to(find_update));
}

impl From<FirmwareError> for ApiError {
    fn from(e: FirmwareError) -> Self {
        match e {
            FirmwareError::Invalid(f) => ApiError::Invalid(f),
            FirmwareError::NotFound(m) => ApiError::NotFound(format!("{m} not found")),
            FirmwareError::Transition(m) => ApiError::Conflict(m),
            FirmwareError::TooLarge(_) | FirmwareError::HashMismatch { .. } => {
                ApiError::BadRequest(e.to_string())
            }
            FirmwareError::Db(d) => ApiError::Internal(d.to_string()),
            FirmwareError::Io(io) => ApiError::Internal(io.to_string()),
        }
    }
}

/// Packages newest first, by pages: uploads accumulate for as long as the
/// repository lives.
async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewRegistry)?;
    let (after, limit) = (q.after, q.limit(100, 500));
    let items = state
        .db
        .run(move |c| package::page(c, after, limit + 1).map_err(FirmwareError::from))
        .await?;
    Ok(HttpResponse::Ok().json(paged(items, limit, |p| p.id)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    make: Option<String>,
    model: Option<String>,
    from_version: Option<String>,
    to_version: Option<String>,
    name: Option<String>,
    release_notes: Option<String>,
    mandatory: Option<bool>,
    /// When given, the upload is refused unless the body has this SHA-256.
    sha256: Option<String>,
}

/// The package file is the request body; its description is in the query.
async fn upload(
    state: web::Data<AppState>,
    caller: ApiCaller,
    q: web::Query<UploadQuery>,
    mut body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageFirmware)?;
    let q = q.into_inner();
    let checked = PackageDraft {
        name: q.name,
        make: q.make,
        model: q.model,
        from_version: q.from_version,
        to_version: q.to_version,
        release_notes: q.release_notes,
        mandatory: q.mandatory,
    }
    .check()?;
    let limit = state.config.package_limit as u64;
    let store = BlobStore::of(&state.config);
    let expected = q.sha256;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<web::Bytes>(8);
    let writer = tokio::task::spawn_blocking(move || -> Result<_, FirmwareError> {
        let mut w = store.writer(limit)?;
        while let Some(chunk) = rx.blocking_recv() {
            w.write(&chunk)?;
        }
        if w.size() == 0 {
            return Err(FirmwareError::invalid(
                "body",
                "the request body must be the package file",
            ));
        }
        w.finish(expected.as_deref())
    });
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("upload interrupted: {e}")))?;
        if tx.send(chunk).await.is_err() {
            break;
        }
    }
    drop(tx);
    let blob = writer
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let actor = caller.actor();
    let p = state
        .db
        .run(move |c| package::create(c, &actor, &checked, &blob))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/firmware/packages/{}", p.id)))
        .json(p))
}

async fn get(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewRegistry)?;
    let id = path.into_inner();
    let (p, revisions) = state
        .db
        .run(move |c| -> Result<_, FirmwareError> {
            Ok((package::get(c, id)?, package::revisions(c, id)?))
        })
        .await?;
    let mut body = serde_json::to_value(&p).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["revisions"] = json!(revisions);
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateChange {
    state: String,
    #[serde(default)]
    note: String,
}

async fn change_state(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
    body: web::Json<StateChange>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ManageFirmware)?;
    let id = path.into_inner();
    let to = PackageState::parse(&body.state).ok_or_else(|| {
        ApiError::Invalid(
            [(
                "state".to_string(),
                "must be draft, testing, released or withdrawn".to_string(),
            )]
            .into(),
        )
    })?;
    let note = body.note.clone();
    let actor = caller.actor();
    let p = state
        .db
        .run(move |c| package::transition(c, &actor, id, to, &note))
        .await?;
    Ok(HttpResponse::Ok().json(p))
}

#[derive(Deserialize)]
struct UpdateQuery {
    make: String,
    model: String,
    version: String,
}

/// The released package a device at this make-model-version would get.
async fn find_update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    q: web::Query<UpdateQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::ViewRegistry)?;
    let q = q.into_inner();
    let found = state
        .db
        .run(move |c| {
            package::find_update(c, &q.make, &q.model, &q.version).map_err(FirmwareError::from)
        })
        .await?;
    match found {
        Some(p) => Ok(HttpResponse::Ok().json(json!({"update": true, "package": p}))),
        None => Ok(HttpResponse::Ok().json(json!({"update": false, "package": null}))),
    }
}
