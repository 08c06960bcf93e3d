//! Spacing of submits for `rate_limit_per_sec`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::super::sync::lock;

/// Hands out evenly spaced send slots. No burst allowance: SMSC contracts
/// usually count per second and punish bursts with throttling.
pub(super) struct RateLimiter {
    spacing: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// `None` for no limit (`per_sec` of 0 is treated as no limit too).
    pub(super) fn new(per_sec: Option<u32>) -> Option<RateLimiter> {
        let per_sec = per_sec.filter(|&n| n > 0)?;
        Some(RateLimiter {
            spacing: Duration::from_secs(1) / per_sec,
            next: Mutex::new(Instant::now()),
        })
    }

    /// Waits for this caller's slot.
    pub(super) async fn acquire(&self) {
        let now = Instant::now();
        let slot = {
            let mut next = lock(&self.next);
            let slot = (*next).max(now);
            *next = slot + self.spacing;
            slot
        };
        if slot > now {
            tokio::time::sleep_until(slot).await;
        }
    }
}
