//! OMA Client Provisioning bootstrap security: the MAC carried in the
//! `MAC` Content-Type parameter of a provisioning push.
//!
//! Reference: OMA-WAP-TS-ProvBoot-V1_1 section 5 ("Security"): the MAC is
//! `M = HMAC-SHA1(K, A)` over the WBXML document `A`, sent as 40 hexadecimal
//! characters, with the key `K` chosen by the `SEC` parameter:
//!
//! * NETWPIN: the IMSI in semi-octet form (as EF-IMSI in GSM 11.11 / TS
//!   51.011 without the length octet, i.e. the TS 24.008 mobile identity
//!   layout): first nibble the identity type 1 with the odd/even bit, then the
//!   digits two per octet low nibble first, 0xF filler when the digit count is
//!   even.
//! * USERPIN: the PIN octets.
//! * USERNETWPIN: the NETWPIN key followed by the PIN octets.
//! * USERPINMAC: key is the PIN; the user is given the PIN followed by as many
//!   decimal digits `m_i = (M_i mod 10)` as the PIN has digits.
//!
//! The key layouts were cross-checked against two independent public
//! implementations (a handset-side verifier and a server-side generator).

use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::CodecError;

type HmacSha1 = Hmac<Sha1>;

/// IMSIs have at most 15 digits (3GPP TS 23.003 section 2.2).
const MAX_IMSI_DIGITS: usize = 15;
/// One MAC digit is drawn from each HMAC-SHA1 output octet, of which there
/// are 20.
const MAX_USERPINMAC_DIGITS: usize = 20;

/// The `SEC` parameter values (OMA-WAP-TS-ProvBoot 5.3, WAP-230 table 38).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecMethod {
    /// Network shared secret (IMSI).
    NetwPin,
    /// User PIN.
    UserPin,
    /// IMSI and user PIN.
    UserNetwPin,
    /// User PIN carrying its own MAC digits.
    UserPinMac,
}

impl SecMethod {
    /// Wire code sent as Short-integer after the SEC token.
    pub fn code(self) -> u8 {
        match self {
            SecMethod::NetwPin => 0,
            SecMethod::UserPin => 1,
            SecMethod::UserNetwPin => 2,
            SecMethod::UserPinMac => 3,
        }
    }

    /// Inverse of [`SecMethod::code`].
    pub fn from_code(code: u8) -> Result<Self, CodecError> {
        match code {
            0 => Ok(SecMethod::NetwPin),
            1 => Ok(SecMethod::UserPin),
            2 => Ok(SecMethod::UserNetwPin),
            3 => Ok(SecMethod::UserPinMac),
            _ => Err(CodecError::Invalid {
                field: "SEC value",
                reason: "not NETWPIN, USERPIN, USERNETWPIN or USERPINMAC",
            }),
        }
    }
}

/// The secrets for one MAC computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// `SEC=NETWPIN`: key from the subscriber's IMSI.
    NetwPin {
        /// IMSI as decimal digits.
        imsi: &'a str,
    },
    /// `SEC=USERPIN`: key is the PIN given to the user out of band.
    UserPin {
        /// PIN as typed by the user.
        pin: &'a str,
    },
    /// `SEC=USERNETWPIN`: IMSI key followed by the PIN.
    UserNetwPin {
        /// IMSI as decimal digits.
        imsi: &'a str,
        /// PIN as typed by the user.
        pin: &'a str,
    },
}

impl Credentials<'_> {
    /// The `SEC` value that goes with these credentials.
    pub fn method(&self) -> SecMethod {
        match self {
            Credentials::NetwPin { .. } => SecMethod::NetwPin,
            Credentials::UserPin { .. } => SecMethod::UserPin,
            Credentials::UserNetwPin { .. } => SecMethod::UserNetwPin,
        }
    }

    /// The HMAC key `K` (OMA-WAP-TS-ProvBoot 5.4).
    pub fn key(&self) -> Result<Vec<u8>, CodecError> {
        match self {
            Credentials::NetwPin { imsi } => imsi_key(imsi),
            Credentials::UserPin { pin } => Ok(pin_bytes(pin)?.to_vec()),
            Credentials::UserNetwPin { imsi, pin } => {
                let mut key = imsi_key(imsi)?;
                key.extend_from_slice(pin_bytes(pin)?);
                Ok(key)
            }
        }
    }
}

fn pin_bytes(pin: &str) -> Result<&[u8], CodecError> {
    if pin.is_empty() {
        return Err(CodecError::Invalid {
            field: "PIN",
            reason: "empty",
        });
    }
    Ok(pin.as_bytes())
}

/// The NETWPIN key: the IMSI in semi-octet representation
/// (OMA-WAP-TS-ProvBoot 5.4.1, layout of EF-IMSI without its length octet).
///
/// `"234150123456789"` (15 digits, odd) becomes `29 43 51 10 32 54 76 98`:
/// the first octet holds 0x9 (type 1 "IMSI" with the odd bit 0x8) in its low
/// nibble and the first digit in its high nibble; each further octet holds
/// two digits, low nibble first. An even digit count uses 0x1 and ends with a
/// 0xF filler nibble.
pub fn imsi_key(imsi: &str) -> Result<Vec<u8>, CodecError> {
    let digits = imsi.as_bytes();
    if digits.is_empty() || digits.len() > MAX_IMSI_DIGITS {
        return Err(CodecError::Invalid {
            field: "IMSI",
            reason: "must have 1 to 15 digits",
        });
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(CodecError::Invalid {
            field: "IMSI",
            reason: "must be decimal digits",
        });
    }
    let parity: u8 = if digits.len() % 2 == 1 { 0x9 } else { 0x1 };
    let mut nibbles = Vec::with_capacity(digits.len() + 2);
    nibbles.push(parity);
    nibbles.extend(digits.iter().map(|d| d - b'0'));
    if nibbles.len() % 2 == 1 {
        nibbles.push(0xF);
    }
    Ok(nibbles
        .chunks_exact(2)
        // Low nibble first: the pair [lo, hi] becomes the octet hi:lo.
        .map(|pair| pair.iter().rev().fold(0u8, |acc, n| (acc << 4) | n))
        .collect())
}

/// Raw HMAC-SHA1 of `document` under `key`.
pub fn hmac_sha1(key: &[u8], document: &[u8]) -> [u8; 20] {
    // HMAC accepts keys of any length, so construction cannot fail; the
    // fallback keeps the function total without an unwrap.
    match HmacSha1::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(document);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0u8; 20],
    }
}

/// The `MAC` parameter value: HMAC-SHA1 of the WBXML document as 40
/// uppercase hexadecimal characters (OMA-WAP-TS-ProvBoot 5.3).
pub fn mac_hex(credentials: &Credentials<'_>, document: &[u8]) -> Result<String, CodecError> {
    let key = credentials.key()?;
    Ok(to_upper_hex(&hmac_sha1(&key, document)))
}

/// Constant-time check of a received `MAC` value (case-insensitive hex).
pub fn verify_mac(credentials: &Credentials<'_>, document: &[u8], mac: &str) -> bool {
    let Ok(key) = credentials.key() else {
        return false;
    };
    let Some(expected) = from_hex(mac) else {
        return false;
    };
    let Ok(mut hmac) = HmacSha1::new_from_slice(&key) else {
        return false;
    };
    hmac.update(document);
    hmac.verify_slice(&expected).is_ok()
}

/// The USERPINMAC digits (OMA-WAP-TS-ProvBoot 5.4.4): for a PIN of n
/// decimal digits, `m_i = (M_i mod 10)` as ASCII for i in 0..n, where `M` is
/// HMAC-SHA1 keyed with the PIN. The string given to the user is the PIN
/// followed by these digits.
pub fn userpinmac_digits(pin: &str, document: &[u8]) -> Result<String, CodecError> {
    let bytes = pin_bytes(pin)?;
    if bytes.len() > MAX_USERPINMAC_DIGITS || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(CodecError::Invalid {
            field: "USERPINMAC PIN",
            reason: "must be 1 to 20 decimal digits",
        });
    }
    let m = hmac_sha1(bytes, document);
    Ok(m.iter()
        .take(bytes.len())
        .map(|b| char::from(b'0' + b % 10))
        .collect())
}

fn to_upper_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            // Writing to a String cannot fail.
            let _ = write!(s, "{b:02X}");
            s
        })
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => {
                let hi = char::from(*hi).to_digit(16)?;
                let lo = char::from(*lo).to_digit(16)?;
                u8::try_from((hi << 4) | lo).ok()
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Minimal provisioning document used by the worked examples: WBXML 1.3,
    // public id 0x0B (-//WAPFORUM//DTD PROV 1.0//EN), UTF-8, empty string
    // table, <wap-provisioningdoc/> (tag 0x05 without content).
    const DOC: &[u8] = &[0x03, 0x0B, 0x6A, 0x00, 0x05];

    #[test]
    fn imsi_key_odd_length() {
        // "9" + 234150123456789 = 92 34 15 01 23 45 67 89, nibbles swapped.
        assert_eq!(
            imsi_key("234150123456789").unwrap(),
            [0x29, 0x43, 0x51, 0x10, 0x32, 0x54, 0x76, 0x98]
        );
    }

    #[test]
    fn imsi_key_even_length() {
        // "1" + 21407650123456 + "F" = 12 14 07 65 01 23 45 6F, nibbles swapped.
        assert_eq!(
            imsi_key("21407650123456").unwrap(),
            [0x21, 0x41, 0x70, 0x56, 0x10, 0x32, 0x54, 0xF6]
        );
    }

    #[test]
    fn imsi_key_rejects_bad_input() {
        assert!(imsi_key("").is_err());
        assert!(imsi_key("23415012345678X").is_err());
        assert!(imsi_key("2341501234567890").is_err());
    }

    #[test]
    fn netwpin_mac_worked_example() {
        // key = 2943511032547698 (see imsi_key_odd_length); cross-checked with
        // python3 -c "import hmac,hashlib;print(hmac.new(bytes.fromhex(
        //   '2943511032547698'),bytes.fromhex('030b6a0005'),hashlib.sha1)
        //   .hexdigest().upper())"
        let cred = Credentials::NetwPin {
            imsi: "234150123456789",
        };
        let mac = mac_hex(&cred, DOC).unwrap();
        assert_eq!(mac, NETWPIN_MAC);
        assert_eq!(mac.len(), 40);
        assert!(verify_mac(&cred, DOC, &mac));
        assert!(verify_mac(&cred, DOC, &mac.to_lowercase()));
        assert!(!verify_mac(&cred, &DOC[..4], &mac));
    }

    #[test]
    fn userpin_and_usernetwpin_worked_example() {
        // USERPIN key = b"1234";
        // USERNETWPIN key = 2943511032547698 || 31323334.
        let user = Credentials::UserPin { pin: "1234" };
        assert_eq!(mac_hex(&user, DOC).unwrap(), USERPIN_MAC);
        let both = Credentials::UserNetwPin {
            imsi: "234150123456789",
            pin: "1234",
        };
        assert_eq!(
            both.key().unwrap(),
            [0x29, 0x43, 0x51, 0x10, 0x32, 0x54, 0x76, 0x98, b'1', b'2', b'3', b'4']
        );
        assert_eq!(mac_hex(&both, DOC).unwrap(), USERNETWPIN_MAC);
        assert!(mac_hex(&Credentials::UserPin { pin: "" }, DOC).is_err());
    }

    #[test]
    fn userpinmac_worked_example() {
        // m_i = HMAC-SHA1(b"1234", DOC)[i] % 10 for i in 0..4.
        assert_eq!(userpinmac_digits("1234", DOC).unwrap(), USERPINMAC_DIGITS);
        assert!(userpinmac_digits("12a4", DOC).is_err());
        assert!(userpinmac_digits("123456789012345678901", DOC).is_err());
    }

    #[test]
    fn sec_codes() {
        for m in [
            SecMethod::NetwPin,
            SecMethod::UserPin,
            SecMethod::UserNetwPin,
            SecMethod::UserPinMac,
        ] {
            assert_eq!(SecMethod::from_code(m.code()), Ok(m));
        }
        assert!(SecMethod::from_code(4).is_err());
        assert!(!verify_mac(
            &Credentials::UserPin { pin: "1" },
            DOC,
            "not hex"
        ));
    }

    // Values produced by the python3 one-liner quoted in the tests above.
    const NETWPIN_MAC: &str = "0FADB7D227CCE7EC1F1B0B349CB5CB85D1E97455";
    const USERPIN_MAC: &str = "E44E84BB0996B0130C7B5E7817E2EF0EB36F2227";
    const USERNETWPIN_MAC: &str = "2A123F6526EC557B3E33788AC7BD853CA91573FE";
    const USERPINMAC_DIGITS: &str = "8827";
}
