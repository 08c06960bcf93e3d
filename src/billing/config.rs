//! Where the gateway is and how patiently to talk to it.

use std::time::Duration;

use url::Url;

use super::error::BillingError;
use super::wire::ORDERS_PATH;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingConfig {
    /// Base URL (http); `/v1/service-orders` is appended to its path.
    pub url: String,
    /// Per attempt, answer body included.
    pub timeout: Duration,
    /// Total tries for one submission, the first included; at least 1.
    pub attempts: u32,
    /// Delay before the first retry; doubled before each later one.
    pub backoff: Duration,
}

impl BillingConfig {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DEFAULT_ATTEMPTS: u32 = 3;
    pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(200);

    pub fn new(url: impl Into<String>) -> Self {
        BillingConfig {
            url: url.into(),
            timeout: Self::DEFAULT_TIMEOUT,
            attempts: Self::DEFAULT_ATTEMPTS,
            backoff: Self::DEFAULT_BACKOFF,
        }
    }

    /// The order endpoint, or why this configuration cannot work. The URL
    /// itself is left out of the messages because it may carry credentials.
    pub(super) fn endpoint(&self) -> Result<Url, BillingError> {
        let invalid = |why: &str| Err(BillingError::Config(why.to_string()));
        if self.attempts == 0 {
            return invalid("attempts must be at least 1");
        }
        if self.timeout.is_zero() {
            return invalid("the timeout must be longer than zero");
        }
        let mut url = match Url::parse(self.url.trim()) {
            Ok(url) => url,
            Err(e) => return invalid(&format!("the billing URL is not a URL: {e}")),
        };
        // The HTTP client is built without TLS (one TLS stack per binary;
        // the test browser driver brings its own), so an https gateway is
        // refused at start-up rather than failing every order.
        if url.scheme() == "https" {
            return invalid(
                "https is not supported: reach the billing gateway over http, through a TLS-terminating proxy on the server",
            );
        }
        if url.scheme() != "http" {
            return invalid("the billing URL must be http");
        }
        if url.host_str().is_none_or(str::is_empty) {
            return invalid("the billing URL has no host");
        }
        // A query or fragment would end up after the appended path, which no
        // gateway expects; better refused at start-up than at the first order.
        if url.query().is_some() || url.fragment().is_some() {
            return invalid("the billing URL must not have a query or fragment");
        }
        match url.path_segments_mut() {
            Ok(mut segments) => {
                segments
                    .pop_if_empty()
                    .extend(ORDERS_PATH.trim_start_matches('/').split('/'));
            }
            Err(()) => return invalid("the billing URL cannot take a path"),
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str) -> Result<String, BillingError> {
        BillingConfig::new(url).endpoint().map(String::from)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = BillingConfig::new("http://gw");
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.attempts, 3);
        assert_eq!(c.backoff, Duration::from_millis(200));
    }

    #[test]
    fn the_endpoint_keeps_a_base_path() {
        assert_eq!(
            endpoint("http://gw:8080").unwrap(),
            "http://gw:8080/v1/service-orders"
        );
        assert!(endpoint("https://gw/billing/").is_err());
        assert_eq!(
            endpoint("http://gw/billing/").unwrap(),
            "http://gw/billing/v1/service-orders"
        );
        assert_eq!(
            endpoint(" http://gw/billing ").unwrap(),
            "http://gw/billing/v1/service-orders"
        );
    }

    #[test]
    fn unusable_urls_and_limits_are_refused() {
        for url in [
            "",
            "gw:80",
            "ftp://gw",
            "http://gw/?a=1",
            "http://gw/#x",
            "mailto:a@b",
        ] {
            assert!(
                matches!(endpoint(url), Err(BillingError::Config(_))),
                "{url}"
            );
        }
        let mut c = BillingConfig::new("http://gw");
        c.attempts = 0;
        assert!(c.endpoint().is_err());
        let mut c = BillingConfig::new("http://gw");
        c.timeout = Duration::ZERO;
        assert!(c.endpoint().is_err());
    }
}
