//! CDMA / 3GPP subscriber and equipment identifiers.
//!
//! Every type here is a newtype whose constructors validate, so code that
//! receives an `Esn`, `Meid`, `Imsi`, `Mdn` or `Min` never has to re-check it.
//! Each type serializes as its canonical string and deserializes through the
//! same validating parser, so nothing invalid can enter through serde either.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

/// Inputs can come from untrusted payloads; cap what an error message echoes
/// so a huge bogus value cannot blow up logs.
const MAX_SHOWN_INPUT_CHARS: usize = 64;

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";
const ESN_SERIAL_MASK: u32 = 0x00FF_FFFF;
const MEID_SERIAL_MASK: u64 = 0x00FF_FFFF;
const MEID_MAX: u64 = (1 << 56) - 1;
const MEID_HEX_DIGITS: usize = 14;
/// Manufacturer code reserved by TIA for pseudo-ESNs derived from MEIDs.
const PSEUDO_ESN_MANUFACTURER: u8 = 0x80;

/// Which identifier an [`IdentifierError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentifierKind {
    Esn,
    Meid,
    Imsi,
    Mdn,
    Min,
}

/// Why a string was rejected. `input` fields hold the caller's original text
/// (truncated when very long) so the message points at the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("ESN must be 8 hexadecimal digits or 11 decimal digits, got {input:?}")]
    EsnFormat { input: String },
    #[error("ESN decimal manufacturer code must be 000-255 but is {code:03} in {input:?}")]
    EsnManufacturerOutOfRange { code: u64, input: String },
    #[error("ESN decimal serial number must be 00000000-16777215 but is {serial:08} in {input:?}")]
    EsnSerialOutOfRange { serial: u64, input: String },
    #[error(
        "{esn} is a pseudo-ESN (manufacturer code 0x80, derived from a MEID), not a handset's own ESN: pseudo-ESNs are shared by many MEIDs, so give the handset's real ESN or its MEID"
    )]
    EsnPseudo { esn: String },
    #[error(
        "MEID must be 14 hexadecimal digits, 15 with a check digit, or 18 decimal digits, got {input:?}"
    )]
    MeidFormat { input: String },
    #[error("MEID check digit is {expected} but {given} was given in {input:?}")]
    MeidCheckDigit {
        expected: char,
        given: char,
        input: String,
    },
    #[error(
        "MEID decimal manufacturer code must be at most 4294967295 but is {code:010} in {input:?}"
    )]
    MeidManufacturerOutOfRange { code: u64, input: String },
    #[error(
        "MEID decimal serial number must be 00000000-16777215 but is {serial:08} in {input:?}"
    )]
    MeidSerialOutOfRange { serial: u64, input: String },
    #[error("MEID must fit in 56 bits, got {value:#X}")]
    MeidValueOutOfRange { value: u64 },
    #[error(
        "{input:?} is not an ESN (8 hex or 11 decimal digits) or a MEID (14 hex digits, 15 with the check digit, or 18 decimal digits)"
    )]
    HandsetIdFormat { input: String },
    #[error("IMSI must be exactly 15 decimal digits, got {input:?}")]
    ImsiFormat { input: String },
    #[error(
        "MDN must be 10 decimal digits, optionally with separators and a leading +1 or 1, got {input:?}"
    )]
    MdnFormat { input: String },
    #[error("MIN must be exactly 10 decimal digits, got {input:?}")]
    MinFormat { input: String },
}

impl IdentifierError {
    /// Lets callers map errors to a field without matching every variant.
    pub fn kind(&self) -> IdentifierKind {
        match self {
            Self::EsnFormat { .. }
            | Self::EsnManufacturerOutOfRange { .. }
            | Self::EsnSerialOutOfRange { .. }
            | Self::EsnPseudo { .. } => IdentifierKind::Esn,
            Self::MeidFormat { .. }
            | Self::MeidCheckDigit { .. }
            | Self::MeidManufacturerOutOfRange { .. }
            | Self::MeidSerialOutOfRange { .. }
            | Self::MeidValueOutOfRange { .. }
            | Self::HandsetIdFormat { .. } => IdentifierKind::Meid,
            Self::ImsiFormat { .. } => IdentifierKind::Imsi,
            Self::MdnFormat { .. } => IdentifierKind::Mdn,
            Self::MinFormat { .. } => IdentifierKind::Min,
        }
    }
}

fn shown(input: &str) -> String {
    if input.chars().count() <= MAX_SHOWN_INPUT_CHARS {
        input.to_owned()
    } else {
        let mut s: String = input.chars().take(MAX_SHOWN_INPUT_CHARS).collect();
        s.push('…');
        s
    }
}

/// Parses digits in `radix` without the sign handling of `from_str_radix`,
/// which would otherwise let "+1234567" pass as an 8-digit ESN.
fn parse_digits(s: &str, radix: u32) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.chars().try_fold(0u64, |acc, c| {
        let d = c.to_digit(radix)?;
        acc.checked_mul(u64::from(radix))?.checked_add(u64::from(d))
    })
}

fn split_hex_prefix(s: &str) -> (bool, &str) {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(rest) => (true, rest),
        None => (false, s),
    }
}

fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Implements the string conversions every identifier shares, all routed
/// through `parse` so there is exactly one validation path.
macro_rules! string_conversions {
    ($ty:ident) => {
        impl FromStr for $ty {
            type Err = IdentifierError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = IdentifierError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = IdentifierError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.to_string()
            }
        }
    };
}

/// Electronic Serial Number: 8-bit manufacturer code + 24-bit serial.
///
/// The 14-bit-manufacturer layout used by a few legacy reserved codes is not
/// modelled: the 11-digit decimal form is defined on the 8/24 split only.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Esn(u32);

impl Esn {
    /// Accepts 8 hex digits (any case, optional `0x`) or the 11-digit decimal
    /// form `MMMSSSSSSSS`; surrounding whitespace is ignored.
    pub fn parse(s: &str) -> Result<Esn, IdentifierError> {
        let format_err = || IdentifierError::EsnFormat { input: shown(s) };
        let (prefixed, body) = split_hex_prefix(s.trim());

        // Checked before hex so an 11-digit decimal ESN is never misread.
        if !prefixed && body.len() == 11 && is_decimal(body) {
            let (code, serial) = body.split_at(3);
            let code = parse_digits(code, 10).ok_or_else(format_err)?;
            let serial = parse_digits(serial, 10).ok_or_else(format_err)?;
            if code > 0xFF {
                return Err(IdentifierError::EsnManufacturerOutOfRange {
                    code,
                    input: shown(s),
                });
            }
            if serial > u64::from(ESN_SERIAL_MASK) {
                return Err(IdentifierError::EsnSerialOutOfRange {
                    serial,
                    input: shown(s),
                });
            }
            return u32::try_from((code << 24) | serial)
                .map(Esn)
                .map_err(|_| format_err());
        }

        if body.len() == 8 {
            if let Some(v) = parse_digits(body, 16).and_then(|v| u32::try_from(v).ok()) {
                return Ok(Esn(v));
            }
        }
        Err(format_err())
    }

    /// [`Esn::parse`] for a value that must name one handset (a new
    /// device, an ESN change's target): a pseudo-ESN is refused, since it
    /// is only a MEID's derived value and many MEIDs share each one.
    pub fn parse_real(s: &str) -> Result<Esn, IdentifierError> {
        let esn = Esn::parse(s)?;
        if esn.is_pseudo() {
            return Err(IdentifierError::EsnPseudo { esn: esn.to_hex() });
        }
        Ok(esn)
    }

    /// Whether a parse error says the value had the ESN's decimal shape but
    /// a part out of range, rather than not looking like an ESN at all.
    pub fn out_of_range(e: &IdentifierError) -> bool {
        matches!(
            e,
            IdentifierError::EsnManufacturerOutOfRange { .. }
                | IdentifierError::EsnSerialOutOfRange { .. }
        )
    }

    pub fn from_u32(v: u32) -> Esn {
        Esn(v)
    }

    pub fn value(self) -> u32 {
        self.0
    }

    /// Canonical form: 8 uppercase hex digits, no prefix.
    pub fn to_hex(self) -> String {
        format!("{:08X}", self.0)
    }

    /// 11 digits: 3-digit manufacturer code then 8-digit serial.
    pub fn to_decimal(self) -> String {
        format!("{:03}{:08}", self.manufacturer_code(), self.serial())
    }

    pub fn manufacturer_code(self) -> u8 {
        self.0.to_be_bytes()[0]
    }

    pub fn serial(self) -> u32 {
        self.0 & ESN_SERIAL_MASK
    }

    /// A pESN is not unique to one device, so callers must not use it as a key
    /// without the MEID it came from.
    pub fn is_pseudo(self) -> bool {
        self.manufacturer_code() == PSEUDO_ESN_MANUFACTURER
    }
}

impl From<u32> for Esn {
    fn from(v: u32) -> Esn {
        Esn(v)
    }
}

impl From<Esn> for u32 {
    fn from(v: Esn) -> u32 {
        v.0
    }
}

impl fmt::Display for Esn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08X}", self.0)
    }
}

/// Hex is the form operators read off devices; the raw u32 in decimal is not.
impl fmt::Debug for Esn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Esn({:08X})", self.0)
    }
}

string_conversions!(Esn);

/// What names one handset where either identifier may be given (an ESN
/// change's target, a profile's New ESN): a real ESN or a MEID.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HandsetId {
    Esn(Esn),
    Meid(Meid),
}

impl HandsetId {
    /// An ESN whose decimal parts are out of range, or a pseudo-ESN, is
    /// reported as such rather than as "not an ESN or a MEID".
    pub fn parse(s: &str) -> Result<HandsetId, IdentifierError> {
        match Esn::parse_real(s) {
            Ok(e) => return Ok(HandsetId::Esn(e)),
            Err(e) if Esn::out_of_range(&e) || matches!(e, IdentifierError::EsnPseudo { .. }) => {
                return Err(e)
            }
            Err(_) => {}
        }
        match Meid::parse(s) {
            Ok(m) => Ok(HandsetId::Meid(m)),
            Err(e @ IdentifierError::MeidCheckDigit { .. }) => Err(e),
            Err(_) => Err(IdentifierError::HandsetIdFormat {
                input: shown(s.trim()),
            }),
        }
    }

    /// Canonical form: the ESN's 8 or the MEID's 14 uppercase hex digits.
    pub fn to_hex(self) -> String {
        match self {
            HandsetId::Esn(e) => e.to_hex(),
            HandsetId::Meid(m) => m.to_hex(),
        }
    }
}

impl FromStr for HandsetId {
    type Err = IdentifierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Mobile Equipment Identifier: 56 bits (8-bit region, 24-bit manufacturer,
/// 24-bit serial). The check digit is not part of the value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Meid(u64);

impl Meid {
    /// Accepts 14 hex digits, 15 hex digits whose last is a verified check
    /// digit (both with optional `0x`), or the 18-digit decimal form
    /// (10 digits manufacturer part, 8 digits serial); whitespace is trimmed.
    pub fn parse(s: &str) -> Result<Meid, IdentifierError> {
        let format_err = || IdentifierError::MeidFormat { input: shown(s) };
        let (prefixed, body) = split_hex_prefix(s.trim());

        if !prefixed && body.len() == 18 && is_decimal(body) {
            let (code, serial) = body.split_at(10);
            let code = parse_digits(code, 10).ok_or_else(format_err)?;
            let serial = parse_digits(serial, 10).ok_or_else(format_err)?;
            if code > u64::from(u32::MAX) {
                return Err(IdentifierError::MeidManufacturerOutOfRange {
                    code,
                    input: shown(s),
                });
            }
            if serial > MEID_SERIAL_MASK {
                return Err(IdentifierError::MeidSerialOutOfRange {
                    serial,
                    input: shown(s),
                });
            }
            return Ok(Meid((code << 24) | serial));
        }

        // Validate every character before splitting so slicing stays on
        // ASCII boundaries.
        if parse_digits(body, 16).is_none() {
            return Err(format_err());
        }
        match body.len() {
            MEID_HEX_DIGITS => parse_digits(body, 16).map(Meid).ok_or_else(format_err),
            15 => {
                let (digits, given) = body.split_at(MEID_HEX_DIGITS);
                let meid = parse_digits(digits, 16).map(Meid).ok_or_else(format_err)?;
                let given = given
                    .chars()
                    .next()
                    .map(|c| c.to_ascii_uppercase())
                    .ok_or_else(format_err)?;
                let expected = meid.check_digit();
                if given == expected {
                    Ok(meid)
                } else {
                    Err(IdentifierError::MeidCheckDigit {
                        expected,
                        given,
                        input: shown(s),
                    })
                }
            }
            _ => Err(format_err()),
        }
    }

    /// Rejects values wider than 56 bits rather than silently truncating.
    pub fn from_u64(v: u64) -> Result<Meid, IdentifierError> {
        if v > MEID_MAX {
            Err(IdentifierError::MeidValueOutOfRange { value: v })
        } else {
            Ok(Meid(v))
        }
    }

    pub fn value(self) -> u64 {
        self.0
    }

    /// Canonical form: 14 uppercase hex digits, no prefix, no check digit.
    pub fn to_hex(self) -> String {
        format!("{:014X}", self.0)
    }

    /// 14 hex digits followed by the check digit, as printed on labels.
    pub fn to_hex_with_check_digit(self) -> String {
        format!("{:014X}{}", self.0, self.check_digit())
    }

    /// 18 digits: the top 32 bits as 10 digits, the low 24 bits as 8 digits.
    pub fn to_decimal(self) -> String {
        format!("{:010}{:08}", self.0 >> 24, self.0 & MEID_SERIAL_MASK)
    }

    pub fn regional_code(self) -> u8 {
        self.0.to_be_bytes()[1]
    }

    /// The 32-bit manufacturer part as used by the decimal form
    /// (regional code + 24-bit manufacturer code).
    pub fn manufacturer_code(self) -> u32 {
        // Lossless: the value is at most 56 bits, so 32 remain after the shift.
        (self.0 >> 24) as u32
    }

    pub fn serial(self) -> u32 {
        (self.0 & MEID_SERIAL_MASK) as u32
    }

    /// Luhn check digit over the 14 hex digits (S.R0048), uppercase.
    ///
    /// An MEID made only of decimal digits is an IMEI (GDA-allocated range),
    /// and its printed check digit is the IMEI one, so the decimal Luhn is
    /// used there; otherwise a genuine IMEI-based MEID with its label check
    /// digit would be rejected.
    pub fn check_digit(self) -> char {
        // Rightmost digit first: Luhn doubles the digit next to the check digit.
        let nibbles = (0..MEID_HEX_DIGITS).map(|i| ((self.0 >> (4 * i)) & 0xF) as u32);
        let radix = if nibbles.clone().all(|n| n < 10) {
            10
        } else {
            16
        };
        let sum: u32 = nibbles
            .enumerate()
            .map(|(i, d)| {
                if i % 2 == 0 {
                    let doubled = d * 2;
                    doubled / radix + doubled % radix
                } else {
                    d
                }
            })
            .sum();
        let cd = (radix - sum % radix) % radix;
        char::from(UPPER_HEX[cd as usize])
    }

    /// pESN: manufacturer code 0x80 followed by the low 24 bits of SHA-1 over
    /// the 7 MEID bytes, big-endian (X.S0008 / C.S0072).
    pub fn pseudo_esn(self) -> Esn {
        let bytes = self.0.to_be_bytes();
        let digest = Sha1::digest(&bytes[1..]);
        let low = u32::from_be_bytes([0, digest[17], digest[18], digest[19]]);
        Esn((u32::from(PSEUDO_ESN_MANUFACTURER) << 24) | low)
    }
}

impl TryFrom<u64> for Meid {
    type Error = IdentifierError;
    fn try_from(v: u64) -> Result<Meid, IdentifierError> {
        Meid::from_u64(v)
    }
}

impl From<Meid> for u64 {
    fn from(v: Meid) -> u64 {
        v.0
    }
}

impl fmt::Display for Meid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:014X}", self.0)
    }
}

impl fmt::Debug for Meid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Meid({:014X})", self.0)
    }
}

string_conversions!(Meid);

fn fixed_decimal(s: &str, len: usize) -> Option<&str> {
    let t = s.trim();
    (t.len() == len && is_decimal(t)).then_some(t)
}

/// International Mobile Subscriber Identity, 15 digits, split the IS-683 way:
/// MCC (3) + IMSI_11_12 (2) + IMSI_S (10).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Imsi {
    digits: String,
}

impl Imsi {
    /// Exactly 15 decimal digits; surrounding whitespace is ignored.
    pub fn parse(s: &str) -> Result<Imsi, IdentifierError> {
        fixed_decimal(s, 15)
            .map(|d| Imsi {
                digits: d.to_owned(),
            })
            .ok_or_else(|| IdentifierError::ImsiFormat { input: shown(s) })
    }

    pub fn mcc(&self) -> &str {
        &self.digits[..3]
    }

    pub fn imsi_11_12(&self) -> &str {
        &self.digits[3..5]
    }

    pub fn imsi_s(&self) -> &str {
        &self.digits[5..]
    }

    /// IMSI_S has the same 10-digit shape as a MIN, which is how CDMA
    /// provisioning derives one from the other.
    pub fn imsi_s_as_min(&self) -> Min {
        Min(self.imsi_s().to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.digits
    }
}

impl fmt::Display for Imsi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.digits)
    }
}

string_conversions!(Imsi);

/// Mobile Directory Number: a 10-digit NANP number, stored without
/// separators or country code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mdn(String);

impl Mdn {
    /// Accepts `-`, space, `.`, `(` and `)` anywhere, and a leading `+1` or
    /// `1` in front of the 10 digits; anything else is rejected.
    pub fn parse(s: &str) -> Result<Mdn, IdentifierError> {
        let format_err = || IdentifierError::MdnFormat { input: shown(s) };
        let mut digits = String::with_capacity(11);
        let mut plus = false;
        for (i, c) in s.trim().chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '-' | ' ' | '.' | '(' | ')' => {}
                '+' if i == 0 => plus = true,
                _ => return Err(format_err()),
            }
        }
        // "+" only makes sense before the NANP country code 1.
        match digits.len() {
            10 if !plus => Ok(Mdn(digits)),
            11 if digits.starts_with('1') => Ok(Mdn(digits[1..].to_owned())),
            _ => Err(format_err()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Mdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_conversions!(Mdn);

/// Mobile Identification Number: exactly 10 digits. Unlike an MDN no
/// separators are accepted, because a MIN is a provisioning value, not
/// something users type as a phone number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Min(String);

impl Min {
    /// Exactly 10 decimal digits; surrounding whitespace is ignored.
    pub fn parse(s: &str) -> Result<Min, IdentifierError> {
        fixed_decimal(s, 10)
            .map(|d| Min(d.to_owned()))
            .ok_or_else(|| IdentifierError::MinFormat { input: shown(s) })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Min {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_conversions!(Min);

#[cfg(test)]
mod tests {
    use super::*;

    fn esn(s: &str) -> Esn {
        Esn::parse(s).unwrap()
    }

    fn meid(s: &str) -> Meid {
        Meid::parse(s).unwrap()
    }

    // --- ESN ---------------------------------------------------------------

    // timgineer.com "How ESNs work" (2012): hex E6 9F FF FF <-> 23010485759,
    // manufacturer 230, serial 10485759.
    #[test]
    fn esn_published_hex_decimal_pair() {
        let e = esn("E69FFFFF");
        assert_eq!(e.value(), 0xE69F_FFFF);
        assert_eq!(e.to_decimal(), "23010485759");
        assert_eq!(e.manufacturer_code(), 230);
        assert_eq!(e.serial(), 10_485_759);
        assert!(!e.is_pseudo());
        assert_eq!(esn("23010485759"), e);
        assert_eq!(e.to_hex(), "E69FFFFF");
    }

    #[test]
    fn esn_accepts_case_prefix_and_whitespace() {
        let e = Esn::from_u32(0xE69F_FFFF);
        for s in [
            "e69fffff",
            "0xE69FFFFF",
            "0Xe69fFfFf",
            "  E69FFFFF\n",
            " 23010485759 ",
        ] {
            assert_eq!(esn(s), e, "{s:?}");
        }
    }

    #[test]
    fn esn_boundaries() {
        assert_eq!(esn("00000000000").value(), 0);
        assert_eq!(esn("25516777215").value(), u32::MAX);
        assert_eq!(Esn::from_u32(u32::MAX).to_decimal(), "25516777215");
        assert_eq!(Esn::from_u32(0).to_decimal(), "00000000000");
        assert_eq!(Esn::from_u32(0x0000_0001).to_hex(), "00000001");
    }

    // 0x80 123456: manufacturer 128, serial 0x123456 = 1193046.
    #[test]
    fn esn_pseudo_flag() {
        let e = esn("80123456");
        assert!(e.is_pseudo());
        assert_eq!(e.to_decimal(), "12801193046");
        assert_eq!(esn("12801193046"), e);
    }

    #[test]
    fn a_real_esn_is_not_a_pseudo_esn() {
        assert_eq!(Esn::parse_real("9F1ABCDE"), Ok(esn("9F1ABCDE")));
        let e = Esn::parse_real("80abcdef").unwrap_err();
        assert_eq!(
            e,
            IdentifierError::EsnPseudo {
                esn: "80ABCDEF".into()
            }
        );
        assert_eq!(e.kind(), IdentifierKind::Esn);
        assert!(e.to_string().starts_with("80ABCDEF is a pseudo-ESN"), "{e}");
        // The decimal form of a pESN (manufacturer 128) too.
        assert!(matches!(
            Esn::parse_real("12801193046"),
            Err(IdentifierError::EsnPseudo { .. })
        ));
        // Format errors stay what they were.
        assert!(matches!(
            Esn::parse_real("12G4"),
            Err(IdentifierError::EsnFormat { .. })
        ));
        assert!(Esn::out_of_range(&Esn::parse("12345678901").unwrap_err()));
        assert!(!Esn::out_of_range(&Esn::parse("12G4").unwrap_err()));
    }

    #[test]
    fn a_handset_id_is_a_real_esn_or_a_meid() {
        assert_eq!(
            HandsetId::parse(" 9f1abcde "),
            Ok(HandsetId::Esn(esn("9F1ABCDE")))
        );
        assert_eq!(
            HandsetId::parse("A1000012345678").map(HandsetId::to_hex),
            Ok("A1000012345678".into())
        );
        // Eleven digits out of range say so, not "not an ESN".
        let e = HandsetId::parse("12345678901").unwrap_err();
        assert!(
            e.to_string()
                .contains("serial number must be 00000000-16777215 but is 45678901"),
            "{e}"
        );
        assert!(matches!(
            HandsetId::parse("80ABCDEF"),
            Err(IdentifierError::EsnPseudo { .. })
        ));
        assert_eq!(
            HandsetId::parse("xyz").unwrap_err().to_string(),
            r#""xyz" is not an ESN (8 hex or 11 decimal digits) or a MEID (14 hex digits, 15 with the check digit, or 18 decimal digits)"#
        );
    }

    #[test]
    fn esn_rejects_bad_format() {
        for s in [
            "",
            "   ",
            "12G4",
            "1234567",
            "123456789",
            "E69FFFFG",
            "+1234567",
            "-1234567",
            "0x1234567",
            "0x",
            "2301048575",
            "230104857590",
            "2301048575a",
            "0x23010485759",
            "E6 9F FF FF",
            "E69F-FFFF",
            "８0123456",
        ] {
            assert!(
                matches!(Esn::parse(s), Err(IdentifierError::EsnFormat { .. })),
                "{s:?} should be rejected as malformed"
            );
        }
    }

    #[test]
    fn esn_rejects_out_of_range_decimal_parts() {
        assert_eq!(
            Esn::parse("25600000000"),
            Err(IdentifierError::EsnManufacturerOutOfRange {
                code: 256,
                input: "25600000000".into()
            })
        );
        assert_eq!(
            Esn::parse("99900000000").map_err(|e| e.kind()),
            Err(IdentifierKind::Esn)
        );
        assert_eq!(
            Esn::parse("23016777216"),
            Err(IdentifierError::EsnSerialOutOfRange {
                serial: 16_777_216,
                input: "23016777216".into()
            })
        );
        assert!(matches!(
            Esn::parse("00099999999"),
            Err(IdentifierError::EsnSerialOutOfRange { .. })
        ));
    }

    #[test]
    fn esn_error_messages_show_problem_and_input() {
        assert_eq!(
            Esn::parse("12G4").unwrap_err().to_string(),
            r#"ESN must be 8 hexadecimal digits or 11 decimal digits, got "12G4""#
        );
        assert_eq!(
            Esn::parse("25600000000").unwrap_err().to_string(),
            r#"ESN decimal manufacturer code must be 000-255 but is 256 in "25600000000""#
        );
        assert_eq!(
            Esn::parse("23016777216").unwrap_err().to_string(),
            r#"ESN decimal serial number must be 00000000-16777215 but is 16777216 in "23016777216""#
        );
    }

    // --- MEID --------------------------------------------------------------

    // python-stdnum tests/test_meid.doctest: AF 01 23 45 0A BC DE, check
    // digit C, decimal 29360 87365 0070 3710, pESN 8016B128. The same check
    // digit worked by hand (digit sum 0x64 -> C) is in many MEID tools' docs.
    // Independently checked with a Python Luhn (base 16) and
    // hashlib.sha1(bytes.fromhex("AF0123450ABCDE")).
    #[test]
    fn meid_published_af0123450abcde() {
        let m = meid("AF0123450ABCDE");
        assert_eq!(m.value(), 0xAF_0123_450A_BCDE);
        assert_eq!(m.check_digit(), 'C');
        assert_eq!(m.to_hex_with_check_digit(), "AF0123450ABCDEC");
        assert_eq!(m.to_decimal(), "293608736500703710");
        assert_eq!(m.pseudo_esn(), esn("8016B128"));
        assert_eq!(m.pseudo_esn().to_decimal(), "12801487144");
        assert!(m.pseudo_esn().is_pseudo());
        assert_eq!(meid("AF0123450ABCDEC"), m);
        assert_eq!(meid("af0123450abcdec"), m);
        assert_eq!(meid("293608736500703710"), m);
        assert_eq!(meid("0xAF0123450ABCDE"), m);
        assert_eq!(m.regional_code(), 0xAF);
        assert_eq!(m.manufacturer_code(), 0xAF01_2345);
        assert_eq!(m.serial(), 0x0A_BCDE);
    }

    // Java MEID->pESN snippet published in rackilea/diplomski
    // (javaFiles/fragment_394165.java): A0000000002329 -> 8051F1AB.
    // Checked with hashlib.sha1(bytes.fromhex("A0000000002329")).
    #[test]
    fn meid_published_pesn_a0000000002329() {
        let m = meid("A0000000002329");
        assert_eq!(m.pseudo_esn().to_hex(), "8051F1AB");
        assert_eq!(m.to_decimal(), "268435456000009001");
        assert_eq!(m.check_digit(), '9');
        assert_eq!(meid("A00000000023299"), m);
    }

    // python-stdnum tests/test_meid.doctest: an IMEI used as an MEID,
    // 35-209900-176148 with check digit 1 (decimal Luhn), decimal form
    // 08913 28768 0153 2232.
    #[test]
    fn meid_all_decimal_uses_imei_check_digit() {
        let m = meid("35209900176148");
        assert_eq!(m.check_digit(), '1');
        assert_eq!(meid("352099001761481"), m);
        assert_eq!(m.to_decimal(), "089132876801532232");
        assert_eq!(
            Meid::parse("352099001761482"),
            Err(IdentifierError::MeidCheckDigit {
                expected: '1',
                given: '2',
                input: "352099001761482".into()
            })
        );
        // IMEI Luhn example (codeproject "Mobile IMEI Validation",
        // mobileidentity.blogspot.com): 49015420323751 -> 8.
        assert_eq!(meid("49015420323751").check_digit(), '8');
    }

    #[test]
    fn meid_rejects_bad_check_digit() {
        let err = Meid::parse("AF0123450ABCDED").unwrap_err();
        assert_eq!(
            err,
            IdentifierError::MeidCheckDigit {
                expected: 'C',
                given: 'D',
                input: "AF0123450ABCDED".into()
            }
        );
        assert_eq!(
            err.to_string(),
            r#"MEID check digit is C but D was given in "AF0123450ABCDED""#
        );
        assert_eq!(err.kind(), IdentifierKind::Meid);
    }

    #[test]
    fn meid_rejects_bad_format() {
        for s in [
            "",
            "AF0123450ABCD",
            "AF0123450ABCDEC0",
            "GF0123450ABCDE",
            "AF 01 23 45 0A BC DE",
            "+F0123450ABCDE",
            "0x293608736500703710",
            "29360873650070371",
            "2936087365007037100",
            "29360ABCDE00703710",
            "0x",
        ] {
            assert!(
                matches!(Meid::parse(s), Err(IdentifierError::MeidFormat { .. })),
                "{s:?} should be rejected as malformed"
            );
        }
    }

    // Out-of-range decimal parts from python-stdnum tests/test_meid.doctest.
    #[test]
    fn meid_rejects_out_of_range_decimal_parts() {
        assert!(matches!(
            Meid::parse("999999999900703710"),
            Err(IdentifierError::MeidManufacturerOutOfRange {
                code: 9_999_999_999,
                ..
            })
        ));
        assert!(matches!(
            Meid::parse("293608736599999999"),
            Err(IdentifierError::MeidSerialOutOfRange {
                serial: 99_999_999,
                ..
            })
        ));
        assert_eq!(meid("429496729516777215").value(), MEID_MAX);
        assert!(matches!(
            Meid::parse("429496729616777215"),
            Err(IdentifierError::MeidManufacturerOutOfRange { .. })
        ));
        assert!(matches!(
            Meid::parse("429496729516777216"),
            Err(IdentifierError::MeidSerialOutOfRange { .. })
        ));
    }

    #[test]
    fn meid_from_u64_enforces_56_bits() {
        assert_eq!(Meid::from_u64(MEID_MAX).map(Meid::value), Ok(MEID_MAX));
        assert_eq!(
            Meid::from_u64(1 << 56),
            Err(IdentifierError::MeidValueOutOfRange { value: 1 << 56 })
        );
        assert_eq!(
            Meid::from_u64(0).map(|m| m.to_decimal()),
            Ok("0".repeat(18))
        );
    }

    // --- IMSI / MDN / MIN ----------------------------------------------------

    // Published IMSI example 460002289000168 (MCC 460, MNC 00; alibabacloud
    // "country code and mobile country code" article). The IS-683 split is
    // MCC / IMSI_11_12 / IMSI_S by definition.
    #[test]
    fn imsi_published_example() {
        let i = Imsi::parse("460002289000168").unwrap();
        assert_eq!(i.mcc(), "460");
        assert_eq!(i.imsi_11_12(), "00");
        assert_eq!(i.imsi_s(), "2289000168");
    }

    // A US-style IMSI (MCC 310, MNC 150) to exercise a non-zero IMSI_11_12.
    #[test]
    fn imsi_fields() {
        let i = Imsi::parse(" 310150123456789 ").unwrap();
        assert_eq!(i.as_str(), "310150123456789");
        assert_eq!(i.mcc(), "310");
        assert_eq!(i.imsi_11_12(), "15");
        assert_eq!(i.imsi_s(), "0123456789");
        assert_eq!(i.imsi_s_as_min().as_str(), "0123456789");
        assert_eq!(i.to_string(), "310150123456789");
    }

    #[test]
    fn imsi_rejects_bad_input() {
        for s in [
            "31015012345678",
            "3101501234567890",
            "31015012345678a",
            "310-150123456789",
            "",
        ] {
            assert!(
                matches!(Imsi::parse(s), Err(IdentifierError::ImsiFormat { .. })),
                "{s:?}"
            );
        }
        assert_eq!(
            Imsi::parse("31015012345678").unwrap_err().to_string(),
            r#"IMSI must be exactly 15 decimal digits, got "31015012345678""#
        );
    }

    #[test]
    fn mdn_strips_separators_and_country_code() {
        for s in [
            "2025550143",
            "202-555-0143",
            "(202) 555-0143",
            "202.555.0143",
            "+1 202 555 0143",
            "+1 (202) 555-0143",
            "1-202-555-0143",
            "12025550143",
            " 202 555 0143 ",
        ] {
            assert_eq!(Mdn::parse(s).unwrap().as_str(), "2025550143", "{s:?}");
        }
    }

    #[test]
    fn mdn_rejects_bad_input() {
        for s in [
            "",
            "202555014",
            "202555014x",
            "202-555-CALL",
            "22025550143",
            "112025550143",
            "+2025550143",
            "+44 20 7946 0958",
            "202+5550143",
            "202/555/0143",
            "202_555_0143",
        ] {
            assert!(
                matches!(Mdn::parse(s), Err(IdentifierError::MdnFormat { .. })),
                "{s:?}"
            );
        }
    }

    #[test]
    fn min_requires_exactly_ten_digits() {
        assert_eq!(Min::parse("2025550143").unwrap().as_str(), "2025550143");
        for s in ["202555014", "20255501430", "202-555-0143", "20255501a3", ""] {
            assert!(
                matches!(Min::parse(s), Err(IdentifierError::MinFormat { .. })),
                "{s:?}"
            );
        }
    }

    // --- shared behaviour ----------------------------------------------------

    #[test]
    fn conversions_route_through_parse() {
        assert_eq!("E69FFFFF".parse::<Esn>(), Ok(esn("E69FFFFF")));
        assert_eq!(
            Meid::try_from("AF0123450ABCDEC"),
            Ok(meid("AF0123450ABCDE"))
        );
        assert_eq!(
            Imsi::try_from(String::from("310150123456789")).map(|i| i.to_string()),
            Ok("310150123456789".to_owned())
        );
        assert!(Mdn::try_from("nope").is_err());
        assert!("123".parse::<Min>().is_err());
        assert_eq!(String::from(esn("23010485759")), "E69FFFFF");
        assert_eq!(
            String::from(Mdn::parse("+1 202 555 0143").unwrap()),
            "2025550143"
        );
    }

    #[test]
    fn serde_uses_canonical_strings_and_validates() {
        assert_eq!(
            serde_json::to_string(&esn("23010485759")).unwrap(),
            r#""E69FFFFF""#
        );
        assert_eq!(
            serde_json::to_string(&meid("af0123450abcdec")).unwrap(),
            r#""AF0123450ABCDE""#
        );
        assert_eq!(
            serde_json::from_str::<Meid>(r#""293608736500703710""#).unwrap(),
            meid("AF0123450ABCDE")
        );
        assert_eq!(
            serde_json::from_str::<Mdn>(r#""(202) 555-0143""#)
                .unwrap()
                .as_str(),
            "2025550143"
        );
        let imsi: Imsi = serde_json::from_str(r#""310150123456789""#).unwrap();
        assert_eq!(
            serde_json::to_string(&imsi).unwrap(),
            r#""310150123456789""#
        );
        let min: Min = serde_json::from_str(r#""2025550143""#).unwrap();
        assert_eq!(serde_json::to_string(&min).unwrap(), r#""2025550143""#);

        let err = serde_json::from_str::<Meid>(r#""AF0123450ABCDED""#).unwrap_err();
        assert!(
            err.to_string()
                .contains("MEID check digit is C but D was given"),
            "{err}"
        );
        assert!(
            serde_json::from_str::<Esn>("12345678").is_err(),
            "numbers are not accepted"
        );
        assert!(serde_json::from_str::<Imsi>(r#""31015012345678""#).is_err());
        assert!(serde_json::from_str::<Min>(r#""202-555-0143""#).is_err());
    }

    #[test]
    fn debug_shows_hex() {
        assert_eq!(format!("{:?}", esn("E69FFFFF")), "Esn(E69FFFFF)");
        assert_eq!(
            format!("{:?}", meid("AF0123450ABCDE")),
            "Meid(AF0123450ABCDE)"
        );
    }

    #[test]
    fn long_input_is_truncated_in_errors() {
        let long = "Z".repeat(1000);
        let IdentifierError::ImsiFormat { input } = Imsi::parse(&long).unwrap_err() else {
            panic!("wrong variant");
        };
        assert_eq!(input.chars().count(), MAX_SHOWN_INPUT_CHARS + 1);
        assert!(input.ends_with('…'));
    }

    #[test]
    fn kinds_are_reported() {
        assert_eq!(Imsi::parse("x").unwrap_err().kind(), IdentifierKind::Imsi);
        assert_eq!(Mdn::parse("x").unwrap_err().kind(), IdentifierKind::Mdn);
        assert_eq!(Min::parse("x").unwrap_err().kind(), IdentifierKind::Min);
        assert_eq!(Esn::parse("x").unwrap_err().kind(), IdentifierKind::Esn);
        assert_eq!(Meid::parse("x").unwrap_err().kind(), IdentifierKind::Meid);
    }
}
