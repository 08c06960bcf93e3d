//! Per-device OMA-DM credentials: what the device proves itself with, what
//! the server proves itself with, and the nonces each side uses next.
//! The digests need the shared secrets themselves, so they are stored as
//! given (protect the database as the key store it is).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::dm_accounts;
use crate::db::{is_unique_violation, now_ms, DbConnection};
use crate::registry::audit::{self, EntityKind};
use crate::registry::{Actor, RegistryError};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = dm_accounts)]
pub struct DmAccount {
    pub device_id: i64,
    pub server_id: String,
    #[serde(skip)]
    pub server_password: String,
    pub client_username: String,
    #[serde(skip)]
    pub client_password: String,
    pub client_nonce: String,
    pub server_nonce: String,
    pub updated_at: i64,
}

impl DmAccount {
    pub fn client_nonce_bytes(&self) -> Vec<u8> {
        B64.decode(&self.client_nonce).unwrap_or_default()
    }
    pub fn server_nonce_bytes(&self) -> Vec<u8> {
        B64.decode(&self.server_nonce).unwrap_or_default()
    }
}

pub fn get(conn: &mut DbConnection, device_id: i64) -> QueryResult<Option<DmAccount>> {
    crate::native!(conn, |c| dm_accounts::table
        .find(device_id)
        .select(DmAccount::as_select())
        .first(c)
        .optional())
}

pub fn by_username(conn: &mut DbConnection, username: &str) -> QueryResult<Option<DmAccount>> {
    dm_accounts::table
        .filter(dm_accounts::client_username.eq(username))
        .select(DmAccount::as_select())
        .first(conn)
        .optional()
}

/// Sets (or replaces) a device's credentials; nonces start fresh.
pub fn set(
    conn: &mut DbConnection,
    actor: &Actor,
    device_id: i64,
    server_id: &str,
    client_username: &str,
    client_password: &str,
    server_password: &str,
) -> Result<DmAccount, RegistryError> {
    let mut errors = crate::registry::FieldErrors::new();
    for (field, value, min) in [
        ("server_id", server_id, 1),
        ("client_username", client_username, 1),
        ("client_password", client_password, 8),
        ("server_password", server_password, 8),
    ] {
        if value.chars().count() < min || value.len() > 128 || value.chars().any(char::is_control) {
            errors.insert(
                field.into(),
                format!("must be {min} to 128 printable characters"),
            );
        }
    }
    if !errors.is_empty() {
        return Err(RegistryError::Invalid(errors));
    }
    crate::db::write(conn, |conn| {
        crate::registry::device::get(conn, device_id)?;
        let now = now_ms();
        let client_nonce = B64.encode(super::auth::new_nonce());
        let server_nonce = B64.encode(super::auth::new_nonce());
        diesel::delete(dm_accounts::table.find(device_id)).execute(conn)?;
        diesel::insert_into(dm_accounts::table)
            .values((
                dm_accounts::device_id.eq(device_id),
                dm_accounts::server_id.eq(server_id),
                dm_accounts::server_password.eq(server_password),
                dm_accounts::client_username.eq(client_username),
                dm_accounts::client_password.eq(client_password),
                dm_accounts::client_nonce.eq(&client_nonce),
                dm_accounts::server_nonce.eq(&server_nonce),
                dm_accounts::updated_at.eq(now),
            ))
            .execute(conn)
            .map_err(|e| {
                if is_unique_violation(&e) {
                    RegistryError::Duplicate(format!(
                        "the DM user name {client_username} belongs to another device"
                    ))
                } else {
                    e.into()
                }
            })?;
        audit::record(
            conn,
            actor,
            EntityKind::Device,
            device_id,
            "OMA-DM credentials set",
            &serde_json::json!({"server_id": server_id, "client_username": client_username}),
        )?;
        get(conn, device_id)?
            .ok_or_else(|| RegistryError::NotFound(format!("DM account of device {device_id}")))
    })
}

/// Stores the nonce the device must use next, after it has been sent in a Chal.
pub fn set_client_nonce(conn: &mut DbConnection, device_id: i64, nonce: &[u8]) -> QueryResult<()> {
    let changes = (
        dm_accounts::client_nonce.eq(B64.encode(nonce)),
        dm_accounts::updated_at.eq(now_ms()),
    );
    crate::native!(conn, |c| crate::db::fixed_update(
        dm_accounts::table.find(device_id),
        changes
    )
    .execute(c))
    .map(|_| ())
}

pub fn set_server_nonce(conn: &mut DbConnection, device_id: i64, nonce: &[u8]) -> QueryResult<()> {
    let changes = (
        dm_accounts::server_nonce.eq(B64.encode(nonce)),
        dm_accounts::updated_at.eq(now_ms()),
    );
    crate::native!(conn, |c| crate::db::fixed_update(
        dm_accounts::table.find(device_id),
        changes
    )
    .execute(c))
    .map(|_| ())
}
