//! The device-capability registry: what each make/model (optionally within a
//! firmware version range) can do, and the manufacturers' ESN number series
//! that mark IOTA support for ESN-only handsets.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::audit::{self, EntityKind};
use super::fields::{feature_list, Checker};
use super::identifiers::Esn;
use super::version;
use super::{Actor, RegistryError};
use crate::db::schema::{capabilities, iota_esn_series};
use crate::db::{now_ms, DbConnection};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Omadm,
    Iota,
    Both,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Omadm => "omadm",
            Protocol::Iota => "iota",
            Protocol::Both => "both",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Protocol::Omadm => "OMA-DM",
            Protocol::Iota => "IOTA",
            Protocol::Both => "OMA-DM + IOTA",
        }
    }

    pub fn parse(s: &str) -> Option<Protocol> {
        match s.trim().to_ascii_lowercase().as_str() {
            "omadm" | "oma-dm" => Some(Protocol::Omadm),
            "iota" => Some(Protocol::Iota),
            "both" => Some(Protocol::Both),
            _ => None,
        }
    }

    pub const ALL: [Protocol; 3] = [Protocol::Omadm, Protocol::Iota, Protocol::Both];
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = capabilities)]
pub struct Capability {
    pub id: i64,
    pub make: String,
    pub model: String,
    pub version_min: Option<String>,
    pub version_max: Option<String>,
    pub protocol: String,
    pub fota: bool,
    pub brew: bool,
    pub features: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Capability {
    /// Whether this entry applies to firmware version `fw`.
    pub fn covers(&self, fw: &str) -> bool {
        version::in_range(fw, self.version_min.as_deref(), self.version_max.as_deref())
    }

    pub fn protocol(&self) -> Protocol {
        Protocol::parse(&self.protocol).unwrap_or(Protocol::Omadm)
    }

    pub fn version_range(&self) -> String {
        match (&self.version_min, &self.version_max) {
            (None, None) => "all versions".into(),
            (Some(a), None) => format!("{a} and later"),
            (None, Some(b)) => format!("up to {b}"),
            (Some(a), Some(b)) => format!("{a} – {b}"),
        }
    }

    pub fn feature_list(&self) -> Vec<&str> {
        self.features.split(',').filter(|f| !f.is_empty()).collect()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityDraft {
    pub make: Option<String>,
    pub model: Option<String>,
    pub version_min: Option<String>,
    pub version_max: Option<String>,
    pub protocol: Option<String>,
    pub fota: Option<bool>,
    pub brew: Option<bool>,
    #[serde(default)]
    pub features: Option<String>,
}

#[derive(Debug, Clone, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = capabilities, treat_none_as_null = true)]
pub struct CapabilityValues {
    pub make: String,
    pub model: String,
    pub version_min: Option<String>,
    pub version_max: Option<String>,
    pub protocol: String,
    pub fota: bool,
    pub brew: bool,
    pub features: String,
}

impl CapabilityValues {
    fn of(c: &Capability) -> CapabilityValues {
        CapabilityValues {
            make: c.make.clone(),
            model: c.model.clone(),
            version_min: c.version_min.clone(),
            version_max: c.version_max.clone(),
            protocol: c.protocol.clone(),
            fota: c.fota,
            brew: c.brew,
            features: c.features.clone(),
        }
    }
}

impl CapabilityDraft {
    pub fn validate(&self) -> Result<CapabilityValues, RegistryError> {
        let mut c = Checker::new();
        let make = c.text("make", &self.make, 64);
        let model = c.text("model", &self.model, 64);
        let version_min = c.opt_text("version_min", &self.version_min, 64);
        let version_max = c.opt_text("version_max", &self.version_max, 64);
        if let (Some(a), Some(b)) = (&version_min, &version_max) {
            if version::compare(a, b) == std::cmp::Ordering::Greater {
                c.fail(
                    "version_max",
                    format!("must not be below the minimum version {a}"),
                );
            }
        }
        let protocol = match self.protocol.as_deref().map(Protocol::parse) {
            Some(Some(p)) => p,
            Some(None) => {
                c.fail("protocol", "must be omadm, iota or both");
                Protocol::Omadm
            }
            None => {
                c.fail("protocol", "is required");
                Protocol::Omadm
            }
        };
        let features = feature_list(
            &mut c.errors,
            "features",
            self.features.as_deref().unwrap_or(""),
        );
        c.finish()?;
        Ok(CapabilityValues {
            make,
            model,
            version_min,
            version_max,
            protocol: protocol.as_str().into(),
            fota: self.fota.unwrap_or(false),
            brew: self.brew.unwrap_or(false),
            features,
        })
    }

    pub fn from_capability(c: &Capability) -> CapabilityDraft {
        CapabilityDraft {
            make: Some(c.make.clone()),
            model: Some(c.model.clone()),
            version_min: c.version_min.clone(),
            version_max: c.version_max.clone(),
            protocol: Some(c.protocol.clone()),
            fota: Some(c.fota),
            brew: Some(c.brew),
            features: Some(c.features.clone()),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = capabilities)]
struct NewCapability {
    #[diesel(embed)]
    values: CapabilityValues,
    created_at: i64,
    updated_at: i64,
}

pub fn get(conn: &mut DbConnection, id: i64) -> Result<Capability, RegistryError> {
    capabilities::table
        .find(id)
        .select(Capability::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| RegistryError::NotFound(format!("capability {id}")))
}

pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<Capability>> {
    capabilities::table
        .order((capabilities::make, capabilities::model, capabilities::id))
        .select(Capability::as_select())
        .load(conn)
}

/// Two entries for one make/model may not claim the same version.
fn ensure_no_overlap(
    conn: &mut DbConnection,
    v: &CapabilityValues,
    except: Option<i64>,
) -> Result<(), RegistryError> {
    let siblings: Vec<Capability> = capabilities::table
        .filter(capabilities::make.eq(&v.make))
        .filter(capabilities::model.eq(&v.model))
        .select(Capability::as_select())
        .load(conn)?;
    for s in siblings.iter().filter(|s| Some(s.id) != except) {
        let lo = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(x), Some(y)) => version::compare(x, y) != std::cmp::Ordering::Greater,
            _ => true,
        };
        // Ranges [a1,b1] and [a2,b2] overlap when a1 <= b2 and a2 <= b1.
        if lo(&v.version_min, &s.version_max) && lo(&s.version_min, &v.version_max) {
            return Err(RegistryError::Duplicate(format!(
                "{} {} already has a capability entry for {} (entry {})",
                v.make,
                v.model,
                s.version_range(),
                s.id
            )));
        }
    }
    Ok(())
}

/// Serialises the range checks of capability and ESN-series writes on
/// PostgreSQL, where two transactions would otherwise both find a range free
/// and both take it (two `mdm demo` runs, two nodes); a SQLite write
/// transaction already excludes every other writer. The unique index only
/// catches exact copies, not overlapping ranges.
const REGISTRY_LOCK: i64 = 0x6d64_6d5f_6361_7073; // "mdm_caps"

/// Takes the capability registry's write lock until the transaction ends.
/// Callers that check for existing entries before adding theirs (the demo
/// load) take it first, so that their check sees every committed entry.
pub fn lock_for_write(conn: &mut DbConnection) -> QueryResult<()> {
    if let DbConnection::Postgres(c) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({REGISTRY_LOCK})")).execute(c)?;
    }
    Ok(())
}

pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    draft: &CapabilityDraft,
) -> Result<Capability, RegistryError> {
    let values = draft.validate()?;
    crate::db::write(conn, |conn| {
        lock_for_write(conn)?;
        ensure_no_overlap(conn, &values, None)?;
        let now = now_ms();
        diesel::insert_into(capabilities::table)
            .values(NewCapability {
                values: values.clone(),
                created_at: now,
                updated_at: now,
            })
            .execute(conn)?;
        let created: Capability = capabilities::table
            .filter(capabilities::make.eq(&values.make))
            .filter(capabilities::model.eq(&values.model))
            .order(capabilities::id.desc())
            .select(Capability::as_select())
            .first(conn)?;
        audit::record(
            conn,
            actor,
            EntityKind::Capability,
            created.id,
            "created",
            &audit::snapshot(&values),
        )?;
        Ok(created)
    })
}

pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i64,
    draft: &CapabilityDraft,
) -> Result<Capability, RegistryError> {
    let values = draft.validate()?;
    crate::db::write(conn, |conn| {
        lock_for_write(conn)?;
        let before = get(conn, id)?;
        ensure_no_overlap(conn, &values, Some(id))?;
        let changes = audit::diff(&CapabilityValues::of(&before), &values);
        diesel::update(capabilities::table.find(id))
            .set((&values, capabilities::updated_at.eq(now_ms())))
            .execute(conn)?;
        if changes.as_object().is_some_and(|m| !m.is_empty()) {
            audit::record(conn, actor, EntityKind::Capability, id, "updated", &changes)?;
        }
        get(conn, id)
    })
}

pub fn delete(conn: &mut DbConnection, actor: &Actor, id: i64) -> Result<(), RegistryError> {
    crate::db::write(conn, |conn| {
        let before = get(conn, id)?;
        diesel::delete(capabilities::table.find(id)).execute(conn)?;
        audit::record(
            conn,
            actor,
            EntityKind::Capability,
            id,
            "deleted",
            &audit::snapshot(&CapabilityValues::of(&before)),
        )?;
        Ok(())
    })
}

/// The capability entry that applies to a make/model at a firmware version.
pub fn for_device(
    conn: &mut DbConnection,
    make: &str,
    model: &str,
    fw: &str,
) -> QueryResult<Option<Capability>> {
    Ok(for_model(conn, make, model)?
        .into_iter()
        .find(|c| c.covers(fw)))
}

/// Every entry of a make and model, for callers that compare versions.
pub fn for_model(conn: &mut DbConnection, make: &str, model: &str) -> QueryResult<Vec<Capability>> {
    crate::native!(conn, |c| capabilities::table
        .filter(capabilities::make.eq(make))
        .filter(capabilities::model.eq(model))
        .select(Capability::as_select())
        .load(c))
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = iota_esn_series)]
pub struct EsnSeries {
    pub id: i64,
    pub make: String,
    pub first_esn: i64,
    pub last_esn: i64,
    pub created_at: i64,
}

impl EsnSeries {
    pub fn first_hex(&self) -> String {
        Esn::from_u32(self.first_esn as u32).to_hex()
    }
    pub fn last_hex(&self) -> String {
        Esn::from_u32(self.last_esn as u32).to_hex()
    }
    pub fn size(&self) -> i64 {
        self.last_esn - self.first_esn + 1
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EsnSeriesDraft {
    pub make: Option<String>,
    pub first_esn: Option<String>,
    pub last_esn: Option<String>,
}

#[derive(Insertable, Serialize)]
#[diesel(table_name = iota_esn_series)]
struct NewSeries {
    make: String,
    first_esn: i64,
    last_esn: i64,
    created_at: i64,
}

pub fn list_series(conn: &mut DbConnection) -> QueryResult<Vec<EsnSeries>> {
    iota_esn_series::table
        .order((iota_esn_series::make, iota_esn_series::first_esn))
        .select(EsnSeries::as_select())
        .load(conn)
}

pub fn add_series(
    conn: &mut DbConnection,
    actor: &Actor,
    draft: &EsnSeriesDraft,
) -> Result<EsnSeries, RegistryError> {
    let mut c = Checker::new();
    let make = c.text("make", &draft.make, 64);
    let first: Option<Esn> = c.ident("first_esn", &draft.first_esn);
    let last: Option<Esn> = c.ident("last_esn", &draft.last_esn);
    if let (Some(a), Some(b)) = (first, last) {
        if a.value() > b.value() {
            c.fail("last_esn", "must not be below the first ESN of the series");
        } else if a.manufacturer_code() != b.manufacturer_code() {
            c.fail("last_esn", "a series stays within one manufacturer code");
        }
    }
    c.finish()?;
    let (Some(first), Some(last)) = (first, last) else {
        return Err(RegistryError::invalid("first_esn", "is required"));
    };
    let (first, last) = (i64::from(first.value()), i64::from(last.value()));
    crate::db::write(conn, |conn| {
        lock_for_write(conn)?;
        let overlap: Option<EsnSeries> = iota_esn_series::table
            .filter(iota_esn_series::first_esn.le(last))
            .filter(iota_esn_series::last_esn.ge(first))
            .select(EsnSeries::as_select())
            .first(conn)
            .optional()?;
        if let Some(o) = overlap {
            return Err(RegistryError::Duplicate(format!(
                "the series overlaps {} {}–{}",
                o.make,
                o.first_hex(),
                o.last_hex()
            )));
        }
        let new = NewSeries {
            make,
            first_esn: first,
            last_esn: last,
            created_at: now_ms(),
        };
        diesel::insert_into(iota_esn_series::table)
            .values(&new)
            .execute(conn)?;
        let created: EsnSeries = iota_esn_series::table
            .filter(iota_esn_series::first_esn.eq(first))
            .select(EsnSeries::as_select())
            .first(conn)?;
        audit::record(
            conn,
            actor,
            EntityKind::EsnSeries,
            created.id,
            "created",
            &audit::snapshot(&new),
        )?;
        Ok(created)
    })
}

pub fn delete_series(conn: &mut DbConnection, actor: &Actor, id: i64) -> Result<(), RegistryError> {
    crate::db::write(conn, |conn| {
        let s: EsnSeries = iota_esn_series::table
            .find(id)
            .select(EsnSeries::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| RegistryError::NotFound(format!("ESN series {id}")))?;
        diesel::delete(iota_esn_series::table.find(id)).execute(conn)?;
        audit::record(
            conn,
            actor,
            EntityKind::EsnSeries,
            id,
            "deleted",
            &serde_json::json!({"make": s.make, "first_esn": s.first_hex(), "last_esn": s.last_hex()}),
        )?;
        Ok(())
    })
}

/// The series, if any, that marks this ESN as IOTA-capable.
pub fn iota_series_for(conn: &mut DbConnection, esn: Esn) -> QueryResult<Option<EsnSeries>> {
    let v = i64::from(esn.value());
    iota_esn_series::table
        .filter(iota_esn_series::first_esn.le(v))
        .filter(iota_esn_series::last_esn.ge(v))
        .select(EsnSeries::as_select())
        .first(conn)
        .optional()
}
