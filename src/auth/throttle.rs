//! Sign-in throttling. Failures are counted in the database so that every
//! server node sees the same count, under three keys: the account from one
//! client address (locked after a few failures: someone's typos lock only
//! themselves, not everyone behind the same NAT or proxy), the address alone
//! (locked only at a much higher ceiling, against one address spraying many
//! accounts) and the account alone (against many addresses guessing one: at
//! the ceiling for staff, at the strict limit for a subscriber's short PIN).

use diesel::prelude::*;

use super::AuthError;
use crate::config::Config;
use crate::db::schema::login_failures;
use crate::db::{now_ms, DbConnection};
use crate::registry::identifiers::Mdn;

/// The bounds `MDM_LOGIN_*` must keep to. A window or lock of zero or less
/// would turn throttling off without a word, and one past a day is a
/// mistake (a day-long lock is already a denial of service on oneself); a
/// limit under one failure locks on none, and a ceiling under the
/// per-address limit would lock a staff account before its own count did.
pub const MAX_FAILURES: std::ops::RangeInclusive<i32> = 1..=100;
pub const CEILING_MAX: i32 = 100_000;
pub const SECONDS: std::ops::RangeInclusive<i64> = 1..=86_400;

/// Why an `MDM_LOGIN_*` value is refused, naming the variable.
pub fn check_settings(
    max_failures: i32,
    ceiling: i32,
    window_secs: i64,
    lockout_secs: i64,
) -> Result<(), (&'static str, String)> {
    if !MAX_FAILURES.contains(&max_failures) {
        return Err((
            "MDM_LOGIN_MAX_FAILURES",
            format!(
                "{max_failures} is not from {} to {} failures",
                MAX_FAILURES.start(),
                MAX_FAILURES.end()
            ),
        ));
    }
    if !(max_failures..=CEILING_MAX).contains(&ceiling) {
        return Err((
            "MDM_LOGIN_CEILING",
            format!(
                "{ceiling} is not from MDM_LOGIN_MAX_FAILURES ({max_failures}) to {CEILING_MAX} failures"
            ),
        ));
    }
    for (name, secs) in [
        ("MDM_LOGIN_WINDOW_SECS", window_secs),
        ("MDM_LOGIN_LOCKOUT_SECS", lockout_secs),
    ] {
        if !SECONDS.contains(&secs) {
            return Err((
                name,
                format!(
                    "{secs} is not from {} to {} seconds (a day)",
                    SECONDS.start(),
                    SECONDS.end()
                ),
            ));
        }
    }
    Ok(())
}

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

impl Policy {
    fn new(config: &Config, account_ceiling: i32) -> Policy {
        Policy {
            max_failures: config.login_max_failures,
            ceiling: config.login_ceiling,
            account_ceiling,
            // The settings are bounded to a day at start; saturating all the
            // same, as an overflow here would lift every lock.
            window_ms: config.login_window_secs.saturating_mul(1000),
            lockout_ms: config.login_lockout_secs.saturating_mul(1000),
        }
    }

    /// A staff account's password.
    pub fn staff(config: &Config) -> Policy {
        Policy::new(config, config.login_ceiling)
    }

    /// A subscriber line's PIN.
    pub fn line(config: &Config) -> Policy {
        Policy::new(config, config.login_max_failures)
    }
}

/// The throttle key of a staff account: usernames are one in any case.
pub fn staff_account(username: &str) -> String {
    format!("user:{}", username.trim().to_ascii_lowercase())
}

/// The throttle key of a line: one per real line, however its MDN was
/// spelled, so that another spelling is no way round a lock.
pub fn line_account(mdn: &str) -> String {
    match Mdn::parse(mdn) {
        Ok(mdn) => format!("mdn:{mdn}"),
        Err(_) => format!("mdn:{}", mdn.trim()),
    }
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

/// Counts one failure under each key, and locks a key whose count reaches
/// its limit: with a limit of one, at the first failure.
///
/// One upsert per key, its count worked out by the database from the row
/// as it stands: two nodes counting the first failure of a key at once
/// would otherwise both insert it (the second a unique violation, a 500
/// for a mere wrong password), and two counting a later one would both
/// read the same count and write the same next one, losing a failure.
pub fn record_failure(conn: &mut DbConnection, keys: &Keys, policy: Policy) -> QueryResult<()> {
    use diesel::dsl::case_when;
    use diesel::sql_types::{BigInt, Bool};
    let now = now_ms();
    // A count whose window has passed starts again at this failure.
    let window_from = now.saturating_sub(policy.window_ms);
    let lock = now.saturating_add(policy.lockout_ms);
    let limits = [
        (&keys.account_at_address, policy.max_failures),
        (&keys.address, policy.ceiling),
        (&keys.account, policy.account_ceiling),
    ];
    crate::db::write(conn, |conn| {
        for (key, limit) in limits {
            let in_window = || login_failures::window_start.ge(window_from);
            // This failure is the first of a count: it locks only at a limit of one.
            let first_locks = limit <= 1;
            crate::native!(conn, |c| diesel::insert_into(login_failures::table)
                .values((
                    login_failures::throttle_key.eq(key),
                    login_failures::failures.eq(1),
                    login_failures::window_start.eq(now),
                    login_failures::locked_until.eq(first_locks.then_some(lock)),
                ))
                .on_conflict(login_failures::throttle_key)
                .do_update()
                .set((
                    login_failures::failures.eq(case_when(
                        in_window(),
                        login_failures::failures + 1,
                    )
                    .otherwise(1)),
                    login_failures::window_start.eq(case_when(
                        in_window(),
                        login_failures::window_start,
                    )
                    .otherwise(now)),
                    // Locked when the count this failure makes reaches the
                    // limit: the stored count one short of it in the window,
                    // or a count starting again at a limit of one.
                    login_failures::locked_until.eq(case_when::<_, _, BigInt>(
                        in_window()
                            .and(login_failures::failures.ge(limit.saturating_sub(1)))
                            .or(first_locks.into_sql::<Bool>()),
                        lock,
                    )),
                ))
                .execute(c))?;
        }
        Ok(())
    })
}

/// Checks a secret behind the throttle, the same way wherever one is
/// asked for (sign-in, and the current password or PIN before a change,
/// which a session holder could otherwise guess at leisure): refused while
/// a lock covers the keys, a wrong one (`BadCredentials`) counted, a right
/// one clearing the account's counts. `check` proves the secret and no
/// more: what a change then refuses (a new password too short, say) is
/// judged after, so that it cannot keep the count of someone who has just
/// proved their secret.
pub fn guarded<T>(
    conn: &mut DbConnection,
    keys: &Keys,
    policy: Policy,
    check: impl FnOnce(&mut DbConnection) -> Result<T, AuthError>,
) -> Result<T, AuthError> {
    if let Some(secs) = locked_for(conn, keys)? {
        return Err(AuthError::Throttled(secs));
    }
    let outcome = check(conn);
    match &outcome {
        Ok(_) => clear(conn, keys)?,
        Err(AuthError::BadCredentials) => record_failure(conn, keys, policy)?,
        Err(_) => {}
    }
    outcome
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_that_would_turn_throttling_off_or_lock_everyone_are_refused() {
        assert!(check_settings(5, 50, 900, 900).is_ok());
        assert!(check_settings(1, 1, 1, 86_400).is_ok());
        let refused = |f, c, w, l| check_settings(f, c, w, l).unwrap_err().0;
        assert_eq!(refused(0, 50, 900, 900), "MDM_LOGIN_MAX_FAILURES");
        assert_eq!(refused(-3, 50, 900, 900), "MDM_LOGIN_MAX_FAILURES");
        assert_eq!(refused(5, 0, 900, 900), "MDM_LOGIN_CEILING");
        assert_eq!(refused(5, 4, 900, 900), "MDM_LOGIN_CEILING");
        for w in [0, -900, i64::MAX, 86_401] {
            assert_eq!(refused(5, 50, w, 900), "MDM_LOGIN_WINDOW_SECS");
            assert_eq!(refused(5, 50, 900, w), "MDM_LOGIN_LOCKOUT_SECS");
        }
    }

    #[test]
    fn every_spelling_of_a_line_or_a_username_shares_one_key() {
        for m in ["6462000002", "+1 646 200 0002", "(646) 200-0002"] {
            assert_eq!(line_account(m), "mdn:6462000002");
        }
        assert_eq!(staff_account("Admin"), "user:admin");
    }
}
