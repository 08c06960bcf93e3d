//! Plain texts as the test SMSC's handsets read them. Each part of a
//! concatenated text is delivered as the SMSC would deliver it over the
//! air (its TP-UD packed, the header's fill bits included, TS 23.040
//! 9.2.3.24), read back as a handset reads it, and joined with the other
//! parts of its reference (9.2.3.24.1) once all have arrived.

use super::RecordedSubmit;
use crate::messaging::codec::text::{self, DCS_GSM7, DCS_UCS2, ESM_CLASS_UDHI};
use crate::messaging::codec::wdp;
use crate::messaging::codec::CodecError;

/// A text a handset has whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedText {
    pub destination: String,
    pub text: String,
    /// Short messages it came in (1 when not concatenated).
    pub parts: usize,
}

/// One part of a concatenated text, as its handset read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextPartView {
    pub reference: u16,
    pub total: u8,
    pub sequence: u8,
    /// The TP-User-Data the SMSC delivers: TP-UDL (septets for GSM 7-bit,
    /// octets for UCS-2) and the octets.
    pub tp_udl: usize,
    pub tp_ud: Vec<u8>,
    /// The text's own units after the header: septets or UCS-2 octets.
    body: Vec<u8>,
}

/// Whether a submit is (part of) a plain text rather than a WAP push.
pub fn is_text(s: &RecordedSubmit) -> bool {
    if !matches!(s.data_coding, DCS_GSM7 | DCS_UCS2) {
        return false;
    }
    s.esm_class & ESM_CLASS_UDHI == 0
        || wdp::parse_user_data(&s.short_message).is_ok_and(|u| u.ports.is_none())
}

/// A concatenated text part delivered and read back; `None` for a text in
/// one short message.
pub fn part_of(s: &RecordedSubmit) -> Result<Option<TextPartView>, CodecError> {
    if !is_text(s) || s.esm_class & ESM_CLASS_UDHI == 0 {
        return Ok(None);
    }
    let header_len = usize::from(s.short_message[0]) + 1;
    let (header, body) = s.short_message.split_at(header_len);
    let (tp_udl, tp_ud, body) = if s.data_coding == DCS_GSM7 {
        let (udl, ud) = text::pack_tp_user_data(header, body);
        let (_, septets) = text::unpack_tp_user_data(udl, &ud)?;
        (udl, ud, septets)
    } else {
        (
            s.short_message.len(),
            s.short_message.clone(),
            body.to_vec(),
        )
    };
    let Some(c) = wdp::parse_user_data(&tp_ud)?.concatenation else {
        return Ok(None);
    };
    Ok(Some(TextPartView {
        reference: c.reference,
        total: c.total,
        sequence: c.sequence,
        tp_udl,
        tp_ud,
        body,
    }))
}

/// Every text complete among `accepted`, in the order each completed.
pub fn reassemble(accepted: &[RecordedSubmit]) -> Vec<ReceivedText> {
    type Key = (String, u16, u8, u8);
    let mut pending: Vec<(Key, Vec<TextPartView>)> = Vec::new();
    let mut out = Vec::new();
    for s in accepted.iter().filter(|s| is_text(s)) {
        let part = match part_of(s) {
            Ok(Some(p)) => p,
            Ok(None) => {
                out.push(ReceivedText {
                    destination: s.destination_addr.clone(),
                    text: text::decode(s.data_coding, &s.short_message),
                    parts: 1,
                });
                continue;
            }
            Err(_) => continue,
        };
        let key = (
            s.destination_addr.clone(),
            part.reference,
            part.total,
            s.data_coding,
        );
        let at = match pending.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                pending.push((key, Vec::new()));
                pending.len() - 1
            }
        };
        let parts = &mut pending[at].1;
        // A part sent again (a retried row) is the same part.
        if !parts.iter().any(|p| p.sequence == part.sequence) {
            parts.push(part);
        }
        if parts.len() == usize::from(pending[at].0 .2) {
            let ((destination, _, total, dcs), mut parts) = pending.remove(at);
            parts.sort_by_key(|p| p.sequence);
            let body: Vec<u8> = parts.into_iter().flat_map(|p| p.body).collect();
            out.push(ReceivedText {
                destination,
                text: text::decode(dcs, &body),
                parts: usize::from(total),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn submit(to: &str, p: &text::TextPart) -> RecordedSubmit {
        RecordedSubmit {
            sequence: 1,
            message_id: "1".into(),
            source_addr: String::new(),
            destination_addr: to.into(),
            esm_class: p.esm_class,
            data_coding: p.data_coding,
            registered_delivery: 1,
            short_message: p.short_message.clone(),
            received_at: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn parts_in_any_order_make_the_text_once_all_arrived() {
        let long = "Welcome to ExampleTel {Ł}! ".repeat(5);
        let gsm = "Welcome to ExampleTel {€}! ".repeat(12);
        let a = text::encode_parts(&long, 7, 8).unwrap();
        let b = text::encode_parts(&gsm, 9, 8).unwrap();
        assert_eq!((a.len(), b.len()), (3, 3));
        let mut accepted = vec![submit("1", &a[2]), submit("2", &b[1]), submit("1", &a[0])];
        assert!(reassemble(&accepted).is_empty());
        accepted.extend([submit("2", &b[0]), submit("2", &b[2]), submit("1", &a[1])]);
        let texts = reassemble(&accepted);
        assert_eq!(texts.len(), 2);
        assert_eq!(
            (texts[0].destination.as_str(), texts[0].text.as_str()),
            ("2", gsm.as_str())
        );
        assert_eq!((texts[1].text.as_str(), texts[1].parts), (long.as_str(), 3));
        // Each GSM part went over the air packed: UDL 7 + 153 septets.
        let p = part_of(&accepted[1]).unwrap().unwrap();
        assert_eq!((p.sequence, p.tp_udl, p.tp_ud.len()), (2, 160, 140));
    }
}
