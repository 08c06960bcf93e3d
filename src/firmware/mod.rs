//! The firmware repository: delta and full-image packages with a lifecycle
//! and revision history, a content-addressed blob store, OMA download
//! descriptors and install notifications.

pub mod blobs;
pub mod descriptor;
pub mod install_status;
pub mod package;

use crate::db::DbError;
use crate::registry::FieldErrors;

#[derive(Debug, thiserror::Error)]
pub enum FirmwareError {
    #[error("{}", summarize(.0))]
    Invalid(FieldErrors),
    #[error("the package is larger than the {0}-byte upload limit")]
    TooLarge(u64),
    #[error("the package's SHA-256 is {actual}, not the expected {expected}")]
    HashMismatch { expected: String, actual: String },
    #[error("{0}")]
    Transition(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("blob store: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for FirmwareError {
    fn from(e: diesel::result::Error) -> Self {
        FirmwareError::Db(DbError::Query(e))
    }
}

impl FirmwareError {
    pub fn invalid(field: &str, message: impl Into<String>) -> FirmwareError {
        let mut e = FieldErrors::new();
        e.insert(field.into(), message.into());
        FirmwareError::Invalid(e)
    }
}

fn summarize(errors: &FieldErrors) -> String {
    errors
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("; ")
}
