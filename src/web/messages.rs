//! The message log (Operation & Maintenance) and the device actions that
//! send messages: server-initiated OMA-DM sessions and OMA CP pushes.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::forms::FormData;
use super::session::{flash, Area, CurrentUser, PageCtx};
use super::{redirect, render, AppState, WebError};
use crate::auth::Permission;
use crate::messaging::content::{self, CpSettings};
use crate::messaging::inbound::{self, StoredInbound};
use crate::messaging::outbox::{self, Filter, Kind, OutboxMessage};
use crate::messaging::provisioning::{self, PushError};
use crate::messaging::smpp::LinkStatus;
use crate::omadm::command::{self, Preset};
use crate::omadm::job::{self, JobError, JobKind};
use crate::registry::identifiers::Mdn;
use crate::registry::RegistryError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ops/messages", web::get().to(log))
        .route("/ops/messages/{id}", web::get().to(detail))
        .route("/ops/messages/{id}/retry", web::post().to(retry))
        .route("/devices/{id}/notify", web::post().to(notify))
        .route("/devices/{id}/commands", web::post().to(commands))
        .route("/devices/{id}/push/settings", web::post().to(push_settings))
        .route(
            "/devices/{id}/push/bootstrap",
            web::post().to(push_bootstrap),
        );
}

/// The SMSC link as the O&M screens show it.
pub struct LinkView {
    pub configured: bool,
    pub up: bool,
    pub text: String,
    pub smsc: String,
}

pub fn link_view(state: &AppState) -> LinkView {
    let Some(m) = &state.messaging else {
        return LinkView {
            configured: false,
            up: false,
            text: "not configured (set MDM_SMSC_URL)".into(),
            smsc: String::new(),
        };
    };
    let (up, text) = match m.status() {
        LinkStatus::Bound { since, mode } => {
            let ms = since
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            (
                true,
                format!("bound as {mode} since {}", crate::timefmt::utc(ms)),
            )
        }
        LinkStatus::Connecting { attempt } => (false, format!("connecting (attempt {attempt})")),
        LinkStatus::Down { reason, retry_in } => (
            false,
            format!("down: {reason}; retrying in {} s", retry_in.as_secs()),
        ),
        LinkStatus::Stopped => (false, "stopped".into()),
    };
    LinkView {
        configured: true,
        up,
        text,
        smsc: m.smsc(),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    mdn: Option<String>,
    kind: Option<String>,
    state: Option<String>,
    /// Keyset paging: the older messages, ids less than this.
    before: Option<i64>,
    /// Keyset paging back: the newer messages, ids greater than this.
    after: Option<i64>,
}

/// Messages on one page of the log.
const LOG_PAGE: i64 = 100;

/// Where the log stops counting the messages an MDN or kind filter
/// matches, as the device and care searches do: a kind has no index of
/// its own, and the outbox is the largest table.
const COUNT_CAP: i64 = crate::registry::device::COUNT_CAP;

#[derive(Template)]
#[template(path = "ops/messages.html")]
struct LogPage {
    ctx: PageCtx,
    link: LinkView,
    counts: Vec<(String, i64)>,
    rows: Vec<OutboxMessage>,
    has_older: bool,
    has_newer: bool,
    /// The filters, for the paging links to keep.
    query_string: String,
    inbound: Vec<StoredInbound>,
    mdn: String,
    kind: String,
    state: String,
    kinds: Vec<(&'static str, &'static str)>,
    states: Vec<&'static str>,
    error: String,
    /// The messages an MDN or kind filter matches, counted up to a cap;
    /// `None` where the per-state counts already give the total.
    filtered_total: Option<super::pager::Total>,
}

impl LogPage {
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
    fn kind_label(&self, k: &str) -> String {
        super::labels::message_kind(k)
    }
    fn newer_link(&self) -> Option<String> {
        let first = self.rows.first()?;
        self.has_newer
            .then(|| format!("/ops/messages?{}after={}", self.query_string, first.id))
    }
    fn older_link(&self) -> Option<String> {
        let last = self.rows.last()?;
        self.has_older
            .then(|| format!("/ops/messages?{}before={}", self.query_string, last.id))
    }
    /// Newest first, so the previous page holds newer messages. The total
    /// of the whole log or one state comes from the per-state counts the
    /// cards show; an MDN or kind filter is counted on its own, up to a cap.
    fn pager(&self) -> super::pager::Pager {
        let mut p = super::pager::Pager::new(("message", "messages"), self.rows.len());
        p.prev = self.newer_link();
        p.next = self.older_link();
        if !self.error.is_empty() {
            return p;
        }
        p.total = self.filtered_total.or_else(|| {
            if self.state.is_empty() {
                Some(super::pager::Total::exact(
                    self.counts.iter().map(|(_, n)| n).sum(),
                ))
            } else {
                self.counts
                    .iter()
                    .find(|(s, _)| *s == self.state)
                    .map(|(_, n)| super::pager::Total::exact(*n))
            }
        });
        p
    }
}

/// The log's filters as a query string ending in `&` (or empty), for the
/// paging links.
fn filter_query(f: &Filter) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [("mdn", &f.mdn), ("kind", &f.kind), ("state", &f.state)] {
        if let Some(v) = v {
            s.append_pair(k, v);
        }
    }
    let s = s.finish();
    if s.is_empty() {
        s
    } else {
        s + "&"
    }
}

async fn log(
    state: web::Data<AppState>,
    user: CurrentUser,
    q: web::Query<LogQuery>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewOps)?;
    let q = q.into_inner();
    let nonempty = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let mut error = String::new();
    let mdn = match nonempty(q.mdn.clone()) {
        None => None,
        Some(m) => match Mdn::parse(&m) {
            Ok(m) => Some(m.as_str().to_string()),
            Err(e) => {
                error = e.to_string();
                None
            }
        },
    };
    let kind = nonempty(q.kind.clone());
    if let Some(k) = kind.as_deref().filter(|k| Kind::parse(k).is_none()) {
        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        return Err(super::error::bad_param("kind", &known.join(", "), k));
    }
    let st = nonempty(q.state.clone());
    if let Some(s) = st.as_deref().filter(|s| !outbox::STATES.contains(s)) {
        return Err(super::error::bad_param(
            "state",
            &outbox::STATES.join(", "),
            s,
        ));
    }
    let filter = Filter {
        mdn: mdn.clone(),
        kind: kind.clone(),
        state: st.clone(),
        device_id: None,
    };
    let query_string = filter_query(&filter);
    let inbound_source = mdn.clone();
    let bad_filter = !error.is_empty();
    // The per-state counts give the total of the whole log and of one
    // state; any other filter needs its own count.
    let count_filter = !bad_filter && (filter.mdn.is_some() || filter.kind.is_some());
    let (before, after) = (q.before, q.after);
    let (counts, page, inbound, filtered_total) = state
        .db
        .run(move |c| -> Result<_, RegistryError> {
            Ok((
                outbox::counts(c)?,
                if bad_filter {
                    None
                } else {
                    Some(outbox::page(c, &filter, before, after, LOG_PAGE)?)
                },
                inbound::recent(c, inbound_source.as_deref(), 20)?,
                if count_filter {
                    let seen = outbox::count_matching(c, &filter, COUNT_CAP)?;
                    Some(super::pager::Total::capped(seen, COUNT_CAP))
                } else {
                    None
                },
            ))
        })
        .await?;
    let (rows, has_older, has_newer) = match page {
        Some(p) => (p.rows, p.has_older, p.has_newer),
        None => (Vec::new(), false, false),
    };
    render(&LogPage {
        ctx: user.ctx(Area::Ops),
        link: link_view(&state),
        counts,
        rows,
        has_older,
        has_newer,
        query_string,
        inbound,
        mdn: q.mdn.unwrap_or_default(),
        kind: kind.unwrap_or_default(),
        state: st.unwrap_or_default(),
        kinds: Kind::ALL.iter().map(|k| (k.as_str(), k.label())).collect(),
        states: outbox::STATES.to_vec(),
        error,
        filtered_total,
    })
}

#[derive(Template)]
#[template(path = "ops/message.html")]
struct DetailPage {
    ctx: PageCtx,
    m: OutboxMessage,
    decoded: String,
    parts: usize,
    hex: String,
}

impl DetailPage {
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
    fn topt(&self, ms: &Option<i64>) -> String {
        crate::timefmt::utc_opt(*ms)
    }
}

async fn detail(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewOps)?;
    let id = path.into_inner();
    let m = state
        .db
        .run(move |c| outbox::get(c, id).map_err(RegistryError::from))
        .await?
        .ok_or_else(|| WebError::NotFound(format!("There is no message {id}.")))?;
    let decoded = content::describe(&m);
    let parts = content::parts_needed(&m);
    // Bootstrap payloads carry secrets: their raw bytes are not shown.
    let hex = if m.kind == Kind::CpBootstrap.as_str() {
        "(hidden: the bootstrap carries the device's OMA-DM secrets)".into()
    } else {
        hex::encode(&m.payload)
    };
    render(&DetailPage {
        ctx: user.ctx(Area::Ops),
        m,
        decoded,
        parts,
        hex,
    })
}

async fn retry(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ViewOps)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let outcome = state.db.run(move |c| outbox::retry(c, id)).await;
    match outcome {
        Ok(_) => {
            tracing::info!(message = id, by = %user.actor(), "failed message queued again");
            flash(
                &user.session,
                "success",
                format!("Message {id} queued again."),
            );
            wake(&state);
        }
        Err(outbox::RetryError::NotFound(_)) => {
            return Err(WebError::NotFound(format!("There is no message {id}.")))
        }
        Err(e @ (outbox::RetryError::Db(_) | outbox::RetryError::Pool(_))) => {
            return Err(WebError::Internal(e.to_string()))
        }
        Err(e @ outbox::RetryError::SessionOver { .. }) => {
            tracing::info!(message = id, error = %e, "retry of a dead IOTA call-back refused");
            flash(&user.session, "error", e.to_string());
            // To the subscriber's IOTA actions, where a fresh session is
            // started, for those who may start one.
            if let outbox::RetryError::SessionOver { session, .. } = &e {
                if let Some(pid) = session
                    .profile_id
                    .filter(|_| session.wants_fresh_start() && user.can(Permission::EditDevices))
                {
                    return Ok(redirect(&format!("/care/profiles/{pid}#iota")));
                }
            }
        }
        Err(e) => flash(&user.session, "error", e.to_string()),
    }
    Ok(redirect(&format!("/ops/messages/{id}")))
}

fn wake(state: &AppState) {
    if let Some(m) = &state.messaging {
        m.wake();
    }
}

fn back_to_device(id: i64) -> HttpResponse {
    redirect(&format!("/devices/{id}#messaging"))
}

async fn notify(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditDevices)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let Some(kind) = form.get("job").and_then(|k| JobKind::parse(k)) else {
        flash(&user.session, "error", "Choose what the session should do.");
        return Ok(back_to_device(id));
    };
    let actor = user.actor();
    let max_parts = state.config.sms_max_parts;
    let vault = state.vault.clone();
    let outcome = state
        .db
        .run(move |c| -> Result<_, WebJobError> {
            Ok(job::notify(c, &vault, id, kind, &actor, max_parts)?)
        })
        .await;
    match outcome {
        Ok((j, m)) => {
            wake(&state);
            flash(
                &user.session,
                "success",
                format!(
                    "Notification queued (message {}): the device is asked to call back with session id {:04X}.",
                    m.id, j.dm_session_id
                ),
            );
        }
        Err(WebJobError::Job(JobError::Registry(RegistryError::NotFound(what)))) => {
            return Err(WebError::NotFound(what))
        }
        Err(WebJobError::Job(e)) if is_user_error(&e) => {
            tracing::info!(device = id, error = %e, "notification refused");
            flash(&user.session, "error", e.to_string());
        }
        Err(e) => return Err(WebError::Internal(e.to_string())),
    }
    Ok(back_to_device(id))
}

/// An operator's management commands (typed, or a LAWMO preset) for a
/// device: queued with its notification.
async fn commands(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditDevices)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let preset = form.get("preset").map(String::as_str);
    let parsed = match preset {
        Some("") => Err("Choose an operation to send.".to_string()),
        Some(p) => match Preset::parse(p) {
            None => Err(format!("{p:?} is not an operation this platform offers.")),
            Some(p) if p.destroys_data() && form.get("confirm").map(String::as_str) != Some("yes") => Err(format!(
                "{}: tick the box to confirm; this erases what the subscriber keeps on the handset.",
                p.label()
            )),
            Some(p) => Ok(p.commands()),
        },
        None => command::parse_script(form.get("script").map(String::as_str).unwrap_or("")).map_err(|e| e.to_string()),
    };
    let cmds = match parsed {
        Ok(c) => c,
        Err(why) => {
            tracing::info!(device = id, error = %why, "management commands refused");
            let error = format!("Nothing was sent. {}", super::labels::capitalised(&why));
            // The page comes back with the form as sent, so nothing has to be
            // chosen or typed again.
            let mut kept = super::devices::CommandForm {
                preset: preset.unwrap_or_default().to_string(),
                confirm: form.get("confirm").map(String::as_str) == Some("yes"),
                script: form.get("script").cloned().unwrap_or_default(),
                ..Default::default()
            };
            if preset.is_some() {
                kept.preset_error = error;
            } else {
                kept.script_error = error;
            }
            return super::devices::detail_page(&state, &user, id, kept).await;
        }
    };
    let actor = user.actor();
    let max_parts = state.config.sms_max_parts;
    let vault = state.vault.clone();
    let count = cmds.len();
    let outcome = state
        .db
        .run(move |c| -> Result<_, WebJobError> {
            Ok(job::notify_commands(
                c, &vault, id, &cmds, &actor, max_parts,
            )?)
        })
        .await;
    match outcome {
        Ok((j, m)) => {
            wake(&state);
            flash(
                &user.session,
                "success",
                format!(
                    "Job {}: {count} command{} queued; the device is notified (message {}) and asked to call back with session id {:04X}. The results appear here when it has.",
                    j.id,
                    if count == 1 { "" } else { "s" },
                    m.id,
                    j.dm_session_id
                ),
            );
        }
        Err(WebJobError::Job(JobError::Registry(RegistryError::NotFound(what)))) => {
            return Err(WebError::NotFound(what))
        }
        Err(WebJobError::Job(e)) if is_user_error(&e) => {
            tracing::info!(device = id, error = %e, "management commands refused");
            flash(&user.session, "error", format!("Nothing was sent: {e}"));
        }
        Err(e) => return Err(WebError::Internal(e.to_string())),
    }
    Ok(redirect(&format!("/devices/{id}#commands")))
}

fn is_user_error(e: &JobError) -> bool {
    matches!(
        e,
        JobError::NoMdn
            | JobError::Commands(_)
            | JobError::NoAccount
            | JobError::HandsetDeactivated
            | JobError::NoUpdate(_)
            | JobError::FotaBusy(_)
            | JobError::FotaStarted
            | JobError::NotOmadm(_)
    )
}

/// Joins the job and database error types for `Db::run`.
#[derive(Debug, thiserror::Error)]
enum WebJobError {
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Push(#[from] PushError),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

fn push_outcome(
    user: &CurrentUser,
    state: &AppState,
    id: i64,
    outcome: Result<OutboxMessage, WebJobError>,
) -> Result<HttpResponse, WebError> {
    match outcome {
        Ok(m) => {
            wake(state);
            let note = if m.state == "failed" {
                (
                    "error",
                    format!("Message {} could not be queued: {}", m.id, m.last_error),
                )
            } else {
                (
                    "success",
                    format!("{} queued as message {}.", m.summary, m.id),
                )
            };
            flash(&user.session, note.0, note.1);
        }
        Err(WebJobError::Push(PushError::Registry(RegistryError::NotFound(what)))) => {
            return Err(WebError::NotFound(what))
        }
        Err(WebJobError::Push(
            e @ (PushError::NoMdn
            | PushError::NoImsi
            | PushError::NoAccount
            | PushError::HandsetDeactivated
            | PushError::Empty
            | PushError::Invalid(_)),
        )) => {
            tracing::info!(device = id, error = %e, "push refused");
            flash(&user.session, "error", e.to_string());
        }
        Err(e) => return Err(WebError::Internal(e.to_string())),
    }
    Ok(back_to_device(id))
}

async fn push_settings(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditProfiles)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let field = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let settings = CpSettings {
        name: String::new(),
        brew_url: field("brew_url"),
        apn: field("apn"),
        proxy: field("proxy"),
        proxy_port: field("proxy_port"),
        homepage: field("homepage"),
    };
    let actor = user.actor();
    let max_parts = state.config.sms_max_parts;
    let outcome = state
        .db
        .run(move |c| -> Result<_, WebJobError> {
            Ok(provisioning::push_settings(
                c, id, &settings, &actor, max_parts,
            )?)
        })
        .await;
    push_outcome(&user, &state, id, outcome)
}

async fn push_bootstrap(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::EditProfiles)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let server_url = format!("{}/omadm", super::omadm::base_url(&state, &req));
    let actor = user.actor();
    let max_parts = state.config.sms_max_parts;
    let vault = state.vault.clone();
    let outcome = state
        .db
        .run(move |c| -> Result<_, WebJobError> {
            Ok(provisioning::push_bootstrap(
                c,
                &vault,
                id,
                &server_url,
                &actor,
                max_parts,
            )?)
        })
        .await;
    push_outcome(&user, &state, id, outcome)
}
