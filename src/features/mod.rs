//! Feature activation: the catalogue of services a subscriber can add
//! (data-driven), the activation flow the WAP decks and self service share
//! (billing information, legal acceptance, billing gateway, result), and the
//! provisioning detail records of every outcome.

pub mod activation;
pub mod catalogue;
pub mod records;
pub mod upgrade;

use crate::db::DbError;
use crate::registry::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    #[error("there is no feature \"{0}\"")]
    UnknownFeature(String),
    #[error("{0} is already active on this line")]
    AlreadyActive(String),
    #[error("{0} is not active on this line")]
    NotActive(String),
    #[error("the device has no subscriber line")]
    NoLine,
    #[error("this activation link is not valid")]
    UnknownActivation,
    /// Holds the change's state.
    #[error("this step was already done or comes out of order: {}", activation::stage_words(.0))]
    OutOfOrder(String),
    #[error("this activation belongs to another device")]
    WrongDevice,
    #[error("this line has been de-activated: its services cannot be changed")]
    LineDeactivated,
    #[error("this handset has been de-activated: it cannot change the line's services")]
    HandsetDeactivated,
    #[error("a change of {0} on this line is already with billing; wait for its result")]
    InProgress(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("database: {0}")]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for FeatureError {
    fn from(e: diesel::result::Error) -> Self {
        FeatureError::Db(DbError::Query(e))
    }
}
