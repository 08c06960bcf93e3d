//! A PRL as people read it: the acquisition and system tables of the SSPR
//! screens, with the codes spelled out (C.S0016 §3.5.5).

use super::is683::{AcqRecord, Nid, Preference, Prl};

pub struct AcqRow {
    pub index: usize,
    pub acq_type: u8,
    pub kind: &'static str,
    pub detail: String,
}

pub struct SysRow {
    pub index: usize,
    pub sid: u16,
    pub nid: String,
    pub preferred: bool,
    pub geo: &'static str,
    pub pri: String,
    pub acq_index: u16,
    pub roam_ind: String,
}

fn a_b(code: u8) -> &'static str {
    match code {
        0 => "A",
        1 => "B",
        3 => "A or B",
        _ => "reserved",
    }
}

fn pri_sec(code: u8) -> &'static str {
    match code {
        1 => "primary",
        2 => "secondary",
        3 => "primary or secondary",
        _ => "reserved",
    }
}

fn pcs_block(code: u8) -> String {
    match code {
        0..=5 => char::from(b'A' + code).to_string(),
        7 => "any".into(),
        _ => format!("reserved ({code})"),
    }
}

fn channels(c: &[u16]) -> String {
    format!(
        "channels {}",
        c.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
    )
}

pub fn acquisition_table(prl: &Prl) -> Vec<AcqRow> {
    prl.acq_records
        .iter()
        .enumerate()
        .map(|(index, r)| {
            let (kind, detail) = match r {
                AcqRecord::CellularAnalog { a_b: ab } => {
                    ("Cellular analog", format!("system {}", a_b(*ab)))
                }
                AcqRecord::CellularCdmaStandard {
                    a_b: ab,
                    pri_sec: ps,
                } => (
                    "Cellular CDMA (standard channels)",
                    format!("system {}, {} channel", a_b(*ab), pri_sec(*ps)),
                ),
                AcqRecord::CellularCdmaCustom { channels: c } => {
                    ("Cellular CDMA (custom channels)", channels(c))
                }
                AcqRecord::CellularCdmaPreferred { a_b: ab } => {
                    ("Cellular CDMA preferred", format!("system {}", a_b(*ab)))
                }
                AcqRecord::PcsCdmaBlocks { blocks } => (
                    "PCS CDMA (blocks)",
                    format!(
                        "blocks {}",
                        blocks
                            .iter()
                            .map(|b| pcs_block(*b))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                AcqRecord::PcsCdmaChannels { channels: c } => ("PCS CDMA (channels)", channels(c)),
                AcqRecord::JtacsCdmaStandard {
                    a_b: ab,
                    pri_sec: ps,
                } => (
                    "JTACS CDMA (standard channels)",
                    format!("system {}, {} channel", a_b(*ab), pri_sec(*ps)),
                ),
                AcqRecord::JtacsCdmaCustom { channels: c } => {
                    ("JTACS CDMA (custom channels)", channels(c))
                }
                AcqRecord::Band2GhzChannels { channels: c } => ("2 GHz band", channels(c)),
            };
            AcqRow {
                index,
                acq_type: r.acq_type(),
                kind,
                detail,
            }
        })
        .collect()
}

pub fn system_table(prl: &Prl) -> Vec<SysRow> {
    prl.sys_records
        .iter()
        .enumerate()
        .map(|(index, r)| {
            let (preferred, pri, roam_ind) = match r.preference {
                Preference::Preferred { pri, roam_ind } => (
                    true,
                    if pri { "more" } else { "same" }.to_string(),
                    roam_ind.to_string(),
                ),
                Preference::Negative => (false, "—".into(), "—".into()),
            };
            SysRow {
                index,
                sid: r.sid,
                nid: match r.nid {
                    Nid::Wildcard => "any (65535)".into(),
                    Nid::Included(n) => n.to_string(),
                    Nid::Public => "public (0)".into(),
                },
                preferred,
                geo: if r.geo { "same" } else { "new" },
                pri,
                acq_index: r.acq_index,
                roam_ind,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iota::is683::SysRecord;

    #[test]
    fn spells_out_the_codes() {
        let prl = Prl {
            pr_list_id: 1,
            pref_only: false,
            def_roam_ind: 1,
            acq_records: vec![
                AcqRecord::CellularCdmaStandard { a_b: 3, pri_sec: 3 },
                AcqRecord::PcsCdmaBlocks { blocks: vec![0, 7] },
            ],
            sys_records: vec![SysRecord {
                sid: 4183,
                nid: Nid::Wildcard,
                preference: Preference::Negative,
                geo: true,
                acq_index: 1,
            }],
        };
        let a = acquisition_table(&prl);
        assert_eq!(a[0].detail, "system A or B, primary or secondary channel");
        assert_eq!(a[1].detail, "blocks A, any");
        let s = system_table(&prl);
        assert_eq!(s[0].nid, "any (65535)");
        assert!(!s[0].preferred);
        assert_eq!(s[0].geo, "same");
    }
}
