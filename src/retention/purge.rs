//! The purge: deactivated subscribers whose deactivation is older than the
//! retention period are written to the offline archive and then deleted, a
//! batch at a time. Each batch is flushed to disk before the transaction that
//! deletes it commits, and that transaction also records how far the archive
//! file is committed; a resumed run cuts the file back to that point. So a
//! crash anywhere loses nothing and archives nothing twice.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use diesel::prelude::*;
use serde::Serialize;

use super::archive::{self, ArchivedAccount, ArchivedEvent, ArchivedSession, Header, RecordRef};
use super::lease::{self, RunLock};
use super::RetentionError;
use crate::db::schema::{
    audit_events, devices, dm_accounts, fota_events, fota_sessions, profiles, purge_runs,
};
use crate::db::{now_ms, Db, DbConnection};
use crate::fota::session::{FotaEvent, FotaSession};
use crate::registry::audit::{self, AuditEvent, AuditLine, EntityKind};
use crate::registry::device::Device;
use crate::registry::profile::Profile;
use crate::registry::Actor;

/// Segments roll over at this size so no archive file grows without bound.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// How long a run's holder may go without renewing its lease before another
/// process may take the run over (or abandon it).
pub const LEASE_MS: i64 = 120_000;

/// The longest reason an abandoned run keeps.
const REASON_CHARS: usize = 500;

#[derive(Debug, Clone)]
pub struct PurgeOptions {
    pub older_than_ms: i64,
    pub archive_root: PathBuf,
    pub batch: i64,
    /// A running run whose heartbeat is older than this is taken over.
    pub lease_ms: i64,
    /// Fault injection: stop after archiving this many batches, before the
    /// delete commits, as a crash would.
    pub crash_after_batches: Option<u32>,
}

impl PurgeOptions {
    pub fn new(older_than_ms: i64, archive_root: &Path) -> PurgeOptions {
        PurgeOptions {
            older_than_ms,
            archive_root: archive_root.to_path_buf(),
            batch: 10_000,
            lease_ms: LEASE_MS,
            crash_after_batches: None,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = purge_runs)]
pub struct PurgeRun {
    pub id: i64,
    pub state: String,
    pub cutoff: i64,
    pub archive_dir: String,
    pub segment: i32,
    pub committed_bytes: i64,
    pub last_profile_id: i64,
    pub eligible: i64,
    pub profiles: i64,
    pub devices: i64,
    pub started_by: String,
    pub started_at: i64,
    pub heartbeat_at: i64,
    pub finished_at: Option<i64>,
    pub error: String,
    pub last_device_id: i64,
    /// The process running it ([`lease::this_process`]).
    pub holder: String,
    /// Who abandoned it (`abandoned` runs only), when and why.
    pub abandoned_by: String,
    pub abandoned_at: Option<i64>,
    pub abandon_reason: String,
}

impl PurgeRun {
    /// Whether it is running but nobody moves it on: it says why (its
    /// archive is elsewhere, missing or short), or its lease ran out.
    pub fn stalled(&self, now: i64) -> bool {
        self.state == "running" && (!self.error.is_empty() || now - self.heartbeat_at >= LEASE_MS)
    }

    pub fn percent(&self) -> i64 {
        if self.eligible == 0 {
            100
        } else {
            (self.profiles * 100 / self.eligible).min(100)
        }
    }
}

fn get(conn: &mut DbConnection, id: i64) -> Result<PurgeRun, RetentionError> {
    purge_runs::table
        .find(id)
        .select(PurgeRun::as_select())
        .first(conn)
        .optional()?
        .ok_or(RetentionError::NotFound(id))
}

pub fn recent(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<PurgeRun>> {
    purge_runs::table
        .order(purge_runs::id.desc())
        .limit(limit)
        .select(PurgeRun::as_select())
        .load(conn)
}

pub fn find(conn: &mut DbConnection, id: i64) -> Result<PurgeRun, RetentionError> {
    get(conn, id)
}

fn eligible_filter(
    cutoff: i64,
    after: i64,
) -> impl Fn(
    profiles::BoxedQuery<'static, crate::db::MultiBackend>,
) -> profiles::BoxedQuery<'static, crate::db::MultiBackend> {
    move |q| {
        q.filter(profiles::activation_state.eq("deactivated"))
            .filter(profiles::state_changed_at.lt(cutoff))
            .filter(profiles::id.gt(after))
    }
}

/// The handsets the second pass archives: retired by an ESN change, or
/// de-activated with no subscriber left, before the cutoff.
fn retired_filter(
    cutoff: i64,
    after: i64,
) -> impl Fn(
    devices::BoxedQuery<'static, crate::db::MultiBackend>,
) -> devices::BoxedQuery<'static, crate::db::MultiBackend> {
    move |q| {
        q.filter(devices::activation_state.eq("deactivated"))
            .filter(devices::deactivated_at.lt(cutoff))
            .filter(
                devices::retired_at
                    .is_not_null()
                    .or(devices::profile_id.is_null()),
            )
            .filter(devices::id.gt(after))
    }
}

/// Whether a run with this cutoff would archive anyone: a run with nothing
/// to do leaves no row and no folder behind (the server tries every hour).
fn anything_to_purge(conn: &mut DbConnection, cutoff: i64) -> QueryResult<bool> {
    let profile: Option<i64> = eligible_filter(cutoff, 0)(profiles::table.into_boxed())
        .select(profiles::id)
        .first(conn)
        .optional()?;
    if profile.is_some() {
        return Ok(true);
    }
    let handset: Option<i64> = retired_filter(cutoff, 0)(devices::table.into_boxed())
        .select(devices::id)
        .first(conn)
        .optional()?;
    Ok(handset.is_some())
}

fn running(conn: &mut DbConnection) -> QueryResult<Option<PurgeRun>> {
    purge_runs::table
        .filter(purge_runs::state.eq("running"))
        .order(purge_runs::id.asc())
        .select(PurgeRun::as_select())
        .first(conn)
        .optional()
}

/// Takes over an interrupted run or starts a new one; `None` when there is
/// nothing to purge. A run is taken over once its lease has run out, or at
/// once when its holder was a process of this host that is gone (this
/// node's purge, killed or cut off by a restart), and only where its archive
/// is. At most one run is running: a unique index on the running state
/// refuses a second, so two nodes starting at once cannot both start one.
fn claim(
    conn: &mut DbConnection,
    actor: &str,
    opts: &PurgeOptions,
) -> Result<Option<(PurgeRun, RunLock)>, RetentionError> {
    // A conflict on the index means another process started a run between
    // this one's look and its insert: that run is then read and reported.
    for _ in 0..3 {
        match try_claim(conn, actor, opts) {
            Err(RetentionError::Db(crate::db::DbError::Query(e)))
                if crate::db::is_unique_violation(&e) =>
            {
                if let Some(r) = running(conn)? {
                    return Err(RetentionError::Busy(super::RunHeld {
                        run: r.id,
                        holder: r.holder,
                    }));
                }
            }
            Err(e @ RetentionError::ArchiveElsewhere { .. }) => {
                // Kept on the run, for `mdm archive list` and the next try;
                // its holder and lease stay as they were.
                if let RetentionError::ArchiveElsewhere { run, .. } = &e {
                    diesel::update(purge_runs::table.find(*run))
                        .filter(purge_runs::state.eq("running"))
                        .set(purge_runs::error.eq(e.to_string()))
                        .execute(conn)?;
                }
                return Err(e);
            }
            other => return other,
        }
    }
    Err(RetentionError::Conflict(
        "another purge started and finished while this one was starting; try again".into(),
    ))
}

/// The run is claimed together with its lock (see [`RunLock`]): a process
/// taking a run over must get the lock before the row, so one whose holder
/// is frozen rather than dead refuses and changes nothing; a new run's lock
/// is taken before its row commits, so no process sees the run unlocked.
fn try_claim(
    conn: &mut DbConnection,
    actor: &str,
    opts: &PurgeOptions,
) -> Result<Option<(PurgeRun, RunLock)>, RetentionError> {
    crate::db::write(conn, |conn| {
        let now = now_ms();
        let me = lease::this_process();
        if let Some(r) = running(conn)? {
            if now - r.heartbeat_at < opts.lease_ms && !lease::is_gone(&r.holder) {
                return Err(RetentionError::Busy(super::RunHeld {
                    run: r.id,
                    holder: r.holder,
                }));
            }
            let dir = archive_to_resume(&r)?;
            let lock = lock_run(&r, Path::new(&dir))?;
            // Only if nobody else took it over meanwhile (a row lock on
            // PostgreSQL: the second of two takers finds it changed).
            let taken = diesel::update(
                purge_runs::table
                    .find(r.id)
                    .filter(purge_runs::state.eq("running"))
                    .filter(purge_runs::holder.eq(&r.holder))
                    .filter(purge_runs::heartbeat_at.eq(r.heartbeat_at)),
            )
            .set((
                purge_runs::heartbeat_at.eq(now),
                purge_runs::holder.eq(me),
                purge_runs::archive_dir.eq(dir),
                purge_runs::error.eq(""),
            ))
            .execute(conn)?;
            if taken == 0 {
                let now_held = get(conn, r.id)?;
                return Err(RetentionError::Busy(super::RunHeld {
                    run: r.id,
                    holder: now_held.holder,
                }));
            }
            let resumed = get(conn, r.id)?;
            audit::record(
                conn,
                &actor_of(actor),
                EntityKind::PurgeRun,
                r.id,
                "resumed",
                &serde_json::json!({
                    "started_by": actor,
                    "holder": me,
                    "was_held_by": r.holder,
                    "cutoff": r.cutoff,
                    "cutoff_at": crate::timefmt::utc(r.cutoff),
                    "subscribers_archived": r.profiles,
                    "devices_archived": r.devices,
                }),
            )?;
            tracing::warn!(run = r.id, was = %r.holder, "resuming an interrupted purge");
            return Ok(Some((resumed, lock)));
        }
        let cutoff = now - opts.older_than_ms;
        if !anything_to_purge(conn, cutoff)? {
            return Ok(None);
        }
        // Stored absolute: a run resumed by another process (another
        // working directory, another node) must find the same folder.
        std::fs::create_dir_all(&opts.archive_root)?;
        let root = std::fs::canonicalize(&opts.archive_root)?;
        diesel::insert_into(purge_runs::table)
            .values((
                purge_runs::state.eq("running"),
                purge_runs::cutoff.eq(cutoff),
                purge_runs::archive_dir.eq(root.to_string_lossy().into_owned()),
                purge_runs::started_by.eq(actor),
                purge_runs::started_at.eq(now),
                purge_runs::heartbeat_at.eq(now),
                purge_runs::holder.eq(me),
            ))
            .execute(conn)?;
        let r: PurgeRun = purge_runs::table
            .filter(purge_runs::state.eq("running"))
            .order(purge_runs::id.desc())
            .select(PurgeRun::as_select())
            .first(conn)?;
        let lock = lock_run(&r, &root)?;
        // In the run's own transaction: a run is never in the trail
        // without having started, nor started without being in it.
        audit::record(
            conn,
            &actor_of(actor),
            EntityKind::PurgeRun,
            r.id,
            "started",
            &serde_json::json!({
                "started_by": actor,
                "holder": me,
                "cutoff": cutoff,
                "cutoff_at": crate::timefmt::utc(cutoff),
                "archive_dir": r.archive_dir,
            }),
        )?;
        tracing::info!(run = r.id, started_by = actor, cutoff_at = %crate::timefmt::utc(cutoff), "purge started");
        Ok(Some((r, lock)))
    })
}

/// Takes the lock of run `r`, whose archive is under `root`; refuses, naming
/// the run and its folder, when a live process holds it.
fn lock_run(r: &PurgeRun, root: &Path) -> Result<RunLock, RetentionError> {
    let dir = archive::run_dir(root, r.id);
    RunLock::try_acquire(&dir)?.ok_or_else(|| {
        // Debug only: the caller reports the refusal (the scheduler once per
        // run and holder, not on every tick; see `schedule`).
        tracing::debug!(run = r.id, holder = %r.holder, folder = %dir.display(), "purge run still locked by its holder");
        RetentionError::StillHeld {
            run: r.id,
            why: format!(
                "it holds the lock on {} in the run's archive folder {} (its process {} is frozen or paused, not dead); the run is taken over once that process resumes and finishes, or ends",
                lease::lock_path(&dir).display(),
                dir.display(),
                if r.holder.is_empty() { "(unnamed)" } else { r.holder.as_str() }
            ),
        }
    })
}

/// The folder a resumed run goes on writing in (made absolute when an older
/// release recorded it relative), once it is known to hold everything the
/// run committed: resuming without it would pad a missing segment with
/// zeros, or start a second half of the archive somewhere else, and delete
/// what only that half holds.
fn archive_to_resume(r: &PurgeRun) -> Result<String, RetentionError> {
    let root = Path::new(&r.archive_dir);
    let missing = |problem: String| RetentionError::ArchiveElsewhere {
        run: r.id,
        path: archive::run_dir(root, r.id).display().to_string(),
        host: match lease::host_of(&r.holder) {
            "" => "the node that started it".to_string(),
            host => host.to_string(),
        },
        problem,
    };
    for segment in 1..r.segment {
        let p = archive::segment_path(root, r.id, segment);
        if !p.is_file() {
            return Err(missing(format!(
                "{} is not on {}",
                p.display(),
                lease::this_host()
            )));
        }
    }
    if r.committed_bytes > 0 {
        let p = archive::segment_path(root, r.id, r.segment);
        match std::fs::metadata(&p) {
            Err(_) => {
                return Err(missing(format!(
                    "{} is not on {}",
                    p.display(),
                    lease::this_host()
                )))
            }
            Ok(m) if m.len() < r.committed_bytes as u64 => {
                return Err(missing(format!(
                    "{} holds {} of the {} bytes committed",
                    p.display(),
                    m.len(),
                    r.committed_bytes
                )))
            }
            Ok(_) => {}
        }
    }
    Ok(std::fs::canonicalize(root)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| r.archive_dir.clone()))
}

/// Renews the run's lease if this process still holds it. Run before every
/// write to the archive and inside every delete: a process that went quiet
/// past its lease and was taken over must neither write nor delete more.
fn hold(conn: &mut DbConnection, run: i64) -> Result<(), RetentionError> {
    let held = diesel::update(
        purge_runs::table
            .find(run)
            .filter(purge_runs::state.eq("running"))
            .filter(purge_runs::holder.eq(lease::this_process())),
    )
    .set(purge_runs::heartbeat_at.eq(now_ms()))
    .execute(conn)?;
    if held == 0 {
        return Err(RetentionError::Lost(run));
    }
    Ok(())
}

/// A batch that changed under its archiving this many times in a row is
/// given up on rather than archived again for ever.
const BATCH_RETRIES: u32 = 5;

/// Who the audit trail names for a purge started (or carried on, or ended)
/// by `started_by`, as [`run`] is given it: the server's scheduler, `mdm
/// purge`, or a named actor (`user:NAME`, `api:NAME`). Any other name (a
/// test's) is the purge itself; the event's detail keeps the name as given.
fn actor_of(started_by: &str) -> Actor {
    match started_by {
        "scheduler" => Actor::System("purge-scheduler"),
        "cli" => Actor::System("cli"),
        other => match other.split_once(':') {
            Some(("user", name)) => Actor::User(name.to_string()),
            Some(("api", name)) => Actor::Token(name.to_string()),
            _ => Actor::System("purge"),
        },
    }
}

/// The audit detail of a run that ended (completed or failed).
fn ended(r: &PurgeRun) -> serde_json::Value {
    let mut detail = serde_json::json!({
        "state": r.state,
        "started_by": r.started_by,
        "cutoff": r.cutoff,
        "cutoff_at": crate::timefmt::utc(r.cutoff),
        "eligible": r.eligible,
        "subscribers_archived": r.profiles,
        "devices_archived": r.devices,
        "archive_dir": archive::run_dir(Path::new(&r.archive_dir), r.id).display().to_string(),
    });
    if !r.error.is_empty() {
        detail["error"] = serde_json::Value::String(r.error.clone());
    }
    detail
}

/// What a purge run's audit event says, in brief, for a list of recent
/// events (its detail holds the rest); empty for other events.
pub fn audit_note(e: &AuditLine) -> String {
    if e.entity_kind != EntityKind::PurgeRun.as_str() {
        return String::new();
    }
    let Ok(d) = serde_json::from_str::<serde_json::Value>(&e.detail) else {
        return String::new();
    };
    let text = |k: &str| {
        d.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let count = |k: &str| d.get(k).and_then(|v| v.as_i64()).unwrap_or_default();
    match e.action.as_str() {
        "started" => format!("subscribers de-activated before {}", text("cutoff_at")),
        "resumed" => format!(
            "taken over from {} after {} subscriber(s)",
            text("was_held_by"),
            count("subscribers_archived")
        ),
        "completed" => format!(
            "{} subscriber(s) and {} device(s) archived",
            count("subscribers_archived"),
            count("devices_archived")
        ),
        "failed" => format!(
            "after {} subscriber(s): {}",
            count("subscribers_archived"),
            text("error")
        ),
        "abandoned" => text("reason"),
        _ => String::new(),
    }
}

/// Runs (or resumes) a purge to completion; `None` when nobody was due
/// (no run is recorded then).
pub fn run(
    db: &Db,
    actor: &str,
    opts: &PurgeOptions,
    progress: &mut dyn FnMut(&PurgeRun),
) -> Result<Option<PurgeRun>, RetentionError> {
    let mut conn = db.get()?;
    // The lock is held until this returns, whatever it returns.
    let Some((mut r, _lock)) = claim(&mut conn, actor, opts)? else {
        return Ok(None);
    };
    let root = PathBuf::from(&r.archive_dir);
    match purge_batches(&mut conn, &root, &mut r, opts, progress) {
        Ok(()) => {}
        // The run is another process's now, or resumes later: not failed.
        Err(e @ (RetentionError::Interrupted | RetentionError::Lost(_))) => return Err(e),
        Err(e) => {
            let message = e.to_string();
            let marked = crate::db::write(&mut conn, |c| -> Result<(), RetentionError> {
                let marked = diesel::update(purge_runs::table.find(r.id))
                    .filter(purge_runs::holder.eq(lease::this_process()))
                    .set((
                        purge_runs::state.eq("failed"),
                        purge_runs::error.eq(&message),
                        purge_runs::finished_at.eq(now_ms()),
                    ))
                    .execute(c)?;
                if marked > 0 {
                    let failed = get(c, r.id)?;
                    audit::record(
                        c,
                        &actor_of(actor),
                        EntityKind::PurgeRun,
                        r.id,
                        "failed",
                        &ended(&failed),
                    )?;
                }
                Ok(())
            });
            // The failure itself is what the caller gets; a database that
            // cannot record it is only logged (the run stays running and
            // is resumed once its lease runs out).
            if let Err(not_marked) = marked {
                tracing::error!(run = r.id, error = %not_marked, "the failed purge run could not be marked failed");
            }
            tracing::error!(run = r.id, error = %message, "purge failed");
            return Err(e);
        }
    }
    hold(&mut conn, r.id)?;
    archive::write_manifest(&root, r.id, r.cutoff, r.profiles, r.devices)?;
    let done = crate::db::write(&mut conn, |c| -> Result<Option<PurgeRun>, RetentionError> {
        let finished = diesel::update(
            purge_runs::table
                .find(r.id)
                .filter(purge_runs::holder.eq(lease::this_process())),
        )
        .set((
            purge_runs::state.eq("completed"),
            purge_runs::finished_at.eq(now_ms()),
        ))
        .execute(c)?;
        if finished == 0 {
            return Ok(None);
        }
        let done = get(c, r.id)?;
        audit::record(
            c,
            &actor_of(actor),
            EntityKind::PurgeRun,
            r.id,
            "completed",
            &ended(&done),
        )?;
        Ok(Some(done))
    })?;
    let Some(done) = done else {
        return Err(RetentionError::Lost(r.id));
    };
    tracing::info!(
        run = done.id,
        profiles = done.profiles,
        devices = done.devices,
        "purge completed"
    );
    progress(&done);
    Ok(Some(done))
}

/// What a batch's devices take into the archive besides their own rows:
/// their OMA-DM accounts (secrets as sealed) and their FOTA sessions with
/// every event, by device id. (Their DM jobs and campaign memberships are
/// not kept: a restored device is notified afresh.)
#[derive(Default)]
struct DeviceExtras {
    accounts: HashMap<i64, ArchivedAccount>,
    sessions: HashMap<i64, Vec<ArchivedSession>>,
}

/// Ids bound in one statement, well under either backend's limit.
const IDS_PER_QUERY: usize = 5_000;

impl DeviceExtras {
    fn load(conn: &mut DbConnection, dev_ids: &[i64]) -> QueryResult<DeviceExtras> {
        let mut out = DeviceExtras::default();
        for ids in dev_ids.chunks(IDS_PER_QUERY) {
            for a in dm_accounts::table
                .filter(dm_accounts::device_id.eq_any(ids))
                .select(ArchivedAccount::as_select())
                .load::<ArchivedAccount>(conn)?
            {
                out.accounts.insert(a.device_id, a);
            }
            let sessions: Vec<FotaSession> = fota_sessions::table
                .filter(fota_sessions::device_id.eq_any(ids))
                .order(fota_sessions::id.asc())
                .select(FotaSession::as_select())
                .load(conn)?;
            let session_ids: Vec<i64> = sessions.iter().map(|s| s.id).collect();
            let mut events_of: HashMap<i64, Vec<ArchivedEvent>> = HashMap::new();
            for chunk in session_ids.chunks(IDS_PER_QUERY) {
                for e in fota_events::table
                    .filter(fota_events::fota_session_id.eq_any(chunk))
                    .order(fota_events::id.asc())
                    .select(FotaEvent::as_select())
                    .load::<FotaEvent>(conn)?
                {
                    events_of
                        .entry(e.fota_session_id)
                        .or_default()
                        .push(ArchivedEvent {
                            at: e.at,
                            from_state: e.from_state,
                            to_state: e.to_state,
                            detail: e.detail,
                        });
                }
            }
            for s in sessions {
                out.sessions
                    .entry(s.device_id)
                    .or_default()
                    .push(ArchivedSession {
                        events: events_of.remove(&s.id).unwrap_or_default(),
                        id: s.id,
                        device_id: s.device_id,
                        protocol: s.protocol,
                        state: s.state,
                        from_version: s.from_version,
                        to_version: s.to_version,
                        package_id: s.package_id,
                        correlator: s.correlator,
                        result_code: s.result_code,
                        detail: s.detail,
                        created_at: s.created_at,
                        updated_at: s.updated_at,
                    });
            }
        }
        Ok(out)
    }

    /// Takes the accounts and sessions of `devices` out.
    fn take(&mut self, devices: &[Device]) -> (Vec<ArchivedAccount>, Vec<ArchivedSession>) {
        let mut accounts = Vec::new();
        let mut sessions = Vec::new();
        for d in devices {
            accounts.extend(self.accounts.remove(&d.id));
            sessions.extend(self.sessions.remove(&d.id).unwrap_or_default());
        }
        (accounts, sessions)
    }
}

fn purge_batches(
    conn: &mut DbConnection,
    root: &Path,
    r: &mut PurgeRun,
    opts: &PurgeOptions,
    progress: &mut dyn FnMut(&PurgeRun),
) -> Result<(), RetentionError> {
    let remaining: i64 = eligible_filter(r.cutoff, r.last_profile_id)(profiles::table.into_boxed())
        .count()
        .get_result(conn)?;
    r.eligible = r.profiles + remaining;
    diesel::update(purge_runs::table.find(r.id))
        .set(purge_runs::eligible.eq(r.eligible))
        .execute(conn)?;
    if r.committed_bytes == 0 && r.segment == 1 {
        let header = Header {
            format: archive::FORMAT.into(),
            version: 2,
            run: r.id,
            cutoff: r.cutoff,
            created_at: r.started_at,
            describes: "one JSON object per line: {profile (with its argon2id pin_hash), devices, audit, dm_accounts (passwords sealed as stored), fota_sessions (each with its events)} of a purged subscriber, or {retired: true, profile: {id, mdn}, devices: [handset], audit, dm_accounts, fota_sessions} of a handset an ESN change retired; version 1 records have no dm_accounts or fota_sessions"
                .into(),
        };
        hold(conn, r.id)?;
        let len = archive::append_member(
            &archive::segment_path(root, r.id, 1),
            0,
            &[serde_json::to_string(&header)?],
        )?;
        diesel::update(purge_runs::table.find(r.id))
            .set(purge_runs::committed_bytes.eq(len as i64))
            .execute(conn)?;
        r.committed_bytes = len as i64;
    }
    progress(r);
    let mut batches = 0u32;
    let mut retries = 0u32;
    loop {
        let batch: Vec<Profile> =
            eligible_filter(r.cutoff, r.last_profile_id)(profiles::table.into_boxed())
                .order(profiles::id.asc())
                .limit(opts.batch)
                .select(Profile::as_select())
                .load(conn)?;
        let Some(last) = batch.last().map(|p| p.id) else {
            return purge_retired(conn, root, r, opts, progress, batches);
        };
        let ids: Vec<i64> = batch.iter().map(|p| p.id).collect();
        let devs: Vec<Device> = devices::table
            .filter(devices::profile_id.eq_any(&ids))
            .select(Device::as_select())
            .load(conn)?;
        let dev_ids: Vec<i64> = devs.iter().map(|d| d.id).collect();
        // Two indexed lookups rather than one OR, which would scan the table.
        let mut events: Vec<AuditEvent> = audit_events::table
            .filter(audit_events::entity_kind.eq("profile"))
            .filter(audit_events::entity_id.eq_any(&ids))
            .select(AuditEvent::as_select())
            .load(conn)?;
        events.extend(
            audit_events::table
                .filter(audit_events::entity_kind.eq("device"))
                .filter(audit_events::entity_id.eq_any(&dev_ids))
                .select(AuditEvent::as_select())
                .load::<AuditEvent>(conn)?,
        );
        let mut devices_of: HashMap<i64, Vec<Device>> = HashMap::new();
        let mut owner: HashMap<i64, i64> = HashMap::new();
        for d in devs {
            if let Some(pid) = d.profile_id {
                owner.insert(d.id, pid);
                devices_of.entry(pid).or_default().push(d);
            }
        }
        let mut extras = DeviceExtras::load(conn, &dev_ids)?;
        let mut history_of: HashMap<i64, Vec<AuditEvent>> = HashMap::new();
        for e in events {
            let pid = match e.entity_kind.as_str() {
                "profile" => Some(e.entity_id),
                _ => owner.get(&e.entity_id).copied(),
            };
            if let Some(pid) = pid {
                history_of.entry(pid).or_default().push(e);
            }
        }
        let mut lines = Vec::with_capacity(batch.len());
        for p in &batch {
            let mine = devices_of.remove(&p.id).unwrap_or_default();
            let history = history_of.remove(&p.id).unwrap_or_default();
            let (accounts, sessions) = extras.take(&mine);
            lines.push(serde_json::to_string(&RecordRef {
                profile: archive::ArchivedProfile {
                    profile: p,
                    pin_hash: p.pin_hash.as_deref(),
                },
                devices: &mine,
                audit: &history,
                dm_accounts: &accounts,
                fota_sessions: &sessions,
            })?);
        }
        // 1. Archive and flush.
        hold(conn, r.id)?;
        let path = archive::segment_path(root, r.id, r.segment);
        let new_len = archive::append_member(&path, r.committed_bytes as u64, &lines)?;
        batches += 1;
        if opts.crash_after_batches.is_some_and(|n| batches >= n) {
            return Err(RetentionError::Interrupted);
        }
        // 2. Delete and record the committed archive length, atomically.
        let (next_segment, committed) = if new_len > SEGMENT_BYTES {
            (r.segment + 1, 0)
        } else {
            (r.segment, new_len as i64)
        };
        // The member is committed only if the delete takes exactly what it
        // holds: a subscriber re-activated, a handset moved or a row deleted
        // by someone else since the batch was read rolls the delete back,
        // and the batch is read and archived again over the uncommitted
        // member, so the archive never holds a subscriber the database kept.
        let cutoff = r.cutoff;
        let deleted = crate::db::write(conn, |conn| -> Result<(), RetentionError> {
            hold(conn, r.id)?;
            diesel::delete(
                audit_events::table
                    .filter(audit_events::entity_kind.eq("profile"))
                    .filter(audit_events::entity_id.eq_any(&ids)),
            )
            .execute(conn)?;
            diesel::delete(
                audit_events::table
                    .filter(audit_events::entity_kind.eq("device"))
                    .filter(audit_events::entity_id.eq_any(&dev_ids)),
            )
            .execute(conn)?;
            let devices_gone = diesel::delete(
                devices::table
                    .filter(devices::id.eq_any(&dev_ids))
                    .filter(devices::profile_id.eq_any(&ids)),
            )
            .execute(conn)?;
            let devices_left: i64 = devices::table
                .filter(devices::profile_id.eq_any(&ids))
                .count()
                .get_result(conn)?;
            let profiles_gone = diesel::delete(
                profiles::table
                    .filter(profiles::id.eq_any(&ids))
                    .filter(profiles::activation_state.eq("deactivated"))
                    .filter(profiles::state_changed_at.lt(cutoff)),
            )
            .execute(conn)?;
            if devices_gone != dev_ids.len() || devices_left != 0 || profiles_gone != ids.len() {
                return Err(RetentionError::BatchChanged);
            }
            diesel::update(purge_runs::table.find(r.id))
                .set((
                    purge_runs::segment.eq(next_segment),
                    purge_runs::committed_bytes.eq(committed),
                    purge_runs::last_profile_id.eq(last),
                    purge_runs::profiles.eq(purge_runs::profiles + profiles_gone as i64),
                    purge_runs::devices.eq(purge_runs::devices + devices_gone as i64),
                    purge_runs::heartbeat_at.eq(now_ms()),
                ))
                .execute(conn)?;
            Ok(())
        });
        if batch_changed(deleted, r.id, &mut retries)? {
            continue;
        }
        *r = get(conn, r.id)?;
        progress(r);
    }
}

/// Whether a batch's delete found it changed and the batch is to be
/// archived again; other errors pass through.
fn batch_changed(
    deleted: Result<(), RetentionError>,
    run: i64,
    retries: &mut u32,
) -> Result<bool, RetentionError> {
    match deleted {
        Ok(()) => {
            *retries = 0;
            Ok(false)
        }
        Err(RetentionError::BatchChanged) if *retries < BATCH_RETRIES => {
            *retries += 1;
            tracing::info!(run, "a batch changed while it was archived; archiving it again");
            Ok(true)
        }
        Err(RetentionError::BatchChanged) => Err(RetentionError::Conflict(format!(
            "purge run {run}: a batch kept changing while it was archived ({BATCH_RETRIES} times); the purge stopped and resumes on its next start"
        ))),
        Err(e) => Err(e),
    }
}

/// The second pass: handsets retired by an ESN change while their
/// subscriber stays (or de-activated with no subscriber left), de-activated
/// before the cutoff. A handset de-activated with its line goes with the line
/// in the first pass, never here. Each is archived alone with its history,
/// under its subscriber's MDN, with the same archive-then-delete order as the
/// subscribers.
fn purge_retired(
    conn: &mut DbConnection,
    root: &Path,
    r: &mut PurgeRun,
    opts: &PurgeOptions,
    progress: &mut dyn FnMut(&PurgeRun),
    mut batches: u32,
) -> Result<(), RetentionError> {
    let mut retries = 0u32;
    loop {
        let batch: Vec<Device> =
            retired_filter(r.cutoff, r.last_device_id)(devices::table.into_boxed())
                .order(devices::id.asc())
                .limit(opts.batch)
                .select(Device::as_select())
                .load(conn)?;
        let Some(last) = batch.last().map(|d| d.id) else {
            return Ok(());
        };
        let ids: Vec<i64> = batch.iter().map(|d| d.id).collect();
        let owners: Vec<i64> = batch.iter().filter_map(|d| d.profile_id).collect();
        let mdns: HashMap<i64, String> = profiles::table
            .filter(profiles::id.eq_any(&owners))
            .select((profiles::id, profiles::mdn))
            .load::<(i64, String)>(conn)?
            .into_iter()
            .collect();
        let events: Vec<AuditEvent> = audit_events::table
            .filter(audit_events::entity_kind.eq("device"))
            .filter(audit_events::entity_id.eq_any(&ids))
            .select(AuditEvent::as_select())
            .load(conn)?;
        let mut history_of: HashMap<i64, Vec<AuditEvent>> = HashMap::new();
        for e in events {
            history_of.entry(e.entity_id).or_default().push(e);
        }
        let mut extras = DeviceExtras::load(conn, &ids)?;
        let mut lines = Vec::with_capacity(batch.len());
        for d in &batch {
            let history = history_of.remove(&d.id).unwrap_or_default();
            let (accounts, sessions) = extras.take(std::slice::from_ref(d));
            lines.push(serde_json::to_string(&archive::RetiredRef {
                retired: true,
                profile: archive::Owner {
                    id: d.profile_id,
                    mdn: d.profile_id.and_then(|p| mdns.get(&p).cloned()),
                },
                devices: std::slice::from_ref(d),
                audit: &history,
                dm_accounts: &accounts,
                fota_sessions: &sessions,
            })?);
        }
        hold(conn, r.id)?;
        let path = archive::segment_path(root, r.id, r.segment);
        let new_len = archive::append_member(&path, r.committed_bytes as u64, &lines)?;
        batches += 1;
        if opts.crash_after_batches.is_some_and(|n| batches >= n) {
            return Err(RetentionError::Interrupted);
        }
        let (next_segment, committed) = if new_len > SEGMENT_BYTES {
            (r.segment + 1, 0)
        } else {
            (r.segment, new_len as i64)
        };
        let cutoff = r.cutoff;
        let deleted = crate::db::write(conn, |conn| -> Result<(), RetentionError> {
            hold(conn, r.id)?;
            diesel::delete(
                audit_events::table
                    .filter(audit_events::entity_kind.eq("device"))
                    .filter(audit_events::entity_id.eq_any(&ids)),
            )
            .execute(conn)?;
            // Still retired and due: one re-activated meanwhile stays.
            let gone = diesel::delete(
                devices::table
                    .filter(devices::id.eq_any(&ids))
                    .filter(devices::activation_state.eq("deactivated"))
                    .filter(devices::deactivated_at.lt(cutoff))
                    .filter(
                        devices::retired_at
                            .is_not_null()
                            .or(devices::profile_id.is_null()),
                    ),
            )
            .execute(conn)?;
            if gone != ids.len() {
                return Err(RetentionError::BatchChanged);
            }
            diesel::update(purge_runs::table.find(r.id))
                .set((
                    purge_runs::segment.eq(next_segment),
                    purge_runs::committed_bytes.eq(committed),
                    purge_runs::last_device_id.eq(last),
                    purge_runs::devices.eq(purge_runs::devices + gone as i64),
                    purge_runs::heartbeat_at.eq(now_ms()),
                ))
                .execute(conn)?;
            Ok(())
        });
        if batch_changed(deleted, r.id, &mut retries)? {
            continue;
        }
        *r = get(conn, r.id)?;
        progress(r);
    }
}

/// Marks running run `id` abandoned, for a run whose archive is lost for
/// good (its segment missing or short) and that would otherwise stay running
/// and block every later purge. `by` (who), the time and `reason` are kept
/// on the run and in the audit trail. What the run archived and deleted
/// stays as it is, and nothing more is deleted: its subscribers not yet
/// archived are still in the database, and the next purge archives them in
/// a run of its own. Refused for a run that is not running, or that a live
/// process holds (its lease is current, it is a process of this host that
/// still runs, or it holds the run's lock).
pub fn abandon(
    conn: &mut DbConnection,
    id: i64,
    actor: &Actor,
    by: &str,
    reason: &str,
) -> Result<PurgeRun, RetentionError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(RetentionError::Invalid(
            "give the reason the run is abandoned (say, the disk that held its archive is lost)"
                .into(),
        ));
    }
    if reason.chars().count() > REASON_CHARS {
        return Err(RetentionError::Invalid(format!(
            "the reason is longer than {REASON_CHARS} characters"
        )));
    }
    crate::db::write(conn, |conn| {
        let r = get(conn, id)?;
        if r.state != "running" {
            return Err(RetentionError::NotRunning {
                run: r.id,
                state: r.state,
            });
        }
        let now = now_ms();
        let alive = !lease::is_gone(&r.holder);
        if alive && now - r.heartbeat_at < LEASE_MS {
            return Err(RetentionError::StillHeld {
                run: r.id,
                why: format!(
                    "{} renewed its lease {} s ago; stop that process, or wait {} s for its lease to run out, and try again",
                    r.holder,
                    (now - r.heartbeat_at) / 1000,
                    LEASE_MS / 1000
                ),
            });
        }
        if alive && lease::is_local(&r.holder) {
            return Err(RetentionError::StillHeld {
                run: r.id,
                why: format!(
                    "its holder {} is a process of this host that still runs (frozen or paused); end it and try again",
                    r.holder
                ),
            });
        }
        // A folder that is gone holds no lock; one that is here is locked
        // for the update, so no process takes the run up meanwhile.
        let dir = archive::run_dir(Path::new(&r.archive_dir), r.id);
        let _lock = if dir.is_dir() {
            Some(lock_run(&r, Path::new(&r.archive_dir))?)
        } else {
            None
        };
        let marked = diesel::update(
            purge_runs::table
                .find(r.id)
                .filter(purge_runs::state.eq("running"))
                .filter(purge_runs::holder.eq(&r.holder))
                .filter(purge_runs::heartbeat_at.eq(r.heartbeat_at)),
        )
        .set((
            purge_runs::state.eq("abandoned"),
            purge_runs::finished_at.eq(now),
            purge_runs::abandoned_by.eq(by),
            purge_runs::abandoned_at.eq(now),
            purge_runs::abandon_reason.eq(reason),
        ))
        .execute(conn)?;
        if marked == 0 {
            return Err(RetentionError::Conflict(format!(
                "purge run {} was taken up by a process while it was being abandoned; nothing was changed, look at it again",
                r.id
            )));
        }
        audit::record(
            conn,
            actor,
            EntityKind::PurgeRun,
            r.id,
            "abandoned",
            &serde_json::json!({
                "by": by,
                "reason": reason,
                "archive_dir": dir.display().to_string(),
                "was_stuck_on": r.error,
                "holder": r.holder,
                "subscribers_archived": r.profiles,
                "devices_archived": r.devices,
            }),
        )?;
        tracing::warn!(run = r.id, by, reason, "purge run abandoned");
        get(conn, r.id)
    })
}

/// Parses durations such as `0s`, `90m`, `36h`, `30d`, `6mo`, `1y`.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("\"{s}\" is not a duration such as 30d or 6mo"))?;
    let unit_ms: i64 = match unit {
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "mo" => 30 * 86_400_000,
        "y" => 365 * 86_400_000,
        _ => return Err(format!("\"{s}\": the unit is s, m, h, d, w, mo or y")),
    };
    n.checked_mul(unit_ms)
        .ok_or_else(|| format!("\"{s}\" is too long"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::parse_duration("0s"), Ok(0));
        assert_eq!(super::parse_duration("6mo"), Ok(6 * 30 * 86_400_000));
        assert_eq!(super::parse_duration("36h"), Ok(36 * 3_600_000));
        assert!(super::parse_duration("6 months").is_err());
        assert!(super::parse_duration("d").is_err());
    }
}
