//! The ESME side: one task per SMSC account that connects, binds, keeps
//! the link alive, reconnects with back-off and multiplexes submits from
//! many callers onto a bounded window.

mod connection;
mod driver;
mod handle;
mod pdu;
mod rate;
mod serve;
mod session;

use std::time::{Duration, SystemTime};

pub use handle::{spawn_link, LinkHandle};

use super::receipt::ReceiptState;

/// Largest `short_message` SMPP v3.4 allows (sm_length is one octet, 255
/// is reserved).
pub const MAX_SHORT_MESSAGE: usize = 254;

/// One MT short message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutgoingSm {
    /// MDN digits.
    pub destination: String,
    /// e.g. 0x40 when `short_message` starts with a UDH.
    pub esm_class: u8,
    /// e.g. 0x04 for 8-bit data.
    pub data_coding: u8,
    /// The complete TP user data including any UDH, at most 254 octets.
    pub short_message: Vec<u8>,
    /// Ask the SMSC for a delivery receipt.
    pub registered_delivery: bool,
}

/// What the SMSC said about a submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    Accepted {
        message_id: String,
    },
    /// Non-zero `submit_sm_resp` status, or a `generic_nack` (never transient).
    Rejected {
        status: u32,
        transient: bool,
    },
}

/// Observable state of the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkStatus {
    Connecting {
        attempt: u32,
    },
    Bound {
        since: SystemTime,
        mode: &'static str,
    },
    /// Includes refused binds, e.g. reason `bind refused: ESME_RINVPASWD (0x0000000E)`.
    Down {
        reason: String,
        retry_in: Duration,
    },
    Stopped,
}

/// Something the SMSC sent us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    Receipt {
        message_id: String,
        state: ReceiptState,
        error_code: Option<String>,
        raw: String,
    },
    Inbound {
        source_addr: String,
        destination_addr: String,
        data_coding: u8,
        esm_class: u8,
        short_message: Vec<u8>,
    },
}
