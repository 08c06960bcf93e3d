//! A realistic demo data set: handset models of both protocols, capability
//! entries, manufacturers' IOTA ESN series and thousands of subscribers;
//! with [`load_for`] also OMA-DM credentials for most OMA-DM handsets, a
//! released and a draft firmware package, and a little FOTA history.
//! Deterministic and idempotent: loading twice adds nothing the second time,
//! even when two loads (two `mdm demo`, two `serve --demo` nodes) run at
//! once: every write takes the registry's lock and looks again under it.

use std::collections::HashSet;
use std::fmt;

use diesel::prelude::*;

use std::collections::HashMap;
use std::path::Path;

use crate::db::schema::{
    capabilities, devices, dm_accounts, fota_sessions, iota_esn_series, profiles,
};
use crate::db::{Db, DbConnection};
use crate::firmware::blobs::BlobStore;
use crate::firmware::package::{self, PackageDraft, PackageState};
use crate::firmware::FirmwareError;
use crate::fota::{FotaError, FotaState};
use crate::omadm::account;
use crate::registry::capability::{self, CapabilityDraft, EsnSeriesDraft};
use crate::registry::device::{self, DeviceValues};
use crate::registry::identifiers::{Esn, Meid};
use crate::registry::profile::{self, ActivationState, ProfileDraft};
use crate::registry::{Actor, RegistryError};
use crate::secrets::Vault;

struct Model {
    make: &'static str,
    model: &'static str,
    protocol: &'static str,
    /// Manufacturer code of its ESNs (top 8 bits), or None for MEID handsets.
    esn_mfr: Option<u8>,
    versions: &'static [&'static str],
    fota_from: Option<&'static str>,
    brew: bool,
    features: &'static str,
}

const MODELS: &[Model] = &[
    Model {
        make: "Samsung",
        model: "SCH-U350",
        protocol: "iota",
        esn_mfr: Some(0x9F),
        versions: &["U350.01", "U350.02", "U350.03"],
        fota_from: None,
        brew: true,
        features: "sms,mms",
    },
    Model {
        make: "Samsung",
        model: "SCH-U960",
        protocol: "omadm",
        esn_mfr: None,
        versions: &["U960.05", "U960.07", "U960.08"],
        fota_from: Some("U960.05"),
        brew: true,
        features: "sms,mms,video,web",
    },
    Model {
        make: "LG",
        model: "VX8360",
        protocol: "iota",
        esn_mfr: Some(0xA3),
        versions: &["VX8360V03", "VX8360V05"],
        fota_from: None,
        brew: true,
        features: "sms,mms,web",
    },
    Model {
        make: "LG",
        model: "VX9600",
        protocol: "both",
        esn_mfr: None,
        versions: &["VX9600V04", "VX9600V06", "VX9600V07"],
        fota_from: Some("VX9600V06"),
        brew: true,
        features: "sms,mms,video,web,ptt",
    },
    Model {
        make: "Motorola",
        model: "RAZR V3m",
        protocol: "iota",
        esn_mfr: Some(0x82),
        versions: &["1.0.12", "1.0.15"],
        fota_from: None,
        brew: true,
        features: "sms,web",
    },
    Model {
        make: "Motorola",
        model: "W755",
        protocol: "omadm",
        esn_mfr: None,
        versions: &["2.1.0", "2.1.4", "2.2.0"],
        fota_from: Some("2.1.0"),
        brew: false,
        features: "sms,mms,web",
    },
    Model {
        make: "Kyocera",
        model: "K127",
        protocol: "iota",
        esn_mfr: Some(0xB4),
        versions: &["K127.1", "K127.2"],
        fota_from: None,
        brew: false,
        features: "sms",
    },
    Model {
        make: "HTC",
        model: "Touch Pro",
        protocol: "omadm",
        esn_mfr: None,
        versions: &["3.0.1", "3.1.0"],
        fota_from: Some("3.0.1"),
        brew: false,
        features: "sms,mms,video,web",
    },
    Model {
        make: "Sanyo",
        model: "Katana II",
        protocol: "iota",
        esn_mfr: Some(0xC2),
        versions: &["KII-100", "KII-110"],
        fota_from: None,
        brew: true,
        features: "sms,mms",
    },
];

const AREAS: &[u32] = &[312, 415, 646, 713, 305, 404, 206, 617];
const FIRST: &[&str] = &[
    "Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Iris", "Jamal", "Kate",
    "Luis", "Mei", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq",
];
const LAST: &[&str] = &[
    "Alvarez", "Brooks", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Johnson",
    "Khan", "Lopez", "Miller", "Nguyen", "Okafor", "Patel", "Reyes", "Smith", "Tanaka", "Walker",
];
const FEATURES: &[&str] = &[
    "mobile_web",
    "text_messaging",
    "picture_messaging",
    "video_messaging",
    "touch2talk",
];

/// Demo subscribers whose self-service PIN is set, for trying Self Service.
pub const DEMO_PIN: &str = "2468";
pub const DEMO_PIN_SUBSCRIBERS: u32 = 3;

/// The OMA-DM password [`load_for`] gives the demo handsets it issues
/// credentials to (sealed like any other; the server password is generated),
/// so `mdm sim fota --password` can play any of them.
pub const DEMO_DM_PASSWORD: &str = "demo-device-secret";

/// The demo's released delta: demo subscriber 0 (3122000000) has a W755 at
/// its from-version and credentials, so its update check finds it.
const RELEASED: DemoPackage = DemoPackage {
    make: "Motorola",
    model: "W755",
    from: "2.1.4",
    to: "2.2.0",
    notes: "Better battery life and faster start-up (demo package).",
    size: 64 * 1024,
    release: true,
};
/// A draft still with the firmware manager: on no device's update path yet.
const DRAFT: DemoPackage = DemoPackage {
    make: "Samsung",
    model: "SCH-U960",
    from: "U960.07",
    to: "U960.08",
    notes: "Fixes MMS on roaming networks (demo package, not yet tested).",
    size: 48 * 1024,
    release: false,
};
/// How many W755 handsets already took the released package, and how many
/// tried and failed (FUMO result 410, "firmware update failed").
const HISTORY_UPDATED: usize = 3;
const HISTORY_FAILED: usize = 1;
const HISTORY_FAILURE_CODE: u16 = 410;

struct DemoPackage {
    make: &'static str,
    model: &'static str,
    from: &'static str,
    to: &'static str,
    notes: &'static str,
    size: usize,
    release: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("firmware: {0}")]
    Firmware(#[from] FirmwareError),
    #[error("FOTA: {0}")]
    Fota(#[from] FotaError),
    #[error("secrets: {0}")]
    Secrets(String),
}

impl From<diesel::result::Error> for DemoError {
    fn from(e: diesel::result::Error) -> Self {
        DemoError::Registry(e.into())
    }
}

impl From<crate::db::DbError> for DemoError {
    fn from(e: crate::db::DbError) -> Self {
        DemoError::Registry(e.into())
    }
}

#[derive(Debug, Default)]
pub struct DemoReport {
    pub profiles: u32,
    pub devices: u32,
    pub capabilities: u32,
    pub series: u32,
    pub skipped: u32,
    pub dm_accounts: u32,
    pub packages: u32,
    pub fota_sessions: u32,
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} profiles, {} devices, {} capability entries, {} ESN series added; {} already present; \
             {} OMA-DM accounts, {} firmware packages, {} FOTA sessions added",
            self.profiles,
            self.devices,
            self.capabilities,
            self.series,
            self.skipped,
            self.dm_accounts,
            self.packages,
            self.fota_sessions
        )
    }
}

/// A small deterministic generator so the data set is the same on every machine.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() as usize) % items.len()]
    }
}

/// The MDN of demo subscriber `i` (subscribers 0, 1, 2 have the demo PIN).
pub fn demo_mdn(i: u32) -> String {
    mdn_for(i)
}

fn mdn_for(i: u32) -> String {
    // Area code, then a 7-digit number unique per subscriber.
    let area = AREAS[(i as usize) % AREAS.len()];
    format!("{area}{:07}", 2_000_000 + i)
}

/// The registry part of the demo (catalogue and subscribers) only: no
/// credentials, packages or FOTA history, which need the node's vault and
/// blob store ([`load_for`]).
pub fn load(
    db: &Db,
    subscribers: u32,
    progress: &mut dyn FnMut(u32),
) -> Result<DemoReport, RegistryError> {
    let mut conn = db.get()?;
    let mut report = DemoReport::default();
    let actor = Actor::System("demo");
    // The catalogue (capabilities, ESN series, PRLs) in one transaction under
    // the registry's lock: a second `mdm demo` running at the same time
    // waits, then finds the catalogue there and skips it, and a failed load
    // leaves no half catalogue behind.
    crate::db::write(&mut conn, |conn| -> Result<(), RegistryError> {
        capability::lock_for_write(conn)?;
        load_capabilities(conn, &actor, &mut report)?;
        load_prls(conn, &actor)
    })?;
    let pin_hash = crate::auth::password::hash(DEMO_PIN)
        .map_err(|e| RegistryError::invalid("pin", e.to_string()))?;
    let mut rng = Lcg(0x4D44_4D5F_4445_4D4F);
    let now = crate::db::now_ms();
    let batch = 500;
    let mut i = 0;
    while i < subscribers {
        let end = (i + batch).min(subscribers);
        crate::db::write(&mut conn, |conn| -> Result<(), RegistryError> {
            // Which of this batch's lines exist, read under the registry's
            // lock: another load running at the same time inserts its batch
            // whole before this one looks, so neither meets the other's MDN.
            capability::lock_for_write(conn)?;
            let mdns: Vec<String> = (i..end).map(mdn_for).collect();
            let existing: HashSet<String> = profiles::table
                .filter(profiles::mdn.eq_any(&mdns))
                .select(profiles::mdn)
                .load::<String>(conn)?
                .into_iter()
                .collect();
            for n in i..end {
                // Draw every value even for existing rows so later rows do not shift.
                let m = rng.pick(MODELS);
                let version = *rng.pick(m.versions);
                let state_roll = rng.next() % 100;
                let contact_roll = rng.next() % 100;
                let first = *rng.pick(FIRST);
                let last = *rng.pick(LAST);
                let feature_mask = rng.next();
                let mdn = mdn_for(n);
                if existing.contains(&mdn) {
                    report.skipped += 1;
                    continue;
                }
                create_subscriber(
                    conn,
                    &actor,
                    n,
                    m,
                    version,
                    state_roll,
                    contact_roll,
                    first,
                    last,
                    feature_mask,
                    &mdn,
                    &pin_hash,
                    now,
                )?;
                report.profiles += 1;
                report.devices += 1;
            }
            Ok(())
        })?;
        i = end;
        progress(i);
    }
    Ok(report)
}

/// The whole demo as `mdm demo` and `serve --demo` load it: [`load`], then
/// OMA-DM credentials sealed with the node's key (MDM_SECRETS_KEY or
/// secrets.key, checked against the secrets already stored as `mdm`'s other
/// commands do), the demo firmware packages in the blob store, and a few
/// finished FOTA sessions.
pub fn load_for(
    config: &crate::config::Config,
    db: &Db,
    subscribers: u32,
    progress: &mut dyn FnMut(u32),
) -> Result<DemoReport, DemoError> {
    let vault = Vault::load_rotating(
        config.secrets_key.as_deref(),
        config.secrets_previous_key.as_deref(),
        &config.data_dir,
    )
    .map_err(|e| DemoError::Secrets(e.to_string()))?;
    {
        let mut conn = db.get()?;
        account::check_vault(&mut conn, &vault).map_err(|e| DemoError::Secrets(e.to_string()))?;
    }
    let mut report = load(db, subscribers, progress)?;
    let mut conn = db.get()?;
    let actor = Actor::System("demo");
    report.dm_accounts = issue_credentials(&mut conn, &vault, &actor, subscribers)?;
    let limit = config.package_limit as u64;
    let mut released = None;
    for p in [&RELEASED, &DRAFT] {
        let (pkg, added) = add_package(&mut conn, &config.blob_dir, &actor, p, limit)?;
        report.packages += u32::from(added);
        if p.release {
            released = Some(pkg);
        }
    }
    if let Some(pkg) = released {
        report.fota_sessions = fota_history(&mut conn, &pkg, subscribers)?;
    }
    Ok(report)
}

/// The demo subscriber number behind a demo MDN (see [`mdn_for`]).
fn subscriber_of(mdn: &str) -> Option<u32> {
    let n: u32 = mdn.get(3..)?.parse().ok()?;
    let n = n.checked_sub(2_000_000)?;
    (mdn_for(n) == mdn).then_some(n)
}

/// Whether demo subscriber `n`'s handset is provisioned for OMA-DM: three
/// in five, and always the Self Service demo subscribers'.
fn has_credentials(n: u32) -> bool {
    n < DEMO_PIN_SUBSCRIBERS || n % 5 < 3
}

/// The demo's OMA-DM handsets (MEID models that speak OMA-DM) in service,
/// by demo subscriber number: (subscriber, device id, firmware version).
fn omadm_handsets(
    conn: &mut DbConnection,
    subscribers: u32,
) -> QueryResult<Vec<(u32, i64, String)>> {
    let models: Vec<&str> = MODELS
        .iter()
        .filter(|m| m.protocol != "iota" && m.esn_mfr.is_none())
        .map(|m| m.model)
        .collect();
    let rows: Vec<(i64, Option<i64>, String, String)> = devices::table
        .filter(devices::model.eq_any(&models))
        .filter(devices::activation_state.ne(ActivationState::Deactivated.as_str()))
        .select((
            devices::id,
            devices::profile_id,
            devices::make,
            devices::firmware_version,
        ))
        .load(conn)?;
    let mdns: HashMap<i64, String> = profiles::table
        .select((profiles::id, profiles::mdn))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect();
    let mut out: Vec<(u32, i64, String)> = rows
        .into_iter()
        .filter(|(_, _, make, _)| MODELS.iter().any(|m| m.make == make))
        .filter_map(|(id, pid, _, version)| {
            let n = subscriber_of(mdns.get(&pid?)?)?;
            (n < subscribers).then_some((n, id, version))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Gives the chosen demo handsets OMA-DM credentials through the same
/// domain function as the device page and the API, so their secrets are
/// sealed under this node's key. Returns how many it issued.
fn issue_credentials(
    conn: &mut DbConnection,
    vault: &Vault,
    actor: &Actor,
    subscribers: u32,
) -> Result<u32, DemoError> {
    let chosen: Vec<i64> = omadm_handsets(conn, subscribers)?
        .into_iter()
        .filter(|(n, _, _)| has_credentials(*n))
        .map(|(_, id, _)| id)
        .collect();
    let mut issued = 0;
    for batch in chosen.chunks(500) {
        crate::db::write(conn, |conn| -> Result<(), DemoError> {
            // Looked at again under the lock: a load running at the same
            // time may have just issued them, and issuing again would
            // replace its server password.
            capability::lock_for_write(conn)?;
            let has: HashSet<i64> = dm_accounts::table
                .filter(dm_accounts::device_id.eq_any(batch))
                .select(dm_accounts::device_id)
                .load::<i64>(conn)?
                .into_iter()
                .collect();
            for id in batch.iter().filter(|id| !has.contains(id)) {
                account::issue(
                    conn,
                    vault,
                    actor,
                    *id,
                    &account::Given {
                        client_password: DEMO_DM_PASSWORD,
                        server_password: None,
                        server_id: None,
                    },
                )?;
                issued += 1;
            }
            Ok(())
        })?;
    }
    Ok(issued)
}

/// A demo package's file: deterministic bytes, so every load (and every
/// machine) stores the same content-addressed blob.
fn package_bytes(p: &DemoPackage) -> Vec<u8> {
    let mut rng = Lcg(p.size as u64 ^ 0x5041_434B);
    let mut bytes = Vec::with_capacity(p.size);
    bytes.extend_from_slice(
        format!("DEMO DELTA {} {} {} -> {}\n", p.make, p.model, p.from, p.to).as_bytes(),
    );
    while bytes.len() < p.size {
        bytes.extend_from_slice(&rng.next().to_le_bytes()[..4]);
    }
    bytes.truncate(p.size);
    bytes
}

/// Stores the package's file in the blob store and records it as the
/// repository does an upload (`mdm firmware add`), released through its
/// lifecycle when it is the released one. Returns it and whether it was added.
fn add_package(
    conn: &mut DbConnection,
    blob_dir: &Path,
    actor: &Actor,
    p: &DemoPackage,
    limit: u64,
) -> Result<(package::Package, bool), DemoError> {
    let checked = PackageDraft {
        name: None,
        make: Some(p.make.into()),
        model: Some(p.model.into()),
        from_version: Some(p.from.into()),
        to_version: Some(p.to.into()),
        release_notes: Some(p.notes.into()),
        mandatory: Some(false),
    }
    .check()?;
    // The file first, outside any transaction: storing it again is a no-op
    // (the same content, the same address).
    let blob = BlobStore::at(blob_dir).put(&package_bytes(p), limit)?;
    crate::db::write(conn, |conn| -> Result<_, DemoError> {
        capability::lock_for_write(conn)?;
        let present = package::list(conn)?
            .into_iter()
            .find(|k| k.make == p.make && k.model == p.model && k.sha256 == blob.sha256);
        if let Some(k) = present {
            return Ok((k, false));
        }
        let created = package::create(conn, actor, &checked, &blob)?;
        if !p.release {
            return Ok((created, true));
        }
        package::transition(
            conn,
            actor,
            created.id,
            PackageState::Testing,
            "demo package, tested on the demo handsets",
        )?;
        let released = package::transition(
            conn,
            actor,
            created.id,
            PackageState::Released,
            "demo package",
        )?;
        Ok((released, true))
    })
}

/// A few W755 handsets with credentials (not the Self Service demo
/// subscribers', which keep their update to try) that already took the
/// released package through the FOTA session's own steps, and one whose
/// update failed. Returns how many sessions it added.
fn fota_history(
    conn: &mut DbConnection,
    pkg: &package::Package,
    subscribers: u32,
) -> Result<u32, DemoError> {
    let Some(from) = pkg.from_version.clone() else {
        return Ok(0);
    };
    let model_ids: HashSet<i64> = devices::table
        .filter(devices::make.eq(&pkg.make))
        .filter(devices::model.eq(&pkg.model))
        .select(devices::id)
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    // Chosen by subscriber number, not by current version: once updated,
    // a handset is still the one chosen, so loading again adds nothing.
    let chosen: Vec<i64> = omadm_handsets(conn, subscribers)?
        .into_iter()
        .filter(|(n, id, _)| {
            *n >= DEMO_PIN_SUBSCRIBERS && has_credentials(*n) && model_ids.contains(id)
        })
        .map(|(_, id, _)| id)
        .collect();
    let mut added = 0;
    let mut slot = 0;
    for device_id in chosen {
        if slot == HISTORY_UPDATED + HISTORY_FAILED {
            break;
        }
        let result = if slot < HISTORY_UPDATED {
            200
        } else {
            HISTORY_FAILURE_CODE
        };
        let did = crate::db::write(conn, |conn| -> Result<Option<bool>, DemoError> {
            capability::lock_for_write(conn)?;
            let had: i64 = fota_sessions::table
                .filter(fota_sessions::device_id.eq(device_id))
                .count()
                .get_result(conn)?;
            if had > 0 {
                // This handset's history is there already (an earlier or
                // concurrent load): it keeps its slot.
                return Ok(Some(false));
            }
            // Only handsets on the package's path take part; the others
            // were drawn at another version.
            let d = device::get(conn, device_id)?;
            if d.firmware_version != from {
                return Ok(None);
            }
            use crate::fota::session;
            let s =
                session::register_pending(conn, device_id, "omadm", &from, "network-initiated")?;
            let s = session::advance(conn, s.id, FotaState::Querying, "DM session opened")?;
            let correlator = crate::auth::password::random_secret(12);
            let s = session::offer(conn, s, pkg.id, &pkg.to_version, &correlator)?;
            let s = session::advance(conn, s.id, FotaState::Downloaded, "download complete")?;
            let detail = if result == 200 {
                "FUMO result 200: successful"
            } else {
                "FUMO result 410: firmware update failed"
            };
            session::finish(conn, s.id, result, detail)?;
            Ok(Some(true))
        })?;
        match did {
            Some(true) => {
                added += 1;
                slot += 1;
            }
            Some(false) => slot += 1,
            None => {}
        }
    }
    Ok(added)
}

#[allow(clippy::too_many_arguments)]
fn create_subscriber(
    conn: &mut DbConnection,
    actor: &Actor,
    n: u32,
    m: &Model,
    version: &str,
    state_roll: u64,
    contact_roll: u64,
    first: &str,
    last: &str,
    feature_mask: u64,
    mdn: &str,
    pin_hash: &str,
    now: i64,
) -> Result<(), RegistryError> {
    let state = match state_roll {
        0..=79 => ActivationState::Activated,
        80..=94 => ActivationState::Pending,
        _ => ActivationState::Deactivated,
    };
    // A line's services are added once it is in service (self service and
    // the WAP decks offer them to an activated line): a line still pending
    // activation has none yet. A de-activated line keeps those it had, as
    // a line that was cut off does.
    let features: Vec<&str> = if state == ActivationState::Pending {
        Vec::new()
    } else {
        FEATURES
            .iter()
            .enumerate()
            .filter(|(k, _)| feature_mask & (1 << k) != 0 || *k == 1)
            .map(|(_, f)| *f)
            .collect()
    };
    let draft = ProfileDraft {
        mdn: Some(mdn.to_string()),
        min: Some(mdn.to_string()),
        imsi: Some(format!("31000{mdn}")),
        account_id: Some(format!("ACC{:08}", 10_000_000 + n / 2)),
        subscriber_name: Some(format!("{first} {last}")),
        sid_nid_pairs: Some(format!("{}/65535", 4100 + (n % 8))),
        accolc: Some(i64::from(n % 10)),
        scm: Some(234),
        mob_p_rev: Some(if m.esn_mfr.is_some() { 6 } else { 9 }),
        slot_cycle_index: Some(2),
        prl_id: Some(10_000 + i64::from(n % 4)),
        sspr_table: Some(1 + i64::from(n % 4)),
        nai: Some(format!("{mdn}@mobile.example.net")),
        home_agent: Some("10.64.0.1".into()),
        mn_ha_spi: Some(300),
        mn_aaa_spi: Some(2),
        puzl_id: n.is_multiple_of(5).then_some(7),
        brew_url: m.brew.then(|| "http://brew.example.net/ads".to_string()),
        features: Some(features.join(",")),
        ..ProfileDraft::default()
    };
    let values = draft.validate()?;
    let pin = (n < DEMO_PIN_SUBSCRIBERS).then(|| pin_hash.to_string());
    let p = profile::insert(conn, actor, &values, pin, ActivationState::Pending)?;
    if state != ActivationState::Pending {
        profile::set_state(conn, actor, p.id, state)?;
    }
    let (esn, meid) = match m.esn_mfr {
        Some(code) => (
            Some(Esn::from_u32((u32::from(code) << 24) | (0x10_0000 + n))),
            None,
        ),
        None => {
            let v = (0xA1_u64 << 48) | (0x0000_1234_u64 << 24) | u64::from(0x20_0000 + n);
            (None, Meid::from_u64(v).ok())
        }
    };
    let values = DeviceValues {
        esn: esn.map(|e| e.to_hex()),
        meid: meid.map(|x| x.to_hex()),
        pesn: meid.map(|x| x.pseudo_esn().to_hex()),
        make: m.make.into(),
        model: m.model.into(),
        firmware_version: version.into(),
        profile_id: Some(p.id),
    };
    let d = device::insert(conn, actor, &values)?;
    if contact_roll < 70 {
        let protocol = match m.protocol {
            "both" => {
                if contact_roll.is_multiple_of(2) {
                    "omadm"
                } else {
                    "iota"
                }
            }
            other => other,
        };
        diesel::update(devices::table.find(d.id))
            .set((
                devices::last_contact_at.eq(now - (contact_roll as i64) * 3_600_000),
                devices::last_protocol.eq(protocol),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The demo network's PRLs 10000-10003 in SSPR tables 1-4: the home
/// systems of the demo subscribers (SIDs 4100-4107), cellular and PCS.
fn load_prls(conn: &mut DbConnection, actor: &Actor) -> Result<(), RegistryError> {
    use crate::iota::is683::{AcqRecord, Nid, Preference, Prl, SysRecord};
    use crate::iota::prl_store::{self, NewPrl};
    for k in 0..4u16 {
        let prl_id = 10_000 + k;
        if prl_store::by_prl_id(conn, i32::from(prl_id))?.is_some() {
            continue;
        }
        let systems = 8 + 4 * k;
        let prl = Prl {
            pr_list_id: prl_id,
            pref_only: false,
            def_roam_ind: 1,
            acq_records: vec![
                AcqRecord::CellularCdmaStandard { a_b: 3, pri_sec: 3 },
                AcqRecord::PcsCdmaBlocks {
                    blocks: vec![0, 1, 2, 3, 4, 5],
                },
            ],
            sys_records: (0..systems)
                .map(|i| SysRecord {
                    sid: 4100 + i,
                    nid: Nid::Wildcard,
                    preference: Preference::Preferred {
                        pri: i < 8,
                        roam_ind: if i < 8 { 1 } else { 0 },
                    },
                    geo: i > 0,
                    acq_index: i % 2,
                })
                .collect(),
        };
        let bytes = prl
            .encode()
            .map_err(|e| RegistryError::invalid("prl", e.to_string()))?;
        prl_store::add(
            conn,
            actor,
            &NewPrl {
                bytes,
                prl_id: None,
                sspr_table: Some(i32::from(k) + 1),
                name: format!("Demo network, revision {}", k + 1),
            },
        )
        .map_err(|e| RegistryError::Conflict(e.to_string()))?;
    }
    Ok(())
}

fn load_capabilities(
    conn: &mut DbConnection,
    actor: &Actor,
    report: &mut DemoReport,
) -> Result<(), RegistryError> {
    for m in MODELS {
        let present: i64 = capabilities::table
            .filter(capabilities::make.eq(m.make))
            .filter(capabilities::model.eq(m.model))
            .count()
            .get_result(conn)?;
        if present > 0 {
            continue;
        }
        // Models with FOTA from a given version get two entries: before and after it.
        if let Some(from) = m.fota_from.filter(|f| *f != m.versions[0]) {
            capability::create(
                conn,
                actor,
                &CapabilityDraft {
                    make: Some(m.make.into()),
                    model: Some(m.model.into()),
                    version_min: None,
                    version_max: Some(m.versions[0].into()),
                    protocol: Some(m.protocol.into()),
                    fota: Some(false),
                    brew: Some(m.brew),
                    features: Some(m.features.into()),
                },
            )?;
            capability::create(
                conn,
                actor,
                &CapabilityDraft {
                    make: Some(m.make.into()),
                    model: Some(m.model.into()),
                    version_min: Some(from.into()),
                    version_max: None,
                    protocol: Some(m.protocol.into()),
                    fota: Some(true),
                    brew: Some(m.brew),
                    features: Some(m.features.into()),
                },
            )?;
            report.capabilities += 2;
        } else {
            capability::create(
                conn,
                actor,
                &CapabilityDraft {
                    make: Some(m.make.into()),
                    model: Some(m.model.into()),
                    version_min: None,
                    version_max: None,
                    protocol: Some(m.protocol.into()),
                    fota: Some(m.fota_from.is_some()),
                    brew: Some(m.brew),
                    features: Some(m.features.into()),
                },
            )?;
            report.capabilities += 1;
        }
    }
    for m in MODELS.iter().filter(|m| m.protocol == "iota") {
        let Some(code) = m.esn_mfr else { continue };
        let first = (u32::from(code) << 24) | 0x10_0000;
        let present: i64 = iota_esn_series::table
            .filter(iota_esn_series::first_esn.eq(i64::from(first)))
            .count()
            .get_result(conn)?;
        if present > 0 {
            continue;
        }
        capability::add_series(
            conn,
            actor,
            &EsnSeriesDraft {
                make: Some(m.make.into()),
                first_esn: Some(Esn::from_u32(first).to_hex()),
                last_esn: Some(Esn::from_u32(first + 0x0F_FFFF).to_hex()),
            },
        )?;
        report.series += 1;
    }
    Ok(())
}
