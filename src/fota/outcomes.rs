//! How FOTA sessions ended, day by day: what a firmware manager watches to
//! see whether a release is landing.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::FotaState;
use crate::db::DbConnection;

pub const DAY_MS: i64 = 86_400_000;

/// The sessions begun on one UTC day, by where they stand now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayOutcomes {
    /// The day's first millisecond (UTC).
    pub day: i64,
    pub succeeded: i64,
    /// Failed updates: the device had been offered a package.
    pub failed: i64,
    /// Ended before any package was offered: a notification never
    /// answered, a session the device never continued. Not an update that
    /// failed, so not counted against the success rate.
    pub unanswered: i64,
    /// Cancelled by the subscriber, or no package for the device.
    pub other: i64,
    /// Not finished yet.
    pub open: i64,
}

impl DayOutcomes {
    pub fn total(&self) -> i64 {
        self.succeeded + self.failed + self.unanswered + self.other + self.open
    }

    fn add(&mut self, state: FotaState, offered: bool, n: i64) {
        match state {
            FotaState::Succeeded => self.succeeded += n,
            FotaState::Failed if offered => self.failed += n,
            FotaState::Failed => self.unanswered += n,
            FotaState::Cancelled | FotaState::NoUpdate => self.other += n,
            FotaState::Pending
            | FotaState::Querying
            | FotaState::Offered
            | FotaState::Downloaded => self.open += n,
        }
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    day: i64,
    #[diesel(sql_type = Text)]
    state: String,
    /// 1 when the session was offered a package.
    #[diesel(sql_type = BigInt)]
    offered: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The `days` UTC days up to and including the one holding `now`, oldest
/// first, each with its sessions' outcomes (days without any included).
pub fn daily(conn: &mut DbConnection, now: i64, days: i64) -> QueryResult<Vec<DayOutcomes>> {
    let days = days.max(1);
    let first = (now.div_euclid(DAY_MS) - (days - 1)) * DAY_MS;
    // `first` is computed here, never taken from a request, so it is
    // written into the statement; the same text then runs on both backends
    // (their bind placeholders differ).
    let counts: Vec<Count> = diesel::sql_query(format!(
        "SELECT created_at / {DAY_MS} AS day, state, \
         CAST(CASE WHEN package_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS offered, \
         COUNT(*) AS n FROM fota_sessions WHERE created_at >= {first} \
         GROUP BY created_at / {DAY_MS}, state, CASE WHEN package_id IS NULL THEN 0 ELSE 1 END"
    ))
    .load(conn)?;
    let mut out: Vec<DayOutcomes> = (0..days)
        .map(|i| DayOutcomes {
            day: first + i * DAY_MS,
            ..DayOutcomes::default()
        })
        .collect();
    for c in counts {
        let index = c.day - first / DAY_MS;
        let slot = usize::try_from(index).ok().and_then(|i| out.get_mut(i));
        // A session dated in the future (a clock moved back) or in a state
        // this release does not know is left out.
        if let (Some(slot), Some(state)) = (slot, FotaState::parse(&c.state)) {
            slot.add(state, c.offered == 1, c.n);
        }
    }
    Ok(out)
}
