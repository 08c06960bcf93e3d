//! Reaching handsets that are not talking to us: SMS through the SMSC.
//! So far: the pure encoders (WSP push, WDP over SMS, OMA-DM package #0,
//! OMA CP security). The SMPP link and the durable outbox build on them.

pub mod codec;
