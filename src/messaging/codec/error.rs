//! The single error type shared by every encoder and decoder in this module.

use thiserror::Error;

/// Everything that can go wrong while encoding or decoding push, WDP,
/// package #0 or client-provisioning security data.
///
/// Every decoder reports malformed input through this type instead of
/// panicking, because the bytes may come from an untrusted peer or a
/// corrupted outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// The input ended before a field that the format requires.
    #[error("truncated {what}: need {needed} octets, only {available} available")]
    Truncated {
        /// Which structure was being read.
        what: &'static str,
        /// Octets the structure needs from the current position.
        needed: usize,
        /// Octets actually left.
        available: usize,
    },

    /// A value does not fit the field that must carry it.
    #[error("{field} out of range: {value} (maximum {max})")]
    OutOfRange {
        /// Name of the field.
        field: &'static str,
        /// Offending value.
        value: u64,
        /// Largest value the field can carry.
        max: u64,
    },

    /// The input is syntactically wrong for the format.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Name of the field or structure.
        field: &'static str,
        /// Human-readable reason.
        reason: &'static str,
    },

    /// The payload would need more SMS segments than allowed.
    #[error("payload of {payload_len} octets needs {needed} SMS segments, limit is {limit}")]
    TooManySegments {
        /// Length of the WDP payload.
        payload_len: usize,
        /// Segments the payload would need.
        needed: usize,
        /// Configured (or protocol) limit.
        limit: usize,
    },

    /// A plain text does not fit one short message (text is never
    /// concatenated); the message says by how much, in characters.
    #[error("{0}")]
    TextTooLong(String),

    /// The input uses a well-formed construct this codec does not implement.
    #[error("unsupported {0}")]
    Unsupported(&'static str),
}
