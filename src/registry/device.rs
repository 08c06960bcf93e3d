//! The device registry: one row per handset, known by ESN and/or MEID, with
//! its make-model-version, its subscriber and its last contact.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::audit::{self, EntityKind};
use super::fields::Checker;
use super::identifiers::{Esn, Mdn, Meid, Min};
use super::profile::ActivationState;
use super::{Actor, RegistryError};
use crate::db::schema::{devices, profiles};
use crate::db::{is_unique_violation, now_ms, DbConnection};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = devices)]
pub struct Device {
    pub id: i64,
    pub esn: Option<String>,
    pub meid: Option<String>,
    pub pesn: Option<String>,
    pub make: String,
    pub model: String,
    pub firmware_version: String,
    pub profile_id: Option<i64>,
    pub last_contact_at: Option<i64>,
    pub last_protocol: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// This handset's own activation: an ESN change leaves the subscriber
    /// activated while the new handset waits for its first activation.
    pub activation_state: String,
    /// When the handset was de-activated: the purge clock starts here.
    pub deactivated_at: Option<i64>,
    /// When an ESN change retired the handset: unlike one de-activated with
    /// its line, it is no longer the line's and does not follow it back.
    pub retired_at: Option<i64>,
}

impl Device {
    /// The identifier people use for this device: the MEID when it has one.
    pub fn label(&self) -> String {
        self.meid
            .clone()
            .or_else(|| self.esn.clone())
            .unwrap_or_else(|| format!("#{}", self.id))
    }

    /// Out of service (with its line, or retired by an ESN change): it is
    /// no longer woken, managed or provisioned over the air.
    pub fn is_deactivated(&self) -> bool {
        self.activation_state == super::profile::ActivationState::Deactivated.as_str()
    }

    /// The handset's own state in words (Activated, Pending activation,
    /// De-activated).
    pub fn state_label(&self) -> &str {
        super::profile::ActivationState::parse(&self.activation_state)
            .map_or(self.activation_state.as_str(), |s| s.label())
    }

    pub fn esn_decimal(&self) -> Option<String> {
        self.esn
            .as_deref()
            .and_then(|e| Esn::parse(e).ok())
            .map(|e| e.to_decimal())
    }

    pub fn meid_check_digit(&self) -> Option<char> {
        self.meid
            .as_deref()
            .and_then(|m| Meid::parse(m).ok())
            .map(|m| m.check_digit())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceDraft {
    pub esn: Option<String>,
    pub meid: Option<String>,
    pub make: Option<String>,
    pub model: Option<String>,
    pub firmware_version: Option<String>,
    /// Links the device to the profile with this MDN.
    pub profile_mdn: Option<String>,
    /// Links the device to this profile id (API clients that already know it).
    pub profile_id: Option<i64>,
}

#[derive(Debug, Clone, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = devices, treat_none_as_null = true)]
pub struct DeviceValues {
    pub esn: Option<String>,
    pub meid: Option<String>,
    pub pesn: Option<String>,
    pub make: String,
    pub model: String,
    pub firmware_version: String,
    pub profile_id: Option<i64>,
}

impl DeviceValues {
    fn of(d: &Device) -> DeviceValues {
        DeviceValues {
            esn: d.esn.clone(),
            meid: d.meid.clone(),
            pesn: d.pesn.clone(),
            make: d.make.clone(),
            model: d.model.clone(),
            firmware_version: d.firmware_version.clone(),
            profile_id: d.profile_id,
        }
    }
}

/// A draft whose identifiers are checked but whose profile link is not yet resolved.
pub struct CheckedDevice {
    pub esn: Option<Esn>,
    pub meid: Option<Meid>,
    pub make: String,
    pub model: String,
    pub firmware_version: String,
    pub profile_mdn: Option<Mdn>,
    pub profile_id: Option<i64>,
}

impl DeviceDraft {
    pub fn check(&self) -> Result<CheckedDevice, RegistryError> {
        let mut c = Checker::new();
        let esn: Option<Esn> = c.opt_ident("esn", &self.esn);
        // A pESN names no handset of its own; it stays a MEID's derived value.
        if let Some(Err(e)) = esn.map(|e| Esn::parse_real(&e.to_hex())) {
            c.fail("esn", e.to_string());
        }
        let meid: Option<Meid> = c.opt_ident("meid", &self.meid);
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        if blank(&self.esn) && blank(&self.meid) {
            c.fail("esn", "an ESN or a MEID is required");
        }
        let make = c.text("make", &self.make, 64);
        let model = c.text("model", &self.model, 64);
        let firmware_version = c.text("firmware_version", &self.firmware_version, 64);
        let profile_mdn: Option<Mdn> = c.opt_ident("profile_mdn", &self.profile_mdn);
        c.finish()?;
        Ok(CheckedDevice {
            esn,
            meid,
            make,
            model,
            firmware_version,
            profile_mdn,
            profile_id: self.profile_id,
        })
    }

    pub fn from_device(d: &Device, profile_mdn: Option<String>) -> DeviceDraft {
        DeviceDraft {
            esn: d.esn.clone(),
            meid: d.meid.clone(),
            make: Some(d.make.clone()),
            model: Some(d.model.clone()),
            firmware_version: Some(d.firmware_version.clone()),
            profile_mdn,
            profile_id: None,
        }
    }
}

impl CheckedDevice {
    /// Resolves the profile link against the database.
    pub fn resolve(&self, conn: &mut DbConnection) -> Result<DeviceValues, RegistryError> {
        let profile_id = match (&self.profile_mdn, self.profile_id) {
            (Some(mdn), _) => Some(
                profiles::table
                    .filter(profiles::mdn.eq(mdn.as_str()))
                    .select(profiles::id)
                    .first::<i64>(conn)
                    .optional()?
                    .ok_or_else(|| {
                        RegistryError::invalid("profile_mdn", format!("no profile has MDN {mdn}"))
                    })?,
            ),
            (None, Some(id)) => {
                let exists: Option<i64> = profiles::table
                    .find(id)
                    .select(profiles::id)
                    .first(conn)
                    .optional()?;
                Some(exists.ok_or_else(|| {
                    RegistryError::invalid("profile_id", format!("no profile has id {id}"))
                })?)
            }
            (None, None) => None,
        };
        Ok(DeviceValues {
            esn: self.esn.map(|e| e.to_hex()),
            meid: self.meid.map(|m| m.to_hex()),
            pesn: self.meid.map(|m| m.pseudo_esn().to_hex()),
            make: self.make.clone(),
            model: self.model.clone(),
            firmware_version: self.firmware_version.clone(),
            profile_id,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = devices)]
struct NewDevice {
    #[diesel(embed)]
    values: DeviceValues,
    created_at: i64,
    updated_at: i64,
}

pub fn get(conn: &mut DbConnection, id: i64) -> Result<Device, RegistryError> {
    crate::native!(conn, |c| devices::table
        .find(id)
        .select(Device::as_select())
        .first(c)
        .optional())?
    .ok_or_else(|| RegistryError::NotFound(format!("device {id}")))
}

fn ensure_unique(
    conn: &mut DbConnection,
    v: &DeviceValues,
    except: Option<i64>,
) -> Result<(), RegistryError> {
    if let Some(esn) = &v.esn {
        let hit: Option<i64> = devices::table
            .filter(devices::esn.eq(esn))
            .select(devices::id)
            .first(conn)
            .optional()?;
        if let Some(id) = hit.filter(|id| Some(*id) != except) {
            return Err(RegistryError::Duplicate(format!(
                "ESN {esn} is already registered to device {id}"
            )));
        }
    }
    if let Some(meid) = &v.meid {
        let hit: Option<i64> = devices::table
            .filter(devices::meid.eq(meid))
            .select(devices::id)
            .first(conn)
            .optional()?;
        if let Some(id) = hit.filter(|id| Some(*id) != except) {
            return Err(RegistryError::Duplicate(format!(
                "MEID {meid} is already registered to device {id}"
            )));
        }
    }
    Ok(())
}

fn duplicate_or(e: diesel::result::Error) -> RegistryError {
    if is_unique_violation(&e) {
        RegistryError::Duplicate("that ESN or MEID is already registered".into())
    } else {
        e.into()
    }
}

/// Inserts resolved values; the caller owns the transaction.
pub fn insert(
    conn: &mut DbConnection,
    actor: &Actor,
    values: &DeviceValues,
) -> Result<Device, RegistryError> {
    ensure_unique(conn, values, None)?;
    let now = now_ms();
    diesel::insert_into(devices::table)
        .values(NewDevice {
            values: values.clone(),
            created_at: now,
            updated_at: now,
        })
        .execute(conn)
        .map_err(duplicate_or)?;
    let mut query = devices::table.select(Device::as_select()).into_boxed();
    query = match (&values.meid, &values.esn) {
        (Some(meid), _) => query.filter(devices::meid.eq(meid)),
        (None, Some(esn)) => query.filter(devices::esn.eq(esn)),
        (None, None) => {
            return Err(RegistryError::invalid(
                "esn",
                "an ESN or a MEID is required",
            ))
        }
    };
    let created: Device = query.first(conn)?;
    inherit_state(conn, created.id)?;
    let created = get(conn, created.id)?;
    audit::record(
        conn,
        actor,
        EntityKind::Device,
        created.id,
        "created",
        &audit::snapshot(values),
    )?;
    Ok(created)
}

pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    draft: &DeviceDraft,
) -> Result<Device, RegistryError> {
    let checked = draft.check()?;
    crate::db::write(conn, |conn| {
        let values = checked.resolve(conn)?;
        insert(conn, actor, &values)
    })
}

pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: i64,
    draft: &DeviceDraft,
) -> Result<Device, RegistryError> {
    let checked = draft.check()?;
    crate::db::write(conn, |conn| {
        let before = get(conn, id)?;
        let values = checked.resolve(conn)?;
        ensure_unique(conn, &values, Some(id))?;
        let changes = audit::diff(&DeviceValues::of(&before), &values);
        diesel::update(devices::table.find(id))
            .set((&values, devices::updated_at.eq(now_ms())))
            .execute(conn)
            .map_err(duplicate_or)?;
        if changes.as_object().is_some_and(|m| !m.is_empty()) {
            audit::record(conn, actor, EntityKind::Device, id, "updated", &changes)?;
        }
        if before.profile_id != values.profile_id {
            // A retired handset given to a line is that line's handset now.
            diesel::update(devices::table.find(id))
                .filter(devices::retired_at.is_not_null())
                .set(devices::retired_at.eq(None::<i64>))
                .execute(conn)?;
            inherit_state(conn, id)?;
        }
        get(conn, id)
    })
}

pub fn delete(conn: &mut DbConnection, actor: &Actor, id: i64) -> Result<(), RegistryError> {
    crate::db::write(conn, |conn| {
        let before = get(conn, id)?;
        super::esn_change::cancel_for_deleted(conn, actor, id)?;
        diesel::delete(devices::table.find(id)).execute(conn)?;
        audit::record(
            conn,
            actor,
            EntityKind::Device,
            id,
            "deleted",
            &audit::snapshot(&DeviceValues::of(&before)),
        )?;
        Ok(())
    })
}

/// A handset linked to a subscriber takes the subscriber's activation
/// state; one with no subscriber keeps its own.
pub fn inherit_state(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    use crate::db::schema::profiles;
    let state: Option<String> = devices::table
        .inner_join(profiles::table)
        .filter(devices::id.eq(id))
        .select(profiles::activation_state)
        .first(conn)
        .optional()?;
    if let Some(state) = state {
        set_activation(conn, id, &state)?;
    }
    Ok(())
}

/// Sets one handset's activation state; de-activation stamps the time the
/// purge counts from. A handset activated again is no longer retired.
pub fn set_activation(conn: &mut DbConnection, id: i64, state: &str) -> QueryResult<()> {
    let now = now_ms();
    let stamp = (state == "deactivated").then_some(now);
    let target = devices::table
        .find(id)
        .filter(devices::activation_state.ne(state));
    let changes = (
        devices::activation_state.eq(state),
        devices::deactivated_at.eq(stamp),
        devices::updated_at.eq(now),
    );
    if stamp.is_some() {
        diesel::update(target).set(changes).execute(conn)?;
    } else {
        diesel::update(target)
            .set((changes, devices::retired_at.eq(None::<i64>)))
            .execute(conn)?;
    }
    Ok(())
}

/// De-activates a handset an ESN change replaced: it leaves its line for
/// good, and its purge clock starts.
pub fn retire(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    let now = now_ms();
    diesel::update(devices::table.find(id))
        .set((
            devices::activation_state.eq("deactivated"),
            devices::deactivated_at.eq(now),
            devices::retired_at.eq(now),
            devices::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records that a device talked to the platform, and over which protocol.
/// How stale a device's last contact may get before a message refreshes it:
/// a DM session's several messages need not each rewrite the device row.
pub const CONTACT_RESOLUTION_MS: i64 = 60_000;

/// Records a contact unless the device row already says it happened within
/// [`CONTACT_RESOLUTION_MS`] over the same protocol.
pub fn touch_if_stale(conn: &mut DbConnection, d: &Device, protocol: &str) -> QueryResult<()> {
    if contact_is_current(d, protocol, now_ms()) {
        return Ok(());
    }
    touch(conn, d.id, protocol)
}

/// True when the device row already records a contact over `protocol`
/// within [`CONTACT_RESOLUTION_MS`] of `now`.
fn contact_is_current(d: &Device, protocol: &str, now: i64) -> bool {
    let recent = d
        .last_contact_at
        .is_some_and(|at| now - at < CONTACT_RESOLUTION_MS);
    recent && d.last_protocol.as_deref() == Some(protocol)
}

pub fn touch(conn: &mut DbConnection, id: i64, protocol: &str) -> QueryResult<()> {
    let changes = (
        devices::last_contact_at.eq(now_ms()),
        devices::last_protocol.eq(protocol),
    );
    crate::native!(conn, |c| crate::db::fixed_update(
        devices::table.find(id),
        changes
    )
    .execute(c))
    .map(|_| ())
}

/// Devices belonging to one profile.
pub fn of_profile(conn: &mut DbConnection, profile_id: i64) -> QueryResult<Vec<Device>> {
    devices::table
        .filter(devices::profile_id.eq(profile_id))
        .order(devices::id.asc())
        .select(Device::as_select())
        .load(conn)
}

/// The line's phone: its handset in service. A handset an ESN change retired
/// never is; one still waiting for the activation an ESN change asked for
/// is only when the line has no other.
pub fn phone_of(conn: &mut DbConnection, profile_id: i64) -> QueryResult<Option<Device>> {
    let mut candidates: Vec<Device> = devices::table
        .filter(devices::profile_id.eq(profile_id))
        .filter(devices::retired_at.is_null())
        .order((devices::updated_at.desc(), devices::id.desc()))
        .select(Device::as_select())
        .load(conn)?;
    if candidates.len() > 1 {
        let awaiting = super::esn_change::awaiting(conn, profile_id)?;
        // A stable sort: the most recently changed first within a rank.
        candidates.sort_by_key(
            |d| match (awaiting.contains(&d.id), d.activation_state.as_str()) {
                (true, _) => 3,
                (false, "activated") => 0,
                (false, "pending") => 1,
                (false, _) => 2,
            },
        );
    }
    Ok(candidates.into_iter().next())
}

/// How a list names a handset: by the identifier people know it by and
/// its line's number.
#[derive(Debug, Clone, Serialize)]
pub struct Handset {
    /// `MEID A1001234200000`, else `ESN 9F100004`.
    pub label: String,
    pub mdn: Option<String>,
}

/// The handsets of a page of rows that name devices by id, in one query
/// rather than one per row.
pub fn handsets(
    conn: &mut DbConnection,
    ids: &[i64],
) -> QueryResult<std::collections::HashMap<i64, Handset>> {
    // The device id, its MEID and ESN, and its line's MDN.
    type Row = (i64, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Row> = devices::table
        .left_join(profiles::table)
        .filter(devices::id.eq_any(ids))
        .select((
            devices::id,
            devices::meid,
            devices::esn,
            profiles::mdn.nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, meid, esn, mdn)| {
            let label = match (meid, esn) {
                (Some(m), _) => format!("MEID {m}"),
                (None, Some(e)) => format!("ESN {e}"),
                (None, None) => format!("device {id}"),
            };
            (id, Handset { label, mdn })
        })
        .collect())
}

/// A device with the subscriber fields a list shows beside it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceRow {
    #[serde(flatten)]
    pub device: Device,
    pub mdn: Option<String>,
    pub min: Option<String>,
    pub subscriber_name: Option<String>,
    /// The line's state, which is not the handset's own (`device.activation_state`):
    /// a handset an ESN change replaced is de-activated on an activated line.
    pub line_activation_state: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeviceQuery {
    pub esn: Option<String>,
    pub meid: Option<String>,
    pub mdn: Option<String>,
    pub min: Option<String>,
    pub make: Option<String>,
    pub model: Option<String>,
    pub version: Option<String>,
    /// The handset's own activation state (`pending`, `activated`,
    /// `deactivated`), not its line's.
    pub state: Option<String>,
    /// Keyset paging: rows with an id greater than this.
    pub after: Option<i64>,
    /// Keyset paging backwards: rows with an id less than this.
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

impl DeviceQuery {
    pub fn is_empty(&self) -> bool {
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        blank(&self.esn)
            && blank(&self.meid)
            && blank(&self.mdn)
            && blank(&self.min)
            && blank(&self.make)
            && blank(&self.model)
            && blank(&self.version)
            && blank(&self.state)
    }
}

pub struct DevicePage {
    pub rows: Vec<DeviceRow>,
    pub has_more: bool,
    /// Whether rows exist before this page.
    pub has_previous: bool,
}

type JoinedRow = (Device, Option<(String, String, String, String)>);

/// A search's filters, checked once so that the page and its count apply
/// the same ones.
struct Filters {
    esn: Option<String>,
    meid: Option<String>,
    mdn: Option<String>,
    min: Option<String>,
    make: Option<String>,
    model: Option<String>,
    version: Option<String>,
    state: Option<&'static str>,
}

impl Filters {
    fn check(q: &DeviceQuery) -> Result<Filters, RegistryError> {
        let mut c = Checker::new();
        let f = Filters {
            esn: c.opt_ident::<Esn>("esn", &q.esn).map(|e| e.to_hex()),
            meid: c.opt_ident::<Meid>("meid", &q.meid).map(|m| m.to_hex()),
            mdn: c.opt_ident::<Mdn>("mdn", &q.mdn).map(|m| m.to_string()),
            min: c.opt_ident::<Min>("min", &q.min).map(|m| m.to_string()),
            make: c.opt_text("make", &q.make, 64),
            model: c.opt_text("model", &q.model, 64),
            version: c.opt_text("version", &q.version, 64),
            state: match q.state.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => None,
                Some(s) => match ActivationState::parse(s) {
                    Some(state) => Some(state.as_str()),
                    None => {
                        c.fail("state", "must be pending, activated or deactivated");
                        None
                    }
                },
            },
        };
        c.finish()?;
        Ok(f)
    }
}

/// Narrows a boxed query over `devices` (alone or joined to `profiles`) by
/// the device's own [`Filters`]; a macro because the page and its count
/// select different columns from different joins, and diesel names a boxed
/// query's type only through its internal API.
macro_rules! device_filters {
    ($query:expr, $filters:expr) => {{
        let f: &Filters = $filters;
        let mut query = $query;
        if let Some(hex) = &f.esn {
            // A MEID handset is known to the network by its pseudo-ESN.
            query = query.filter(
                devices::esn
                    .eq(hex.clone())
                    .or(devices::pesn.eq(hex.clone())),
            );
        }
        if let Some(meid) = &f.meid {
            query = query.filter(devices::meid.eq(meid.clone()));
        }
        if let Some(make) = &f.make {
            query = query.filter(devices::make.eq(make.clone()));
        }
        if let Some(model) = &f.model {
            query = query.filter(devices::model.eq(model.clone()));
        }
        if let Some(version) = &f.version {
            query = query.filter(devices::firmware_version.eq(version.clone()));
        }
        if let Some(state) = f.state {
            query = query.filter(devices::activation_state.eq(state));
        }
        query
    }};
}

/// The same for the line's MDN and MIN, on a query joined to `profiles`.
macro_rules! line_filters {
    ($query:expr, $filters:expr) => {{
        let f: &Filters = $filters;
        let mut query = $query;
        if let Some(mdn) = &f.mdn {
            query = query.filter(profiles::mdn.eq(mdn.clone()));
        }
        if let Some(min) = &f.min {
            query = query.filter(profiles::min.eq(min.clone()));
        }
        query
    }};
}

/// How many devices a search matches, counted no further than a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MatchCount {
    pub count: i64,
    /// More than `count` match: counting stopped at the cap.
    pub more: bool,
}

/// Where [`count`] stops for the portal. An exact COUNT(*) of a million
/// devices takes PostgreSQL 40-85 ms, on every page view; ten thousand ids
/// come from an index in a few milliseconds on either backend.
pub const COUNT_CAP: i64 = 10_000;

/// The ids of the devices a search matches (paging ignored), at most
/// `cap + 1` of them, in no particular order.
fn matching_ids(
    conn: &mut DbConnection,
    filters: &Filters,
    cap: i64,
) -> Result<Vec<i64>, RegistryError> {
    // Reading at most cap + 1 ids bounds the work (diesel has no COUNT over
    // a LIMITed subquery), and with no ORDER BY each filter's own index
    // answers. The profiles join only when a line is asked for: even
    // unused, it turns PostgreSQL's index-only scan of a make and model
    // into a bitmap heap scan several times slower.
    Ok(if filters.mdn.is_some() || filters.min.is_some() {
        let query = devices::table
            .inner_join(profiles::table)
            .select(devices::id)
            .into_boxed();
        let query = line_filters!(device_filters!(query, filters), filters);
        query.limit(cap + 1).load(conn)?
    } else {
        let query = devices::table.select(devices::id).into_boxed();
        device_filters!(query, filters).limit(cap + 1).load(conn)?
    })
}

/// Counts the devices a search matches (paging ignored), stopping at `cap`.
pub fn count(
    conn: &mut DbConnection,
    q: &DeviceQuery,
    cap: i64,
) -> Result<MatchCount, RegistryError> {
    let filters = Filters::check(q)?;
    let n = matching_ids(conn, &filters, cap)?.len() as i64;
    Ok(MatchCount {
        count: n.min(cap),
        more: n > cap,
    })
}

/// A page of a search and how many devices match in all, as the portal
/// shows them. Counting reads the matching ids anyway: when it found all
/// of them, the page is fetched by id. The id-ordered scan of [`search`]
/// fills a page fast only where matches are dense; a sparse combination
/// (a model's few pending handsets) would read the whole table for it.
/// Past the cap, matches are dense enough for that scan.
pub fn search_counted(
    conn: &mut DbConnection,
    q: &DeviceQuery,
    cap: i64,
) -> Result<(DevicePage, MatchCount), RegistryError> {
    let filters = Filters::check(q)?;
    let mut ids = matching_ids(conn, &filters, cap)?;
    if ids.len() as i64 > cap {
        let total = MatchCount {
            count: cap,
            more: true,
        };
        return Ok((search(conn, q)?, total));
    }
    let total = MatchCount {
        count: ids.len() as i64,
        more: false,
    };
    ids.sort_unstable();
    let limit = q.limit.unwrap_or(50).clamp(1, 1000) as usize;
    let backwards = q.before.is_some() && q.after.is_none();
    let from = q.after.map_or(0, |a| ids.partition_point(|&id| id <= a));
    let to = q
        .before
        .map_or(ids.len(), |b| ids.partition_point(|&id| id < b))
        .max(from);
    let window = if backwards {
        &ids[to.saturating_sub(limit).max(from)..to]
    } else {
        &ids[from..to.min(from + limit)]
    };
    let has_previous = window.first().is_some_and(|first| ids[0] < *first);
    let has_more = window.last().is_some_and(|last| ids[ids.len() - 1] > *last);
    let rows: Vec<JoinedRow> = devices::table
        .left_join(profiles::table)
        .select(joined_columns())
        .filter(devices::id.eq_any(window.to_vec()))
        .order(devices::id.asc())
        .load(conn)?;
    Ok((
        DevicePage {
            rows: rows.into_iter().map(device_row).collect(),
            has_more,
            has_previous,
        },
        total,
    ))
}

type JoinedColumns = (
    diesel::dsl::AsSelect<Device, <DbConnection as diesel::Connection>::Backend>,
    diesel::dsl::Nullable<(
        profiles::mdn,
        profiles::min,
        profiles::subscriber_name,
        profiles::activation_state,
    )>,
);

/// A device with its line's fields, which a device without a line lacks.
fn joined_columns() -> JoinedColumns {
    (
        Device::as_select(),
        (
            profiles::mdn,
            profiles::min,
            profiles::subscriber_name,
            profiles::activation_state,
        )
            .nullable(),
    )
}

fn device_row((device, p): JoinedRow) -> DeviceRow {
    let (mdn, min, name, state) = match p {
        Some((a, b, c, d)) => (Some(a), Some(b), Some(c), Some(d)),
        None => (None, None, None, None),
    };
    DeviceRow {
        device,
        mdn,
        min,
        subscriber_name: name,
        line_activation_state: state,
    }
}

/// Searches devices by exact identifiers, make/model/version and the
/// handset's activation state, ordered by id and paged by key so that the
/// millionth row is as quick as the first.
pub fn search(conn: &mut DbConnection, q: &DeviceQuery) -> Result<DevicePage, RegistryError> {
    let filters = Filters::check(q)?;
    let query = devices::table
        .left_join(profiles::table)
        .select(joined_columns())
        .into_boxed();
    let mut query = line_filters!(device_filters!(query, &filters), &filters);
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let backwards = q.before.is_some() && q.after.is_none();
    if let Some(after) = q.after {
        query = query.filter(devices::id.gt(after));
    }
    if let Some(before) = q.before {
        query = query.filter(devices::id.lt(before));
    }
    query = if backwards {
        query.order(devices::id.desc())
    } else {
        query.order(devices::id.asc())
    };
    let mut rows: Vec<JoinedRow> = query.limit(limit + 1).load(conn)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    if backwards {
        rows.reverse();
    }
    let rows: Vec<DeviceRow> = rows.into_iter().map(device_row).collect();
    let (has_more, has_previous) = if backwards {
        (true, more)
    } else {
        (more, q.after.is_some())
    };
    Ok(DevicePage {
        rows,
        has_more,
        has_previous,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(last_contact_at: Option<i64>, last_protocol: Option<&str>) -> Device {
        Device {
            id: 1,
            esn: None,
            meid: Some("A0000000000001".into()),
            pesn: None,
            make: "Acme".into(),
            model: "X1".into(),
            firmware_version: "1.0".into(),
            profile_id: None,
            last_contact_at,
            last_protocol: last_protocol.map(str::to_string),
            created_at: 0,
            updated_at: 0,
            activation_state: "activated".into(),
            deactivated_at: None,
            retired_at: None,
        }
    }

    #[test]
    fn a_contact_is_rewritten_at_most_once_a_minute_per_protocol() {
        let now = 10_000_000;
        let just_now = device(Some(now - 1_000), Some("omadm"));
        assert!(contact_is_current(&just_now, "omadm", now));
        // Another protocol is news even within the minute.
        assert!(!contact_is_current(&just_now, "iota", now));
        let a_minute_ago = device(Some(now - CONTACT_RESOLUTION_MS), Some("omadm"));
        assert!(!contact_is_current(&a_minute_ago, "omadm", now));
        assert!(!contact_is_current(&device(None, None), "omadm", now));
    }
}
