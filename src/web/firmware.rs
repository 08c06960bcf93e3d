//! Firmware Management: the package repository (upload, lifecycle, revision
//! history, install reports), the per-model update-path matrix, the firmware
//! versions in the field; and the device-facing download endpoints.

use actix_multipart::Multipart;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use futures_util::StreamExt;

use super::forms::{Filled, FormData};
use super::session::{flash, Area, CurrentUser, PageCtx};
use super::{redirect, render, render_status, AppState, WebError};
use crate::auth::Permission;
use crate::firmware::blobs::BlobStore;
use crate::firmware::descriptor::{Descriptor, DD_MEDIA_TYPE, PACKAGE_TYPE};
use crate::firmware::package::{
    self, InstallNotification, Package, PackageDraft, PackageState, Revision,
};
use crate::firmware::{install_status, FirmwareError};
use crate::registry::capability::{self, Capability};
use crate::registry::stats::{self, VersionCount};
use crate::registry::{version, Actor, RegistryError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/firmware", web::get().to(landscape))
        .route("/firmware/packages/new", web::get().to(new_form))
        .route("/firmware/packages/new", web::post().to(upload))
        .route("/firmware/packages/{id}", web::get().to(detail))
        .route(
            "/firmware/packages/{id}/state",
            web::post().to(change_state),
        )
        .route("/firmware/packages/{id}/notes", web::post().to(edit_notes));
}

/// What handsets fetch and report to: the package, its descriptor and the
/// install notification.
pub fn device_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dl/{id}/package", web::get().to(download))
        .route("/dl/{id}/package", web::head().to(download))
        .route("/dl/{id}/dd", web::get().to(descriptor))
        .route("/dl/{id}/dd", web::head().to(descriptor))
        .route("/dl/{id}/notify", web::post().to(install_notify));
}

impl From<FirmwareError> for WebError {
    fn from(e: FirmwareError) -> Self {
        match e {
            FirmwareError::NotFound(m) => WebError::NotFound(format!("{m} not found")),
            FirmwareError::Transition(m) => WebError::Conflict(m),
            FirmwareError::Db(d) => WebError::Internal(d.to_string()),
            FirmwareError::Io(io) => WebError::Internal(io.to_string()),
            other => WebError::BadRequest(other.to_string()),
        }
    }
}

// ---- Landscape and matrix -----------------------------------------------

pub struct VersionRow {
    pub version: String,
    pub count: i64,
    /// The version's share of the model's devices, as the page writes it.
    pub share: String,
    /// The share's bar width in percent.
    pub bar: String,
    pub fota: String,
    pub protocol: String,
    /// The released update a device at this version gets, if any.
    pub update: Option<(i64, String)>,
}

pub struct ModelVersions {
    pub make: String,
    pub model: String,
    pub total: i64,
    pub rows: Vec<VersionRow>,
}

#[derive(Template)]
#[template(path = "firmware/landscape.html")]
struct LandscapePage {
    ctx: PageCtx,
    models: Vec<ModelVersions>,
    packages: Vec<Package>,
}

impl LandscapePage {
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
}

fn capability_for<'a>(
    caps: &'a [Capability],
    make: &str,
    model: &str,
    v: &str,
) -> Option<&'a Capability> {
    caps.iter().find(|c| {
        c.make == make
            && c.model == model
            && version::in_range(v, c.version_min.as_deref(), c.version_max.as_deref())
    })
}

/// Groups field versions per model and adds the versions packages start
/// from, so the matrix shows every path that exists.
fn matrix(
    rows: Vec<VersionCount>,
    caps: &[Capability],
    packages: &[Package],
    conn: &mut crate::db::DbConnection,
) -> Result<Vec<ModelVersions>, RegistryError> {
    let mut all = rows;
    for p in packages {
        if let Some(f) = &p.from_version {
            if !all
                .iter()
                .any(|r| r.make == p.make && r.model == p.model && r.firmware_version == *f)
            {
                all.push(VersionCount {
                    make: p.make.clone(),
                    model: p.model.clone(),
                    firmware_version: f.clone(),
                    count: 0,
                });
            }
        }
    }
    all.sort_by(|a, b| {
        (a.make.as_str(), a.model.as_str())
            .cmp(&(b.make.as_str(), b.model.as_str()))
            .then_with(|| version::compare(&a.firmware_version, &b.firmware_version))
    });
    let mut out: Vec<ModelVersions> = Vec::new();
    for r in all {
        let cap = capability_for(caps, &r.make, &r.model, &r.firmware_version);
        let update = package::find_update(conn, &r.make, &r.model, &r.firmware_version)?.map(|p| {
            (
                p.id,
                format!(
                    "{} ({})",
                    p.to_version,
                    if p.is_full_image() {
                        "full image"
                    } else {
                        "delta"
                    }
                ),
            )
        });
        let row = VersionRow {
            version: r.firmware_version.clone(),
            count: r.count,
            share: String::new(),
            bar: String::new(),
            fota: match cap {
                Some(c) if c.fota => "yes".into(),
                Some(_) => "no".into(),
                None => "unknown".into(),
            },
            protocol: cap
                .map(|c| c.protocol().label().to_string())
                .unwrap_or_else(|| "—".into()),
            update,
        };
        match out.last_mut() {
            Some(m) if m.make == r.make && m.model == r.model => {
                m.total += r.count;
                m.rows.push(row);
            }
            _ => out.push(ModelVersions {
                make: r.make,
                model: r.model,
                total: r.count,
                rows: vec![row],
            }),
        }
    }
    for m in &mut out {
        for r in &mut m.rows {
            r.share = share_label(r.count, m.total);
            r.bar = if m.total > 0 {
                format!("{:.1}", r.count as f64 * 100.0 / m.total as f64)
            } else {
                "0".into()
            };
        }
    }
    Ok(out)
}

/// A version's share of its model, rounded to the nearest percent, with
/// one decimal below 1 % and above 99 % so that a handful of devices on an
/// old version neither vanish as "0 %" nor make the rest look like all of
/// them; "<0.1 %" and ">99.9 %" where even a decimal would say 0 or 100.
fn share_label(count: i64, total: i64) -> String {
    if total <= 0 || count <= 0 {
        return "0 %".into();
    }
    if count >= total {
        return "100 %".into();
    }
    let pct = count as f64 * 100.0 / total as f64;
    let tenths = (pct * 10.0).round();
    if tenths < 1.0 {
        "<0.1 %".into()
    } else if tenths >= 1000.0 {
        ">99.9 %".into()
    } else if !(1.0..=99.0).contains(&pct) {
        format!("{:.1} %", tenths / 10.0)
    } else {
        format!("{} %", pct.round())
    }
}

async fn landscape(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageFirmware)?;
    let (models, packages) = state
        .db
        .run(|c| -> Result<_, RegistryError> {
            let rows = stats::versions(c)?;
            let caps = capability::list(c)?;
            let packages = package::list(c)?;
            Ok((matrix(rows, &caps, &packages, c)?, packages))
        })
        .await?;
    render(&LandscapePage {
        ctx: user.ctx(Area::Firmware),
        models,
        packages,
    })
}

// ---- Upload --------------------------------------------------------------

#[derive(Template)]
#[template(path = "firmware/upload.html")]
struct UploadPage {
    ctx: PageCtx,
    f: Filled,
    error: String,
    limit: usize,
}

impl UploadPage {
    fn limit_text(&self) -> String {
        super::labels::byte_size(self.limit as u64)
    }
}

async fn new_form(state: web::Data<AppState>, user: CurrentUser) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageFirmware)?;
    render(&UploadPage {
        ctx: user.ctx(Area::Firmware),
        f: Filled::default(),
        error: String::new(),
        limit: state.config.package_limit,
    })
}

/// Streams the multipart upload straight into the blob store on a blocking
/// thread; the form fields come first in the form, the file last.
async fn upload(
    state: web::Data<AppState>,
    user: CurrentUser,
    mut payload: Multipart,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageFirmware)?;
    let limit = state.config.package_limit as u64;
    let store = BlobStore::of(&state.config);
    let mut fields = FormData::new();
    let mut stored = None;
    let mut failure: Option<FirmwareError> = None;
    while let Some(field) = payload.next().await {
        let mut field =
            field.map_err(|e| WebError::BadRequest(format!("unreadable upload: {e}")))?;
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            if fields
                .get("csrf")
                .map(|c| user.check_csrf(c))
                .transpose()?
                .is_none()
            {
                return Err(WebError::Csrf);
            }
            let (tx, mut rx) = tokio::sync::mpsc::channel::<web::Bytes>(8);
            let store = store.clone();
            // Left unfinished (a temp file) until the fields are checked: a
            // refused upload must leave nothing in the store.
            let writer = tokio::task::spawn_blocking(move || -> Result<_, FirmwareError> {
                let mut w = store.writer(limit)?;
                while let Some(chunk) = rx.blocking_recv() {
                    w.write(&chunk)?;
                }
                if w.size() == 0 {
                    return Err(FirmwareError::invalid("file", "choose a package file"));
                }
                Ok(w)
            });
            while let Some(chunk) = field.next().await {
                let chunk =
                    chunk.map_err(|e| WebError::BadRequest(format!("unreadable upload: {e}")))?;
                if tx.send(chunk).await.is_err() {
                    break; // the writer stopped: too large or disk error
                }
            }
            drop(tx);
            match writer.await {
                Ok(Ok(b)) => stored = Some(b),
                Ok(Err(e)) => failure = Some(e),
                Err(e) => return Err(WebError::Internal(e.to_string())),
            }
        } else {
            let mut buf = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk =
                    chunk.map_err(|e| WebError::BadRequest(format!("unreadable upload: {e}")))?;
                if buf.len() + chunk.len() > 64 * 1024 {
                    return Err(WebError::BadRequest(format!("field {name} is too long")));
                }
                buf.extend_from_slice(&chunk);
            }
            fields.insert(name, String::from_utf8_lossy(&buf).into_owned());
        }
    }
    user.check_form(&fields)?;
    let draft = PackageDraft {
        name: fields.get("name").cloned(),
        make: fields.get("make").cloned(),
        model: fields.get("model").cloned(),
        from_version: fields.get("from_version").cloned(),
        to_version: fields.get("to_version").cloned(),
        release_notes: fields.get("release_notes").cloned(),
        mandatory: Some(fields.get("mandatory").is_some_and(|v| v == "on")),
    };
    let outcome = match (draft.check(), stored, failure) {
        (Err(e), stored, _) | (_, stored, Some(e)) => {
            // Dropping the unfinished writer removes its temp file.
            if let Some(w) = stored {
                let _ = tokio::task::spawn_blocking(move || drop(w)).await;
            }
            Err(e)
        }
        (Ok(checked), Some(w), None) => {
            match tokio::task::spawn_blocking(move || w.finish(None)).await {
                Ok(Ok(blob)) => {
                    let actor = user.actor();
                    state
                        .db
                        .run(move |c| package::create(c, &actor, &checked, &blob))
                        .await
                }
                Ok(Err(e)) => Err(e),
                Err(e) => return Err(WebError::Internal(e.to_string())),
            }
        }
        (Ok(_), None, None) => Err(FirmwareError::invalid("file", "choose a package file")),
    };
    match outcome {
        Ok(p) => {
            tracing::info!(package = p.id, sha256 = %p.sha256, size = p.size, "firmware package uploaded");
            flash(
                &user.session,
                "success",
                format!("Package {} uploaded as a draft.", p.name),
            );
            Ok(redirect(&format!("/firmware/packages/{}", p.id)))
        }
        Err(e) => {
            let (errors, message, status) = match e {
                FirmwareError::Invalid(errors) => (
                    errors,
                    "Please correct the fields marked below.".to_string(),
                    422,
                ),
                FirmwareError::TooLarge(_) | FirmwareError::HashMismatch { .. } => {
                    (Default::default(), format!("{e}."), 413)
                }
                FirmwareError::Transition(m) => (Default::default(), m, 409),
                other => return Err(other.into()),
            };
            tracing::warn!(user = %user.name, error = %message, "package upload rejected");
            fields.remove("csrf");
            render_status(
                actix_web::http::StatusCode::from_u16(status)
                    .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
                &UploadPage {
                    ctx: user.ctx(Area::Firmware),
                    f: Filled::new(fields, errors),
                    error: message,
                    limit: state.config.package_limit,
                },
            )
        }
    }
}

// ---- Package detail and lifecycle ----------------------------------------

#[derive(Template)]
#[template(path = "firmware/package.html")]
struct PackagePage {
    ctx: PageCtx,
    p: Package,
    revisions: Vec<Revision>,
    installs: Vec<InstallNotification>,
    next: Vec<&'static str>,
    base: String,
    /// The release notes in the form: the stored ones, or what was typed
    /// when they were refused.
    notes: String,
    notes_error: String,
}

impl PackagePage {
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
}

pub fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

async fn detail(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageFirmware)?;
    let page = package_page(&state, &user, &req, path.into_inner(), None).await?;
    render(&page)
}

/// The package page; `refused` carries the notes a firmware manager typed
/// and why they were not saved, to show them again in the form.
async fn package_page(
    state: &AppState,
    user: &CurrentUser,
    req: &HttpRequest,
    id: i64,
    refused: Option<(String, String)>,
) -> Result<PackagePage, WebError> {
    let (p, revisions, installs) = state
        .db
        .run(move |c| -> Result<_, FirmwareError> {
            Ok((
                package::get(c, id)?,
                package::revisions(c, id)?,
                package::installs(c, id, 50)?,
            ))
        })
        .await?;
    let next = p.state().next().iter().map(|s| s.as_str()).collect();
    let (notes, notes_error) = refused.unwrap_or_else(|| (p.release_notes.clone(), String::new()));
    Ok(PackagePage {
        ctx: user.ctx(Area::Firmware),
        p,
        revisions,
        installs,
        next,
        // What handsets are given (the descriptor's links), not the
        // address this page was reached at.
        base: super::omadm::base_url(state, req),
        notes,
        notes_error,
    })
}

async fn change_state(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageFirmware)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let to = form
        .get("state")
        .and_then(|s| PackageState::parse(s))
        .ok_or_else(|| {
            WebError::BadRequest("state must be draft, testing, released or withdrawn".into())
        })?;
    let note = form.get("note").cloned().unwrap_or_default();
    let actor = user.actor();
    match state
        .db
        .run(move |c| package::transition(c, &actor, id, to, &note))
        .await
    {
        Ok(p) => flash(
            &user.session,
            "success",
            format!("Package {} is now {}.", p.name, to.as_str()),
        ),
        Err(FirmwareError::Transition(m)) => flash(&user.session, "error", m),
        Err(e) => return Err(e.into()),
    }
    Ok(redirect(&format!("/firmware/packages/{id}")))
}

async fn edit_notes(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageFirmware)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let notes = form.get("release_notes").cloned().unwrap_or_default();
    let mandatory = form.get("mandatory").is_some_and(|v| v == "on");
    let actor = user.actor();
    let typed = notes.clone();
    match state
        .db
        .run(move |c| package::edit_notes(c, &actor, id, &notes, mandatory))
        .await
    {
        Ok(_) => {
            flash(&user.session, "success", "Release notes saved.");
            Ok(redirect(&format!("/firmware/packages/{id}")))
        }
        Err(FirmwareError::Invalid(errors)) => {
            let why = errors
                .get("release_notes")
                .cloned()
                .unwrap_or_else(|| FirmwareError::Invalid(errors).to_string());
            tracing::info!(package = id, error = %why, "release notes refused");
            let page = package_page(&state, &user, &req, id, Some((typed, why))).await?;
            render_status(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

// ---- Device-facing downloads --------------------------------------------

async fn downloadable(state: &AppState, id: i64) -> Result<Package, WebError> {
    let p = state.db.run(move |c| package::get(c, id)).await?;
    if !p.state().downloadable() {
        // Drafts and withdrawn packages do not exist as far as devices know.
        return Err(WebError::NotFound(format!("package {id} not found")));
    }
    Ok(p)
}

async fn download(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    // The descriptor's objectURI names the FOTA session the download is
    // for: its progress is recorded so the sweeper can tell a download the
    // handset dropped from one still running. A missing, malformed or
    // foreign link records nothing; the package is served all the same
    // (devices given a plain package URL still download).
    let named = (req.method() == actix_web::http::Method::GET)
        .then(|| web::Query::<FotaParam>::from_query(req.query_string()).ok())
        .flatten()
        .and_then(|q| {
            let FotaParam { fota, key } = q.into_inner();
            fota.map(|f| (f, key))
        });
    let store = BlobStore::of(&state.config);
    // The file is looked for on the same blocking thread as the rows.
    let (p, link, file, present) = state
        .db
        .run(move |c| -> Result<_, FirmwareError> {
            let p = package::get(c, id)?;
            let link = match named {
                Some((f, key)) if p.state().downloadable() => {
                    crate::fota::session::download_link(c, f, id, key.as_deref())?
                }
                _ => None,
            };
            let file = store.path(&p.sha256);
            let present = p.state().downloadable() && file.is_file();
            Ok((p, link, file, present))
        })
        .await?;
    if !p.state().downloadable() {
        // Drafts and withdrawn packages do not exist as far as devices know.
        return Err(WebError::NotFound(format!("package {id} not found")));
    }
    if !present {
        // The database offers the package but this node's store lacks its
        // file (a store not shared between nodes, or a lost file). A 404
        // would make the handset give up on the update for good; a 503 has
        // it try again, perhaps on a node that has the file.
        tracing::error!(
            package = p.id,
            name = %p.name,
            file = %file.display(),
            "package file missing from this node's blob store (MDM_BLOB_DIR): handsets are told to retry"
        );
        return Ok(HttpResponse::ServiceUnavailable()
            .insert_header((actix_web::http::header::RETRY_AFTER, "300"))
            .content_type("text/plain; charset=utf-8")
            .body("package file not available on this server yet; try again later"));
    }
    let progress = link.map(|link| {
        Box::new(DownloadActivity {
            db: state.db.clone(),
            runtime: tokio::runtime::Handle::current(),
            link,
            started: crate::db::now_ms(),
        }) as Box<dyn super::ranged::Progress>
    });
    Ok(super::ranged::serve_tracked(&req, file, &p.sha256, PACKAGE_TYPE, progress).await)
}

/// Records a FOTA session's download activity as its package streams: at
/// most one write a minute (see `DownloadLink::due`), made off the
/// streaming thread so a slow database never slows the download.
struct DownloadActivity {
    db: crate::db::Db,
    runtime: tokio::runtime::Handle,
    link: crate::fota::session::DownloadLink,
    started: i64,
}

impl super::ranged::Progress for DownloadActivity {
    fn reached(&mut self, from: u64, at: u64, size: u64, done: bool) {
        let now = crate::db::now_ms();
        let bytes = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let (from, at, size) = (bytes(from), bytes(at), bytes(size));
        if !self.link.due(now, self.started, at, size, done) {
            return;
        }
        let link = self.link.clone();
        self.link.recorded_at = Some(now);
        self.link.recorded_bytes = Some(at);
        let db = self.db.clone();
        self.runtime.spawn(async move {
            let id = link.session_id;
            let recorded = db
                .run(move |c| crate::fota::session::record_download(c, &link, now, from, at, size))
                .await;
            if let Err(e) = recorded {
                tracing::warn!(fota_session = id, error = %e, "recording download activity failed");
            }
        });
    }
}

#[derive(serde::Deserialize)]
struct FotaParam {
    /// The FOTA session the download belongs to, when a session offered it.
    fota: Option<i64>,
    /// The session's correlator, which only the offered handset was told:
    /// session ids are sequential, so the id alone would let anyone move a
    /// stranger's session with a forged install notification.
    key: Option<String>,
}

impl FotaParam {
    /// The query that carries the session from the descriptor to its
    /// installNotifyURI.
    fn to_query(&self) -> String {
        let Some(f) = self.fota else {
            return String::new();
        };
        match &self.key {
            Some(k) => format!(
                "?fota={f}&key={}",
                url::form_urlencoded::byte_serialize(k.as_bytes()).collect::<String>()
            ),
            None => format!("?fota={f}"),
        }
    }
}

async fn descriptor(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<i64>,
    q: web::Query<FotaParam>,
) -> Result<HttpResponse, WebError> {
    let p = downloadable(&state, path.into_inner()).await?;
    let base = super::omadm::base_url(&state, &req);
    let session = q.to_query();
    let dd = Descriptor {
        name: p.name.clone(),
        vendor: p.make.clone(),
        size: p.size as u64,
        // The package URL names the session too, so the download's
        // progress is recorded against it.
        object_uri: format!("{base}/dl/{}/package{session}", p.id),
        install_notify_uri: format!("{base}/dl/{}/notify{session}", p.id),
        description: p.release_notes.clone(),
        media_type: PACKAGE_TYPE.into(),
        install_param: Some(format!("version={}", p.to_version)),
    };
    Ok(HttpResponse::Ok()
        .content_type(DD_MEDIA_TYPE)
        .body(dd.to_xml()))
}

/// The device's install status (OMA DLOTA 9xx codes). Devices understand
/// only the status line of the answer, so every answer is plain text.
async fn install_notify(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let plain = |status: actix_web::http::StatusCode, text: String| {
        HttpResponse::build(status)
            .content_type("text/plain")
            .body(text)
    };
    // Read here rather than by extractors, whose refusals are the portal's
    // HTML pages.
    let Some(id) = req
        .match_info()
        .get("id")
        .and_then(|v| v.parse::<i64>().ok())
    else {
        return plain(
            actix_web::http::StatusCode::NOT_FOUND,
            "unknown package".into(),
        );
    };
    let FotaParam { fota: fota_id, key } =
        match web::Query::<FotaParam>::from_query(req.query_string()) {
            Ok(q) => q.into_inner(),
            Err(e) => {
                tracing::warn!(
                    package = id,
                    query = %crate::logging::mask_query(req.query_string()),
                    "bad install notification query"
                );
                return plain(
                    actix_web::http::StatusCode::BAD_REQUEST,
                    format!("bad query: {e}"),
                );
            }
        };
    let text = String::from_utf8_lossy(&body[..body.len().min(1024)]).into_owned();
    let status = match install_status::parse(&text) {
        Ok(s) => s,
        Err(m) => {
            tracing::warn!(package = id, body = %text, "bad install notification");
            return plain(actix_web::http::StatusCode::BAD_REQUEST, m);
        }
    };
    let remote = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let outcome = state
        .db
        // The session's new state and the notification land together or not at all.
        .run_write(move |c| -> Result<bool, FirmwareError> {
            if let Some(f) = fota_id {
                use crate::fota::session::{report_download, DownloadReport};
                match report_download(c, f, id, key.as_deref(), status.code, status.text) {
                    // A late report (the session was closed as a
                    // stalled download) is kept in its history.
                    Ok(DownloadReport::Applied | DownloadReport::Late) => {}
                    // Already recorded with the first report.
                    Ok(DownloadReport::Repeated) => return Ok(false),
                    Err(crate::fota::FotaError::NotFound(_)) => {
                        return Err(FirmwareError::NotFound(format!(
                            "open FOTA session {f} for package {id}"
                        )))
                    }
                    Err(e) => return Err(FirmwareError::Transition(e.to_string())),
                }
            }
            package::record_install(c, id, status.code, status.text, &remote)?;
            Ok(true)
        })
        .await;
    match outcome {
        Ok(recorded) => {
            tracing::info!(package = id, code = status.code, fota = ?fota_id, repeated = !recorded, "install notification");
            plain(actix_web::http::StatusCode::OK, "OK".into())
        }
        Err(FirmwareError::NotFound(m)) => {
            tracing::warn!(package = id, what = %m, "install notification for an unknown package or session");
            plain(
                actix_web::http::StatusCode::NOT_FOUND,
                format!("unknown {m}"),
            )
        }
        Err(e) => {
            tracing::error!(package = id, error = %e, "could not record install notification");
            plain(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "try again later".into(),
            )
        }
    }
}

/// Adds a package from a local file: used by `mdm firmware add`.
pub fn add_from_file(
    db: &crate::db::Db,
    blob_dir: &std::path::Path,
    actor: &Actor,
    draft: &PackageDraft,
    bytes: &[u8],
    release: bool,
    limit: u64,
) -> Result<Package, FirmwareError> {
    let checked = draft.check()?;
    // As the portal and the API refuse it: an empty file is no package.
    if bytes.is_empty() {
        return Err(FirmwareError::invalid("file", "the package file is empty"));
    }
    let blob = BlobStore::at(blob_dir).put(bytes, limit)?;
    let mut conn = db.get()?;
    let p = package::create(&mut conn, actor, &checked, &blob)?;
    if release {
        package::transition(
            &mut conn,
            actor,
            p.id,
            PackageState::Testing,
            "added with --release",
        )?;
        return package::transition(
            &mut conn,
            actor,
            p.id,
            PackageState::Released,
            "added with --release",
        );
    }
    Ok(p)
}

// ---- FOTA sessions -------------------------------------------------------

/// Days the FOTA sessions chart covers.
const CHART_DAYS: i64 = 14;

pub fn session_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/firmware/sessions", web::get().to(sessions))
        .route("/firmware/sessions/{id}", web::get().to(session_detail))
        .route(
            "/firmware/sessions/{id}/close",
            web::post().to(close_session),
        );
}

#[derive(Template)]
#[template(path = "firmware/sessions.html")]
struct SessionsPage {
    ctx: PageCtx,
    /// Firmware Management itself is for firmware managers: other roles
    /// see the sessions without links into it.
    manage: bool,
    /// The last fortnight's sessions by day and outcome.
    chart: super::fota_chart::OutcomeChart,
    rows: Vec<crate::fota::FotaSession>,
    /// The rows' handsets by device id.
    handsets: std::collections::HashMap<i64, crate::registry::device::Handset>,
    state: String,
    protocol: String,
    states: Vec<&'static str>,
    next: Option<String>,
    /// The list's first page, when this is a later one.
    first_page: Option<String>,
}

impl SessionsPage {
    /// Sessions page forward only (newest first) and go uncounted: the
    /// table grows with every update ever run.
    fn pager(&self) -> super::pager::Pager {
        let mut p = super::pager::Pager::new(("session", "sessions"), self.rows.len());
        p.next = self.next.clone();
        p.first = self.first_page.clone();
        p
    }

    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }

    fn handset(&self, device_id: &i64) -> Option<&crate::registry::device::Handset> {
        self.handsets.get(device_id)
    }
}

async fn sessions(
    state: web::Data<AppState>,
    user: CurrentUser,
    q: web::Query<crate::fota::session::SessionQuery>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewRegistry)?;
    let q = q.into_inner();
    // An unknown filter value is an error, not a quietly unfiltered list.
    if let Some(s) = q.state.as_deref().filter(|s| !s.is_empty()) {
        if crate::fota::session::FotaState::parse(s).is_none() {
            let known: Vec<&str> = crate::fota::session::FotaState::ALL
                .iter()
                .map(|f| f.as_str())
                .collect();
            return Err(super::error::bad_param("state", &known.join(", "), s));
        }
    }
    if let Some(p) = q.protocol.as_deref().filter(|p| !p.is_empty()) {
        if p != "omadm" && p != "iota" {
            return Err(super::error::bad_param("protocol", "omadm or iota", p));
        }
    }
    let query = q.clone();
    let (rows, handsets, days) = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            let rows = crate::fota::session::search(c, &query)?;
            let ids: Vec<i64> = rows.iter().map(|s| s.device_id).collect();
            Ok((
                rows,
                crate::registry::device::handsets(c, &ids)?,
                crate::fota::outcomes::daily(c, crate::db::now_ms(), CHART_DAYS)?,
            ))
        })
        .await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500) as usize;
    let filter = |k: &str, v: &Option<String>| {
        v.as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| {
                let s: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
                format!("{k}={s}&")
            })
            .unwrap_or_default()
    };
    // The next page keeps every filter of this one.
    let next = (rows.len() == limit).then(|| {
        format!(
            "/firmware/sessions?{}{}{}{}before={}",
            filter("state", &q.state),
            filter("protocol", &q.protocol),
            filter("device_id", &q.device_id.map(|d| d.to_string())),
            filter("limit", &q.limit.map(|_| limit.to_string())),
            rows.last().map(|r| r.id).unwrap_or(0)
        )
    });
    let first_page = q.before.map(|_| {
        format!(
            "/firmware/sessions?{}{}{}{}",
            filter("state", &q.state),
            filter("protocol", &q.protocol),
            filter("device_id", &q.device_id.map(|d| d.to_string())),
            filter("limit", &q.limit.map(|_| limit.to_string())),
        )
        .trim_end_matches(['&', '?'])
        .to_string()
    });
    render(&SessionsPage {
        ctx: user.ctx(Area::Firmware),
        manage: user.can(Permission::ManageFirmware),
        chart: super::fota_chart::OutcomeChart::new(&days),
        rows,
        handsets,
        state: q.state.unwrap_or_default(),
        protocol: q.protocol.unwrap_or_default(),
        states: crate::fota::FotaState::ALL
            .iter()
            .map(|s| s.as_str())
            .collect(),
        next,
        first_page,
    })
}

#[derive(Template)]
#[template(path = "firmware/session.html")]
struct SessionPage {
    ctx: PageCtx,
    manage: bool,
    /// Whether this user may close the session while it is open.
    can_close: bool,
    /// What the session offers, shown to every role that sees the session:
    /// care agents explain an update with its notes.
    package: Option<crate::firmware::package::Package>,
    s: crate::fota::FotaSession,
    events: Vec<crate::fota::session::FotaEvent>,
    device_label: String,
}

impl SessionPage {
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
}

async fn session_detail(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewRegistry)?;
    let id = path.into_inner();
    let (s, events, device, package) = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            let s = crate::fota::session::get(c, id)
                .map_err(|_| RegistryError::NotFound(format!("FOTA session {id}")))?;
            let events = crate::fota::session::events(c, id)?;
            let device = crate::registry::device::get(c, s.device_id)?;
            let package = match s.package_id {
                Some(p) => Some(package::get(c, p).map_err(|e| match e {
                    FirmwareError::Db(e) => RegistryError::Db(e),
                    other => RegistryError::NotFound(other.to_string()),
                })?),
                None => None,
            };
            Ok((s, events, device, package))
        })
        .await?;
    render(&SessionPage {
        ctx: user.ctx(Area::Firmware),
        manage: user.can(Permission::ManageFirmware),
        can_close: user.can(Permission::CloseFotaSessions) && !s.state().is_terminal(),
        package,
        s,
        events,
        device_label: device.label(),
    })
}

/// Closes a session its handset will not finish (a lost download, a handset
/// that went away), so the device can be updated again at once.
async fn close_session(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    use crate::fota::FotaError;
    user.require(Permission::CloseFotaSessions)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let reason = form.get("reason").cloned().unwrap_or_default();
    let actor = user.actor();
    match state
        .db
        .run(move |c| crate::fota::session::close_by_operator(c, &actor, id, &reason))
        .await
    {
        Ok(s) => {
            tracing::info!(fota_session = id, user = %user.name, "FOTA session closed by an operator");
            flash(
                &user.session,
                "success",
                format!(
                    "FOTA session {id} is closed; device {} can be updated again.",
                    s.device_id
                ),
            );
        }
        Err(FotaError::NotFound(_)) => {
            return Err(WebError::NotFound(format!("FOTA session {id} not found")))
        }
        Err(
            e @ (FotaError::Closed { .. } | FotaError::Invalid(_) | FotaError::Transition { .. }),
        ) => flash(&user.session, "error", e.to_string()),
        Err(e) => return Err(WebError::Internal(e.to_string())),
    }
    Ok(redirect(&format!("/firmware/sessions/{id}")))
}

#[cfg(test)]
mod tests {
    use super::share_label;

    #[test]
    fn shares_round_to_nearest_and_small_ones_do_not_vanish() {
        assert_eq!(share_label(2, 3), "67 %");
        assert_eq!(share_label(1, 3), "33 %");
        assert_eq!(share_label(1, 150), "0.7 %");
        assert_eq!(share_label(1, 1000), "0.1 %");
        assert_eq!(share_label(1, 2001), "<0.1 %");
        assert_eq!(share_label(2000, 2001), ">99.9 %");
        assert_eq!(share_label(149, 150), "99.3 %");
        assert_eq!(share_label(0, 150), "0 %");
        assert_eq!(share_label(150, 150), "100 %");
        assert_eq!(share_label(0, 0), "0 %");
    }
}
