//! Retention: deactivated subscribers past the retention period move from the
//! live database to an offline archive of compressed, self-describing files,
//! and can be read back or restored from it.

pub mod archive;
pub mod lease;
pub mod purge;
pub mod restore;
pub mod schedule;

use crate::db::DbError;

/// The run a purge found running, and the process holding it.
#[derive(Debug, Clone)]
pub struct RunHeld {
    pub run: i64,
    pub holder: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// A live process (another node, or `mdm purge`) holds the run: at most
    /// one purge runs at a time (the database holds to it).
    #[error(
        "another purge is running: run {} held by {}; try again once it has finished",
        .0.run,
        .0.holder
    )]
    Busy(RunHeld),
    /// Another process took the run over (this one went quiet past its
    /// lease); this one stops without deleting anything more.
    #[error("purge run {0} was taken over by another process; this one stopped without deleting anything more")]
    Lost(i64),
    /// The run's archive is not here (another node's disk, or another
    /// working directory): resuming would split or corrupt it.
    #[error("the archive of run {run} is at {path} on {host}; run the purge there or make the archive directory shared storage ({problem}); nothing was deleted")]
    ArchiveElsewhere {
        run: i64,
        path: String,
        host: String,
        problem: String,
    },
    /// A live process holds the run: its OS lock on the run's lock file
    /// (it is frozen or paused, not dead), or its lease. Nothing was changed.
    #[error("purge run {run} is held by a live process: {why}; nothing was changed")]
    StillHeld { run: i64, why: String },
    /// Only a running run can be abandoned.
    #[error("purge run {run} is {state}, not running: only a running purge run can be abandoned")]
    NotRunning { run: i64, state: String },
    /// Input refused before anything was done (an empty reason).
    #[error("{0}")]
    Invalid(String),
    /// Some of a batch changed between its archiving and its delete (a
    /// subscriber re-activated, a handset moved): the batch is archived again.
    #[error("the batch changed while it was being archived")]
    BatchChanged,
    #[error("archive run {0} not found")]
    NotFound(i64),
    #[error("archive: {0}")]
    Io(#[from] std::io::Error),
    #[error("archive record: {0}")]
    Format(String),
    #[error("the purge was interrupted")]
    Interrupted,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for RetentionError {
    fn from(e: diesel::result::Error) -> Self {
        RetentionError::Db(DbError::Query(e))
    }
}

impl From<serde_json::Error> for RetentionError {
    fn from(e: serde_json::Error) -> Self {
        RetentionError::Format(e.to_string())
    }
}
