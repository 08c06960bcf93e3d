//! SI and SL: the published examples of WAP-167 and WAP-168, plus variants.

use super::wbxml2xml::assert_wbxml2xml_contains;
use crate::wbxml::codepages::{si::SI_10, sl::SL_10};
use crate::wbxml::{decode, encode, known_vocabulary, to_xml, Document, Element, PublicId};

fn hex_with_text(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The tokenised example of WAP-167-ServiceInd, byte for byte.
fn wap167_bytes() -> Vec<u8> {
    hex_with_text(&[
        &[0x02, 0x05, 0x6A, 0x00, 0x45, 0xC6, 0x0D, 0x03],
        b"xyz",
        &[0x00, 0x85, 0x03],
        b"email/123/abc.wml",
        &[
            0x00, 0x0A, 0xC3, 0x07, 0x19, 0x99, 0x06, 0x25, 0x15, 0x23, 0x15,
        ],
        &[0x10, 0xC3, 0x04, 0x19, 0x99, 0x06, 0x30, 0x01, 0x03],
        b"You have 4 new emails",
        &[0x00, 0x01, 0x01],
    ])
}

fn wap167_document() -> Document {
    let indication = Element::new("indication")
        .attr("href", "http://www.xyz.com/email/123/abc.wml")
        .attr("created", "1999-06-25T15:23:15Z")
        .attr("si-expires", "1999-06-30T00:00:00Z")
        .text("You have 4 new emails");
    let mut doc = Document::new(&SI_10, Element::new("si").child(indication));
    // The published example is WBXML 1.2.
    doc.version = 0x02;
    doc
}

#[test]
fn si_wap167_example_encodes_to_published_bytes() {
    assert_eq!(encode(&wap167_document(), &SI_10), Ok(wap167_bytes()));
}

#[test]
fn si_wap167_published_bytes_decode() {
    let doc = decode(&wap167_bytes(), known_vocabulary).expect("decode");
    assert_eq!(doc, wap167_document());
    assert_eq!(doc.public_id, PublicId::Known(0x05));
}

#[test]
fn si_wap167_example_accepted_by_wbxml2xml() {
    let bytes = encode(&wap167_document(), &SI_10).expect("encode");
    assert_wbxml2xml_contains(
        &bytes,
        &[
            "<si>",
            "<indication",
            "href=\"http://www.xyz.com/email/123/abc.wml\"",
            "created=\"1999-06-25T15:23:15Z\"",
            "si-expires=\"1999-06-30T00:00:00Z\"",
            "You have 4 new emails",
        ],
    );
}

#[test]
fn si_with_si_id_action_and_info_round_trips() {
    let indication = Element::new("indication")
        .attr("href", "https://www.example.org/inbox?id=4")
        .attr("si-id", "email-4711")
        .attr("action", "signal-high")
        .attr("created", "2024-02-29T08:00:00Z")
        .text("You have 4 new emails");
    let info = Element::new("info").child(
        Element::new("item")
            .attr("class", "mailbox")
            .text("4 unread"),
    );
    let doc = Document::new(&SI_10, Element::new("si").child(indication).child(info));
    let bytes = encode(&doc, &SI_10).expect("encode");
    // https://www. prefix token, then "example", ".org/" value token.
    let expected_href = hex_with_text(&[
        &[0x0F, 0x03],
        b"example",
        &[0x00, 0x88, 0x03],
        b"inbox?id=4",
        &[0x00],
    ]);
    assert!(bytes
        .windows(expected_href.len())
        .any(|w| w == expected_href.as_slice()));
    assert!(bytes.contains(&0x08), "signal-high start token");
    assert_eq!(decode(&bytes, known_vocabulary), Ok(doc.clone()));
    assert_wbxml2xml_contains(
        &bytes,
        &[
            "href=\"https://www.example.org/inbox?id=4\"",
            "si-id=\"email-4711\"",
            "action=\"signal-high\"",
            "created=\"2024-02-29T08:00:00Z\"",
            "<item class=\"mailbox\">",
            "4 unread",
        ],
    );
}

/// The tokenised example of WAP-168-ServiceLoad.
fn wap168_bytes() -> Vec<u8> {
    hex_with_text(&[
        &[0x02, 0x06, 0x6A, 0x00, 0x85, 0x0A, 0x03],
        b"xyz",
        &[0x00, 0x85, 0x03],
        b"ppaid/123/abc.wml",
        &[0x00, 0x01],
    ])
}

fn wap168_document() -> Document {
    let mut doc = Document::new(
        &SL_10,
        Element::new("sl").attr("href", "http://www.xyz.com/ppaid/123/abc.wml"),
    );
    doc.version = 0x02;
    doc
}

#[test]
fn sl_wap168_example_matches_published_bytes() {
    assert_eq!(encode(&wap168_document(), &SL_10), Ok(wap168_bytes()));
    assert_eq!(
        decode(&wap168_bytes(), known_vocabulary),
        Ok(wap168_document())
    );
    assert_wbxml2xml_contains(
        &wap168_bytes(),
        &["<sl", "href=\"http://www.xyz.com/ppaid/123/abc.wml\""],
    );
}

#[test]
fn sl_https_and_action_round_trip() {
    let root = Element::new("sl")
        .attr("href", "https://dm.example.net/fw.bin")
        .attr("action", "execute-high");
    let doc = Document::new(&SL_10, root);
    let bytes = encode(&doc, &SL_10).expect("encode");
    assert_eq!(&bytes[..5], &[0x03, 0x06, 0x6A, 0x00, 0x85]);
    assert_eq!(&bytes[5..8], &[0x0B, 0x03, b'd']);
    assert!(bytes.contains(&0x87), ".net/ value token");
    assert_eq!(decode(&bytes, known_vocabulary), Ok(doc));
    assert_wbxml2xml_contains(
        &bytes,
        &[
            "href=\"https://dm.example.net/fw.bin\"",
            "action=\"execute-high\"",
        ],
    );
}

#[test]
fn si_to_xml_has_doctype() {
    let xml = to_xml(&wap167_document());
    assert!(xml.contains(
        "<!DOCTYPE si PUBLIC \"-//WAPFORUM//DTD SI 1.0//EN\" \"http://www.wapforum.org/DTD/si.dtd\">"
    ));
    assert!(xml.contains("<indication href=\"http://www.xyz.com/email/123/abc.wml\""));
    assert!(xml.contains(">You have 4 new emails</indication>"));
}
