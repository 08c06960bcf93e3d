//! The call manager: turns what the customer profile says into IS-683
//! parameter blocks, and fetches the PRL from the SSPR table the profile
//! names (steps 4-5 and 10-11 of the one-button flow).

use super::is683::{AccessFlags, CdmaAnalogNam, Imsi, Mdn, NamBlock, SidNid};
use super::ospp::Plan;
use super::prl_store::{self, StoredPrl};
use super::IotaError;
use crate::db::DbConnection;
use crate::registry::profile::{imsi_min_mismatch, parse_sid_nid, Profile};

/// First paging channel written into the CDMA/Analog NAM. The profile does
/// not carry one; 283 is the A-side cellular primary channel, which a
/// handset only uses on analog systems.
pub const DEFAULT_FIRSTCHP: u16 = 283;

/// The MCC and IMSI_11_12 of a MIN-based IMSI, for a profile without an
/// IMSI (C.S0005 §2.3.1: IMSI_M derived from the MIN).
const MIN_BASED_MCC: &str = "310";
const MIN_BASED_11_12: &str = "00";

/// The NAM blocks of a Download Request: CDMA/Analog NAM and MDN.
///
/// Profiles saved before their NAM data was checked may hold values a
/// handset must not be programmed with; those are refused here, saying
/// what to fix, rather than sent.
pub fn nam_blocks(profile: &Profile) -> Result<Vec<NamBlock>, IotaError> {
    let unfit = |why: String| {
        IotaError::Invalid(format!(
            "the customer profile of {} cannot be programmed: {why}",
            profile.mdn
        ))
    };
    let (mcc, d11_12) = match profile.imsi.as_deref() {
        Some(imsi) if imsi.len() == 15 => {
            if let Some(why) = imsi_min_mismatch(imsi, &profile.min) {
                return Err(unfit(why));
            }
            (profile.mcc(), profile.imsi_11_12())
        }
        _ => (MIN_BASED_MCC, MIN_BASED_11_12),
    };
    let imsi_m = Imsi::from_digits(mcc, d11_12, &profile.min)?;
    let pairs: Vec<SidNid> = parse_sid_nid(&profile.sid_nid_pairs)
        .map_err(|e| unfit(format!("its SID/NID pairs: {e}")))?
        .into_iter()
        .map(|(sid, nid)| SidNid { sid, nid })
        .collect();
    let Some(home_sid) = pairs.first().map(|p| p.sid) else {
        return Err(unfit(
            "it has no SID/NID pair, so no home system (HOME_SID)".into(),
        ));
    };
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

/// What an activation downloads: the NAM, and the PRL of `sspr_table`
/// (the one the session started with) when there is one.
pub fn activation_plan(
    conn: &mut DbConnection,
    profile: &Profile,
    sspr_table: Option<i32>,
) -> Result<(Plan, Option<StoredPrl>), IotaError> {
    let prl = match sspr_table {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(imsi: Option<&str>, pairs: &str) -> Profile {
        Profile {
            id: 1,
            mdn: "6135550100".into(),
            min: "6135550100".into(),
            imsi: imsi.map(Into::into),
            account_id: "A1".into(),
            subscriber_name: "Ana".into(),
            sid_nid_pairs: pairs.into(),
            accolc: 3,
            scm: 234,
            mob_p_rev: 6,
            slot_cycle_index: 2,
            local_control: false,
            mob_term_home: true,
            mob_term_for_sid: true,
            mob_term_for_nid: true,
            prl_id: None,
            sspr_table: None,
            pending_prl_id: None,
            nai: None,
            home_agent: None,
            mn_ha_spi: None,
            mn_aaa_spi: None,
            puzl_id: None,
            brew_url: None,
            features: String::new(),
            activation_state: "pending".into(),
            state_changed_at: 0,
            new_esn: None,
            activated_esn: None,
            pin_hash: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn refusal(p: &Profile) -> String {
        match nam_blocks(p) {
            Err(IotaError::Invalid(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_home_sid_is_the_first_pair() {
        let blocks = nam_blocks(&profile(Some("310006135550100"), "4145/65535,22/0")).unwrap();
        let NamBlock::CdmaAnalog(nam) = &blocks[0] else {
            panic!("{blocks:?}");
        };
        assert_eq!(nam.home_sid, 4145);
        assert_eq!(nam.sid_nid.len(), 2);
        assert_eq!(nam.imsi_m.digits().unwrap(), "310006135550100");
    }

    #[test]
    fn a_profile_without_a_sid_nid_pair_is_not_programmed() {
        let why = refusal(&profile(None, ""));
        assert_eq!(
            why,
            "the customer profile of 6135550100 cannot be programmed: it has no SID/NID pair, so no home system (HOME_SID)"
        );
        assert!(refusal(&profile(None, "4145")).contains("is not a SID/NID pair"));
    }

    #[test]
    fn an_imsi_that_does_not_end_in_the_min_is_not_programmed() {
        let why = refusal(&profile(Some("310009999999999"), "4145/65535"));
        assert!(
            why.contains("the IMSI's last ten digits (9999999999) must be the MIN 6135550100"),
            "{why}"
        );
    }
}
