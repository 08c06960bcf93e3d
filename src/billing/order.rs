//! What is asked of the gateway and what it definitely answered.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Remove,
}

/// One order, sent as the JSON body of `POST /v1/service-orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceOrder {
    pub mdn: String,
    pub account_id: String,
    /// The billing system's name for the feature, e.g. `mobile_web`.
    pub service: String,
    pub action: Action,
    /// Ties the order back to what caused it, e.g. `feature-activation:42`.
    pub reference: String,
}

/// A definite answer from the gateway; errors are the answers that are not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingOutcome {
    Provisioned { transaction_id: String },
    Refused { code: String, message: String },
}
