//! FOTA campaigns over the REST API: the same campaigns as Firmware
//! Management → FOTA campaigns and `mdm campaign`, for a release-management
//! system to plan, drive and follow.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::caller::ApiCaller;
use super::error::ApiError;
use super::{paged, PageQuery};
use crate::auth::Permission;
use crate::fota::campaign::{
    self, Action, Campaign, CampaignError, MemberState, Plan, Population, Tally,
};
use crate::fota::campaign_run;
use crate::fota::campaign_schedule::{self, Schedule, Window, Zone};
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/campaigns", web::get().to(list))
        .route("/campaigns", web::post().to(create))
        .route("/campaigns/{id}", web::get().to(get))
        .route("/campaigns/{id}/devices", web::get().to(members))
        .route("/campaigns/{id}/schedule", web::put().to(reschedule))
        .route("/campaigns/{id}/requeue", web::post().to(requeue))
        .route("/campaigns/{id}/{action}", web::post().to(act));
}

type ApiResult = Result<HttpResponse, ApiError>;

impl From<CampaignError> for ApiError {
    fn from(e: CampaignError) -> Self {
        match e {
            CampaignError::NotFound(_) => ApiError::NotFound(e.to_string()),
            CampaignError::Transition { .. } => ApiError::Conflict(e.to_string()),
            CampaignError::Invalid(_)
            | CampaignError::NoPackage(_)
            | CampaignError::NoDevices(_)
            | CampaignError::NotReachable(_) => ApiError::Unprocessable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// A page of campaigns when the client names no size, and the most it may:
/// each comes with its tally, which a larger page would make heavy.
const LISTED: (i64, i64) = (100, 200);

#[derive(Serialize)]
struct WithProgress<P> {
    #[serde(flatten)]
    campaign: Campaign,
    /// Why a running campaign notifies nobody now, and when it will.
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting: Option<String>,
    /// A completed campaign's outcome: `updated`, or `nothing_updated` when
    /// not one device was (every device skipped, say).
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    /// Whether its devices still to notify can be reached (only while it
    /// can still notify).
    #[serde(skip_serializing_if = "Option::is_none")]
    reach: Option<ReachView>,
    progress: P,
}

/// [`campaign::Reach`] with its words: how many of the devices still to
/// notify lack what a notification needs, and a warning when that is all
/// or most of them.
#[derive(Serialize)]
struct ReachView {
    #[serde(flatten)]
    reach: campaign::Reach,
    /// All or most of them would be skipped.
    mostly_unreachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

impl ReachView {
    fn of(reach: campaign::Reach) -> ReachView {
        ReachView {
            mostly_unreachable: reach.mostly_unreachable(),
            warning: reach.summary(),
            reach,
        }
    }
}

/// The list's progress: the per-wave tallies are left to the campaign's
/// own resource, which a list of many would make heavy.
#[derive(Serialize)]
struct Overall {
    overall: Tally,
}

async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    q: web::Query<PageQuery>,
) -> ApiResult {
    caller.require(Permission::ManageFirmware)?;
    let (after, limit) = (q.after, q.limit(LISTED.0, LISTED.1));
    let items = state
        .db
        .run(move |c| -> Result<Vec<_>, CampaignError> {
            let listed = campaign::page(c, after, limit + 1)?;
            let mut tallies =
                campaign::overall(c, &listed.iter().map(|c| c.id).collect::<Vec<_>>())?;
            let now = crate::db::now_ms();
            Ok(listed
                .into_iter()
                .map(|camp| {
                    let overall = tallies.remove(&camp.id).unwrap_or_default();
                    WithProgress {
                        outcome: camp.outcome(&overall),
                        reach: None,
                        progress: Overall { overall },
                        waiting: camp.waiting(now),
                        campaign: camp,
                    }
                })
                .collect())
        })
        .await?;
    Ok(HttpResponse::Ok().json(paged(items, limit, |w| w.campaign.id)))
}

/// The domain's `Plan`, refusing unknown fields as every API body does.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanBody {
    name: String,
    make: String,
    model: String,
    from_version: String,
    #[serde(default)]
    first_wave_size: Option<i32>,
    /// A canary of this many devices: wave 1, which proves the package
    /// before wave 2 goes out. Without it a first wave sized apart from
    /// the rest is the canary, as before the field existed.
    #[serde(default)]
    canary: Option<i32>,
    wave_size: i32,
    failure_threshold: i32,
    /// Minutes a notified handset has to call back (5 to 1440; 1440 when
    /// absent).
    #[serde(default)]
    answer_within_mins: Option<i32>,
    /// Daily notification window, `01:00-05:00`.
    #[serde(default)]
    window: Option<String>,
    /// The IANA zone the window is kept in; UTC when absent.
    #[serde(default)]
    window_zone: Option<String>,
    /// No notification before this time: `2026-12-01 02:00` in UTC, or with
    /// an offset from UTC (`2026-12-01T02:00+01:00`), kept in UTC.
    #[serde(default)]
    not_before: Option<String>,
    /// Only lines whose MDN starts with these digits.
    #[serde(default)]
    mdn_prefix: Option<String>,
    /// Only lines of this billing account.
    #[serde(default)]
    account_id: Option<String>,
}

async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Json<PlanBody>,
) -> ApiResult {
    caller.require(Permission::ManageFirmware)?;
    let b = body.into_inner();
    let schedule = ScheduleBody {
        answer_within_mins: b.answer_within_mins,
        window: b.window,
        window_zone: b.window_zone,
        not_before: b.not_before,
    }
    .schedule()?;
    let plan = Plan {
        name: b.name,
        make: b.make,
        model: b.model,
        from_version: b.from_version,
        first_wave_size: b.first_wave_size,
        canary: b.canary,
        wave_size: b.wave_size,
        failure_threshold: b.failure_threshold,
        schedule,
        population: Population::new(b.mdn_prefix, b.account_id),
    };
    // Named as every field error of the API is; the domain's own check in
    // `create` says the same to the forms and the CLI.
    if let Some((name, why)) = plan.problem() {
        return Err(ApiError::Invalid([(name.to_string(), why)].into()));
    }
    let actor = caller.actor();
    let (c, reach) = state
        .db
        .run(move |conn| -> Result<_, CampaignError> {
            let c = campaign::create(conn, &actor, &plan)?;
            let reach = campaign::reach(conn, c.id)?;
            Ok((c, reach))
        })
        .await?;
    if reach.mostly_unreachable() {
        tracing::warn!(
            campaign = c.id,
            unreachable = reach.unreachable,
            of = reach.queued,
            "campaign planned for devices mostly unreachable"
        );
    }
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/campaigns/{}", c.id)))
        .json(Planned {
            campaign: c,
            reach: ReachView::of(reach),
        }))
}

/// A planned campaign and whether its devices can be reached.
#[derive(Serialize)]
struct Planned {
    #[serde(flatten)]
    campaign: Campaign,
    reach: ReachView,
}

/// A campaign's schedule, whole: a field left out is any time, from now, a
/// day to answer.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleBody {
    #[serde(default)]
    answer_within_mins: Option<i32>,
    #[serde(default)]
    window: Option<String>,
    #[serde(default)]
    window_zone: Option<String>,
    #[serde(default)]
    not_before: Option<String>,
}

impl ScheduleBody {
    fn schedule(self) -> Result<Schedule, ApiError> {
        let field = |name: &str, e: String| ApiError::Invalid([(name.to_string(), e)].into());
        let given = |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let schedule = Schedule {
            answer_within_mins: self.answer_within_mins,
            window: given(self.window)
                .map(|w| Window::parse(&w))
                .transpose()
                .map_err(|e| field("window", e))?,
            zone: Zone::parse(self.window_zone.as_deref().unwrap_or_default())
                .map_err(|e| field("window_zone", e))?,
            not_before: given(self.not_before)
                .map(|t| campaign_schedule::parse_time(&t))
                .transpose()
                .map_err(|e| field("not_before", e))?,
        };
        match schedule.problem() {
            Some((name, why)) => Err(field(name, why)),
            None => Ok(schedule),
        }
    }
}

#[derive(Serialize)]
struct Rescheduled {
    #[serde(flatten)]
    campaign: Campaign,
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting: Option<String>,
}

async fn reschedule(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
    body: web::Json<ScheduleBody>,
) -> ApiResult {
    caller.require(Permission::ManageFirmware)?;
    let id = path.into_inner();
    let schedule = body.into_inner().schedule()?;
    let actor = caller.actor();
    let c = state
        .db
        .run(move |conn| campaign::reschedule(conn, &actor, id, &schedule))
        .await?;
    // The scheduler's next tick sends what the new schedule allows.
    Ok(HttpResponse::Ok().json(Rescheduled {
        waiting: c.waiting(crate::db::now_ms()),
        campaign: c,
    }))
}

async fn get(state: web::Data<AppState>, caller: ApiCaller, path: web::Path<i64>) -> ApiResult {
    caller.require(Permission::ManageFirmware)?;
    let id = path.into_inner();
    let (c, progress, reach) = state
        .db
        .run(move |conn| -> Result<_, CampaignError> {
            let c = campaign::get(conn, id)?;
            let p = campaign::progress(conn, &c)?;
            let reach = (p.overall.queued > 0 && c.reschedulable())
                .then(|| campaign::reach(conn, id))
                .transpose()?;
            Ok((c, p, reach))
        })
        .await?;
    Ok(HttpResponse::Ok().json(WithProgress {
        outcome: c.outcome(&progress.overall),
        reach: reach.map(ReachView::of),
        waiting: c.waiting(crate::db::now_ms()),
        campaign: c,
        progress,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MembersQuery {
    state: Option<String>,
    after: Option<i64>,
    limit: Option<i64>,
}

async fn members(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
    q: web::Query<MembersQuery>,
) -> ApiResult {
    caller.require(Permission::ManageFirmware)?;
    let id = path.into_inner();
    let q = q.into_inner();
    // An empty `state=` is what a form with "any state" chosen sends.
    let filter = match q.state.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(MemberState::parse(s).ok_or_else(|| {
            let known: Vec<&str> = MemberState::ALL.iter().map(|m| m.as_str()).collect();
            ApiError::Invalid(
                [(
                    "state".to_string(),
                    format!("must be one of {}", known.join(", ")),
                )]
                .into(),
            )
        })?),
    };
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let items = state
        .db
        .run(move |c| -> Result<_, CampaignError> {
            // An unknown campaign is a 404, not an empty page.
            campaign::get(c, id)?;
            Ok(campaign::members(c, id, filter, after, limit + 1)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(paged(items, limit, |m| m.member.device_id)))
}

#[derive(Serialize)]
struct Acted {
    #[serde(flatten)]
    campaign: Campaign,
    /// Only for a start, a resume or a re-notify: what its immediate wave
    /// did.
    #[serde(skip_serializing_if = "Option::is_none")]
    notified: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<usize>,
}

async fn act(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(i64, String)>,
) -> ApiResult {
    caller.require(Permission::ManageFirmware)?;
    let (id, action) = path.into_inner();
    let action = Action::parse(&action).ok_or_else(|| {
        ApiError::NotFound(format!(
            "there is no campaign action {action:?}: use start, pause, resume, cancel or renotify"
        ))
    })?;
    let actor = caller.actor();
    let vault = state.vault.clone();
    let max_parts = state.config.sms_max_parts;
    let (c, sent) = state
        .db
        .run(move |conn| -> Result<_, CampaignError> {
            let mut c = campaign::act(conn, &actor, id, action)?;
            if !matches!(action, Action::Start | Action::Resume | Action::Renotify) {
                return Ok((c, None));
            }
            // The first wave (or the held one) goes out now.
            let t = campaign_run::step_now(conn, &vault, max_parts, id);
            // Read back: a wave whose devices were all skipped has already
            // moved the campaign on.
            match campaign::get(conn, id) {
                Ok(now) => c = now,
                Err(e) => {
                    tracing::warn!(campaign = id, error = %e, "reading the campaign back failed")
                }
            }
            Ok((c, Some(t)))
        })
        .await?;
    if sent.as_ref().is_some_and(|t| t.notified > 0) {
        if let Some(m) = &state.messaging {
            m.wake();
        }
    }
    Ok(HttpResponse::Ok().json(Acted {
        campaign: c,
        notified: sent.as_ref().map(|t| t.notified),
        skipped: sent.as_ref().map(|t| t.skipped),
    }))
}

/// The re-queue round the caller read (`requeue_round`): a retry of a
/// request whose answer was lost names a round already done, and queues
/// nothing twice.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequeueBody {
    round: i32,
}

#[derive(Serialize)]
struct RequeueAnswer {
    #[serde(flatten)]
    requeued: campaign::Requeued,
    /// What the first new wave did at once (a running campaign at it).
    notified: usize,
    skipped: usize,
}

async fn requeue(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<i64>,
    body: web::Json<RequeueBody>,
) -> ApiResult {
    caller.require(Permission::ManageFirmware)?;
    let id = path.into_inner();
    let round = body.into_inner().round;
    let actor = caller.actor();
    let vault = state.vault.clone();
    let max_parts = state.config.sms_max_parts;
    let (mut r, t) = state
        .db
        .run(move |conn| -> Result<_, CampaignError> {
            let r = campaign::requeue_skipped(conn, &actor, id, round)?;
            if !r.restarted() {
                return Ok((r, campaign_run::Ticked::default()));
            }
            let t = campaign_run::step_now(conn, &vault, max_parts, id);
            Ok((r, t))
        })
        .await?;
    if t.notified > 0 {
        if let Some(m) = &state.messaging {
            m.wake();
        }
    }
    // Read back: the new wave may have moved the campaign on already.
    if !r.repeated {
        r.campaign = state.db.run(move |c| campaign::get(c, id)).await?;
    }
    Ok(HttpResponse::Ok().json(RequeueAnswer {
        requeued: r,
        notified: t.notified,
        skipped: t.skipped,
    }))
}
