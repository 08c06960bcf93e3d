//! Pure, allocation-only encoders (and the decoders needed to check them)
//! for the server-initiated push path:
//!
//! * [`wsp`]: WSP connectionless Push PDU (WAP-230-WSP section 8.2.4.1).
//! * [`wdp`]: WDP over GSM SMS: user data header and segmentation
//!   (WAP-259-WDP annex A, 3GPP TS 23.040 section 9.2.3.24).
//! * [`notification`]: OMA DM 1.2 Notification Initiation message, "package #0"
//!   (OMA-TS-DM_Notification-V1_2 sections 6 and 7).
//! * [`cp_security`]: OMA Client Provisioning bootstrap MAC
//!   (OMA-WAP-TS-ProvBoot-V1_1 section 5).
//! * [`text`]: plain text short messages, GSM 7-bit or UCS-2 (3GPP TS 23.038).
//!
//! No function here performs I/O, reads clocks or picks random numbers: the
//! caller supplies transaction ids, concatenation references and nonces so
//! that every output is reproducible in tests and from the outbox.

pub mod cp_security;
pub mod error;
pub mod notification;
pub mod text;
pub mod wdp;
pub mod wsp;

pub use error::CodecError;

/// Bounds-checked cursor used by the decoders so that malformed input turns
/// into [`CodecError::Truncated`] rather than an index panic.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn peek(&self, what: &'static str) -> Result<u8, CodecError> {
        self.buf
            .get(self.pos)
            .copied()
            .ok_or(CodecError::Truncated {
                what,
                needed: 1,
                available: 0,
            })
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        let b = self.peek(what)?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        let available = self.remaining();
        if n > available {
            return Err(CodecError::Truncated {
                what,
                needed: n,
                available,
            });
        }
        let start = self.pos;
        self.pos += n;
        self.buf.get(start..start + n).ok_or(CodecError::Truncated {
            what,
            needed: n,
            available,
        })
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::cp_security::{mac_hex, verify_mac, Credentials, SecMethod};
    use super::notification::{self, Notification, UiMode};
    use super::wdp::{self, SegmentOptions};
    use super::wsp::{Parameter, PushPdu};

    #[test]
    fn dm_trigger_end_to_end() {
        // package #0 -> WSP push -> SMS segments and back again.
        let mut n = Notification::new("mdm.example.net", 7);
        n.ui_mode = UiMode::Background;
        n.vendor_specific = vec![0x5A; 150];
        let pkg0 = notification::encode(&n, "s3cret", b"nonce").unwrap();
        let pdu = PushPdu::dm_notification(0x42, pkg0).encode().unwrap();
        let segs = wdp::segment(&pdu, 17, &SegmentOptions::default()).unwrap();
        assert_eq!(segs.len(), 2);

        let uds: Vec<&[u8]> = segs.iter().map(|s| s.user_data.as_slice()).collect();
        let (ports, datagram) = wdp::reassemble(&uds).unwrap();
        assert_eq!(ports, Some(wdp::Ports::WAP_PUSH));
        let push = PushPdu::decode(&datagram).unwrap();
        assert!(notification::verify_digest(
            &push.body,
            "mdm.example.net",
            "s3cret",
            b"nonce"
        ));
        assert_eq!(notification::decode(&push.body).unwrap().notification, n);
    }

    #[test]
    fn provisioning_end_to_end() {
        let doc = [0x03, 0x0B, 0x6A, 0x00, 0x05];
        let cred = Credentials::NetwPin {
            imsi: "234150123456789",
        };
        let mac = mac_hex(&cred, &doc).unwrap();
        let pdu = PushPdu::provisioning(1, SecMethod::NetwPin, mac, doc.to_vec())
            .encode()
            .unwrap();
        let push = PushPdu::decode(&pdu).unwrap();
        let Some(Parameter::Mac(received)) = push.content_type.params.get(1) else {
            panic!("MAC parameter missing");
        };
        assert!(verify_mac(&cred, &push.body, received));
    }

    #[test]
    fn decoders_never_panic_on_noise() {
        // Deterministic xorshift noise of many lengths through every decoder.
        let mut state: u32 = 0x1234_5678;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        };
        for len in 0..200 {
            for _ in 0..20 {
                let buf: Vec<u8> = (0..len).map(|_| next()).collect();
                let _ = PushPdu::decode(&buf);
                let _ = wdp::parse_user_data(&buf);
                let _ = notification::decode(&buf);
                let _ = notification::verify_digest(&buf, "a", "b", b"c");
                let _ = super::wsp::decode_uintvar(&buf);
            }
        }
    }
}
