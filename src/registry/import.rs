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

/// Checks the whole file and, only when every line is good, writes it in one transaction.
pub fn import_csv<R: Read>(
    conn: &mut DbConnection,
    actor: &Actor,
    input: R,
    progress: &Progress,
) -> Result<ImportReport, RegistryError> {
    import(conn, actor, input, progress, None)
}

/// [`import_csv`] for a recorded run (see [`start_run`]): a file that
/// imports records its run as imported in the transaction that writes its
/// lines, so a run left running by a crash never had a line written; any
/// other outcome is recorded after.
pub fn import_for_run<R: Read>(
    conn: &mut DbConnection,
    actor: &Actor,
    input: R,
    progress: &Progress,
    run: i64,
) -> Result<ImportReport, RegistryError> {
    let outcome = import(conn, actor, input, progress, Some(run));
    let imported = matches!(&outcome, Ok(r) if r.errors.is_empty());
    if !imported {
        if let Err(e) = finish_run(conn, run, &outcome) {
            tracing::error!(run, error = %e, "could not record the import outcome");
        }
    }
    outcome
}

fn import<R: Read>(
    conn: &mut DbConnection,
    actor: &Actor,
    input: R,
    progress: &Progress,
    run: Option<i64>,
) -> Result<ImportReport, RegistryError> {
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
            return Ok(report);
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
        return Ok(report);
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
    for (index, (pos_line, record)) in records.into_iter().enumerate() {
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

    check_existing(conn, &lines, &mut report)?;
    if !report.errors.is_empty() {
        report.cap();
        return Ok(report);
    }

    // A line that passed the checks can still meet an MDN, ESN or MEID
    // written meanwhile (another import, a user): the whole file is undone
    // and that line is reported like any other bad line.
    let mut clash: Option<LineError> = None;
    let written = crate::db::write(conn, |conn| -> Result<(), RegistryError> {
        for line in &lines {
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
                    report.profiles += 1;
                    Some(p.id)
                }
                None => None,
            };
            if let Some(d) = &line.device {
                let mut values = d.resolve(conn).map_err(|e| at_line(e, &mut clash))?;
                values.profile_id = profile_id;
                device::insert(conn, actor, &values).map_err(|e| at_line(e, &mut clash))?;
                report.devices += 1;
            }
            progress.written.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(id) = run {
            finish_run(conn, id, &Ok(report.clone()))?;
        }
        Ok(())
    });
    match (written, clash) {
        (Ok(()), _) => Ok(report),
        (Err(_), Some(clash)) => {
            report.profiles = 0;
            report.devices = 0;
            report.errors.push(clash);
            Ok(report)
        }
        (Err(e), None) => Err(e),
    }
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
    pub state: String,
    pub total_lines: i64,
    pub processed_lines: i64,
    pub imported_lines: i64,
    pub errors: String,
    pub created_by: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// The process running it ([`crate::retention::lease::this_process`]).
    pub holder: String,
    pub heartbeat_at: i64,
    pub unlisted_errors: i64,
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
}

/// A portal import says it is alive this often while it runs.
pub const HEARTBEAT_MS: i64 = 10_000;

/// A running import whose holder on another host has not said it is alive
/// for this long has lost its node. (A holder on this host is known alive
/// or gone for certain, heartbeat or not: on SQLite, whose single writer
/// holds back a heartbeat while the import writes, every holder is.)
pub const LEASE_MS: i64 = 120_000;

/// What an import cut off by its server's end is recorded with.
pub const INTERRUPTED: &str = "interrupted by a server restart; nothing was imported";

/// Marks failed the imports still recorded as running that no live process
/// runs any more: one of this host whose process is gone (this node before
/// a restart), or one of another host silent for [`LEASE_MS`]. Nothing of
/// theirs was written: a file's lines and its imported state commit
/// together. Each change is conditional on the heartbeat read, so a run
/// that says it is alive meanwhile keeps going. Returns the runs failed.
pub fn fail_abandoned(conn: &mut DbConnection, now: i64) -> QueryResult<Vec<i64>> {
    use crate::retention::lease;
    let running: Vec<ImportRun> = import_runs::table
        .filter(import_runs::state.eq("running"))
        .select(ImportRun::as_select())
        .load(conn)?;
    let errors = serde_json::to_string(&[LineError {
        line: 0,
        message: INTERRUPTED.into(),
    }])
    .unwrap_or_default();
    let mut failed = Vec::new();
    for r in running {
        // This very process's runs are alive (whatever the heartbeat says
        // where no holder can be checked).
        if r.holder == lease::this_process() {
            continue;
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
            continue;
        }
        let n = crate::db::write(conn, |conn| {
            diesel::update(
                import_runs::table
                    .find(r.id)
                    .filter(import_runs::state.eq("running"))
                    .filter(import_runs::heartbeat_at.eq(r.heartbeat_at)),
            )
            .set((
                import_runs::state.eq("failed"),
                import_runs::errors.eq(&errors),
                import_runs::finished_at.eq(now),
            ))
            .execute(conn)
        })?;
        if n > 0 {
            tracing::warn!(run = r.id, file = %r.filename, holder = %r.holder, "import interrupted by its server's end; marked failed");
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

use crate::db::schema::import_runs;

pub fn start_run(
    conn: &mut DbConnection,
    filename: &str,
    created_by: &str,
) -> Result<i64, RegistryError> {
    let now = crate::db::now_ms();
    crate::db::write(conn, |conn| {
        diesel::insert_into(import_runs::table)
            .values((
                import_runs::filename.eq(filename),
                import_runs::state.eq("running"),
                import_runs::created_by.eq(created_by),
                import_runs::created_at.eq(now),
                import_runs::holder.eq(crate::retention::lease::this_process()),
                import_runs::heartbeat_at.eq(now),
            ))
            .execute(conn)?;
        Ok(import_runs::table
            .filter(import_runs::created_by.eq(created_by))
            .order(import_runs::id.desc())
            .select(import_runs::id)
            .first(conn)?)
    })
}

pub fn finish_run(
    conn: &mut DbConnection,
    id: i64,
    outcome: &Result<ImportReport, RegistryError>,
) -> QueryResult<()> {
    let now = crate::db::now_ms();
    let (state, total, imported, errors, unlisted) = match outcome {
        Ok(r) if r.errors.is_empty() => ("imported", r.lines, r.lines, Vec::new(), 0),
        Ok(r) => ("rejected", r.lines, 0, r.errors.clone(), r.unlisted_errors),
        Err(e) => (
            "failed",
            0,
            0,
            vec![LineError {
                line: 0,
                message: e.to_string(),
            }],
            0,
        ),
    };
    diesel::update(import_runs::table.find(id))
        .set((
            import_runs::state.eq(state),
            import_runs::total_lines.eq(total),
            import_runs::processed_lines.eq(total),
            import_runs::imported_lines.eq(imported),
            import_runs::errors.eq(serde_json::to_string(&errors).unwrap_or_default()),
            import_runs::unlisted_errors.eq(unlisted),
            import_runs::finished_at.eq(now),
        ))
        .execute(conn)
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
