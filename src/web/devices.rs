//! Device Administration: search, detail with timeline, create/edit, the
//! capability registry, POS CSV import and CSV export.

use std::sync::atomic::Ordering;

use actix_multipart::Multipart;
use actix_web::{web, HttpResponse};
use askama::Template;
use futures_util::StreamExt;

use super::csv_export;
use super::forms::{self, Filled, FormData};
use super::session::{Area, CurrentUser, PageCtx};
use super::{redirect, render, render_status, AppState, WebError};
use crate::auth::Permission;
use crate::registry::audit::{self, EntityKind};
use crate::registry::capability::{self, Capability, EsnSeries, EsnSeriesDraft, Protocol};
use crate::registry::device::{self, DeviceDraft, DevicePage, DeviceQuery, MatchCount};
use crate::registry::import::{self, ImportReport};
use crate::registry::lookup::{self, DeviceView};
use crate::registry::profile::ActivationState;
use crate::registry::{Actor, RegistryError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/devices", web::get().to(search))
        .route("/devices/export.csv", web::get().to(export))
        .route("/devices/new", web::get().to(new_form))
        .route("/devices/new", web::post().to(create))
        .route("/devices/import", web::get().to(import_form))
        .route("/devices/import", web::post().to(import_upload))
        .route("/devices/import/{id}", web::get().to(import_status))
        .route("/devices/{id}", web::get().to(detail))
        .route("/devices/{id}/edit", web::get().to(edit_form))
        .route("/devices/{id}/edit", web::post().to(update))
        .route("/devices/{id}/delete", web::post().to(delete))
        .route(
            "/devices/{id}/dm-credentials",
            web::post().to(dm_credentials),
        )
        .route("/capabilities", web::get().to(capabilities))
        .route("/capabilities/new", web::get().to(capability_new_form))
        .route("/capabilities/new", web::post().to(capability_create))
        .route(
            "/capabilities/{id}/edit",
            web::get().to(capability_edit_form),
        )
        .route("/capabilities/{id}/edit", web::post().to(capability_update))
        .route(
            "/capabilities/{id}/delete",
            web::post().to(capability_delete),
        )
        .route("/capabilities/series", web::post().to(series_create))
        .route(
            "/capabilities/series/{id}/delete",
            web::post().to(series_delete),
        );
}

#[derive(Template)]
#[template(path = "devices/search.html")]
struct SearchPage {
    ctx: PageCtx,
    q: DeviceQuery,
    page: Option<DevicePage>,
    /// All the devices the search matches, not only this page's.
    total: Option<MatchCount>,
    error: String,
    query_string: String,
    can_edit: bool,
    can_import: bool,
}

impl SearchPage {
    fn prev_link(&self) -> Option<String> {
        let page = self.page.as_ref()?;
        let first = page.rows.first()?;
        page.has_previous
            .then(|| format!("/devices?{}&before={}", self.query_string, first.device.id))
    }
    fn next_link(&self) -> Option<String> {
        let page = self.page.as_ref()?;
        let last = page.rows.last()?;
        page.has_more
            .then(|| format!("/devices?{}&after={}", self.query_string, last.device.id))
    }
    fn field(&self, v: &Option<String>) -> String {
        v.clone().unwrap_or_default()
    }
    fn states(&self) -> [ActivationState; 3] {
        ActivationState::ALL
    }
    fn state_chosen(&self, s: &ActivationState) -> bool {
        self.q.state.as_deref().map(str::trim) == Some(s.as_str())
    }
    /// For the results table's caption, in the pager's words.
    fn total_text(&self) -> String {
        let text = self.pager().total_text();
        let mut chars = text.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    }
    fn pager(&self) -> super::pager::Pager {
        let mut p = super::pager::Pager::new(
            ("device", "devices"),
            self.page.as_ref().map_or(0, |p| p.rows.len()),
        );
        p.prev = self.prev_link();
        p.next = self.next_link();
        p.total = self.total.map(|t| super::pager::Total {
            count: t.count,
            more: t.more,
        });
        p
    }
}

fn query_string(q: &DeviceQuery) -> String {
    super::pager::filters([
        ("esn", &q.esn),
        ("meid", &q.meid),
        ("mdn", &q.mdn),
        ("min", &q.min),
        ("make", &q.make),
        ("model", &q.model),
        ("version", &q.version),
        ("state", &q.state),
    ])
    .finish()
}

async fn search(
    state: web::Data<AppState>,
    user: CurrentUser,
    q: web::Query<DeviceQuery>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewRegistry)?;
    let q = q.into_inner();
    let query = q.clone();
    let result = state
        .db
        .run(move |c| device::search_counted(c, &query, device::COUNT_CAP))
        .await;
    let (page, total, error) = match result {
        Ok((p, t)) => (Some(p), Some(t), String::new()),
        Err(RegistryError::Invalid(e)) => (
            None,
            None,
            e.iter()
                .map(|(k, v)| format!("{}: {v}", k.to_uppercase()))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Err(e) => return Err(e.into()),
    };
    let status = if error.is_empty() {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::BAD_REQUEST
    };
    render_status(
        status,
        &SearchPage {
            ctx: user.ctx(Area::Devices),
            query_string: query_string(&q),
            q,
            page,
            total,
            error,
            can_edit: user.can(Permission::EditDevices),
            can_import: user.can(Permission::Import),
        },
    )
}

/// Streams every matching device as CSV, fetched in keyset batches so a
/// million-row export never sits in memory.
async fn export(
    state: web::Data<AppState>,
    user: CurrentUser,
    q: web::Query<DeviceQuery>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewRegistry)?;
    let mut q = q.into_inner();
    q.after = None;
    q.before = None;
    q.limit = Some(1000);
    // Validate first so a bad filter is an error page, not a broken download.
    let probe = q.clone();
    state
        .db
        .run(move |c| {
            device::search(
                c,
                &DeviceQuery {
                    limit: Some(1),
                    ..probe
                },
            )
        })
        .await?;
    tracing::info!(user = %user.name, filter = %query_string(&q), "device export started");
    let header = "esn,esn_decimal,meid,pesn,make,model,firmware_version,mdn,min,subscriber_name,activation_state,line_activation_state,last_contact,last_protocol\n";
    Ok(csv_export::stream(
        state.db.clone(),
        "devices.csv",
        header.into(),
        move |conn, after| {
            q.after = (after > 0).then_some(after);
            let page = device::search(conn, &q).map_err(|e| e.to_string())?;
            let bytes = csv_export::rows(page.rows.iter().map(|r| {
                let d = &r.device;
                [
                    d.esn.clone().unwrap_or_default(),
                    d.esn_decimal().unwrap_or_default(),
                    d.meid.clone().unwrap_or_default(),
                    d.pesn.clone().unwrap_or_default(),
                    d.make.clone(),
                    d.model.clone(),
                    d.firmware_version.clone(),
                    r.mdn.clone().unwrap_or_default(),
                    r.min.clone().unwrap_or_default(),
                    r.subscriber_name.clone().unwrap_or_default(),
                    d.activation_state.clone(),
                    r.line_activation_state.clone().unwrap_or_default(),
                    d.last_contact_at
                        .map(crate::timefmt::iso)
                        .unwrap_or_default(),
                    d.last_protocol.clone().unwrap_or_default(),
                ]
            }));
            let next = match (page.has_more, page.rows.last()) {
                (true, Some(last)) => Some(last.device.id),
                _ => None,
            };
            Ok((bytes, next))
        },
    ))
}

#[derive(Template)]
#[template(path = "devices/detail.html")]
struct DetailPage {
    ctx: PageCtx,
    v: DeviceView,
    timeline: Vec<audit::AuditLine>,
    fota: Vec<crate::fota::FotaSession>,
    campaigns: Vec<(crate::fota::campaign::Member, String)>,
    /// Campaign pages are Firmware Management's.
    can_firmware: bool,
    dm: Option<crate::omadm::account::DmAccount>,
    dev_id: String,
    can_edit: bool,
    can_care: bool,
    can_ops: bool,
    jobs: Vec<crate::omadm::job::DmJob>,
    messages: Vec<crate::messaging::outbox::OutboxMessage>,
    /// The management command forms as last sent, refilled after a refusal.
    cmd: CommandForm,
}

/// What the management command forms held when sent, and why they were
/// refused: `preset_error` belongs to the "Lost or stolen" form,
/// `script_error` to the typed commands.
#[derive(Debug, Clone, Default)]
pub(super) struct CommandForm {
    pub preset: String,
    pub confirm: bool,
    pub script: String,
    pub preset_error: String,
    pub script_error: String,
}

impl DetailPage {
    fn hex4(&self, v: &i32) -> String {
        format!("{v:04X}")
    }
    fn clip<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        crate::omadm::job::clip(text, crate::omadm::job::LIST_TEXT_CHARS)
    }
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
    fn topt(&self, ms: &Option<i64>) -> String {
        crate::timefmt::utc_opt(*ms)
    }
    fn presets(&self) -> [crate::omadm::command::Preset; 5] {
        crate::omadm::command::Preset::ALL
    }
    fn max_commands(&self) -> usize {
        crate::omadm::command::MAX_COMMANDS
    }
    fn preset_chosen(&self, p: &crate::omadm::command::Preset) -> bool {
        self.cmd.preset == p.as_str()
    }
    fn kind_label(&self, k: &str) -> String {
        super::labels::message_kind(k)
    }
    fn protocol_label(&self, p: &str) -> String {
        super::labels::protocol(p)
    }
}

async fn detail(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewRegistry)?;
    detail_page(&state, &user, path.into_inner(), CommandForm::default()).await
}

/// The device page; with refused management commands it is answered 422
/// with the forms as typed and the reason next to the field.
pub(super) async fn detail_page(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    cmd: CommandForm,
) -> Result<HttpResponse, WebError> {
    let vault = state.vault.clone();
    let (v, timeline, (fota, campaigns), dm, jobs, messages) = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            let v = lookup::by_id(c, id)?;
            let mut entities = vec![(EntityKind::Device, v.device.id)];
            if let Some(p) = &v.profile {
                entities.push((EntityKind::Profile, p.id));
            }
            let timeline = audit::timeline(c, &entities, 200)?;
            let fota = (
                crate::fota::session::for_device(c, id, 20)?,
                crate::fota::campaign::for_device(c, id)?,
            );
            let dm = crate::omadm::account::get(c, &vault, id)?;
            let jobs = crate::omadm::job::for_device(c, id, 10)?;
            let messages = crate::messaging::outbox::list(
                c,
                &crate::messaging::outbox::Filter {
                    device_id: Some(id),
                    ..Default::default()
                },
                10,
            )?;
            Ok((v, timeline, fota, dm, jobs, messages))
        })
        .await
        .map_err(|e| match e {
            RegistryError::NotFound(_) => WebError::NotFoundBack(
                format!("No device with id {id}."),
                "/devices",
                "Search devices",
            ),
            other => other.into(),
        })?;
    let dev_id = crate::omadm::engine::dev_id_of(&v.device);
    let status = if cmd.preset_error.is_empty() && cmd.script_error.is_empty() {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    render_status(
        status,
        &DetailPage {
            ctx: user.ctx(Area::Devices),
            v,
            timeline,
            fota,
            campaigns,
            can_firmware: user.can(Permission::ManageFirmware),
            dm,
            dev_id,
            can_edit: user.can(Permission::EditDevices),
            can_care: user.can(Permission::EditProfiles),
            can_ops: user.can(Permission::ViewOps),
            jobs,
            messages,
            cmd,
        },
    )
}

#[derive(Template)]
#[template(path = "devices/form.html")]
struct DeviceFormPage {
    ctx: PageCtx,
    id: Option<i64>,
    f: Filled,
    error: String,
}

async fn new_form(user: CurrentUser) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditDevices)?;
    render(&DeviceFormPage {
        ctx: user.ctx(Area::Devices),
        id: None,
        f: Filled::default(),
        error: String::new(),
    })
}

fn form_failure(
    user: &CurrentUser,
    id: Option<i64>,
    values: FormData,
    e: RegistryError,
) -> Result<HttpResponse, WebError> {
    let (errors, error, status) = match e {
        RegistryError::Invalid(errors) => (
            errors,
            "Please correct the fields marked below.".to_string(),
            422,
        ),
        RegistryError::Duplicate(m) | RegistryError::Conflict(m) => (Default::default(), m, 409),
        other => return Err(other.into()),
    };
    tracing::warn!(user = %user.name, %error, "device form rejected");
    render_status(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
        &DeviceFormPage {
            ctx: user.ctx(Area::Devices),
            id,
            f: Filled::new(values, errors),
            error,
        },
    )
}

async fn create(
    state: web::Data<AppState>,
    user: CurrentUser,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditDevices)?;
    let form = form.into_inner();
    user.check_form(&form)?;
    let draft = forms::device_draft(&form);
    let actor = user.actor();
    match state
        .db
        .run(move |c| device::create(c, &actor, &draft))
        .await
    {
        Ok(d) => {
            super::session::flash(
                &user.session,
                "success",
                format!("Device {} registered.", d.label()),
            );
            Ok(redirect(&format!("/devices/{}", d.id)))
        }
        Err(e) => form_failure(&user, None, form, e),
    }
}

async fn edit_form(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditDevices)?;
    let id = path.into_inner();
    let v = state.db.run(move |c| lookup::by_id(c, id)).await?;
    let draft = DeviceDraft::from_device(&v.device, v.profile.as_ref().map(|p| p.mdn.clone()));
    render(&DeviceFormPage {
        ctx: user.ctx(Area::Devices),
        id: Some(id),
        f: Filled::new(forms::values_of(&draft), Default::default()),
        error: String::new(),
    })
}

async fn update(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditDevices)?;
    let id = path.into_inner();
    let form = form.into_inner();
    user.check_form(&form)?;
    let draft = forms::device_draft(&form);
    let actor = user.actor();
    match state
        .db
        .run(move |c| device::update(c, &actor, id, &draft))
        .await
    {
        Ok(d) => {
            super::session::flash(
                &user.session,
                "success",
                format!("Device {} saved.", d.label()),
            );
            Ok(redirect(&format!("/devices/{id}")))
        }
        Err(e) => form_failure(&user, Some(id), form, e),
    }
}

async fn delete(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditDevices)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let actor = user.actor();
    state.db.run(move |c| device::delete(c, &actor, id)).await?;
    super::session::flash(&user.session, "success", format!("Device {id} deleted."));
    Ok(redirect("/devices"))
}

// ---- Capability registry -------------------------------------------------

#[derive(Template)]
#[template(path = "devices/capabilities.html")]
struct CapabilitiesPage {
    ctx: PageCtx,
    entries: Vec<Capability>,
    series: Vec<EsnSeries>,
    can_edit: bool,
    series_form: Filled,
    series_error: String,
}

async fn capabilities_page(
    state: &AppState,
    user: &CurrentUser,
    series_form: Filled,
    series_error: String,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, WebError> {
    let (entries, series) = state
        .db
        .run(|c| -> Result<_, RegistryError> {
            Ok((capability::list(c)?, capability::list_series(c)?))
        })
        .await?;
    render_status(
        status,
        &CapabilitiesPage {
            ctx: user.ctx(Area::Devices),
            entries,
            series,
            can_edit: user.can(Permission::EditCapabilities),
            series_form,
            series_error,
        },
    )
}

async fn capabilities(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewRegistry)?;
    capabilities_page(
        &state,
        &user,
        Filled::default(),
        String::new(),
        actix_web::http::StatusCode::OK,
    )
    .await
}

#[derive(Template)]
#[template(path = "devices/capability_form.html")]
struct CapabilityFormPage {
    ctx: PageCtx,
    id: Option<i64>,
    f: Filled,
    error: String,
    protocols: Vec<(&'static str, &'static str)>,
    timeline: Vec<audit::AuditLine>,
}

impl CapabilityFormPage {
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
}

fn protocols() -> Vec<(&'static str, &'static str)> {
    Protocol::ALL
        .iter()
        .map(|p| (p.as_str(), p.label()))
        .collect()
}

async fn capability_new_form(user: CurrentUser) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditCapabilities)?;
    let mut f = Filled::default();
    f.values.insert("protocol".into(), "omadm".into());
    render(&CapabilityFormPage {
        ctx: user.ctx(Area::Devices),
        id: None,
        f,
        error: String::new(),
        protocols: protocols(),
        timeline: Vec::new(),
    })
}

fn capability_failure(
    user: &CurrentUser,
    id: Option<i64>,
    values: FormData,
    e: RegistryError,
) -> Result<HttpResponse, WebError> {
    let (errors, error, status) = match e {
        RegistryError::Invalid(errors) => (
            errors,
            "Please correct the fields marked below.".to_string(),
            422,
        ),
        RegistryError::Duplicate(m) | RegistryError::Conflict(m) => (Default::default(), m, 409),
        other => return Err(other.into()),
    };
    render_status(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
        &CapabilityFormPage {
            ctx: user.ctx(Area::Devices),
            id,
            f: Filled::new(values, errors),
            error,
            protocols: protocols(),
            timeline: Vec::new(),
        },
    )
}

async fn capability_create(
    state: web::Data<AppState>,
    user: CurrentUser,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditCapabilities)?;
    let form = form.into_inner();
    user.check_form(&form)?;
    let draft = forms::capability_draft(&form);
    let actor = user.actor();
    match state
        .db
        .run(move |c| capability::create(c, &actor, &draft))
        .await
    {
        Ok(cap) => {
            super::session::flash(
                &user.session,
                "success",
                format!("Capability for {} {} added.", cap.make, cap.model),
            );
            Ok(redirect("/capabilities"))
        }
        Err(e) => capability_failure(&user, None, form, e),
    }
}

async fn capability_edit_form(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditCapabilities)?;
    let id = path.into_inner();
    let (cap, timeline) = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            let timeline = audit::timeline(c, &[(EntityKind::Capability, id)], 200)?;
            Ok((capability::get(c, id)?, timeline))
        })
        .await?;
    render(&CapabilityFormPage {
        ctx: user.ctx(Area::Devices),
        id: Some(id),
        f: Filled::new(
            forms::values_of(&capability::CapabilityDraft::from_capability(&cap)),
            Default::default(),
        ),
        error: String::new(),
        protocols: protocols(),
        timeline,
    })
}

async fn capability_update(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditCapabilities)?;
    let id = path.into_inner();
    let form = form.into_inner();
    user.check_form(&form)?;
    let draft = forms::capability_draft(&form);
    let actor = user.actor();
    match state
        .db
        .run(move |c| capability::update(c, &actor, id, &draft))
        .await
    {
        Ok(cap) => {
            super::session::flash(
                &user.session,
                "success",
                format!("Capability for {} {} saved.", cap.make, cap.model),
            );
            Ok(redirect("/capabilities"))
        }
        Err(e) => capability_failure(&user, Some(id), form, e),
    }
}

async fn capability_delete(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditCapabilities)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let actor = user.actor();
    state
        .db
        .run(move |c| capability::delete(c, &actor, id))
        .await?;
    super::session::flash(&user.session, "success", "Capability entry deleted.");
    Ok(redirect("/capabilities"))
}

async fn series_create(
    state: web::Data<AppState>,
    user: CurrentUser,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditCapabilities)?;
    let form = form.into_inner();
    user.check_form(&form)?;
    let draft = EsnSeriesDraft {
        make: forms::text(&form, "make"),
        first_esn: forms::text(&form, "first_esn"),
        last_esn: forms::text(&form, "last_esn"),
    };
    let actor = user.actor();
    match state
        .db
        .run(move |c| capability::add_series(c, &actor, &draft))
        .await
    {
        Ok(s) => {
            super::session::flash(
                &user.session,
                "success",
                format!(
                    "IOTA ESN series {}–{} added for {}.",
                    s.first_hex(),
                    s.last_hex(),
                    s.make
                ),
            );
            Ok(redirect("/capabilities#series"))
        }
        Err(RegistryError::Invalid(errors)) => {
            capabilities_page(
                &state,
                &user,
                Filled::new(form, errors),
                "Please correct the series fields.".into(),
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(RegistryError::Duplicate(m)) => {
            capabilities_page(
                &state,
                &user,
                Filled::new(form, Default::default()),
                m,
                actix_web::http::StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn series_delete(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditCapabilities)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let actor = user.actor();
    state
        .db
        .run(move |c| capability::delete_series(c, &actor, id))
        .await?;
    super::session::flash(&user.session, "success", "ESN series deleted.");
    Ok(redirect("/capabilities#series"))
}

// ---- POS pre-load --------------------------------------------------------

#[derive(Template)]
#[template(path = "devices/import.html")]
struct ImportPage {
    ctx: PageCtx,
    columns: String,
    recent: Vec<crate::registry::import::ImportRun>,
}

impl ImportPage {
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
}

async fn import_form(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::Import)?;
    // A command-line import killed a moment ago is shown interrupted at
    // once, although the start, the recovery timer or the next import
    // records it: a page changes nothing. (Its holder is looked up in /proc,
    // off the async workers like the query.)
    let recent = state
        .db
        .run(|c| {
            let now = crate::db::now_ms();
            let runs = import::recent_runs(c, 20)?;
            Ok::<_, RegistryError>(runs.into_iter().map(|r| r.as_seen(now)).collect())
        })
        .await?;
    render(&ImportPage {
        ctx: user.ctx(Area::Devices),
        columns: import::COLUMNS.join(","),
        recent,
    })
}

/// The key under which `read_upload_fields` reports the uploaded file's
/// name; it cannot collide with a form field (those have no spaces).
const UPLOAD_FILENAME: &str = "file name";

/// Reads a multipart upload: its text fields by name, and the `file` part,
/// within the size limit.
pub(crate) async fn read_upload_fields(
    mut payload: Multipart,
    limit: usize,
) -> Result<(std::collections::HashMap<String, String>, Vec<u8>), WebError> {
    let mut fields = std::collections::HashMap::new();
    let mut file = Vec::new();
    while let Some(field) = payload.next().await {
        let mut field =
            field.map_err(|e| WebError::BadRequest(format!("unreadable upload: {e}")))?;
        let name = field.name().unwrap_or("").to_string();
        let mut buf = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk =
                chunk.map_err(|e| WebError::BadRequest(format!("unreadable upload: {e}")))?;
            if buf.len() + chunk.len() > limit {
                return Err(WebError::BadRequest(format!(
                    "the file is larger than the {limit}-byte upload limit"
                )));
            }
            buf.extend_from_slice(&chunk);
        }
        if name == "file" {
            if let Some(f) = field.content_disposition().and_then(|cd| cd.get_filename()) {
                let clean: String = f.chars().filter(|c| !c.is_control()).take(128).collect();
                fields.insert(UPLOAD_FILENAME.to_string(), clean);
            }
            file = buf;
        } else {
            fields.insert(name, String::from_utf8_lossy(&buf).into_owned());
        }
    }
    Ok((fields, file))
}

/// Reads the multipart upload: the CSRF field and the file, within the size limit.
async fn read_upload(
    payload: Multipart,
    limit: usize,
) -> Result<(String, String, Vec<u8>), WebError> {
    let (mut fields, file) = read_upload_fields(payload, limit).await?;
    let csrf = fields.remove("csrf").unwrap_or_default();
    let filename = fields
        .remove(UPLOAD_FILENAME)
        .unwrap_or_else(|| "upload.csv".into());
    Ok((csrf, filename, file))
}

async fn import_upload(
    state: web::Data<AppState>,
    user: CurrentUser,
    payload: Multipart,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::Import)?;
    let (csrf, filename, file) = read_upload(payload, state.config.upload_limit).await?;
    user.check_csrf(&csrf)?;
    if file.is_empty() {
        super::session::flash(&user.session, "error", "Choose a CSV file to import.");
        return Ok(redirect("/devices/import"));
    }
    let actor = user.actor();
    let id = start_import(&state, actor, filename, file).await?;
    Ok(redirect(&format!("/devices/import/{id}")))
}

/// Records the run (or takes over the interrupted run of the same file),
/// then imports in the background while the browser watches the progress
/// page: the check on a blocking thread, then each batch of lines as its own
/// write, queued with the device sessions' writes instead of ahead of them.
pub async fn start_import(
    state: &AppState,
    actor: Actor,
    filename: String,
    file: Vec<u8>,
) -> Result<i64, WebError> {
    let who = actor.to_string();
    let file = std::sync::Arc::new(file);
    let content = file.clone();
    let opened = state
        .db
        .run(move |c| import::open_run(c, &filename, &who, import::Source::Portal, &content))
        .await?;
    let id = opened.id;
    let progress = crate::registry::import::Progress::shared();
    if let Ok(mut map) = state.imports.lock() {
        map.insert(id, progress.clone());
    }
    let db = state.db.clone();
    let imports = state.imports.clone();
    tokio::spawn(async move {
        let outcome = run_import(&db, actor, file, progress, opened).await;
        match &outcome {
            Ok(r) if r.errors.is_empty() => {
                tracing::info!(run = id, lines = r.lines, "import finished")
            }
            Ok(r) => tracing::warn!(run = id, problems = r.problems(), "import stopped"),
            Err(e) => tracing::error!(run = id, error = %e, "import failed"),
        }
        if let Ok(mut map) = imports.lock() {
            map.remove(&id);
        }
    });
    Ok(id)
}

/// The import of a portal run; the run records its own outcome.
async fn run_import(
    db: &crate::db::Db,
    actor: Actor,
    file: std::sync::Arc<Vec<u8>>,
    progress: std::sync::Arc<import::Progress>,
    opened: import::Opened,
) -> Result<ImportReport, RegistryError> {
    let watched = progress.clone();
    let checked = db
        .run(move |c| import::check_for_run(c, &file, &watched, opened))
        .await;
    let mut plan = match checked {
        Ok(Ok(plan)) => plan,
        Ok(Err(report)) => return Ok(report),
        Err(e) => {
            // Perhaps not even started (no connection): the run says so.
            let message = e.to_string();
            let recorded = db
                .run(move |c| {
                    import::record_failure(c, opened.id, &message).map_err(RegistryError::from)
                })
                .await;
            if let Err(r) = recorded {
                tracing::error!(run = opened.id, error = %r, "could not record the import failure");
            }
            return Err(e);
        }
    };
    loop {
        let (actor_, progress_) = (actor.clone(), progress.clone());
        let (back, step) = db
            .run(move |c| {
                let step = import::write_batch(c, &actor_, &mut plan, &progress_);
                Ok::<_, RegistryError>((plan, step))
            })
            .await?;
        plan = back;
        match step? {
            import::Step::More => {}
            import::Step::Done(report) | import::Step::Stopped(report) => return Ok(report),
        }
    }
}

#[derive(Template)]
#[template(path = "devices/import_status.html")]
struct ImportStatusPage {
    ctx: PageCtx,
    run: crate::registry::import::ImportRun,
    checked: i64,
    written: i64,
    total: i64,
    report: Option<ImportReport>,
}

impl ImportStatusPage {
    fn percent(&self) -> i64 {
        if self.total == 0 {
            return if self.run.state == "running" { 0 } else { 100 };
        }
        ((self.checked + self.written) * 50 / self.total).min(100)
    }
}

async fn import_status(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::Import)?;
    let id = path.into_inner();
    // Shown ended if its holder is gone, without recording it (see `import_form`).
    let run = state
        .db
        .run(move |c| Ok::<_, RegistryError>(import::get_run(c, id)?.as_seen(crate::db::now_ms())))
        .await?;
    let live = state.imports.lock().ok().and_then(|m| m.get(&id).cloned());
    let (checked, written, total) = match &live {
        Some(p) => (
            p.checked.load(Ordering::Relaxed),
            p.written.load(Ordering::Relaxed),
            p.total.load(Ordering::Relaxed),
        ),
        // Another process's run (a command-line import, another node's):
        // as far as it recorded, by its heartbeats and its batches.
        None => (run.processed_lines, run.imported_lines, run.total_lines),
    };
    let report = run.report();
    render(&ImportStatusPage {
        ctx: user.ctx(Area::Devices),
        run,
        checked,
        written,
        total,
        report,
    })
}

/// Sets the device's OMA-DM credentials from the device page.
async fn dm_credentials(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditDevices)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let (client_password, server_password, server_id) = (
        field("client_password"),
        field("server_password"),
        field("server_id"),
    );
    let actor = user.actor();
    let vault = state.vault.clone();
    let outcome = state
        .db
        .run(move |c| {
            crate::omadm::account::issue(
                c,
                &vault,
                &actor,
                id,
                &crate::omadm::account::Given {
                    client_password: &client_password,
                    server_password: Some(&server_password),
                    server_id: Some(&server_id),
                },
            )
        })
        .await;
    match outcome {
        Ok(issued) => super::session::flash(
            &user.session,
            "success",
            match issued.generated_server_password {
                Some(p) => format!(
                    "OMA-DM credentials saved; the device must be given the same password. \
                     Generated server password (shown once): {p}"
                ),
                None => "OMA-DM credentials saved; the device must be given the same password."
                    .to_string(),
            },
        ),
        Err(RegistryError::Invalid(e)) => super::session::flash(
            &user.session,
            "error",
            e.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Err(RegistryError::Duplicate(m) | RegistryError::Conflict(m)) => {
            super::session::flash(&user.session, "error", m)
        }
        Err(e) => return Err(e.into()),
    }
    Ok(redirect(&format!("/devices/{id}")))
}
