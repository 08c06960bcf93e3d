//! Sign-in throttling. Failures are counted in the database so that every
//! server node sees the same count, under three keys: the account from one
//! client address (locked after a few failures: someone's typos lock only
//! themselves, not everyone behind the same NAT or proxy), the address alone
//! (locked only at a much higher ceiling, against one address spraying many
//! accounts) and the account alone (against many addresses guessing one: at
//! the ceiling for staff, at the strict limit for a subscriber's short PIN).

use diesel::prelude::*;

use crate::db::schema::login_failures;
use crate::db::{now_ms, DbConnection};

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures against one account from one address before a lock.
    pub max_failures: i32,
    /// Failures from one address, whatever the accounts, before a lock.
    pub ceiling: i32,
    /// Failures against one account, whatever the addresses, before a lock:
    /// the ceiling for staff passwords, but a subscriber's PIN is 4 to 8
    /// digits, so a line keeps the strict limit from everywhere.
    pub account_ceiling: i32,
    pub window_ms: i64,
    pub lockout_ms: i64,
}

/// The counts one sign-in attempt is checked against and adds to.
#[derive(Debug, Clone)]
pub struct Keys {
    account_at_address: String,
    address: String,
    account: String,
}

impl Keys {
    /// `account` names the account or line however it was spelled (see
    /// `throttle_key` at the callers), `address` the client address.
    pub fn new(account: &str, address: &str) -> Keys {
        Keys {
            account_at_address: format!("ip:{address}|{account}"),
            address: format!("ip:{address}"),
            account: account.to_string(),
        }
    }

    fn all(&self) -> [String; 3] {
        [
            self.account_at_address.clone(),
            self.address.clone(),
            self.account.clone(),
        ]
    }
}

/// Seconds left on a lock covering any of the keys, if one is in force.
pub fn locked_for(conn: &mut DbConnection, keys: &Keys) -> QueryResult<Option<i64>> {
    let now = now_ms();
    let until: Option<Option<i64>> = login_failures::table
        .filter(login_failures::throttle_key.eq_any(keys.all()))
        .filter(login_failures::locked_until.gt(now))
        .select(login_failures::locked_until)
        .order(login_failures::locked_until.desc())
        .first(conn)
        .optional()?;
    Ok(until.flatten().map(|u| ((u - now) / 1000).max(1)))
}

pub fn record_failure(conn: &mut DbConnection, keys: &Keys, policy: Policy) -> QueryResult<()> {
    let now = now_ms();
    let limits = [
        (&keys.account_at_address, policy.max_failures),
        (&keys.address, policy.ceiling),
        (&keys.account, policy.account_ceiling),
    ];
    crate::db::write(conn, |conn| {
        for (key, limit) in limits {
            let row: Option<(i32, i64)> = login_failures::table
                .find(key)
                .select((login_failures::failures, login_failures::window_start))
                .first(conn)
                .optional()?;
            match row {
                Some((failures, start)) if now - start <= policy.window_ms => {
                    let failures = failures + 1;
                    let lock = (failures >= limit).then_some(now + policy.lockout_ms);
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

/// After a right password: the counts against this account (only its own
/// secret clears them). The address's count stays, so that signing in on
/// one's own account is no way to wipe the failures run up against others.
pub fn clear(conn: &mut DbConnection, keys: &Keys) -> QueryResult<()> {
    diesel::delete(
        login_failures::table.filter(
            login_failures::throttle_key
                .eq(&keys.account_at_address)
                .or(login_failures::throttle_key.eq(&keys.account)),
        ),
    )
    .execute(conn)
    .map(|_| ())
}
