//! OMA DM 1.2 Notification Initiation message ("package #0").
//!
//! Reference: OMA-TS-DM_Notification-V1_2 section 6 (package #0 layout) and
//! 7.1 (WAP push binding, see [`super::wsp::PushPdu::dm_notification`]).
//!
//! ```text
//! package #0 = digest (128 bits) || trigger
//! trigger    = header || vendor-specific body
//! header     = version (10) | ui-mode (2) | initiator (1) | future-use (27)
//!            | session-id (16) | server-identifier length (8)
//!            | server-identifier (length octets)
//! digest     = H(B64(H(server-identifier:password)):nonce:B64(H(trigger)))
//! ```
//!
//! with `H` = MD5 and `B64` = Base64 with padding. `password` is the server
//! password the device uses to authenticate this server and `nonce` is the
//! server nonce currently stored for the device (DMAcc AAuthData of the
//! server credentials), as raw octets (Base64-decode it first if the store
//! keeps it encoded).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use md5::{Digest as _, Md5};

use super::{CodecError, Reader};

/// Length of the MD5 digest that opens package #0.
pub const DIGEST_LEN: usize = 16;
/// Fixed part of the trigger header: 40 bits of flags, 16-bit session id and
/// the 8-bit server-identifier length.
pub const HEADER_FIXED_LEN: usize = 8;
/// Version field value for OMA DM 1.2 (version times ten).
pub const VERSION_1_2: u16 = 12;
/// Version field value for DM 1.1.2-style triggers, still common in the field.
pub const VERSION_1_1: u16 = 11;
/// The version field is 10 bits wide.
const MAX_VERSION: u16 = 0x3FF;

/// How the device should involve the user (section 6.2, ui-mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiMode {
    /// 00: not specified.
    NotSpecified,
    /// 01: background, no user involvement.
    Background,
    /// 10: informative, user is told.
    Informative,
    /// 11: user interaction, user must accept.
    UserInteraction,
}

impl UiMode {
    fn bits(self) -> u8 {
        match self {
            UiMode::NotSpecified => 0,
            UiMode::Background => 1,
            UiMode::Informative => 2,
            UiMode::UserInteraction => 3,
        }
    }

    fn from_bits(bits: u8) -> Self {
        match bits & 0x03 {
            0 => UiMode::NotSpecified,
            1 => UiMode::Background,
            2 => UiMode::Informative,
            _ => UiMode::UserInteraction,
        }
    }
}

/// Who caused the session (section 6.2, initiator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// 0: the user (client side).
    Client,
    /// 1: the server.
    Server,
}

/// The trigger of a package #0, without its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Version field (10 bits): [`VERSION_1_2`] for DM 1.2.
    pub version: u16,
    /// UI mode.
    pub ui_mode: UiMode,
    /// Initiator.
    pub initiator: Initiator,
    /// Session id the device must use in package #1.
    pub session_id: u16,
    /// Server identifier (DMAcc ServerID), 1 to 255 octets.
    pub server_id: String,
    /// Vendor-specific trigger body, opaque here.
    pub vendor_specific: Vec<u8>,
}

impl Notification {
    /// A DM 1.2 server-initiated trigger with UI mode "not specified" and
    /// an empty vendor body.
    pub fn new(server_id: impl Into<String>, session_id: u16) -> Self {
        Self {
            version: VERSION_1_2,
            ui_mode: UiMode::NotSpecified,
            initiator: Initiator::Server,
            session_id,
            server_id: server_id.into(),
            vendor_specific: Vec::new(),
        }
    }

    /// Encodes the trigger (header and body), i.e. the octets the digest
    /// covers (section 6.2).
    pub fn encode_trigger(&self) -> Result<Vec<u8>, CodecError> {
        if self.version > MAX_VERSION {
            return Err(CodecError::OutOfRange {
                field: "version",
                value: u64::from(self.version),
                max: u64::from(MAX_VERSION),
            });
        }
        let id = self.server_id.as_bytes();
        let id_len = u8::try_from(id.len()).map_err(|_| CodecError::OutOfRange {
            field: "server identifier length",
            value: id.len() as u64,
            max: u64::from(u8::MAX),
        })?;
        if id_len == 0 {
            return Err(CodecError::Invalid {
                field: "server identifier",
                reason: "empty",
            });
        }
        let initiator = match self.initiator {
            Initiator::Client => 0u8,
            Initiator::Server => 1u8,
        };
        let [s0, s1] = self.session_id.to_be_bytes();
        let mut out = Vec::with_capacity(HEADER_FIXED_LEN + id.len() + self.vendor_specific.len());
        // Octet 0: version bits 9..2. Octet 1: version bits 1..0, ui-mode,
        // initiator, then the first 3 of the 27 future-use bits (zero).
        out.push((self.version >> 2) as u8);
        out.push(
            (((self.version & 0x03) as u8) << 6) | (self.ui_mode.bits() << 4) | (initiator << 3),
        );
        // Remaining 24 future-use bits.
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&[s0, s1, id_len]);
        out.extend_from_slice(id);
        out.extend_from_slice(&self.vendor_specific);
        Ok(out)
    }

    fn decode_trigger(trigger: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(trigger);
        let fixed = r.take(HEADER_FIXED_LEN, "package #0 trigger header")?;
        let (b0, b1, s0, s1, id_len) = match fixed {
            [b0, b1, _, _, _, s0, s1, len] => (*b0, *b1, *s0, *s1, *len),
            _ => {
                return Err(CodecError::Truncated {
                    what: "package #0 trigger header",
                    needed: HEADER_FIXED_LEN,
                    available: fixed.len(),
                })
            }
        };
        if id_len == 0 {
            return Err(CodecError::Invalid {
                field: "server identifier",
                reason: "empty",
            });
        }
        let id = r.take(usize::from(id_len), "package #0 server identifier")?;
        let server_id = String::from_utf8(id.to_vec()).map_err(|_| CodecError::Invalid {
            field: "server identifier",
            reason: "not UTF-8",
        })?;
        Ok(Self {
            version: (u16::from(b0) << 2) | u16::from(b1 >> 6),
            ui_mode: UiMode::from_bits(b1 >> 4),
            initiator: if b1 & 0x08 != 0 {
                Initiator::Server
            } else {
                Initiator::Client
            },
            session_id: u16::from_be_bytes([s0, s1]),
            server_id,
            vendor_specific: r.rest().to_vec(),
        })
    }
}

/// A decoded package #0: the digest as received and the trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package0 {
    /// The 128-bit digest as received (not checked; see [`verify_digest`]).
    pub digest: [u8; DIGEST_LEN],
    /// The trigger.
    pub notification: Notification,
}

/// `H(B64(H(server-identifier:password)):nonce:B64(H(trigger)))` with
/// H = MD5 (OMA-TS-DM_Notification-V1_2 section 6.1).
pub fn compute_digest(
    server_id: &str,
    server_password: &str,
    nonce: &[u8],
    trigger: &[u8],
) -> [u8; DIGEST_LEN] {
    let mut cred = Md5::new();
    cred.update(server_id.as_bytes());
    cred.update(b":");
    cred.update(server_password.as_bytes());
    let b64_cred = STANDARD.encode(cred.finalize());
    let b64_trigger = STANDARD.encode(Md5::digest(trigger));

    let mut outer = Md5::new();
    outer.update(b64_cred.as_bytes());
    outer.update(b":");
    outer.update(nonce);
    outer.update(b":");
    outer.update(b64_trigger.as_bytes());
    outer.finalize().into()
}

/// Encodes package #0: digest followed by the trigger
/// (OMA-TS-DM_Notification-V1_2 section 6). The server identifier in the
/// digest is the one in the trigger header, so the two cannot disagree.
pub fn encode(
    notification: &Notification,
    server_password: &str,
    nonce: &[u8],
) -> Result<Vec<u8>, CodecError> {
    let trigger = notification.encode_trigger()?;
    let digest = compute_digest(&notification.server_id, server_password, nonce, &trigger);
    let mut out = Vec::with_capacity(DIGEST_LEN + trigger.len());
    out.extend_from_slice(&digest);
    out.extend_from_slice(&trigger);
    Ok(out)
}

/// Decodes package #0 without checking its digest.
pub fn decode(package0: &[u8]) -> Result<Package0, CodecError> {
    let mut r = Reader::new(package0);
    let digest_bytes = r.take(DIGEST_LEN, "package #0 digest")?;
    let mut digest = [0u8; DIGEST_LEN];
    digest.copy_from_slice(digest_bytes);
    let notification = Notification::decode_trigger(r.rest())?;
    Ok(Package0 {
        digest,
        notification,
    })
}

/// Checks the digest of a received package #0 against the credentials the
/// device holds for `server_id`. Returns false for malformed input as well.
pub fn verify_digest(
    package0: &[u8],
    server_id: &str,
    server_password: &str,
    nonce: &[u8],
) -> bool {
    let (Some(received), Some(trigger)) = (package0.get(..DIGEST_LEN), package0.get(DIGEST_LEN..))
    else {
        return false;
    };
    if decode(package0).is_err() {
        return false;
    }
    let expected = compute_digest(server_id, server_password, nonce, trigger);
    // Compare without early exit so timing does not reveal the match length.
    received
        .iter()
        .zip(expected.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER_ID: &str = "mdm.example.net";
    const PASSWORD: &str = "s3cret";
    const NONCE: &[u8] = &[0xDE, 0xAD, 0xBE, 0xEF];

    fn example() -> Notification {
        Notification {
            version: VERSION_1_2,
            ui_mode: UiMode::Informative,
            initiator: Initiator::Server,
            session_id: 0x002A,
            server_id: SERVER_ID.into(),
            vendor_specific: Vec::new(),
        }
    }

    #[test]
    fn trigger_header_bits() {
        // version 12 = 00000011 00 -> octet 0 = 0x03, top bits of octet 1 = 00;
        // ui-mode informative = 10, initiator server = 1, future use 000
        // -> octet 1 = 00 10 1 000 = 0x28; future use 00 00 00;
        // session id 0x002A; length 15 = 0x0F; "mdm.example.net".
        let mut expected = vec![0x03, 0x28, 0x00, 0x00, 0x00, 0x00, 0x2A, 0x0F];
        expected.extend_from_slice(SERVER_ID.as_bytes());
        assert_eq!(example().encode_trigger().unwrap(), expected);
    }

    #[test]
    fn digest_worked_example() {
        // Step by step (python3 hashlib/base64, see below):
        // 1. B64(H("mdm.example.net:s3cret")) = "LvA0QVAYp7mSxm+588G3rg=="
        // 2. trigger = 03 28 00 00 00 00 2A 0F "mdm.example.net";
        //    B64(H(trigger)) = "ihRhnd9spQdoFOJOKFyEOw=="
        // 3. digest = H("LvA0QVAYp7mSxm+588G3rg==" ":" DE AD BE EF ":"
        //    "ihRhnd9spQdoFOJOKFyEOw==") = da26348667a9a1b37a5ae7f577f15140
        // python3 -c "import hashlib as h,base64 as b;m=lambda x:h.md5(x).digest();
        //   t=bytes.fromhex('0328000000002a0f')+b'mdm.example.net';
        //   print(m(b.b64encode(m(b'mdm.example.net:s3cret'))+b':'+
        //   bytes.fromhex('deadbeef')+b':'+b.b64encode(m(t))).hex())"
        let pkg0 = encode(&example(), PASSWORD, NONCE).unwrap();
        assert_eq!(to_hex(&pkg0[..DIGEST_LEN]), EXPECTED_DIGEST);
        assert_eq!(
            &pkg0[DIGEST_LEN..],
            example().encode_trigger().unwrap().as_slice()
        );
        assert!(verify_digest(&pkg0, SERVER_ID, PASSWORD, NONCE));
    }

    #[test]
    fn round_trip_with_vendor_body() {
        let mut n = example();
        n.ui_mode = UiMode::Background;
        n.initiator = Initiator::Client;
        n.session_id = 0xFFFF;
        n.version = 0x3FF;
        n.vendor_specific = vec![0x00, 0xFF, 0x10];
        let pkg0 = encode(&n, PASSWORD, NONCE).unwrap();
        let decoded = decode(&pkg0).unwrap();
        assert_eq!(decoded.notification, n);
        assert_eq!(&decoded.digest[..], &pkg0[..DIGEST_LEN]);
    }

    #[test]
    fn decodes_dm_notification_appendix_c_sample() {
        // Trigger from the DM 1.2 appendix C example as reproduced in public
        // client code: dummy digest, header 02 C8 00 00 00 -> version
        // 0000001011 = 11, ui-mode 00, initiator 1; session 0x0001;
        // length 0x0F "com.vzwdmserver"; vendor body "1010101010101".
        let mut pkg0 = vec![0u8; 16];
        pkg0.extend_from_slice(&[0x02, 0xC8, 0x00, 0x00, 0x00, 0x00, 0x01, 0x0F]);
        pkg0.extend_from_slice(b"com.vzwdmserver");
        pkg0.extend_from_slice(b"1010101010101");
        let n = decode(&pkg0).unwrap().notification;
        assert_eq!(n.version, VERSION_1_1);
        assert_eq!(n.ui_mode, UiMode::NotSpecified);
        assert_eq!(n.initiator, Initiator::Server);
        assert_eq!(n.session_id, 1);
        assert_eq!(n.server_id, "com.vzwdmserver");
        assert_eq!(n.vendor_specific, b"1010101010101");
        // Re-encoding the decoded trigger gives back the same octets.
        assert_eq!(n.encode_trigger().unwrap(), &pkg0[16..]);
    }

    #[test]
    fn bad_digest_and_wrong_credentials_fail() {
        let mut pkg0 = encode(&example(), PASSWORD, NONCE).unwrap();
        assert!(!verify_digest(&pkg0, SERVER_ID, "other", NONCE));
        assert!(!verify_digest(&pkg0, SERVER_ID, PASSWORD, &[0, 0, 0, 0]));
        assert!(!verify_digest(&pkg0, "other.example.net", PASSWORD, NONCE));
        pkg0[0] ^= 0x01;
        assert!(!verify_digest(&pkg0, SERVER_ID, PASSWORD, NONCE));
        pkg0[0] ^= 0x01;
        // Tampering with the trigger also breaks the digest.
        let last = pkg0.len() - 1;
        pkg0[last] ^= 0x20;
        assert!(!verify_digest(&pkg0, SERVER_ID, PASSWORD, NONCE));
    }

    #[test]
    fn truncated_input_is_an_error() {
        let pkg0 = encode(&example(), PASSWORD, NONCE).unwrap();
        // Every strict prefix is malformed: missing digest octets, missing
        // header octets, or a server identifier shorter than its length.
        for cut in 0..pkg0.len() {
            assert!(decode(&pkg0[..cut]).is_err(), "prefix {cut} accepted");
            assert!(!verify_digest(&pkg0[..cut], SERVER_ID, PASSWORD, NONCE));
        }
        assert!(matches!(
            decode(&pkg0[..DIGEST_LEN + 5]),
            Err(CodecError::Truncated { .. })
        ));
    }

    #[test]
    fn encode_rejects_bad_fields() {
        let mut n = example();
        n.version = 0x400;
        assert!(encode(&n, PASSWORD, NONCE).is_err());
        let mut n = example();
        n.server_id = String::new();
        assert!(encode(&n, PASSWORD, NONCE).is_err());
        let mut n = example();
        n.server_id = "x".repeat(256);
        assert!(encode(&n, PASSWORD, NONCE).is_err());
        n.server_id = "x".repeat(255);
        assert!(encode(&n, PASSWORD, NONCE).is_ok());
    }

    fn to_hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    // Output of the python3 one-liner in digest_worked_example.
    const EXPECTED_DIGEST: &str = "da26348667a9a1b37a5ae7f577f15140";
}
