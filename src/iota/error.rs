//! Errors of the IOTA domain: the PRL store and the OSPP driver.

use super::is683::Is683Error;
use super::mmc::MmcError;
use crate::db::DbError;
use crate::registry::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum IotaError {
    #[error("not a valid PRL: {0}")]
    BadPrl(Is683Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Duplicate(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("MMC document: {0}")]
    Mmc(#[from] MmcError),
    #[error("IS-683: {0}")]
    Is683(#[from] Is683Error),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for IotaError {
    fn from(e: diesel::result::Error) -> Self {
        IotaError::Db(DbError::Query(e))
    }
}
