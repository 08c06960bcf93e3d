//! The single error type of the IS-683 codec.

use std::fmt;

/// Which link a message travels on (C.S0016 §3 = reverse, §4 = forward).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Link {
    /// Base station / OTAF to mobile station (C.S0016 §4.5).
    Forward,
    /// Mobile station to base station / OTAF (C.S0016 §3.5).
    Reverse,
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Link::Forward => f.write_str("forward"),
            Link::Reverse => f.write_str("reverse"),
        }
    }
}

/// Every way encoding or decoding can fail. Decoders never panic: any
/// malformed input ends up as one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Is683Error {
    /// The input ended inside a field.
    #[error("truncated input: {field} needs {needed} bit(s) at bit offset {offset}, only {available} left")]
    Truncated {
        field: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    /// An empty buffer was given where a message was expected.
    #[error("empty message")]
    Empty,
    /// The OTASP_MSG_TYPE octet is not one this codec understands.
    #[error("unknown {link} link OTASP message type 0x{code:02X}")]
    UnknownMessageType { link: Link, code: u8 },
    /// A value does not fit into its on-air field width.
    #[error("{field}: value {value} does not fit in {bits} bits")]
    FieldOverflow {
        field: &'static str,
        value: u64,
        bits: u32,
    },
    /// BLOCK_LEN disagrees with what the block's own fields require.
    #[error("parameter block 0x{block_id:02X}: BLOCK_LEN is {declared} octet(s) but the content needs {required}")]
    BlockLength {
        block_id: u8,
        declared: usize,
        required: usize,
    },
    /// Octets left over after a complete message.
    #[error("{count} unexpected octet(s) after the end of the message")]
    TrailingData { count: usize },
    /// A digit string contains a character the encoding cannot carry,
    /// or has the wrong number of digits.
    #[error("invalid {field}: {reason}")]
    InvalidDigits { field: &'static str, reason: String },
    /// A field holds a value the standard reserves or forbids.
    #[error("invalid {field}: {reason}")]
    InvalidValue { field: &'static str, reason: String },
    /// PR_LIST_CRC does not match the CRC computed over the PRL.
    #[error(
        "PRL CRC mismatch: PR_LIST_CRC is 0x{stored:04X} but the list computes to 0x{computed:04X}"
    )]
    CrcMismatch { stored: u16, computed: u16 },
    /// PR_LIST_SIZE disagrees with the number of octets supplied.
    #[error("PR_LIST_SIZE is {declared} octet(s) but {actual} were supplied")]
    PrlSizeMismatch { declared: usize, actual: usize },
    /// PRL segments are not contiguous, overlap, or lack LAST_SEGMENT.
    #[error("PRL segments cannot be reassembled: {0}")]
    Segmentation(String),
}
