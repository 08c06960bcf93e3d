//! Table-driven round trips over every token of every vocabulary, plus
//! the parts of WBXML the vocabularies do not exercise (literals, entities).

use super::wbxml2xml::assert_wbxml2xml_contains;
use crate::wbxml::codepages::{self, si::SI_10, syncml::SYNCML_12};
use crate::wbxml::{decode, encode, known_vocabulary, Document, Element, PublicId, Vocabulary};

/// A root holding one child per tag token, each with text.
fn all_tags_document(vocab: &Vocabulary) -> Document {
    let mut root = Element::new(vocab.root);
    for tag in vocab.all_tags() {
        root = root.child(Element::with_text(
            tag.name,
            format!("text of {}", tag.name),
        ));
    }
    Document::new(vocab, root)
}

#[test]
fn every_tag_of_every_vocabulary_round_trips() {
    for vocab in codepages::ALL {
        let doc = all_tags_document(vocab);
        let bytes = encode(&doc, vocab).unwrap_or_else(|e| panic!("{}: {e}", vocab.name));
        // Known tags never need the string table beyond the public id.
        let literal_id = matches!(doc.public_id, PublicId::Literal(_));
        let expected_table = if literal_id {
            vocab.xml_public_id.len() + 1
        } else {
            0
        };
        assert_eq!(
            usize::from(bytes[if literal_id { 4 } else { 3 }]),
            expected_table,
            "{}",
            vocab.name
        );
        assert_eq!(decode(&bytes, known_vocabulary), Ok(doc), "{}", vocab.name);
    }
}

#[test]
fn every_vocabulary_is_accepted_by_wbxml2xml() {
    for vocab in codepages::ALL {
        let doc = all_tags_document(vocab);
        let bytes = encode(&doc, vocab).expect("encode");
        let names: Vec<String> = vocab
            .all_tags()
            .map(|t| format!("<{}", t.name))
            .chain(std::iter::once(format!("text of {}", vocab.root)))
            .collect();
        let needles: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_wbxml2xml_contains(&bytes, &needles);
    }
}

#[test]
fn every_attribute_token_round_trips() {
    for vocab in codepages::ALL {
        let mut root = Element::new(vocab.root);
        for start in vocab.all_attr_starts() {
            // The prefix alone, and (where values may be split) prefix + tokens + text.
            root = root.child(Element::new(vocab.root).attr(start.name, start.prefix));
            for value in vocab.all_attr_values() {
                let v = format!("{}{}", start.prefix, value.value);
                root = root.child(Element::new(vocab.root).attr(start.name, v));
            }
            let mixed = format!(
                "{}a{}b",
                start.prefix,
                vocab.all_attr_values().map(|v| v.value).collect::<String>()
            );
            root = root.child(Element::new(vocab.root).attr(start.name, mixed));
        }
        let doc = Document::new(vocab, root);
        let bytes = encode(&doc, vocab).unwrap_or_else(|e| panic!("{}: {e}", vocab.name));
        assert_eq!(decode(&bytes, known_vocabulary), Ok(doc), "{}", vocab.name);
    }
}

#[test]
fn unknown_names_travel_as_literals() {
    let root = Element::new("si").child(
        Element::new("x-vendor-ext")
            .attr("x-flag", "on")
            .attr("href", "http://www.example.com/")
            .child(
                Element::new("x-vendor-ext")
                    .attr("x-flag", "off")
                    .text("again"),
            ),
    );
    let doc = Document::new(&SI_10, root);
    let bytes = encode(&doc, &SI_10).expect("encode");
    // String table: "x-vendor-ext\0x-flag\0", each name stored once.
    assert_eq!(bytes[3], 20);
    assert_eq!(&bytes[4..24], b"x-vendor-ext\0x-flag\0");
    // LITERAL_AC with index 0, then attribute LITERAL with index 13.
    assert_eq!(&bytes[25..29], &[0xC4, 0x00, 0x04, 0x0D]);
    assert_eq!(decode(&bytes, known_vocabulary), Ok(doc));
    assert_wbxml2xml_contains(
        &bytes,
        &[
            "<x-vendor-ext",
            "x-flag=\"on\"",
            "x-flag=\"off\"",
            "again",
            "href=\"http://www.example.com/\"",
        ],
    );
}

#[test]
fn literal_tag_variants_decode() {
    // LITERAL (empty), LITERAL_C, LITERAL_A with a literal attribute name.
    let mut bytes = vec![0x03, 0x0B, 0x6A, 0x04];
    bytes.extend_from_slice(b"a\0b\0");
    bytes.extend_from_slice(&[
        0x45, 0x04, 0x00, 0x44, 0x02, 0x03, b't', 0x00, 0x01, 0x84, 0x00, 0x04, 0x02, 0x03, b'v',
        0x00, 0x01, 0x01,
    ]);
    let doc = decode(&bytes, known_vocabulary).expect("decode");
    let expected = Element::new("wap-provisioningdoc")
        .child(Element::new("a"))
        .child(Element::with_text("b", "t"))
        .child(Element::new("a").attr("b", "v"));
    assert_eq!(doc.root, expected);
}

#[test]
fn entities_and_split_strings_merge_into_text() {
    // <SyncML><LocURI>a&#x20AC;b</LocURI></SyncML> with ENTITY and two STR_I.
    let with_entity = |entity: &[u8]| {
        let mut bytes = vec![
            0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x57, 0x03, b'a', 0x00, 0x02,
        ];
        bytes.extend_from_slice(entity);
        bytes.extend_from_slice(&[0x03, b'b', 0x00, 0x01, 0x01]);
        bytes
    };
    let doc = decode(&with_entity(&[0xC1, 0x2C]), known_vocabulary).expect("decode");
    assert_eq!(
        doc.root,
        Element::new("SyncML").child(Element::with_text("LocURI", "a\u{20AC}b"))
    );
    // A surrogate (0xD800) is not a character.
    assert!(matches!(
        decode(&with_entity(&[0x83, 0xB0, 0x00]), known_vocabulary),
        Err(crate::wbxml::WbxmlError::InvalidEntity { value: 0xD800, .. })
    ));
}

#[test]
fn latin1_documents_decode() {
    let bytes = [
        0x03, 0xA4, 0x01, 0x04, 0x00, 0x6D, 0x57, 0x03, b'M', 0xFC, b'n', 0x00, 0x01, 0x01,
    ];
    let doc = decode(&bytes, known_vocabulary).expect("decode");
    assert_eq!(doc.charset, 4);
    assert_eq!(
        doc.root
            .find("LocURI")
            .map(Element::text_content)
            .as_deref(),
        Some("M\u{FC}n")
    );
}

#[test]
fn non_ascii_text_round_trips() {
    let root = Element::new("SyncML").child(Element::with_text("LocName", "Jürgen – 東京 🚀"));
    let doc = Document::new(&SYNCML_12, root);
    let bytes = encode(&doc, &SYNCML_12).expect("encode");
    assert_eq!(decode(&bytes, known_vocabulary), Ok(doc));
    assert_wbxml2xml_contains(&bytes, &["Jürgen – 東京 🚀"]);
}

#[test]
fn encoder_rejects_what_it_cannot_write() {
    use crate::wbxml::WbxmlError;
    let doc = Document::new(&SI_10, Element::new("si").text("a\0b"));
    assert_eq!(encode(&doc, &SI_10), Err(WbxmlError::NulInString));
    let mut doc = Document::new(&SI_10, Element::new("si"));
    doc.charset = 4;
    assert_eq!(encode(&doc, &SI_10), Err(WbxmlError::UnsupportedCharset(4)));
    doc.charset = 106;
    doc.version = 0x04;
    assert_eq!(encode(&doc, &SI_10), Err(WbxmlError::UnsupportedVersion(4)));
    doc.version = 0x03;
    doc.public_id = PublicId::Known(0);
    assert!(matches!(
        encode(&doc, &SI_10),
        Err(WbxmlError::InvalidPublicId(_))
    ));
    let mut deep = Element::new("item");
    for _ in 0..crate::wbxml::MAX_DEPTH {
        deep = Element::new("item").child(deep);
    }
    let doc = Document::new(&SI_10, deep);
    assert!(matches!(
        encode(&doc, &SI_10),
        Err(WbxmlError::TooDeep { .. })
    ));
}

#[test]
fn known_public_ids_are_found_in_both_forms() {
    for vocab in codepages::ALL {
        let by_number = known_vocabulary(&PublicId::Known(vocab.public_id)).map(|v| v.name);
        let by_name =
            known_vocabulary(&PublicId::Literal(vocab.xml_public_id.into())).map(|v| v.name);
        assert_eq!(by_number, Some(vocab.name));
        assert_eq!(by_name, Some(vocab.name));
    }
    assert!(known_vocabulary(&PublicId::Known(0x7F)).is_none());
}
