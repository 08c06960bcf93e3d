//! Server-initiated OMA-DM sessions: the platform queues management
//! commands for a device, sends it a notification (package #0) through the
//! outbox, and runs the commands when the device calls back with Alert 1200
//! and the session id it was told.

use diesel::prelude::*;
use serde::Serialize;

use super::account;
use super::command::{CommandResult, DmCommand, NodePath};
use super::engine::Pending;
use crate::db::schema::dm_jobs;
use crate::db::{now_ms, DbConnection};
use crate::firmware::package;
use crate::fota::session as fota;
use crate::messaging::codec::notification::UiMode;
use crate::messaging::content::{self, ContentError};
use crate::messaging::outbox::{self, Kind, NewMessage, OutboxMessage};
use crate::registry::audit::{self, EntityKind};
use crate::registry::identifiers::Mdn;
use crate::registry::{device, profile, Actor, RegistryError};

/// A notified device that has not called back after this long is not
/// expected to any more.
pub const JOB_TTL_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Read DevInfo and DevDetail back into the registry.
    Refresh,
    /// Network-initiated firmware update: the FUMO flow of client-initiated
    /// FOTA, started by the server.
    Fota,
    /// An operator's Get/Replace/Add/Delete/Exec commands (LAWMO lock and
    /// wipe among them).
    Commands,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Refresh => "refresh",
            JobKind::Fota => "fota",
            JobKind::Commands => "commands",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        match s {
            "refresh" => Some(JobKind::Refresh),
            "fota" => Some(JobKind::Fota),
            "commands" => Some(JobKind::Commands),
            _ => None,
        }
    }

    /// The commands a kind of job carries on its own.
    fn commands(self) -> Vec<Pending> {
        match self {
            // One Get of all five: one command and one answer over the air
            // instead of five.
            JobKind::Refresh => vec![Pending::Read(
                [
                    "./DevInfo/Man",
                    "./DevInfo/Mod",
                    "./DevInfo/DmV",
                    "./DevInfo/Lang",
                    "./DevDetail/FwV",
                ]
                .into_iter()
                .filter_map(|p| NodePath::parse(p).ok())
                .collect(),
            )],
            // The FOTA session's own plan asks the make-model-version query.
            JobKind::Fota => Vec::new(),
            // The operator's, given with the job.
            JobKind::Commands => Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("the device has no subscriber line (MDN) to send the notification to")]
    NoMdn,
    #[error("the device has no OMA-DM credentials; set them on the device page first")]
    NoAccount,
    #[error("this handset has been de-activated: it is no longer woken or managed over the air")]
    HandsetDeactivated,
    #[error("no released firmware package updates {0}")]
    NoUpdate(String),
    /// The capability registry says the model speaks IOTA only: an OMA-DM
    /// notification would wake nothing. The message says what to do instead.
    #[error("{0}")]
    NotOmadm(String),
    #[error("the device already has a firmware update in progress (FOTA session {0}); if its handset will not finish it, close it on its page, /firmware/sessions/{0}")]
    FotaBusy(i64),
    /// The device's FOTA session was registered by another request (the
    /// handset itself, say) at the same moment.
    #[error("the device's firmware update was started by another request at the same moment")]
    FotaStarted,
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Fota(#[from] crate::fota::FotaError),
    #[error(transparent)]
    Commands(super::command::CommandError),
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = dm_jobs)]
pub struct DmJob {
    pub id: i64,
    pub device_id: i64,
    pub dm_session_id: i32,
    pub kind: String,
    pub commands: String,
    pub state: String,
    pub outbox_id: Option<i64>,
    pub fota_session_id: Option<i64>,
    pub detail: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub results: String,
}

impl DmJob {
    pub fn pending_commands(&self) -> Vec<Pending> {
        serde_json::from_str(&self.commands).unwrap_or_default()
    }

    /// What each command came to (empty before the device answered).
    pub fn results(&self) -> Vec<CommandResult> {
        serde_json::from_str(&self.results).unwrap_or_default()
    }

    /// The job's commands as they were written, one per entry (a node a
    /// refresh reads counts as a `get` of its own).
    pub fn command_lines(&self) -> Vec<String> {
        self.pending_commands()
            .iter()
            .flat_map(|p| match p {
                Pending::Command(c) => vec![c.line()],
                Pending::Read(paths) => paths.iter().map(|p| format!("get {p}")).collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// The job's commands less those `done` already accounts for, in
    /// order: each result takes one command of its wording off the list, so
    /// a command the job carries twice is still sent twice.
    pub fn remaining_commands(&self, done: &[CommandResult]) -> Vec<Pending> {
        let mut taken = vec![false; done.len()];
        let mut answered =
            |line: String| match (0..done.len()).find(|&i| !taken[i] && done[i].command == line) {
                Some(i) => {
                    taken[i] = true;
                    true
                }
                None => false,
            };
        self.pending_commands()
            .into_iter()
            .filter_map(|p| match p {
                Pending::Command(c) => (!answered(c.line())).then_some(Pending::Command(c)),
                // Read again: only the nodes not answered yet.
                Pending::Read(paths) => {
                    let left: Vec<NodePath> = paths
                        .into_iter()
                        .filter(|p| !answered(format!("get {p}")))
                        .collect();
                    (!left.is_empty()).then_some(Pending::Read(left))
                }
                other => Some(other),
            })
            .collect()
    }

    /// What the job had come to as stored with it (see [`keep_progress`]).
    fn progress(&self) -> Progress {
        let results = self.results();
        let unsent = self
            .remaining_commands(&results)
            .iter()
            .map(Pending::job_commands)
            .sum();
        Progress {
            results,
            unsent,
            log: Vec::new(),
            fota: self.fota_session_id,
            refresh: self.kind == JobKind::Refresh.as_str(),
        }
    }
}

/// What a job had come to when its DM session ended: its commands' results
/// (a command sent but never answered has no status), how many of its
/// commands were never sent, its log and its FOTA session.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub results: Vec<CommandResult>,
    pub unsent: usize,
    pub log: Vec<String>,
    pub fota: Option<i64>,
    /// A refresh: a node the handset does not have is missing, not failed.
    pub refresh: bool,
}

/// Whether a command's outcome fails its job. A node a refresh reads that
/// the handset does not have (404) is reported as missing instead: what
/// the handset did have was read and recorded.
pub fn fails_job(r: &CommandResult, refresh: bool) -> bool {
    !(r.succeeded() || (refresh && r.is_missing()))
}

/// A job's detail: what its commands came to (or its log) and where its
/// FOTA session stands.
pub fn outcome_detail(conn: &mut DbConnection, p: &Progress) -> QueryResult<String> {
    use crate::db::schema::fota_sessions;
    let mut parts = Vec::new();
    if !p.results.is_empty() {
        parts.push(super::command::summary(&p.results, p.refresh));
    } else if !p.log.is_empty() {
        parts.push(p.log.join("; "));
    }
    if p.unsent > 0 {
        parts.push(format!(
            "{} command{} not sent",
            p.unsent,
            if p.unsent == 1 { "" } else { "s" }
        ));
    }
    if let Some(f) = p.fota {
        let state: Option<String> = fota_sessions::table
            .find(f)
            .select(fota_sessions::state)
            .first(conn)
            .optional()?;
        if let Some(state) = state {
            parts.push(format!("FOTA session {f} is {state}"));
        }
    }
    Ok(parts.join("; "))
}

/// Fails a running job whose DM session ended before the job did, saying
/// why and how far it got. `quiet_since`: only if the job has not moved
/// since then (a handset that came back meanwhile keeps it). False when
/// the job was no longer running.
pub fn interrupt(
    conn: &mut DbConnection,
    id: i64,
    why: &str,
    progress: &Progress,
    quiet_since: Option<i64>,
) -> QueryResult<bool> {
    let detail = match outcome_detail(conn, progress)? {
        d if d.is_empty() => why.to_string(),
        d => format!("{why}; {d}"),
    };
    let results = serde_json::to_string(&progress.results).unwrap_or_else(|_| "[]".into());
    let n = diesel::update(
        dm_jobs::table
            .find(id)
            .filter(dm_jobs::state.eq("running"))
            .filter(dm_jobs::updated_at.lt(quiet_since.unwrap_or(i64::MAX))),
    )
    .set((
        dm_jobs::state.eq("failed"),
        dm_jobs::detail.eq(&detail),
        dm_jobs::results.eq(results),
        dm_jobs::updated_at.eq(now_ms()),
    ))
    .execute(conn)?;
    if n > 0 {
        tracing::warn!(job = id, %detail, "server-initiated OMA-DM job interrupted");
    }
    Ok(n > 0)
}

/// Stores with a running job what its results are so far, when the DM
/// session holding them ends early (the handset started it again): the
/// session that takes the job up sends only what was not answered.
pub fn keep_progress(
    conn: &mut DbConnection,
    id: i64,
    results: &[CommandResult],
) -> QueryResult<()> {
    let results = serde_json::to_string(results).unwrap_or_else(|_| "[]".into());
    diesel::update(dm_jobs::table.find(id).filter(dm_jobs::state.eq("running")))
        .set((
            dm_jobs::results.eq(results),
            dm_jobs::updated_at.eq(now_ms()),
        ))
        .execute(conn)?;
    Ok(())
}

/// A running job whose DM session has said nothing for `idle_ms` (the
/// handset dropped it, or lost coverage) is over: failed with what it came
/// to, which frees the FOTA session it holds for the sweeper. Returns how
/// many were closed.
pub fn time_out_running(conn: &mut DbConnection, now: i64, idle_ms: i64) -> QueryResult<usize> {
    use crate::db::schema::dm_sessions;
    use diesel::sql_types::{BigInt, Bool};
    let quiet_since = now - idle_ms;
    // (diesel has no correlated subquery; the SQL is the same on both.)
    let no_live_session = diesel::dsl::sql::<Bool>(
        "NOT EXISTS (SELECT 1 FROM dm_sessions s WHERE s.job_id = dm_jobs.id AND s.updated_at >= ",
    )
    .bind::<BigInt, _>(quiet_since)
    .sql(")");
    let quiet: Vec<DmJob> = dm_jobs::table
        .filter(dm_jobs::state.eq("running"))
        .filter(dm_jobs::updated_at.lt(quiet_since))
        .filter(no_live_session)
        .select(DmJob::as_select())
        .load(conn)?;
    let mut closed = 0;
    for job in quiet {
        let done = crate::db::write(conn, |conn| -> QueryResult<bool> {
            // The session's own record is the fuller one while it is kept.
            let stored: Option<(String, i64)> = dm_sessions::table
                .filter(dm_sessions::job_id.eq(job.id))
                .order(dm_sessions::updated_at.desc())
                .select((dm_sessions::state, dm_sessions::updated_at))
                .first(conn)
                .optional()?;
            if stored.as_ref().is_some_and(|(_, at)| *at >= quiet_since) {
                // The handset spoke since the list was read.
                return Ok(false);
            }
            let progress = stored
                .as_ref()
                .and_then(|(state, _)| super::engine::job_progress(state))
                .filter(|(id, _)| *id == job.id)
                .map(|(_, p)| p)
                .unwrap_or_else(|| job.progress());
            interrupt(
                conn,
                job.id,
                &format!(
                    "the device's DM session ended before the job did (nothing heard for {} minutes)",
                    idle_ms / 60_000
                ),
                &progress,
                Some(quiet_since),
            )
        })?;
        if done {
            closed += 1;
        }
    }
    Ok(closed)
}

/// Queues a server-initiated session of `kind` for a device and its
/// notification, in one transaction.
pub fn notify(
    conn: &mut DbConnection,
    vault: &crate::secrets::Vault,
    device_id: i64,
    kind: JobKind,
    actor: &Actor,
    max_parts: u8,
) -> Result<(DmJob, OutboxMessage), JobError> {
    crate::db::write(conn, |conn| {
        let dev = device::get(conn, device_id)?;
        queue(conn, vault, &dev, kind, kind.commands(), actor, max_parts)
    })
}

/// Queues an operator's management commands for a device and its
/// notification, in one transaction.
pub fn notify_commands(
    conn: &mut DbConnection,
    vault: &crate::secrets::Vault,
    device_id: i64,
    commands: &[DmCommand],
    actor: &Actor,
    max_parts: u8,
) -> Result<(DmJob, OutboxMessage), JobError> {
    super::command::check_count(commands).map_err(JobError::Commands)?;
    let pending = commands.iter().cloned().map(Pending::Command).collect();
    crate::db::write(conn, |conn| {
        let dev = device::get(conn, device_id)?;
        queue(
            conn,
            vault,
            &dev,
            JobKind::Commands,
            pending,
            actor,
            max_parts,
        )
    })
}

/// [`notify`] for a device the caller has just read in its transaction (a
/// campaign checks its version first): one read fewer per device of a wave.
pub fn notify_device(
    conn: &mut DbConnection,
    vault: &crate::secrets::Vault,
    dev: &device::Device,
    kind: JobKind,
    actor: &Actor,
    max_parts: u8,
) -> Result<(DmJob, OutboxMessage), JobError> {
    crate::db::write(conn, |conn| {
        queue(conn, vault, dev, kind, kind.commands(), actor, max_parts)
    })
}

/// The work of [`notify`], in the caller's transaction.
fn queue(
    conn: &mut DbConnection,
    vault: &crate::secrets::Vault,
    dev: &device::Device,
    kind: JobKind,
    mut commands: Vec<Pending>,
    actor: &Actor,
    max_parts: u8,
) -> Result<(DmJob, OutboxMessage), JobError> {
    // Out of service (retired by an ESN change, or with its line): the
    // handset may be in someone else's hands, or nobody's.
    if dev.is_deactivated() {
        return Err(JobError::HandsetDeactivated);
    }
    let capability = crate::registry::capability::for_device(
        conn,
        &dev.make,
        &dev.model,
        &dev.firmware_version,
    )?;
    // Said before anything else: credentials, a line or a package would not
    // make such a handset answer.
    if capability
        .as_ref()
        .is_some_and(|c| c.protocol() == crate::registry::capability::Protocol::Iota)
    {
        return Err(JobError::NotOmadm(not_omadm(dev, kind)));
    }
    let device_id = dev.id;
    let mdn = match dev.profile_id {
        Some(pid) => profile::get(conn, pid)?.mdn,
        None => return Err(JobError::NoMdn),
    };
    let mdn = Mdn::parse(&mdn).map_err(|_| JobError::NoMdn)?;
    // Fetched now, required later: "no update" is the better answer
    // when both apply.
    let acct = account::get(conn, vault, device_id)?;
    let now = now_ms();
    // Statements kept prepared (and no `eq_any`, which diesel never
    // keeps): a campaign runs this for every device of a wave.
    crate::native!(conn, |c| crate::db::fixed_update(
        dm_jobs::table
            .filter(dm_jobs::device_id.eq(device_id))
            .filter(dm_jobs::state.eq("notified"))
            .filter(dm_jobs::created_at.lt(now - JOB_TTL_MS)),
        (
            dm_jobs::state.eq("expired"),
            dm_jobs::detail.eq("the device did not call back"),
            dm_jobs::updated_at.eq(now),
        )
    )
    .execute(c))?;

    let fota_session_id = match kind {
        JobKind::Refresh | JobKind::Commands => None,
        JobKind::Fota => {
            // As the FOTA URL and campaigns do: a model whose capability
            // entry says FOTA no is not updated over the air at all.
            if capability.is_some_and(|c| !c.fota) {
                return Err(JobError::NoUpdate(format!(
                    "{} {} {} over the air: its capability entry says FOTA no",
                    dev.make, dev.model, dev.firmware_version
                )));
            }
            if package::find_update(conn, &dev.make, &dev.model, &dev.firmware_version)?.is_none() {
                return Err(JobError::NoUpdate(format!(
                    "{} {} {}",
                    dev.make, dev.model, dev.firmware_version
                )));
            }
            let s = fota::register_pending(
                conn,
                device_id,
                "omadm",
                &dev.firmware_version,
                "network-initiated",
            )
            .map_err(|e| match e {
                crate::fota::FotaError::AlreadyOpen(_) => JobError::FotaStarted,
                other => other.into(),
            })?;
            if s.state() != crate::fota::FotaState::Pending {
                return Err(JobError::FotaBusy(s.id));
            }
            // A pending session another notification already awaits is
            // that notification's: a second one would send the handset
            // two wake-ups for one update. Locked first, so a concurrent
            // notification (another node, a campaign) waits for this
            // one and then sees its job.
            fota::get_for_update(conn, s.id)?;
            Some(s.id)
        }
    };
    // The device's open jobs, read after that lock (by device: its index
    // finds the device's few jobs): whether one awaits this FOTA session,
    // and the session ids already in use.
    let open: Vec<(i32, Option<i64>)> = dm_jobs::table
        .filter(dm_jobs::device_id.eq(device_id))
        .filter(
            dm_jobs::state
                .eq("notified")
                .or(dm_jobs::state.eq("running")),
        )
        .select((dm_jobs::dm_session_id, dm_jobs::fota_session_id))
        .load(conn)?;
    if let Some(f) = fota_session_id {
        if open.iter().any(|(_, awaits)| *awaits == Some(f)) {
            return Err(JobError::FotaBusy(f));
        }
    }

    let acct = acct.ok_or(JobError::NoAccount)?;
    let busy: Vec<i32> = open.iter().map(|(id, _)| *id).collect();
    let session_id = loop {
        let candidate: u16 = rand::random();
        if candidate != 0 && !busy.contains(&i32::from(candidate)) {
            break candidate;
        }
    };
    // A lock or wipe must not ask the person holding a stolen handset.
    let ui_mode = match kind {
        JobKind::Refresh | JobKind::Commands => UiMode::Background,
        JobKind::Fota => UiMode::Informative,
    };
    let pdu = content::dm_notification(&acct, session_id, ui_mode)?;
    let msg = outbox::queue(
        conn,
        &NewMessage::push(
            Kind::DmNotification,
            Some(device_id),
            mdn,
            pdu,
            format!(
                "OMA-DM notification: {} session {session_id:04X}",
                kind.as_str()
            ),
        ),
        &actor.to_string(),
        max_parts,
    )?;
    let listed: Vec<String> = commands
        .iter()
        .filter_map(|p| match p {
            Pending::Command(c) if kind == JobKind::Commands => Some(c.line()),
            _ => None,
        })
        .collect();
    let correlator = job_correlator(&mut commands);
    let commands = serde_json::to_string(&commands).unwrap_or_else(|_| "[]".into());
    let row = (
        dm_jobs::device_id.eq(device_id),
        dm_jobs::dm_session_id.eq(i32::from(session_id)),
        dm_jobs::kind.eq(kind.as_str()),
        dm_jobs::commands.eq(&commands),
        dm_jobs::state.eq("notified"),
        dm_jobs::outbox_id.eq(msg.id),
        dm_jobs::fota_session_id.eq(fota_session_id),
        dm_jobs::created_by.eq(actor.to_string()),
        dm_jobs::created_at.eq(now),
        dm_jobs::updated_at.eq(now),
        dm_jobs::correlator.eq(correlator),
    );
    let job: DmJob = crate::native!(conn, |c| diesel::insert_into(dm_jobs::table)
        .values(row)
        .returning(DmJob::as_returning())
        .get_result(c))?;
    audit::record(
        conn,
        actor,
        EntityKind::Device,
        device_id,
        "server-initiated OMA-DM session queued",
        &serde_json::json!({"job": job.id, "kind": kind.as_str(), "session_id": format!("{session_id:04X}"), "message": msg.id, "commands": listed}),
    )?;
    tracing::info!(device = device_id, job = job.id, session = %format!("{session_id:04X}"), "OMA-DM notification queued");
    Ok((job, msg))
}

/// Why an IOTA-only handset gets no job of `kind`, and what does reach it.
fn not_omadm(dev: &device::Device, kind: JobKind) -> String {
    let instead = match kind {
        JobKind::Fota => {
            "over IOTA the handset asks for its update itself: have the subscriber start \
             the firmware update from the handset (its FOTA URL leads to an IOTA session)"
        }
        JobKind::Refresh => {
            "its make, model and version are read in its own IOTA sessions (activation, \
             FOTA)"
        }
        JobKind::Commands => "management commands (lock, wipe, node values) need OMA-DM",
    };
    format!(
        "{} {} {} speaks IOTA, not OMA-DM (its capability entry): it cannot be woken for an \
         OMA-DM session; {instead}",
        dev.make, dev.model, dev.firmware_version
    )
}

/// The job's correlator: its first Exec's. A later Exec of the same job
/// gets it with `-2`, `-3`… after it, so that one indexed column finds the
/// job of any Exec's late report ([`record_reported`]) while each Exec
/// keeps a correlator of its own to match its result.
fn job_correlator(commands: &mut [Pending]) -> Option<String> {
    let mut job = None;
    let mut n = 1;
    for p in commands {
        let Pending::Command(DmCommand::Exec { correlator, .. }) = p else {
            continue;
        };
        match &job {
            None => job = Some(correlator.clone()),
            Some(first) => {
                n += 1;
                *correlator = format!("{first}-{n}");
            }
        }
    }
    job
}

/// The job a device's package 1 answers, by the SessionID it carries
/// (hexadecimal as handsets write it, or decimal): a notified one, or one
/// already running whose session the handset started again (it never got
/// the answer to its package 1, say), which the new session takes up.
pub fn for_callback(
    conn: &mut DbConnection,
    device_id: i64,
    session_id: &str,
) -> QueryResult<Option<DmJob>> {
    let mut ids = Vec::new();
    if let Ok(v) = u16::from_str_radix(session_id, 16) {
        ids.push(i32::from(v));
    }
    if let Ok(v) = session_id.parse::<u16>() {
        ids.push(i32::from(v));
    }
    if ids.is_empty() {
        return Ok(None);
    }
    dm_jobs::table
        .filter(dm_jobs::device_id.eq(device_id))
        .filter(
            dm_jobs::state
                .eq("notified")
                .or(dm_jobs::state.eq("running")),
        )
        .filter(dm_jobs::dm_session_id.eq_any(ids))
        .filter(dm_jobs::created_at.ge(now_ms() - JOB_TTL_MS))
        .order(dm_jobs::id.desc())
        .select(DmJob::as_select())
        .first(conn)
        .optional()
}

/// Ends the device's notified jobs that await FOTA session `fota_session`,
/// which `closed` (an operator's reason) has ended before the handset
/// called back: no longer awaited, a late call-back finds nothing to run.
/// A job the handset already started finishes with its DM session. Returns
/// the job ids closed.
pub fn close_awaiting_fota(
    conn: &mut DbConnection,
    device_id: i64,
    fota_session: i64,
    closed: &str,
) -> QueryResult<Vec<i64>> {
    let ids: Vec<i64> = dm_jobs::table
        .filter(dm_jobs::device_id.eq(device_id))
        .filter(dm_jobs::fota_session_id.eq(fota_session))
        .filter(dm_jobs::state.eq("notified"))
        .select(dm_jobs::id)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(ids);
    }
    diesel::update(
        dm_jobs::table
            .filter(dm_jobs::id.eq_any(&ids))
            .filter(dm_jobs::state.eq("notified")),
    )
    .set((
        dm_jobs::state.eq("expired"),
        dm_jobs::detail.eq(format!(
            "no longer awaited: its FOTA session {fota_session} was {closed}"
        )),
        dm_jobs::updated_at.eq(now_ms()),
    ))
    .execute(conn)?;
    Ok(ids)
}

pub fn set_state(conn: &mut DbConnection, id: i64, state: &str, detail: &str) -> QueryResult<()> {
    diesel::update(dm_jobs::table.find(id))
        .set((
            dm_jobs::state.eq(state),
            dm_jobs::detail.eq(detail),
            dm_jobs::updated_at.eq(now_ms()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Closes a job with what its commands came to.
pub fn finish(
    conn: &mut DbConnection,
    id: i64,
    state: &str,
    detail: &str,
    results: &[CommandResult],
) -> QueryResult<()> {
    let results = serde_json::to_string(results).unwrap_or_else(|_| "[]".into());
    diesel::update(dm_jobs::table.find(id))
        .set((
            dm_jobs::state.eq(state),
            dm_jobs::detail.eq(detail),
            dm_jobs::results.eq(results),
            dm_jobs::updated_at.eq(now_ms()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Result codes 1200-1299 (LAWMO's "operation succeeded" range) and
/// 200-299 are successes.
pub fn reported_succeeded(code: u16) -> bool {
    (1200..1300).contains(&code) || (200..300).contains(&code)
}

pub fn reported_label(code: u16, alert_type: &str) -> String {
    format!("{code} ({alert_type})")
}

/// A Generic Alert reporting the end of an operation the device accepted
/// (202) to finish later, a LAWMO wipe say: recorded with the command its
/// correlator names. Result codes 1200-1299 (LAWMO) and 200-299 are
/// successes; any other fails the job.
pub fn record_reported(
    conn: &mut DbConnection,
    device_id: i64,
    correlator: Option<&str>,
    alert_type: &str,
    code: u16,
) -> QueryResult<bool> {
    let Some(correlator) = correlator.filter(|c| !c.is_empty()) else {
        tracing::warn!(
            device = device_id,
            alert_type,
            code,
            "Generic Alert without a correlator; nothing to record it on"
        );
        return Ok(false);
    };
    let of_job = correlator.split('-').next().unwrap_or(correlator);
    let found = dm_jobs::table
        .filter(dm_jobs::device_id.eq(device_id))
        .filter(dm_jobs::correlator.eq(of_job))
        .order(dm_jobs::id.desc())
        .select(DmJob::as_select())
        .first(conn)
        .optional()?;
    if let Some(job) = found {
        let mut results = job.results();
        if let Some(r) = results.iter_mut().find(|r| r.correlator == correlator) {
            r.reported = Some(reported_label(code, alert_type));
            let (state, detail) = if reported_succeeded(code) {
                (job.state.clone(), job.detail.clone())
            } else {
                (
                    "failed".to_string(),
                    format!("{}; {} reported {code}", job.detail, r.command),
                )
            };
            finish(conn, job.id, &state, &detail, &results)?;
            tracing::info!(
                device = device_id,
                job = job.id,
                code,
                alert_type,
                "operation result reported"
            );
            return Ok(true);
        }
    }
    tracing::warn!(
        device = device_id,
        correlator,
        alert_type,
        code,
        "Generic Alert for no command of this device's jobs"
    );
    Ok(false)
}

pub fn get(conn: &mut DbConnection, id: i64) -> QueryResult<Option<DmJob>> {
    dm_jobs::table
        .find(id)
        .select(DmJob::as_select())
        .first(conn)
        .optional()
}

/// A device's jobs older than `before` (all when none), newest first.
pub fn page_for_device(
    conn: &mut DbConnection,
    device_id: i64,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<DmJob>> {
    dm_jobs::table
        .filter(dm_jobs::device_id.eq(device_id))
        .filter(dm_jobs::id.lt(before.unwrap_or(i64::MAX)))
        .order(dm_jobs::id.desc())
        .limit(limit)
        .select(DmJob::as_select())
        .load(conn)
}

pub fn for_device(conn: &mut DbConnection, device_id: i64, limit: i64) -> QueryResult<Vec<DmJob>> {
    dm_jobs::table
        .filter(dm_jobs::device_id.eq(device_id))
        .order(dm_jobs::id.desc())
        .limit(limit)
        .select(DmJob::as_select())
        .load(conn)
}

/// How much of a DM job's command, value or summary a list shows: a job's
/// own view (`mdm dm job ID`, the API) keeps the full text.
pub const LIST_TEXT_CHARS: usize = 120;

/// `text` cut to `max` characters (on a char boundary) with "…" when longer.
pub fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]).into(),
        None => text.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_of(lines: &[&str]) -> DmJob {
        let commands: Vec<Pending> = lines
            .iter()
            .map(|l| {
                let (verb, path) = l.split_once(' ').unwrap();
                Pending::Command(DmCommand::new(verb, path, None, None).unwrap())
            })
            .collect();
        DmJob {
            id: 1,
            device_id: 1,
            dm_session_id: 1,
            kind: "commands".into(),
            commands: serde_json::to_string(&commands).unwrap(),
            state: "running".into(),
            outbox_id: None,
            fota_session_id: None,
            detail: String::new(),
            created_by: "test".into(),
            created_at: 0,
            updated_at: 0,
            results: "[]".into(),
        }
    }

    #[test]
    fn a_job_taken_up_again_sends_only_what_was_not_answered() {
        let job = job_of(&["get ./A", "get ./B", "get ./A", "get ./C"]);
        let answered = |line: &str| {
            let (verb, path) = line.split_once(' ').unwrap();
            CommandResult::sent(&DmCommand::new(verb, path, None, None).unwrap(), 3)
        };
        let left = |done: &[CommandResult]| -> Vec<String> {
            job.remaining_commands(done)
                .iter()
                .map(|p| match p {
                    Pending::Command(c) => c.line(),
                    other => format!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(left(&[]).len(), 4);
        // A command the job carries twice is answered once: once more to go.
        assert_eq!(
            left(&[answered("get ./A"), answered("get ./B")]),
            ["get ./A", "get ./C"]
        );
        assert!(left(&[
            answered("get ./A"),
            answered("get ./B"),
            answered("get ./A"),
            answered("get ./C")
        ])
        .is_empty());
        assert_eq!(job.progress().unsent, 4);
    }

    #[test]
    fn a_refresh_is_one_read_and_taken_up_again_reads_only_what_is_left() {
        let mut job = job_of(&[]);
        job.kind = "refresh".into();
        job.commands = serde_json::to_string(&JobKind::Refresh.commands()).unwrap();
        let lines = job.command_lines();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], "get ./DevInfo/Man");
        let answered = |line: &str| {
            let (verb, path) = line.split_once(' ').unwrap();
            let mut r = CommandResult::sent(&DmCommand::new(verb, path, None, None).unwrap(), 3);
            r.status = Some(200);
            r
        };
        let done = [
            answered("get ./DevInfo/Man"),
            answered("get ./DevDetail/FwV"),
        ];
        let left = job.remaining_commands(&done);
        let [Pending::Read(paths)] = left.as_slice() else {
            panic!("{left:?}");
        };
        let paths: Vec<&str> = paths.iter().map(NodePath::as_str).collect();
        assert_eq!(paths, ["./DevInfo/Mod", "./DevInfo/DmV", "./DevInfo/Lang"]);
        assert_eq!(job.progress().unsent, 5);
        assert!(job.progress().refresh);
        let all: Vec<CommandResult> = lines.iter().map(|l| answered(l)).collect();
        assert!(job.remaining_commands(&all).is_empty());
    }

    #[test]
    fn clip_cuts_long_text_on_a_char_boundary() {
        assert_eq!(clip("short", 120), "short");
        assert_eq!(clip(&"a".repeat(120), 120), "a".repeat(120));
        assert_eq!(clip(&"a".repeat(121), 120), format!("{}…", "a".repeat(120)));
        // Two-byte characters: a byte cut at 120 would split one.
        let accented = "é".repeat(200);
        assert_eq!(clip(&accented, 61), format!("{}…", "é".repeat(61)));
    }
}
