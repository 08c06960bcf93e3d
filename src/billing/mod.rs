//! Billing gateway client: adds or removes a service (feature) on a
//! subscriber's bill when the subscriber accepts a feature on the handset or
//! in self service, without ever provisioning it twice.
//!
//! # Wire protocol
//!
//! One call, `POST {base}/v1/service-orders`, where `{base}` is
//! [`BillingConfig::url`] (a path in it is kept: `http://gw/billing` posts to
//! `http://gw/billing/v1/service-orders`).
//!
//! Request headers:
//! - `Content-Type: application/json`
//! - `Idempotency-Key: <key>`: 1 to 255 visible ASCII characters, normally
//!   [`new_idempotency_key`] (32 lowercase hex characters). One key names one
//!   logical order; every retry of that order, including a resubmission
//!   minutes later, carries the same key.
//!
//! Request body, a [`ServiceOrder`] (`action` is `"add"` or `"remove"`):
//!
//! ```text
//! POST /v1/service-orders HTTP/1.1
//! Content-Type: application/json
//! Idempotency-Key: 5f0c6a8e2b7d4c1f9a3e8b6d2c4f7a10
//!
//! {"mdn":"3125550100","account_id":"ACC-1","service":"mobile_web","action":"add","reference":"feature-activation:42"}
//! ```
//!
//! Answers, and what [`BillingClient::submit`] makes of them:
//!
//! | status | body | result |
//! | --- | --- | --- |
//! | 200, 201 | `{"result":"ok","transaction_id":"BG-000123"}` | `Ok(Provisioned { transaction_id })` |
//! | 4xx except 408 and 429 | `{"result":"failed","code":"E102","message":"credit limit exceeded"}` | `Ok(Refused { code, message })`, not retried |
//! | 408, 429, 5xx; connection error; no answer within the timeout | anything | retried with the same key; after the last attempt `Err(Unreachable { attempts, cause })` |
//! | 200, 201 | anything else | `Err(Protocol)`, not retried |
//! | 4xx except 408 and 429 | anything else | `Err(Protocol)`, not retried |
//! | any other status (1xx, 202–299, 3xx) | anything | `Err(Protocol)`, not retried |
//!
//! For example, a refusal:
//!
//! ```text
//! HTTP/1.1 422 Unprocessable Entity
//! Content-Type: application/json
//!
//! {"result":"failed","code":"E102","message":"credit limit exceeded"}
//! ```
//!
//! Retries wait [`BillingConfig::backoff`] before the second attempt and twice
//! as long before each later one (capped at 30 s); [`BillingConfig::timeout`]
//! bounds each attempt, answer body included. Redirects are not followed.
//!
//! # What the caller does with each result
//!
//! - `Provisioned` and `Refused` are definite: the gateway has or has not
//!   done it. Sending the same key again returns the same answer.
//! - `Unreachable` and `Protocol` are not definite. An answer lost to a
//!   timeout may hide an order the gateway carried out, so keep the key with
//!   the pending order and resubmit later with that same key, never a new one.
//!   [`BillingError::may_be_done`] says whether that can be: it cannot when
//!   no attempt got a connection, or each that did was answered 408, 429 or
//!   503 (the order was not taken in).
//! - `Config` means nothing was sent.
//!
//! # The simulator
//!
//! [`sim::BillingSim`] speaks the same protocol (see its module for its
//! business rules); tests start it on `127.0.0.1:0`, `mdm billing-sim` runs it
//! by hand.

mod backoff;
mod classify;
mod client;
mod config;
mod error;
mod key;
mod order;
pub mod sim;
mod wire;

#[cfg(test)]
mod tests;

pub use client::BillingClient;
pub use config::BillingConfig;
pub use error::BillingError;
pub use key::new_idempotency_key;
pub use order::{Action, BillingOutcome, ServiceOrder};
