//! Per-device OMA-DM credentials: what the device proves itself with, what
//! the server proves itself with, and the nonces each side uses next.
//! The digests and the OMA CP bootstrap need the shared secrets themselves,
//! so they are stored sealed by the node's [`Vault`], not hashed.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::dm_accounts;
use crate::db::{is_foreign_key_violation, is_unique_violation, now_ms, DbConnection};
use crate::registry::audit::{self, EntityKind};
use crate::registry::{Actor, RegistryError};
use crate::secrets::{self, SecretsError, Vault};

/// A DM account, its secrets in clear (read through [`get`]).
#[derive(Debug, Clone, Serialize)]
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

/// The row as stored: the passwords sealed.
#[derive(Queryable, Selectable)]
#[diesel(table_name = dm_accounts)]
struct Stored {
    device_id: i64,
    server_id: String,
    server_password: String,
    client_username: String,
    client_password: String,
    client_nonce: String,
    server_nonce: String,
    updated_at: i64,
}

/// The associated data a secret is sealed under: its column and its row.
fn sealed_as(column: &str, device_id: i64) -> String {
    format!("dm_accounts.{column}:{device_id}")
}

/// A stored secret of `column` for device `from`, sealed again for device
/// `to`: a device restored from the offline archive comes back under a new
/// id, and a value sealed for its old row would not open in the new one.
pub fn reseal_for_device(
    vault: &Vault,
    column: &str,
    from: i64,
    to: i64,
    stored: &str,
) -> Result<String, SecretsError> {
    let plain = vault.open(&sealed_as(column, from), stored)?;
    Ok(vault.seal(&sealed_as(column, to), &plain))
}

impl Stored {
    fn open(self, vault: &Vault) -> QueryResult<DmAccount> {
        let open = |column, value: &str| {
            vault
                .open(&sealed_as(column, self.device_id), value)
                .map_err(unreadable)
        };
        Ok(DmAccount {
            server_password: open("server_password", &self.server_password)?,
            client_password: open("client_password", &self.client_password)?,
            device_id: self.device_id,
            server_id: self.server_id,
            client_username: self.client_username,
            client_nonce: self.client_nonce,
            server_nonce: self.server_nonce,
            updated_at: self.updated_at,
        })
    }
}

/// A secret this node cannot open is a row it cannot read: the error says
/// which, and is logged where the read fails.
fn unreadable(e: SecretsError) -> diesel::result::Error {
    tracing::error!(error = %e, "OMA-DM account unreadable: check MDM_SECRETS_KEY / secrets.key");
    diesel::result::Error::DeserializationError(Box::new(e))
}

impl DmAccount {
    pub fn client_nonce_bytes(&self) -> Vec<u8> {
        B64.decode(&self.client_nonce).unwrap_or_default()
    }
    pub fn server_nonce_bytes(&self) -> Vec<u8> {
        B64.decode(&self.server_nonce).unwrap_or_default()
    }
}

pub fn get(
    conn: &mut DbConnection,
    vault: &Vault,
    device_id: i64,
) -> QueryResult<Option<DmAccount>> {
    crate::native!(conn, |c| dm_accounts::table
        .find(device_id)
        .select(Stored::as_select())
        .first(c)
        .optional())?
    .map(|s| s.open(vault))
    .transpose()
}

/// Checks that `vault` opens the secrets already stored (the newest
/// device's sealed account), so a node or command given another key than the others
/// stops before it writes secrets no other node can read.
pub fn check_vault(conn: &mut DbConnection, vault: &Vault) -> Result<(), VaultMismatch> {
    let latest: Option<Stored> = dm_accounts::table
        .filter(dm_accounts::server_password.like(secrets::LIKE_SEALED))
        // The primary key's order: the first sealed row from the end is
        // found without reading the table.
        .order(dm_accounts::device_id.desc())
        .select(Stored::as_select())
        .first(conn)
        .optional()
        .map_err(|e| VaultMismatch::Db(e.to_string()))?;
    let Some(latest) = latest else {
        return Ok(());
    };
    let device_id = latest.device_id;
    let opens = vault
        .open(
            &sealed_as("server_password", device_id),
            &latest.server_password,
        )
        .is_ok();
    if opens {
        Ok(())
    } else {
        Err(VaultMismatch::WrongKey(device_id))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VaultMismatch {
    #[error(
        "this node's secrets key does not open the OMA-DM secrets stored in the database \
         (device {0}'s): give it the MDM_SECRETS_KEY (or the data dir's \
         secrets.key) of the nodes that wrote them"
    )]
    WrongKey(i64),
    #[error("cannot read the stored OMA-DM accounts: {0}")]
    Db(String),
}

/// The accounts with a secret not sealed yet, written as the partial index
/// `dm_accounts_in_clear` is (migration 2026-11-30-000032): a planner uses a
/// partial index only for a query that carries its condition, literally (a
/// bound pattern would not do: SQLite's planner does not look at bound
/// values, PostgreSQL's generic plan neither).
pub const IN_CLEAR: &str = "(server_password NOT LIKE 'sealed:v1:%' \
                            OR client_password NOT LIKE 'sealed:v1:%')";

/// Seals, under the current key, the secrets of accounts stored in clear
/// (by a release before sealing, or a bulk load) and, during a key
/// rotation, those sealed by the key being retired; a batch at a time.
/// Returns how many accounts it re-sealed. Run at start: values already
/// sealed under the current key are left alone, and outside a rotation the
/// accounts to seal are found through the partial index of those in clear,
/// so a start with nothing to do reads no account at all; safe on several
/// nodes at once.
pub fn seal_stored_secrets(conn: &mut DbConnection, vault: &Vault) -> QueryResult<usize> {
    const BATCH: i64 = 500;
    let mut resealed = 0;
    let mut after = i64::MIN;
    loop {
        let mut query = dm_accounts::table
            .filter(dm_accounts::device_id.gt(after))
            .order(dm_accounts::device_id)
            .select((
                dm_accounts::device_id,
                dm_accounts::server_password,
                dm_accounts::client_password,
            ))
            .limit(BATCH)
            .into_boxed();
        // Outside a rotation only values in clear can need sealing.
        if !vault.is_rotating() {
            query = query.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(IN_CLEAR));
        }
        let batch: Vec<(i64, String, String)> = query.load(conn)?;
        let Some(last) = batch.last() else {
            return Ok(resealed);
        };
        after = last.0;
        resealed += crate::db::write(conn, |conn| -> QueryResult<usize> {
            let mut n = 0;
            for (device_id, server_password, client_password) in &batch {
                let reseal = |column, value: &String| -> Option<String> {
                    let what = sealed_as(column, *device_id);
                    if !vault.needs_sealing(&what, value) {
                        return Some(value.clone());
                    }
                    match vault.open(&what, value) {
                        Ok(plain) => Some(vault.seal(&what, &plain)),
                        Err(e) => {
                            tracing::warn!(device = device_id, error = %e, "a stored DM secret opens with no key; left as it is");
                            None
                        }
                    }
                };
                let (Some(server), Some(client)) = (
                    reseal("server_password", server_password),
                    reseal("client_password", client_password),
                ) else {
                    continue;
                };
                if &server == server_password && &client == client_password {
                    continue;
                }
                // Only a value still as read is replaced: a node sealing
                // at the same moment, or a new password, wins.
                n += diesel::update(
                    dm_accounts::table
                        .find(device_id)
                        .filter(dm_accounts::server_password.eq(server_password))
                        .filter(dm_accounts::client_password.eq(client_password)),
                )
                .set((
                    dm_accounts::server_password.eq(server),
                    dm_accounts::client_password.eq(client),
                ))
                .execute(conn)?;
            }
            Ok(n)
        })?;
    }
}

/// The credentials an operator gives a device, in clear.
pub struct Credentials<'a> {
    pub server_id: &'a str,
    pub client_username: &'a str,
    pub client_password: &'a str,
    pub server_password: &'a str,
}

/// What an operator gives a device (device page, API, command line): the
/// user name is the device's DevId, the server id defaults to `mdm`, and a
/// server password left out is generated.
pub struct Given<'a> {
    pub client_password: &'a str,
    pub server_password: Option<&'a str>,
    pub server_id: Option<&'a str>,
}

/// The account [`issue`] stored, and the server password it generated (to
/// be shown once: it cannot be read back from anywhere but the vault).
pub struct Issued {
    pub account: DmAccount,
    pub generated_server_password: Option<String>,
}

/// Sets a device's credentials from what an operator gave.
pub fn issue(
    conn: &mut DbConnection,
    vault: &Vault,
    actor: &Actor,
    device_id: i64,
    given: &Given<'_>,
) -> Result<Issued, RegistryError> {
    let device = crate::registry::device::get(conn, device_id)?;
    if device.is_deactivated() {
        return Err(RegistryError::Conflict(
            "this handset has been de-activated: it is no longer managed over the air, so it gets no OMA-DM credentials"
                .into(),
        ));
    }
    let generated = given
        .server_password
        .filter(|p| !p.is_empty())
        .is_none()
        .then(|| crate::auth::password::random_secret(12));
    let server_password = generated
        .as_deref()
        .or(given.server_password)
        .unwrap_or_default();
    let account = set(
        conn,
        vault,
        actor,
        device_id,
        &Credentials {
            server_id: given
                .server_id
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .unwrap_or("mdm"),
            client_username: &super::engine::dev_id_of(&device),
            client_password: given.client_password,
            server_password,
        },
    )?;
    Ok(Issued {
        account,
        generated_server_password: generated,
    })
}

/// Sets (or replaces) a device's credentials; nonces start fresh.
pub fn set(
    conn: &mut DbConnection,
    vault: &Vault,
    actor: &Actor,
    device_id: i64,
    credentials: &Credentials<'_>,
) -> Result<DmAccount, RegistryError> {
    let Credentials {
        server_id,
        client_username,
        client_password,
        server_password,
    } = *credentials;
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
        let account = DmAccount {
            device_id,
            server_id: server_id.to_string(),
            server_password: server_password.to_string(),
            client_username: client_username.to_string(),
            client_password: client_password.to_string(),
            client_nonce: B64.encode(super::auth::new_nonce()),
            server_nonce: B64.encode(super::auth::new_nonce()),
            updated_at: now_ms(),
        };
        diesel::delete(dm_accounts::table.find(device_id)).execute(conn)?;
        diesel::insert_into(dm_accounts::table)
            .values((
                dm_accounts::device_id.eq(device_id),
                dm_accounts::server_id.eq(server_id),
                dm_accounts::server_password
                    .eq(vault.seal(&sealed_as("server_password", device_id), server_password)),
                dm_accounts::client_username.eq(client_username),
                dm_accounts::client_password
                    .eq(vault.seal(&sealed_as("client_password", device_id), client_password)),
                dm_accounts::client_nonce.eq(&account.client_nonce),
                dm_accounts::server_nonce.eq(&account.server_nonce),
                dm_accounts::updated_at.eq(account.updated_at),
            ))
            .execute(conn)
            .map_err(|e| {
                if is_unique_violation(&e) {
                    RegistryError::Duplicate(format!(
                        "the DM user name {client_username} belongs to another device"
                    ))
                } else if is_foreign_key_violation(&e) {
                    // The device's row is the foreign key's to check.
                    RegistryError::NotFound(format!("device {device_id}"))
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
        Ok(account)
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
