//! How long to wait before each retry.

use std::time::Duration;

/// Past this the doubling stops: with many attempts configured, an
/// uncapped delay would leave a subscriber's order waiting for hours.
const CAP: Duration = Duration::from_secs(30);

/// The wait before retry number `retry` (1 is the first retry, that is the
/// second attempt): `first`, doubled for each retry after that.
pub(super) fn delay(first: Duration, retry: u32) -> Duration {
    let cap = CAP.max(first);
    let factor = 2u32.checked_pow(retry.saturating_sub(1));
    factor
        .and_then(|f| first.checked_mul(f))
        .map_or(cap, |d| d.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_first_delay_then_caps() {
        let ms = Duration::from_millis;
        assert_eq!(delay(ms(200), 1), ms(200));
        assert_eq!(delay(ms(200), 2), ms(400));
        assert_eq!(delay(ms(200), 3), ms(800));
        assert_eq!(delay(ms(200), 20), CAP);
        assert_eq!(delay(ms(200), u32::MAX), CAP);
        assert_eq!(delay(Duration::from_secs(60), 3), Duration::from_secs(60));
        assert_eq!(delay(Duration::ZERO, 5), Duration::ZERO);
    }
}
