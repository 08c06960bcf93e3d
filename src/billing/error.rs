//! The ways a submission ends without a definite answer.

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// Every attempt ended without a definite answer. The gateway may still
    /// have carried the order out (an answer lost to a timeout), so the
    /// caller resubmits later with the same idempotency key.
    #[error("billing gateway unreachable after {attempts} attempt(s): {cause}")]
    Unreachable { attempts: u32, cause: String },
    /// The gateway answered in a way this client cannot read. Not retried:
    /// a gateway that answers nonsense is broken, not busy. The order may
    /// have been carried out, as with `Unreachable`.
    #[error("billing gateway answered outside the protocol: {0}")]
    Protocol(String),
    /// The configuration or the call's arguments are unusable; nothing was sent.
    #[error("billing client configuration: {0}")]
    Config(String),
}
