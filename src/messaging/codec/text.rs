//! Plain text short messages as SMPP `short_message` octets (SMPP v3.4
//! section 5.2.19, 3GPP TS 23.038): the GSM 7-bit default alphabet when
//! every character is in it (data_coding 0, one septet per octet as SMPP
//! carries it unpacked, the extension table behind the 0x1B escape), else
//! UCS-2 (data_coding 8, UTF-16 big-endian).
//!
//! One short message holds 160 septets of GSM 7-bit text or 140 octets
//! (70 UTF-16 units) of UCS-2; SMPP's own `short_message` limit of 254
//! octets is above both.

use super::CodecError;

/// SMPP data_coding of the GSM 7-bit default alphabet ("SMSC default").
pub const DCS_GSM7: u8 = 0x00;
/// SMPP data_coding of UCS-2 (ISO/IEC 10646).
pub const DCS_UCS2: u8 = 0x08;
/// Septets of GSM 7-bit text one short message holds (TS 23.038 section 6.1.2.1).
pub const GSM7_SINGLE: usize = 160;
/// Octets of UCS-2 text one short message holds (140 octets of user data).
pub const UCS2_SINGLE_OCTETS: usize = 140;

const ESCAPE: u8 = 0x1B;

/// The basic table, indexed by septet. The escape (0x1B) never maps back
/// from a character.
const BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table: each takes the escape and one more septet.
const EXTENSION: [(char, u8); 10] = [
    ('\u{0C}', 0x0A),
    ('^', 0x14),
    ('{', 0x28),
    ('}', 0x29),
    ('\\', 0x2F),
    ('[', 0x3C),
    ('~', 0x3D),
    (']', 0x3E),
    ('|', 0x40),
    ('€', 0x65),
];

fn gsm7_septets(c: char) -> Option<Vec<u8>> {
    if c != '\u{1B}' {
        if let Some(i) = BASIC.iter().position(|b| *b == c) {
            return Some(vec![i as u8]);
        }
    }
    EXTENSION
        .iter()
        .find(|(e, _)| *e == c)
        .map(|(_, s)| vec![ESCAPE, *s])
}

/// A text ready for one submit_sm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedText {
    pub data_coding: u8,
    pub short_message: Vec<u8>,
}

impl EncodedText {
    pub fn is_gsm7(&self) -> bool {
        self.data_coding == DCS_GSM7
    }

    /// Whether it fits one short message.
    pub fn fits_one(&self) -> bool {
        let limit = if self.is_gsm7() {
            GSM7_SINGLE
        } else {
            UCS2_SINGLE_OCTETS
        };
        self.short_message.len() <= limit
    }
}

/// `text` in the GSM 7-bit default alphabet when every character is in it,
/// else in UCS-2.
pub fn encode(text: &str) -> EncodedText {
    let gsm: Option<Vec<u8>> = text
        .chars()
        .map(gsm7_septets)
        .collect::<Option<Vec<Vec<u8>>>>()
        .map(|v| v.concat());
    match gsm {
        Some(septets) => EncodedText {
            data_coding: DCS_GSM7,
            short_message: septets,
        },
        None => EncodedText {
            data_coding: DCS_UCS2,
            short_message: text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        },
    }
}

/// `text` as one short message, or why it does not fit (in words a person
/// configuring it can act on).
pub fn encode_single(text: &str) -> Result<EncodedText, TextTooLong> {
    let e = encode(text);
    if e.fits_one() {
        return Ok(e);
    }
    Err(too_long_single(text, &e))
}

/// Septets of GSM 7-bit text one part of a concatenated message holds: the
/// 6-octet header (UDHL and the 8-bit reference concatenation IE) and its
/// fill bit take 7 of the 160 (TS 23.040 9.2.3.24.1).
pub const GSM7_PART: usize = 153;
/// UCS-2 characters (UTF-16 units) one part holds: (140 - 6) / 2.
pub const UCS2_PART_UNITS: usize = 67;
/// TS 23.040 9.2.3.24.1: concatenated short messages, 8-bit reference.
pub const IEI_CONCAT_8BIT: u8 = 0x00;
/// SMPP esm_class with UDHI set: the short message starts with a header.
pub const ESM_CLASS_UDHI: u8 = 0x40;

/// One short message of a text: what one submit_sm carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextPart {
    pub data_coding: u8,
    pub esm_class: u8,
    /// The header (when concatenated), then the text: GSM 7-bit septets
    /// one per octet, as SMPP carries the SMSC default alphabet (the SMSC
    /// packs them, with the header's fill bits, into the TP-UD; see
    /// [`pack_tp_user_data`]), or UCS-2 octets.
    pub short_message: Vec<u8>,
}

/// The text split into the units a part may not cut: a GSM 7-bit character
/// with its escape, a UCS-2 character with both halves of a surrogate pair.
fn units(text: &str, e: &EncodedText) -> Vec<Vec<u8>> {
    if e.is_gsm7() {
        text.chars().filter_map(gsm7_septets).collect()
    } else {
        let mut buf = [0u16; 2];
        text.chars()
            .map(|c| {
                c.encode_utf16(&mut buf)
                    .iter()
                    .flat_map(|u| u.to_be_bytes())
                    .collect()
            })
            .collect()
    }
}

/// `text` as the short messages it goes out in: one without a header when
/// it fits, else a concatenated message (TS 23.040 9.2.3.24.1, IEI 0x00
/// with the 8-bit `reference`, the total and the sequence from 1) of 153
/// GSM 7-bit septets or 67 UCS-2 characters a part, never cutting an
/// escaped character or a surrogate pair. More than `max_parts` parts is
/// refused.
pub fn encode_parts(
    text: &str,
    reference: u8,
    max_parts: u8,
) -> Result<Vec<TextPart>, TextTooLong> {
    let e = encode(text);
    if e.fits_one() {
        return Ok(vec![TextPart {
            data_coding: e.data_coding,
            esm_class: 0,
            short_message: e.short_message,
        }]);
    }
    let limit = if e.is_gsm7() {
        GSM7_PART
    } else {
        UCS2_PART_UNITS * 2
    };
    let mut chunks: Vec<Vec<u8>> = vec![Vec::new()];
    for u in units(text, &e) {
        let full = chunks.last().is_some_and(|c| c.len() + u.len() > limit);
        if full {
            chunks.push(Vec::new());
        }
        if let Some(c) = chunks.last_mut() {
            c.extend_from_slice(&u);
        }
    }
    let too_long = |parts: usize| {
        let mut err = too_long_single(text, &e);
        err.parts = Some((parts, usize::from(max_parts)));
        err
    };
    let total = u8::try_from(chunks.len()).map_err(|_| too_long(chunks.len()))?;
    if total > max_parts {
        return Err(too_long(chunks.len()));
    }
    Ok(chunks
        .into_iter()
        .zip(1..=total)
        .map(|(chunk, seq)| {
            let mut short_message = vec![0x05, IEI_CONCAT_8BIT, 0x03, reference, total, seq];
            short_message.extend_from_slice(&chunk);
            TextPart {
                data_coding: e.data_coding,
                esm_class: ESM_CLASS_UDHI,
                short_message,
            }
        })
        .collect())
}

/// How many short messages `text` takes (at most 255 counted).
pub fn parts_needed(text: &str) -> usize {
    match encode_parts(text, 0, u8::MAX) {
        Ok(parts) => parts.len(),
        Err(e) => e.parts.map(|(n, _)| n).unwrap_or(1),
    }
}

/// The TP-User-Data of a GSM 7-bit short message with a user data header,
/// as the SMSC delivers it (TS 23.040 9.2.3.24, figure 9.2.3.24 (a)): the
/// header octets (UDHL first), fill bits up to the next septet boundary,
/// then the septets packed as TS 23.038 6.1.2.1.1 packs them. Returns
/// TP-UDL, which counts septets (header and fill included), and the
/// octets.
pub fn pack_tp_user_data(header: &[u8], septets: &[u8]) -> (usize, Vec<u8>) {
    let header_septets = (header.len() * 8).div_ceil(7);
    let udl = header_septets + septets.len();
    let mut out = vec![0u8; (udl * 7).div_ceil(8)];
    out[..header.len()].copy_from_slice(header);
    for (i, s) in septets.iter().enumerate() {
        let bit = (header_septets + i) * 7;
        let (octet, shift) = (bit / 8, bit % 8);
        let v = u16::from(s & 0x7F) << shift;
        out[octet] |= (v & 0xFF) as u8;
        if shift > 1 {
            out[octet + 1] |= (v >> 8) as u8;
        }
    }
    (udl, out)
}

/// The inverse of [`pack_tp_user_data`], as a handset reads a TP-UD with
/// TP-UDHI set: the header (UDHL first) and the septets after its fill bits.
pub fn unpack_tp_user_data(udl: usize, ud: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CodecError> {
    let bad = |reason| CodecError::Invalid {
        field: "TP-User-Data",
        reason,
    };
    let udhl = usize::from(*ud.first().ok_or(bad("empty"))?);
    let header = ud.get(..=udhl).ok_or(bad("shorter than its header"))?;
    let header_septets = (header.len() * 8).div_ceil(7);
    if ud.len() < (udl * 7).div_ceil(8) || udl < header_septets {
        return Err(bad("shorter than its TP-UDL"));
    }
    let septets = (header_septets..udl)
        .map(|i| {
            let bit = i * 7;
            let (octet, shift) = (bit / 8, bit % 8);
            let lo = u16::from(ud[octet]);
            let hi = u16::from(ud.get(octet + 1).copied().unwrap_or(0));
            (((hi << 8 | lo) >> shift) & 0x7F) as u8
        })
        .collect();
    Ok((header.to_vec(), septets))
}

fn too_long_single(text: &str, e: &EncodedText) -> TextTooLong {
    if e.is_gsm7() {
        TextTooLong {
            units: e.short_message.len(),
            limit: GSM7_SINGLE,
            unicode_char: None,
            parts: None,
        }
    } else {
        TextTooLong {
            units: e.short_message.len() / 2,
            limit: UCS2_SINGLE_OCTETS / 2,
            unicode_char: text.chars().find(|c| gsm7_septets(*c).is_none()),
            parts: None,
        }
    }
}

/// A text over the single short message limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextTooLong {
    /// GSM 7-bit septets (an extension character counts twice) or UTF-16 units.
    pub units: usize,
    pub limit: usize,
    /// The first character outside the GSM alphabet, which made it UCS-2.
    pub unicode_char: Option<char>,
    /// For a concatenated message: the parts it needs and the most allowed.
    pub parts: Option<(usize, usize)>,
}

impl std::fmt::Display for TextTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((parts, most)) = self.parts {
            return match self.unicode_char {
                None => write!(
                    f,
                    "the text takes {} characters of the GSM 7-bit alphabet ({{}}[]~^|\\€ count twice): {parts} short messages of {GSM7_PART}; at most {most} are allowed",
                    self.units
                ),
                Some(c) => write!(
                    f,
                    "the text has {} characters and goes as UCS-2 (\"{c}\" is not in the GSM 7-bit alphabet): {parts} short messages of {UCS2_PART_UNITS}; at most {most} are allowed",
                    self.units
                ),
            };
        }
        match self.unicode_char {
            None => write!(
                f,
                "the text takes {} characters of the GSM 7-bit alphabet ({{}}[]~^|\\€ count twice); one short message holds {}",
                self.units, self.limit
            ),
            Some(c) => write!(
                f,
                "the text has {} characters and goes as UCS-2 (\"{c}\" is not in the GSM 7-bit alphabet); one short message holds {} of them",
                self.units, self.limit
            ),
        }
    }
}

impl From<TextTooLong> for CodecError {
    fn from(e: TextTooLong) -> Self {
        CodecError::TextTooLong(e.to_string())
    }
}

/// The text a submit_sm carries, for people reading what was sent (the
/// test SMSC): GSM 7-bit and UCS-2 decoded, anything else read as UTF-8.
pub fn decode(data_coding: u8, short_message: &[u8]) -> String {
    match data_coding {
        DCS_GSM7 => {
            let mut out = String::new();
            let mut escaped = false;
            for &s in short_message {
                if escaped {
                    escaped = false;
                    match EXTENSION.iter().find(|(_, e)| *e == s) {
                        Some((c, _)) => out.push(*c),
                        None => out.push(' '),
                    }
                } else if s == ESCAPE {
                    escaped = true;
                } else {
                    out.push(BASIC.get(usize::from(s)).copied().unwrap_or('?'));
                }
            }
            out
        }
        DCS_UCS2 => {
            let units: Vec<u16> = short_message
                .chunks(2)
                .map(|p| {
                    u16::from_be_bytes([
                        p.first().copied().unwrap_or(0),
                        p.get(1).copied().unwrap_or(0),
                    ])
                })
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => String::from_utf8_lossy(short_message).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_letters_keep_their_octets_in_gsm7() {
        let e = encode("Welcome to ExampleTel");
        assert_eq!(e.data_coding, DCS_GSM7);
        assert_eq!(e.short_message, b"Welcome to ExampleTel");
    }

    #[test]
    fn gsm_specials_map_to_their_septets() {
        // TS 23.038 table 6.2.1: @ is 0x00, $ 0x02, é 0x05, _ 0x11, ü 0x7E;
        // € is escape + 0x65.
        let e = encode("@$é_ü€");
        assert_eq!(e.data_coding, DCS_GSM7);
        assert_eq!(e.short_message, [0x00, 0x02, 0x05, 0x11, 0x7E, 0x1B, 0x65]);
        assert_eq!(decode(e.data_coding, &e.short_message), "@$é_ü€");
    }

    #[test]
    fn a_character_outside_the_alphabet_makes_it_ucs2() {
        let e = encode("Witaj w sieci Łódź");
        assert_eq!(e.data_coding, DCS_UCS2);
        assert_eq!(&e.short_message[..4], &[0x00, b'W', 0x00, b'i']);
        assert_eq!(&e.short_message[28..30], &[0x01, 0x41], "Ł is U+0141");
        assert_eq!(decode(DCS_UCS2, &e.short_message), "Witaj w sieci Łódź");
    }

    /// The layout of TS 23.040 figure 9.2.3.24 (a) with the concatenation
    /// IE of 9.2.3.24.1 (UDHL 05, IEI 00, IEDL 03, reference 2A, 2 parts,
    /// part 1), and for text the packing example of TS 23.038 6.1.2.1.1,
    /// "hellohello" (E8 32 9B FD 46 97 D9 EC 37 without a header). The six
    /// header octets are 48 bits: one fill bit brings the text to septet 7,
    /// so TP-UDL = 7 + 10 = 17 and every septet sits one bit further on:
    /// 'h' 0x68 << 1 = D0; 'e' 0x65 fills 65 with bit 0 of 'l' (0); 'l'
    /// 0x6C >> 1 = 36 with bits 0-1 of the next 'l' (00) on top; ...
    #[test]
    fn tp_user_data_with_a_header_has_its_fill_bit_as_ts_23_040_lays_it_out() {
        let header = [0x05, 0x00, 0x03, 0x2A, 0x02, 0x01];
        let septets = encode("hellohello").short_message;
        let (udl, ud) = pack_tp_user_data(&[], &septets);
        assert_eq!(
            (udl, hex::encode_upper(&ud)),
            (10, "E8329BFD4697D9EC37".into())
        );
        let (udl, ud) = pack_tp_user_data(&header, &septets);
        assert_eq!(udl, 17);
        assert_eq!(
            ud,
            [
                0x05, 0x00, 0x03, 0x2A, 0x02, 0x01, 0xD0, 0x65, 0x36, 0xFB, 0x8D, 0x2E, 0xB3, 0xD9,
                0x6F
            ]
        );
        assert_eq!(
            unpack_tp_user_data(udl, &ud).unwrap(),
            (header.to_vec(), septets)
        );
        // A full part: 7 + 153 septets fill the 140 octets exactly.
        let (udl, ud) = pack_tp_user_data(&header, &[0x41; GSM7_PART]);
        assert_eq!((udl, ud.len()), (160, 140));
        assert!(unpack_tp_user_data(17, &ud[..10]).is_err());
    }

    #[test]
    fn a_long_text_goes_in_parts_of_153_septets_under_one_reference() {
        let text = format!("{}{}", "a".repeat(152), "€".repeat(5));
        let parts = encode_parts(&text, 0x2A, 4).unwrap();
        assert_eq!(parts.len(), 2);
        // The € after 152 septets would need 154: it starts the next part.
        assert_eq!(parts[0].short_message.len(), 6 + 152);
        assert_eq!(
            &parts[0].short_message[..6],
            &[0x05, 0x00, 0x03, 0x2A, 0x02, 0x01]
        );
        assert_eq!(
            parts[1].short_message,
            [
                &[0x05, 0x00, 0x03, 0x2A, 0x02, 0x02][..],
                &[0x1B, 0x65].repeat(5)
            ]
            .concat()
        );
        assert!(parts
            .iter()
            .all(|p| p.esm_class == 0x40 && p.data_coding == DCS_GSM7));
        // UCS-2: 67 characters a part, a surrogate pair never cut.
        let emoji = format!("{}😀łłł", "ł".repeat(66));
        let parts = encode_parts(&emoji, 1, 4).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].short_message.len(), 6 + 132);
        assert_eq!(&parts[1].short_message[6..10], &[0xD8, 0x3D, 0xDE, 0x00]);
        // One that fits goes alone, without a header.
        let one = encode_parts("Welcome", 1, 4).unwrap();
        assert_eq!((one.len(), one[0].esm_class), (1, 0));
        // Five parts when four are allowed: refused, saying so.
        let e = encode_parts(&"e".repeat(153 * 4 + 1), 1, 4).unwrap_err();
        assert_eq!(e.parts, Some((5, 4)));
        assert!(
            e.to_string().contains("5 short messages of 153; at most 4"),
            "{e}"
        );
        assert_eq!(parts_needed(&"e".repeat(153 * 4 + 1)), 5);
    }

    #[test]
    fn single_message_limits_are_160_septets_or_70_ucs2_characters() {
        assert!(encode_single(&"a".repeat(160)).is_ok());
        let e = encode_single(&"a".repeat(161)).unwrap_err();
        assert_eq!((e.units, e.limit), (161, 160));
        // The extension characters take two septets each.
        let e = encode_single(&"€".repeat(81)).unwrap_err();
        assert_eq!(e.units, 162);
        assert!(encode_single(&"€".repeat(80)).is_ok());
        assert!(encode_single(&"ł".repeat(70)).is_ok());
        let e = encode_single(&"ł".repeat(71)).unwrap_err();
        assert_eq!((e.units, e.limit, e.unicode_char), (71, 70, Some('ł')));
        assert!(e.to_string().contains("UCS-2"), "{e}");
    }
}
