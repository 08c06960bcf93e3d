//! The SSPR tables: the Preferred Roaming Lists the OTAF can download,
//! each filed under the SSPR table number that customer profiles refer to.

use diesel::prelude::*;
use serde::Serialize;

use super::is683::Prl;
use super::IotaError;
use crate::db::schema::prls;
use crate::db::{is_unique_violation, now_ms, DbConnection};
use crate::registry::Actor;

/// Largest PRL accepted: PR_LIST_SIZE is 16 bits.
pub const MAX_PRL_BYTES: usize = 65_535;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = prls)]
pub struct StoredPrl {
    pub id: i64,
    pub sspr_table: i32,
    pub prl_id: i32,
    pub name: String,
    #[serde(skip)]
    pub bytes: Vec<u8>,
    pub size: i32,
    pub crc: i32,
    pub created_by: String,
    pub created_at: i64,
}

impl StoredPrl {
    /// The list decoded; stored lists were validated on the way in.
    pub fn decoded(&self) -> Result<Prl, IotaError> {
        Prl::decode(&self.bytes).map_err(IotaError::BadPrl)
    }

    pub fn crc_hex(&self) -> String {
        format!("{:04X}", self.crc)
    }
}

/// What `add` is asked to file.
#[derive(Debug, Clone, Default)]
pub struct NewPrl {
    pub bytes: Vec<u8>,
    /// Must equal the file's PR_LIST_ID when given.
    pub prl_id: Option<i32>,
    /// The next free table number when not given.
    pub sspr_table: Option<i32>,
    pub name: String,
}

/// Checks a PRL completely (size, CRC, every record) and files it.
pub fn add(conn: &mut DbConnection, actor: &Actor, new: &NewPrl) -> Result<StoredPrl, IotaError> {
    if new.bytes.len() > MAX_PRL_BYTES {
        return Err(IotaError::Invalid(format!(
            "a PRL is at most {MAX_PRL_BYTES} octets; this file has {}",
            new.bytes.len()
        )));
    }
    let prl = Prl::decode(&new.bytes).map_err(IotaError::BadPrl)?;
    let file_id = i32::from(prl.pr_list_id);
    if let Some(id) = new.prl_id {
        if id != file_id {
            return Err(IotaError::Invalid(format!(
                "--id {id} does not match the file's PR_LIST_ID {file_id}"
            )));
        }
    }
    if let Some(t) = new.sspr_table {
        if !(0..=65_535).contains(&t) {
            return Err(IotaError::Invalid(format!(
                "SSPR table {t} is out of range (0 to 65535)"
            )));
        }
    }
    let crc = i32::from(u16::from_be_bytes([
        new.bytes[new.bytes.len() - 2],
        new.bytes[new.bytes.len() - 1],
    ]));
    crate::db::write(conn, |conn| {
        if by_prl_id(conn, file_id)?.is_some() {
            return Err(IotaError::Duplicate(format!(
                "PRL {file_id} is already in the SSPR tables"
            )));
        }
        let table = match new.sspr_table {
            Some(t) => {
                if by_table(conn, t)?.is_some() {
                    return Err(IotaError::Duplicate(format!(
                        "SSPR table {t} already holds a PRL"
                    )));
                }
                t
            }
            None => {
                let max: Option<i32> = prls::table
                    .select(diesel::dsl::max(prls::sspr_table))
                    .first(conn)?;
                max.map_or(1, |m| m + 1)
            }
        };
        diesel::insert_into(prls::table)
            .values((
                prls::sspr_table.eq(table),
                prls::prl_id.eq(file_id),
                prls::name.eq(new.name.trim()),
                prls::bytes.eq(&new.bytes),
                prls::size.eq(new.bytes.len() as i32),
                prls::crc.eq(crc),
                prls::created_by.eq(actor.to_string()),
                prls::created_at.eq(now_ms()),
            ))
            .execute(conn)
            .map_err(|e| {
                if is_unique_violation(&e) {
                    IotaError::Duplicate("that PRL or SSPR table is already filed".into())
                } else {
                    e.into()
                }
            })?;
        by_table(conn, table)?.ok_or_else(|| IotaError::NotFound(format!("SSPR table {table}")))
    })
}

pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<StoredPrl>> {
    prls::table
        .order(prls::sspr_table.asc())
        .select(StoredPrl::as_select())
        .load(conn)
}

pub fn by_table(conn: &mut DbConnection, table: i32) -> QueryResult<Option<StoredPrl>> {
    prls::table
        .filter(prls::sspr_table.eq(table))
        .select(StoredPrl::as_select())
        .first(conn)
        .optional()
}

pub fn by_prl_id(conn: &mut DbConnection, prl_id: i32) -> QueryResult<Option<StoredPrl>> {
    prls::table
        .filter(prls::prl_id.eq(prl_id))
        .select(StoredPrl::as_select())
        .first(conn)
        .optional()
}
