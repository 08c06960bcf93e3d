//! Firmware Management → FOTA campaigns: plan a network-initiated update of
//! an update path's devices in waves, start, pause, resume or cancel it,
//! and follow it wave by wave.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::campaign_chart::{self, WaveChart};
use super::csv_export;
use super::forms::FormData;
use super::session::{flash, Area, CurrentUser, PageCtx};
use super::{redirect, render, render_status, AppState, WebError};
use crate::auth::Permission;
use crate::fota::campaign::{
    self, Action, Campaign, CampaignError, Listed, MemberState, Plan, Progress, Tally,
};
use crate::fota::campaign_run;
use crate::fota::campaign_schedule::{self, Schedule, Window, Zone};
use crate::registry::RegistryError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/firmware/campaigns", web::get().to(list))
        .route("/firmware/campaigns", web::post().to(create))
        .route("/firmware/campaigns/new", web::get().to(new_form))
        .route("/firmware/campaigns/{id}", web::get().to(detail))
        .route(
            "/firmware/campaigns/{id}/devices.csv",
            web::get().to(export),
        )
        // Before the actions' pattern, which would take it for one.
        .route(
            "/firmware/campaigns/{id}/schedule",
            web::post().to(reschedule),
        )
        .route("/firmware/campaigns/{id}/requeue", web::post().to(requeue))
        .route("/firmware/campaigns/{id}/{action}", web::post().to(act));
}

impl From<CampaignError> for WebError {
    fn from(e: CampaignError) -> Self {
        match e {
            CampaignError::NotFound(_) => WebError::NotFound(e.to_string()),
            CampaignError::Transition { .. } => WebError::Conflict(e.to_string()),
            CampaignError::Invalid(_)
            | CampaignError::NoPackage(_)
            | CampaignError::NoDevices(_)
            | CampaignError::NotReachable(_) => WebError::BadRequest(e.to_string()),
            other => WebError::Internal(other.to_string()),
        }
    }
}

// ---- List ----------------------------------------------------------------

pub struct ListRow {
    pub c: Campaign,
    pub done: i64,
    /// Its devices now, as its page counts them (a device deleted or
    /// purged since the plan leaves the campaign with it).
    pub total: i64,
    pub percent: i64,
    pub failure: Option<i64>,
    /// Why a running campaign notifies nobody now.
    pub waiting: Option<String>,
    /// `completed: nothing updated` for an end that updated nobody.
    pub state_label: String,
    /// Whether it ended without updating anyone (shown as a failure).
    pub nothing_updated: bool,
}

#[derive(Template)]
#[template(path = "firmware/campaigns.html")]
struct ListPage {
    ctx: PageCtx,
    rows: Vec<ListRow>,
}

impl ListPage {
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }
}

async fn list(state: web::Data<AppState>, user: CurrentUser) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageFirmware)?;
    let rows = state
        .db
        .run(|c| -> Result<_, CampaignError> {
            let listed = campaign::list(c, 200)?;
            let mut tallies =
                campaign::overall(c, &listed.iter().map(|c| c.id).collect::<Vec<_>>())?;
            let now = crate::db::now_ms();
            Ok(listed
                .into_iter()
                .map(|camp| {
                    let overall = tallies.remove(&camp.id).unwrap_or_default();
                    ListRow {
                        state_label: camp.state_label(&overall),
                        nothing_updated: camp.outcome(&overall) == Some("nothing_updated"),
                        done: overall.finished(),
                        total: overall.total(),
                        percent: campaign_chart::percent_done(&overall),
                        failure: overall.failure_percent(),
                        waiting: camp.waiting(now),
                        c: camp,
                    }
                })
                .collect::<Vec<_>>())
        })
        .await?;
    render(&ListPage {
        ctx: user.ctx(Area::Firmware),
        rows,
    })
}

// ---- New -----------------------------------------------------------------

/// An update path with a released package and devices on it: what a
/// campaign can be planned for.
pub struct PathOption {
    pub value: String,
    pub label: String,
    pub selected: bool,
    /// `LG VX9600 VX9600V04 → VX9600V06`.
    pub path: String,
    /// Who a campaign planned now would reach on it: its devices with
    /// OMA-DM credentials and a line (the others are skipped when their
    /// wave comes), counted as the campaign's own reach counts them.
    pub reach: campaign::Reach,
}

#[derive(Template)]
#[template(path = "firmware/campaign_form.html")]
struct FormPage {
    ctx: PageCtx,
    paths: Vec<PathOption>,
    name: String,
    canary: String,
    wave_size: String,
    failure_threshold: String,
    answer_within_mins: String,
    window: String,
    not_before: String,
    mdn_prefix: String,
    account_id: String,
    window_zone: String,
    zones: &'static [String],
    error: String,
    /// Why the time zone was refused, shown at its field.
    zone_error: String,
}

/// The `path` field's value: make, model and version, form-encoded so any
/// character in them survives.
fn path_value(make: &str, model: &str, from: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("make", make)
        .append_pair("model", model)
        .append_pair("from", from)
        .finish()
}

fn parse_path(v: &str) -> Option<(String, String, String)> {
    let (mut make, mut model, mut from) = (None, None, None);
    for (k, val) in url::form_urlencoded::parse(v.as_bytes()) {
        match k.as_ref() {
            "make" => make = Some(val.into_owned()),
            "model" => model = Some(val.into_owned()),
            "from" => from = Some(val.into_owned()),
            _ => {}
        }
    }
    Some((make?, model?, from?))
}

async fn paths(state: &AppState, chosen: Option<String>) -> Result<Vec<PathOption>, WebError> {
    let rows = state
        .db
        .run(|c| -> Result<_, RegistryError> {
            let mut out = Vec::new();
            let mut reaches = campaign::path_reach(c)?;
            // Counted as a plan takes them: de-activated devices are left out.
            for r in campaign::path_populations(c)? {
                // Only what a campaign can reach: FOTA over OMA-DM.
                let cap = crate::registry::capability::for_device(
                    c,
                    &r.make,
                    &r.model,
                    &r.firmware_version,
                )?;
                if !cap.is_some_and(|cap| {
                    cap.fota && cap.protocol() != crate::registry::capability::Protocol::Iota
                }) {
                    continue;
                }
                if let Some(p) = crate::firmware::package::find_update(
                    c,
                    &r.make,
                    &r.model,
                    &r.firmware_version,
                )? {
                    let key = (r.make.clone(), r.model.clone(), r.firmware_version.clone());
                    let reach = reaches.remove(&key).unwrap_or_default();
                    out.push((r, p, reach));
                }
            }
            Ok(out)
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|(r, p, reach)| {
            let value = path_value(&r.make, &r.model, &r.firmware_version);
            let path = format!(
                "{} {} {} → {}",
                r.make, r.model, r.firmware_version, p.to_version
            );
            PathOption {
                selected: chosen.as_deref() == Some(value.as_str()),
                label: format!(
                    "{path} ({} {}, {} device{}) · {} with DM credentials",
                    if p.is_full_image() {
                        "full image"
                    } else {
                        "delta"
                    },
                    p.id,
                    r.count,
                    if r.count == 1 { "" } else { "s" },
                    reach.with_credentials()
                ),
                value,
                path,
                reach,
            }
        })
        .collect())
}

#[derive(Deserialize)]
pub struct NewQuery {
    make: Option<String>,
    model: Option<String>,
    from: Option<String>,
}

async fn new_form(
    state: web::Data<AppState>,
    user: CurrentUser,
    q: web::Query<NewQuery>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageFirmware)?;
    let chosen = match (&q.make, &q.model, &q.from) {
        (Some(a), Some(b), Some(c)) => Some(path_value(a, b, c)),
        _ => None,
    };
    render(&FormPage {
        ctx: user.ctx(Area::Firmware),
        paths: paths(&state, chosen).await?,
        name: String::new(),
        canary: String::new(),
        wave_size: "100".into(),
        failure_threshold: "10".into(),
        answer_within_mins: campaign::DEFAULT_ANSWER_WITHIN_MINS.to_string(),
        window: String::new(),
        not_before: String::new(),
        mdn_prefix: String::new(),
        account_id: String::new(),
        window_zone: String::new(),
        zones: Zone::names(),
        error: String::new(),
        zone_error: String::new(),
    })
}

async fn create(
    state: web::Data<AppState>,
    user: CurrentUser,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageFirmware)?;
    user.check_form(&form)?;
    let field = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let chosen = field("path");
    let number = |k: &str, what: &str| {
        field(k)
            .parse::<i32>()
            .map_err(|_| CampaignError::Invalid(format!("The {what} must be a whole number.")))
    };
    let plan = (|| {
        let (make, model, from_version) = parse_path(&chosen).ok_or_else(|| {
            CampaignError::Invalid("Choose the update path the campaign is for.".into())
        })?;
        Ok::<_, CampaignError>(Plan {
            name: field("name"),
            make,
            model,
            from_version,
            // Forms from before the canary field (and scripts) send a
            // first wave size; its meaning is kept (see `Plan::first_wave`).
            first_wave_size: match field("first_wave_size") {
                v if v.is_empty() => None,
                _ => Some(number("first_wave_size", "first wave")?),
            },
            canary: match field("canary") {
                v if v.is_empty() => None,
                _ => Some(number("canary", "canary")?),
            },
            wave_size: number("wave_size", "wave size")?,
            failure_threshold: number("failure_threshold", "failure threshold")?,
            schedule: schedule_of(&form)?,
            population: campaign::Population::new(
                Some(field("mdn_prefix")),
                Some(field("account_id")),
            ),
        })
    })();
    let outcome = match plan {
        Ok(plan) => {
            let actor = user.actor();
            state
                .db
                .run(move |c| -> Result<_, CampaignError> {
                    let camp = campaign::create(c, &actor, &plan)?;
                    let reach = campaign::reach(c, camp.id)?;
                    Ok((camp, reach))
                })
                .await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok((c, reach)) => {
            // The plan says up front what it cannot reach: a campaign
            // whose devices all lack credentials would "complete" at once.
            let (level, warning) = match reach.summary() {
                Some(s) if reach.mostly_unreachable() => ("error", format!(" Warning: {s}")),
                Some(s) => ("info", format!(" {s}")),
                None => ("success", String::new()),
            };
            flash(
                &user.session,
                level,
                format!(
                    "Campaign {} planned: {} device(s) in {} wave(s). Start it when ready.{warning}",
                    c.name, c.devices, c.waves
                ),
            );
            Ok(redirect(&format!("/firmware/campaigns/{}", c.id)))
        }
        Err(
            e @ (CampaignError::Invalid(_)
            | CampaignError::NoPackage(_)
            | CampaignError::NoDevices(_)
            | CampaignError::NotReachable(_)),
        ) => {
            tracing::info!(error = %e, "campaign refused");
            let zone_error = schedule_of(&form)
                .ok()
                .and_then(|s| s.problem())
                .filter(|(name, _)| *name == "window_zone")
                .map(|(_, why)| why)
                .unwrap_or_default();
            render_status(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                &FormPage {
                    ctx: user.ctx(Area::Firmware),
                    paths: paths(&state, Some(chosen)).await?,
                    name: field("name"),
                    // A first wave sent by an older form is shown as the
                    // canary it asked for.
                    canary: Some(field("canary"))
                        .filter(|v| !v.is_empty())
                        .unwrap_or_else(|| field("first_wave_size")),
                    wave_size: field("wave_size"),
                    failure_threshold: field("failure_threshold"),
                    answer_within_mins: field("answer_within_mins"),
                    window: field("window"),
                    not_before: field("not_before"),
                    mdn_prefix: field("mdn_prefix"),
                    account_id: field("account_id"),
                    window_zone: field("window_zone"),
                    zones: Zone::names(),
                    error: if zone_error.is_empty() {
                        e.to_string()
                    } else {
                        "Please correct the field marked below.".into()
                    },
                    zone_error,
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// The schedule fields of the plan and reschedule forms; empty ones mean
/// any time, from now, a day to answer.
fn schedule_of(form: &FormData) -> Result<Schedule, CampaignError> {
    let field = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    Ok(Schedule {
        answer_within_mins: match field("answer_within_mins") {
            v if v.is_empty() => None,
            v => Some(v.parse::<i32>().map_err(|_| {
                CampaignError::Invalid("The answer time must be a whole number of minutes.".into())
            })?),
        },
        window: match field("window") {
            v if v.is_empty() => None,
            v => Some(Window::parse(&v).map_err(CampaignError::Invalid)?),
        },
        zone: Zone::parse(&field("window_zone")).map_err(CampaignError::Invalid)?,
        not_before: match field("not_before") {
            v if v.is_empty() => None,
            v => Some(campaign_schedule::parse_time(&v).map_err(CampaignError::Invalid)?),
        },
    })
}

// ---- Detail --------------------------------------------------------------

#[derive(Template)]
#[template(path = "firmware/campaign.html")]
struct DetailPage {
    ctx: PageCtx,
    c: Campaign,
    package_name: String,
    p: Progress,
    chart: WaveChart,
    percent: i64,
    actions: Vec<(&'static str, &'static str)>,
    /// Whether its skipped devices can be queued again.
    requeue: bool,
    /// Whether they would rejoin the canary and go out first (it has not
    /// been overtaken by wave 2), rather than follow the last wave.
    requeue_first: bool,
    /// How many of the devices still to notify cannot be reached, in
    /// words; `None` when all can (or none is left to notify).
    reach: Option<String>,
    /// Whether that is all or most of them: shown as a warning.
    reach_warning: bool,
    state_label: String,
    nothing_updated: bool,
    members: Vec<Listed>,
    states: Vec<&'static str>,
    state: String,
    next: Option<String>,
    /// The devices list's first page, when this is a later one.
    first_page: Option<String>,
    waiting: Option<String>,
    /// The schedule form's values.
    window: String,
    window_zone: String,
    zones: &'static [String],
    not_before: String,
}

impl DetailPage {
    fn t(&self, ms: &i64) -> String {
        crate::timefmt::utc(*ms)
    }

    fn ot(&self, ms: &Option<i64>) -> String {
        ms.map(crate::timefmt::utc).unwrap_or_else(|| "—".into())
    }

    /// The devices list's pager; its total is the progress tally's, for the
    /// state chosen, so it costs no query.
    fn pager(&self) -> super::pager::Pager {
        let mut pager = super::pager::Pager::new(("device", "devices"), self.members.len());
        pager.next = self.next.clone();
        pager.first = self.first_page.clone();
        let t = &self.p.overall;
        pager.total = match MemberState::parse(&self.state) {
            None if self.state.is_empty() => Some(t.total()),
            None => None,
            Some(MemberState::Queued) => Some(t.queued),
            Some(MemberState::Notified) => Some(t.notified),
            Some(MemberState::Succeeded) => Some(t.succeeded),
            Some(MemberState::Failed) => Some(t.failed),
            Some(MemberState::Declined) => Some(t.declined),
            Some(MemberState::Unanswered) => Some(t.unanswered),
            Some(MemberState::Skipped) => Some(t.skipped),
            Some(MemberState::Cancelled) => Some(t.cancelled),
        }
        .map(super::pager::Total::exact);
        pager
    }

    fn failure(&self, t: &Tally) -> String {
        t.failure_percent()
            .map(|p| format!("{p}%"))
            .unwrap_or_else(|| "—".into())
    }
}

#[derive(Deserialize)]
pub struct MembersQuery {
    state: Option<String>,
    after: Option<i64>,
}

const PAGE: i64 = 100;

async fn detail(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    q: web::Query<MembersQuery>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageFirmware)?;
    let id = path.into_inner();
    let filter = q.state.as_deref().and_then(MemberState::parse);
    let after = q.after.unwrap_or(0);
    let (c, package_name, p, members, reach, requeue_first) = state
        .db
        .run(move |conn| -> Result<_, CampaignError> {
            let c = campaign::get(conn, id)?;
            let package_name = crate::firmware::package::get(conn, c.package_id)
                .map(|p| p.name)
                .unwrap_or_else(|_| format!("package {}", c.package_id));
            let p = campaign::progress(conn, &c)?;
            let members = campaign::members(conn, id, filter, after, PAGE)?;
            let reach = if p.overall.queued > 0 && c.reschedulable() {
                campaign::reach(conn, id)?
            } else {
                campaign::Reach::default()
            };
            let requeue_first = p.overall.skipped > 0 && campaign::canary_ahead(conn, &c)?;
            Ok((c, package_name, p, members, reach, requeue_first))
        })
        .await?;
    let next = (members.len() as i64 == PAGE).then(|| {
        format!(
            "/firmware/campaigns/{id}?{}after={}#devices",
            filter
                .map(|s| format!("state={}&", s.as_str()))
                .unwrap_or_default(),
            members.last().map(|m| m.member.device_id).unwrap_or(0)
        )
    });
    let first_page = (after > 0).then(|| {
        format!(
            "/firmware/campaigns/{id}{}#devices",
            filter
                .map(|s| format!("?state={}", s.as_str()))
                .unwrap_or_default()
        )
    });
    let mut actions = match c.state() {
        campaign::CampaignState::Draft => vec![("start", "Start"), ("cancel", "Cancel")],
        campaign::CampaignState::Running => vec![("pause", "Pause"), ("cancel", "Cancel")],
        campaign::CampaignState::Paused => vec![("resume", "Resume"), ("cancel", "Cancel")],
        _ => Vec::new(),
    };
    if p.overall.unanswered > 0 && c.state() != campaign::CampaignState::Cancelled {
        actions.insert(0, ("renotify", "Notify unanswered again"));
    }
    let requeue = p.overall.skipped > 0
        && matches!(
            c.state(),
            campaign::CampaignState::Running
                | campaign::CampaignState::Paused
                | campaign::CampaignState::Completed
        );
    let chart = WaveChart::new(&p);
    render(&DetailPage {
        ctx: user.ctx(Area::Firmware),
        requeue,
        requeue_first,
        reach: reach.summary(),
        reach_warning: reach.mostly_unreachable(),
        state_label: c.state_label(&p.overall),
        nothing_updated: c.outcome(&p.overall) == Some("nothing_updated"),
        chart,
        percent: campaign_chart::percent_done(&p.overall),
        package_name,
        actions,
        members,
        states: MemberState::ALL.iter().map(|s| s.as_str()).collect(),
        state: filter.map(|s| s.as_str().to_string()).unwrap_or_default(),
        next,
        first_page,
        waiting: c.waiting(crate::db::now_ms()),
        window: c.window().map(|w| w.to_string()).unwrap_or_default(),
        window_zone: c.window_zone.clone().unwrap_or_default(),
        zones: Zone::names(),
        not_before: c
            .not_before
            .map(campaign_schedule::form_time)
            .unwrap_or_default(),
        c,
        p,
    })
}

async fn act(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(i64, String)>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageFirmware)?;
    user.check_form(&form)?;
    let (id, action) = path.into_inner();
    let action = Action::parse(&action)
        .ok_or_else(|| WebError::NotFound("There is no such campaign action.".into()))?;
    let actor = user.actor();
    let vault = state.vault.clone();
    let max_parts = state.config.sms_max_parts;
    let outcome = state
        .db
        .run(move |c| -> Result<_, CampaignError> {
            let mut camp = campaign::act(c, &actor, id, action)?;
            // The first wave (or the held one) goes out now.
            let t = if matches!(action, Action::Start | Action::Resume | Action::Renotify) {
                let t = campaign_run::step_now(c, &vault, max_parts, id);
                // Read back: that wave may have held or completed it already.
                match campaign::get(c, id) {
                    Ok(now) => camp = now,
                    Err(e) => {
                        tracing::warn!(campaign = id, error = %e, "reading the campaign back failed")
                    }
                }
                t
            } else {
                campaign_run::Ticked::default()
            };
            Ok((camp, t))
        })
        .await;
    match outcome {
        Ok((c, t)) => {
            if t.notified > 0 {
                if let Some(m) = &state.messaging {
                    m.wake();
                }
            }
            let waiting = c
                .waiting(crate::db::now_ms())
                .map(|w| format!(" It is {w}."))
                .unwrap_or_default();
            let message = match action {
                Action::Renotify if c.state() == campaign::CampaignState::Paused => format!(
                    "Campaign {}: its unanswered devices are queued again as wave {}. The campaign is paused: Resume sends them (after any waves still waiting).",
                    c.name, c.waves
                ),
                Action::Renotify => format!(
                    "Campaign {}: its unanswered devices are queued again as wave {}; {} notified now.{waiting}",
                    c.name, c.waves, t.notified
                ),
                Action::Start | Action::Resume => format!(
                    "Campaign {} is {}: {} device(s) notified now{}.",
                    c.name,
                    state_words(&c),
                    t.notified,
                    if t.skipped > 0 {
                        format!(", {} skipped", t.skipped)
                    } else {
                        String::new()
                    }
                ) + &waiting,
                Action::Pause => format!(
                    "Campaign {} is paused: devices already notified finish their updates; no new wave starts.",
                    c.name
                ),
                Action::Cancel => format!(
                    "Campaign {} is cancelled: devices already notified finish their updates; the rest are not notified.",
                    c.name
                ),
            };
            // A start or resume that ended held or having updated nobody
            // is no success to report in green.
            let level = match c.state() {
                campaign::CampaignState::Paused
                    if matches!(action, Action::Start | Action::Resume) =>
                {
                    "error"
                }
                campaign::CampaignState::Completed if c.detail.starts_with("nothing updated") => {
                    "error"
                }
                _ => "success",
            };
            flash(&user.session, level, message);
        }
        Err(e @ (CampaignError::Transition { .. } | CampaignError::Invalid(_))) => {
            flash(&user.session, "error", e.to_string());
        }
        Err(e) => return Err(e.into()),
    }
    Ok(redirect(&format!("/firmware/campaigns/{id}")))
}

/// Queues the campaign's skipped devices again. The form carries the
/// re-queue round the page showed: a second click finds it done and queues
/// nothing.
async fn requeue(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageFirmware)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let round = form
        .get("round")
        .and_then(|r| r.trim().parse::<i32>().ok())
        .ok_or_else(|| {
            WebError::BadRequest(
                "The re-queue form is incomplete: reload the campaign's page and try again.".into(),
            )
        })?;
    let actor = user.actor();
    let vault = state.vault.clone();
    let max_parts = state.config.sms_max_parts;
    let outcome = state
        .db
        .run(move |c| -> Result<_, CampaignError> {
            let mut r = campaign::requeue_skipped(c, &actor, id, round)?;
            // A completed campaign runs again: its first new wave goes out
            // now (a running one reaches the new waves in turn).
            let t = if r.restarted() {
                let t = campaign_run::step_now(c, &vault, max_parts, id);
                match campaign::get(c, id) {
                    Ok(now) => r.campaign = now,
                    Err(e) => {
                        tracing::warn!(campaign = id, error = %e, "reading the campaign back failed")
                    }
                }
                t
            } else {
                campaign_run::Ticked::default()
            };
            Ok((r, t))
        })
        .await;
    match outcome {
        Ok((r, _)) if r.repeated => flash(
            &user.session,
            "info",
            format!(
                "Campaign {}: its skipped devices were already re-queued (this page was from before re-queue {}); nothing was queued again.",
                r.campaign.name, r.campaign.requeue_round
            ),
        ),
        Ok((r, t)) => {
            if t.notified > 0 {
                if let Some(m) = &state.messaging {
                    m.wake();
                }
            }
            let c = &r.campaign;
            let waves = match (r.first_wave, r.last_wave) {
                (Some(a), Some(b)) if a == b => format!("wave {a}"),
                (Some(a), Some(b)) => format!("waves {a}–{b}"),
                _ => String::new(),
            };
            let then = if c.state() == campaign::CampaignState::Paused {
                if r.first_wave.is_some_and(|w| w <= c.wave) {
                    // Back in the canary, which had not been overtaken.
                    format!(
                        " The campaign is paused: Resume sends them first, with the canary, before wave {}.",
                        c.wave + 1
                    )
                } else {
                    " The campaign is paused: Resume sends them (after any waves still waiting).".to_string()
                }
            } else if t.notified + t.skipped > 0 {
                format!(
                    " Now {} notified, {} skipped again (a reason that still holds; the device list says which).",
                    t.notified, t.skipped
                ) + &c
                    .waiting(crate::db::now_ms())
                    .map(|w| format!(" It is {w}."))
                    .unwrap_or_default()
            } else {
                let turn = if r.first_wave.is_some_and(|w| c.wave < w) {
                    format!(
                        " They follow the waves still to come (now at wave {}).",
                        c.wave
                    )
                } else {
                    String::new()
                };
                turn + &c
                    .waiting(crate::db::now_ms())
                    .map(|w| format!(" It is {w}."))
                    .unwrap_or_default()
            };
            flash(
                &user.session,
                "success",
                format!(
                    "Campaign {}: {} skipped device(s) re-queued as {waves}.{then}",
                    c.name, r.requeued
                ),
            );
        }
        Err(e @ (CampaignError::Transition { .. } | CampaignError::Invalid(_))) => {
            tracing::info!(campaign = id, error = %e, "campaign re-queue refused");
            flash(&user.session, "error", e.to_string());
        }
        Err(e) => return Err(e.into()),
    }
    Ok(redirect(&format!("/firmware/campaigns/{id}")))
}

/// A campaign's state as an operator reads it, with why when it is held.
fn state_words(c: &campaign::Campaign) -> String {
    if c.detail.is_empty() || c.state() == campaign::CampaignState::Running {
        c.state.clone()
    } else {
        format!("{} ({})", c.state, c.detail)
    }
}

async fn reschedule(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    form: web::Form<FormData>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageFirmware)?;
    user.check_form(&form)?;
    let id = path.into_inner();
    let actor = user.actor();
    let vault = state.vault.clone();
    let max_parts = state.config.sms_max_parts;
    let outcome = match schedule_of(&form) {
        Ok(schedule) => {
            state
                .db
                .run(move |c| -> Result<_, CampaignError> {
                    let camp = campaign::reschedule(c, &actor, id, &schedule)?;
                    // A window that is open now lets the held wave out at
                    // once rather than at the next tick.
                    let t = if camp.state() == campaign::CampaignState::Running {
                        campaign_run::step_now(c, &vault, max_parts, id)
                    } else {
                        campaign_run::Ticked::default()
                    };
                    Ok((camp, t))
                })
                .await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok((c, t)) => {
            if t.notified > 0 {
                if let Some(m) = &state.messaging {
                    m.wake();
                }
            }
            flash(
                &user.session,
                "success",
                format!(
                    "Campaign {} now runs {}.{}",
                    c.name,
                    c.schedule_label(),
                    if t.notified > 0 {
                        format!(" {} device(s) notified now.", t.notified)
                    } else {
                        String::new()
                    }
                ),
            );
        }
        Err(e @ (CampaignError::Invalid(_) | CampaignError::Transition { .. })) => {
            tracing::info!(campaign = id, error = %e, "campaign schedule refused");
            flash(&user.session, "error", e.to_string());
        }
        Err(e) => return Err(e.into()),
    }
    Ok(redirect(&format!("/firmware/campaigns/{id}#schedule")))
}

/// A campaign's devices as CSV (optionally one state's): the unanswered
/// ones for care to call, the failed ones for the vendor.
async fn export(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    q: web::Query<MembersQuery>,
) -> Result<HttpResponse, WebError> {
    user.require(Permission::ManageFirmware)?;
    let id = path.into_inner();
    let filter = match q.state.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            MemberState::parse(s)
                .ok_or_else(|| WebError::BadRequest(format!("There is no device state {s:?}.")))?,
        ),
    };
    // An unknown campaign is a 404 page, not an empty download.
    state.db.run(move |c| campaign::get(c, id)).await?;
    tracing::info!(user = %user.name, campaign = id, state = ?filter.map(MemberState::as_str), "campaign devices export started");
    let name = match filter {
        Some(s) => format!("campaign-{id}-{}.csv", s.as_str()),
        None => format!("campaign-{id}-devices.csv"),
    };
    Ok(csv_export::stream(
        state.db.clone(),
        &name,
        "device_id,meid,esn,mdn,wave,state,fota_session,detail,updated_at\n".into(),
        move |conn, after| {
            let page =
                campaign::members(conn, id, filter, after, 1000).map_err(|e| e.to_string())?;
            let bytes = csv_export::rows(page.iter().map(|l| {
                let m = &l.member;
                [
                    m.device_id.to_string(),
                    l.meid.clone().unwrap_or_default(),
                    l.esn.clone().unwrap_or_default(),
                    l.mdn.clone().unwrap_or_default(),
                    m.wave.to_string(),
                    m.state.clone(),
                    m.fota_session_id.map(|f| f.to_string()).unwrap_or_default(),
                    m.detail.clone(),
                    crate::timefmt::iso(m.updated_at),
                ]
            }));
            let next = (page.len() == 1000)
                .then(|| page.last().map(|l| l.member.device_id))
                .flatten();
            Ok((bytes, next))
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_survives_the_form_whatever_its_characters() {
        let v = path_value("A&B", "X=1 2", "v1.0+ü");
        assert_eq!(
            parse_path(&v),
            Some(("A&B".into(), "X=1 2".into(), "v1.0+ü".into()))
        );
        assert_eq!(parse_path("make=a&model=b"), None);
    }
}
