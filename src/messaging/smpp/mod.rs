//! SMPP v3.4 for MT SMS delivery: an ESME link with windowing, rate
//! limiting, keepalive and reconnection ([`spawn_link`]), delivery-receipt
//! parsing ([`receipt`]), status-code policy ([`status`]) and an in-process
//! SMSC for tests, benchmarks and `mdm smsc-sim` ([`TestSmsc`]).
//!
//! PDUs and framing come from `rusmpp`; connection management is ours.

pub mod config;
pub mod error;
mod link;
pub mod receipt;
pub mod status;
mod sync;
pub mod test_smsc;
mod wire;

#[cfg(test)]
mod tests;

pub use config::{parse_url, BindMode, SmscConfig};
pub use error::{ConfigError, LinkError};
pub use link::{
    spawn_link, LinkEvent, LinkHandle, LinkStatus, OutgoingSm, SubmitOutcome, MAX_SHORT_MESSAGE,
};
pub use receipt::{DeliveryReceipt, ReceiptState};
pub use test_smsc::{RecordedSubmit, TestSmsc, TestSmscOptions};
