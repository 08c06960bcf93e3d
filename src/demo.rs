//! A realistic demo data set: handset models of both protocols, capability
//! entries, manufacturers' IOTA ESN series and thousands of subscribers.
//! Deterministic and idempotent: loading twice adds nothing the second time.

use std::collections::HashSet;
use std::fmt;

use diesel::prelude::*;

use crate::db::schema::{capabilities, iota_esn_series, profiles};
use crate::db::{Db, DbConnection};
use crate::registry::capability::{self, CapabilityDraft, EsnSeriesDraft};
use crate::registry::device::{self, DeviceValues};
use crate::registry::identifiers::{Esn, Meid};
use crate::registry::profile::{self, ActivationState, ProfileDraft};
use crate::registry::{Actor, RegistryError};

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

#[derive(Debug, Default)]
pub struct DemoReport {
    pub profiles: u32,
    pub devices: u32,
    pub capabilities: u32,
    pub series: u32,
    pub skipped: u32,
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} profiles, {} devices, {} capability entries, {} ESN series added; {} already present",
            self.profiles, self.devices, self.capabilities, self.series, self.skipped
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
    let existing: HashSet<String> = profiles::table
        .select(profiles::mdn)
        .load::<String>(&mut conn)?
        .into_iter()
        .collect();
    let pin_hash = crate::auth::password::hash(DEMO_PIN)
        .map_err(|e| RegistryError::invalid("pin", e.to_string()))?;
    let mut rng = Lcg(0x4D44_4D5F_4445_4D4F);
    let now = crate::db::now_ms();
    let batch = 500;
    let mut i = 0;
    while i < subscribers {
        let end = (i + batch).min(subscribers);
        crate::db::write(&mut conn, |conn| -> Result<(), RegistryError> {
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
    let features: Vec<&str> = FEATURES
        .iter()
        .enumerate()
        .filter(|(k, _)| feature_mask & (1 << k) != 0 || *k == 1)
        .map(|(_, f)| *f)
        .collect();
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
    let state = match state_roll {
        0..=79 => ActivationState::Activated,
        80..=94 => ActivationState::Pending,
        _ => ActivationState::Deactivated,
    };
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
        use crate::db::schema::devices;
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
