//! API tokens for billing, POS and care systems. A token is shown once and
//! stored only as its SHA-256: it is a long random secret, so a fast hash is
//! safe and lets each request be checked with one indexed lookup.

use diesel::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{password, AuthError, Role};
use crate::db::schema::api_tokens;
use crate::db::{now_ms, DbConnection};
use crate::registry::audit::{self, EntityKind};
use crate::registry::Actor;

pub const PREFIX: &str = "mdm_";

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    #[serde(skip)]
    pub token_hash: String,
    pub role: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl ApiToken {
    pub fn role(&self) -> Role {
        Role::parse_staff(&self.role).unwrap_or(Role::Care)
    }

    pub fn status(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        }
    }
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Serialises the name checks of token creations on PostgreSQL, where two
/// transactions would otherwise both find a name free and both take it; a
/// SQLite write transaction already excludes every other writer. (An index
/// cannot say it: a token stops being active by expiring, with no write.)
const NAME_LOCK: i64 = 0x6d64_6d5f_746f_6b65; // "mdm_toke"

/// Refuses `name` while an active token bears it in any ASCII case: the
/// list and the audit trail (`api:NAME`) tell tokens apart by name only.
fn refuse_active_name(conn: &mut DbConnection, name: &str, now: i64) -> Result<(), AuthError> {
    if let DbConnection::Postgres(c) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({NAME_LOCK})")).execute(c)?;
    }
    let taken: Vec<String> = api_tokens::table
        .filter(api_tokens::revoked_at.is_null())
        .filter(
            api_tokens::expires_at
                .is_null()
                .or(api_tokens::expires_at.gt(now)),
        )
        .select(api_tokens::name)
        .load(conn)?;
    match taken.iter().find(|t| t.eq_ignore_ascii_case(name)) {
        Some(t) => Err(AuthError::Invalid(format!(
            "an active token is already named {t}: choose another name, or revoke that token first"
        ))),
        None => Ok(()),
    }
}

/// Creates a token and returns it with its one-time secret.
pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    name: &str,
    role: Role,
    valid_for_days: Option<i64>,
) -> Result<(ApiToken, String), AuthError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(AuthError::Invalid(
            "a token name is 1 to 64 characters".into(),
        ));
    }
    if role == Role::Subscriber {
        return Err(AuthError::Invalid("API tokens hold a staff role".into()));
    }
    if let Some(d) = valid_for_days {
        if !(1..=3650).contains(&d) {
            return Err(AuthError::Invalid(
                "a token is valid for 1 to 3650 days".into(),
            ));
        }
    }
    let secret = format!("{PREFIX}{}", password::random_secret(24));
    let hash = digest(&secret);
    let now = now_ms();
    let token = crate::db::write(conn, |conn| -> Result<ApiToken, AuthError> {
        refuse_active_name(conn, name, now)?;
        diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::name.eq(name),
                api_tokens::token_hash.eq(&hash),
                api_tokens::role.eq(role.as_str()),
                api_tokens::created_by.eq(actor.to_string()),
                api_tokens::created_at.eq(now),
                api_tokens::expires_at.eq(valid_for_days.map(|d| now + d * 86_400_000)),
            ))
            .execute(conn)?;
        let token: ApiToken = api_tokens::table
            .filter(api_tokens::token_hash.eq(&hash))
            .select(ApiToken::as_select())
            .first(conn)?;
        audit::record(
            conn,
            actor,
            EntityKind::Token,
            token.id,
            "created",
            &serde_json::json!({"name": name, "role": role.as_str(), "expires_at": token.expires_at}),
        )?;
        Ok(token)
    })?;
    Ok((token, secret))
}

pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<ApiToken>> {
    api_tokens::table
        .order(api_tokens::id.desc())
        .select(ApiToken::as_select())
        .load(conn)
}

pub fn revoke(conn: &mut DbConnection, actor: &Actor, id: i64) -> Result<(), AuthError> {
    crate::db::write(conn, |conn| {
        let n = diesel::update(
            api_tokens::table
                .find(id)
                .filter(api_tokens::revoked_at.is_null()),
        )
        .set(api_tokens::revoked_at.eq(now_ms()))
        .execute(conn)?;
        if n == 0 {
            return Err(AuthError::NotFound(format!("active token {id}")));
        }
        audit::record(
            conn,
            actor,
            EntityKind::Token,
            id,
            "revoked",
            &serde_json::Value::Null,
        )?;
        Ok(())
    })
}

#[derive(Debug, thiserror::Error)]
pub enum TokenRejection {
    #[error("unknown API token")]
    Unknown,
    #[error("this API token has expired")]
    Expired,
    #[error("this API token has been revoked")]
    Revoked,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

/// Checks a presented secret and records its use.
pub fn authenticate(conn: &mut DbConnection, secret: &str) -> Result<ApiToken, TokenRejection> {
    let token: ApiToken = api_tokens::table
        .filter(api_tokens::token_hash.eq(digest(secret)))
        .select(ApiToken::as_select())
        .first(conn)
        .optional()?
        .ok_or(TokenRejection::Unknown)?;
    let now = now_ms();
    if token.revoked_at.is_some() {
        return Err(TokenRejection::Revoked);
    }
    if token.expires_at.is_some_and(|e| e <= now) {
        return Err(TokenRejection::Expired);
    }
    // Only write when the recorded use is a minute old, to keep reads read-only.
    if token.last_used_at.is_none_or(|t| now - t > 60_000) {
        diesel::update(api_tokens::table.find(token.id))
            .set(api_tokens::last_used_at.eq(now))
            .execute(conn)?;
    }
    Ok(token)
}

/// Test and operations helper: moves a token's expiry (e.g. to the past).
pub fn set_expiry(conn: &mut DbConnection, id: i64, expires_at: Option<i64>) -> QueryResult<usize> {
    diesel::update(api_tokens::table.find(id))
        .set(api_tokens::expires_at.eq(expires_at))
        .execute(conn)
}
