//! Preferred Roaming List (C.S0016 §3.5.5, SSPR_P_REV 1 / IS-683-A
//! format), its CRC (§3.5.5.1), and the SSPR parameter blocks that carry
//! it in segments (§3.5.3 reverse, §4.5.3 forward).

use super::bits::{BitReader, BitWriter};
use super::error::Is683Error;
use super::nam::{decode_exact, encode_body};

/// Forward SSPR BLOCK_ID: Preferred Roaming List (Table 4.5.3-1).
pub const SSPR_FWD_BLOCK_PRL: u8 = 0x00;
/// Forward SSPR BLOCK_ID: Extended Preferred Roaming List (Table 4.5.3-1).
pub const SSPR_FWD_BLOCK_EXT_PRL: u8 = 0x01;
/// Reverse SSPR BLOCK_ID: PRL Dimensions (Table 3.5.3-1).
pub const SSPR_REV_BLOCK_PRL_DIMENSIONS: u8 = 0x00;
/// Reverse SSPR BLOCK_ID: Preferred Roaming List (Table 3.5.3-1).
pub const SSPR_REV_BLOCK_PRL: u8 = 0x01;
/// Reverse SSPR BLOCK_ID: Extended PRL Dimensions (Table 3.5.3-1).
pub const SSPR_REV_BLOCK_EXT_PRL_DIMENSIONS: u8 = 0x02;

/// Largest SEGMENT_SIZE that still fits an 8-bit BLOCK_LEN once the
/// 4-octet segment header (RESERVED/LAST_SEGMENT, SEGMENT_OFFSET,
/// SEGMENT_SIZE) is added.
pub const MAX_SEGMENT_SIZE: u8 = 251;

/// PR_LIST_CRC (C.S0016 §3.5.5.1): CRC-16 with generator
/// x^16 + x^12 + x^5 + 1, register preset to all ones, data shifted in
/// MSB first, and the register complemented on output (the catalogue's
/// CRC-16/GENIBUS). `data` is every PRL octet before PR_LIST_CRC.
pub fn prl_crc(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &octet in data {
        crc ^= u16::from(octet) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    !crc
}

/// An acquisition record (C.S0016 §3.5.5.2.1, ACQ_TYPE Table 3.5.5.2-1).
/// Field values are the raw codes: A_B 00 = A, 01 = B, 11 = either;
/// PRI_SEC 01 = primary, 10 = secondary, 11 = either; PCS BLOCK
/// 000..101 = A..F, 111 = any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcqRecord {
    /// ACQ_TYPE 1: cellular analog (§3.5.5.2.1.1).
    CellularAnalog { a_b: u8 },
    /// ACQ_TYPE 2: cellular CDMA standard channels (§3.5.5.2.1.2).
    CellularCdmaStandard { a_b: u8, pri_sec: u8 },
    /// ACQ_TYPE 3: cellular CDMA custom channels (§3.5.5.2.1.3).
    CellularCdmaCustom { channels: Vec<u16> },
    /// ACQ_TYPE 4: cellular CDMA preferred (§3.5.5.2.1.4).
    CellularCdmaPreferred { a_b: u8 },
    /// ACQ_TYPE 5: PCS CDMA using blocks (§3.5.5.2.1.5).
    PcsCdmaBlocks { blocks: Vec<u8> },
    /// ACQ_TYPE 6: PCS CDMA using channels (§3.5.5.2.1.6).
    PcsCdmaChannels { channels: Vec<u16> },
    /// ACQ_TYPE 7: JTACS CDMA standard channels (§3.5.5.2.1.7).
    JtacsCdmaStandard { a_b: u8, pri_sec: u8 },
    /// ACQ_TYPE 8: JTACS CDMA custom channels (§3.5.5.2.1.8).
    JtacsCdmaCustom { channels: Vec<u16> },
    /// ACQ_TYPE 9: 2 GHz band using channels (§3.5.5.2.1.9).
    Band2GhzChannels { channels: Vec<u16> },
}

fn write_channels(w: &mut BitWriter, channels: &[u16]) -> Result<(), Is683Error> {
    w.write(channels.len() as u64, 5, "NUM_CHANS")?;
    for &c in channels {
        w.write(u64::from(c), 11, "CHAN")?;
    }
    Ok(())
}

fn read_channels(r: &mut BitReader<'_>) -> Result<Vec<u16>, Is683Error> {
    let n = r.read_u8(5, "NUM_CHANS")?;
    (0..n).map(|_| r.read_u16(11, "CHAN")).collect()
}

impl AcqRecord {
    pub fn acq_type(&self) -> u8 {
        match self {
            AcqRecord::CellularAnalog { .. } => 1,
            AcqRecord::CellularCdmaStandard { .. } => 2,
            AcqRecord::CellularCdmaCustom { .. } => 3,
            AcqRecord::CellularCdmaPreferred { .. } => 4,
            AcqRecord::PcsCdmaBlocks { .. } => 5,
            AcqRecord::PcsCdmaChannels { .. } => 6,
            AcqRecord::JtacsCdmaStandard { .. } => 7,
            AcqRecord::JtacsCdmaCustom { .. } => 8,
            AcqRecord::Band2GhzChannels { .. } => 9,
        }
    }

    fn write(&self, w: &mut BitWriter) -> Result<(), Is683Error> {
        w.write(u64::from(self.acq_type()), 4, "ACQ_TYPE")?;
        match self {
            AcqRecord::CellularAnalog { a_b } | AcqRecord::CellularCdmaPreferred { a_b } => {
                w.write(u64::from(*a_b), 2, "A_B")
            }
            AcqRecord::CellularCdmaStandard { a_b, pri_sec }
            | AcqRecord::JtacsCdmaStandard { a_b, pri_sec } => {
                w.write(u64::from(*a_b), 2, "A_B")?;
                w.write(u64::from(*pri_sec), 2, "PRI_SEC")
            }
            AcqRecord::CellularCdmaCustom { channels }
            | AcqRecord::PcsCdmaChannels { channels }
            | AcqRecord::JtacsCdmaCustom { channels }
            | AcqRecord::Band2GhzChannels { channels } => write_channels(w, channels),
            AcqRecord::PcsCdmaBlocks { blocks } => {
                w.write(blocks.len() as u64, 3, "NUM_BLOCKS")?;
                for &b in blocks {
                    w.write(u64::from(b), 3, "BLOCK")?;
                }
                Ok(())
            }
        }
    }

    fn read(r: &mut BitReader<'_>) -> Result<Self, Is683Error> {
        let acq_type = r.read_u8(4, "ACQ_TYPE")?;
        Ok(match acq_type {
            1 => AcqRecord::CellularAnalog {
                a_b: r.read_u8(2, "A_B")?,
            },
            2 => AcqRecord::CellularCdmaStandard {
                a_b: r.read_u8(2, "A_B")?,
                pri_sec: r.read_u8(2, "PRI_SEC")?,
            },
            3 => AcqRecord::CellularCdmaCustom {
                channels: read_channels(r)?,
            },
            4 => AcqRecord::CellularCdmaPreferred {
                a_b: r.read_u8(2, "A_B")?,
            },
            5 => {
                let n = r.read_u8(3, "NUM_BLOCKS")?;
                AcqRecord::PcsCdmaBlocks {
                    blocks: (0..n)
                        .map(|_| r.read_u8(3, "BLOCK"))
                        .collect::<Result<_, _>>()?,
                }
            }
            6 => AcqRecord::PcsCdmaChannels {
                channels: read_channels(r)?,
            },
            7 => AcqRecord::JtacsCdmaStandard {
                a_b: r.read_u8(2, "A_B")?,
                pri_sec: r.read_u8(2, "PRI_SEC")?,
            },
            8 => AcqRecord::JtacsCdmaCustom {
                channels: read_channels(r)?,
            },
            9 => AcqRecord::Band2GhzChannels {
                channels: read_channels(r)?,
            },
            // Records carry no length, so an unknown type makes the rest
            // of the table unparseable; fail rather than guess.
            other => {
                return Err(Is683Error::InvalidValue {
                    field: "ACQ_TYPE",
                    reason: format!(
                        "acquisition record type {other} is not supported in an IS-683-A PRL"
                    ),
                })
            }
        })
    }
}

/// NID_INCL and NID of a system record (Table 3.5.5.3-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nid {
    /// '00': NID omitted, the mobile assumes 65535 (any NID).
    Wildcard,
    /// '01': NID present.
    Included(u16),
    /// '10': NID omitted, the mobile assumes 0 (public system).
    Public,
}

/// NEG_PREF and the fields only a preferred system carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preference {
    /// NEG_PREF = 0: the mobile shall not operate on this system.
    Negative,
    /// NEG_PREF = 1, with PRI (more preferred than the next record in
    /// the GEO) and ROAM_IND.
    Preferred { pri: bool, roam_ind: u8 },
}

/// A system record (C.S0016 §3.5.5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysRecord {
    /// SID (15 bits).
    pub sid: u16,
    pub nid: Nid,
    pub preference: Preference,
    /// GEO: true = same geographic area as the previous record.
    pub geo: bool,
    /// ACQ_INDEX (9 bits) into the acquisition table.
    pub acq_index: u16,
}

impl SysRecord {
    fn write(&self, w: &mut BitWriter) -> Result<(), Is683Error> {
        w.write(u64::from(self.sid), 15, "SID")?;
        match self.nid {
            Nid::Wildcard => w.write(0b00, 2, "NID_INCL")?,
            Nid::Included(nid) => {
                w.write(0b01, 2, "NID_INCL")?;
                w.write(u64::from(nid), 16, "NID")?;
            }
            Nid::Public => w.write(0b10, 2, "NID_INCL")?,
        }
        w.write_bool(matches!(self.preference, Preference::Preferred { .. }));
        w.write_bool(self.geo);
        if let Preference::Preferred { pri, .. } = self.preference {
            w.write_bool(pri);
        }
        w.write(u64::from(self.acq_index), 9, "ACQ_INDEX")?;
        if let Preference::Preferred { roam_ind, .. } = self.preference {
            w.write(u64::from(roam_ind), 8, "ROAM_IND")?;
        }
        Ok(())
    }

    fn read(r: &mut BitReader<'_>) -> Result<Self, Is683Error> {
        let sid = r.read_u16(15, "SID")?;
        let nid = match r.read_u8(2, "NID_INCL")? {
            0b00 => Nid::Wildcard,
            0b01 => Nid::Included(r.read_u16(16, "NID")?),
            0b10 => Nid::Public,
            _ => {
                return Err(Is683Error::InvalidValue {
                    field: "NID_INCL",
                    reason: "value '11' is reserved".into(),
                })
            }
        };
        let preferred = r.read_bool("NEG_PREF")?;
        let geo = r.read_bool("GEO")?;
        let pri = if preferred {
            r.read_bool("PRI")?
        } else {
            false
        };
        let acq_index = r.read_u16(9, "ACQ_INDEX")?;
        let preference = if preferred {
            Preference::Preferred {
                pri,
                roam_ind: r.read_u8(8, "ROAM_IND")?,
            }
        } else {
            Preference::Negative
        };
        Ok(Self {
            sid,
            nid,
            preference,
            geo,
            acq_index,
        })
    }
}

/// An IS-683-A Preferred Roaming List (C.S0016 §3.5.5). PR_LIST_SIZE,
/// NUM_ACQ_RECS, NUM_SYS_RECS and PR_LIST_CRC are derived on encode and
/// checked on decode, so they are not stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prl {
    pub pr_list_id: u16,
    pub pref_only: bool,
    pub def_roam_ind: u8,
    pub acq_records: Vec<AcqRecord>,
    pub sys_records: Vec<SysRecord>,
}

/// One PRL segment: the SSPR "Preferred Roaming List" parameter block
/// (C.S0016 §3.5.3.2 reverse, §4.5.3.1 forward; the Extended PRL block
/// §4.5.3.2 has the same layout). SEGMENT_SIZE is `data.len()`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrlSegment {
    pub last_segment: bool,
    pub segment_offset: u16,
    pub data: Vec<u8>,
}

impl PrlSegment {
    /// Encodes RESERVED(7) LAST_SEGMENT(1) SEGMENT_OFFSET(16)
    /// SEGMENT_SIZE(8) SEGMENT_DATA.
    pub fn encode_data(&self) -> Result<Vec<u8>, Is683Error> {
        if self.data.len() > usize::from(MAX_SEGMENT_SIZE) {
            return Err(Is683Error::FieldOverflow {
                field: "SEGMENT_SIZE",
                value: self.data.len() as u64,
                bits: 8,
            });
        }
        encode_body(|w| {
            w.write(0, 7, "RESERVED")?;
            w.write_bool(self.last_segment);
            w.write(u64::from(self.segment_offset), 16, "SEGMENT_OFFSET")?;
            w.write(self.data.len() as u64, 8, "SEGMENT_SIZE")?;
            w.write_bytes(&self.data);
            Ok(())
        })
    }

    pub fn decode_data(block_id: u8, data: &[u8]) -> Result<Self, Is683Error> {
        decode_exact(block_id, data, |r| {
            r.read(7, "RESERVED")?;
            let last_segment = r.read_bool("LAST_SEGMENT")?;
            let segment_offset = r.read_u16(16, "SEGMENT_OFFSET")?;
            let size = r.read_u8(8, "SEGMENT_SIZE")?;
            let data = r.read_bytes(usize::from(size), "SEGMENT_DATA")?;
            Ok(Self {
                last_segment,
                segment_offset,
                data,
            })
        })
    }
}

/// Splits already-encoded PRL octets into segments of at most `max`
/// octets (the mobile's REQUEST_MAX_SIZE, or [`MAX_SEGMENT_SIZE`]).
pub fn segment_bytes(bytes: &[u8], max: u8) -> Result<Vec<PrlSegment>, Is683Error> {
    let max = usize::from(max.min(MAX_SEGMENT_SIZE));
    if max == 0 {
        return Err(Is683Error::Segmentation("maximum segment size is 0".into()));
    }
    if bytes.len() > usize::from(u16::MAX) + 1 {
        return Err(Is683Error::Segmentation(format!(
            "{} octets exceed the 16-bit SEGMENT_OFFSET range",
            bytes.len()
        )));
    }
    let count = bytes.len().div_ceil(max).max(1);
    let mut out = Vec::with_capacity(count);
    for (i, chunk) in bytes.chunks(max).enumerate() {
        let offset = i * max;
        out.push(PrlSegment {
            last_segment: i + 1 == count,
            segment_offset: u16::try_from(offset).map_err(|_| {
                Is683Error::Segmentation(format!("offset {offset} exceeds 16 bits"))
            })?,
            data: chunk.to_vec(),
        });
    }
    if out.is_empty() {
        out.push(PrlSegment {
            last_segment: true,
            segment_offset: 0,
            data: Vec::new(),
        });
    }
    Ok(out)
}

/// Reassembles segments (in order) into PRL octets, insisting on
/// contiguous offsets and a LAST_SEGMENT on the final one only.
pub fn reassemble(segments: &[PrlSegment]) -> Result<Vec<u8>, Is683Error> {
    let mut out = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        if usize::from(seg.segment_offset) != out.len() {
            return Err(Is683Error::Segmentation(format!(
                "segment {i} starts at offset {} but {} octets were received",
                seg.segment_offset,
                out.len()
            )));
        }
        let is_last = i + 1 == segments.len();
        if seg.last_segment != is_last {
            return Err(Is683Error::Segmentation(format!(
                "segment {i} has LAST_SEGMENT={} but is{} the final segment",
                seg.last_segment,
                if is_last { "" } else { " not" }
            )));
        }
        out.extend_from_slice(&seg.data);
    }
    if segments.is_empty() {
        return Err(Is683Error::Segmentation("no segments".into()));
    }
    Ok(out)
}

impl Prl {
    /// Encodes the complete list, filling in PR_LIST_SIZE, the record
    /// counts, the RESERVED padding and PR_LIST_CRC.
    pub fn encode(&self) -> Result<Vec<u8>, Is683Error> {
        let mut w = BitWriter::new();
        // PR_LIST_SIZE is patched in once the length is known.
        w.write(0, 16, "PR_LIST_SIZE")?;
        w.write(u64::from(self.pr_list_id), 16, "PR_LIST_ID")?;
        w.write_bool(self.pref_only);
        w.write(u64::from(self.def_roam_ind), 8, "DEF_ROAM_IND")?;
        w.write(self.acq_records.len() as u64, 9, "NUM_ACQ_RECS")?;
        w.write(self.sys_records.len() as u64, 14, "NUM_SYS_RECS")?;
        for rec in &self.acq_records {
            rec.write(&mut w)?;
        }
        for rec in &self.sys_records {
            rec.write(&mut w)?;
        }
        w.align();
        let mut bytes = w.into_bytes();
        let total = bytes.len() + 2;
        let size = u16::try_from(total).map_err(|_| Is683Error::FieldOverflow {
            field: "PR_LIST_SIZE",
            value: total as u64,
            bits: 16,
        })?;
        bytes[..2].copy_from_slice(&size.to_be_bytes());
        let crc = prl_crc(&bytes);
        bytes.extend_from_slice(&crc.to_be_bytes());
        Ok(bytes)
    }

    /// Decodes a complete list, verifying PR_LIST_SIZE and PR_LIST_CRC
    /// before trusting any record.
    pub fn decode(bytes: &[u8]) -> Result<Prl, Is683Error> {
        // 64 header bits + 16 CRC bits.
        if bytes.len() < 10 {
            return Err(Is683Error::Truncated {
                field: "PRL header",
                offset: 0,
                needed: 80,
                available: bytes.len() * 8,
            });
        }
        let declared = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
        if declared != bytes.len() {
            return Err(Is683Error::PrlSizeMismatch {
                declared,
                actual: bytes.len(),
            });
        }
        let (body, crc_bytes) = bytes.split_at(bytes.len() - 2);
        let stored = u16::from_be_bytes([crc_bytes[0], crc_bytes[1]]);
        let computed = prl_crc(body);
        if stored != computed {
            return Err(Is683Error::CrcMismatch { stored, computed });
        }
        let mut r = BitReader::new(body);
        r.read(16, "PR_LIST_SIZE")?;
        let pr_list_id = r.read_u16(16, "PR_LIST_ID")?;
        let pref_only = r.read_bool("PREF_ONLY")?;
        let def_roam_ind = r.read_u8(8, "DEF_ROAM_IND")?;
        let num_acq = r.read_u16(9, "NUM_ACQ_RECS")?;
        let num_sys = r.read_u16(14, "NUM_SYS_RECS")?;
        let acq_records = (0..num_acq)
            .map(|_| AcqRecord::read(&mut r))
            .collect::<Result<Vec<_>, _>>()?;
        let sys_records = (0..num_sys)
            .map(|_| SysRecord::read(&mut r))
            .collect::<Result<Vec<_>, _>>()?;
        // Only the RESERVED bits that complete the last octet may follow.
        if r.remaining_bits() >= 8 {
            return Err(Is683Error::PrlSizeMismatch {
                declared,
                actual: r.position().div_ceil(8) + 2,
            });
        }
        Ok(Prl {
            pr_list_id,
            pref_only,
            def_roam_ind,
            acq_records,
            sys_records,
        })
    }

    /// Encodes the list and splits it into SSPR download segments.
    pub fn segments(&self, max: u8) -> Result<Vec<PrlSegment>, Is683Error> {
        segment_bytes(&self.encode()?, max)
    }

    /// Reassembles segments and decodes the result.
    pub fn from_segments(segments: &[PrlSegment]) -> Result<Prl, Is683Error> {
        Prl::decode(&reassemble(segments)?)
    }

    /// The PRL Dimensions block a mobile holding this list would report.
    pub fn dimensions(&self, max_pr_list_size: u16) -> Result<PrlDimensions, Is683Error> {
        let size = self.encode()?.len();
        Ok(PrlDimensions {
            max_pr_list_size,
            cur_pr_list_size: u16::try_from(size).unwrap_or(u16::MAX),
            pr_list_id: self.pr_list_id,
            num_acq_recs: u16::try_from(self.acq_records.len()).unwrap_or(u16::MAX),
            num_sys_recs: u16::try_from(self.sys_records.len()).unwrap_or(u16::MAX),
        })
    }
}

/// PRL Dimensions parameter block (C.S0016 §3.5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrlDimensions {
    pub max_pr_list_size: u16,
    pub cur_pr_list_size: u16,
    pub pr_list_id: u16,
    /// NUM_ACQ_RECS (9 bits).
    pub num_acq_recs: u16,
    /// NUM_SYS_RECS (14 bits).
    pub num_sys_recs: u16,
}

/// Extended PRL Dimensions parameter block (C.S0016 §3.5.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExtPrlDimensions {
    pub max_pr_list_size: u16,
    pub cur_pr_list_size: u16,
    pub pr_list_id: u16,
    pub cur_sspr_p_rev: u8,
    pub num_acq_recs: u16,
    pub num_common_subnet_recs: u16,
    pub num_ext_sys_recs: u16,
}

/// An SSPR parameter block in an SSPR Download Request (C.S0016 §4.5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsprBlock {
    /// BLOCK_ID 0: a segment of an IS-683-A PRL.
    Prl(PrlSegment),
    /// BLOCK_ID 1: a segment of an Extended PRL (SSPR_P_REV >= 2);
    /// the segment content is carried opaque.
    ExtendedPrl(PrlSegment),
    Raw {
        block_id: u8,
        data: Vec<u8>,
    },
}

impl SsprBlock {
    pub fn block_id(&self) -> u8 {
        match self {
            SsprBlock::Prl(_) => SSPR_FWD_BLOCK_PRL,
            SsprBlock::ExtendedPrl(_) => SSPR_FWD_BLOCK_EXT_PRL,
            SsprBlock::Raw { block_id, .. } => *block_id,
        }
    }

    pub fn encode_data(&self) -> Result<Vec<u8>, Is683Error> {
        match self {
            SsprBlock::Prl(s) | SsprBlock::ExtendedPrl(s) => s.encode_data(),
            SsprBlock::Raw { data, .. } => Ok(data.clone()),
        }
    }

    pub fn decode_data(block_id: u8, data: &[u8]) -> Result<Self, Is683Error> {
        Ok(match block_id {
            SSPR_FWD_BLOCK_PRL => SsprBlock::Prl(PrlSegment::decode_data(block_id, data)?),
            SSPR_FWD_BLOCK_EXT_PRL => {
                SsprBlock::ExtendedPrl(PrlSegment::decode_data(block_id, data)?)
            }
            _ => SsprBlock::Raw {
                block_id,
                data: data.to_vec(),
            },
        })
    }
}

/// An SSPR parameter block in an SSPR Configuration Response
/// (C.S0016 §3.5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsprConfigBlock {
    /// BLOCK_ID 0 (§3.5.3.1).
    PrlDimensions(PrlDimensions),
    /// BLOCK_ID 1 (§3.5.3.2).
    Prl(PrlSegment),
    /// BLOCK_ID 2 (§3.5.3.3).
    ExtPrlDimensions(ExtPrlDimensions),
    /// Other BLOCK_IDs, or an empty block returned with a rejection.
    Raw { block_id: u8, data: Vec<u8> },
}

impl SsprConfigBlock {
    pub fn block_id(&self) -> u8 {
        match self {
            SsprConfigBlock::PrlDimensions(_) => SSPR_REV_BLOCK_PRL_DIMENSIONS,
            SsprConfigBlock::Prl(_) => SSPR_REV_BLOCK_PRL,
            SsprConfigBlock::ExtPrlDimensions(_) => SSPR_REV_BLOCK_EXT_PRL_DIMENSIONS,
            SsprConfigBlock::Raw { block_id, .. } => *block_id,
        }
    }

    pub fn encode_data(&self) -> Result<Vec<u8>, Is683Error> {
        match self {
            SsprConfigBlock::PrlDimensions(d) => encode_body(|w| {
                w.write(u64::from(d.max_pr_list_size), 16, "MAX_PR_LIST_SIZE")?;
                w.write(u64::from(d.cur_pr_list_size), 16, "CUR_PR_LIST_SIZE")?;
                w.write(u64::from(d.pr_list_id), 16, "PR_LIST_ID")?;
                w.write(0, 1, "RESERVED")?;
                w.write(u64::from(d.num_acq_recs), 9, "NUM_ACQ_RECS")?;
                w.write(u64::from(d.num_sys_recs), 14, "NUM_SYS_RECS")
            }),
            SsprConfigBlock::ExtPrlDimensions(d) => encode_body(|w| {
                w.write(u64::from(d.max_pr_list_size), 16, "MAX_PR_LIST_SIZE")?;
                w.write(u64::from(d.cur_pr_list_size), 16, "CUR_PR_LIST_SIZE")?;
                w.write(u64::from(d.pr_list_id), 16, "PR_LIST_ID")?;
                w.write(u64::from(d.cur_sspr_p_rev), 8, "CUR_SSPR_P_REV")?;
                w.write(0, 1, "RESERVED")?;
                w.write(u64::from(d.num_acq_recs), 9, "NUM_ACQ_RECS")?;
                w.write(
                    u64::from(d.num_common_subnet_recs),
                    9,
                    "NUM_COMMON_SUBNET_RECS",
                )?;
                w.write(u64::from(d.num_ext_sys_recs), 14, "NUM_EXT_SYS_RECS")
            }),
            SsprConfigBlock::Prl(s) => s.encode_data(),
            SsprConfigBlock::Raw { data, .. } => Ok(data.clone()),
        }
    }

    pub fn decode_data(block_id: u8, data: &[u8]) -> Result<Self, Is683Error> {
        if data.is_empty() {
            return Ok(SsprConfigBlock::Raw {
                block_id,
                data: Vec::new(),
            });
        }
        Ok(match block_id {
            SSPR_REV_BLOCK_PRL_DIMENSIONS => {
                SsprConfigBlock::PrlDimensions(decode_exact(block_id, data, |r| {
                    let max_pr_list_size = r.read_u16(16, "MAX_PR_LIST_SIZE")?;
                    let cur_pr_list_size = r.read_u16(16, "CUR_PR_LIST_SIZE")?;
                    let pr_list_id = r.read_u16(16, "PR_LIST_ID")?;
                    r.read(1, "RESERVED")?;
                    Ok(PrlDimensions {
                        max_pr_list_size,
                        cur_pr_list_size,
                        pr_list_id,
                        num_acq_recs: r.read_u16(9, "NUM_ACQ_RECS")?,
                        num_sys_recs: r.read_u16(14, "NUM_SYS_RECS")?,
                    })
                })?)
            }
            SSPR_REV_BLOCK_EXT_PRL_DIMENSIONS => {
                SsprConfigBlock::ExtPrlDimensions(decode_exact(block_id, data, |r| {
                    let max_pr_list_size = r.read_u16(16, "MAX_PR_LIST_SIZE")?;
                    let cur_pr_list_size = r.read_u16(16, "CUR_PR_LIST_SIZE")?;
                    let pr_list_id = r.read_u16(16, "PR_LIST_ID")?;
                    let cur_sspr_p_rev = r.read_u8(8, "CUR_SSPR_P_REV")?;
                    r.read(1, "RESERVED")?;
                    Ok(ExtPrlDimensions {
                        max_pr_list_size,
                        cur_pr_list_size,
                        pr_list_id,
                        cur_sspr_p_rev,
                        num_acq_recs: r.read_u16(9, "NUM_ACQ_RECS")?,
                        num_common_subnet_recs: r.read_u16(9, "NUM_COMMON_SUBNET_RECS")?,
                        num_ext_sys_recs: r.read_u16(14, "NUM_EXT_SYS_RECS")?,
                    })
                })?)
            }
            SSPR_REV_BLOCK_PRL => SsprConfigBlock::Prl(PrlSegment::decode_data(block_id, data)?),
            _ => SsprConfigBlock::Raw {
                block_id,
                data: data.to_vec(),
            },
        })
    }
}
