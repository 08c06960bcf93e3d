//! Hostile and broken input: every case must be a clear error, never a panic.

use crate::wbxml::codepages::{si::SI_10, syncml::SYNCML_12};
use crate::wbxml::{decode, encode, known_vocabulary, Document, Element, WbxmlError, MAX_DEPTH};

fn dec(bytes: &[u8]) -> Result<Document, WbxmlError> {
    decode(bytes, known_vocabulary)
}

fn samples() -> Vec<Vec<u8>> {
    let si = Document::new(
        &SI_10,
        Element::new("si").child(
            Element::new("indication")
                .attr("href", "http://www.example.com/a")
                .attr("created", "2024-01-02T03:04:05Z")
                .text("hello"),
        ),
    );
    let syncml = Document::new(
        &SYNCML_12,
        Element::new("SyncML").child(
            Element::new("SyncHdr")
                .child(Element::new("Meta").child(Element::with_text("Type", "b64")))
                .child(Element::new("Cred").child(Element::new("Data").opaque(vec![1, 2, 3])))
                .child(Element::new("x-literal").attr("x", "y")),
        ),
    );
    vec![
        encode(&si, &SI_10).expect("encode si"),
        encode(&syncml, &SYNCML_12).expect("encode syncml"),
    ]
}

#[test]
fn every_truncation_is_an_error() {
    for bytes in samples() {
        assert!(dec(&bytes).is_ok());
        for len in 0..bytes.len() {
            assert!(dec(&bytes[..len]).is_err(), "prefix of {len} bytes decoded");
        }
    }
}

#[test]
fn header_errors() {
    assert_eq!(dec(&[]), Err(WbxmlError::UnexpectedEof { offset: 0 }));
    assert_eq!(
        dec(&[0x04, 0x05, 0x6A, 0x00, 0x05]),
        Err(WbxmlError::UnsupportedVersion(4))
    );
    // Public id longer than 32 bits.
    assert_eq!(
        dec(&[0x03, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x6A, 0x00, 0x05]),
        Err(WbxmlError::MbUintOverflow { offset: 1 })
    );
    assert_eq!(
        dec(&[0x03, 0x05, 0x81, 0x00, 0x00, 0x05]),
        Err(WbxmlError::UnsupportedCharset(128))
    );
    assert!(matches!(
        dec(&[0x03, 0x7F, 0x6A, 0x00, 0x05]),
        Err(WbxmlError::UnknownPublicId(_))
    ));
    // String table longer than the input.
    assert!(matches!(
        dec(&[0x03, 0x05, 0x6A, 0x7F, 0x05]),
        Err(WbxmlError::UnexpectedEof { .. })
    ));
    // Public id index outside the string table.
    assert!(matches!(
        dec(&[0x03, 0x00, 0x05, 0x6A, 0x02, b'a', 0x00, 0x05]),
        Err(WbxmlError::BadStringTableRef { index: 5, .. })
    ));
    assert_eq!(dec(&[0x03, 0x05, 0x6A, 0x00]), Err(WbxmlError::MissingRoot));
}

#[test]
fn body_errors() {
    let si = |body: &[u8]| {
        let mut v = vec![0x03, 0x05, 0x6A, 0x00];
        v.extend_from_slice(body);
        dec(&v)
    };
    assert_eq!(
        si(&[0x3F]),
        Err(WbxmlError::UnknownTag {
            page: 0,
            token: 0x3F,
            offset: 4
        })
    );
    assert_eq!(
        si(&[0x00, 0x07, 0x05]),
        Err(WbxmlError::UnknownTag {
            page: 7,
            token: 0x05,
            offset: 6
        })
    );
    assert_eq!(si(&[0x01]), Err(WbxmlError::UnbalancedEnd { offset: 4 }));
    assert_eq!(
        si(&[0x45, 0x01, 0x01]),
        Err(WbxmlError::TrailingData { offset: 6 })
    );
    assert_eq!(
        si(&[0x05, 0x05]),
        Err(WbxmlError::TrailingData { offset: 5 })
    );
    assert_eq!(
        si(&[0x03, b'a', 0x00, 0x05]),
        Err(WbxmlError::ContentOutsideRoot { offset: 4 })
    );
    assert!(matches!(
        si(&[0x45, 0x83, 0x00, 0x01]),
        Err(WbxmlError::BadStringTableRef { index: 0, .. })
    ));
    assert_eq!(
        si(&[0x45, 0x03, b'a']),
        Err(WbxmlError::UnexpectedEof { offset: 7 })
    );
    assert_eq!(
        si(&[0x45, 0x03, 0xFF, 0x00, 0x01]),
        Err(WbxmlError::InvalidString { offset: 6 })
    );
    assert!(matches!(
        si(&[0x45, 0xC3, 0x85, 0x00, 0x01]),
        Err(WbxmlError::UnexpectedEof { .. })
    ));
    assert!(matches!(
        si(&[0x45, 0x40, 0x01]),
        Err(WbxmlError::UnexpectedToken { token: 0x40, .. })
    ));
    assert!(matches!(
        si(&[0x43, 0x01]),
        Err(WbxmlError::UnexpectedToken { token: 0x43, .. })
    ));
    // Attribute errors: unknown start, unknown value token, value without name,
    // opaque on a non-date attribute, malformed date.
    assert!(matches!(
        si(&[0x86, 0x30, 0x01]),
        Err(WbxmlError::UnknownAttribute { token: 0x30, .. })
    ));
    assert!(matches!(
        si(&[0x86, 0x0B, 0x99, 0x01]),
        Err(WbxmlError::UnknownAttributeValue { token: 0x99, .. })
    ));
    assert!(matches!(
        si(&[0x86, 0x85, 0x01]),
        Err(WbxmlError::ValueWithoutAttribute { .. })
    ));
    assert!(matches!(
        si(&[0x86, 0x0B, 0xC3, 0x01, 0x20, 0x01]),
        Err(WbxmlError::OpaqueAttribute { .. })
    ));
    assert!(matches!(
        si(&[0x86, 0x0A, 0xC3, 0x01, 0xAA, 0x01]),
        Err(WbxmlError::InvalidDateTime { .. })
    ));
    assert!(matches!(
        si(&[0x86, 0x0B, 0x84, 0x01]),
        Err(WbxmlError::UnexpectedToken { token: 0x84, .. })
    ));
}

#[test]
fn nesting_is_limited() {
    let mut bytes = vec![0x03, 0x05, 0x6A, 0x00];
    bytes.extend(std::iter::repeat_n(0x48, 100_000));
    assert_eq!(dec(&bytes), Err(WbxmlError::TooDeep { limit: MAX_DEPTH }));
}

/// xorshift64*: deterministic, dependency-free pseudo-random bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..20_000 {
        let len = (rng.next() % 96) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        // Half the cases get a plausible header so the body parser is reached.
        if i % 2 == 0 {
            let header: &[u8] = match i % 6 {
                0 => &[0x03, 0x05, 0x6A, 0x00],
                2 => &[0x03, 0x0B, 0x6A, 0x00],
                _ => &[0x02, 0xA4, 0x01, 0x6A, 0x00],
            };
            bytes.splice(0..0, header.iter().copied());
        }
        let _ = dec(&bytes);
    }
}

#[test]
fn mutated_documents_never_panic() {
    let mut rng = Rng(42);
    for sample in samples() {
        for _ in 0..5_000 {
            let mut bytes = sample.clone();
            for _ in 0..1 + rng.next() % 4 {
                let at = (rng.next() as usize) % bytes.len();
                bytes[at] = rng.byte();
            }
            if let Ok(doc) = dec(&bytes) {
                // Whatever decodes must also be printable.
                let _ = crate::wbxml::to_xml(&doc);
            }
        }
    }
}
