//! FOTA campaigns: a network-initiated update of every device on one update
//! path (make, model, from-version) in waves. The population is fixed when
//! the campaign is created; [`super::campaign_run`] notifies one wave at a
//! time and holds the next when a wave fails more than the threshold.

use diesel::prelude::*;
use serde::Serialize;

pub use super::campaign_schedule::DEFAULT_ANSWER_WITHIN_MINS;
use super::campaign_schedule::{self, Schedule, Window, Zone};

use crate::db::schema::{devices, fota_campaign_devices, fota_campaigns, profiles};
use crate::db::{now_ms, DbConnection, DbError};
use crate::firmware::package;
use crate::registry::audit::{self, EntityKind};
use crate::registry::Actor;

/// Wider waves would notify more handsets in one go than an SMSC link
/// usually takes in a minute.
pub const MAX_WAVE_SIZE: i32 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// Created; the population is fixed but nobody is notified yet.
    Draft,
    Running,
    /// Held by an operator, or by a wave over the failure threshold.
    Paused,
    Completed,
    Cancelled,
}

impl CampaignState {
    pub const ALL: [CampaignState; 5] = [
        CampaignState::Draft,
        CampaignState::Running,
        CampaignState::Paused,
        CampaignState::Completed,
        CampaignState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Draft => "draft",
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Completed => "completed",
            CampaignState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<CampaignState> {
        CampaignState::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What became of one device of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberState {
    /// Waiting for its wave.
    Queued,
    /// Its notification is queued or sent; its FOTA session is open.
    Notified,
    Succeeded,
    /// The update failed.
    Failed,
    /// The subscriber declined the update on the handset.
    Declined,
    /// The handset did not call back within the campaign's answer time
    /// (switched off, out of coverage): not a failure of the package, and
    /// it may be notified again.
    Unanswered,
    /// Could not be notified (no line, no DM credentials, another update
    /// open, a different version by now); the detail says which.
    Skipped,
    /// The campaign was cancelled before its wave.
    Cancelled,
}

impl MemberState {
    pub const ALL: [MemberState; 8] = [
        MemberState::Queued,
        MemberState::Notified,
        MemberState::Succeeded,
        MemberState::Failed,
        MemberState::Declined,
        MemberState::Unanswered,
        MemberState::Skipped,
        MemberState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Queued => "queued",
            MemberState::Notified => "notified",
            MemberState::Succeeded => "succeeded",
            MemberState::Failed => "failed",
            MemberState::Declined => "declined",
            MemberState::Unanswered => "unanswered",
            MemberState::Skipped => "skipped",
            MemberState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<MemberState> {
        MemberState::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Still to be decided: its wave is not over while any member is.
    pub fn is_open(self) -> bool {
        matches!(self, MemberState::Queued | MemberState::Notified)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("{0}")]
    Invalid(String),
    #[error("campaign {0} not found")]
    NotFound(i64),
    #[error("no released package updates {0}; release one before starting a campaign")]
    NoPackage(String),
    #[error("no device is at {0}: the campaign would have nobody to update")]
    NoDevices(String),
    /// Campaigns reach handsets through OMA-DM notifications; the
    /// capability registry must say the path takes FOTA over OMA-DM.
    #[error("{0}")]
    NotReachable(String),
    #[error("campaign {id} is {state}: it cannot be {action}")]
    Transition {
        id: i64,
        state: String,
        action: &'static str,
    },
    #[error(transparent)]
    Job(#[from] crate::omadm::job::JobError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error(transparent)]
    Fota(#[from] super::FotaError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for CampaignError {
    fn from(e: diesel::result::Error) -> Self {
        CampaignError::Db(DbError::Query(e))
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = fota_campaigns)]
pub struct Campaign {
    pub id: i64,
    pub name: String,
    pub make: String,
    pub model: String,
    pub from_version: String,
    pub package_id: i64,
    pub to_version: String,
    /// Wave 1's size, before waves of `wave_size` (the canary's, when it
    /// has one).
    pub first_wave_size: i32,
    pub wave_size: i32,
    /// Percent of a wave's finished updates that may fail before the
    /// campaign holds the next wave.
    pub failure_threshold: i32,
    pub state: String,
    /// The wave being notified or awaited; 0 before the start.
    pub wave: i32,
    pub waves: i32,
    pub devices: i32,
    /// Why it is paused or how it ended.
    pub detail: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// A notified handset that has not called back within this many
    /// minutes counts as unanswered.
    pub answer_within_mins: i32,
    /// The daily notification window, minutes of the UTC day; both or
    /// neither.
    pub window_from: Option<i32>,
    pub window_to: Option<i32>,
    /// No notification goes out before this time.
    pub not_before: Option<i64>,
    /// Only lines whose MDN starts with this (a market).
    pub mdn_prefix: Option<String>,
    /// Only lines of this billing account (a fleet).
    pub account_id: Option<String>,
    /// The IANA zone the window is kept in; `None` for UTC.
    pub window_zone: Option<String>,
    /// How many times its skipped devices were queued again; a re-queue
    /// names the round it saw, so a repeated request queues nobody twice.
    pub requeue_round: i32,
    /// The canary's size when the campaign has one: wave 1 proves the
    /// package before wave 2 goes out. `None`: every wave is alike.
    pub canary: Option<i32>,
}

impl Campaign {
    pub fn state(&self) -> CampaignState {
        CampaignState::parse(&self.state).unwrap_or(CampaignState::Cancelled)
    }

    pub fn window(&self) -> Option<Window> {
        Window::stored(self.window_from, self.window_to)
    }

    pub fn schedule(&self) -> Schedule {
        Schedule {
            answer_within_mins: Some(self.answer_within_mins),
            window: self.window(),
            zone: Zone::stored(self.window_zone.as_deref()),
            not_before: self.not_before,
        }
    }

    /// Whether its schedule can still change: not once it has ended.
    pub fn reschedulable(&self) -> bool {
        matches!(
            self.state(),
            CampaignState::Draft | CampaignState::Running | CampaignState::Paused
        )
    }

    /// Why a running campaign notifies nobody at `now` (its start is
    /// ahead, or it is outside its window); `None` when it may.
    pub fn waiting(&self, now: i64) -> Option<String> {
        if self.state() != CampaignState::Running {
            return None;
        }
        campaign_schedule::waiting(&self.schedule(), now)
    }

    /// The schedule in words, for pages and the CLI.
    pub fn schedule_label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(at) = self.not_before {
            parts.push(format!("from {}", crate::timefmt::utc(at)));
        }
        match self.window() {
            Some(w) => parts.push(format!(
                "daily {w} {}",
                Zone::stored(self.window_zone.as_deref()).label()
            )),
            None => parts.push("any time of day".into()),
        }
        parts.push(format!(
            "handsets answer within {}",
            minutes_label(self.answer_within_mins)
        ));
        parts.join("; ")
    }

    /// How a completed campaign came out (`None` before it ends, or when
    /// cancelled): `nothing_updated` when not one device was updated, so
    /// lists, the API and the CLI never show such an end as a success.
    pub fn outcome(&self, overall: &Tally) -> Option<&'static str> {
        (self.state() == CampaignState::Completed).then_some(if overall.succeeded > 0 {
            "updated"
        } else {
            "nothing_updated"
        })
    }

    /// The state in words: `completed: nothing updated` for such an end.
    pub fn state_label(&self, overall: &Tally) -> String {
        match self.outcome(overall) {
            Some("nothing_updated") => "completed: nothing updated".into(),
            _ => self.state.clone(),
        }
    }

    pub fn path_label(&self) -> String {
        format!(
            "{} {} {} → {}",
            self.make, self.model, self.from_version, self.to_version
        )
    }

    pub fn population(&self) -> Population {
        Population {
            mdn_prefix: self.mdn_prefix.clone(),
            account_id: self.account_id.clone(),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = fota_campaign_devices)]
pub struct Member {
    pub campaign_id: i64,
    pub device_id: i64,
    pub wave: i32,
    pub state: String,
    pub fota_session_id: Option<i64>,
    pub detail: String,
    pub updated_at: i64,
}

/// `90 minutes`, `2 hours`, `24 hours`.
pub fn minutes_label(m: i32) -> String {
    match m {
        60 => "1 hour".into(),
        m if m % 60 == 0 => format!("{} hours", m / 60),
        1 => "1 minute".into(),
        m => format!("{m} minutes"),
    }
}

/// Who of the update path's devices a campaign is for, beyond the path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Population {
    /// Lines whose MDN starts with these digits: an area code or an
    /// exchange, which is how operators roll out market by market.
    pub mdn_prefix: Option<String>,
    /// Lines of one billing account: an enterprise's fleet.
    pub account_id: Option<String>,
}

impl Population {
    /// Empty values mean no narrowing.
    pub fn new(mdn_prefix: Option<String>, account_id: Option<String>) -> Population {
        let given = |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Population {
            mdn_prefix: given(mdn_prefix),
            account_id: given(account_id),
        }
    }

    /// The first rule the population breaks, with the field it is about.
    fn problem(&self) -> Option<(&'static str, String)> {
        if let Some(p) = &self.mdn_prefix {
            if p.len() > 10 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Some((
                    "mdn_prefix",
                    format!(
                        "\"{p}\" is not an MDN prefix: up to 10 digits, such as an area code (312)."
                    ),
                ));
            }
        }
        if self
            .account_id
            .as_ref()
            .is_some_and(|a| a.chars().count() > 64)
        {
            return Some(("account_id", "An account id is up to 64 characters.".into()));
        }
        None
    }

    /// `lines 312…, account ACME-1`; `every line` when not narrowed.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.mdn_prefix {
            parts.push(format!("MDNs {p}…"));
        }
        if let Some(a) = &self.account_id {
            parts.push(format!("account {a}"));
        }
        if parts.is_empty() {
            "every device on the path".into()
        } else {
            parts.join(", ")
        }
    }
}

/// What an operator asks for.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub name: String,
    pub make: String,
    pub model: String,
    pub from_version: String,
    /// Wave 1's size when it should differ; `wave_size` if not. A size
    /// that differs asks for a canary of that size, as it always has.
    pub first_wave_size: Option<i32>,
    /// A canary of this many devices, asked for explicitly: wave 1 is the
    /// canary even when it is as large as the other waves.
    pub canary: Option<i32>,
    pub wave_size: i32,
    pub failure_threshold: i32,
    pub schedule: Schedule,
    pub population: Population,
}

impl Plan {
    fn check(&self) -> Result<(), CampaignError> {
        self.problem()
            .map_or(Ok(()), |(_, why)| Err(CampaignError::Invalid(why)))
    }

    /// The first rule the plan breaks, with the field it is about (the API
    /// names it; the forms show the message).
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Some((
                "name",
                "Give the campaign a name (up to 100 characters).".into(),
            ));
        }
        let path = [
            ("make", &self.make),
            ("model", &self.model),
            ("from_version", &self.from_version),
        ];
        if let Some((field, _)) = path.iter().find(|(_, v)| v.trim().is_empty()) {
            return Some((
                field,
                "Choose the update path: make, model and the version devices are at.".into(),
            ));
        }
        if !(1..=MAX_WAVE_SIZE).contains(&self.wave_size) {
            return Some((
                "wave_size",
                format!("The wave size must be between 1 and {MAX_WAVE_SIZE} devices."),
            ));
        }
        if self
            .first_wave_size
            .is_some_and(|f| !(1..=MAX_WAVE_SIZE).contains(&f))
        {
            return Some((
                "first_wave_size",
                format!("The first wave must be between 1 and {MAX_WAVE_SIZE} devices."),
            ));
        }
        if self
            .canary
            .is_some_and(|c| !(1..=MAX_WAVE_SIZE).contains(&c))
        {
            return Some((
                "canary",
                format!("The canary must be between 1 and {MAX_WAVE_SIZE} devices."),
            ));
        }
        if let (Some(c), Some(f)) = (self.canary, self.first_wave_size) {
            if c != f {
                return Some((
                    "canary",
                    format!(
                        "The canary is the first wave: a canary of {c} cannot have a first wave of {f}. Give one of them (or the same size in both)."
                    ),
                ));
            }
        }
        if !(0..=100).contains(&self.failure_threshold) {
            return Some((
                "failure_threshold",
                "The failure threshold is a percentage, 0 to 100.".into(),
            ));
        }
        self.population
            .problem()
            .or_else(|| self.schedule.problem())
    }

    /// Wave 1's size, and the canary's when there is one: the one asked
    /// for, else a first wave sized apart from the rest (what a canary
    /// was before it could be asked for by name, and still is).
    pub fn first_wave(&self) -> (i32, Option<i32>) {
        match (self.canary, self.first_wave_size) {
            (Some(c), _) => (c, Some(c)),
            (None, Some(f)) if f != self.wave_size => (f, Some(f)),
            (None, _) => (self.wave_size, None),
        }
    }
}

/// Creates a draft campaign and fixes its population: every device on the
/// path not de-activated, by device id: a first wave of `first_wave_size`,
/// then waves of `wave_size`.
pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    plan: &Plan,
) -> Result<Campaign, CampaignError> {
    plan.check()?;
    let (make, model, from) = (
        plan.make.trim(),
        plan.model.trim(),
        plan.from_version.trim(),
    );
    let path = format!("{make} {model} {from}");
    let (first, canary) = plan.first_wave();
    crate::db::write(conn, |conn| {
        reachable(conn, make, model, from, &path)?;
        let pkg = package::find_update(conn, make, model, from)?
            .ok_or_else(|| CampaignError::NoPackage(path.clone()))?;
        let now = now_ms();
        let row = (
            fota_campaigns::name.eq(plan.name.trim()),
            fota_campaigns::make.eq(make),
            fota_campaigns::model.eq(model),
            fota_campaigns::from_version.eq(from),
            fota_campaigns::package_id.eq(pkg.id),
            fota_campaigns::to_version.eq(&pkg.to_version),
            fota_campaigns::first_wave_size.eq(first),
            fota_campaigns::canary.eq(canary),
            fota_campaigns::wave_size.eq(plan.wave_size),
            fota_campaigns::failure_threshold.eq(plan.failure_threshold),
            fota_campaigns::state.eq(CampaignState::Draft.as_str()),
            fota_campaigns::waves.eq(0),
            fota_campaigns::devices.eq(0),
            fota_campaigns::created_by.eq(actor.to_string()),
            fota_campaigns::created_at.eq(now),
            fota_campaigns::updated_at.eq(now),
            fota_campaigns::answer_within_mins.eq(plan.schedule.answer_within()),
            fota_campaigns::window_from.eq(plan.schedule.window.map(Window::from_minute)),
            fota_campaigns::window_to.eq(plan.schedule.window.map(Window::to_minute)),
            fota_campaigns::not_before.eq(plan.schedule.not_before),
            fota_campaigns::window_zone.eq(plan.schedule.stored_zone()),
            fota_campaigns::mdn_prefix.eq(&plan.population.mdn_prefix),
            fota_campaigns::account_id.eq(&plan.population.account_id),
        );
        let id: i64 = crate::native!(conn, |c| diesel::insert_into(fota_campaigns::table)
            .values(row)
            .returning(fota_campaigns::id)
            .get_result(c))?;
        let devices = enrol(
            conn,
            id,
            (make, model, from),
            &plan.population,
            (first, plan.wave_size),
            now,
        )?;
        if devices == 0 {
            return Err(CampaignError::NoDevices(
                if plan.population == Population::default() {
                    path.clone()
                } else {
                    format!("{path} among {}", plan.population.label())
                },
            ));
        }
        let waves = wave_count(devices, first, plan.wave_size);
        diesel::update(fota_campaigns::table.find(id))
            .set((
                fota_campaigns::devices.eq(devices),
                fota_campaigns::waves.eq(waves),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            actor,
            EntityKind::Campaign,
            id,
            "FOTA campaign created",
            &serde_json::json!({"path": path, "package": pkg.id, "devices": devices, "waves": waves, "canary": canary}),
        )?;
        tracing::info!(campaign = id, devices, waves, path = %path, "FOTA campaign created");
        get(conn, id)
    })
}

/// The devices a campaign would take on each update path (make, model,
/// firmware version): those not de-activated, as `enrol` counts them.
pub fn path_populations(
    conn: &mut DbConnection,
) -> QueryResult<Vec<crate::registry::stats::VersionCount>> {
    let mut rows: Vec<crate::registry::stats::VersionCount> = devices::table
        .filter(devices::deactivated_at.is_null())
        .group_by((devices::make, devices::model, devices::firmware_version))
        .select((
            devices::make,
            devices::model,
            devices::firmware_version,
            diesel::dsl::count_star(),
        ))
        .load::<(String, String, String, i64)>(conn)?
        .into_iter()
        .map(
            |(make, model, firmware_version, count)| crate::registry::stats::VersionCount {
                make,
                model,
                firmware_version,
                count,
            },
        )
        .collect();
    rows.sort_by(|a, b| {
        (a.make.as_str(), a.model.as_str())
            .cmp(&(b.make.as_str(), b.model.as_str()))
            .then_with(|| {
                crate::registry::version::compare(&a.firmware_version, &b.firmware_version)
            })
    });
    Ok(rows)
}

/// Refuses a path a campaign cannot update: one the capability registry
/// does not know, or says takes no FOTA, or takes it only over IOTA (whose
/// handsets ask for updates themselves; nothing can wake them to).
fn reachable(
    conn: &mut DbConnection,
    make: &str,
    model: &str,
    from: &str,
    path: &str,
) -> Result<(), CampaignError> {
    use crate::registry::capability::{self, Protocol};
    match capability::for_device(conn, make, model, from)? {
        None => Err(CampaignError::NotReachable(format!(
            "{path} has no capability entry: add one (OMA-DM, FOTA) before planning a campaign"
        ))),
        Some(c) if !c.fota => Err(CampaignError::NotReachable(format!(
            "the capability registry says {path} takes no firmware update over the air"
        ))),
        Some(c) if c.protocol() == Protocol::Iota => Err(CampaignError::NotReachable(format!(
            "{path} updates over IOTA, when the handset asks; a campaign wakes handsets over OMA-DM"
        ))),
        Some(_) => Ok(()),
    }
}

/// How many waves `devices` make: the first, then the rest in `size`s.
fn wave_count(devices: i32, first: i32, size: i32) -> i32 {
    if devices <= first {
        1
    } else {
        1 + (devices - first + size - 1) / size
    }
}

/// Adds the path's devices in one statement, numbering waves as it goes, so
/// a population of a million costs no round trip per device.
fn enrol(
    conn: &mut DbConnection,
    campaign: i64,
    (make, model, from): (&str, &str, &str),
    population: &Population,
    (first, size): (i32, i32),
    now: i64,
) -> QueryResult<i32> {
    use diesel::sql_types::{BigInt, Integer, Nullable, Text};
    // Numbered parameters: both backends take `?N`/`$N` used twice. The
    // prefix is digits only (checked), so it carries no LIKE wildcard.
    // The profiles join only when it narrows: a path of a million devices
    // is planned without a million profile lookups.
    let narrowed = *population != Population::default();
    let sql = |p: char| {
        let (join, only) = if narrowed {
            (
                "JOIN profiles pr ON pr.id = d.profile_id".to_string(),
                format!(
                    "AND ({p}8 IS NULL OR pr.mdn LIKE {p}8 || '%') \
                     AND ({p}9 IS NULL OR pr.account_id = {p}9)"
                ),
            )
        } else {
            (String::new(), format!("AND {p}8 IS NULL AND {p}9 IS NULL"))
        };
        format!(
            "INSERT INTO fota_campaign_devices (campaign_id, device_id, wave, state, detail, updated_at) \
             SELECT {p}1, id, CASE WHEN rn <= {p}2 THEN 1 ELSE (rn - {p}2 - 1) / {p}3 + 2 END, 'queued', '', {p}4 \
             FROM (SELECT d.id, ROW_NUMBER() OVER (ORDER BY d.id) AS rn FROM devices d {join} \
                   WHERE d.make = {p}5 AND d.model = {p}6 AND d.firmware_version = {p}7 \
                   AND d.deactivated_at IS NULL {only}) AS population"
        )
    };
    let mark = match conn {
        DbConnection::Sqlite(_) => '?',
        DbConnection::Postgres(_) => '$',
    };
    let query = diesel::sql_query(sql(mark))
        .bind::<BigInt, _>(campaign)
        .bind::<Integer, _>(first)
        .bind::<Integer, _>(size)
        .bind::<BigInt, _>(now)
        .bind::<Text, _>(make)
        .bind::<Text, _>(model)
        .bind::<Text, _>(from)
        .bind::<Nullable<Text>, _>(population.mdn_prefix.as_deref())
        .bind::<Nullable<Text>, _>(population.account_id.as_deref());
    let n = crate::native!(conn, |c| query.execute(c))?;
    // The population is bounded by the devices table; a campaign of more
    // than two thousand million devices is not a case to handle.
    Ok(i32::try_from(n).unwrap_or(i32::MAX))
}

pub fn get(conn: &mut DbConnection, id: i64) -> Result<Campaign, CampaignError> {
    fota_campaigns::table
        .find(id)
        .select(Campaign::as_select())
        .first(conn)
        .optional()?
        .ok_or(CampaignError::NotFound(id))
}

/// Campaigns newest first, from just before the campaign `before` on.
pub fn page(
    conn: &mut DbConnection,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<Campaign>> {
    fota_campaigns::table
        .filter(fota_campaigns::id.lt(before.unwrap_or(i64::MAX)))
        .order(fota_campaigns::id.desc())
        .limit(limit)
        .select(Campaign::as_select())
        .load(conn)
}

pub fn list(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<Campaign>> {
    fota_campaigns::table
        .order(fota_campaigns::id.desc())
        .limit(limit)
        .select(Campaign::as_select())
        .load(conn)
}

/// The campaigns the scheduler looks after: running ones, and those whose
/// notified devices may still finish (paused, or cancelled less than two
/// notification lifetimes ago), so their outcomes are recorded.
pub fn tended_ids(conn: &mut DbConnection, now: i64) -> QueryResult<Vec<i64>> {
    let recent = now - 2 * crate::omadm::job::JOB_TTL_MS;
    fota_campaigns::table
        .filter(
            fota_campaigns::state
                .eq(CampaignState::Running.as_str())
                .or(fota_campaigns::state.eq(CampaignState::Paused.as_str()))
                .or(fota_campaigns::state
                    .eq(CampaignState::Cancelled.as_str())
                    .and(fota_campaigns::finished_at.gt(recent))),
        )
        .order(fota_campaigns::id)
        .select(fota_campaigns::id)
        .load(conn)
}

/// An operator's action on a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Pause,
    Resume,
    Cancel,
    /// Queue the devices that did not answer again, as a wave after the
    /// last: handsets that were off get another chance.
    Renotify,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "start" => Some(Action::Start),
            "pause" => Some(Action::Pause),
            "resume" => Some(Action::Resume),
            "cancel" => Some(Action::Cancel),
            "renotify" => Some(Action::Renotify),
            _ => None,
        }
    }

    fn past(self) -> &'static str {
        match self {
            Action::Start => "started",
            Action::Pause => "paused",
            Action::Resume => "resumed",
            Action::Cancel => "cancelled",
            Action::Renotify => "re-notified",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Cancel => "cancel",
            Action::Renotify => "renotify",
        }
    }

    /// The states the action applies to, and the state it leads to.
    fn rule(self) -> (&'static [CampaignState], CampaignState) {
        use CampaignState::*;
        match self {
            Action::Start => (&[Draft], Running),
            Action::Pause => (&[Running], Paused),
            Action::Resume => (&[Paused], Running),
            Action::Cancel => (&[Draft, Running, Paused], Cancelled),
            // A paused campaign stays paused: the operator resumes it.
            Action::Renotify => (&[Running, Paused, Completed], Running),
        }
    }
}

/// Applies an operator's action. Devices already notified keep their
/// sessions when a campaign is paused or cancelled: a notification cannot
/// be called back; only the devices still waiting are held or dropped.
pub fn act(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i64,
    action: Action,
) -> Result<Campaign, CampaignError> {
    crate::db::write(conn, |conn| {
        let c = get(conn, id)?;
        let (from, to) = action.rule();
        if !from.contains(&c.state()) {
            return Err(CampaignError::Transition {
                id,
                state: c.state.clone(),
                action: action.past(),
            });
        }
        if action == Action::Renotify {
            return renotify(conn, actor, &c);
        }
        let now = now_ms();
        let detail = match action {
            Action::Pause => format!("paused by {actor}"),
            Action::Cancel => format!("cancelled by {actor}"),
            Action::Start | Action::Resume | Action::Renotify => String::new(),
        };
        // Conditional on the state read: a node's tick that paused or
        // completed it meanwhile wins, and this reports the conflict.
        let changed = diesel::update(
            fota_campaigns::table
                .find(id)
                .filter(fota_campaigns::state.eq(&c.state)),
        )
        .set((
            fota_campaigns::state.eq(to.as_str()),
            fota_campaigns::detail.eq(&detail),
            fota_campaigns::updated_at.eq(now),
            fota_campaigns::wave.eq(if action == Action::Start { 1 } else { c.wave }),
            fota_campaigns::started_at.eq(if action == Action::Start {
                Some(now)
            } else {
                c.started_at
            }),
            fota_campaigns::finished_at.eq(if action == Action::Cancel {
                Some(now)
            } else {
                c.finished_at
            }),
        ))
        .execute(conn)?;
        if changed == 0 {
            return Err(CampaignError::Transition {
                id,
                state: get(conn, id)?.state,
                action: action.past(),
            });
        }
        if action == Action::Cancel {
            diesel::update(
                fota_campaign_devices::table
                    .filter(fota_campaign_devices::campaign_id.eq(id))
                    .filter(fota_campaign_devices::state.eq(MemberState::Queued.as_str())),
            )
            .set((
                fota_campaign_devices::state.eq(MemberState::Cancelled.as_str()),
                fota_campaign_devices::detail.eq("the campaign was cancelled before its wave"),
                fota_campaign_devices::updated_at.eq(now),
            ))
            .execute(conn)?;
        }
        audit::record(
            conn,
            actor,
            EntityKind::Campaign,
            id,
            &format!("FOTA campaign {}", action.past()),
            &serde_json::Value::Null,
        )?;
        tracing::info!(campaign = id, action = action.past(), by = %actor, "FOTA campaign");
        get(conn, id)
    })
}

/// Changes when a draft, running or paused campaign may notify and how
/// long its handsets have to answer. Devices already notified keep the
/// notification they have; a new answer time applies to them from now on.
pub fn reschedule(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i64,
    schedule: &Schedule,
) -> Result<Campaign, CampaignError> {
    schedule.check().map_err(CampaignError::Invalid)?;
    crate::db::write(conn, |conn| {
        let c = get(conn, id)?;
        let refused = || CampaignError::Transition {
            id,
            state: c.state.clone(),
            action: "rescheduled",
        };
        if !c.reschedulable() {
            return Err(refused());
        }
        let before = c.schedule_label();
        let changed = diesel::update(
            fota_campaigns::table
                .find(id)
                .filter(fota_campaigns::state.eq(&c.state)),
        )
        .set((
            fota_campaigns::answer_within_mins.eq(schedule.answer_within()),
            fota_campaigns::window_from.eq(schedule.window.map(Window::from_minute)),
            fota_campaigns::window_to.eq(schedule.window.map(Window::to_minute)),
            fota_campaigns::not_before.eq(schedule.not_before),
            fota_campaigns::window_zone.eq(schedule.stored_zone()),
            fota_campaigns::updated_at.eq(now_ms()),
        ))
        .execute(conn)?;
        if changed == 0 {
            return Err(refused());
        }
        let c = get(conn, id)?;
        audit::record(
            conn,
            actor,
            EntityKind::Campaign,
            id,
            "FOTA campaign rescheduled",
            &serde_json::json!({"before": before, "after": c.schedule_label()}),
        )?;
        tracing::info!(campaign = id, schedule = %c.schedule_label(), by = %actor, "FOTA campaign rescheduled");
        Ok(c)
    })
}

/// Queues the campaign's unanswered devices again as one more wave after
/// the last. A completed campaign runs again for that wave; a paused one
/// stays paused until resumed.
fn renotify(
    conn: &mut DbConnection,
    actor: &Actor,
    c: &Campaign,
) -> Result<Campaign, CampaignError> {
    let now = now_ms();
    let wave = c.waves + 1;
    let completed = c.state() == CampaignState::Completed;
    // Conditional on what was read: a tick that added or concluded a wave
    // meanwhile makes this a conflict rather than a wave in the wrong place.
    let changed = diesel::update(
        fota_campaigns::table
            .find(c.id)
            .filter(fota_campaigns::state.eq(&c.state))
            .filter(fota_campaigns::waves.eq(c.waves))
            .filter(fota_campaigns::wave.eq(c.wave)),
    )
    .set((
        fota_campaigns::waves.eq(wave),
        fota_campaigns::state.eq(if completed {
            CampaignState::Running.as_str()
        } else {
            c.state.as_str()
        }),
        fota_campaigns::wave.eq(if completed { wave } else { c.wave }),
        fota_campaigns::finished_at.eq(if completed { None } else { c.finished_at }),
        fota_campaigns::detail.eq(if completed { "" } else { c.detail.as_str() }),
        fota_campaigns::updated_at.eq(now),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Err(CampaignError::Transition {
            id: c.id,
            state: get(conn, c.id)?.state,
            action: Action::Renotify.past(),
        });
    }
    let queued = diesel::update(
        fota_campaign_devices::table
            .filter(fota_campaign_devices::campaign_id.eq(c.id))
            .filter(fota_campaign_devices::state.eq(MemberState::Unanswered.as_str())),
    )
    .set((
        fota_campaign_devices::state.eq(MemberState::Queued.as_str()),
        fota_campaign_devices::wave.eq(wave),
        fota_campaign_devices::fota_session_id.eq(None::<i64>),
        fota_campaign_devices::detail.eq("did not answer before; to be notified again"),
        fota_campaign_devices::updated_at.eq(now),
    ))
    .execute(conn)?;
    if queued == 0 {
        // Rolls the campaign's new wave back with it.
        return Err(CampaignError::Invalid(format!(
            "No device of campaign {} is unanswered: there is nobody to notify again.",
            c.name
        )));
    }
    audit::record(
        conn,
        actor,
        EntityKind::Campaign,
        c.id,
        "FOTA campaign unanswered devices queued again",
        &serde_json::json!({"wave": wave, "devices": queued}),
    )?;
    tracing::info!(campaign = c.id, wave, devices = queued, by = %actor, "FOTA campaign re-notifies unanswered devices");
    get(conn, c.id)
}

/// What a re-queue of skipped devices did.
#[derive(Debug, Clone, Serialize)]
pub struct Requeued {
    #[serde(flatten)]
    pub campaign: Campaign,
    /// Devices queued again by this request: 0 when it repeated one
    /// already done.
    pub requeued: i64,
    /// The first and last wave they went into.
    pub first_wave: Option<i32>,
    pub last_wave: Option<i32>,
    /// The request named a round already done (a double click, a retried
    /// call whose answer was lost): nothing was queued again.
    pub repeated: bool,
}

impl Requeued {
    /// A completed campaign that runs again, at its first new wave, or a
    /// running one whose canary took the devices back: that wave may go
    /// out now. (A running campaign reaches waves after its last in turn;
    /// a paused one waits for a resume.)
    pub fn restarted(&self) -> bool {
        !self.repeated
            && self.campaign.state() == CampaignState::Running
            && Some(self.campaign.wave) == self.first_wave
    }
}

/// Queues a running, paused or completed campaign's skipped devices again,
/// in waves of the campaign's wave size after its last, each judged by the
/// failure threshold like any other; while its canary is still ahead of
/// the other waves (see [`canary_ahead`]), into the canary instead, which
/// then goes out first. A completed campaign runs again for
/// them; a paused one waits for a resume. `round` is the campaign's
/// `requeue_round` the caller saw: a request for a round already done
/// queues nothing (and says so), so repeating it is harmless. A device
/// keeps one row, moved to its new wave: the totals count it once, with
/// its latest outcome.
pub fn requeue_skipped(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i64,
    round: i32,
) -> Result<Requeued, CampaignError> {
    crate::db::write(conn, |conn| {
        // Held until commit on PostgreSQL, so two requests for one round
        // take turns and the second finds the round done (a SQLite write
        // transaction already excludes every other writer).
        if let DbConnection::Postgres(p) = conn {
            fota_campaigns::table
                .find(id)
                .select(fota_campaigns::id)
                .for_update()
                .first::<i64>(p)
                .optional()?;
        }
        let c = get(conn, id)?;
        if !matches!(
            c.state(),
            CampaignState::Running | CampaignState::Paused | CampaignState::Completed
        ) {
            return Err(CampaignError::Transition {
                id,
                state: c.state.clone(),
                action: "re-queued",
            });
        }
        if round < c.requeue_round {
            return Ok(Requeued {
                campaign: c,
                requeued: 0,
                first_wave: None,
                last_wave: None,
                repeated: true,
            });
        }
        if round > c.requeue_round {
            return Err(CampaignError::Invalid(format!(
                "Campaign {} has been re-queued {} time(s): round {round} is not one of its own; read it again.",
                c.name, c.requeue_round
            )));
        }
        let now = now_ms();
        // Skipped devices of a canary no later wave has gone past rejoin
        // the canary (wave 1), which then goes out first: the canary is
        // there to prove the package before wave 2, so wave 2 must not
        // overtake it. Any other skipped device goes after the last wave.
        let into_canary = canary_ahead(conn, &c)?;
        let (first, size) = if into_canary {
            // One wave, however many: `requeue_members` numbers none past it.
            (1, i32::MAX)
        } else {
            (c.waves + 1, c.wave_size.max(1))
        };
        let queued = requeue_members(conn, c.id, first, size, now)?;
        if queued == 0 {
            return Err(CampaignError::Invalid(format!(
                "No device of campaign {} is skipped: there is nobody to re-queue.",
                c.name
            )));
        }
        let added =
            i32::try_from((queued + i64::from(size) - 1) / i64::from(size)).unwrap_or(i32::MAX);
        let last = first.saturating_add(added - 1);
        let completed = c.state() == CampaignState::Completed;
        diesel::update(fota_campaigns::table.find(c.id))
            .set((
                fota_campaigns::waves.eq(c.waves.max(last)),
                fota_campaigns::requeue_round.eq(c.requeue_round + 1),
                fota_campaigns::state.eq(if completed {
                    CampaignState::Running.as_str()
                } else {
                    c.state.as_str()
                }),
                fota_campaigns::wave.eq(if completed || into_canary {
                    first
                } else {
                    c.wave
                }),
                fota_campaigns::finished_at.eq(if completed { None } else { c.finished_at }),
                fota_campaigns::detail.eq(if completed { "" } else { c.detail.as_str() }),
                fota_campaigns::updated_at.eq(now),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            actor,
            EntityKind::Campaign,
            c.id,
            "FOTA campaign skipped devices queued again",
            &serde_json::json!({
                "round": c.requeue_round + 1,
                "devices": queued,
                "waves": [first, last],
                "into_canary": into_canary,
                "was": c.state,
            }),
        )?;
        tracing::info!(campaign = c.id, devices = queued, first, last, by = %actor, "FOTA campaign re-queues skipped devices");
        Ok(Requeued {
            campaign: get(conn, c.id)?,
            requeued: queued,
            first_wave: Some(first),
            last_wave: Some(last),
            repeated: false,
        })
    })
}

/// Whether a campaign's canary is still ahead of its other waves: it has
/// one, it has not ended, and nobody of wave 2 or later has been notified
/// (or skipped) yet. Its skipped devices re-queued now rejoin the canary.
pub fn canary_ahead(conn: &mut DbConnection, c: &Campaign) -> QueryResult<bool> {
    if c.canary.is_none() || c.wave > 2 || c.state() == CampaignState::Completed {
        return Ok(false);
    }
    let past: Option<i64> = fota_campaign_devices::table
        .filter(fota_campaign_devices::campaign_id.eq(c.id))
        .filter(fota_campaign_devices::wave.ge(2))
        .filter(fota_campaign_devices::state.ne(MemberState::Queued.as_str()))
        .select(fota_campaign_devices::device_id)
        .first(conn)
        .optional()?;
    Ok(past.is_none())
}

/// Moves every skipped device of a campaign to the queue in one statement,
/// numbering waves of `size` from `first` by device id, so a million
/// skipped devices cost no round trip each. Each keeps why it was skipped
/// in its detail.
fn requeue_members(
    conn: &mut DbConnection,
    campaign: i64,
    first: i32,
    size: i32,
    now: i64,
) -> QueryResult<i64> {
    use diesel::sql_types::{BigInt, Integer};
    let sql = |p: char| {
        format!(
            "UPDATE fota_campaign_devices SET state = 'queued', fota_session_id = NULL,              wave = {p}2 + (s.rn - 1) / {p}3, updated_at = {p}4,              detail = 'queued again; skipped before: ' || s.detail              FROM (SELECT device_id, detail, ROW_NUMBER() OVER (ORDER BY device_id) AS rn                    FROM fota_campaign_devices WHERE campaign_id = {p}1 AND state = 'skipped') AS s              WHERE fota_campaign_devices.campaign_id = {p}1              AND fota_campaign_devices.device_id = s.device_id"
        )
    };
    let mark = match conn {
        DbConnection::Sqlite(_) => '?',
        DbConnection::Postgres(_) => '$',
    };
    let query = diesel::sql_query(sql(mark))
        .bind::<BigInt, _>(campaign)
        .bind::<Integer, _>(first)
        .bind::<Integer, _>(size)
        .bind::<BigInt, _>(now);
    let n = crate::native!(conn, |c| query.execute(c))?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

/// How many devices of each wave are in each state.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Tally {
    pub queued: i64,
    pub notified: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub declined: i64,
    pub unanswered: i64,
    pub skipped: i64,
    pub cancelled: i64,
}

impl Tally {
    fn add(&mut self, state: MemberState, n: i64) {
        let slot = match state {
            MemberState::Queued => &mut self.queued,
            MemberState::Notified => &mut self.notified,
            MemberState::Succeeded => &mut self.succeeded,
            MemberState::Failed => &mut self.failed,
            MemberState::Declined => &mut self.declined,
            MemberState::Unanswered => &mut self.unanswered,
            MemberState::Skipped => &mut self.skipped,
            MemberState::Cancelled => &mut self.cancelled,
        };
        *slot += n;
    }

    pub fn total(&self) -> i64 {
        self.queued
            + self.notified
            + self.succeeded
            + self.failed
            + self.declined
            + self.unanswered
            + self.skipped
            + self.cancelled
    }

    pub fn open(&self) -> i64 {
        self.queued + self.notified
    }

    pub fn finished(&self) -> i64 {
        self.total() - self.open()
    }

    /// Failed updates as a percentage of the updates that ran to an end
    /// (succeeded or failed); `None` before any did.
    pub fn failure_percent(&self) -> Option<i64> {
        let ran = self.succeeded + self.failed;
        (ran > 0).then(|| self.failed * 100 / ran)
    }

    /// Every device that left the queue was skipped: nobody was even
    /// notified, so the wave says nothing about the package.
    pub fn all_skipped(&self) -> bool {
        self.skipped > 0 && self.skipped + self.cancelled == self.total()
    }

    /// Over a threshold in percent, compared exactly rather than on the
    /// rounded percentage.
    pub fn exceeds(&self, threshold: i32) -> bool {
        self.failed * 100 > i64::from(threshold) * (self.succeeded + self.failed)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Progress {
    pub overall: Tally,
    /// Index 0 is wave 1.
    pub waves: Vec<Tally>,
}

pub fn progress(conn: &mut DbConnection, c: &Campaign) -> QueryResult<Progress> {
    let rows: Vec<(i32, String, i64)> = fota_campaign_devices::table
        .filter(fota_campaign_devices::campaign_id.eq(c.id))
        .group_by((fota_campaign_devices::wave, fota_campaign_devices::state))
        .select((
            fota_campaign_devices::wave,
            fota_campaign_devices::state,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    let waves = usize::try_from(c.waves.max(0)).unwrap_or(0);
    let mut p = Progress {
        overall: Tally::default(),
        waves: vec![Tally::default(); waves],
    };
    for (wave, state, n) in rows {
        let Some(state) = MemberState::parse(&state) else {
            continue;
        };
        p.overall.add(state, n);
        if let Some(t) = usize::try_from(wave - 1)
            .ok()
            .and_then(|i| p.waves.get_mut(i))
        {
            t.add(state, n);
        }
    }
    Ok(p)
}

/// Several campaigns' overall tallies in one grouped query, for lists.
pub fn overall(
    conn: &mut DbConnection,
    ids: &[i64],
) -> QueryResult<std::collections::HashMap<i64, Tally>> {
    let mut out: std::collections::HashMap<i64, Tally> = std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(i64, String, i64)> = fota_campaign_devices::table
        .filter(fota_campaign_devices::campaign_id.eq_any(ids))
        .group_by((
            fota_campaign_devices::campaign_id,
            fota_campaign_devices::state,
        ))
        .select((
            fota_campaign_devices::campaign_id,
            fota_campaign_devices::state,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    for (id, state, n) in rows {
        if let Some(s) = MemberState::parse(&state) {
            out.entry(id).or_default().add(s, n);
        }
    }
    Ok(out)
}

/// One wave's tally, for the scheduler's decision.
pub fn wave_tally(conn: &mut DbConnection, campaign: i64, wave: i32) -> QueryResult<Tally> {
    let rows: Vec<(String, i64)> = fota_campaign_devices::table
        .filter(fota_campaign_devices::campaign_id.eq(campaign))
        .filter(fota_campaign_devices::wave.eq(wave))
        .group_by(fota_campaign_devices::state)
        .select((fota_campaign_devices::state, diesel::dsl::count_star()))
        .load(conn)?;
    let mut t = Tally::default();
    for (state, n) in rows {
        if let Some(s) = MemberState::parse(&state) {
            t.add(s, n);
        }
    }
    Ok(t)
}

/// Whether the devices a campaign still has to notify can be reached: a
/// campaign wakes handsets with OMA-DM notifications, which need the
/// device's DM credentials (to sign them) and a line (to text them). A
/// device lacking either is skipped when its wave comes, so planning says
/// so before anyone starts a campaign that would update nobody.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Reach {
    /// Devices still queued (for a draft: its whole population).
    pub queued: i64,
    /// Of them, devices without OMA-DM credentials.
    pub no_credentials: i64,
    /// Of them, devices on no subscriber line.
    pub no_line: i64,
    /// Of them, devices lacking either, counted once: they will be skipped.
    pub unreachable: i64,
}

impl Reach {
    /// `12 of 182 devices still to notify cannot be reached: …`; `None`
    /// when every one can.
    pub fn summary(&self) -> Option<String> {
        if self.unreachable == 0 {
            return None;
        }
        let mut why = Vec::new();
        if self.no_credentials > 0 {
            why.push(format!(
                "{} have no OMA-DM credentials",
                self.no_credentials
            ));
        }
        if self.no_line > 0 {
            why.push(format!("{} are on no subscriber line", self.no_line));
        }
        let who = if self.unreachable == self.queued {
            format!(
                "None of the {} devices still to notify can be reached",
                self.queued
            )
        } else {
            format!(
                "{} of the {} devices still to notify cannot be reached",
                self.unreachable, self.queued
            )
        };
        Some(format!(
            "{who} ({}): they will be skipped. Set their OMA-DM credentials (device page, `mdm dm credentials` or the API) before starting, or re-queue the skipped devices afterwards.",
            why.join(", ")
        ))
    }

    /// Whether all or most of the devices to notify would be skipped: the
    /// campaign would update few or none, which the plan must not hide.
    pub fn mostly_unreachable(&self) -> bool {
        self.unreachable > 0 && self.unreachable * 2 > self.queued
    }

    /// Devices with OMA-DM credentials (whether or not on a line).
    pub fn with_credentials(&self) -> i64 {
        self.queued - self.no_credentials
    }

    /// Devices a notification can reach: credentials and a line.
    pub fn reachable(&self) -> i64 {
        self.queued - self.unreachable
    }
}

/// The counts a [`Reach`] is made of, over devices `d` with their DM
/// account `a` left-joined: one definition for a campaign's queue and for
/// a path's would-be population, so the plan form and the campaign say the
/// same.
const REACH_COUNTS: &str = "COUNT(*) AS queued, \
     COALESCE(SUM(CASE WHEN a.device_id IS NULL THEN 1 ELSE 0 END), 0) AS no_credentials, \
     COALESCE(SUM(CASE WHEN d.profile_id IS NULL THEN 1 ELSE 0 END), 0) AS no_line, \
     COALESCE(SUM(CASE WHEN a.device_id IS NULL OR d.profile_id IS NULL THEN 1 ELSE 0 END), 0) AS unreachable";

#[derive(QueryableByName)]
struct ReachRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    queued: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    no_credentials: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    no_line: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    unreachable: i64,
}

impl From<ReachRow> for Reach {
    fn from(r: ReachRow) -> Reach {
        Reach {
            queued: r.queued,
            no_credentials: r.no_credentials,
            no_line: r.no_line,
            unreachable: r.unreachable,
        }
    }
}

/// The [`Reach`] of a campaign's queued devices, in one query.
pub fn reach(conn: &mut DbConnection, campaign: i64) -> QueryResult<Reach> {
    use diesel::sql_types::BigInt;
    let sql = |p: char| {
        format!(
            "SELECT {REACH_COUNTS} \
             FROM fota_campaign_devices m JOIN devices d ON d.id = m.device_id \
             LEFT JOIN dm_accounts a ON a.device_id = d.id \
             WHERE m.campaign_id = {p}1 AND m.state = 'queued'"
        )
    };
    let mark = match conn {
        DbConnection::Sqlite(_) => '?',
        DbConnection::Postgres(_) => '$',
    };
    let query = diesel::sql_query(sql(mark)).bind::<BigInt, _>(campaign);
    let r: ReachRow = crate::native!(conn, |c| query.get_result(c))?;
    Ok(r.into())
}

/// An update path: make, model and the firmware version its devices are at.
pub type PathKey = (String, String, String);

/// The [`Reach`] a campaign planned now would have on each update path:
/// its devices not de-activated (as a plan takes them), how many lack
/// OMA-DM credentials or a line. One grouped query, for the plan form,
/// which shows it before anyone plans a campaign that would reach nobody.
pub fn path_reach(
    conn: &mut DbConnection,
) -> QueryResult<std::collections::HashMap<PathKey, Reach>> {
    use diesel::sql_types::Text;
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        make: String,
        #[diesel(sql_type = Text)]
        model: String,
        #[diesel(sql_type = Text)]
        firmware_version: String,
        #[diesel(embed)]
        reach: ReachRow,
    }
    let query = diesel::sql_query(format!(
        "SELECT d.make, d.model, d.firmware_version, {REACH_COUNTS} \
         FROM devices d LEFT JOIN dm_accounts a ON a.device_id = d.id \
         WHERE d.deactivated_at IS NULL \
         GROUP BY d.make, d.model, d.firmware_version"
    ));
    let rows: Vec<Row> = crate::native!(conn, |c| query.load(c))?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.make, r.model, r.firmware_version), r.reach.into()))
        .collect())
}

/// Why a campaign's skipped devices were skipped, the commonest first,
/// with how many each (of one wave, or of the whole campaign).
pub fn skip_reasons(
    conn: &mut DbConnection,
    campaign: i64,
    wave: Option<i32>,
) -> QueryResult<Vec<(String, i64)>> {
    // Every wave when none is named (waves are numbered from 1).
    let (from, to) = wave.map_or((i32::MIN, i32::MAX), |w| (w, w));
    let mut rows: Vec<(String, i64)> = fota_campaign_devices::table
        .filter(fota_campaign_devices::campaign_id.eq(campaign))
        .filter(fota_campaign_devices::state.eq(MemberState::Skipped.as_str()))
        .filter(fota_campaign_devices::wave.between(from, to))
        .group_by(fota_campaign_devices::detail)
        .select((fota_campaign_devices::detail, diesel::dsl::count_star()))
        .load(conn)?;
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(rows)
}

/// `182: the device has no OMA-DM credentials…; 3: it is at 2.2.0 now`,
/// the two commonest reasons and how many more.
pub fn reasons_label(reasons: &[(String, i64)]) -> String {
    let mut parts: Vec<String> = reasons
        .iter()
        .take(2)
        .map(|(why, n)| format!("{n}: {why}"))
        .collect();
    if reasons.len() > 2 {
        parts.push(format!("{} other reason(s)", reasons.len() - 2));
    }
    parts.join("; ")
}

/// A device of a campaign with the identifier people know it by.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub member: Member,
    /// The MEID, else the ESN.
    pub label: String,
    pub meid: Option<String>,
    pub esn: Option<String>,
    /// The line's MDN, for care to call a subscriber whose handset did not
    /// answer.
    pub mdn: Option<String>,
}

/// A campaign's devices, for its page: filtered by state, by device id
/// after `after`.
pub fn members(
    conn: &mut DbConnection,
    campaign: i64,
    state: Option<MemberState>,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<Listed>> {
    let mut q = fota_campaign_devices::table
        .inner_join(devices::table.on(devices::id.eq(fota_campaign_devices::device_id)))
        .left_join(profiles::table.on(devices::profile_id.eq(profiles::id.nullable())))
        .filter(fota_campaign_devices::campaign_id.eq(campaign))
        .filter(fota_campaign_devices::device_id.gt(after))
        .into_boxed();
    if let Some(s) = state {
        q = q.filter(fota_campaign_devices::state.eq(s.as_str()));
    }
    // The member, then its device's MEID and ESN and its line's MDN.
    type Row = (Member, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Row> = q
        .order(fota_campaign_devices::device_id)
        .limit(limit)
        .select((
            Member::as_select(),
            devices::meid,
            devices::esn,
            profiles::mdn.nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(member, meid, esn, mdn)| Listed {
            label: meid
                .clone()
                .or_else(|| esn.clone())
                .unwrap_or_else(|| format!("device {}", member.device_id)),
            member,
            meid,
            esn,
            mdn,
        })
        .collect())
}

/// The campaigns a device is in, newest first, with each campaign's name:
/// its page tells care why an update arrived or did not.
pub fn for_device(conn: &mut DbConnection, device_id: i64) -> QueryResult<Vec<(Member, String)>> {
    fota_campaign_devices::table
        .inner_join(
            fota_campaigns::table.on(fota_campaigns::id.eq(fota_campaign_devices::campaign_id)),
        )
        .filter(fota_campaign_devices::device_id.eq(device_id))
        .order(fota_campaign_devices::campaign_id.desc())
        .limit(10)
        .select((Member::as_select(), fota_campaigns::name))
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_compares_exactly_on_the_updates_that_ran() {
        let t = Tally {
            succeeded: 2,
            failed: 1,
            declined: 5,
            skipped: 3,
            ..Tally::default()
        };
        // One in three is 33.3%: over 33, not over 34.
        assert!(t.exceeds(33));
        assert!(!t.exceeds(34));
        assert_eq!(t.failure_percent(), Some(33));
        assert_eq!(t.total(), 11);
        assert_eq!(t.finished(), 11);
        let none_ran = Tally {
            skipped: 4,
            ..Tally::default()
        };
        assert!(!none_ran.exceeds(0));
        assert_eq!(none_ran.failure_percent(), None);
        let one_failed = Tally {
            failed: 1,
            ..Tally::default()
        };
        assert!(one_failed.exceeds(0));
        assert!(!one_failed.exceeds(100));
    }

    #[test]
    fn a_canary_wave_comes_first_and_the_rest_follow_in_full_waves() {
        assert_eq!(wave_count(1, 5, 100), 1);
        assert_eq!(wave_count(5, 5, 100), 1);
        assert_eq!(wave_count(6, 5, 100), 2);
        assert_eq!(wave_count(105, 5, 100), 2);
        assert_eq!(wave_count(106, 5, 100), 3);
        assert_eq!(wave_count(1_000_000, 100, 10_000), 101);
        assert_eq!(wave_count(30, 10, 10), 3);
    }

    #[test]
    fn plans_out_of_range_are_refused() {
        let good = Plan {
            name: "W755 to 2.2.0".into(),
            make: "Motorola".into(),
            model: "W755".into(),
            from_version: "2.1.4".into(),
            first_wave_size: Some(5),
            canary: None,
            wave_size: 100,
            failure_threshold: 10,
            schedule: Schedule {
                answer_within_mins: Some(30),
                ..Schedule::default()
            },
            population: Population::new(Some("312".into()), None),
        };
        assert!(good.check().is_ok());
        for (bad, field) in [
            (
                Plan {
                    name: " ".into(),
                    ..good.clone()
                },
                "name",
            ),
            (
                Plan {
                    wave_size: 0,
                    ..good.clone()
                },
                "wave_size",
            ),
            (
                Plan {
                    wave_size: MAX_WAVE_SIZE + 1,
                    ..good.clone()
                },
                "wave_size",
            ),
            (
                Plan {
                    failure_threshold: 101,
                    ..good.clone()
                },
                "failure_threshold",
            ),
            (
                Plan {
                    first_wave_size: Some(0),
                    ..good.clone()
                },
                "first_wave_size",
            ),
            (
                Plan {
                    failure_threshold: -1,
                    ..good.clone()
                },
                "failure_threshold",
            ),
            (
                Plan {
                    canary: Some(0),
                    ..good.clone()
                },
                "canary",
            ),
            (
                Plan {
                    canary: Some(4),
                    ..good.clone()
                },
                "canary",
            ),
            (
                Plan {
                    population: Population::new(Some("31x".into()), None),
                    ..good.clone()
                },
                "mdn_prefix",
            ),
            (
                Plan {
                    schedule: Schedule {
                        answer_within_mins: Some(4),
                        ..Schedule::default()
                    },
                    ..good.clone()
                },
                "answer_within_mins",
            ),
            (
                Plan {
                    from_version: "".into(),
                    ..good.clone()
                },
                "from_version",
            ),
        ] {
            assert!(
                matches!(bad.check(), Err(CampaignError::Invalid(_))),
                "{bad:?}"
            );
            assert_eq!(bad.problem().map(|(f, _)| f), Some(field), "{bad:?}");
        }
    }

    #[test]
    fn a_canary_is_asked_for_or_a_first_wave_sized_apart() {
        let plan = |first_wave_size, canary| Plan {
            first_wave_size,
            canary,
            wave_size: 10,
            ..Plan::default()
        };
        assert_eq!(plan(None, None).first_wave(), (10, None));
        // As large as the other waves, and a canary because asked for.
        assert_eq!(plan(None, Some(10)).first_wave(), (10, Some(10)));
        assert_eq!(plan(Some(10), Some(10)).first_wave(), (10, Some(10)));
        // What a canary meant before it could be named still means one.
        assert_eq!(plan(Some(2), None).first_wave(), (2, Some(2)));
        assert_eq!(plan(Some(10), None).first_wave(), (10, None));
    }

    #[test]
    fn populations_narrow_by_mdn_digits_and_account() {
        let p = Population::new(Some(" 312 ".into()), Some("".into()));
        assert_eq!(p.mdn_prefix.as_deref(), Some("312"));
        assert_eq!(p.account_id, None);
        assert!(p.problem().is_none());
        assert_eq!(p.label(), "MDNs 312…");
        assert_eq!(Population::default().label(), "every device on the path");
        for bad in ["31%", "312_", "12345678901", "3 12"] {
            let p = Population {
                mdn_prefix: Some(bad.into()),
                account_id: None,
            };
            assert!(matches!(p.problem(), Some(("mdn_prefix", _))), "{bad}");
        }
    }

    #[test]
    fn actions_apply_only_to_their_states() {
        use CampaignState::*;
        assert_eq!(Action::Start.rule(), (&[Draft][..], Running));
        assert!(!Action::Resume.rule().0.contains(&Running));
        assert!(!Action::Cancel.rule().0.contains(&Completed));
        assert_eq!(Action::parse("pause"), Some(Action::Pause));
        assert_eq!(Action::parse("delete"), None);
    }
}
