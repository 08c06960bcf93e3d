//! SyncML / OMA DM 1.2 and DevInf 1.2.

use super::wbxml2xml::assert_wbxml2xml_contains;
use crate::wbxml::codepages::{devinf::DEVINF_12, syncml::SYNCML_12};
use crate::wbxml::{decode, encode, known_vocabulary, to_xml, Document, Element, Node, PublicId};

const SYNCML_ID: &[u8] = b"-//SYNCML//DTD SyncML 1.2//EN";

fn item(uri: &str, data: &str) -> Element {
    Element::new("Item")
        .child(Element::new("Source").child(Element::with_text("LocURI", uri)))
        .child(Element::with_text("Data", data))
}

/// OMA DM client package 1 (OMA-TS-DM_Protocol-V1_2): Alert 1201
/// plus a Replace of the DevInfo node values, with an MD5 credential.
fn dm_package1() -> Document {
    let hdr = Element::new("SyncHdr")
        .child(Element::with_text("VerDTD", "1.2"))
        .child(Element::with_text("VerProto", "DM/1.2"))
        .child(Element::with_text("SessionID", "1"))
        .child(Element::with_text("MsgID", "1"))
        .child(
            Element::new("Target").child(Element::with_text("LocURI", "https://dm.example.com/dm")),
        )
        .child(
            Element::new("Source")
                .child(Element::with_text("LocURI", "IMEI:493005100592800"))
                .child(Element::with_text("LocName", "mdm-client")),
        )
        .child(
            Element::new("Cred")
                .child(
                    Element::new("Meta")
                        .child(Element::with_text("Format", "b64"))
                        .child(Element::with_text("Type", "syncml:auth-md5")),
                )
                // Binary digest as OPAQUE, as DM clients send it in WBXML.
                .child(
                    Element::new("Data")
                        .opaque(vec![0x8F, 0x00, 0xFF, 0x10, 0x7E, 0x01, 0x03, 0xC3]),
                ),
        )
        .child(Element::new("Meta").child(Element::with_text("MaxMsgSize", "10000")));
    let alert = Element::new("Alert")
        .child(Element::with_text("CmdID", "1"))
        .child(Element::with_text("Data", "1201"));
    let replace = Element::new("Replace")
        .child(Element::with_text("CmdID", "2"))
        .child(item("./DevInfo/DevId", "IMEI:493005100592800"))
        .child(item("./DevInfo/Man", "Example Corp"))
        .child(item("./DevInfo/Mod", "X-100"))
        .child(item("./DevInfo/DmV", "1.2"))
        .child(item("./DevInfo/Lang", "en-US"));
    let body = Element::new("SyncBody")
        .child(alert)
        .child(replace)
        .child(Element::new("Final"));
    Document::new(&SYNCML_12, Element::new("SyncML").child(hdr).child(body))
}

#[test]
fn dm_package1_header_uses_string_table_public_id() {
    let bytes = encode(&dm_package1(), &SYNCML_12).expect("encode");
    // version 1.3, public id 0 + index 0, UTF-8, string table of 30 bytes.
    assert_eq!(&bytes[..5], &[0x03, 0x00, 0x00, 0x6A, 0x1E]);
    assert_eq!(&bytes[5..34], SYNCML_ID);
    assert_eq!(bytes[34], 0x00);
    // <SyncML> with content, then <SyncHdr> with content.
    assert_eq!(&bytes[35..37], &[0x6D, 0x6C]);
    // MetInf elements are reached with SWITCH_PAGE 1 and left with SWITCH_PAGE 0.
    assert!(
        bytes.windows(3).any(|w| w == [0x00, 0x01, 0x47]),
        "SWITCH_PAGE 1, <Format>"
    );
    assert!(bytes.windows(2).any(|w| w == [0x00, 0x00]));
}

#[test]
fn dm_package1_round_trips() {
    let doc = dm_package1();
    let bytes = encode(&doc, &SYNCML_12).expect("encode");
    let back = decode(&bytes, known_vocabulary).expect("decode");
    assert_eq!(back, doc);
    assert_eq!(
        back.public_id,
        PublicId::Literal("-//SYNCML//DTD SyncML 1.2//EN".into())
    );
}

#[test]
fn dm_package1_accepted_by_wbxml2xml() {
    let bytes = encode(&dm_package1(), &SYNCML_12).expect("encode");
    assert_wbxml2xml_contains(
        &bytes,
        &[
            "<SyncML",
            "<VerDTD>1.2</VerDTD>",
            "<VerProto>DM/1.2</VerProto>",
            "<Alert>",
            "<Data>1201</Data>",
            "<Replace>",
            "./DevInfo/DevId",
            "./DevInfo/Man",
            "./DevInfo/Mod",
            "./DevInfo/DmV",
            "./DevInfo/Lang",
            "Example Corp",
            "syncml:auth-md5",
            "MaxMsgSize",
            "<Final",
        ],
    );
}

#[test]
fn decodes_str_t_text_and_unterminated_public_id() {
    // As several DM clients send it: WBXML 1.2 and a string table sized
    // 0x1D, i.e. holding the public id without its terminator.
    let mut bytes = vec![0x02, 0x00, 0x00, 0x6A, 0x1D];
    bytes.extend_from_slice(SYNCML_ID);
    bytes.extend_from_slice(&[0x6D, 0x6C, 0x71, 0x03]);
    bytes.extend_from_slice(b"1.2\0");
    bytes.extend_from_slice(&[0x01, 0x01, 0x6B, 0x12, 0x01, 0x01]);
    let doc = decode(&bytes, known_vocabulary).expect("decode");
    assert_eq!(
        doc.public_id,
        PublicId::Literal("-//SYNCML//DTD SyncML 1.2//EN".into())
    );
    assert_eq!(doc.version, 0x02);
    let hdr = doc.root.find("SyncHdr").expect("SyncHdr");
    assert_eq!(
        hdr.find("VerDTD").map(Element::text_content).as_deref(),
        Some("1.2")
    );
    assert!(doc
        .root
        .find("SyncBody")
        .and_then(|b| b.find("Final"))
        .is_some());

    // Text by string-table reference, with a multi-string table.
    let mut table = SYNCML_ID.to_vec();
    table.push(0);
    let uri_index = table.len() as u8;
    table.extend_from_slice(b"./DevInfo/DevId\0");
    let mut bytes = vec![0x03, 0x00, 0x00, 0x6A, table.len() as u8];
    bytes.extend_from_slice(&table);
    bytes.extend_from_slice(&[
        0x6D, 0x6B, 0x54, 0x67, 0x57, 0x83, uri_index, 0x01, 0x01, 0x01, 0x01, 0x01,
    ]);
    let doc = decode(&bytes, known_vocabulary).expect("decode STR_T");
    let uri = doc
        .root
        .find("SyncBody")
        .and_then(|b| b.find("Item"))
        .and_then(|i| i.find("Source"))
        .and_then(|s| s.find("LocURI"))
        .map(Element::text_content);
    assert_eq!(uri.as_deref(), Some("./DevInfo/DevId"));
}

#[test]
fn decodes_numeric_syncml_public_id() {
    // 0x1201 as mb_u_int32 is A4 01.
    let bytes = [0x02, 0xA4, 0x01, 0x6A, 0x00, 0x2D];
    let doc = decode(&bytes, known_vocabulary).expect("decode");
    assert_eq!(doc.public_id, PublicId::Known(0x1201));
    assert_eq!(doc.root, Element::new("SyncML"));
}

fn devinf() -> Document {
    let root = Element::new("DevInf")
        .child(Element::with_text("VerDTD", "1.2"))
        .child(Element::with_text("Man", "Example Corp"))
        .child(Element::with_text("Mod", "X-100"))
        .child(Element::with_text("SwV", "4.2.1"))
        .child(Element::with_text("DevID", "IMEI:493005100592800"))
        .child(Element::with_text("DevTyp", "phone"))
        .child(Element::new("UTC"))
        .child(Element::new("SupportLargeObjs"))
        .child(
            Element::new("DataStore")
                .child(Element::with_text("SourceRef", "./contacts"))
                .child(Element::with_text("MaxGUIDSize", "32"))
                .child(
                    Element::new("Rx-Pref")
                        .child(Element::with_text("CTType", "text/x-vcard"))
                        .child(Element::with_text("VerCT", "2.1")),
                )
                .child(Element::new("SyncCap").child(Element::with_text("SyncType", "1"))),
        );
    Document::new(&DEVINF_12, root)
}

#[test]
fn devinf_round_trips_and_is_accepted_by_wbxml2xml() {
    let doc = devinf();
    let bytes = encode(&doc, &DEVINF_12).expect("encode");
    assert_eq!(&bytes[..5], &[0x03, 0x00, 0x00, 0x6A, 0x1E]);
    assert_eq!(&bytes[5..34], b"-//SYNCML//DTD DevInf 1.2//EN");
    assert_eq!(decode(&bytes, known_vocabulary), Ok(doc));
    assert_wbxml2xml_contains(
        &bytes,
        &[
            "<DevInf",
            "<Man>Example Corp</Man>",
            "<Rx-Pref>",
            "text/x-vcard",
            "<SupportLargeObjs/>",
        ],
    );
}

#[test]
fn devinf_travels_as_opaque_inside_syncml() {
    let devinf_bytes = encode(&devinf(), &DEVINF_12).expect("encode devinf");
    let results = Element::new("Results")
        .child(Element::with_text("CmdID", "3"))
        .child(Element::new("Meta").child(Element::with_text(
            "Type",
            "application/vnd.syncml-devinf+wbxml",
        )))
        .child(
            Element::new("Item")
                .child(Element::new("Source").child(Element::with_text("LocURI", "./devinf12")))
                .child(Element::new("Data").opaque(devinf_bytes.clone())),
        );
    let doc = Document::new(
        &SYNCML_12,
        Element::new("SyncML").child(
            Element::new("SyncBody")
                .child(results)
                .child(Element::new("Final")),
        ),
    );
    let bytes = encode(&doc, &SYNCML_12).expect("encode syncml");
    let back = decode(&bytes, known_vocabulary).expect("decode syncml");
    let data = back
        .root
        .find("SyncBody")
        .and_then(|b| b.find("Results"))
        .and_then(|r| r.find("Item"))
        .and_then(|i| i.find("Data"))
        .expect("Data");
    let Some(Node::Opaque(inner)) = data.children.first() else {
        panic!("Data should hold OPAQUE, got {:?}", data.children);
    };
    assert_eq!(inner, &devinf_bytes);
    assert_eq!(decode(inner, known_vocabulary), Ok(devinf()));
    // libwbxml recognises the DevInf payload and expands it inline, which
    // also checks the nested document (it rewrites the type to +xml).
    assert_wbxml2xml_contains(
        &bytes,
        &[
            "<Results>",
            "./devinf12",
            "<DevInf xmlns=\"syncml:devinf\">",
            "<Man>Example Corp</Man>",
            "<SyncType>1</SyncType>",
        ],
    );
}

#[test]
fn syncml_to_xml_restores_metinf_namespace() {
    let xml = to_xml(&dm_package1());
    assert!(xml.contains("<!DOCTYPE SyncML PUBLIC \"-//SYNCML//DTD SyncML 1.2//EN\""));
    assert!(xml.contains("<SyncML xmlns=\"SYNCML:SYNCML1.2\">"));
    assert!(xml.contains("<Format xmlns=\"syncml:metinf\">b64</Format>"));
    assert!(xml.contains("<LocURI>./DevInfo/DevId</LocURI>"));
    // The MD5 digest is binary, so it is shown as base64.
    assert!(xml.contains("<Data>jwD/EH4BA8M=</Data>"));
}

#[test]
fn xmlns_attributes_of_known_namespaces_are_implied() {
    let root = Element::new("SyncML")
        .attr("xmlns", "SYNCML:SYNCML1.2")
        .child(
            Element::new("SyncHdr").child(
                Element::new("Meta").child(
                    Element::with_text("Type", "application/vnd.syncml.dm+wbxml")
                        .attr("xmlns", "syncml:metinf"),
                ),
            ),
        );
    let bytes = encode(&Document::new(&SYNCML_12, root), &SYNCML_12).expect("encode");
    // No literal attribute and only the public id in the string table.
    assert_eq!(bytes[4], 0x1E);
    let back = decode(&bytes, known_vocabulary).expect("decode");
    assert!(back.root.attributes.is_empty());
}
