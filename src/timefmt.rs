//! Human-readable times for pages and exports. Storage keeps UTC epoch millis.

use time::macros::format_description;
use time::OffsetDateTime;

pub fn utc(ms: i64) -> String {
    formatted(
        ms,
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC"),
    )
}

/// The UTC calendar day, `2026-11-27`.
pub fn date(ms: i64) -> String {
    formatted(ms, format_description!("[year]-[month]-[day]"))
}

/// `ms` in `fmt`, or the number itself when it is out of range.
fn formatted(ms: i64, fmt: &[time::format_description::FormatItem<'_>]) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(fmt).ok())
        .unwrap_or_else(|| ms.to_string())
}

pub fn utc_opt(ms: Option<i64>) -> String {
    ms.map(utc).unwrap_or_else(|| "—".into())
}

/// ISO 8601, for machine-readable attributes and CSV.
pub fn iso(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_epoch_millis_in_utc() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::iso(1_700_000_000_000), "2023-11-14T22:13:20Z");
    }
}
