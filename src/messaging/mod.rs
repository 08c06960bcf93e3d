//! Reaching handsets that are not talking to us: SMS through the SMSC.
//!
//! * [`codec`]: the pure encoders (WSP push, WDP over SMS, OMA-DM package
//!   #0, OMA CP security).
//! * [`content`]: what we push, built from them, and decoded back for the log.
//! * [`outbox`]: every outgoing message is a row first.
//! * [`smpp`]: the SMPP v3.4 ESME link, and a test SMSC.
//! * [`sender`]: drains the outbox through the link.
//! * [`inbound`]: deliver_sm addressed to the platform.
//! * [`provisioning`]: OMA CP pushes for a device.

pub mod codec;
pub mod content;
pub mod inbound;
pub mod outbox;
pub mod provisioning;
pub mod sender;
pub mod smpp;
