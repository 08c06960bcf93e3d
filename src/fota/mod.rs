//! FOTA sessions: one state machine shared by the OMA-DM and IOTA adapters,
//! stored with every state change so any node can continue a session and
//! operators can follow it.

pub mod campaign;
pub mod campaign_run;
pub mod campaign_schedule;
pub mod outcomes;
pub mod session;
pub mod sweeper;

pub use session::{FotaSession, FotaState};

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum FotaError {
    #[error("FOTA session {0} not found")]
    NotFound(i64),
    /// Input an operator gave that cannot be used; nothing changed.
    #[error("{0}")]
    Invalid(String),
    /// Asked to close a session that has already ended.
    #[error("FOTA session {id} is already closed ({state})")]
    Closed { id: i64, state: String },
    #[error("FOTA session {id} is {from} and cannot become {to}")]
    Transition { id: i64, from: String, to: String },
    /// Another request registered the device's open session at the same
    /// moment (the database keeps one open session per device); asking
    /// again finds it.
    #[error("device {0} got an open FOTA session from a concurrent request")]
    AlreadyOpen(i64),
    #[error("FOTA session {id} is not device {device}'s")]
    WrongDevice { id: i64, device: i64 },
    #[error("provisioning the features of the new firmware: {0}")]
    Features(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for FotaError {
    fn from(e: diesel::result::Error) -> Self {
        FotaError::Db(DbError::Query(e))
    }
}
