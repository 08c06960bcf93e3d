//! OMA Client Provisioning wap-provisioningdoc.

use super::wbxml2xml::assert_wbxml2xml_contains;
use crate::wbxml::codepages::provisioning::PROV_10;
use crate::wbxml::{decode, encode, known_vocabulary, Document, Element};

fn parm(name: &str, value: &str) -> Element {
    Element::new("parm").attr("name", name).attr("value", value)
}

fn characteristic(kind: &str) -> Element {
    Element::new("characteristic").attr("type", kind)
}

/// A GPRS access point plus bootstrap, the usual first provisioning message.
fn napdef_bootstrap() -> Document {
    let napdef = characteristic("NAPDEF")
        .child(parm("NAPID", "INTERNET_APN"))
        .child(parm("NAME", "Example Internet"))
        .child(parm("BEARER", "GSM-GPRS"))
        .child(parm("NAP-ADDRESS", "internet.example"))
        .child(parm("NAP-ADDRTYPE", "APN"))
        .child(
            characteristic("NAPAUTHINFO")
                .child(parm("AUTHTYPE", "PAP"))
                .child(parm("AUTHNAME", "user"))
                .child(parm("AUTHSECRET", "secret")),
        );
    let bootstrap = characteristic("BOOTSTRAP")
        .child(parm("NAME", "Example Operator"))
        .child(parm("PROVURL", "http://prov.example.com/"))
        .child(parm("CONTEXT-ALLOW", "1"));
    let root = Element::new("wap-provisioningdoc")
        .attr("version", "1.0")
        .child(napdef)
        .child(bootstrap);
    Document::new(&PROV_10, root)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn napdef_bootstrap_uses_the_token_tables() {
    let bytes = encode(&napdef_bootstrap(), &PROV_10).expect("encode");
    // WBXML 1.3, public id 0x0B, UTF-8, empty string table.
    assert_eq!(&bytes[..4], &[0x03, 0x0B, 0x6A, 0x00]);
    // <wap-provisioningdoc version="1.0"> : 0xC5, version=1.0 token 0x46, END.
    assert_eq!(&bytes[4..7], &[0xC5, 0x46, 0x01]);
    // <characteristic type="NAPDEF">
    assert_eq!(&bytes[7..10], &[0xC6, 0x55, 0x01]);
    // <parm name="NAP-ADDRTYPE" value="APN"/> : value start 0x06 + value token 0x89.
    assert!(contains(&bytes, &[0x87, 0x09, 0x06, 0x89, 0x01]));
    // <parm name="BEARER" value="GSM-GPRS"/>
    assert!(contains(&bytes, &[0x87, 0x10, 0x06, 0xAB, 0x01]));
    // <parm name="AUTHTYPE" value="PAP"/>
    assert!(contains(&bytes, &[0x87, 0x0C, 0x06, 0x9A, 0x01]));
    // <characteristic type="BOOTSTRAP">
    assert!(contains(&bytes, &[0xC6, 0x56, 0x01]));
    // Free text stays inline: name="NAME" value="Example Operator".
    assert!(contains(
        &bytes,
        b"\x87\x07\x06\x03Example Operator\x00\x01"
    ));
}

#[test]
fn napdef_bootstrap_round_trips() {
    let doc = napdef_bootstrap();
    let bytes = encode(&doc, &PROV_10).expect("encode");
    assert_eq!(decode(&bytes, known_vocabulary), Ok(doc));
}

#[test]
fn napdef_bootstrap_accepted_by_wbxml2xml() {
    let bytes = encode(&napdef_bootstrap(), &PROV_10).expect("encode");
    assert_wbxml2xml_contains(
        &bytes,
        &[
            "<wap-provisioningdoc version=\"1.0\">",
            "<characteristic type=\"NAPDEF\">",
            "<parm name=\"NAP-ADDRTYPE\" value=\"APN\"/>",
            "<parm name=\"BEARER\" value=\"GSM-GPRS\"/>",
            "<parm name=\"NAME\" value=\"Example Internet\"/>",
            "<characteristic type=\"BOOTSTRAP\">",
            "<parm name=\"PROVURL\" value=\"http://prov.example.com/\"/>",
        ],
    );
}

#[test]
fn application_characteristic_switches_attribute_page() {
    let app = characteristic("APPLICATION")
        .child(parm("APPID", "w7"))
        .child(parm("PROVIDER-ID", "mdm.example"))
        .child(parm("TO-NAPID", "INTERNET_APN"))
        .child(parm("ADDR", "https://mdm.example.com/dm"))
        .child(
            characteristic("APPAUTH")
                .child(parm("AAUTHLEVEL", "APPSRV"))
                .child(parm("AAUTHTYPE", "DIGEST"))
                .child(parm("AAUTHNAME", "server")),
        );
    let doc = Document::new(
        &PROV_10,
        Element::new("wap-provisioningdoc")
            .attr("version", "1.0")
            .child(app),
    );
    let bytes = encode(&doc, &PROV_10).expect("encode");
    // SWITCH_PAGE 1 in attribute state, then type="APPLICATION" (page 1, 0x55).
    assert!(contains(&bytes, &[0xC6, 0x00, 0x01, 0x55, 0x01]));
    // name="APPID" is 0x36 on page 1.
    assert!(contains(
        &bytes,
        &[0x87, 0x36, 0x06, 0x03, b'w', b'7', 0x00, 0x01]
    ));
    // AAUTHLEVEL=APPSRV: page-1 value token 0x8D.
    assert!(contains(&bytes, &[0x87, 0x30, 0x06, 0x8D, 0x01]));
    assert_eq!(decode(&bytes, known_vocabulary), Ok(doc));
    assert_wbxml2xml_contains(
        &bytes,
        &[
            "<characteristic type=\"APPLICATION\">",
            "<parm name=\"APPID\" value=\"w7\"/>",
            "<parm name=\"AAUTHLEVEL\" value=\"APPSRV\"/>",
            "<parm name=\"AAUTHTYPE\" value=\"DIGEST\"/>",
            "<characteristic type=\"APPAUTH\">",
        ],
    );
}
