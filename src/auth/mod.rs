//! People and systems that use the platform: staff users, subscribers signing
//! in with MDN + PIN, API tokens, roles, and sign-in throttling.

pub mod password;
pub mod roles;
pub mod throttle;
pub mod tokens;
pub mod users;

pub use roles::{Permission, Role};

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong username or password")]
    BadCredentials,
    #[error("too many failed sign-ins; try again in {0} seconds")]
    Throttled(i64),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} already exists")]
    Duplicate(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for AuthError {
    fn from(e: diesel::result::Error) -> Self {
        AuthError::Db(DbError::Query(e))
    }
}
