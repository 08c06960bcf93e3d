//! When a campaign may wake handsets: a daily notification window (the
//! quiet night hours operators push updates in, on the clock of the market
//! it is for) and a first moment. Times shown are UTC, as everywhere on the
//! portal; a window may be kept in a named time zone.

use std::fmt;

use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

const DAY_MINUTES: i32 = 24 * 60;

/// Minutes of the day (in the campaign's [`Zone`]) between which
/// notifications go out. `from` after `to` wraps past midnight (22:00–04:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    from: i32,
    to: i32,
}

impl Window {
    pub fn new(from: i32, to: i32) -> Result<Window, String> {
        if !(0..DAY_MINUTES).contains(&from) || !(0..DAY_MINUTES).contains(&to) {
            return Err("A window's times are within the day, 00:00 to 23:59.".into());
        }
        if from == to {
            return Err(
                "A window's start and end are the same: leave the window empty for any time."
                    .into(),
            );
        }
        Ok(Window { from, to })
    }

    /// `01:00-05:00` (also with an en dash, or spaces around the dash).
    pub fn parse(s: &str) -> Result<Window, String> {
        let bad = || format!("\"{s}\" is not a window: write it as 01:00-05:00 (UTC).");
        let (a, b) = s.split_once(['-', '–']).ok_or_else(bad)?;
        let minute = |t: &str| -> Option<i32> {
            let (h, m) = t.trim().split_once(':')?;
            let digits = |v: &str, n| v.len() == n && v.bytes().all(|b| b.is_ascii_digit());
            if !(digits(h, 1) || digits(h, 2)) || !digits(m, 2) {
                return None;
            }
            let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
            ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 60 + m)
        };
        let (from, to) = (minute(a).ok_or_else(bad)?, minute(b).ok_or_else(bad)?);
        Window::new(from, to)
    }

    /// The stored pair, when both ends are there.
    pub fn stored(from: Option<i32>, to: Option<i32>) -> Option<Window> {
        match (from, to) {
            (Some(from), Some(to)) => Window::new(from, to).ok(),
            _ => None,
        }
    }

    pub fn from_minute(self) -> i32 {
        self.from
    }

    pub fn to_minute(self) -> i32 {
        self.to
    }

    /// Whether `minute` of the day is inside: the start counts, the end
    /// does not.
    pub fn contains(self, minute: i32) -> bool {
        if self.from < self.to {
            (self.from..self.to).contains(&minute)
        } else {
            minute >= self.from || minute < self.to
        }
    }

    /// The next time at or after `now` (epoch ms) the window is open, on
    /// `zone`'s clock (a day of 23 or 25 hours included).
    pub fn next_open(self, now: i64, zone: &Zone) -> i64 {
        if self.contains(zone.minute_of_day(now)) {
            return now;
        }
        zone.next_at(now, self.from)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.from / 60,
            self.from % 60,
            self.to / 60,
            self.to % 60
        )
    }
}

/// The clock a window is kept on: UTC, or a named IANA time zone
/// (`America/Chicago`) so a market's night stays its night through
/// daylight saving.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zone {
    /// `None` for UTC.
    named: Option<(String, jiff::tz::TimeZone)>,
}

impl Zone {
    pub fn utc() -> Zone {
        Zone::default()
    }

    /// An IANA name; `UTC` (or empty) for UTC.
    pub fn parse(name: &str) -> Result<Zone, String> {
        let name = name.trim();
        if name.is_empty() || name.eq_ignore_ascii_case("utc") {
            return Ok(Zone::utc());
        }
        jiff::tz::TimeZone::get(name)
            .map(|tz| Zone {
                named: Some((name.to_string(), tz)),
            })
            .map_err(|_| {
                format!("\"{name}\" is not a time zone: use an IANA name such as America/Chicago, or UTC.")
            })
    }

    /// Every zone name the database knows (`Area/City` ones), sorted, for
    /// the forms' suggestions.
    pub fn names() -> &'static [String] {
        static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        NAMES.get_or_init(|| {
            let mut v: Vec<String> = jiff::tz::db()
                .available()
                .map(|n| n.to_string())
                .filter(|n| n.contains('/') && !n.starts_with("Etc/"))
                .collect();
            v.sort();
            v.dedup();
            v
        })
    }

    /// From the stored name; a name the time zone database no longer knows
    /// falls back to UTC rather than stopping the campaign.
    pub fn stored(name: Option<&str>) -> Zone {
        name.and_then(|n| Zone::parse(n).ok()).unwrap_or_default()
    }

    /// What is stored: `None` for UTC.
    pub fn name(&self) -> Option<&str> {
        self.named.as_ref().map(|(n, _)| n.as_str())
    }

    pub fn label(&self) -> &str {
        self.name().unwrap_or("UTC")
    }

    /// The minute of the day `ms` falls in on this clock.
    pub fn minute_of_day(&self, ms: i64) -> i32 {
        match self.local(ms) {
            Some(z) => i32::from(z.hour()) * 60 + i32::from(z.minute()),
            None => minute_of_day(ms),
        }
    }

    fn local(&self, ms: i64) -> Option<jiff::Zoned> {
        let (_, tz) = self.named.as_ref()?;
        jiff::Timestamp::from_millisecond(ms)
            .ok()
            .map(|t| t.to_zoned(tz.clone()))
    }

    /// The first moment after `now` this clock shows `minute` of a day.
    fn next_at(&self, now: i64, minute: i32) -> i64 {
        let Some(local) = self.local(now) else {
            let ahead = (minute - minute_of_day(now)).rem_euclid(DAY_MINUTES);
            // From the start of the current minute.
            return now - now.rem_euclid(60_000) + i64::from(ahead) * 60_000;
        };
        let tz = local.time_zone().clone();
        let (h, m) = (
            i8::try_from(minute / 60).unwrap_or(0),
            i8::try_from(minute % 60).unwrap_or(0),
        );
        let at = |date: jiff::civil::Date| {
            // A time the clocks skip (a spring-forward gap) is taken as
            // the moment just after it, as jiff's default does.
            date.at(h, m, 0, 0)
                .to_zoned(tz.clone())
                .ok()
                .map(|z| z.timestamp().as_millisecond())
        };
        let today = local.date();
        match at(today) {
            Some(t) if t > now => t,
            _ => today
                .tomorrow()
                .ok()
                .and_then(at)
                .unwrap_or(now + i64::from(DAY_MINUTES) * 60_000),
        }
    }
}

/// When a campaign may notify and how long handsets have to answer, as an
/// operator sets it when planning or later.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    /// [`DEFAULT_ANSWER_WITHIN_MINS`] when `None`.
    pub answer_within_mins: Option<i32>,
    pub window: Option<Window>,
    /// The clock the window is kept on.
    pub zone: Zone,
    pub not_before: Option<i64>,
}

/// Why a time zone given without a daily window is refused.
pub const ZONE_NEEDS_WINDOW: &str = "A time zone is the clock of a daily window: give the window too (01:00-05:00), or leave the time zone empty.";

/// The answer time when a schedule names none: as long as a notification
/// stays answerable at all.
pub const DEFAULT_ANSWER_WITHIN_MINS: i32 = 24 * 60;

impl Schedule {
    pub fn answer_within(&self) -> i32 {
        self.answer_within_mins
            .unwrap_or(DEFAULT_ANSWER_WITHIN_MINS)
    }

    /// The zone as stored: only with a window, and `None` for UTC.
    pub fn stored_zone(&self) -> Option<String> {
        self.window.and(self.zone.name()).map(str::to_string)
    }

    pub fn check(&self) -> Result<(), String> {
        self.problem().map_or(Ok(()), |(_, why)| Err(why))
    }

    /// The first rule the schedule breaks, with the field it is about
    /// (`window_zone`, `answer_within_mins`), for the API and the forms
    /// to point at.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        // The zone only says which clock the window is read on: kept
        // without one it would be dropped, and the operator left believing
        // the campaign follows the market's clock.
        if self.window.is_none() && self.zone.name().is_some() {
            return Some(("window_zone", ZONE_NEEDS_WINDOW.into()));
        }
        // Past a day the notification itself expires (`JOB_TTL_MS`); under
        // five minutes a handset on a slow SMSC route has no fair chance.
        if !(5..=DEFAULT_ANSWER_WITHIN_MINS).contains(&self.answer_within()) {
            return Some((
                "answer_within_mins",
                "Handsets are given between 5 minutes and 24 hours (1440 minutes) to answer."
                    .into(),
            ));
        }
        None
    }
}

/// A time as the schedule forms show it (and [`parse_time`] reads back).
pub fn form_time(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
                .ok()
        })
        .unwrap_or_default()
}

/// The minute of the UTC day `ms` falls in.
pub fn minute_of_day(ms: i64) -> i32 {
    // Always below 1440, so it fits.
    i32::try_from(ms.div_euclid(60_000).rem_euclid(i64::from(DAY_MINUTES))).unwrap_or(0)
}

/// A time as operators type it: `2026-12-01 02:00` in UTC, with `T` or a
/// space, seconds optional; or with an explicit offset from UTC
/// (`2026-12-01T02:00+01:00`, a market's local time), converted to UTC.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let bad = || {
        format!(
            "\"{s}\" is not a time: write it as 2026-12-01 02:00 (UTC), or with an offset from UTC: 2026-12-01T02:00+01:00."
        )
    };
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return to_ms(t).ok_or_else(bad);
    }
    // RFC 3339 wants seconds; people leave them out, or put a space before
    // the offset.
    let spaced = s
        .replacen('T', " ", 1)
        .replacen(" +", "+", 1)
        .replacen(" -", "-", 1);
    let offset_seconds = format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
    );
    let offset_minutes = format_description!(
        "[year]-[month]-[day] [hour]:[minute][offset_hour sign:mandatory]:[offset_minute]"
    );
    if let Ok(t) = OffsetDateTime::parse(&spaced, offset_seconds)
        .or_else(|_| OffsetDateTime::parse(&spaced, offset_minutes))
    {
        return to_ms(t).ok_or_else(bad);
    }
    let s2 = s
        .trim_end_matches(" UTC")
        .trim_end_matches('Z')
        .replace('T', " ");
    let with_seconds = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let without = format_description!("[year]-[month]-[day] [hour]:[minute]");
    PrimitiveDateTime::parse(&s2, with_seconds)
        .or_else(|_| PrimitiveDateTime::parse(&s2, without))
        .ok()
        .and_then(|t| to_ms(t.assume_utc()))
        .ok_or_else(bad)
}

fn to_ms(t: OffsetDateTime) -> Option<i64> {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Why a running campaign sends nothing at `now`, and when it will; `None`
/// when it may notify.
pub fn waiting(schedule: &Schedule, now: i64) -> Option<String> {
    let zone = &schedule.zone;
    if let Some(at) = schedule.not_before.filter(|at| *at > now) {
        return Some(format!(
            "waiting: notifications start at {}",
            crate::timefmt::utc(schedule.window.map_or(at, |w| w.next_open(at, zone)))
        ));
    }
    let w = schedule.window?;
    (!w.contains(zone.minute_of_day(now))).then(|| {
        format!(
            "waiting: outside its notification window {w} {}; the next opens at {}",
            zone.label(),
            crate::timefmt::utc(w.next_open(now, zone))
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    /// 2026-11-30 00:00 UTC.
    const MIDNIGHT: i64 = 1_795_996_800_000;

    #[test]
    fn windows_parse_as_operators_write_them() {
        let w = Window::parse("01:00-05:30").unwrap();
        assert_eq!((w.from_minute(), w.to_minute()), (60, 330));
        assert_eq!(w.to_string(), "01:00-05:30");
        assert_eq!(
            Window::parse(" 22:00 – 04:00 ").unwrap().to_string(),
            "22:00-04:00"
        );
        for bad in [
            "",
            "01:00",
            "1-5",
            "24:00-01:00",
            "01:60-02:00",
            "03:00-03:00",
            "a:b-c:d",
            "01:000-02:00",
        ] {
            assert!(Window::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_window_includes_its_start_not_its_end_and_may_wrap_midnight() {
        let night = Window::parse("01:00-05:00").unwrap();
        assert!(!night.contains(59));
        assert!(night.contains(60));
        assert!(night.contains(299));
        assert!(!night.contains(300));
        let wrap = Window::parse("22:00-04:00").unwrap();
        assert!(wrap.contains(22 * 60));
        assert!(wrap.contains(0));
        assert!(wrap.contains(239));
        assert!(!wrap.contains(240));
        assert!(!wrap.contains(12 * 60));
    }

    #[test]
    fn the_next_opening_is_today_or_tomorrow() {
        let night = Window::parse("01:00-05:00").unwrap();
        // 00:30 → 01:00 today.
        assert_eq!(
            night.next_open(MIDNIGHT + 30 * MIN + 5, &Zone::utc()),
            MIDNIGHT + 60 * MIN
        );
        // Inside: now.
        assert_eq!(
            night.next_open(MIDNIGHT + 90 * MIN, &Zone::utc()),
            MIDNIGHT + 90 * MIN
        );
        // 06:00 → 01:00 tomorrow.
        assert_eq!(
            night.next_open(MIDNIGHT + 360 * MIN, &Zone::utc()),
            MIDNIGHT + (24 * 60 + 60) * MIN
        );
        assert_eq!(minute_of_day(MIDNIGHT - MIN), 24 * 60 - 1);
    }

    #[test]
    fn answer_times_are_between_five_minutes_and_a_day() {
        assert!(Schedule::default().check().is_ok());
        assert_eq!(Schedule::default().answer_within(), 1440);
        for (m, ok) in [(4, false), (5, true), (1440, true), (1441, false)] {
            let s = Schedule {
                answer_within_mins: Some(m),
                ..Schedule::default()
            };
            assert_eq!(s.check().is_ok(), ok, "{m}");
        }
    }

    #[test]
    fn a_zone_needs_a_window_to_be_kept_in() {
        let chicago = Zone::parse("America/Chicago").unwrap();
        let zone_only = Schedule {
            zone: chicago.clone(),
            ..Schedule::default()
        };
        assert_eq!(
            zone_only.problem(),
            Some(("window_zone", ZONE_NEEDS_WINDOW.to_string()))
        );
        assert_eq!(zone_only.check(), Err(ZONE_NEEDS_WINDOW.to_string()));
        let with_window = Schedule {
            window: Some(Window::parse("01:00-05:00").unwrap()),
            zone: chicago,
            ..Schedule::default()
        };
        assert_eq!(with_window.problem(), None);
        // UTC is no zone to keep.
        let utc = Schedule {
            zone: Zone::parse("UTC").unwrap(),
            ..Schedule::default()
        };
        assert_eq!(utc.problem(), None);
    }

    #[test]
    fn form_times_read_back() {
        assert_eq!(form_time(MIDNIGHT + 61 * MIN), "2026-11-30 01:01");
        assert_eq!(
            parse_time(&form_time(MIDNIGHT + 61 * MIN)),
            Ok(MIDNIGHT + 61 * MIN)
        );
    }

    #[test]
    fn times_parse_in_utc() {
        assert_eq!(parse_time("2026-11-30 00:00"), Ok(MIDNIGHT));
        assert_eq!(parse_time("2026-11-30T00:01:00"), Ok(MIDNIGHT + MIN));
        assert_eq!(parse_time("2026-11-30 00:00:00 UTC"), Ok(MIDNIGHT));
        assert_eq!(parse_time("2026-11-30T01:00:00+01:00"), Ok(MIDNIGHT));
        // An offset without seconds, with or without a space: converted.
        assert_eq!(parse_time("2026-11-30T02:00+02:00"), Ok(MIDNIGHT));
        assert_eq!(parse_time("2026-11-29 19:00 -05:00"), Ok(MIDNIGHT));
        assert_eq!(parse_time("2026-11-30 00:30:00+00:30"), Ok(MIDNIGHT));
        assert!(parse_time("2026-11-30T02:00+1").is_err());
        assert!(parse_time("2026-11-30T02:00 CET").is_err());
        assert!(parse_time("30/11/2026").is_err());
        assert!(parse_time("2026-11-31 00:00").is_err());
    }

    #[test]
    fn a_campaign_waits_for_its_start_then_for_its_window() {
        let night = Window::parse("01:00-05:00").unwrap();
        let noon = MIDNIGHT + 12 * 60 * MIN;
        let plan = |window, not_before| Schedule {
            window,
            not_before,
            ..Schedule::default()
        };
        assert_eq!(waiting(&plan(None, None), noon), None);
        assert_eq!(waiting(&plan(None, Some(noon - MIN)), noon), None);
        let w = waiting(&plan(None, Some(noon + MIN)), noon).unwrap();
        assert!(w.contains("2026-11-30 12:01:00 UTC"), "{w}");
        // Starting inside the day but outside the window: the window's
        // next opening after the start.
        let w = waiting(&plan(Some(night), Some(noon + MIN)), noon).unwrap();
        assert!(w.contains("2026-12-01 01:00:00 UTC"), "{w}");
        let w = waiting(&plan(Some(night), None), noon).unwrap();
        assert!(
            w.contains("01:00-05:00 UTC") && w.contains("2026-12-01 01:00:00"),
            "{w}"
        );
        assert_eq!(waiting(&plan(Some(night), None), MIDNIGHT + 61 * MIN), None);
    }

    #[test]
    fn a_window_kept_in_a_markets_zone_follows_its_clock_through_daylight_saving() {
        let chicago = Zone::parse("America/Chicago").unwrap();
        assert_eq!(chicago.name(), Some("America/Chicago"));
        assert!(Zone::parse("Mars/Olympus").is_err());
        assert_eq!(Zone::parse(" utc ").unwrap(), Zone::utc());
        let night = Window::parse("01:00-05:00").unwrap();
        // 2026-11-30 is CST (UTC-6): 01:00 in Chicago is 07:00 UTC.
        assert_eq!(chicago.minute_of_day(MIDNIGHT + 7 * 60 * MIN), 60);
        assert!(!night.contains(chicago.minute_of_day(MIDNIGHT + 90 * MIN)));
        // At 00:00 UTC (18:00 in Chicago) the next opening is 07:00 UTC.
        assert_eq!(night.next_open(MIDNIGHT, &chicago), MIDNIGHT + 7 * 60 * MIN);
        // In summer (CDT, UTC-5) the same night opens at 06:00 UTC.
        let july = parse_time("2026-07-01 00:00").unwrap();
        assert_eq!(night.next_open(july, &chicago), july + 6 * 60 * MIN);
        // The night the clocks go back (2026-11-01, 02:00 CDT becomes 01:00
        // CST): from 00:00 UTC (19:00 CDT on Oct 31) the next 01:00 is the
        // first of the two, 06:00 UTC.
        let fall = parse_time("2026-11-01 00:00").unwrap();
        assert_eq!(night.next_open(fall, &chicago), fall + 6 * 60 * MIN);
        let s = Schedule {
            window: Some(night),
            zone: chicago,
            ..Schedule::default()
        };
        let w = waiting(&s, MIDNIGHT).unwrap();
        assert!(
            w.contains(
                "window 01:00-05:00 America/Chicago; the next opens at 2026-11-30 07:00:00 UTC"
            ),
            "{w}"
        );
    }
}
