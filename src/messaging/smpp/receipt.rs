//! Delivery-receipt text as carried in a `deliver_sm` short message
//! (SMPP v3.4 Appendix B):
//! `id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...`

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Final or intermediate state of a submitted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptState {
    Delivered,
    Expired,
    Deleted,
    Undeliverable,
    Accepted,
    Unknown,
    Rejected,
    Enroute,
}

impl ReceiptState {
    /// From the 7-letter `stat:` value; anything unrecognised is `Unknown`.
    pub fn from_stat(stat: &str) -> ReceiptState {
        match stat.trim().to_ascii_uppercase().as_str() {
            "DELIVRD" => ReceiptState::Delivered,
            "EXPIRED" => ReceiptState::Expired,
            "DELETED" => ReceiptState::Deleted,
            "UNDELIV" => ReceiptState::Undeliverable,
            "ACCEPTD" => ReceiptState::Accepted,
            "REJECTD" => ReceiptState::Rejected,
            "ENROUTE" => ReceiptState::Enroute,
            _ => ReceiptState::Unknown,
        }
    }

    /// The `stat:` value for this state.
    pub fn as_stat(self) -> &'static str {
        match self {
            ReceiptState::Delivered => "DELIVRD",
            ReceiptState::Expired => "EXPIRED",
            ReceiptState::Deleted => "DELETED",
            ReceiptState::Undeliverable => "UNDELIV",
            ReceiptState::Accepted => "ACCEPTD",
            ReceiptState::Unknown => "UNKNOWN",
            ReceiptState::Rejected => "REJECTD",
            ReceiptState::Enroute => "ENROUTE",
        }
    }

    /// From the `message_state` TLV value. SMPP 5's SCHEDULED is not final,
    /// so it reads as `Enroute`; SKIPPED and unassigned values as `Unknown`.
    pub fn from_message_state(value: u8) -> ReceiptState {
        match value {
            0 | 1 => ReceiptState::Enroute,
            2 => ReceiptState::Delivered,
            3 => ReceiptState::Expired,
            4 => ReceiptState::Deleted,
            5 => ReceiptState::Undeliverable,
            6 => ReceiptState::Accepted,
            8 => ReceiptState::Rejected,
            _ => ReceiptState::Unknown,
        }
    }

    /// The `message_state` TLV value for this state.
    pub fn message_state(self) -> u8 {
        match self {
            ReceiptState::Enroute => 1,
            ReceiptState::Delivered => 2,
            ReceiptState::Expired => 3,
            ReceiptState::Deleted => 4,
            ReceiptState::Undeliverable => 5,
            ReceiptState::Accepted => 6,
            ReceiptState::Unknown => 7,
            ReceiptState::Rejected => 8,
        }
    }

    /// Whether no further receipt is expected for the message.
    pub fn is_final(self) -> bool {
        !matches!(self, ReceiptState::Enroute | ReceiptState::Accepted)
    }
}

/// The fields of a receipt text. Every field is optional because SMSCs
/// omit some; `text` keeps everything after `text:` verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryReceipt {
    pub id: Option<String>,
    pub sub: Option<String>,
    pub dlvrd: Option<String>,
    pub submit_date: Option<String>,
    pub done_date: Option<String>,
    pub stat: Option<String>,
    pub err: Option<String>,
    pub text: Option<String>,
}

impl DeliveryReceipt {
    /// Lenient parse: keys are case-insensitive, `dlvr:` is accepted for
    /// `dlvrd:`, unknown keys are skipped.
    pub fn parse(input: &str) -> DeliveryReceipt {
        let mut receipt = DeliveryReceipt::default();
        let (head, text) = match find_text_key(input) {
            Some(pos) => (&input[..pos], Some(input[pos + "text:".len()..].to_owned())),
            None => (input, None),
        };
        receipt.text = text;
        let mut tokens = head.split_whitespace().peekable();
        while let Some(token) = tokens.next() {
            // "submit date:" and "done date:" are the only keys with a space.
            let is_date_prefix =
                token.eq_ignore_ascii_case("submit") || token.eq_ignore_ascii_case("done");
            if is_date_prefix {
                if let Some(value) = tokens.peek().and_then(|next| strip_key(next, "date")) {
                    let value = Some(value.to_owned());
                    if token.eq_ignore_ascii_case("submit") {
                        receipt.submit_date = value;
                    } else {
                        receipt.done_date = value;
                    }
                    tokens.next();
                    continue;
                }
            }
            let Some((key, value)) = token.split_once(':') else {
                continue;
            };
            let value = Some(value.to_owned());
            match key.to_ascii_lowercase().as_str() {
                "id" => receipt.id = value,
                "sub" => receipt.sub = value,
                "dlvrd" | "dlvr" => receipt.dlvrd = value,
                "stat" => receipt.stat = value,
                "err" => receipt.err = value,
                _ => {}
            }
        }
        receipt
    }

    /// The state named by `stat:`, if present.
    pub fn state(&self) -> Option<ReceiptState> {
        self.stat.as_deref().map(ReceiptState::from_stat)
    }
}

impl fmt::Display for DeliveryReceipt {
    /// Canonical Appendix B layout with lower-case `text:`; absent fields are
    /// left out so that parse and format round-trip.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = [
            ("id:", &self.id),
            ("sub:", &self.sub),
            ("dlvrd:", &self.dlvrd),
            ("submit date:", &self.submit_date),
            ("done date:", &self.done_date),
            ("stat:", &self.stat),
            ("err:", &self.err),
            ("text:", &self.text),
        ];
        let mut first = true;
        for (key, value) in fields {
            if let Some(value) = value {
                if !first {
                    f.write_str(" ")?;
                }
                first = false;
                write!(f, "{key}{value}")?;
            }
        }
        Ok(())
    }
}

/// Byte offset of a `text:` key at the start or after whitespace.
fn find_text_key(input: &str) -> Option<usize> {
    // ASCII lower-casing keeps byte offsets, so positions map back to `input`.
    let lower = input.to_ascii_lowercase();
    lower
        .match_indices("text:")
        .map(|(pos, _)| pos)
        .find(|&pos| pos == 0 || lower.as_bytes()[pos - 1].is_ascii_whitespace())
}

fn strip_key<'a>(token: &'a str, key: &str) -> Option<&'a str> {
    let (k, value) = token.split_once(':')?;
    k.eq_ignore_ascii_case(key).then_some(value)
}

/// `YYMMDDhhmm` in UTC, the date format of receipt texts.
pub fn format_receipt_date(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        year.rem_euclid(100),
        month,
        day,
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in 1..=31 / 1..=12 by construction.
    (year, day_or_month(month), day_or_month(day))
}

fn day_or_month(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const APPENDIX_B: &str = "id:0123456789 sub:001 dlvrd:001 submit date:0610191018 \
        done date:0610191018 stat:DELIVRD err:000 Text:Hello world, how are you";

    #[test]
    fn parses_appendix_b_example() {
        let r = DeliveryReceipt::parse(APPENDIX_B);
        assert_eq!(r.id.as_deref(), Some("0123456789"));
        assert_eq!(r.sub.as_deref(), Some("001"));
        assert_eq!(r.dlvrd.as_deref(), Some("001"));
        assert_eq!(r.submit_date.as_deref(), Some("0610191018"));
        assert_eq!(r.done_date.as_deref(), Some("0610191018"));
        assert_eq!(r.stat.as_deref(), Some("DELIVRD"));
        assert_eq!(r.err.as_deref(), Some("000"));
        assert_eq!(r.text.as_deref(), Some("Hello world, how are you"));
        assert_eq!(r.state(), Some(ReceiptState::Delivered));
    }

    #[test]
    fn parses_dlvr_variant_and_text_with_colons() {
        let r = DeliveryReceipt::parse(
            "id:XXXX sub:001 dlvr:001 submit date:2611271200 done date:2611271200 \
             stat:UNDELIV err:034 text:a: b id:zz",
        );
        assert_eq!(r.id.as_deref(), Some("XXXX"));
        assert_eq!(r.dlvrd.as_deref(), Some("001"));
        assert_eq!(r.err.as_deref(), Some("034"));
        assert_eq!(r.text.as_deref(), Some("a: b id:zz"));
        assert_eq!(r.state(), Some(ReceiptState::Undeliverable));
    }

    #[test]
    fn format_parse_round_trip() {
        let mut r = DeliveryReceipt::parse(APPENDIX_B);
        let text = r.to_string();
        assert_eq!(
            text,
            "id:0123456789 sub:001 dlvrd:001 submit date:0610191018 \
             done date:0610191018 stat:DELIVRD err:000 text:Hello world, how are you"
        );
        assert_eq!(DeliveryReceipt::parse(&text), r);
        r.sub = None;
        r.text = None;
        assert_eq!(DeliveryReceipt::parse(&r.to_string()), r);
    }

    #[test]
    fn tolerates_garbage() {
        assert_eq!(DeliveryReceipt::parse(""), DeliveryReceipt::default());
        let r = DeliveryReceipt::parse("hello there stat:weird");
        assert_eq!(r.state(), Some(ReceiptState::Unknown));
        assert_eq!(r.id, None);
    }

    #[test]
    fn stat_and_message_state_mappings_agree() {
        let all = [
            ReceiptState::Delivered,
            ReceiptState::Expired,
            ReceiptState::Deleted,
            ReceiptState::Undeliverable,
            ReceiptState::Accepted,
            ReceiptState::Unknown,
            ReceiptState::Rejected,
            ReceiptState::Enroute,
        ];
        for s in all {
            assert_eq!(ReceiptState::from_stat(s.as_stat()), s);
            assert_eq!(ReceiptState::from_message_state(s.message_state()), s);
        }
        assert_eq!(ReceiptState::from_stat("delivrd"), ReceiptState::Delivered);
        assert_eq!(ReceiptState::from_message_state(9), ReceiptState::Unknown);
    }

    #[test]
    fn formats_receipt_dates_in_utc() {
        assert_eq!(format_receipt_date(UNIX_EPOCH), "7001010000");
        // 2026-11-27 12:00 UTC
        let t = UNIX_EPOCH + Duration::from_secs(1_795_780_800);
        assert_eq!(format_receipt_date(t), "2611271200");
        // 2024-02-29 23:59 UTC (leap day)
        let t = UNIX_EPOCH + Duration::from_secs(1_709_251_140);
        assert_eq!(format_receipt_date(t), "2402292359");
    }
}
