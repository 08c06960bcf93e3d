//! IOTA (IP-based over-the-air) device management for legacy CDMA handsets.
//! So far: the IS-683 (3GPP2 C.S0016) codec and the Preferred Roaming List.
//! The MMC documents, the OSPP session automaton and the call flows build on it.

pub mod is683;
