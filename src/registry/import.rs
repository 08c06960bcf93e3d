//! POS pre-load: subscribers and their devices from a CSV file. Every line is
//! checked before anything is written, and a file with any bad line imports
//! nothing, so a half-loaded batch never reaches the network.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use diesel::prelude::*;
use serde::Serialize;

use super::device::{self, CheckedDevice, DeviceDraft};
use super::profile::{self, ActivationState, ProfileDraft, ProfileValues};
use super::{Actor, RegistryError};
use crate::db::schema::{devices, profiles};
use crate::db::DbConnection;

pub const COLUMNS: &[&str] = &[
    "mdn",
    "min",
    "imsi",
    "account_id",
    "subscriber_name",
    "sid_nid_pairs",
    "prl_id",
    "sspr_table",
    "nai",
    "puzl_id",
    "brew_url",
    "features",
    "esn",
    "meid",
    "make",
    "model",
    "firmware_version",
];

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct ImportReport {
    pub lines: i64,
    pub profiles: i64,
    pub devices: i64,
    /// The problems found, by line: the first [`MAX_LISTED_ERRORS`].
    pub errors: Vec<LineError>,
    /// Problems found beyond those listed.
    pub unlisted_errors: i64,
}

impl ImportReport {
    /// Every problem found, listed or not.
    pub fn problems(&self) -> i64 {
        self.errors.len() as i64 + self.unlisted_errors
    }

    /// Orders the problems by line and keeps the first
    /// [`MAX_LISTED_ERRORS`]: a file wrong on every one of 200,000 lines
    /// needs its first lines' problems and a count, not a 20 MB page.
    fn cap(&mut self) {
        self.errors.sort_by_key(|e| e.line);
        if self.errors.len() > MAX_LISTED_ERRORS {
            self.unlisted_errors += (self.errors.len() - MAX_LISTED_ERRORS) as i64;
            self.errors.truncate(MAX_LISTED_ERRORS);
        }
    }
}

/// Problems listed per import; the rest are counted.
pub const MAX_LISTED_ERRORS: usize = 1_000;

/// A column the file does not have although its lines need it.
struct MissingColumn {
    /// What the field's check said on the first line that needed it.
    message: String,
    lines: u64,
}

/// Splits a line's field problems: those of a column the file does not
/// have are the file's (reported once, with how many lines need it); the
/// rest are the line's, returned as its message.
fn line_problems(
    e: RegistryError,
    headers: &[String],
    missing: &mut std::collections::BTreeMap<String, MissingColumn>,
) -> Option<String> {
    let RegistryError::Invalid(fields) = e else {
        return Some(e.to_string());
    };
    let mut own = Vec::new();
    for (field, message) in fields {
        let absent = COLUMNS.contains(&field.as_str()) && !headers.contains(&field);
        if absent {
            missing
                .entry(field)
                .or_insert(MissingColumn { message, lines: 0 })
                .lines += 1;
        } else {
            own.push(format!("{field}: {message}"));
        }
    }
    (!own.is_empty()).then(|| own.join("; "))
}

/// Counters a running import updates so that a screen or a terminal can show progress.
#[derive(Debug, Default)]
pub struct Progress {
    pub total: AtomicI64,
    pub checked: AtomicI64,
    pub written: AtomicI64,
}

impl Progress {
    pub fn shared() -> Arc<Progress> {
        Arc::new(Progress::default())
    }
}

struct Line {
    number: u64,
    profile: Option<ProfileValues>,
    device: Option<CheckedDevice>,
    mdn: Option<String>,
}

/// Lines a recorded import writes per transaction. Each transaction holds
/// SQLite's one write lock for its whole length (about 0.16 ms a line in a
/// release build), and device sessions wait behind it: a few tens of
/// milliseconds, not the whole file.
pub const BATCH_LINES: usize = 250;

/// The pause a command-line import leaves between two batches on SQLite. A
/// writer of another process (the server) waits for the lock in SQLite's
/// busy handler, which sleeps at most 25 ms at a time during its first
/// 128 ms of waiting: a longer gap always lets it in before the next batch.
const SQLITE_GAP: std::time::Duration = std::time::Duration::from_millis(30);

/// Checks the whole file and, only when every line is good, writes it in one transaction.
pub fn import_csv<R: Read>(
    conn: &mut DbConnection,
    actor: &Actor,
    input: R,
    progress: &Progress,
) -> Result<ImportReport, RegistryError> {
    let mut plan = match check(conn, input, progress, None, 0)? {
        Ok(plan) => plan,
        Err(report) => return Ok(report),
    };
    // Unrecorded, the file could not be resumed: it is written whole or not at all.
    plan.batch = plan.lines.len().max(1);
    loop {
        match write_batch(conn, actor, &mut plan, progress)? {
            Step::More => continue,
            Step::Done(report) | Step::Stopped(report) => return Ok(report),
        }
    }
}

/// A file whose every line passed its checks, and how much of it is written.
pub struct Plan {
    lines: Vec<Line>,
    /// Lines written, in file order: by earlier attempts of the run, then by this one.
    written: usize,
    /// Lines per transaction.
    batch: usize,
    run: Option<i64>,
    report: ImportReport,
}

/// What writing one batch came to.
#[derive(Debug)]
pub enum Step {
    /// Written; more lines remain.
    More,
    /// The file's last lines are written: the run is imported.
    Done(ImportReport),
    /// A line met a record written since the file was checked (its error is
    /// in the report): this batch wrote nothing, earlier ones stay.
    Stopped(ImportReport),
}

/// Where an import was started, shown beside who started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Portal,
    Cli,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Portal => "portal",
            Source::Cli => "cli",
        }
    }
}

/// A recorded run ready to check its file: a new one, or an interrupted
/// one of the same file taken over, whose first `resume_from` lines are
/// already written.
#[derive(Debug, Clone, Copy)]
pub struct Opened {
    pub id: i64,
    pub resume_from: i64,
}

/// Imports a file for a recorded run (see [`open_run`]) on this thread: checks every
/// line, then writes [`BATCH_LINES`] at a time, each batch its own
/// transaction recording how far the run got. The run records its outcome.
pub fn import_for_run(
    conn: &mut DbConnection,
    actor: &Actor,
    input: &[u8],
    progress: &Progress,
    run: Opened,
) -> Result<ImportReport, RegistryError> {
    let mut plan = match check_for_run(conn, input, progress, run)? {
        Ok(plan) => plan,
        Err(report) => return Ok(report),
    };
    let sqlite = matches!(conn, DbConnection::Sqlite(_));
    loop {
        match write_batch(conn, actor, &mut plan, progress)? {
            Step::More if sqlite => std::thread::sleep(SQLITE_GAP),
            Step::More => {}
            Step::Done(report) | Step::Stopped(report) => return Ok(report),
        }
    }
}

/// Checks a recorded run's file. A file with any problem is recorded (as
/// rejected, or still interrupted when an earlier attempt wrote lines) and
/// its report returned; a good one is the plan to write.
pub fn check_for_run(
    conn: &mut DbConnection,
    input: &[u8],
    progress: &Progress,
    run: Opened,
) -> Result<Result<Plan, ImportReport>, RegistryError> {
    let skip = usize::try_from(run.resume_from).unwrap_or(0);
    match check(conn, input, progress, Some(run.id), skip) {
        Ok(Ok(plan)) => Ok(Ok(plan)),
        Ok(Err(report)) => {
            record_outcome(conn, run.id, &report);
            Ok(Err(report))
        }
        Err(e) => {
            log_failure(conn, run.id, &e);
            Err(e)
        }
    }
}

fn record_outcome(conn: &mut DbConnection, run: i64, report: &ImportReport) {
    if let Err(e) = finish_run(conn, run, &Ok(report.clone())) {
        tracing::error!(run, error = %e, "could not record the import outcome");
    }
}

/// Records that a run failed (interrupted, if it wrote lines).
pub fn record_failure(conn: &mut DbConnection, run: i64, message: &str) -> QueryResult<()> {
    let errors = [LineError {
        line: 0,
        message: message.to_string(),
    }];
    end_run(conn, run, "failed", None, &errors, 0)
}

fn log_failure(conn: &mut DbConnection, run: i64, failure: &RegistryError) {
    if let Err(e) = record_failure(conn, run, &failure.to_string()) {
        tracing::error!(run, error = %e, "could not record the import failure");
    }
}

/// Writes the plan's next batch of lines in one transaction, with (for a
/// recorded run) how far the run got, so a crash after it loses nothing and
/// a crash during it leaves the run where the last batch left it.
pub fn write_batch(
    conn: &mut DbConnection,
    actor: &Actor,
    plan: &mut Plan,
    progress: &Progress,
) -> Result<Step, RegistryError> {
    let start = plan.written;
    let end = (start + plan.batch.max(1)).min(plan.lines.len());
    let total = plan.lines.len() as i64;
    let run = plan.run;
    let lines = &plan.lines[start..end];
    // A line that passed the checks can still meet an MDN, ESN or MEID
    // written meanwhile (another import, a user): its batch is undone and
    // that line is reported like any other bad line.
    let mut clash: Option<LineError> = None;
    let mut counts = (0i64, 0i64);
    // From the transaction's first statement (its lock held) to its commit.
    let mut began = None;
    let written = crate::db::write(conn, |conn| -> Result<(), RegistryError> {
        began = Some(std::time::Instant::now());
        counts = (0, 0);
        for line in lines {
            let at_line = |e: RegistryError, clash: &mut Option<LineError>| {
                if !matches!(e, RegistryError::Db(_)) {
                    *clash = Some(LineError {
                        line: line.number,
                        message: format!("{e} (since this file was checked)"),
                    });
                }
                e
            };
            let profile_id = match &line.profile {
                Some(values) => {
                    let p = profile::insert(conn, actor, values, None, ActivationState::Pending)
                        .map_err(|e| at_line(e, &mut clash))?;
                    counts.0 += 1;
                    Some(p.id)
                }
                None => None,
            };
            if let Some(d) = &line.device {
                let mut values = d.resolve(conn).map_err(|e| at_line(e, &mut clash))?;
                values.profile_id = profile_id;
                device::insert(conn, actor, &values).map_err(|e| at_line(e, &mut clash))?;
                counts.1 += 1;
            }
            progress.written.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(id) = run {
            record_batch(conn, id, end as i64, total)?;
        }
        Ok(())
    });
    if let Some(began) = began {
        tracing::debug!(run = ?run, lines = end - start, held_ms = began.elapsed().as_millis() as u64, "import batch");
    }
    match (written, clash) {
        (Ok(()), _) => {
            plan.written = end;
            plan.report.profiles += counts.0;
            plan.report.devices += counts.1;
            progress.written.store(end as i64, Ordering::Relaxed);
            if end == plan.lines.len() {
                Ok(Step::Done(plan.report.clone()))
            } else {
                Ok(Step::More)
            }
        }
        (Err(_), Some(clash)) => {
            progress.written.store(start as i64, Ordering::Relaxed);
            plan.report.errors.push(clash);
            if let Some(id) = run {
                record_outcome(conn, id, &plan.report);
            }
            Ok(Step::Stopped(plan.report.clone()))
        }
        (Err(e), None) => {
            progress.written.store(start as i64, Ordering::Relaxed);
            if let Some(id) = run {
                log_failure(conn, id, &e);
            }
            Err(e)
        }
    }
}

/// Records a written batch with the run, in the batch's transaction. Only
/// the process holding the run writes for it: one that lost it (taken for
/// dead and resumed elsewhere) has its batch undone instead of written twice.
fn record_batch(
    conn: &mut DbConnection,
    id: i64,
    written: i64,
    total: i64,
) -> Result<(), RegistryError> {
    let now = crate::db::now_ms();
    let held = import_runs::table
        .find(id)
        .filter(import_runs::state.eq("running"))
        .filter(import_runs::holder.eq(crate::retention::lease::this_process()));
    let progress = (
        import_runs::imported_lines.eq(written),
        import_runs::processed_lines.eq(total),
        import_runs::total_lines.eq(total),
        import_runs::batches.eq(import_runs::batches + 1),
        import_runs::heartbeat_at.eq(now),
    );
    let n = if written == total {
        diesel::update(held)
            .set((
                progress,
                import_runs::state.eq("imported"),
                import_runs::errors.eq("[]"),
                import_runs::finished_at.eq(now),
            ))
            .execute(conn)?
    } else {
        diesel::update(held).set(progress).execute(conn)?
    };
    if n == 0 {
        return Err(RegistryError::Conflict(format!(
            "import {id} is no longer run by this process"
        )));
    }
    Ok(())
}

/// Checks every line of the file. Lines before `skip` were written by an
/// earlier attempt of the same run (the same file): they are read and
/// checked like the others, but not looked up in the registry, where they
/// now are.
fn check<R: Read>(
    conn: &mut DbConnection,
    input: R,
    progress: &Progress,
    run: Option<i64>,
    skip: usize,
) -> Result<Result<Plan, ImportReport>, RegistryError> {
    let mut report = ImportReport::default();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(input);
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_ascii_lowercase()).collect(),
        Err(e) => {
            report.errors.push(LineError {
                line: 1,
                message: format!("cannot read the header line: {e}"),
            });
            return Ok(Err(report));
        }
    };
    for (i, h) in headers.iter().enumerate() {
        // Only a column's first occurrence would be read: a second one
        // (two exports pasted together) must not be silently ignored.
        if headers[..i].contains(h) && COLUMNS.contains(&h.as_str()) {
            report.errors.push(LineError {
                line: 1,
                message: format!(
                    "column \"{h}\" appears more than once (columns {} and {}); name each column once",
                    headers.iter().position(|x| x == h).map_or(0, |p| p + 1),
                    i + 1
                ),
            });
        }
        if !COLUMNS.contains(&h.as_str()) && !headers[..i].contains(h) {
            report.errors.push(LineError {
                line: 1,
                message: format!(
                    "unknown column \"{h}\"; the columns are {}",
                    COLUMNS.join(", ")
                ),
            });
        }
    }
    if !headers.iter().any(|h| h == "mdn") && !headers.iter().any(|h| h == "esn" || h == "meid") {
        report.errors.push(LineError {
            line: 1,
            message: "the header needs an mdn column, an esn/meid column, or both".into(),
        });
    }
    if !report.errors.is_empty() {
        return Ok(Err(report));
    }

    let records: Vec<(u64, csv::Result<csv::StringRecord>)> = reader
        .records()
        .map(|r| {
            let line = r
                .as_ref()
                .ok()
                .and_then(|rec| rec.position())
                .map(|p| p.line())
                .unwrap_or(0);
            (line, r)
        })
        .collect();
    progress
        .total
        .store(records.len() as i64, Ordering::Relaxed);

    let mut lines = Vec::with_capacity(records.len());
    let mut missing = std::collections::BTreeMap::new();
    let mut seen_mdn: HashMap<String, u64> = HashMap::new();
    let mut seen_esn: HashMap<String, u64> = HashMap::new();
    let mut seen_meid: HashMap<String, u64> = HashMap::new();
    let total = records.len() as i64;
    // A run says how far its check got, and that its process is alive
    // (other hosts' nodes go by that), from the start and every heartbeat.
    let every = std::time::Duration::from_millis(HEARTBEAT_MS as u64);
    let mut last_beat = std::time::Instant::now();
    if let Some(id) = run {
        checking(conn, id, 0, total)?;
    }
    for (index, (pos_line, record)) in records.into_iter().enumerate() {
        if let Some(id) = run {
            if last_beat.elapsed() >= every {
                checking(conn, id, index as i64, total)?;
                last_beat = std::time::Instant::now();
            }
        }
        // Line numbers count the header as line 1, as a spreadsheet shows them.
        let number = if pos_line > 0 {
            pos_line
        } else {
            index as u64 + 2
        };
        progress.checked.fetch_add(1, Ordering::Relaxed);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                report.errors.push(LineError {
                    line: number,
                    message: format!("unreadable CSV: {e}"),
                });
                continue;
            }
        };
        let get = |name: &str| -> Option<String> {
            headers
                .iter()
                .position(|h| h == name)
                .and_then(|i| record.get(i))
                .map(str::to_string)
                .filter(|s| !s.is_empty())
        };
        let int = |name: &str, errs: &mut Vec<String>| -> Option<i64> {
            let v = get(name)?;
            match v.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errs.push(format!("{name}: must be a whole number, got \"{v}\""));
                    None
                }
            }
        };
        let mut errs: Vec<String> = Vec::new();
        let has_profile = get("mdn").is_some();
        let has_device = get("esn").is_some() || get("meid").is_some();
        if !has_profile && !has_device {
            errs.push("a line needs an MDN, an ESN/MEID, or both".into());
        }
        let mut profile_values = None;
        if has_profile {
            let draft = ProfileDraft {
                mdn: get("mdn"),
                min: get("min"),
                imsi: get("imsi"),
                account_id: get("account_id"),
                subscriber_name: get("subscriber_name"),
                sid_nid_pairs: get("sid_nid_pairs"),
                prl_id: int("prl_id", &mut errs),
                sspr_table: int("sspr_table", &mut errs),
                nai: get("nai"),
                puzl_id: int("puzl_id", &mut errs),
                brew_url: get("brew_url"),
                features: get("features"),
                ..ProfileDraft::default()
            };
            match draft.validate() {
                Ok(v) => profile_values = Some(v),
                Err(e) => errs.extend(line_problems(e, &headers, &mut missing)),
            }
        }
        let mut checked_device = None;
        if has_device {
            let draft = DeviceDraft {
                esn: get("esn"),
                meid: get("meid"),
                make: get("make"),
                model: get("model"),
                firmware_version: get("firmware_version"),
                profile_mdn: None,
                profile_id: None,
            };
            match draft.check() {
                Ok(d) => checked_device = Some(d),
                Err(e) => errs.extend(line_problems(e, &headers, &mut missing)),
            }
        }
        if let Some(p) = &profile_values {
            if let Some(first) = seen_mdn.insert(p.mdn.clone(), number) {
                errs.push(format!("MDN {} also appears on line {first}", p.mdn));
            }
        }
        if let Some(d) = &checked_device {
            if let Some(esn) = d.esn {
                if let Some(first) = seen_esn.insert(esn.to_hex(), number) {
                    errs.push(format!("ESN {esn} also appears on line {first}"));
                }
            }
            if let Some(meid) = d.meid {
                if let Some(first) = seen_meid.insert(meid.to_hex(), number) {
                    errs.push(format!("MEID {meid} also appears on line {first}"));
                }
            }
        }
        for message in errs {
            report.errors.push(LineError {
                line: number,
                message,
            });
        }
        let mdn = profile_values.as_ref().map(|p| p.mdn.clone());
        lines.push(Line {
            number,
            profile: profile_values,
            device: checked_device,
            mdn,
        });
    }
    report.lines = lines.len() as i64;
    for (column, m) in missing {
        report.errors.push(LineError {
            line: 1,
            message: format!(
                "the file has no \"{column}\" column, which {} line(s) need ({column}: {}); add the column",
                m.lines, m.message
            ),
        });
    }

    if skip > lines.len() {
        return Err(RegistryError::Conflict(format!(
            "the run already wrote {skip} lines, more than this file's {}",
            lines.len()
        )));
    }
    check_existing(conn, &lines[skip..], &mut report)?;
    if !report.errors.is_empty() {
        report.cap();
        return Ok(Err(report));
    }
    if let Some(id) = run {
        checking(conn, id, report.lines, report.lines)?;
    }
    progress.written.store(skip as i64, Ordering::Relaxed);
    Ok(Ok(Plan {
        lines,
        written: skip,
        batch: BATCH_LINES,
        run,
        report,
    }))
}

/// Reports every line whose MDN, ESN or MEID is already registered, or
/// whose features the catalogue does not sell.
fn check_existing(
    conn: &mut DbConnection,
    lines: &[Line],
    report: &mut ImportReport,
) -> Result<(), RegistryError> {
    let known = crate::features::catalogue::codes(conn)?;
    for l in lines {
        let Some(p) = &l.profile else { continue };
        let wanted: Vec<&str> = p.features.split(',').filter(|f| !f.is_empty()).collect();
        if let Some(message) = crate::features::catalogue::unknown_codes_message(&known, &wanted) {
            report.errors.push(LineError {
                line: l.number,
                message: format!("features: {message}"),
            });
        }
    }
    for chunk in lines.chunks(500) {
        let mdns: Vec<String> = chunk.iter().filter_map(|l| l.mdn.clone()).collect();
        let taken: Vec<(String, i64)> = profiles::table
            .filter(profiles::mdn.eq_any(&mdns))
            .select((profiles::mdn, profiles::id))
            .load(conn)?;
        let taken: HashMap<String, i64> = taken.into_iter().collect();
        let esns: Vec<String> = chunk
            .iter()
            .filter_map(|l| l.device.as_ref().and_then(|d| d.esn).map(|e| e.to_hex()))
            .collect();
        let taken_esn: HashMap<String, i64> = devices::table
            .filter(devices::esn.eq_any(&esns))
            .select((devices::esn.assume_not_null(), devices::id))
            .load::<(String, i64)>(conn)?
            .into_iter()
            .collect();
        let meids: Vec<String> = chunk
            .iter()
            .filter_map(|l| l.device.as_ref().and_then(|d| d.meid).map(|m| m.to_hex()))
            .collect();
        let taken_meid: HashMap<String, i64> = devices::table
            .filter(devices::meid.eq_any(&meids))
            .select((devices::meid.assume_not_null(), devices::id))
            .load::<(String, i64)>(conn)?
            .into_iter()
            .collect();
        for l in chunk {
            if let Some(id) = l.mdn.as_ref().and_then(|m| taken.get(m)) {
                report.errors.push(LineError {
                    line: l.number,
                    message: format!(
                        "MDN {} is already registered to profile {id}",
                        l.mdn.as_deref().unwrap_or("")
                    ),
                });
            }
            if let Some(d) = &l.device {
                if let Some(id) = d.esn.and_then(|e| taken_esn.get(&e.to_hex())) {
                    report.errors.push(LineError {
                        line: l.number,
                        message: format!(
                            "ESN {} is already registered to device {id}",
                            d.esn.map(|e| e.to_hex()).unwrap_or_default()
                        ),
                    });
                }
                if let Some(id) = d.meid.and_then(|m| taken_meid.get(&m.to_hex())) {
                    report.errors.push(LineError {
                        line: l.number,
                        message: format!(
                            "MEID {} is already registered to device {id}",
                            d.meid.map(|m| m.to_hex()).unwrap_or_default()
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

/// One import as recorded in the database, so its outcome survives a restart.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = crate::db::schema::import_runs)]
pub struct ImportRun {
    pub id: i64,
    pub filename: String,
    /// running, imported, rejected, failed (nothing written) or
    /// interrupted (some batches written; the same file again writes the rest).
    pub state: String,
    pub total_lines: i64,
    /// Lines checked so far.
    pub processed_lines: i64,
    /// Lines written so far, in file order: committed with each batch.
    pub imported_lines: i64,
    pub errors: String,
    pub created_by: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// The process running it ([`crate::retention::lease::this_process`]).
    pub holder: String,
    pub heartbeat_at: i64,
    pub unlisted_errors: i64,
    /// Where it was started: [`Source::as_str`].
    pub source: String,
    /// The file's SHA-256, by which a run of the same file resumes it.
    pub content_hash: String,
    /// Write transactions committed.
    pub batches: i64,
}

impl ImportRun {
    pub fn report(&self) -> Option<ImportReport> {
        if self.state == "running" {
            return None;
        }
        let errors: Vec<LineError> = serde_json::from_str(&self.errors).unwrap_or_default();
        Some(ImportReport {
            lines: self.total_lines,
            profiles: 0,
            devices: 0,
            errors,
            unlisted_errors: self.unlisted_errors,
        })
    }

    /// Every problem found, listed or not.
    pub fn error_count(&self) -> i64 {
        serde_json::from_str::<Vec<LineError>>(&self.errors)
            .map(|v| v.len() as i64)
            .unwrap_or(0)
            + self.unlisted_errors
    }

    /// Who started it, and where.
    pub fn started_by(&self) -> String {
        match self.source.as_str() {
            "cli" => format!("{} (command line)", self.created_by),
            _ => format!("{} (portal)", self.created_by),
        }
    }

    /// Lines still to write.
    pub fn remaining_lines(&self) -> i64 {
        (self.total_lines - self.imported_lines).max(0)
    }
}

/// A running import says it is alive this often while it checks its file,
/// and with every batch it writes.
pub const HEARTBEAT_MS: i64 = 10_000;

/// A running import whose holder on another host has not said it is alive
/// for this long has lost its node. (A holder on this host is known alive
/// or gone for certain, heartbeat or not.)
pub const LEASE_MS: i64 = 120_000;

/// What a portal import cut off before writing anything is recorded with.
pub const INTERRUPTED: &str = "interrupted by a server restart; nothing was imported";

/// What a command-line import cut off before writing anything is recorded with.
pub const CLI_INTERRUPTED: &str = "interrupted: its command ended; nothing was imported";

fn interrupted_after(written: i64, total: i64) -> String {
    format!(
        "interrupted after {written} of {total} lines were written; import the same file again to write the other {}",
        (total - written).max(0)
    )
}

/// How a run recorded as running that no live process runs any more is to
/// be ended: one of this host whose process is gone (this node before a
/// restart, a command-line import killed), or one of another host silent
/// for [`LEASE_MS`]. One that wrote nothing is failed; one that wrote some
/// batches is interrupted, with how far it got. `None` for a run that is
/// not running or whose holder may still be alive.
fn abandoned_as(r: &ImportRun, now: i64) -> Option<(&'static str, LineError)> {
    use crate::retention::lease;
    if r.state != "running" {
        return None;
    }
    // This very process's runs are alive (whatever the heartbeat says
    // where no holder can be checked).
    if r.holder == lease::this_process() {
        return None;
    }
    let abandoned = if lease::is_local(&r.holder) {
        lease::is_gone(&r.holder)
    } else {
        // Another host's, or an older release's (no holder, no
        // heartbeat: its start is its last sign of life).
        let last = if r.holder.is_empty() {
            r.created_at
        } else {
            r.heartbeat_at
        };
        now - last > LEASE_MS
    };
    if !abandoned {
        return None;
    }
    let (state, message) = if r.imported_lines > 0 {
        (
            "interrupted",
            interrupted_after(r.imported_lines, r.total_lines),
        )
    } else if r.source == Source::Cli.as_str() {
        ("failed", CLI_INTERRUPTED.to_string())
    } else {
        ("failed", INTERRUPTED.to_string())
    };
    Some((state, LineError { line: 0, message }))
}

impl ImportRun {
    /// The run as a page shows it at `now`: one whose holder is gone is
    /// shown ended, exactly as [`fail_abandoned`] will record it, without
    /// writing anything (a page is read, it changes nothing; the start, the
    /// recovery timer and the next import of any file record it).
    pub fn as_seen(mut self, now: i64) -> ImportRun {
        if let Some((state, error)) = abandoned_as(&self, now) {
            self.state = state.to_string();
            self.errors = serde_json::to_string(&[error]).unwrap_or_default();
            self.finished_at = Some(now);
        }
        self
    }
}

/// Ends the imports still recorded as running that no live process runs
/// any more (see [`abandoned_as`]); the same file imported again resumes an
/// interrupted one. Each change is conditional on the heartbeat and the
/// count of lines written that were read, so a run that says it is alive
/// or writes meanwhile keeps going. Returns the runs ended.
pub fn fail_abandoned(conn: &mut DbConnection, now: i64) -> QueryResult<Vec<i64>> {
    let running: Vec<ImportRun> = import_runs::table
        .filter(import_runs::state.eq("running"))
        .select(ImportRun::as_select())
        .load(conn)?;
    let mut failed = Vec::new();
    for r in running {
        let Some((state, error)) = abandoned_as(&r, now) else {
            continue;
        };
        let errors = serde_json::to_string(&[error]).unwrap_or_default();
        let n = crate::db::write(conn, |conn| {
            diesel::update(
                import_runs::table
                    .find(r.id)
                    .filter(import_runs::state.eq("running"))
                    .filter(import_runs::heartbeat_at.eq(r.heartbeat_at))
                    .filter(import_runs::imported_lines.eq(r.imported_lines)),
            )
            .set((
                import_runs::state.eq(state),
                import_runs::errors.eq(&errors),
                import_runs::finished_at.eq(now),
            ))
            .execute(conn)
        })?;
        if n > 0 {
            tracing::warn!(run = r.id, file = %r.filename, holder = %r.holder, state, written = r.imported_lines, "import cut off by its process's end");
            failed.push(r.id);
        }
    }
    Ok(failed)
}

/// Says that this process still runs import `id`.
pub fn heartbeat(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    crate::db::write(conn, |conn| {
        diesel::update(
            import_runs::table
                .find(id)
                .filter(import_runs::state.eq("running")),
        )
        .set(import_runs::heartbeat_at.eq(crate::db::now_ms()))
        .execute(conn)
    })
    .map(|_| ())
}

/// Records how far a run's check got (and that its process is alive).
fn checking(conn: &mut DbConnection, id: i64, checked: i64, total: i64) -> QueryResult<()> {
    crate::db::write(conn, |conn| {
        diesel::update(
            import_runs::table
                .find(id)
                .filter(import_runs::state.eq("running")),
        )
        .set((
            import_runs::processed_lines.eq(checked),
            import_runs::total_lines.eq(total),
            import_runs::heartbeat_at.eq(crate::db::now_ms()),
        ))
        .execute(conn)
    })
    .map(|_| ())
}

use crate::db::schema::import_runs;

/// The SHA-256 of a file's bytes, by which its runs are known.
pub fn content_hash(content: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(content))
}

/// Records a new run of a file, or takes over the interrupted run of the
/// same file (same bytes) so that it writes the lines that run did not.
/// The runs of processes that are gone are ended first, so that a command
/// killed a moment ago can be resumed at once.
pub fn open_run(
    conn: &mut DbConnection,
    filename: &str,
    created_by: &str,
    source: Source,
    content: &[u8],
) -> Result<Opened, RegistryError> {
    fail_abandoned(conn, crate::db::now_ms())?;
    let hash = content_hash(content);
    let me = crate::retention::lease::this_process();
    crate::db::write(conn, |conn| {
        let now = crate::db::now_ms();
        let interrupted: Option<(i64, i64)> = import_runs::table
            .filter(import_runs::content_hash.eq(&hash))
            .filter(import_runs::state.eq("interrupted"))
            .order(import_runs::id.desc())
            .select((import_runs::id, import_runs::imported_lines))
            .first(conn)
            .optional()?;
        if let Some((id, written)) = interrupted {
            // Conditional, so that of two processes resuming it one does.
            let taken = diesel::update(
                import_runs::table
                    .find(id)
                    .filter(import_runs::state.eq("interrupted")),
            )
            .set((
                import_runs::state.eq("running"),
                import_runs::holder.eq(me),
                import_runs::heartbeat_at.eq(now),
                import_runs::finished_at.eq(None::<i64>),
                import_runs::errors.eq(""),
                import_runs::unlisted_errors.eq(0),
            ))
            .execute(conn)?;
            if taken == 1 {
                return Ok(Opened {
                    id,
                    resume_from: written,
                });
            }
        }
        diesel::insert_into(import_runs::table)
            .values((
                import_runs::filename.eq(filename),
                import_runs::state.eq("running"),
                import_runs::created_by.eq(created_by),
                import_runs::created_at.eq(now),
                import_runs::holder.eq(me),
                import_runs::heartbeat_at.eq(now),
                import_runs::source.eq(source.as_str()),
                import_runs::content_hash.eq(&hash),
            ))
            .execute(conn)?;
        Ok(Opened {
            id: crate::db::last_insert_id(conn)?,
            resume_from: 0,
        })
    })
}

/// Records how a run ended other than by writing its last batch (which
/// records it imported): with the problems found or the failure. A run
/// whose earlier batches wrote lines stays interrupted, resumable; one that
/// wrote nothing is rejected (problems) or failed.
pub fn finish_run(
    conn: &mut DbConnection,
    id: i64,
    outcome: &Result<ImportReport, RegistryError>,
) -> QueryResult<()> {
    match outcome {
        Ok(r) if r.errors.is_empty() => end_run(conn, id, "imported", Some(r.lines), &[], 0),
        Ok(r) => end_run(
            conn,
            id,
            "rejected",
            Some(r.lines),
            &r.errors,
            r.unlisted_errors,
        ),
        Err(e) => end_run(
            conn,
            id,
            "failed",
            None,
            &[LineError {
                line: 0,
                message: e.to_string(),
            }],
            0,
        ),
    }
}

/// [`finish_run`]: `nothing_written` is the state of a run that wrote no line.
fn end_run(
    conn: &mut DbConnection,
    id: i64,
    nothing_written: &str,
    total: Option<i64>,
    errors: &[LineError],
    unlisted: i64,
) -> QueryResult<()> {
    let now = crate::db::now_ms();
    let errors = serde_json::to_string(errors).unwrap_or_default();
    crate::db::write(conn, |conn| {
        // Only by its holder: a run taken for dead and resumed by another
        // process is that process's to record.
        let run = import_runs::table
            .find(id)
            .filter(import_runs::state.eq("running"))
            .filter(import_runs::holder.eq(crate::retention::lease::this_process()));
        let ended = || {
            (
                import_runs::errors.eq(&errors),
                import_runs::unlisted_errors.eq(unlisted),
                import_runs::finished_at.eq(now),
            )
        };
        if let ("imported", Some(total)) = (nothing_written, total) {
            return diesel::update(run)
                .set((
                    import_runs::state.eq("imported"),
                    import_runs::total_lines.eq(total),
                    import_runs::processed_lines.eq(total),
                    import_runs::imported_lines.eq(total),
                    ended(),
                ))
                .execute(conn);
        }
        diesel::update(run.filter(import_runs::imported_lines.gt(0)))
            .set((import_runs::state.eq("interrupted"), ended()))
            .execute(conn)?;
        let nothing = diesel::update(run.filter(import_runs::imported_lines.eq(0)));
        match total {
            Some(total) => nothing
                .set((
                    import_runs::state.eq(nothing_written),
                    import_runs::total_lines.eq(total),
                    import_runs::processed_lines.eq(total),
                    ended(),
                ))
                .execute(conn),
            None => nothing
                .set((import_runs::state.eq(nothing_written), ended()))
                .execute(conn),
        }
    })
    .map(|_| ())
}

pub fn get_run(conn: &mut DbConnection, id: i64) -> Result<ImportRun, RegistryError> {
    import_runs::table
        .find(id)
        .select(ImportRun::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| RegistryError::NotFound(format!("import {id}")))
}

pub fn recent_runs(conn: &mut DbConnection, limit: i64) -> Result<Vec<ImportRun>, RegistryError> {
    Ok(import_runs::table
        .order(import_runs::id.desc())
        .limit(limit)
        .select(ImportRun::as_select())
        .load(conn)?)
}
