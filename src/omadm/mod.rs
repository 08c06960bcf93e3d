//! The OMA-DM 1.2 component: authentication so far; the SyncML model, the
//! session engine and FUMO build on it.

pub mod account;
pub mod auth;
pub mod command;
pub mod engine;
pub mod job;
pub mod syncml;
