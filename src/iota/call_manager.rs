//! The call manager: turns what the customer profile says into IS-683
//! parameter blocks, and fetches the PRL from the SSPR table the profile
//! names (steps 4-5 and 10-11 of the one-button flow).

use super::is683::{AccessFlags, CdmaAnalogNam, Imsi, Mdn, NamBlock, SidNid};
use super::ospp::Plan;
use super::prl_store::{self, StoredPrl};
use super::IotaError;
use crate::db::DbConnection;
use crate::registry::profile::Profile;

/// First paging channel written into the CDMA/Analog NAM. The profile does
/// not carry one; 283 is the A-side cellular primary channel, which a
/// handset only uses on analog systems.
pub const DEFAULT_FIRSTCHP: u16 = 283;

/// The MCC and IMSI_11_12 of a MIN-based IMSI, for a profile without an
/// IMSI (C.S0005 §2.3.1: IMSI_M derived from the MIN).
const MIN_BASED_MCC: &str = "310";
const MIN_BASED_11_12: &str = "00";

/// The NAM blocks of a Download Request: CDMA/Analog NAM and MDN.
pub fn nam_blocks(profile: &Profile) -> Result<Vec<NamBlock>, IotaError> {
    let (mcc, d11_12) = match profile.imsi.as_deref() {
        Some(imsi) if imsi.len() == 15 => (profile.mcc(), profile.imsi_11_12()),
        _ => (MIN_BASED_MCC, MIN_BASED_11_12),
    };
    let imsi_m = Imsi::from_digits(mcc, d11_12, &profile.min)?;
    let pairs: Vec<SidNid> = profile
        .sid_nid_list()
        .into_iter()
        .map(|(sid, nid)| SidNid { sid, nid })
        .collect();
    let home_sid = pairs.first().map(|p| p.sid).unwrap_or(0);
    let access = AccessFlags {
        accolc: u8::try_from(profile.accolc).map_err(|_| {
            IotaError::Invalid(format!("ACCOLC {} is out of range", profile.accolc))
        })?,
        local_control: profile.local_control,
        mob_term_home: profile.mob_term_home,
        mob_term_for_sid: profile.mob_term_for_sid,
        mob_term_for_nid: profile.mob_term_for_nid,
    };
    Ok(vec![
        NamBlock::CdmaAnalog(CdmaAnalogNam {
            firstchp: DEFAULT_FIRSTCHP,
            home_sid,
            ex: true,
            imsi_m,
            access,
            sid_nid: pairs,
        }),
        NamBlock::Mdn(Mdn::new(&profile.mdn)),
    ])
}

/// The PRL of an SSPR table, as the handset will receive it.
pub fn prl_of_table(conn: &mut DbConnection, table: i32) -> Result<StoredPrl, IotaError> {
    prl_store::by_table(conn, table)?
        .ok_or_else(|| IotaError::NotFound(format!("SSPR table {table}")))
}

/// What an activation downloads: the NAM, and the PRL of the profile's SSPR
/// table when it has one.
pub fn activation_plan(
    conn: &mut DbConnection,
    profile: &Profile,
) -> Result<(Plan, Option<StoredPrl>), IotaError> {
    let prl = match profile.sspr_table {
        Some(t) => Some(prl_of_table(conn, t)?),
        None => None,
    };
    Ok((
        Plan {
            nam: nam_blocks(profile)?,
            prl: prl.as_ref().map(|p| p.bytes.clone()),
        },
        prl,
    ))
}

/// What an OTAPA PRL download sends: the PRL alone.
pub fn prl_plan(prl: &StoredPrl) -> Plan {
    Plan {
        nam: Vec::new(),
        prl: Some(prl.bytes.clone()),
    }
}
