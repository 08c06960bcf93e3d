//! Staff accounts and subscriber sign-in.

use diesel::prelude::*;
use serde::Serialize;

use super::{password, AuthError, Role};
use crate::db::schema::{profiles, users};
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
}

impl User {
    pub fn role(&self) -> Role {
        Role::parse_staff(&self.role).unwrap_or(Role::Care)
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
        diesel::update(users::table.find(id))
            .set(users::disabled.eq(disabled))
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

pub fn set_password(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i64,
    password: &str,
) -> Result<(), AuthError> {
    password::check_strength(password)?;
    let hash = password::hash(password)?;
    crate::db::write(conn, |conn| {
        get(conn, id)?;
        diesel::update(users::table.find(id))
            .set(users::password_hash.eq(hash))
            .execute(conn)?;
        audit::record(
            conn,
            actor,
            EntityKind::User,
            id,
            "password changed",
            &serde_json::Value::Null,
        )?;
        Ok(())
    })
}

/// Checks a staff sign-in. Unknown users cost as much as known ones.
pub fn authenticate(
    conn: &mut DbConnection,
    username: &str,
    password: &str,
) -> Result<User, AuthError> {
    let user: Option<User> = users::table
        .filter(users::username.eq(username))
        .select(User::as_select())
        .first(conn)
        .optional()?;
    match user {
        Some(u) if password::verify(password, &u.password_hash) && !u.disabled => Ok(u),
        Some(_) => Err(AuthError::BadCredentials),
        None => {
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
    let row: Option<(i64, Option<String>)> = profiles::table
        .filter(profiles::mdn.eq(mdn.as_str()))
        .select((profiles::id, profiles::pin_hash))
        .first(conn)
        .optional()?;
    match row {
        Some((id, Some(hash))) if password::verify(pin, &hash) => Ok(SubscriberLogin {
            profile_id: id,
            mdn: mdn.to_string(),
        }),
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
