//! Retention: deactivated subscribers past the retention period move from the
//! live database to an offline archive of compressed, self-describing files,
//! and can be read back or restored from it.

pub mod archive;
pub mod lease;
pub mod purge;
pub mod restore;

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// A live process (another node, or `mdm purge`) holds the run.
    #[error("purge run {0} is still running (on another node or in another `mdm purge`); try again once it has finished")]
    Busy(i64),
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
