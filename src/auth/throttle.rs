//! Sign-in throttling. Failures are counted in the database per username and
//! per client address so that every server node sees the same count.

use diesel::prelude::*;

use crate::db::schema::login_failures;
use crate::db::{now_ms, DbConnection};

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub max_failures: i32,
    pub window_ms: i64,
    pub lockout_ms: i64,
}

/// Seconds left on a lock covering any of the keys, if one is in force.
pub fn locked_for(conn: &mut DbConnection, keys: &[String]) -> QueryResult<Option<i64>> {
    let now = now_ms();
    let until: Option<Option<i64>> = login_failures::table
        .filter(login_failures::throttle_key.eq_any(keys))
        .filter(login_failures::locked_until.gt(now))
        .select(login_failures::locked_until)
        .order(login_failures::locked_until.desc())
        .first(conn)
        .optional()?;
    Ok(until.flatten().map(|u| ((u - now) / 1000).max(1)))
}

pub fn record_failure(conn: &mut DbConnection, keys: &[String], policy: Policy) -> QueryResult<()> {
    let now = now_ms();
    crate::db::write(conn, |conn| {
        for key in keys {
            let row: Option<(i32, i64)> = login_failures::table
                .find(key)
                .select((login_failures::failures, login_failures::window_start))
                .first(conn)
                .optional()?;
            match row {
                Some((failures, start)) if now - start <= policy.window_ms => {
                    let failures = failures + 1;
                    let lock = (failures >= policy.max_failures).then_some(now + policy.lockout_ms);
                    diesel::update(login_failures::table.find(key))
                        .set((
                            login_failures::failures.eq(failures),
                            login_failures::locked_until.eq(lock),
                        ))
                        .execute(conn)?;
                }
                Some(_) => {
                    diesel::update(login_failures::table.find(key))
                        .set((
                            login_failures::failures.eq(1),
                            login_failures::window_start.eq(now),
                            login_failures::locked_until.eq(None::<i64>),
                        ))
                        .execute(conn)?;
                }
                None => {
                    diesel::insert_into(login_failures::table)
                        .values((
                            login_failures::throttle_key.eq(key),
                            login_failures::failures.eq(1),
                            login_failures::window_start.eq(now),
                        ))
                        .execute(conn)?;
                }
            }
        }
        Ok(())
    })
}

pub fn clear(conn: &mut DbConnection, keys: &[String]) -> QueryResult<()> {
    diesel::delete(login_failures::table.filter(login_failures::throttle_key.eq_any(keys)))
        .execute(conn)
        .map(|_| ())
}
