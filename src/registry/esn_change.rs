//! ESN changes: a subscriber moves to a new handset. Billing (REST API),
//! care (the profile page) and the CLI ask for one; the new handset's first
//! successful activation (one-button or star code) completes it.
//!
//! The customer profile is keyed by MDN, so "copying the profile to the new
//! ESN" makes the new handset a device of the same profile, waiting in
//! "Pending Activation", and keeps a snapshot of the profile as it was
//! copied. Either variant ends the same way: the old handset is set to
//! "De-activated" and time-stamped, which starts its purge clock. A change
//! still waiting can be cancelled (by care, or by deleting the new handset):
//! the subscriber stays on the old handset.

use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::audit::{self, EntityKind};
use super::device::{self, Device, DeviceDraft};
use super::identifiers::HandsetId;
use super::lookup::{self, DeviceKey};
use super::profile::{self, ProfileValues};
use super::{Actor, RegistryError};
use crate::db::schema::{devices, esn_changes, profiles};
use crate::db::{now_ms, DbConnection};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// (a) The profile is copied to the new ESN, pending activation.
    Copy,
    /// (b) The new ESN waits in the profile's "New ESN" field and moves to
    /// "Activated ESN" on activation.
    Field,
}

impl Variant {
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Copy => "copy",
            Variant::Field => "field",
        }
    }

    pub fn parse(s: &str) -> Option<Variant> {
        match s.trim() {
            "copy" | "" => Some(Variant::Copy),
            "field" => Some(Variant::Field),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = esn_changes)]
pub struct EsnChange {
    pub id: i64,
    pub profile_id: i64,
    pub variant: String,
    pub old_device_id: Option<i64>,
    pub new_device_id: Option<i64>,
    pub old_esn: Option<String>,
    pub new_esn: String,
    pub state: String,
    #[serde(skip)]
    pub profile_copy: String,
    pub requested_by: String,
    pub created_at: i64,
    pub completed_at: Option<i64>,
}

/// What is asked for.
#[derive(Debug, Clone, Default)]
pub struct EsnChangeRequest {
    /// The current handset: ESN, MEID or the subscriber's MDN.
    pub from: String,
    /// The new handset's ESN (8 hex or 11 decimal digits) or MEID.
    pub to: String,
    pub variant: Option<String>,
    /// The new handset's make and model, when they differ from the old one.
    pub make: Option<String>,
    pub model: Option<String>,
    pub firmware_version: Option<String>,
}

fn parse_new(to: &str) -> Result<HandsetId, RegistryError> {
    HandsetId::parse(to).map_err(|e| RegistryError::invalid("to", e.to_string()))
}

pub fn get(conn: &mut DbConnection, id: i64) -> Result<EsnChange, RegistryError> {
    esn_changes::table
        .find(id)
        .select(EsnChange::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| RegistryError::NotFound(format!("ESN change {id}")))
}

/// A subscriber's ESN changes, newest first, from just before the change
/// `before` on (the `esn_changes_profile` index serves it).
pub fn page_for_profile(
    conn: &mut DbConnection,
    profile_id: i64,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<EsnChange>> {
    esn_changes::table
        .filter(esn_changes::profile_id.eq(profile_id))
        .filter(esn_changes::id.lt(before.unwrap_or(i64::MAX)))
        .order(esn_changes::id.desc())
        .limit(limit)
        .select(EsnChange::as_select())
        .load(conn)
}

pub fn for_profile(conn: &mut DbConnection, profile_id: i64) -> QueryResult<Vec<EsnChange>> {
    esn_changes::table
        .filter(esn_changes::profile_id.eq(profile_id))
        .order(esn_changes::id.desc())
        .select(EsnChange::as_select())
        .load(conn)
}

/// Registers the new handset for the subscriber of `from`, waiting for its
/// activation. Nothing is written unless every check passes.
pub fn request(
    conn: &mut DbConnection,
    actor: &Actor,
    req: &EsnChangeRequest,
) -> Result<EsnChange, RegistryError> {
    let variant = Variant::parse(req.variant.as_deref().unwrap_or(""))
        .ok_or_else(|| RegistryError::invalid("variant", "must be \"copy\" or \"field\""))?;
    let from_key = DeviceKey::parse(&req.from).map_err(|_| {
        RegistryError::invalid(
            "from",
            format!("\"{}\" is not an ESN, MEID or MDN", req.from.trim()),
        )
    })?;
    let new_id = parse_new(&req.to)?;
    crate::db::write(conn, |conn| {
        let old = lookup::find(conn, &from_key)?;
        if old.retired_at.is_some() {
            return Err(RegistryError::Conflict(format!(
                "handset {} was retired by an earlier ESN change; change from the subscriber's current handset or MDN",
                old.label()
            )));
        }
        let Some(pid) = old.profile_id else {
            return Err(RegistryError::Conflict(format!(
                "handset {} has no subscriber to move",
                old.label()
            )));
        };
        let p = profile::get(conn, pid)?;
        // The new handset's activation would bring the line back into
        // service: a de-activated line is re-activated first, on purpose.
        if p.state() == profile::ActivationState::Deactivated {
            return Err(RegistryError::Conflict(format!(
                "line {} is de-activated: re-activate it before changing its handset",
                p.mdn
            )));
        }
        let (new_esn_hex, key) = match &new_id {
            HandsetId::Esn(e) => (e.to_hex(), DeviceKey::Esn(*e)),
            HandsetId::Meid(m) => (m.to_hex(), DeviceKey::Meid(*m)),
        };
        if old.esn.as_deref() == Some(new_esn_hex.as_str())
            || old.meid.as_deref() == Some(new_esn_hex.as_str())
        {
            return Err(RegistryError::invalid(
                "to",
                "that is the subscriber's current handset",
            ));
        }
        if let Some(open) = esn_changes::table
            .filter(esn_changes::profile_id.eq(pid))
            .filter(esn_changes::state.eq("pending"))
            .select(EsnChange::as_select())
            .first(conn)
            .optional()?
        {
            return Err(RegistryError::Conflict(format!(
                "an ESN change to {} is already waiting for activation on {}",
                open.new_esn, p.mdn
            )));
        }
        let existing = match lookup::find(conn, &key) {
            Ok(d) => Some(d),
            Err(RegistryError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let new_device = match existing {
            Some(d) if d.activation_state == "activated" => {
                let owner = match d.profile_id {
                    Some(other) => profile::get(conn, other)
                        .map(|o| format!(" for MDN {}", o.mdn))
                        .unwrap_or_default(),
                    None => String::new(),
                };
                return Err(RegistryError::Conflict(format!(
                    "{new_esn_hex} is already active elsewhere{owner}"
                )));
            }
            Some(d) if d.profile_id.is_some_and(|other| other != pid) => {
                return Err(RegistryError::Conflict(format!(
                    "{new_esn_hex} is registered to another subscriber"
                )));
            }
            Some(d) => {
                // A handset from inventory: linked to this subscriber.
                let mut draft = DeviceDraft::from_device(&d, None);
                draft.profile_id = Some(pid);
                device::update(conn, actor, d.id, &draft)?
            }
            None => {
                let draft = DeviceDraft {
                    esn: matches!(new_id, HandsetId::Esn(_)).then(|| new_esn_hex.clone()),
                    meid: matches!(new_id, HandsetId::Meid(_)).then(|| new_esn_hex.clone()),
                    make: req
                        .make
                        .clone()
                        .filter(|s| !s.trim().is_empty())
                        .or(Some(old.make.clone())),
                    model: req
                        .model
                        .clone()
                        .filter(|s| !s.trim().is_empty())
                        .or(Some(old.model.clone())),
                    firmware_version: req
                        .firmware_version
                        .clone()
                        .filter(|s| !s.trim().is_empty())
                        .or(Some("unknown".into())),
                    profile_mdn: None,
                    profile_id: Some(pid),
                };
                let values = draft.check()?.resolve(conn)?;
                device::insert(conn, actor, &values)?
            }
        };
        device::set_activation(conn, new_device.id, "pending")?;
        if variant == Variant::Field {
            diesel::update(profiles::table.find(pid))
                .set((
                    profiles::new_esn.eq(&new_esn_hex),
                    profiles::updated_at.eq(now_ms()),
                ))
                .execute(conn)?;
        }
        let copy = serde_json::to_string(&ProfileValues::of(&p)).unwrap_or_default();
        let now = now_ms();
        diesel::insert_into(esn_changes::table)
            .values((
                esn_changes::profile_id.eq(pid),
                esn_changes::variant.eq(variant.as_str()),
                esn_changes::old_device_id.eq(Some(old.id)),
                esn_changes::new_device_id.eq(Some(new_device.id)),
                esn_changes::old_esn.eq(old.esn.clone().or(old.meid.clone())),
                esn_changes::new_esn.eq(&new_esn_hex),
                esn_changes::state.eq("pending"),
                esn_changes::profile_copy.eq(copy),
                esn_changes::requested_by.eq(actor.to_string()),
                esn_changes::created_at.eq(now),
            ))
            .execute(conn)?;
        let id = crate::db::last_insert_id(conn)?;
        let change = get(conn, id)?;
        audit::record(
            conn,
            actor,
            EntityKind::Profile,
            pid,
            "ESN change requested",
            &json!({"variant": variant.as_str(), "from": old.label(), "to": new_esn_hex, "new_device": new_device.id, "state": "Pending Activation"}),
        )?;
        Ok(change)
    })
}

/// Completes the ESN change waiting for this handset, if any: called in
/// the activation's own transaction once the handset has committed.
pub fn complete_for(
    conn: &mut DbConnection,
    actor: &Actor,
    activated: &Device,
) -> Result<Option<EsnChange>, RegistryError> {
    let Some(change) = esn_changes::table
        .filter(esn_changes::new_device_id.eq(activated.id))
        .filter(esn_changes::state.eq("pending"))
        .select(EsnChange::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let now = now_ms();
    if let Some(old) = change.old_device_id {
        device::retire(conn, old)?;
        audit::record(
            conn,
            actor,
            EntityKind::Device,
            old,
            "de-activated by ESN change",
            &json!({"replaced_by": activated.label(), "purge_clock_from": now}),
        )?;
    }
    diesel::update(esn_changes::table.find(change.id))
        .set((
            esn_changes::state.eq("completed"),
            esn_changes::completed_at.eq(Some(now)),
        ))
        .execute(conn)?;
    // The field variant's New ESN has moved to Activated ESN. For a MEID
    // the activated value is its pESN, so the MEID in New ESN is matched
    // here, by the change, not by comparing it with the activated value.
    diesel::update(profiles::table.find(change.profile_id))
        .filter(profiles::new_esn.eq(&change.new_esn))
        .set((
            profiles::new_esn.eq(None::<String>),
            profiles::updated_at.eq(now),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        actor,
        EntityKind::Profile,
        change.profile_id,
        "ESN change completed",
        &json!({"from": change.old_esn, "to": change.new_esn, "variant": change.variant}),
    )?;
    Ok(Some(get(conn, change.id)?))
}

/// The handsets of a line still waiting for the activation an ESN change
/// asked for.
pub fn awaiting(conn: &mut DbConnection, profile_id: i64) -> QueryResult<Vec<i64>> {
    let ids: Vec<Option<i64>> = esn_changes::table
        .filter(esn_changes::profile_id.eq(profile_id))
        .filter(esn_changes::state.eq("pending"))
        .select(esn_changes::new_device_id)
        .load(conn)?;
    Ok(ids.into_iter().flatten().collect())
}

/// Cancels a change still waiting for its new handset: the subscriber stays
/// on the old one, and the new one leaves the line.
pub fn cancel(conn: &mut DbConnection, actor: &Actor, id: i64) -> Result<EsnChange, RegistryError> {
    crate::db::write(conn, |conn| {
        let change = get(conn, id)?;
        if change.state != "pending" {
            return Err(RegistryError::Conflict(format!(
                "ESN change {id} to {} is {}: only one waiting for activation can be cancelled",
                change.new_esn, change.state
            )));
        }
        close(conn, actor, &change, None)?;
        if let Some(new) = change.new_device_id {
            let unlinked = diesel::update(devices::table.find(new))
                .filter(devices::profile_id.eq(change.profile_id))
                .set((
                    devices::profile_id.eq(None::<i64>),
                    devices::updated_at.eq(now_ms()),
                ))
                .execute(conn)?;
            if unlinked > 0 {
                audit::record(
                    conn,
                    actor,
                    EntityKind::Device,
                    new,
                    "unlinked: ESN change cancelled",
                    &json!({"profile_id": {"from": change.profile_id, "to": null}}),
                )?;
            }
        }
        get(conn, id)
    })
}

/// The pending change of the line with this MDN, for callers that know the
/// line rather than the change.
pub fn pending_of_mdn(conn: &mut DbConnection, mdn: &str) -> Result<EsnChange, RegistryError> {
    let mdn = super::identifiers::Mdn::parse(mdn)
        .map_err(|e| RegistryError::invalid("mdn", e.to_string()))?;
    let p = profile::by_mdn(conn, &mdn)?
        .ok_or_else(|| RegistryError::NotFound(format!("profile with MDN {mdn}")))?;
    esn_changes::table
        .filter(esn_changes::profile_id.eq(p.id))
        .filter(esn_changes::state.eq("pending"))
        .select(EsnChange::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            RegistryError::NotFound(format!("ESN change waiting for activation on {mdn}"))
        })
}

/// A handset being deleted can never be activated: the change waiting for
/// it is cancelled in the deletion's transaction.
pub fn cancel_for_deleted(
    conn: &mut DbConnection,
    actor: &Actor,
    device_id: i64,
) -> Result<(), RegistryError> {
    let waiting: Vec<EsnChange> = esn_changes::table
        .filter(esn_changes::new_device_id.eq(device_id))
        .filter(esn_changes::state.eq("pending"))
        .select(EsnChange::as_select())
        .load(conn)?;
    for change in &waiting {
        close(conn, actor, change, Some("the new handset was deleted"))?;
    }
    Ok(())
}

/// Ends a waiting change as cancelled; the field variant's New ESN goes with it.
fn close(
    conn: &mut DbConnection,
    actor: &Actor,
    change: &EsnChange,
    why: Option<&str>,
) -> Result<(), RegistryError> {
    let now = now_ms();
    diesel::update(esn_changes::table.find(change.id))
        .filter(esn_changes::state.eq("pending"))
        .set((
            esn_changes::state.eq("cancelled"),
            esn_changes::completed_at.eq(Some(now)),
        ))
        .execute(conn)?;
    diesel::update(profiles::table.find(change.profile_id))
        .filter(profiles::new_esn.eq(&change.new_esn))
        .set((
            profiles::new_esn.eq(None::<String>),
            profiles::updated_at.eq(now),
        ))
        .execute(conn)?;
    let mut detail =
        json!({"from": change.old_esn, "to": change.new_esn, "variant": change.variant});
    if let Some(why) = why {
        detail["reason"] = json!(why);
    }
    audit::record(
        conn,
        actor,
        EntityKind::Profile,
        change.profile_id,
        "ESN change cancelled",
        &detail,
    )?;
    Ok(())
}
