//! The registries: customer profiles, devices, device capabilities and the
//! audit trail of every change made to them.

pub mod audit;
pub mod capability;
pub mod device;
pub mod esn_change;
pub mod fields;
pub mod identifiers;
pub mod import;
pub mod lookup;
pub mod profile;
pub mod stats;
pub mod version;

use std::collections::BTreeMap;
use std::fmt;

use crate::db::DbError;

/// Field name to a message saying what is wrong with it.
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{}", summarize(.0))]
    Invalid(FieldErrors),
    #[error("{0}")]
    Duplicate(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for RegistryError {
    fn from(e: diesel::result::Error) -> Self {
        RegistryError::Db(DbError::Query(e))
    }
}

impl RegistryError {
    pub fn invalid(field: &str, message: impl Into<String>) -> RegistryError {
        let mut errors = FieldErrors::new();
        errors.insert(field.to_string(), message.into());
        RegistryError::Invalid(errors)
    }
}

fn summarize(errors: &FieldErrors) -> String {
    errors
        .iter()
        .map(|(field, message)| format!("{field}: {message}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Who made a change: a person, an API client or a component of the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User(String),
    Token(String),
    Subscriber(String),
    System(&'static str),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(name) => write!(f, "user:{name}"),
            Actor::Token(name) => write!(f, "api:{name}"),
            Actor::Subscriber(mdn) => write!(f, "subscriber:{mdn}"),
            Actor::System(component) => write!(f, "system:{component}"),
        }
    }
}
