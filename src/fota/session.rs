//! The FOTA session state machine of the source document's client-initiated
//! flow: registered as pending by the FOTA URL, the adapter queries the
//! make-model-version, offers the package (or says there is none), the device
//! downloads and reports, installs, reboots and reports the final result.

use diesel::prelude::*;
use serde::Serialize;

use super::FotaError;
use crate::db::schema::{devices, fota_events, fota_sessions};
use crate::db::{now_ms, DbConnection};
use crate::registry::audit::{self, EntityKind};
use crate::registry::device::Device;
use crate::registry::Actor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FotaState {
    /// Registered by the FOTA URL; the device has been redirected to its adapter.
    Pending,
    /// The adapter asked the device for its make, model and firmware version.
    Querying,
    /// No released package exists for the device's make-model-version.
    NoUpdate,
    /// The package location was sent; waiting for the download.
    Offered,
    /// The device reported a successful download (DLOTA 900) and installs.
    Downloaded,
    Succeeded,
    Failed,
    Cancelled,
}

impl FotaState {
    pub const ALL: [FotaState; 8] = [
        FotaState::Pending,
        FotaState::Querying,
        FotaState::NoUpdate,
        FotaState::Offered,
        FotaState::Downloaded,
        FotaState::Succeeded,
        FotaState::Failed,
        FotaState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FotaState::Pending => "pending",
            FotaState::Querying => "querying",
            FotaState::NoUpdate => "no_update",
            FotaState::Offered => "offered",
            FotaState::Downloaded => "downloaded",
            FotaState::Succeeded => "succeeded",
            FotaState::Failed => "failed",
            FotaState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<FotaState> {
        FotaState::ALL.into_iter().find(|f| f.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            FotaState::NoUpdate | FotaState::Succeeded | FotaState::Failed | FotaState::Cancelled
        )
    }

    fn allows(self, to: FotaState) -> bool {
        use FotaState::*;
        match self {
            // No update straight away: the capability registry says the
            // model takes none over the air, so nothing is asked of it.
            Pending => matches!(to, Querying | NoUpdate | Failed | Cancelled),
            Querying => matches!(to, NoUpdate | Offered | Failed | Cancelled),
            // A device may skip the download report and go straight to its final result.
            Offered => matches!(to, Downloaded | Succeeded | Failed | Cancelled),
            Downloaded => matches!(to, Succeeded | Failed | Cancelled),
            NoUpdate | Succeeded | Failed | Cancelled => false,
        }
    }
}

/// A session still pending or querying after this long was abandoned.
pub const ABANDONED_AFTER_MS: i64 = 30 * 60 * 1000;

/// An offered or downloaded session silent this long was given up by its
/// handset: the largest package the repository takes (512 MiB) downloads in
/// about twelve hours even at 1xRTT's 100 kbit/s, and a downloaded package
/// installs in minutes. A day leaves room for resumed downloads and a
/// postponed install without keeping a lost session open for good (a device
/// has only one open session, so it would block every later update).
/// Silence is counted from the session's last activity ([`last_activity`]):
/// a slow download still making progress is not silent.
pub const SILENT_AFTER_MS: i64 = 24 * 60 * 60 * 1000;

/// When the handset last did something for its session: the later of its
/// last state change and its last recorded download request (migration 36's
/// `download_at`, written while a download runs). A download that takes
/// longer than a day, but keeps going, keeps its session alive.
pub fn last_activity(updated_at: i64, download_at: Option<i64>) -> i64 {
    download_at.map_or(updated_at, |d| d.max(updated_at))
}

/// Why a session its handset went silent on is closed, by its state; `None`
/// for states that are never closed for silence.
pub fn silence_detail(state: FotaState) -> Option<&'static str> {
    match state {
        FotaState::Pending | FotaState::Querying => {
            Some("abandoned: the device did not continue the session")
        }
        FotaState::Offered => Some(
            "abandoned: a day without a download request or report from the device; it never reported its download",
        ),
        FotaState::Downloaded => Some(
            "abandoned: downloaded a day ago and the device never reported the update's result",
        ),
        _ => None,
    }
}

/// How long a session in `state` may stay silent before it counts as given up.
fn silent_limit(state: FotaState) -> Option<i64> {
    match state {
        FotaState::Pending | FotaState::Querying => Some(ABANDONED_AFTER_MS),
        FotaState::Offered | FotaState::Downloaded => Some(SILENT_AFTER_MS),
        _ => None,
    }
}

/// `MDM_FOTA_DOWNLOAD_STALL_MINUTES`'s default: how long a download the
/// handset started may go without a request before its session is closed.
/// A handset that lost its connection mid-download resumes (with a Range
/// request) as soon as it has coverage again; one silent for an hour
/// dropped the download, and its session (and the campaign wave it
/// belongs to) should not wait the day an offer the subscriber postponed
/// is given.
pub const DOWNLOAD_STALL_MINUTES: u32 = 60;

/// Download activity is written at most this often per session, so a
/// handset fetching its package in many small ranges costs a write a
/// minute rather than one a request.
pub const DOWNLOAD_ACTIVITY_EVERY_MS: i64 = 60_000;

/// How the detail of a session closed for a stalled download begins: a
/// result the handset reports after all is still recorded (see
/// [`record_late_result`]).
pub const DOWNLOAD_STALLED: &str = "download stopped after ";

/// Why a started download's session was closed, with what is known of it.
pub fn stall_detail(bytes: i64, size: i64, quiet_minutes: i64) -> String {
    format!(
        "{DOWNLOAD_STALLED}{bytes} of {size} bytes and was not resumed for {quiet_minutes} minutes"
    )
}

/// What a session waiting for a notified handset that never called back
/// ends with; campaigns tell these apart from failed updates by it.
pub const NEVER_ANSWERED: &str = "abandoned: the device never answered the notification";

/// How a FUMO Generic Alert result code (OMA-TS-DM-FUMO-V1_0 section 6.1.6)
/// ends a session.
pub fn state_for_result(code: u16) -> FotaState {
    match code {
        200 | 250..=299 => FotaState::Succeeded,
        401 => FotaState::Cancelled,
        _ => FotaState::Failed,
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = fota_sessions)]
pub struct FotaSession {
    pub id: i64,
    pub device_id: i64,
    pub protocol: String,
    pub state: String,
    pub from_version: String,
    pub to_version: Option<String>,
    pub package_id: Option<i64>,
    pub correlator: Option<String>,
    pub result_code: Option<i32>,
    pub detail: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl FotaSession {
    pub fn state(&self) -> FotaState {
        FotaState::parse(&self.state).unwrap_or(FotaState::Failed)
    }

    /// Closed by the sweeper because its download stopped part-way: the
    /// handset may still come back and report.
    pub fn closed_as_stalled(&self) -> bool {
        self.state() == FotaState::Failed && self.detail.starts_with(DOWNLOAD_STALLED)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = fota_events)]
pub struct FotaEvent {
    pub id: i64,
    pub fota_session_id: i64,
    pub at: i64,
    pub from_state: Option<String>,
    pub to_state: String,
    pub detail: String,
}

pub fn get(conn: &mut DbConnection, id: i64) -> Result<FotaSession, FotaError> {
    crate::native!(conn, |c| fota_sessions::table
        .find(id)
        .select(FotaSession::as_select())
        .first(c)
        .optional())?
    .ok_or(FotaError::NotFound(id))
}

/// A session read in order to change it in the caller's write transaction.
/// On PostgreSQL the row stays locked until that transaction ends, so a
/// concurrent writer (the sweeper closing it as abandoned, a handset's
/// repeated message) waits and then decides on the state this one wrote
/// instead of overwriting it. A SQLite write transaction already excludes
/// every other writer.
pub fn get_for_update(conn: &mut DbConnection, id: i64) -> Result<FotaSession, FotaError> {
    let query = fota_sessions::table.find(id);
    match conn {
        DbConnection::Sqlite(c) => query.select(FotaSession::as_select()).first(c).optional(),
        DbConnection::Postgres(c) => query
            .select(FotaSession::as_select())
            .for_update()
            .first(c)
            .optional(),
    }?
    .ok_or(FotaError::NotFound(id))
}

/// [`for_device`] for a write, locking the rows as [`get_for_update`] does.
pub fn for_device_for_update(
    conn: &mut DbConnection,
    device_id: i64,
    limit: i64,
) -> QueryResult<Vec<FotaSession>> {
    let query = fota_sessions::table
        .filter(fota_sessions::device_id.eq(device_id))
        .order(fota_sessions::id.desc())
        .limit(limit);
    match conn {
        DbConnection::Sqlite(c) => query.select(FotaSession::as_select()).load(c),
        DbConnection::Postgres(c) => query.select(FotaSession::as_select()).for_update().load(c),
    }
}

/// Registers a pending session, or returns the device's open one so that a
/// repeated request does not start a second update.
pub fn register_pending(
    conn: &mut DbConnection,
    device_id: i64,
    protocol: &str,
    from_version: &str,
    origin: &str,
) -> Result<FotaSession, FotaError> {
    crate::db::write(conn, |conn| {
        register_pending_in(conn, device_id, protocol, from_version, origin)
    })
}

/// [`register_pending`] in the caller's write transaction (no savepoint:
/// an error must end that transaction), as the FOTA URL's one transaction
/// for the device lookup and the registration.
pub fn register_pending_in(
    conn: &mut DbConnection,
    device_id: i64,
    protocol: &str,
    from_version: &str,
    origin: &str,
) -> Result<FotaSession, FotaError> {
    // Spelled out rather than `eq_any`, whose statement diesel never
    // keeps prepared.
    let state = fota_sessions::state;
    let is_open = state
        .eq(FotaState::Pending.as_str())
        .or(state.eq(FotaState::Querying.as_str()))
        .or(state.eq(FotaState::Offered.as_str()))
        .or(state.eq(FotaState::Downloaded.as_str()));
    let open: Option<FotaSession> = crate::native!(conn, |c| fota_sessions::table
        .filter(fota_sessions::device_id.eq(device_id))
        .filter(is_open)
        .order(fota_sessions::id.desc())
        .select(FotaSession::as_select())
        .first(c)
        .optional())?;
    if let Some(s) = open {
        let stale = match silent_limit(s.state()) {
            Some(l) if now_ms() - s.updated_at > l => {
                // Rare (a session quiet in its state for its whole limit):
                // only then is the download's own activity read.
                let download_at: Option<i64> = crate::native!(conn, |c| fota_sessions::table
                    .find(s.id)
                    .select(fota_sessions::download_at)
                    .first(c))?;
                now_ms() - last_activity(s.updated_at, download_at) > l
            }
            _ => false,
        };
        let Some(why) = silence_detail(s.state()).filter(|_| stale) else {
            return Ok(s);
        };
        // The device never came back to this one (e.g. it failed to
        // authenticate, or lost its download).
        advance(conn, s.id, FotaState::Failed, why)?;
    }
    let now = now_ms();
    let row = (
        fota_sessions::device_id.eq(device_id),
        fota_sessions::protocol.eq(protocol),
        fota_sessions::state.eq(FotaState::Pending.as_str()),
        fota_sessions::from_version.eq(from_version),
        // The creation event (a trigger) records this as its detail.
        fota_sessions::detail.eq(format!("{origin} over {protocol}")),
        fota_sessions::created_at.eq(now),
        fota_sessions::updated_at.eq(now),
    );
    let s: FotaSession = crate::native!(conn, |c| diesel::insert_into(fota_sessions::table)
        .values(row)
        .returning(FotaSession::as_returning())
        .get_result(c))
    .map_err(|e| {
        if crate::db::is_unique_violation(&e) {
            FotaError::AlreadyOpen(device_id)
        } else {
            e.into()
        }
    })?;
    Ok(s)
}

/// Moves a session to a new state if the machine allows it.
pub fn advance(
    conn: &mut DbConnection,
    id: i64,
    to: FotaState,
    detail: &str,
) -> Result<FotaSession, FotaError> {
    crate::db::write(conn, |conn| {
        let s = get_for_update(conn, id)?;
        advance_loaded(conn, s, to, detail)
    })
}

/// [`advance`] for a session already read in the caller's transaction
/// (no savepoint: an error must end that transaction).
pub fn advance_loaded(
    conn: &mut DbConnection,
    s: FotaSession,
    to: FotaState,
    detail: &str,
) -> Result<FotaSession, FotaError> {
    let from = s.state();
    if from == to {
        return Ok(s);
    }
    if !from.allows(to) {
        return Err(FotaError::Transition {
            id: s.id,
            from: from.as_str().into(),
            to: to.as_str().into(),
        });
    }
    let s = FotaSession {
        state: to.as_str().into(),
        detail: detail.into(),
        updated_at: now_ms(),
        ..s
    };
    // The event is the database's: a trigger records every state change.
    save(conn, &s)?;
    Ok(s)
}

/// Writes the session's changeable columns in one statement, so that a
/// state change carries the offer or the result that caused it.
fn save(conn: &mut DbConnection, s: &FotaSession) -> QueryResult<()> {
    let changes = (
        fota_sessions::state.eq(&s.state),
        fota_sessions::detail.eq(&s.detail),
        fota_sessions::package_id.eq(s.package_id),
        fota_sessions::to_version.eq(&s.to_version),
        fota_sessions::correlator.eq(&s.correlator),
        fota_sessions::result_code.eq(s.result_code),
        fota_sessions::updated_at.eq(s.updated_at),
    );
    crate::native!(conn, |c| crate::db::fixed_update(
        fota_sessions::table.find(s.id),
        changes
    )
    .execute(c))
    .map(|_| ())
}

/// Records the package offered to the device with the FUMO correlator, for
/// a session read in the caller's transaction: both callers (the OMA-DM
/// engine and the IOTA FOTA step) offer within the write that handles the
/// handset's message.
pub fn offer(
    conn: &mut DbConnection,
    s: FotaSession,
    package_id: i64,
    to_version: &str,
    correlator: &str,
) -> Result<FotaSession, FotaError> {
    let s = FotaSession {
        package_id: Some(package_id),
        to_version: Some(to_version.into()),
        correlator: Some(correlator.into()),
        ..s
    };
    if s.state() == FotaState::Offered {
        // A second offer (the handset asked again) moves no state, so
        // advance would not write it; it starts the wait for the download
        // afresh.
        let s = FotaSession {
            detail: format!("package {package_id} to {to_version} offered again"),
            updated_at: now_ms(),
            ..s
        };
        save(conn, &s)?;
        return Ok(s);
    }
    advance_loaded(
        conn,
        s,
        FotaState::Offered,
        &format!("package {package_id} to {to_version} offered"),
    )
}

/// The final result: on success the device's firmware version in the
/// registry becomes the package's target version, in the same transaction.
pub fn finish(
    conn: &mut DbConnection,
    id: i64,
    result_code: u16,
    detail: &str,
) -> Result<FotaSession, FotaError> {
    crate::db::write(conn, |conn| {
        let s = get_for_update(conn, id)?;
        let device: Device = crate::native!(conn, |c| devices::table
            .find(s.device_id)
            .select(Device::as_select())
            .first(c))?;
        finish_loaded(conn, s, &device, result_code, detail)
    })
}

/// [`finish`] for a session and its device already read in the caller's
/// transaction.
pub fn finish_loaded(
    conn: &mut DbConnection,
    s: FotaSession,
    device: &Device,
    result_code: u16,
    detail: &str,
) -> Result<FotaSession, FotaError> {
    if device.id != s.device_id {
        return Err(FotaError::WrongDevice {
            id: s.id,
            device: device.id,
        });
    }
    if s.closed_as_stalled() {
        return late_report(conn, s, device, result_code);
    }
    let id = s.id;
    let to = state_for_result(result_code);
    let code = i32::from(result_code);
    // A state change writes the result code with it; a repeated report
    // that changes no state still records its code.
    let s = FotaSession {
        result_code: Some(code),
        ..s
    };
    let repeated = s.state() == to;
    if repeated {
        save(conn, &s)?;
    }
    let done = advance_loaded(conn, s.clone(), to, detail)?;
    // A repeated success report must not move the registry (or audit and
    // queue features) a second time.
    if to == FotaState::Succeeded && !repeated {
        if let Some(v) = &s.to_version {
            firmware_updated(conn, id, device, v)?;
        }
    }
    Ok(done)
}

/// The registry's side of a successful update: the device's firmware
/// version becomes `version`, audited, and the features the new version
/// adds are queued.
fn firmware_updated(
    conn: &mut DbConnection,
    id: i64,
    device: &Device,
    version: &str,
) -> Result<(), FotaError> {
    let before = device.firmware_version.clone();
    let changes = (
        devices::firmware_version.eq(version),
        devices::updated_at.eq(now_ms()),
    );
    crate::native!(conn, |c| crate::db::fixed_update(
        devices::table.find(device.id),
        changes
    )
    .execute(c))?;
    audit::record(
        conn,
        &Actor::System("fota"),
        EntityKind::Device,
        device.id,
        "firmware updated over the air",
        &serde_json::json!({"firmware_version": {"from": before, "to": version}, "fota_session": id}),
    )?;
    // A capability the new version adds is provisioned in the
    // same flow: queued here, billed by `features::upgrade`.
    crate::features::upgrade::queue_added_features(conn, device, &before, version)
        .map_err(|e| FotaError::Features(e.to_string()))?;
    Ok(())
}

/// A result the handset reports for a session the sweeper closed because
/// its download stopped part-way: the handset resumed after all. The
/// session stays failed (its campaign wave counted it so and moved on, and
/// terminal states never move), but the report is kept: the result code,
/// a note in the detail and an event in the session's history, and on
/// success the device's new firmware version, as for any success. A
/// repeated report, or any report after a success, changes nothing.
fn late_report(
    conn: &mut DbConnection,
    s: FotaSession,
    device: &Device,
    result_code: u16,
) -> Result<FotaSession, FotaError> {
    let done = |c: Option<i32>| {
        c.and_then(|c| u16::try_from(c).ok())
            .is_some_and(|c| state_for_result(c) == FotaState::Succeeded)
    };
    if s.result_code == Some(i32::from(result_code)) || done(s.result_code) {
        return Ok(s);
    }
    let succeeded = state_for_result(result_code) == FotaState::Succeeded;
    let note = match (&s.to_version, succeeded) {
        (Some(v), true) => format!("late report: FUMO result {result_code}, the device runs {v}"),
        _ => format!("late report: FUMO result {result_code}"),
    };
    let s = FotaSession {
        result_code: Some(i32::from(result_code)),
        detail: format!("{}; {note}", s.detail),
        updated_at: now_ms(),
        ..s
    };
    save(conn, &s)?;
    history_note(
        conn,
        s.id,
        s.updated_at,
        &format!("{note} (after the session was closed; it stays closed)"),
    )?;
    if succeeded {
        if let Some(v) = s
            .to_version
            .as_deref()
            .filter(|v| *v != device.firmware_version)
        {
            firmware_updated(conn, s.id, device, v)?;
        }
    }
    tracing::info!(
        fota_session = s.id,
        result_code,
        "late report for a session closed as a stalled download"
    );
    Ok(s)
}

/// An event in a failed session's history that moves no state (the
/// trigger records only state changes): what a handset did after its
/// session was closed.
fn history_note(conn: &mut DbConnection, id: i64, at: i64, detail: &str) -> QueryResult<()> {
    let failed = FotaState::Failed.as_str();
    let row = (
        fota_events::fota_session_id.eq(id),
        fota_events::at.eq(at),
        fota_events::from_state.eq(Some(failed)),
        fota_events::to_state.eq(failed),
        fota_events::detail.eq(detail),
    );
    crate::native!(conn, |c| diesel::insert_into(fota_events::table)
        .values(row)
        .execute(c))
    .map(|_| ())
}

/// What a handset's download report (its OMA Download OTA install
/// notification) did to its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadReport {
    /// The offered session moved on (downloaded, or failed).
    Applied,
    /// The session already holds this very report (the handset did not get
    /// the answer to its first one and sent it again): nothing changes.
    Repeated,
    /// The session was closed because its download stopped part-way; the
    /// handset finished it after all. Kept in the session's history; the
    /// session stays closed.
    Late,
}

/// The download report (step 10) for session `id`: it must name a session
/// offered package `package_id` and carry its correlator as `key`, which
/// only the offered handset was told (session ids are sequential, so the id
/// alone would let anyone move a stranger's session). Anything else is
/// [`FotaError::NotFound`].
pub fn report_download(
    conn: &mut DbConnection,
    id: i64,
    package_id: i64,
    key: Option<&str>,
    code: u16,
    text: &str,
) -> Result<DownloadReport, FotaError> {
    let s = get_for_update(conn, id)?;
    if s.package_id != Some(package_id) || !key_matches(s.correlator.as_deref(), key) {
        return Err(FotaError::NotFound(id));
    }
    let (to, detail) = if code == 900 {
        (FotaState::Downloaded, "download complete (900)".to_string())
    } else {
        (FotaState::Failed, format!("download failed: {code} {text}"))
    };
    if s.state() == FotaState::Offered {
        advance_loaded(conn, s, to, &detail)?;
        return Ok(DownloadReport::Applied);
    }
    if s.closed_as_stalled() {
        let note = format!("late report: {detail} (after the session was closed; it stays closed)");
        let before: i64 = crate::native!(conn, |c| fota_events::table
            .filter(fota_events::fota_session_id.eq(id))
            .filter(fota_events::detail.eq(&note))
            .count()
            .get_result(c))?;
        if before > 0 {
            return Ok(DownloadReport::Repeated);
        }
        history_note(conn, id, now_ms(), &note)?;
        return Ok(DownloadReport::Late);
    }
    // The trigger recorded the change this report made, with its detail.
    let before: i64 = crate::native!(conn, |c| fota_events::table
        .filter(fota_events::fota_session_id.eq(id))
        .filter(fota_events::to_state.eq(to.as_str()))
        .filter(fota_events::detail.eq(&detail))
        .count()
        .get_result(c))?;
    if before > 0 {
        return Ok(DownloadReport::Repeated);
    }
    Err(FotaError::NotFound(id))
}

/// Whether a download report's key is the session's correlator. A session
/// without one was never offered, so nothing matches it.
fn key_matches(correlator: Option<&str>, key: Option<&str>) -> bool {
    use subtle::ConstantTimeEq;
    match (correlator, key) {
        (Some(c), Some(k)) => bool::from(c.as_bytes().ct_eq(k.as_bytes())),
        _ => false,
    }
}

/// A FUMO result for a session already closed (by the download report, the
/// sweeper, an operator): its state stays, but a session closed without a
/// result code keeps this one when it tells the same story (a failure code
/// for a failed or cancelled session, a success code for a succeeded one).
pub fn record_late_result(
    conn: &mut DbConnection,
    s: FotaSession,
    result_code: u16,
) -> Result<FotaSession, FotaError> {
    if s.closed_as_stalled() {
        let device: Device = crate::native!(conn, |c| devices::table
            .find(s.device_id)
            .select(Device::as_select())
            .first(c))?;
        return late_report(conn, s, &device, result_code);
    }
    let state = s.state();
    let agrees = match state_for_result(result_code) {
        FotaState::Succeeded => state == FotaState::Succeeded,
        _ => matches!(state, FotaState::Failed | FotaState::Cancelled),
    };
    if !state.is_terminal() || s.result_code.is_some() || !agrees {
        return Ok(s);
    }
    let s = FotaSession {
        result_code: Some(i32::from(result_code)),
        detail: format!("{}; FUMO result {result_code}", s.detail),
        updated_at: now_ms(),
        ..s
    };
    save(conn, &s)?;
    Ok(s)
}

/// Closes a session its handset has been silent on for longer than its
/// state allows (see [`SILENT_AFTER_MS`]), counted from its last activity
/// (a state change or a download request), deciding on the session as it
/// is now: a report or request that arrived since it was listed keeps it
/// open.
pub fn close_if_silent(conn: &mut DbConnection, id: i64, now: i64) -> Result<bool, FotaError> {
    crate::db::write(conn, |conn| {
        let s = get_for_update(conn, id)?;
        let state = s.state();
        let download_at: Option<i64> = crate::native!(conn, |c| fota_sessions::table
            .find(id)
            .select(fota_sessions::download_at)
            .first(c))?;
        let last = last_activity(s.updated_at, download_at);
        let silent = silent_limit(state).is_some_and(|l| now - last > l);
        match silence_detail(state).filter(|_| silent) {
            Some(why) => advance_loaded(conn, s, FotaState::Failed, why).map(|_| true),
            None => Ok(false),
        }
    })
}

/// Closes an offered session whose download started and stopped short of
/// the end more than `stall_ms` ago, deciding on the session as it is now:
/// a request or report that arrived since it was listed keeps it open. A
/// download that reached the end is left to the day-long silence rule
/// (the handset installs before it reports).
pub fn close_if_stalled(
    conn: &mut DbConnection,
    id: i64,
    now: i64,
    stall_ms: i64,
) -> Result<bool, FotaError> {
    use crate::db::schema::firmware_packages;
    crate::db::write(conn, |conn| {
        let s = get_for_update(conn, id)?;
        let Some(package) = s.package_id.filter(|_| s.state() == FotaState::Offered) else {
            return Ok(false);
        };
        let (at, bytes): (Option<i64>, Option<i64>) =
            crate::native!(conn, |c| fota_sessions::table
                .find(id)
                .select((fota_sessions::download_at, fota_sessions::download_bytes))
                .first(c))?;
        let size: Option<i64> = crate::native!(conn, |c| firmware_packages::table
            .find(package)
            .select(firmware_packages::size)
            .first(c)
            .optional())?;
        let (Some(at), Some(bytes), Some(size)) = (at, bytes, size) else {
            return Ok(false);
        };
        if now - at <= stall_ms || bytes >= size {
            return Ok(false);
        }
        let why = stall_detail(bytes, size, (now - at) / 60_000);
        advance_loaded(conn, s, FotaState::Failed, &why).map(|_| true)
    })
}

/// A package download that names its FOTA session (the descriptor's
/// objectURI carries the session and its key), as read when the request
/// began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadLink {
    pub session_id: i64,
    /// When download activity was last recorded, and how far it had got.
    pub recorded_at: Option<i64>,
    pub recorded_bytes: Option<i64>,
    /// The session was closed because its download stalled: the handset
    /// came back after all.
    pub late: bool,
    /// The session's last change (for a late one, about when it was closed).
    pub changed_at: i64,
}

impl DownloadLink {
    /// Whether a response that has reached byte `at` of `size` at `now`
    /// (it began at `started`; `done` once it has ended, complete or cut)
    /// is worth a write: at most once a minute per session while it runs
    /// and at its end, and always when the end of a download recorded as
    /// partial is reached (a complete download is never closed as
    /// stalled). A short response costs at most one write, a long one one
    /// a minute.
    pub fn due(&self, now: i64, started: i64, at: i64, size: i64, done: bool) -> bool {
        if at >= size {
            // Only a download already recorded as partial needs its end
            // written; one never recorded is not taken for a stalled one,
            // and the common case (the whole file in one short response)
            // then costs the hot path no write at all.
            return self.recorded_bytes.is_some_and(|b| b < size);
        }
        let quiet_since = |t: i64| now - t >= DOWNLOAD_ACTIVITY_EVERY_MS;
        match (self.recorded_at, done) {
            (None, true) => true,
            (None, false) => quiet_since(started),
            (Some(r), true) => quiet_since(r),
            (Some(r), false) => quiet_since(r.max(started)),
        }
    }
}

/// The session a package download names, if it is session `id`, was
/// offered package `package_id` with `key` as its correlator, and is still
/// offered (or was closed as a stalled download). Anything else is no link:
/// the package is served all the same, but nothing is recorded against a
/// session the request cannot prove it belongs to. One primary-key read.
pub fn download_link(
    conn: &mut DbConnection,
    id: i64,
    package_id: i64,
    key: Option<&str>,
) -> QueryResult<Option<DownloadLink>> {
    type Row = (
        String,
        Option<i64>,
        Option<String>,
        String,
        i64,
        Option<i64>,
        Option<i64>,
    );
    let row: Option<Row> = crate::native!(conn, |c| fota_sessions::table
        .find(id)
        .select((
            fota_sessions::state,
            fota_sessions::package_id,
            fota_sessions::correlator,
            fota_sessions::detail,
            fota_sessions::updated_at,
            fota_sessions::download_at,
            fota_sessions::download_bytes,
        ))
        .first(c)
        .optional())?;
    let Some((state, package, correlator, detail, changed_at, recorded_at, recorded_bytes)) = row
    else {
        return Ok(None);
    };
    if package != Some(package_id) || !key_matches(correlator.as_deref(), key) {
        return Ok(None);
    }
    let late = match FotaState::parse(&state) {
        Some(FotaState::Offered) => false,
        Some(FotaState::Failed) if detail.starts_with(DOWNLOAD_STALLED) => true,
        _ => return Ok(None),
    };
    Ok(Some(DownloadLink {
        session_id: id,
        recorded_at,
        recorded_bytes,
        late,
        changed_at,
    }))
}

/// Records that the download of `link` was active at `now`, having
/// reached byte `at` of `size` (its request began at byte `from`). For a
/// session closed as stalled, the handset's first request since is noted in
/// the session's history; the session stays closed.
pub fn record_download(
    conn: &mut DbConnection,
    link: &DownloadLink,
    now: i64,
    from: i64,
    at: i64,
    size: i64,
) -> Result<(), FotaError> {
    crate::db::write(conn, |conn| {
        let changes = (
            fota_sessions::download_at.eq(now),
            fota_sessions::download_bytes.eq(at),
        );
        crate::native!(conn, |c| crate::db::fixed_update(
            fota_sessions::table.find(link.session_id),
            changes
        )
        .execute(c))?;
        if link.late && link.recorded_at.is_none_or(|r| r <= link.changed_at) {
            history_note(
                conn,
                link.session_id,
                now,
                &format!(
                    "late: the handset came back for the package (bytes {from} to {at} of {size}) \
                     after the session was closed; it stays closed"
                ),
            )?;
        }
        Ok(())
    })
}

/// An operator closes a session its handset will not finish (a lost
/// download, a handset that went away): the device is free for a new update
/// at once rather than after the sweeper's wait. Audited on the device.
pub fn close_by_operator(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i64,
    reason: &str,
) -> Result<FotaSession, FotaError> {
    let reason = reason.trim();
    if reason.chars().count() > 200 {
        return Err(FotaError::Invalid(
            "the reason must be at most 200 characters".into(),
        ));
    }
    crate::db::write(conn, |conn| {
        let s = get_for_update(conn, id)?;
        let was = s.state();
        if was.is_terminal() {
            return Err(FotaError::Closed {
                id,
                state: was.as_str().into(),
            });
        }
        let detail = if reason.is_empty() {
            format!("closed by {actor} while {}", was.as_str())
        } else {
            format!("closed by {actor} while {}: {reason}", was.as_str())
        };
        let done = advance_loaded(conn, s, FotaState::Failed, &detail)?;
        // A notification still awaiting this session would otherwise start
        // a closed update if the handset called back after all.
        let jobs = crate::omadm::job::close_awaiting_fota(conn, done.device_id, id, &detail)?;
        audit::record(
            conn,
            actor,
            EntityKind::Device,
            done.device_id,
            "FOTA session closed",
            &serde_json::json!({"fota_session": id, "state": {"from": was.as_str(), "to": done.state}, "reason": reason, "jobs_closed": jobs}),
        )?;
        Ok(done)
    })
}

pub fn events(conn: &mut DbConnection, id: i64) -> QueryResult<Vec<FotaEvent>> {
    fota_events::table
        .filter(fota_events::fota_session_id.eq(id))
        .order(fota_events::id.asc())
        .select(FotaEvent::as_select())
        .load(conn)
}

pub fn for_device(
    conn: &mut DbConnection,
    device_id: i64,
    limit: i64,
) -> QueryResult<Vec<FotaSession>> {
    crate::native!(conn, |c| fota_sessions::table
        .filter(fota_sessions::device_id.eq(device_id))
        .order(fota_sessions::id.desc())
        .limit(limit)
        .select(FotaSession::as_select())
        .load(c))
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct SessionQuery {
    pub state: Option<String>,
    pub protocol: Option<String>,
    pub device_id: Option<i64>,
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

/// Sessions newest first, filtered, paged by key.
pub fn search(conn: &mut DbConnection, q: &SessionQuery) -> QueryResult<Vec<FotaSession>> {
    let mut query = fota_sessions::table
        .select(FotaSession::as_select())
        .into_boxed();
    if let Some(s) = q.state.as_deref().and_then(FotaState::parse) {
        query = query.filter(fota_sessions::state.eq(s.as_str()));
    }
    if let Some(p) = q
        .protocol
        .as_deref()
        .filter(|p| *p == "omadm" || *p == "iota")
    {
        query = query.filter(fota_sessions::protocol.eq(p.to_string()));
    }
    if let Some(d) = q.device_id {
        query = query.filter(fota_sessions::device_id.eq(d));
    }
    if let Some(b) = q.before {
        query = query.filter(fota_sessions::id.lt(b));
    }
    query
        .order(fota_sessions::id.desc())
        .limit(q.limit.unwrap_or(50).clamp(1, 500))
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fumo_result_codes_end_sessions_as_the_spec_says() {
        assert_eq!(state_for_result(200), FotaState::Succeeded);
        assert_eq!(state_for_result(251), FotaState::Succeeded);
        assert_eq!(state_for_result(401), FotaState::Cancelled);
        assert_eq!(state_for_result(402), FotaState::Failed);
        assert_eq!(state_for_result(410), FotaState::Failed);
        assert_eq!(state_for_result(503), FotaState::Failed);
    }

    #[test]
    fn download_activity_is_written_at_most_once_a_minute_and_at_the_end() {
        let m = DOWNLOAD_ACTIVITY_EVERY_MS;
        let link = |at: Option<i64>, bytes: Option<i64>| DownloadLink {
            session_id: 1,
            recorded_at: at,
            recorded_bytes: bytes,
            late: false,
            changed_at: 0,
        };
        let t = 10 * m;
        // Nothing recorded yet: a short response writes once, at its end.
        let fresh = link(None, None);
        assert!(!fresh.due(t + 1_000, t, 500, 1_000, false));
        assert!(fresh.due(t + 1_000, t, 500, 1_000, true));
        // A long one also while it runs, a minute in.
        assert!(fresh.due(t + m, t, 500, 1_000, false));
        // The whole file in one response, nothing recorded before: no write.
        assert!(!fresh.due(t + 1_000, t, 1_000, 1_000, true));
        assert!(!fresh.due(t + 1_000, t, 1_000, 1_000, false));
        // Recorded half a minute ago: short responses write nothing more...
        let recent = link(Some(t - m / 2), Some(400));
        assert!(!recent.due(t + 1_000, t, 500, 1_000, true));
        assert!(!recent.due(t + 1_000, t, 500, 1_000, false));
        // ...unless they reach the end of a file recorded as partial.
        assert!(recent.due(t + 1_000, t, 1_000, 1_000, false));
        assert!(!link(Some(t - m / 2), Some(1_000)).due(t + 1_000, t, 1_000, 1_000, true));
        // Recorded over a minute ago: the next response's end writes.
        let stale = link(Some(t - 2 * m), Some(400));
        assert!(stale.due(t + 1_000, t, 500, 1_000, true));
        assert!(!stale.due(t + 1_000, t, 500, 1_000, false));
    }

    #[test]
    fn the_stall_window_is_checked_at_start() {
        use crate::config::check_download_stall;
        assert_eq!(check_download_stall("60"), Ok(60));
        assert_eq!(check_download_stall(" 0 "), Ok(0));
        assert_eq!(check_download_stall("1440"), Ok(1440));
        for bad in ["1441", "-5", "1h", "2.5"] {
            let e = check_download_stall(bad).unwrap_err();
            assert!(e.contains(bad) && e.contains("0 to turn"), "{e}");
        }
    }

    #[test]
    fn terminal_states_do_not_move() {
        for t in [
            FotaState::NoUpdate,
            FotaState::Succeeded,
            FotaState::Failed,
            FotaState::Cancelled,
        ] {
            assert!(t.is_terminal());
            assert!(FotaState::ALL.iter().all(|to| !t.allows(*to)));
        }
        assert!(FotaState::Pending.allows(FotaState::Querying));
        assert!(!FotaState::Pending.allows(FotaState::Offered));
    }
}
