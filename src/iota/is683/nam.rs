//! NAM parameter blocks (C.S0016 §3.5.2 reverse, §4.5.2 forward) and the
//! C.S0005 §2.3.1 digit encodings of MIN/IMSI_S, MCC and IMSI_11_12.

use super::bits::{BitReader, BitWriter};
use super::error::Is683Error;

/// BLOCK_ID of the CDMA/Analog NAM block (Tables 3.5.2-1 and 4.5.2-1).
pub const NAM_BLOCK_CDMA_ANALOG: u8 = 0x00;
/// BLOCK_ID of the Mobile Directory Number block.
pub const NAM_BLOCK_MDN: u8 = 0x01;
/// BLOCK_ID of the CDMA NAM block.
pub const NAM_BLOCK_CDMA: u8 = 0x02;
/// BLOCK_ID of the IMSI_T block.
pub const NAM_BLOCK_IMSI_T: u8 = 0x03;

// ---------------------------------------------------------------------------
// Digit encodings (C.S0005 §2.3.1.1 - §2.3.1.3)
// ---------------------------------------------------------------------------

/// Maps a decimal character to its C.S0005 value, where '0' counts as 10.
fn digit_value(c: char, field: &'static str) -> Result<u64, Is683Error> {
    match c {
        '1'..='9' => Ok(u64::from(c as u8 - b'0')),
        '0' => Ok(10),
        _ => Err(Is683Error::InvalidDigits {
            field,
            reason: format!("{c:?} is not a decimal digit"),
        }),
    }
}

fn check_len(s: &str, len: usize, field: &'static str) -> Result<Vec<char>, Is683Error> {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() != len {
        return Err(Is683Error::InvalidDigits {
            field,
            reason: format!("expected {len} digits, got {}", chars.len()),
        });
    }
    Ok(chars)
}

/// Encodes N decimal digits as sum(D_i * 10^(N-i)) - 11..1, '0' = 10.
/// Because every mapped digit is 1..=10, subtracting 1 per digit never
/// borrows, which is what makes the decode a digit-wise "+1 mod 10".
fn encode_digit_group(digits: &[char], field: &'static str) -> Result<u64, Is683Error> {
    let mut value = 0u64;
    for &c in digits {
        value = value * 10 + (digit_value(c, field)? - 1);
    }
    Ok(value)
}

fn decode_digit_group(value: u64, count: u32, field: &'static str) -> Result<String, Is683Error> {
    if value >= 10u64.pow(count) {
        return Err(Is683Error::InvalidValue {
            field,
            reason: format!("{value} exceeds the {count}-digit range"),
        });
    }
    let mut out = String::with_capacity(count as usize);
    for i in (0..count).rev() {
        let d = (value / 10u64.pow(i)) % 10;
        out.push(char::from(b'0' + ((d + 1) % 10) as u8));
    }
    Ok(out)
}

/// Encodes a 10-digit MIN (or the last 10 IMSI digits) into the 34-bit
/// IMSI_S of C.S0005 §2.3.1.1: IMSI_S2 (10 bits, first three digits) in
/// the most significant bits, then IMSI_S1 (24 bits: three digits in 10
/// bits, the thousands digit in 4 bits with '0' = 10, three digits in 10
/// bits).
pub fn encode_min(min: &str) -> Result<u64, Is683Error> {
    const F: &str = "MIN/IMSI_S";
    let d = check_len(min, 10, F)?;
    let s2 = encode_digit_group(&d[0..3], F)?;
    let s1_hi = encode_digit_group(&d[3..6], F)?;
    let thousands = digit_value(d[6], F)?;
    let s1_lo = encode_digit_group(&d[7..10], F)?;
    let s1 = (s1_hi << 14) | (thousands << 10) | s1_lo;
    Ok((s2 << 24) | s1)
}

/// Decodes a 34-bit IMSI_S back into its 10 digits.
pub fn decode_min(imsi_s: u64) -> Result<String, Is683Error> {
    const F: &str = "MIN/IMSI_S";
    if imsi_s >> 34 != 0 {
        return Err(Is683Error::FieldOverflow {
            field: F,
            value: imsi_s,
            bits: 34,
        });
    }
    let s2 = imsi_s >> 24;
    let s1 = imsi_s & 0xFF_FFFF;
    let thousands = (s1 >> 10) & 0xF;
    let thousands_char = match thousands {
        1..=9 => char::from(b'0' + thousands as u8),
        10 => '0',
        _ => {
            return Err(Is683Error::InvalidValue {
                field: F,
                reason: format!("thousands digit code {thousands} is not 1..=10"),
            })
        }
    };
    let mut out = decode_digit_group(s2, 3, F)?;
    out.push_str(&decode_digit_group(s1 >> 14, 3, F)?);
    out.push(thousands_char);
    out.push_str(&decode_digit_group(s1 & 0x3FF, 3, F)?);
    Ok(out)
}

/// Encodes a 3-digit MCC into its 10-bit field (C.S0005 §2.3.1.3).
pub fn encode_mcc(mcc: &str) -> Result<u16, Is683Error> {
    let d = check_len(mcc, 3, "MCC")?;
    Ok(encode_digit_group(&d, "MCC")? as u16)
}

/// Decodes a 10-bit MCC field into 3 digits.
pub fn decode_mcc(value: u16) -> Result<String, Is683Error> {
    decode_digit_group(u64::from(value), 3, "MCC")
}

/// Encodes the 11th and 12th IMSI digits into their 7-bit field
/// (C.S0005 §2.3.1.2).
pub fn encode_imsi_11_12(digits: &str) -> Result<u8, Is683Error> {
    let d = check_len(digits, 2, "IMSI_11_12")?;
    Ok(encode_digit_group(&d, "IMSI_11_12")? as u8)
}

/// Decodes a 7-bit IMSI_11_12 field into 2 digits.
pub fn decode_imsi_11_12(value: u8) -> Result<String, Is683Error> {
    decode_digit_group(u64::from(value), 2, "IMSI_11_12")
}

// ---------------------------------------------------------------------------
// Shared sub-structures
// ---------------------------------------------------------------------------

/// The IMSI fields that appear, in this order, in every NAM block:
/// IMSI_x_CLASS (1), IMSI_x_ADDR_NUM (3), MCC_x (10), IMSI_x_11_12 (7),
/// IMSI_x_S (34) — C.S0016 §3.5.2.1/§4.5.2.1 and following. Values are
/// kept in their encoded on-air form so that decoding is lossless; use
/// [`Imsi::from_digits`] and the accessors to work with digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Imsi {
    /// IMSI class: 0 = class 0 (15-digit IMSI), 1 = class 1.
    pub class: u8,
    /// IMSI_ADDR_NUM (3 bits): number of address digits minus 4 for class 1.
    pub addr_num: u8,
    /// Encoded MCC (10 bits).
    pub mcc: u16,
    /// Encoded IMSI_11_12 (7 bits).
    pub imsi_11_12: u8,
    /// Encoded IMSI_S (34 bits).
    pub imsi_s: u64,
}

impl Imsi {
    /// Builds a class-0 IMSI from its MCC, 11th/12th digits and last ten digits.
    pub fn from_digits(mcc: &str, imsi_11_12: &str, min: &str) -> Result<Self, Is683Error> {
        Ok(Self {
            class: 0,
            addr_num: 0,
            mcc: encode_mcc(mcc)?,
            imsi_11_12: encode_imsi_11_12(imsi_11_12)?,
            imsi_s: encode_min(min)?,
        })
    }

    /// The 15 IMSI digits MCC + 11/12 + S (class 0 view).
    pub fn digits(&self) -> Result<String, Is683Error> {
        let mut s = decode_mcc(self.mcc)?;
        s.push_str(&decode_imsi_11_12(self.imsi_11_12)?);
        s.push_str(&decode_min(self.imsi_s)?);
        Ok(s)
    }

    fn write(&self, w: &mut BitWriter) -> Result<(), Is683Error> {
        w.write(u64::from(self.class), 1, "IMSI_CLASS")?;
        w.write(u64::from(self.addr_num), 3, "IMSI_ADDR_NUM")?;
        w.write(u64::from(self.mcc), 10, "MCC")?;
        w.write(u64::from(self.imsi_11_12), 7, "IMSI_11_12")?;
        w.write(self.imsi_s, 34, "IMSI_S")
    }

    fn read(r: &mut BitReader<'_>) -> Result<Self, Is683Error> {
        Ok(Self {
            class: r.read_u8(1, "IMSI_CLASS")?,
            addr_num: r.read_u8(3, "IMSI_ADDR_NUM")?,
            mcc: r.read_u16(10, "MCC")?,
            imsi_11_12: r.read_u8(7, "IMSI_11_12")?,
            imsi_s: r.read(34, "IMSI_S")?,
        })
    }
}

/// One SID/NID pair (SID 15 bits, NID 16 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SidNid {
    pub sid: u16,
    pub nid: u16,
}

fn write_pairs(w: &mut BitWriter, pairs: &[SidNid], field: &'static str) -> Result<(), Is683Error> {
    w.write(pairs.len() as u64, 8, field)?;
    for p in pairs {
        w.write(u64::from(p.sid), 15, "SID")?;
        w.write(u64::from(p.nid), 16, "NID")?;
    }
    Ok(())
}

fn read_pairs(r: &mut BitReader<'_>, count: u8) -> Result<Vec<SidNid>, Is683Error> {
    (0..count)
        .map(|_| {
            Ok(SidNid {
                sid: r.read_u16(15, "SID")?,
                nid: r.read_u16(16, "NID")?,
            })
        })
        .collect()
}

/// ACCOLC, LOCAL_CONTROL and the three MOB_TERM flags, which follow the
/// IMSI in every CDMA NAM block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccessFlags {
    /// Access overload class (4 bits).
    pub accolc: u8,
    pub local_control: bool,
    pub mob_term_home: bool,
    pub mob_term_for_sid: bool,
    pub mob_term_for_nid: bool,
}

impl AccessFlags {
    fn write(&self, w: &mut BitWriter) -> Result<(), Is683Error> {
        w.write(u64::from(self.accolc), 4, "ACCOLC")?;
        w.write_bool(self.local_control);
        w.write_bool(self.mob_term_home);
        w.write_bool(self.mob_term_for_sid);
        w.write_bool(self.mob_term_for_nid);
        Ok(())
    }

    fn read(r: &mut BitReader<'_>) -> Result<Self, Is683Error> {
        Ok(Self {
            accolc: r.read_u8(4, "ACCOLC")?,
            local_control: r.read_bool("LOCAL_CONTROL")?,
            mob_term_home: r.read_bool("MOB_TERM_HOME")?,
            mob_term_for_sid: r.read_bool("MOB_TERM_FOR_SID")?,
            mob_term_for_nid: r.read_bool("MOB_TERM_FOR_NID")?,
        })
    }
}

// ---------------------------------------------------------------------------
// Blocks
// ---------------------------------------------------------------------------

/// CDMA/Analog NAM parameter block as downloaded by the OTAF
/// (C.S0016 §4.5.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CdmaAnalogNam {
    /// FIRSTCHP, first analog paging channel (11 bits).
    pub firstchp: u16,
    /// HOME_SID (15 bits).
    pub home_sid: u16,
    /// EX, extended address indicator.
    pub ex: bool,
    pub imsi_m: Imsi,
    pub access: AccessFlags,
    /// SID/NID pairs (N_SID_NID is their count).
    pub sid_nid: Vec<SidNid>,
}

/// CDMA/Analog NAM parameter block as reported by the mobile
/// (C.S0016 §3.5.2.1): adds SCM, MOB_P_REV and MAX_SID_NID.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CdmaAnalogNamConfig {
    pub firstchp: u16,
    pub home_sid: u16,
    pub ex: bool,
    /// Station class mark (8 bits).
    pub scm: u8,
    pub mob_p_rev: u8,
    pub imsi_m: Imsi,
    pub access: AccessFlags,
    pub max_sid_nid: u8,
    /// Stored pairs (STORED_SID_NID is their count).
    pub sid_nid: Vec<SidNid>,
}

/// CDMA NAM parameter block as downloaded (C.S0016 §4.5.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CdmaNam {
    pub imsi_m: Imsi,
    pub access: AccessFlags,
    pub sid_nid: Vec<SidNid>,
}

/// CDMA NAM parameter block as reported by the mobile (C.S0016 §3.5.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CdmaNamConfig {
    pub slotted_mode: bool,
    pub mob_p_rev: u8,
    pub imsi_m: Imsi,
    pub access: AccessFlags,
    pub max_sid_nid: u8,
    pub sid_nid: Vec<SidNid>,
}

/// Mobile Directory Number block (C.S0016 §3.5.2.2 / §4.5.2.2):
/// N_DIGITS (4 bits) then 4-bit digits coded as in C.S0005 Table
/// 2.7.1.3.2.4-4 ('1'..'9' = 1..9, '0' = 10, '*' = 11, '#' = 12).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mdn {
    pub digits: String,
}

/// IMSI_T block (C.S0016 §3.5.2.4 / §4.5.2.4); identical on both links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImsiT {
    pub imsi_t: Imsi,
}

fn mdn_digit_code(c: char) -> Result<u64, Is683Error> {
    match c {
        '1'..='9' => Ok(u64::from(c as u8 - b'0')),
        '0' => Ok(10),
        '*' => Ok(11),
        '#' => Ok(12),
        _ => Err(Is683Error::InvalidDigits {
            field: "MDN",
            reason: format!("{c:?} cannot be sent as a DTMF digit"),
        }),
    }
}

fn mdn_digit_char(code: u8) -> Result<char, Is683Error> {
    match code {
        1..=9 => Ok(char::from(b'0' + code)),
        10 => Ok('0'),
        11 => Ok('*'),
        12 => Ok('#'),
        _ => Err(Is683Error::InvalidValue {
            field: "MDN",
            reason: format!("digit code {code} is reserved"),
        }),
    }
}

impl Mdn {
    pub fn new(digits: &str) -> Self {
        Self {
            digits: digits.to_string(),
        }
    }

    fn write(&self, w: &mut BitWriter) -> Result<(), Is683Error> {
        let chars: Vec<char> = self.digits.chars().collect();
        w.write(chars.len() as u64, 4, "N_DIGITS")?;
        for c in chars {
            w.write(mdn_digit_code(c)?, 4, "MDN digit")?;
        }
        Ok(())
    }

    fn read(r: &mut BitReader<'_>) -> Result<Self, Is683Error> {
        let n = r.read_u8(4, "N_DIGITS")?;
        let mut digits = String::with_capacity(usize::from(n));
        for _ in 0..n {
            digits.push(mdn_digit_char(r.read_u8(4, "MDN digit")?)?);
        }
        Ok(Self { digits })
    }
}

impl CdmaAnalogNam {
    fn write(&self, w: &mut BitWriter) -> Result<(), Is683Error> {
        w.write(u64::from(self.firstchp), 11, "FIRSTCHP")?;
        w.write(u64::from(self.home_sid), 15, "HOME_SID")?;
        w.write_bool(self.ex);
        self.imsi_m.write(w)?;
        self.access.write(w)?;
        write_pairs(w, &self.sid_nid, "N_SID_NID")
    }

    fn read(r: &mut BitReader<'_>) -> Result<Self, Is683Error> {
        let firstchp = r.read_u16(11, "FIRSTCHP")?;
        let home_sid = r.read_u16(15, "HOME_SID")?;
        let ex = r.read_bool("EX")?;
        let imsi_m = Imsi::read(r)?;
        let access = AccessFlags::read(r)?;
        let n = r.read_u8(8, "N_SID_NID")?;
        Ok(Self {
            firstchp,
            home_sid,
            ex,
            imsi_m,
            access,
            sid_nid: read_pairs(r, n)?,
        })
    }
}

impl CdmaAnalogNamConfig {
    fn write(&self, w: &mut BitWriter) -> Result<(), Is683Error> {
        w.write(u64::from(self.firstchp), 11, "FIRSTCHP")?;
        w.write(u64::from(self.home_sid), 15, "HOME_SID")?;
        w.write_bool(self.ex);
        w.write(u64::from(self.scm), 8, "SCM")?;
        w.write(u64::from(self.mob_p_rev), 8, "MOB_P_REV")?;
        self.imsi_m.write(w)?;
        self.access.write(w)?;
        w.write(u64::from(self.max_sid_nid), 8, "MAX_SID_NID")?;
        write_pairs(w, &self.sid_nid, "STORED_SID_NID")
    }

    fn read(r: &mut BitReader<'_>) -> Result<Self, Is683Error> {
        let firstchp = r.read_u16(11, "FIRSTCHP")?;
        let home_sid = r.read_u16(15, "HOME_SID")?;
        let ex = r.read_bool("EX")?;
        let scm = r.read_u8(8, "SCM")?;
        let mob_p_rev = r.read_u8(8, "MOB_P_REV")?;
        let imsi_m = Imsi::read(r)?;
        let access = AccessFlags::read(r)?;
        let max_sid_nid = r.read_u8(8, "MAX_SID_NID")?;
        let n = r.read_u8(8, "STORED_SID_NID")?;
        Ok(Self {
            firstchp,
            home_sid,
            ex,
            scm,
            mob_p_rev,
            imsi_m,
            access,
            max_sid_nid,
            sid_nid: read_pairs(r, n)?,
        })
    }
}

impl CdmaNam {
    fn write(&self, w: &mut BitWriter) -> Result<(), Is683Error> {
        self.imsi_m.write(w)?;
        self.access.write(w)?;
        write_pairs(w, &self.sid_nid, "N_SID_NID")
    }

    fn read(r: &mut BitReader<'_>) -> Result<Self, Is683Error> {
        let imsi_m = Imsi::read(r)?;
        let access = AccessFlags::read(r)?;
        let n = r.read_u8(8, "N_SID_NID")?;
        Ok(Self {
            imsi_m,
            access,
            sid_nid: read_pairs(r, n)?,
        })
    }
}

impl CdmaNamConfig {
    fn write(&self, w: &mut BitWriter) -> Result<(), Is683Error> {
        w.write(0, 2, "RESERVED")?;
        w.write_bool(self.slotted_mode);
        w.write(0, 5, "RESERVED")?;
        w.write(u64::from(self.mob_p_rev), 8, "MOB_P_REV")?;
        self.imsi_m.write(w)?;
        self.access.write(w)?;
        w.write(u64::from(self.max_sid_nid), 8, "MAX_SID_NID")?;
        write_pairs(w, &self.sid_nid, "STORED_SID_NID")
    }

    fn read(r: &mut BitReader<'_>) -> Result<Self, Is683Error> {
        r.read(2, "RESERVED")?;
        let slotted_mode = r.read_bool("SLOTTED_MODE")?;
        r.read(5, "RESERVED")?;
        let mob_p_rev = r.read_u8(8, "MOB_P_REV")?;
        let imsi_m = Imsi::read(r)?;
        let access = AccessFlags::read(r)?;
        let max_sid_nid = r.read_u8(8, "MAX_SID_NID")?;
        let n = r.read_u8(8, "STORED_SID_NID")?;
        Ok(Self {
            slotted_mode,
            mob_p_rev,
            imsi_m,
            access,
            max_sid_nid,
            sid_nid: read_pairs(r, n)?,
        })
    }
}

impl ImsiT {
    fn write(&self, w: &mut BitWriter) -> Result<(), Is683Error> {
        self.imsi_t.write(w)?;
        // One RESERVED bit makes the block exactly 7 octets.
        w.write(0, 1, "RESERVED")
    }

    fn read(r: &mut BitReader<'_>) -> Result<Self, Is683Error> {
        let imsi_t = Imsi::read(r)?;
        r.read(1, "RESERVED")?;
        Ok(Self { imsi_t })
    }
}

/// Runs a block body codec over exactly BLOCK_LEN octets, rejecting both
/// short blocks and blocks with more than the final octet's padding.
pub(crate) fn decode_exact<T>(
    block_id: u8,
    data: &[u8],
    f: impl FnOnce(&mut BitReader<'_>) -> Result<T, Is683Error>,
) -> Result<T, Is683Error> {
    let mut r = BitReader::new(data);
    let value = f(&mut r).map_err(|e| match e {
        Is683Error::Truncated { offset, needed, .. } => Is683Error::BlockLength {
            block_id,
            declared: data.len(),
            required: (offset + needed).div_ceil(8),
        },
        other => other,
    })?;
    let required = r.position().div_ceil(8);
    if required != data.len() {
        return Err(Is683Error::BlockLength {
            block_id,
            declared: data.len(),
            required,
        });
    }
    Ok(value)
}

pub(crate) fn encode_body(
    f: impl FnOnce(&mut BitWriter) -> Result<(), Is683Error>,
) -> Result<Vec<u8>, Is683Error> {
    let mut w = BitWriter::new();
    f(&mut w)?;
    w.align();
    Ok(w.into_bytes())
}

/// A NAM parameter block carried in a Download Request (C.S0016 §4.5.2,
/// Table 4.5.2-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamBlock {
    CdmaAnalog(CdmaAnalogNam),
    Mdn(Mdn),
    Cdma(CdmaNam),
    ImsiT(ImsiT),
    /// Any other BLOCK_ID, carried opaque.
    Raw {
        block_id: u8,
        data: Vec<u8>,
    },
}

impl NamBlock {
    pub fn block_id(&self) -> u8 {
        match self {
            NamBlock::CdmaAnalog(_) => NAM_BLOCK_CDMA_ANALOG,
            NamBlock::Mdn(_) => NAM_BLOCK_MDN,
            NamBlock::Cdma(_) => NAM_BLOCK_CDMA,
            NamBlock::ImsiT(_) => NAM_BLOCK_IMSI_T,
            NamBlock::Raw { block_id, .. } => *block_id,
        }
    }

    /// PARAM_DATA octets (without BLOCK_ID/BLOCK_LEN).
    pub fn encode_data(&self) -> Result<Vec<u8>, Is683Error> {
        match self {
            NamBlock::CdmaAnalog(b) => encode_body(|w| b.write(w)),
            NamBlock::Mdn(b) => encode_body(|w| b.write(w)),
            NamBlock::Cdma(b) => encode_body(|w| b.write(w)),
            NamBlock::ImsiT(b) => encode_body(|w| b.write(w)),
            NamBlock::Raw { data, .. } => Ok(data.clone()),
        }
    }

    pub fn decode_data(block_id: u8, data: &[u8]) -> Result<Self, Is683Error> {
        Ok(match block_id {
            NAM_BLOCK_CDMA_ANALOG => {
                NamBlock::CdmaAnalog(decode_exact(block_id, data, CdmaAnalogNam::read)?)
            }
            NAM_BLOCK_MDN => NamBlock::Mdn(decode_exact(block_id, data, Mdn::read)?),
            NAM_BLOCK_CDMA => NamBlock::Cdma(decode_exact(block_id, data, CdmaNam::read)?),
            NAM_BLOCK_IMSI_T => NamBlock::ImsiT(decode_exact(block_id, data, ImsiT::read)?),
            _ => NamBlock::Raw {
                block_id,
                data: data.to_vec(),
            },
        })
    }
}

/// A NAM parameter block reported in a Configuration Response
/// (C.S0016 §3.5.2, Table 3.5.2-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamConfigBlock {
    CdmaAnalog(CdmaAnalogNamConfig),
    Mdn(Mdn),
    Cdma(CdmaNamConfig),
    ImsiT(ImsiT),
    /// Any other BLOCK_ID, or a block the mobile returned empty
    /// (BLOCK_LEN = 0, typically alongside a rejecting result code).
    Raw {
        block_id: u8,
        data: Vec<u8>,
    },
}

impl NamConfigBlock {
    pub fn block_id(&self) -> u8 {
        match self {
            NamConfigBlock::CdmaAnalog(_) => NAM_BLOCK_CDMA_ANALOG,
            NamConfigBlock::Mdn(_) => NAM_BLOCK_MDN,
            NamConfigBlock::Cdma(_) => NAM_BLOCK_CDMA,
            NamConfigBlock::ImsiT(_) => NAM_BLOCK_IMSI_T,
            NamConfigBlock::Raw { block_id, .. } => *block_id,
        }
    }

    pub fn encode_data(&self) -> Result<Vec<u8>, Is683Error> {
        match self {
            NamConfigBlock::CdmaAnalog(b) => encode_body(|w| b.write(w)),
            NamConfigBlock::Mdn(b) => encode_body(|w| b.write(w)),
            NamConfigBlock::Cdma(b) => encode_body(|w| b.write(w)),
            NamConfigBlock::ImsiT(b) => encode_body(|w| b.write(w)),
            NamConfigBlock::Raw { data, .. } => Ok(data.clone()),
        }
    }

    pub fn decode_data(block_id: u8, data: &[u8]) -> Result<Self, Is683Error> {
        if data.is_empty() {
            return Ok(NamConfigBlock::Raw {
                block_id,
                data: Vec::new(),
            });
        }
        Ok(match block_id {
            NAM_BLOCK_CDMA_ANALOG => {
                NamConfigBlock::CdmaAnalog(decode_exact(block_id, data, CdmaAnalogNamConfig::read)?)
            }
            NAM_BLOCK_MDN => NamConfigBlock::Mdn(decode_exact(block_id, data, Mdn::read)?),
            NAM_BLOCK_CDMA => {
                NamConfigBlock::Cdma(decode_exact(block_id, data, CdmaNamConfig::read)?)
            }
            NAM_BLOCK_IMSI_T => NamConfigBlock::ImsiT(decode_exact(block_id, data, ImsiT::read)?),
            _ => NamConfigBlock::Raw {
                block_id,
                data: data.to_vec(),
            },
        })
    }
}
