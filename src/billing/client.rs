//! Submits one order, retrying transient failures under the caller's key.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::Response;
use url::Url;

use super::backoff;
use super::classify::{self, Verdict};
use super::config::BillingConfig;
use super::error::BillingError;
use super::key;
use super::order::{BillingOutcome, ServiceOrder};
use super::wire::IDEMPOTENCY_KEY;

/// No real answer comes near this; a body that does is cut, fails to parse
/// and ends as a protocol error instead of filling memory.
const MAX_BODY: usize = 64 * 1024;

/// Cheap to clone: the connection pool is shared between clones.
#[derive(Debug, Clone)]
pub struct BillingClient {
    http: reqwest::Client,
    endpoint: Url,
    timeout: Duration,
    attempts: u32,
    backoff: Duration,
}

impl BillingClient {
    pub fn new(config: BillingConfig) -> Result<BillingClient, BillingError> {
        let endpoint = config.endpoint()?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            // A 301/302 would be followed as a GET without the order: it can
            // never be a success, and is reported as a protocol error instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| BillingError::Config(format!("HTTP client: {e}")))?;
        Ok(BillingClient {
            http,
            endpoint,
            timeout: config.timeout,
            attempts: config.attempts,
            backoff: config.backoff,
        })
    }

    /// The gateway's host and port, for screens: never the whole URL, which
    /// may carry credentials.
    pub fn host(&self) -> String {
        match (
            self.endpoint.host_str(),
            self.endpoint.port_or_known_default(),
        ) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        }
    }

    /// Sends `order` under `idempotency_key` until the gateway gives a
    /// definite answer or the attempts run out. Call again with the same key
    /// after an error: the gateway answers a key it has seen as it did before.
    pub async fn submit(
        &self,
        order: &ServiceOrder,
        idempotency_key: &str,
    ) -> Result<BillingOutcome, BillingError> {
        key::check(idempotency_key)?;
        // Encoded once so every attempt sends the same bytes.
        let body = serde_json::to_vec(order)
            .map_err(|e| BillingError::Config(format!("cannot encode the order: {e}")))?;
        let mut attempt = 0;
        let mut may_be_done = false;
        loop {
            attempt += 1;
            tracing::debug!(
                attempt,
                key = idempotency_key,
                reference = %order.reference,
                service = %order.service,
                action = ?order.action,
                "sending service order to the billing gateway"
            );
            let verdict = self
                .attempt(&body, idempotency_key)
                .await
                .inspect_err(|e| {
                    tracing::warn!(
                        error = %e,
                        attempt,
                        key = idempotency_key,
                        reference = %order.reference,
                        "billing submission failed without a definite answer"
                    );
                })?;
            let cause = match verdict {
                Verdict::Definite(outcome) => {
                    log_outcome(&outcome, order, idempotency_key);
                    return Ok(outcome);
                }
                Verdict::Transient {
                    cause,
                    may_be_done: this_one,
                } => {
                    may_be_done |= this_one;
                    cause
                }
            };
            if attempt >= self.attempts {
                tracing::warn!(
                    attempts = attempt,
                    %cause,
                    key = idempotency_key,
                    reference = %order.reference,
                    "billing gateway unreachable; giving up on this submission"
                );
                return Err(BillingError::Unreachable {
                    attempts: attempt,
                    cause,
                    may_be_done,
                });
            }
            let wait = backoff::delay(self.backoff, attempt);
            tracing::warn!(
                attempt,
                %cause,
                retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                key = idempotency_key,
                reference = %order.reference,
                "billing attempt failed; retrying with the same idempotency key"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(&self, body: &[u8], idempotency_key: &str) -> Result<Verdict, BillingError> {
        let sent = self
            .http
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_KEY, idempotency_key)
            .body(body.to_vec())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return classify::transport(&e, self.timeout),
        };
        let status = response.status();
        match read_body(response).await {
            Ok(answer) => classify::answer(status, &answer),
            Err(e) => classify::transport(&e, self.timeout),
        }
    }
}

async fn read_body(mut response: Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_BODY {
            break;
        }
    }
    Ok(body)
}

fn log_outcome(outcome: &BillingOutcome, order: &ServiceOrder, idempotency_key: &str) {
    match outcome {
        BillingOutcome::Provisioned { transaction_id } => tracing::info!(
            %transaction_id,
            key = idempotency_key,
            reference = %order.reference,
            service = %order.service,
            action = ?order.action,
            "billing gateway carried out the order"
        ),
        BillingOutcome::Refused { code, message } => tracing::info!(
            %code,
            %message,
            key = idempotency_key,
            reference = %order.reference,
            service = %order.service,
            action = ?order.action,
            "billing gateway refused the order"
        ),
    }
}
