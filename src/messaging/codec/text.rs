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
    Err(if e.is_gsm7() {
        TextTooLong {
            units: e.short_message.len(),
            limit: GSM7_SINGLE,
            unicode_char: None,
        }
    } else {
        TextTooLong {
            units: e.short_message.len() / 2,
            limit: UCS2_SINGLE_OCTETS / 2,
            unicode_char: text.chars().find(|c| gsm7_septets(*c).is_none()),
        }
    })
}

/// A text over the single short message limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextTooLong {
    /// GSM 7-bit septets (an extension character counts twice) or UTF-16 units.
    pub units: usize,
    pub limit: usize,
    /// The first character outside the GSM alphabet, which made it UCS-2.
    pub unicode_char: Option<char>,
}

impl std::fmt::Display for TextTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
