//! The ways a submission ends without a definite answer.

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// Every attempt ended without a definite answer. The gateway may still
    /// have carried the order out (an answer lost to a timeout), so the
    /// caller resubmits later with the same idempotency key.
    #[error("billing gateway unreachable after {attempts} attempt(s): {cause}")]
    Unreachable {
        attempts: u32,
        cause: String,
        /// Whether any attempt may have reached the gateway (a timeout
        /// after sending, a server error): only when none did is it
        /// certain that nothing was carried out.
        may_be_done: bool,
    },
    /// The gateway answered in a way this client cannot read. Not retried:
    /// a gateway that answers nonsense is broken, not busy. The order may
    /// have been carried out, as with `Unreachable`.
    #[error("billing gateway answered outside the protocol: {0}")]
    Protocol(String),
    /// The configuration or the call's arguments are unusable; nothing was sent.
    #[error("billing client configuration: {0}")]
    Config(String),
}

impl BillingError {
    /// Whether the gateway may have carried the order out though no
    /// definite answer came back: then the order is neither done nor
    /// failed until the gateway is asked again with the same key.
    pub fn may_be_done(&self) -> bool {
        match self {
            BillingError::Unreachable { may_be_done, .. } => *may_be_done,
            BillingError::Protocol(_) => true,
            BillingError::Config(_) => false,
        }
    }
}
