//! Server-initiated OMA-DM jobs over the REST API: what care and
//! operations systems ask of a handset (a refresh, a network-initiated
//! update, management commands, a LAWMO lock or wipe) and what it answered.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::caller::ApiCaller;
use super::error::ApiError;
use crate::auth::Permission;
use crate::omadm::command::{self, CommandResult, DmCommand, Preset};
use crate::omadm::job::{self, DmJob, JobError, JobKind};
use crate::registry::RegistryError;
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/devices/{id}/dm-jobs", web::get().to(list))
        .route("/devices/{id}/dm-jobs", web::post().to(create))
        .route("/dm-jobs/{id}", web::get().to(get));
}

type ApiResult = Result<HttpResponse, ApiError>;

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Registry(r) => r.into(),
            JobError::Commands(_) => ApiError::Unprocessable(e.to_string()),
            JobError::NoMdn
            | JobError::NoAccount
            | JobError::NoUpdate(_)
            | JobError::NotOmadm(_)
            | JobError::Content(_) => ApiError::Unprocessable(e.to_string()),
            JobError::FotaBusy(_) | JobError::FotaStarted | JobError::HandsetDeactivated => {
                ApiError::Conflict(e.to_string())
            }
            JobError::Fota(_) | JobError::Db(_) => ApiError::Internal(e.to_string()),
        }
    }
}

/// One command as a client sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    command: String,
    path: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

/// Exactly one of `commands`, `preset` or `job`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobBody {
    #[serde(default)]
    commands: Option<Vec<CommandBody>>,
    #[serde(default)]
    preset: Option<String>,
    /// A wipe or factory reset erases the subscriber's data: say so.
    #[serde(default)]
    confirm: bool,
    /// "refresh" (DevInfo and DevDetail read back) or "fota".
    #[serde(default)]
    job: Option<String>,
}

enum Asked {
    Commands(Vec<DmCommand>),
    Kind(JobKind),
}

impl JobBody {
    fn asked(self) -> Result<Asked, ApiError> {
        match (self.commands, self.preset, self.job) {
            (Some(list), None, None) => {
                let cmds = list
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        DmCommand::new(&c.command, &c.path, c.value.as_deref(), c.format.as_deref())
                            .map_err(|e| ApiError::Unprocessable(format!("commands[{i}]: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                command::check_count(&cmds).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
                Ok(Asked::Commands(cmds))
            }
            (None, Some(p), None) => {
                let preset = Preset::parse(&p).ok_or_else(|| {
                    let names: Vec<&str> = Preset::ALL.iter().map(|p| p.as_str()).collect();
                    ApiError::Unprocessable(format!(
                        "preset {p:?}: use one of {}",
                        names.join(", ")
                    ))
                })?;
                if preset.destroys_data() && !self.confirm {
                    return Err(ApiError::Unprocessable(format!(
                        "preset {p:?} erases the subscriber's data on the handset: send \"confirm\": true"
                    )));
                }
                Ok(Asked::Commands(preset.commands()))
            }
            (None, None, Some(k)) => match JobKind::parse(&k) {
                Some(kind @ (JobKind::Refresh | JobKind::Fota)) => Ok(Asked::Kind(kind)),
                _ => Err(ApiError::Unprocessable(format!(
                    "job {k:?}: use refresh or fota (or send commands)"
                ))),
            },
            _ => Err(ApiError::Unprocessable(
                "send exactly one of \"commands\", \"preset\" or \"job\"".into(),
            )),
        }
    }
}

/// A job as the API shows it.
#[derive(Serialize)]
struct JobView {
    id: i64,
    device_id: i64,
    kind: String,
    /// The DM SessionID the notification told the device to call back with.
    session_id: String,
    state: String,
    detail: String,
    commands: Vec<String>,
    results: Vec<CommandResult>,
    outbox_id: Option<i64>,
    fota_session_id: Option<i64>,
    created_by: String,
    /// Milliseconds since the epoch, as everywhere in this API.
    created_at: i64,
    updated_at: i64,
}

impl From<DmJob> for JobView {
    fn from(j: DmJob) -> JobView {
        JobView {
            commands: j.command_lines(),
            results: j.results(),
            id: j.id,
            device_id: j.device_id,
            kind: j.kind,
            session_id: format!("{:04X}", j.dm_session_id),
            state: j.state,
            detail: j.detail,
            outbox_id: j.outbox_id,
            fota_session_id: j.fota_session_id,
            created_by: j.created_by,
            created_at: j.created_at,
            updated_at: j.updated_at,
        }
    }
}

async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
    body: web::Json<JobBody>,
) -> ApiResult {
    caller.require(Permission::EditDevices)?;
    let id = path.into_inner();
    let asked = body.into_inner().asked()?;
    let actor = caller.actor();
    let vault = state.vault.clone();
    let max_parts = state.config.sms_max_parts;
    let (j, _) = state
        .db
        .run(move |c| -> Result<_, ApiError> {
            Ok(match asked {
                Asked::Commands(cmds) => {
                    job::notify_commands(c, &vault, id, &cmds, &actor, max_parts)?
                }
                Asked::Kind(kind) => job::notify(c, &vault, id, kind, &actor, max_parts)?,
            })
        })
        .await?;
    if let Some(m) = &state.messaging {
        m.wake();
    }
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/v1/dm-jobs/{}", j.id)))
        .json(JobView::from(j)))
}

#[derive(Deserialize)]
struct ListQuery {
    /// The last job id of the previous page: newer jobs come first.
    after: Option<i64>,
    limit: Option<i64>,
}

async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
    query: web::Query<ListQuery>,
) -> ApiResult {
    caller.require(Permission::ViewRegistry)?;
    let id = path.into_inner();
    let after = query.after;
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let jobs = state
        .db
        .run(move |c| -> Result<_, ApiError> {
            // A 404 for a device that is not there, not an empty list.
            crate::registry::device::get(c, id)?;
            Ok(job::page_for_device(c, id, after, limit + 1).map_err(RegistryError::from)?)
        })
        .await?;
    let items: Vec<JobView> = jobs.into_iter().map(JobView::from).collect();
    Ok(HttpResponse::Ok().json(super::paged(items, limit, |j| j.id)))
}

async fn get(state: web::Data<AppState>, caller: ApiCaller, path: web::Path<i64>) -> ApiResult {
    caller.require(Permission::ViewRegistry)?;
    let id = path.into_inner();
    let j = state
        .db
        .run(move |c| job::get(c, id).map_err(|e| ApiError::from(RegistryError::from(e))))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("DM job {id} not found")))?;
    Ok(HttpResponse::Ok().json(JobView::from(j)))
}
