//! Error types of the SMPP module.

use thiserror::Error;

/// Why an SMSC URL or configuration was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("invalid SMSC URL: {0}")]
    InvalidUrl(#[from] url::ParseError),
    #[error("unsupported URL scheme {0:?} (expected smpp)")]
    UnsupportedScheme(String),
    #[error("SMSC URL has no host")]
    MissingHost,
    #[error("SMSC URL has no system id (expected smpp://SYSTEM_ID:PASSWORD@HOST:PORT)")]
    MissingSystemId,
    #[error("SMSC URL must not have a path, query or fragment")]
    UnexpectedComponent,
    #[error("{field} is not valid percent-encoded UTF-8")]
    BadEncoding { field: &'static str },
    #[error("{field} must be printable ASCII")]
    NotAscii { field: &'static str },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
}

/// Why a submit did not produce a [`SubmitOutcome`](super::SubmitOutcome).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LinkError {
    /// Not returned by `submit`, which waits for a bind instead; kept so
    /// callers can report "not bound" uniformly.
    #[error("SMPP link is not bound")]
    NotBound,
    /// The connection dropped while the submit was outstanding: the SMSC
    /// never acknowledged it, so it is safe to retry later.
    #[error("SMPP link lost before the SMSC answered")]
    LinkLost,
    /// No response within `response_timeout`; the link is being recycled.
    #[error("no response from the SMSC in time")]
    Timeout,
    /// The short message exceeds the 254-octet SMPP limit; nothing was sent.
    #[error("short message is {0} octets; SMPP allows at most 254")]
    TooLong(usize),
    /// The caller withdrew the message while it waited for its turn
    /// ([`LinkHandle::submit_while`](super::LinkHandle::submit_while));
    /// nothing was sent.
    #[error("withdrawn before it was sent")]
    Withdrawn,
    /// The link was shut down.
    #[error("SMPP link has been shut down")]
    Closed,
    /// An address that SMPP cannot carry (over 20 characters, not ASCII,
    /// or containing NUL); nothing was sent.
    #[error("address {0:?} cannot be encoded in SMPP")]
    InvalidAddress(String),
}
