//! IOTA (IP-based over-the-air) device management for legacy CDMA handsets:
//! the IS-683 (3GPP2 C.S0016) codec and the Preferred Roaming List, the MMC
//! documents that carry IS-683 messages over HTTP (docs/iota-mmc.md), the
//! SSPR tables of PRLs, and the OSPP driver that runs the call flows.

pub mod call_manager;
pub mod driver;
mod error;
pub mod fota;
pub mod is683;
pub mod mmc;
pub mod ospp;
pub mod prl_store;
pub mod prl_view;
pub mod session;
pub mod triggers;

pub use error::IotaError;
