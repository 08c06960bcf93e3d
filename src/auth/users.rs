//! Staff accounts and subscriber sign-in.

use diesel::prelude::*;
use serde::Serialize;

use super::{password, AuthError, Role};
use crate::db::schema::{api_tokens, profiles, users};
use crate::db::{is_unique_violation, now_ms, DbConnection};
use crate::registry::audit::{self, EntityKind};
use crate::registry::identifiers::Mdn;
use crate::registry::Actor;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: i64,
    /// Moves whenever the account's open sessions must end (see [`end_sessions`]).
    #[serde(skip)]
    pub session_generation: i64,
    /// When an administrator deleted the account (see [`delete`]); the row
    /// stays as a tombstone that keeps its name.
    pub deleted_at: Option<i64>,
}

impl User {
    pub fn role(&self) -> Role {
        Role::parse_staff(&self.role).unwrap_or(Role::Care)
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// Refuses a change to a deleted account: it is kept only so that the
    /// history naming it stays readable.
    fn refuse_if_deleted(&self) -> Result<(), AuthError> {
        if self.is_deleted() {
            return Err(AuthError::Invalid(format!(
                "user {} has been deleted",
                self.username
            )));
        }
        Ok(())
    }
}

pub fn check_username(name: &str) -> Result<(), AuthError> {
    let ok = (2..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::Invalid(
            "a username is 2 to 64 letters, digits, '.', '_', '-' or '@'".into(),
        ))
    }
}

diesel::define_sql_function! {
    /// Lower case on both backends; usernames are ASCII (see `check_username`).
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// The accounts whose username is `username` in any case.
fn named_in_any_case(conn: &mut DbConnection, username: &str) -> QueryResult<Vec<User>> {
    users::table
        .filter(lower(users::username).eq(username.to_ascii_lowercase()))
        .select(User::as_select())
        .load(conn)
}

pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<User>> {
    users::table
        .order(users::username)
        .select(User::as_select())
        .load(conn)
}

pub fn get(conn: &mut DbConnection, id: i64) -> Result<User, AuthError> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AuthError::NotFound(format!("user {id}")))
}

/// Which of `usernames` name deleted accounts (tombstones), in one query
/// whatever their number, for lists that label a history's names (the
/// history records the exact name, so the match is exact).
pub fn deleted_among(
    conn: &mut DbConnection,
    usernames: &[&str],
) -> QueryResult<std::collections::HashSet<String>> {
    if usernames.is_empty() {
        return Ok(Default::default());
    }
    let mut deleted = std::collections::HashSet::new();
    // Chunked to stay well under either backend's limit of bound values.
    for names in usernames.chunks(1000) {
        deleted.extend(
            users::table
                .filter(users::username.eq_any(names))
                .filter(users::deleted_at.is_not_null())
                .select(users::username)
                .load::<String>(conn)?,
        );
    }
    Ok(deleted)
}

/// The account of `candidates` that `username` designates: the exact name
/// wins among accounts that clashed before names were unique in any case;
/// otherwise the only one there is.
fn designated(mut candidates: Vec<User>, username: &str) -> Option<User> {
    match candidates.iter().position(|u| u.username == username) {
        Some(i) => Some(candidates.swap_remove(i)),
        None if candidates.len() == 1 => candidates.pop(),
        None => None,
    }
}

/// The account a username designates, in any case, as sign-in finds it.
pub fn by_name(conn: &mut DbConnection, username: &str) -> Result<User, AuthError> {
    designated(named_in_any_case(conn, username)?, username)
        .ok_or_else(|| AuthError::NotFound(format!("user {username}")))
}

/// Refuses a change that leaves no enabled administrator besides `id`:
/// nobody could manage accounts or tokens in the portal any more (only the
/// command line could set that right). On PostgreSQL the administrators'
/// rows stay locked until the change commits, so two administrators
/// demoting each other at the same moment cannot both succeed; a SQLite
/// write transaction already excludes every other writer.
fn keep_an_admin(conn: &mut DbConnection, id: i64) -> Result<(), AuthError> {
    let q = users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .filter(users::disabled.eq(false))
        .select(users::id);
    let admins: Vec<i64> = match conn {
        DbConnection::Sqlite(c) => q.load(c)?,
        DbConnection::Postgres(c) => q.for_update().load(c)?,
    };
    if admins.iter().all(|a| *a == id) {
        return Err(AuthError::Invalid(
            "this is the only enabled administrator; make another user an administrator first"
                .into(),
        ));
    }
    Ok(())
}

/// Creates a staff account. Hashes with argon2, so call it from a blocking thread.
pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    username: &str,
    password: &str,
    role: Role,
) -> Result<User, AuthError> {
    check_username(username)?;
    password::check_strength(password)?;
    if role == Role::Subscriber {
        return Err(AuthError::Invalid(
            "subscribers sign in with their MDN and PIN, not an account".into(),
        ));
    }
    let hash = password::hash(password)?;
    crate::db::write(conn, |conn| {
        // Usernames are one whatever their case: `Admin` beside `admin` would
        // be two accounts nobody tells apart in a list or an audit trail.
        if let Some(taken) = named_in_any_case(conn, username)?.first() {
            if taken.is_deleted() {
                return Err(AuthError::Invalid(format!(
                    "the name {} belonged to a deleted account and stays reserved, so that \
                     the history naming it keeps meaning that person; choose another name",
                    taken.username
                )));
            }
            return Err(AuthError::Duplicate(format!("user {}", taken.username)));
        }
        diesel::insert_into(users::table)
            .values((
                users::username.eq(username),
                users::password_hash.eq(&hash),
                users::role.eq(role.as_str()),
                users::disabled.eq(false),
                users::created_at.eq(now_ms()),
            ))
            .execute(conn)
            .map_err(|e| {
                if is_unique_violation(&e) {
                    AuthError::Duplicate(format!("user {username}"))
                } else {
                    e.into()
                }
            })?;
        let user: User = users::table
            .filter(users::username.eq(username))
            .select(User::as_select())
            .first(conn)?;
        audit::record(
            conn,
            actor,
            EntityKind::User,
            user.id,
            "created",
            &serde_json::json!({"username": username, "role": role.as_str()}),
        )?;
        Ok(user)
    })
}

pub fn set_disabled(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i64,
    disabled: bool,
) -> Result<(), AuthError> {
    crate::db::write(conn, |conn| {
        let user = get(conn, id)?;
        user.refuse_if_deleted()?;
        if disabled && !user.disabled && user.role() == Role::Admin {
            keep_an_admin(conn, id)?;
        }
        diesel::update(users::table.find(id))
            .set((
                users::disabled.eq(disabled),
                users::session_generation.eq(users::session_generation + 1),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            actor,
            EntityKind::User,
            id,
            if disabled { "disabled" } else { "enabled" },
            &serde_json::json!({"username": user.username}),
        )?;
        Ok(())
    })
}

/// Sets a new password and ends the account's open sessions. Returns the
/// new session generation. Hashes with argon2, so call it from a blocking
/// thread.
pub fn set_password(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i64,
    password: &str,
) -> Result<i64, AuthError> {
    password::check_strength(password)?;
    let hash = password::hash(password)?;
    crate::db::write(conn, |conn| {
        get(conn, id)?.refuse_if_deleted()?;
        let generation: i64 = diesel::update(users::table.find(id))
            .set((
                users::password_hash.eq(hash),
                users::session_generation.eq(users::session_generation + 1),
            ))
            .returning(users::session_generation)
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            EntityKind::User,
            id,
            "password changed",
            &serde_json::Value::Null,
        )?;
        Ok(generation)
    })
}

/// Proves that `current` is the password of account `id`, before the
/// account's owner changes it: `BadCredentials` otherwise, as at sign-in,
/// so that the caller counts it in the sign-in throttle (a session holder
/// could otherwise guess at leisure). Looked up by id, not by the session's
/// name, so that it is this account's password whatever other account a
/// name in another case designates.
pub fn prove_own_password(
    conn: &mut DbConnection,
    id: i64,
    current: &str,
) -> Result<User, AuthError> {
    let me = get(conn, id)?;
    if me.disabled || me.is_deleted() || !password::verify(current, &me.password_hash) {
        return Err(AuthError::BadCredentials);
    }
    Ok(me)
}

/// Gives a staff user another role and ends their open sessions, which were
/// signed in with the old one. Returns the user as they were before, and
/// the new session generation (none when the role was already `role`).
pub fn set_role(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i64,
    role: Role,
) -> Result<(User, Option<i64>), AuthError> {
    if role == Role::Subscriber {
        return Err(AuthError::Invalid(
            "subscribers sign in with their MDN and PIN, not an account".into(),
        ));
    }
    crate::db::write(conn, |conn| {
        let user = get(conn, id)?;
        user.refuse_if_deleted()?;
        if user.role == role.as_str() {
            return Ok((user, None));
        }
        if user.role() == Role::Admin && !user.disabled {
            keep_an_admin(conn, id)?;
        }
        // The generation moves too, not only the role: a role changed and
        // changed back must not bring the sessions of the first one back.
        let generation: i64 = diesel::update(users::table.find(id))
            .set((
                users::role.eq(role.as_str()),
                users::session_generation.eq(users::session_generation + 1),
            ))
            .returning(users::session_generation)
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            EntityKind::User,
            id,
            "role changed",
            &serde_json::json!({"username": user.username, "from": user.role, "to": role.as_str()}),
        )?;
        Ok((user, Some(generation)))
    })
}

/// What deleting a staff account did.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub username: String,
    /// The API tokens the account had created and nobody had revoked, now revoked.
    pub revoked_tokens: Vec<String>,
}

/// The API tokens `username` created that nobody has revoked yet (id and
/// name): deleting the account revokes them.
pub fn unrevoked_tokens_of(
    conn: &mut DbConnection,
    username: &str,
) -> QueryResult<Vec<(i64, String)>> {
    api_tokens::table
        .filter(api_tokens::created_by.eq(Actor::User(username.to_string()).to_string()))
        .filter(api_tokens::revoked_at.is_null())
        .order(api_tokens::id)
        .select((api_tokens::id, api_tokens::name))
        .load(conn)
}

/// Deletes a staff account, as for a leaver: its open sessions end, it can
/// never sign in again, and the API tokens it created are revoked.
///
/// The row stays, as a tombstone that keeps the username, and the name is
/// never given to another account. The history records people by name as
/// text (`user:NAME` in the audit trail, package revisions, imports,
/// campaigns, purge runs): freeing the name would let a newcomer inherit
/// the leaver's trail in every reader's eyes. Nothing references the row
/// by key, so nothing cascades; keeping it also keeps the account's own
/// audit events (entity `user`, its id) pointing at a name.
///
/// API tokens belong to systems rather than people, but whoever created one
/// saw its secret once and may have kept it, so a leaver's tokens go with
/// them (the account's page lists them first, for replacements to be
/// issued beforehand).
pub fn delete(conn: &mut DbConnection, actor: &Actor, id: i64) -> Result<Deleted, AuthError> {
    crate::db::write(conn, |conn| {
        let user = get(conn, id)?;
        if matches!(actor, Actor::User(name) if *name == user.username) {
            return Err(AuthError::Invalid(
                "you cannot delete your own account".into(),
            ));
        }
        let already =
            || AuthError::Invalid(format!("user {} has already been deleted", user.username));
        if user.is_deleted() {
            return Err(already());
        }
        if user.role() == Role::Admin && !user.disabled {
            keep_an_admin(conn, id)?;
        }
        let now = now_ms();
        // `deleted_at IS NULL` again: on PostgreSQL a second deletion of the
        // same account waits for the first to commit, then finds no row.
        let n = diesel::update(users::table.find(id).filter(users::deleted_at.is_null()))
            .set((
                users::deleted_at.eq(now),
                users::disabled.eq(true),
                // Nothing may sign in with it, and a leaver's password hash
                // is nothing to keep.
                users::password_hash.eq(""),
                users::session_generation.eq(users::session_generation + 1),
            ))
            .execute(conn)?;
        if n == 0 {
            return Err(already());
        }
        let tokens = unrevoked_tokens_of(conn, &user.username)?;
        for (token_id, _) in &tokens {
            diesel::update(api_tokens::table.find(token_id))
                .set(api_tokens::revoked_at.eq(now))
                .execute(conn)?;
            audit::record(
                conn,
                actor,
                EntityKind::Token,
                *token_id,
                "revoked",
                &serde_json::json!({"reason": format!("its creator {} was deleted", user.username)}),
            )?;
        }
        let revoked_tokens: Vec<String> = tokens.into_iter().map(|(_, name)| name).collect();
        audit::record(
            conn,
            actor,
            EntityKind::User,
            id,
            "deleted",
            &serde_json::json!({
                "username": user.username,
                "role": user.role,
                "revoked_tokens": revoked_tokens,
            }),
        )?;
        Ok(Deleted {
            username: user.username,
            revoked_tokens,
        })
    })
}

/// Ends every open session of a staff user: the sessions carry the
/// generation they signed in with, and the next request of each finds it
/// moved (see [`staff_session_holds`]).
pub fn end_sessions(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::session_generation.eq(users::session_generation + 1))
        .execute(conn)
        .map(|_| ())
}

/// Whether a staff session signed in as `role` at `generation` may go on:
/// the account still exists, is enabled, has that role, and none of its
/// sessions has been ended since. One read by primary key, on every request.
pub fn staff_session_holds(
    conn: &mut DbConnection,
    id: i64,
    role: Role,
    generation: i64,
) -> QueryResult<bool> {
    let row: Option<(bool, String, i64)> = users::table
        .find(id)
        .select((users::disabled, users::role, users::session_generation))
        .first(conn)
        .optional()?;
    Ok(matches!(row, Some((false, r, g)) if r == role.as_str() && g == generation))
}

/// Checks a staff sign-in. Unknown users cost as much as known ones.
pub fn authenticate(
    conn: &mut DbConnection,
    username: &str,
    password: &str,
) -> Result<User, AuthError> {
    // Any case signs in, as usernames are unique in any case.
    match designated(named_in_any_case(conn, username)?, username) {
        Some(u) if !u.is_deleted() => {
            if password::verify(password, &u.password_hash) && !u.disabled {
                Ok(u)
            } else {
                Err(AuthError::BadCredentials)
            }
        }
        // A deleted account holds no password: it costs what an unknown
        // name costs, so the answer's time does not tell it apart either.
        _ => {
            password::verify(password, password::dummy_hash());
            Err(AuthError::BadCredentials)
        }
    }
}

/// A subscriber signed in with MDN + PIN: the profile they may see.
#[derive(Debug, Clone)]
pub struct SubscriberLogin {
    pub profile_id: i64,
    pub mdn: String,
    /// The line's credential stamp at sign-in (see [`subscriber_stamp`]).
    pub stamp: String,
}

/// Derived from the PIN's hash (new salt at every change, even to the same
/// PIN), the time of the line's last state change and the line's session
/// generation, so it moves when care sets a PIN, the line is de-activated
/// or the subscriber signs out.
fn credential_stamp(pin_hash: &str, state_changed_at: i64, generation: i64) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(pin_hash.as_bytes())
        .chain_update(state_changed_at.to_be_bytes())
        .chain_update(generation.to_be_bytes())
        .finalize();
    hex::encode(&digest[..16])
}

/// Ends every open session of a subscriber's line (signing out ends the
/// session everywhere its cookie was copied to, not only in this browser).
pub fn end_subscriber_sessions(conn: &mut DbConnection, profile_id: i64) -> QueryResult<()> {
    use crate::db::schema::subscriber_session_generations as g;
    crate::db::write(conn, |conn| {
        let n = diesel::update(g::table.find(profile_id))
            .set(g::generation.eq(g::generation + 1))
            .execute(conn)?;
        if n == 0 {
            diesel::insert_into(g::table)
                .values((g::profile_id.eq(profile_id), g::generation.eq(1)))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// A line's PIN hash, time of its last state change and session generation.
type StampParts = (Option<String>, i64, Option<i64>);

fn stamp_parts() -> (
    profiles::pin_hash,
    profiles::state_changed_at,
    diesel::dsl::Nullable<crate::db::schema::subscriber_session_generations::generation>,
) {
    use crate::db::schema::subscriber_session_generations as g;
    (
        profiles::pin_hash,
        profiles::state_changed_at,
        g::generation.nullable(),
    )
}

/// The stamp a subscriber's session must carry to be accepted: a session
/// signed in before the PIN was set again or the line changed state is
/// over. `None` when the line is gone or has no PIN (nobody may sign in).
pub fn subscriber_stamp(conn: &mut DbConnection, profile_id: i64) -> QueryResult<Option<String>> {
    let row: Option<StampParts> = profiles::table
        .left_join(crate::db::schema::subscriber_session_generations::table)
        .filter(profiles::id.eq(profile_id))
        .select(stamp_parts())
        .first(conn)
        .optional()?;
    Ok(match row {
        Some((Some(hash), changed, generation)) => {
            Some(credential_stamp(&hash, changed, generation.unwrap_or(0)))
        }
        _ => None,
    })
}

pub fn authenticate_subscriber(
    conn: &mut DbConnection,
    mdn: &str,
    pin: &str,
) -> Result<SubscriberLogin, AuthError> {
    let Ok(mdn) = Mdn::parse(mdn) else {
        password::verify(pin, password::dummy_hash());
        return Err(AuthError::BadCredentials);
    };
    let row: Option<(i64, StampParts)> = profiles::table
        .left_join(crate::db::schema::subscriber_session_generations::table)
        .filter(profiles::mdn.eq(mdn.as_str()))
        .select((profiles::id, stamp_parts()))
        .first(conn)
        .optional()?;
    match row {
        Some((id, (Some(hash), changed, generation))) if password::verify(pin, &hash) => {
            Ok(SubscriberLogin {
                profile_id: id,
                mdn: mdn.to_string(),
                stamp: credential_stamp(&hash, changed, generation.unwrap_or(0)),
            })
        }
        _ => {
            password::verify(pin, password::dummy_hash());
            Err(AuthError::BadCredentials)
        }
    }
}

/// On first start with no users, creates `admin`. Returns the generated
/// password when none was configured, so the caller can print it once.
pub fn bootstrap_admin(
    conn: &mut DbConnection,
    configured: Option<&str>,
) -> Result<Option<String>, AuthError> {
    if count(conn)? > 0 {
        return Ok(None);
    }
    let (password, generated) = match configured {
        Some(p) => (p.to_string(), false),
        None => (password::random_secret(12), true),
    };
    match create(
        conn,
        &Actor::System("bootstrap"),
        "admin",
        &password,
        Role::Admin,
    ) {
        Ok(_) => Ok(generated.then_some(password)),
        // Another node starting at the same moment created it first.
        Err(AuthError::Duplicate(_)) => Ok(None),
        Err(e) => Err(e),
    }
}
