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

impl FeatureError {
    /// The error in the subscriber's words, with what to do next (the
    /// handset decks and self service). `Display` keeps the operators'
    /// wording for the log.
    pub fn for_subscriber(&self) -> String {
        const START_AGAIN: &str = "Please start again from the list of services.";
        match self {
            FeatureError::UnknownFeature(_) => {
                format!("That service is not offered. {START_AGAIN}")
            }
            FeatureError::AlreadyActive(name) => {
                format!("{name} is already active on this line: there is nothing to add.")
            }
            FeatureError::NotActive(name) => {
                format!("{name} is not active on this line: there is nothing to remove.")
            }
            FeatureError::NoLine => "Your phone is not on a mobile line yet. Please activate \
                 it first, then come back."
                .into(),
            FeatureError::UnknownActivation => {
                format!("This link is no longer valid. {START_AGAIN}")
            }
            FeatureError::OutOfOrder(state) => format!(
                "This step was already done or came too early ({}). {START_AGAIN}",
                activation::stage_words(state)
            ),
            FeatureError::WrongDevice => {
                format!("This request was started on another phone. {START_AGAIN}")
            }
            FeatureError::LineDeactivated => "This line has been de-activated, so its \
                 services cannot be changed. Please call customer care."
                .into(),
            FeatureError::HandsetDeactivated => "This handset has been de-activated, so it \
                 cannot change the line's services. Please use the phone now on your line, or \
                 call customer care."
                .into(),
            FeatureError::InProgress(name) => format!(
                "A change of {name} on this line is already with billing. Please wait for \
                 its result before asking again."
            ),
            FeatureError::Registry(RegistryError::NotFound(_)) => {
                "Your line's details could not be found. Please call customer care.".into()
            }
            FeatureError::Registry(_) | FeatureError::Db(_) => {
                "The change cannot be made right now. Please try again later.".into()
            }
        }
    }
}

impl From<diesel::result::Error> for FeatureError {
    fn from(e: diesel::result::Error) -> Self {
        FeatureError::Db(DbError::Query(e))
    }
}
