//! IOTA (IP-based over-the-air) device management for legacy CDMA handsets.
//! So far: the IS-683 (3GPP2 C.S0016) codec and the Preferred Roaming List,
//! and the MMC documents that carry IS-683 messages over HTTP (the format is
//! in docs/iota-mmc.md). The OSPP session automaton and the call flows build
//! on them.

pub mod is683;
pub mod mmc;
