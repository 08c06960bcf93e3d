//! Finding one device from whatever identifier a person or system has in
//! hand: an ESN (hex or decimal), a MEID, or the subscriber's MDN.

use diesel::prelude::*;

use super::capability::{self, Capability};
use super::device::{self, Device};
use super::identifiers::{Esn, Mdn, Meid};
use super::profile::{self, Profile};
use super::RegistryError;
use crate::db::schema::devices;
use crate::db::DbConnection;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceKey {
    Esn(Esn),
    Meid(Meid),
    Mdn(Mdn),
}

impl DeviceKey {
    /// Ten digits is an MDN; eight hex or eleven decimal digits an ESN; the
    /// MEID forms are longer still, so the lengths never collide.
    pub fn parse(s: &str) -> Result<DeviceKey, RegistryError> {
        let t = s.trim();
        if t.len() == 10 && t.chars().all(|c| c.is_ascii_digit()) {
            return Ok(DeviceKey::Mdn(
                Mdn::parse(t).map_err(|e| RegistryError::invalid("id", e.to_string()))?,
            ));
        }
        if let Ok(esn) = Esn::parse(t) {
            return Ok(DeviceKey::Esn(esn));
        }
        if let Ok(meid) = Meid::parse(t) {
            return Ok(DeviceKey::Meid(meid));
        }
        if let Ok(mdn) = Mdn::parse(t) {
            return Ok(DeviceKey::Mdn(mdn));
        }
        Err(RegistryError::invalid(
            "id",
            format!("\"{t}\" is not an ESN (8 hex or 11 decimal digits), a MEID (14 hex digits) or an MDN (10 digits)"),
        ))
    }
}

pub fn find(conn: &mut DbConnection, key: &DeviceKey) -> Result<Device, RegistryError> {
    let found: Option<Device> = match key {
        DeviceKey::Esn(esn) => {
            let hex = esn.to_hex();
            let exact = crate::native!(conn, |c| devices::table
                .filter(devices::esn.eq(&hex))
                .select(Device::as_select())
                .first(c)
                .optional())?;
            match exact {
                Some(d) => Some(d),
                None => devices::table
                    .filter(devices::pesn.eq(&hex))
                    .order(devices::id.asc())
                    .select(Device::as_select())
                    .first(conn)
                    .optional()?,
            }
        }
        DeviceKey::Meid(meid) => {
            let hex = meid.to_hex();
            crate::native!(conn, |c| devices::table
                .filter(devices::meid.eq(&hex))
                .select(Device::as_select())
                .first(c)
                .optional())?
        }
        DeviceKey::Mdn(mdn) => match profile::by_mdn(conn, mdn)? {
            Some(p) => device::phone_of(conn, p.id)?,
            None => None,
        },
    };
    found.ok_or_else(|| RegistryError::NotFound(format!("device {}", key_label(key))))
}

fn key_label(key: &DeviceKey) -> String {
    match key {
        DeviceKey::Esn(e) => format!("with ESN {e}"),
        DeviceKey::Meid(m) => format!("with MEID {m}"),
        DeviceKey::Mdn(m) => format!("for MDN {m}"),
    }
}

/// A device with everything the platform knows about it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceView {
    pub device: Device,
    pub profile: Option<Profile>,
    pub capability: Option<Capability>,
    /// Whether the device is known to support IOTA, and how that was decided.
    pub iota_support: Option<String>,
}

pub fn view(conn: &mut DbConnection, device: Device) -> Result<DeviceView, RegistryError> {
    let profile = match device.profile_id {
        Some(id) => Some(profile::get(conn, id)?),
        None => None,
    };
    let capability =
        capability::for_device(conn, &device.make, &device.model, &device.firmware_version)?;
    let iota_support = iota_support(conn, &device, capability.as_ref())?;
    Ok(DeviceView {
        device,
        profile,
        capability,
        iota_support,
    })
}

/// The source document's rule: a MEID device says what it is; for an ESN-only
/// device, the capability registry's model entry decides, or else the
/// manufacturer's pre-agreed ESN number series.
fn iota_support(
    conn: &mut DbConnection,
    device: &Device,
    capability: Option<&Capability>,
) -> Result<Option<String>, RegistryError> {
    use super::capability::Protocol;
    if let Some(c) = capability {
        return Ok(Some(match c.protocol() {
            Protocol::Iota | Protocol::Both => {
                format!("yes (capability registry: {} {})", c.make, c.model)
            }
            Protocol::Omadm => format!(
                "no (capability registry: {} {} is OMA-DM only)",
                c.make, c.model
            ),
        }));
    }
    if device.meid.is_none() {
        if let Some(esn) = device.esn.as_deref().and_then(|e| Esn::parse(e).ok()) {
            if let Some(s) = capability::iota_series_for(conn, esn)? {
                return Ok(Some(format!(
                    "yes (ESN in {}'s IOTA series {}–{})",
                    s.make,
                    s.first_hex(),
                    s.last_hex()
                )));
            }
        }
    }
    Ok(None)
}

pub fn by_key(conn: &mut DbConnection, key: &DeviceKey) -> Result<DeviceView, RegistryError> {
    let d = find(conn, key)?;
    view(conn, d)
}

pub fn by_id(conn: &mut DbConnection, id: i64) -> Result<DeviceView, RegistryError> {
    let d = device::get(conn, id)?;
    view(conn, d)
}
