//! The worked examples of docs/iota-mmc.md: each must decode to the
//! expected value and re-encode to exactly the same text, and every XML
//! block in the document must be one of them.
//!
//! The IS-683 octets were worked out field by field from C.S0016 (see the
//! doc's "Where the IS-683 octets come from"), then checked against the
//! IS-683 codec of this crate and Wireshark's ansi_683 dissector.

use super::super::{
    Control, ControlItem, DeviceInfo, MmcDocument, PackageItem, StatusItem, CONTENT_TYPE, VERSION,
    VERSION_1_1,
};
use super::{control, decode_str, fwd, rev};

// --- One-button activation (OTASP over IOTA) ------------------------------

pub(crate) const ONE_BUTTON_GET: &str = r#"<mmc version="1.0">
  <device esn="8043B03F" meid="A1000012345678" make="Acme" model="A-1000"/>
  <control action="start"/>
</mmc>
"#;

/// `mmc` query parameter of the first GET (base64url of ONE_BUTTON_GET).
const ONE_BUTTON_GET_QUERY: &str = concat!(
    "PG1tYyB2ZXJzaW9uPSIxLjAiPgogIDxkZXZpY2UgZXNuPSI4MDQzQjAzRiIgbWVp",
    "ZD0iQTEwMDAwMTIzNDU2NzgiIG1ha2U9IkFjbWUiIG1vZGVsPSJBLTEwMDAiLz4K",
    "ICA8Y29udHJvbCBhY3Rpb249InN0YXJ0Ii8-CjwvbW1jPgo",
);

pub(crate) const ONE_BUTTON_ACCEPT: &str = r#"<mmc version="1.0" session="a41c7e29f0b3">
  <control action="start"/>
</mmc>
"#;

pub(crate) const ONE_BUTTON_POLL: &str = "<mmc version=\"1.0\" session=\"a41c7e29f0b3\"/>\n";

pub(crate) const CONFIGURATION_REQUESTS: &str = r#"<mmc version="1.0" session="a41c7e29f0b3">
  <is683 link="forward" seq="1">AAIAAQ==</is683>
  <is683 link="forward" seq="2">Bg==</is683>
</mmc>
"#;

pub(crate) const CONFIGURATION_RESPONSES: &str = r#"<mmc version="1.0" session="a41c7e29f0b3">
  <is683 link="reverse" seq="1">AAIAFCmkFf9AwGjj+f5xHtHFAEgr//+AAQaqqqqhI0AAAA==</is683>
  <is683 link="reverse" seq="2">BgECKgUAAgECAgEDAQQBAA==</is683>
</mmc>
"#;

pub(crate) const ONE_BUTTON_DONE: &str = r#"<mmc version="1.0" session="a41c7e29f0b3">
  <control action="terminate" reason="activation complete"/>
  <control action="reboot"/>
</mmc>
"#;

pub(crate) const ALREADY_ACTIVATED: &str = r#"<mmc version="1.0">
  <control action="terminate"/>
  <status code="403">handset already activated</status>
</mmc>
"#;

// --- Automated IOTA PRL download (OTAPA over IOTA) -------------------------

pub(crate) const OTAPA_GET: &str = r#"<mmc version="1.0">
  <device esn="9F1ABCDE"/>
  <control action="start"/>
</mmc>
"#;

pub(crate) const OTAPA_START: &str = r#"<mmc version="1.0" session="otapa-5d2e81c0">
  <control action="start"/>
  <is683 link="forward" seq="1">CoA=</is683>
</mmc>
"#;

pub(crate) const OTAPA_START_RESPONSE: &str = r#"<mmc version="1.0" session="otapa-5d2e81c0">
  <is683 link="reverse" seq="1">CgAA</is683>
</mmc>
"#;

pub(crate) const SSPR_DOWNLOAD: &str = r#"<mmc version="1.0" session="otapa-5d2e81c0">
  <is683 link="forward" seq="2">CAAaAQAAFgAWJyQAgIACL1PIK5QAAkFg4BAQUsM=</is683>
</mmc>
"#;

pub(crate) const SSPR_DOWNLOAD_RESPONSE: &str = r#"<mmc version="1.0" session="otapa-5d2e81c0">
  <is683 link="reverse" seq="2">CAAAAAAW</is683>
</mmc>
"#;

pub(crate) const COMMIT: &str = r#"<mmc version="1.0" session="otapa-5d2e81c0">
  <is683 link="forward" seq="3">BQ==</is683>
</mmc>
"#;

pub(crate) const COMMIT_RESPONSE: &str = r#"<mmc version="1.0" session="otapa-5d2e81c0">
  <is683 link="reverse" seq="3">BQA=</is683>
</mmc>
"#;

pub(crate) const OTAPA_STOP: &str = r#"<mmc version="1.0" session="otapa-5d2e81c0">
  <is683 link="forward" seq="4">CgA=</is683>
</mmc>
"#;

pub(crate) const OTAPA_STOP_RESPONSE: &str = r#"<mmc version="1.0" session="otapa-5d2e81c0">
  <is683 link="reverse" seq="4">CgAA</is683>
</mmc>
"#;

pub(crate) const OTAPA_DONE: &str = r#"<mmc version="1.0" session="otapa-5d2e81c0">
  <control action="terminate" reason="PRL 10020 committed"/>
</mmc>
"#;

// --- Client-initiated IOTA FOTA (format 1.1) -------------------------------

const FOTA_GET: &str = r#"<mmc version="1.1">
  <device esn="9F1ABCDE" make="Kyocera" model="KX-IOTA" firmware="KX1.0"/>
  <control action="start"/>
</mmc>
"#;

/// `mmc` query parameter of the FOTA GET (base64url of FOTA_GET).
const FOTA_GET_QUERY: &str = concat!(
    "PG1tYyB2ZXJzaW9uPSIxLjEiPgogIDxkZXZpY2UgZXNuPSI5RjFBQkNERSIgbWFr",
    "ZT0iS3lvY2VyYSIgbW9kZWw9IktYLUlPVEEiIGZpcm13YXJlPSJLWDEuMCIvPgog",
    "IDxjb250cm9sIGFjdGlvbj0ic3RhcnQiLz4KPC9tbWM-Cg",
);

const FOTA_ACCEPT: &str = r#"<mmc version="1.0" session="fota-3b9c20d1">
  <control action="start"/>
  <is683 link="forward" seq="1">Bg==</is683>
</mmc>
"#;

const FOTA_CAPABILITY: &str = r#"<mmc version="1.0" session="fota-3b9c20d1">
  <is683 link="reverse" seq="1">BgECKgUAAgECAgEDAQQBAA==</is683>
</mmc>
"#;

const FOTA_PACKAGE: &str = r#"<mmc version="1.1" session="fota-3b9c20d1">
  <package href="https://mdm.example.net/firmware/packages/12/dd" version="KX1.1" size="524288" sha256="07854d2fef297a06ba81685e660c332de36d5d18d546927d30daad6d7fda1541" mandatory="true"/>
</mmc>
"#;

const FOTA_DOWNLOADED: &str = r#"<mmc version="1.0" session="fota-3b9c20d1">
  <status code="200">downloaded</status>
</mmc>
"#;

const FOTA_INSTALL: &str = r#"<mmc version="1.0" session="fota-3b9c20d1">
  <control action="terminate" reason="install KX1.1"/>
</mmc>
"#;

const FOTA_REPORT: &str = r#"<mmc version="1.1">
  <device esn="9F1ABCDE" make="Kyocera" model="KX-IOTA" firmware="KX1.1"/>
  <control action="start"/>
  <status code="200">update installed</status>
</mmc>
"#;

const FOTA_REPORT_DONE: &str = r#"<mmc version="1.0">
  <control action="terminate" reason="KX1.1 installed"/>
</mmc>
"#;

const NO_UPDATE: &str = r#"<mmc version="1.0">
  <control action="terminate"/>
  <status code="404">no update for Kyocera KX-IOTA KX1.0</status>
</mmc>
"#;

/// SHA-256 of 524288 zero octets (`head -c 524288 /dev/zero | sha256sum`),
/// the stand-in update package of the FOTA example.
pub(super) const ZEROS_SHA256: &str =
    "07854d2fef297a06ba81685e660c332de36d5d18d546927d30daad6d7fda1541";

// --- IS-683 octets (C.S0016-C) ----------------------------------------------

/// Configuration Request for the CDMA/Analog NAM (0x00) and MDN (0x01) blocks.
const CONFIGURATION_REQUEST: [u8; 4] = [0x00, 0x02, 0x00, 0x01];
/// Protocol Capability Request, IS-683-A form (message type only).
const PROTOCOL_CAPABILITY_REQUEST: [u8; 1] = [0x06];
/// Configuration Response: CDMA/Analog NAM block (20 octets), MDN block
/// (6 octets), both RESULT_CODE 0 (accepted).
const CONFIGURATION_RESPONSE: [u8; 34] = [
    0x00, 0x02, 0x00, 0x14, 0x29, 0xA4, 0x15, 0xFF, 0x40, 0xC0, 0x68, 0xE3, 0xF9, 0xFE, 0x71, 0x1E,
    0xD1, 0xC5, 0x00, 0x48, 0x2B, 0xFF, 0xFF, 0x80, 0x01, 0x06, 0xAA, 0xAA, 0xAA, 0xA1, 0x23, 0x40,
    0x00, 0x00,
];
/// Protocol Capability Response: firmware 0x0102, model 0x2A, five features.
const PROTOCOL_CAPABILITY_RESPONSE: [u8; 16] = [
    0x06, 0x01, 0x02, 0x2A, 0x05, 0x00, 0x02, 0x01, 0x02, 0x02, 0x01, 0x03, 0x01, 0x04, 0x01, 0x00,
];
const OTAPA_REQUEST_START: [u8; 2] = [0x0A, 0x80];
const OTAPA_REQUEST_STOP: [u8; 2] = [0x0A, 0x00];
/// OTAPA Response: accepted, NAM_LOCK_IND 0 (so no RAND_OTAPA).
const OTAPA_RESPONSE: [u8; 3] = [0x0A, 0x00, 0x00];
/// SSPR Download Request: one last segment holding a whole 22-octet PRL.
const SSPR_DOWNLOAD_REQUEST: [u8; 29] = [
    0x08, 0x00, 0x1A, 0x01, 0x00, 0x00, 0x16, 0x00, 0x16, 0x27, 0x24, 0x00, 0x80, 0x80, 0x02, 0x2F,
    0x53, 0xC8, 0x2B, 0x94, 0x00, 0x02, 0x41, 0x60, 0xE0, 0x10, 0x10, 0x52, 0xC3,
];
/// SSPR Download Response: PRL block accepted, offset 0, 22 octets.
const SSPR_DOWNLOAD_RESPONSE_OCTETS: [u8; 6] = [0x08, 0x00, 0x00, 0x00, 0x00, 0x16];
const COMMIT_REQUEST: [u8; 1] = [0x05];
const COMMIT_RESPONSE_OCTETS: [u8; 2] = [0x05, 0x00];

fn session(id: &str, build: impl FnOnce(&mut MmcDocument)) -> MmcDocument {
    let mut doc = MmcDocument {
        session: Some(id.into()),
        ..MmcDocument::default()
    };
    build(&mut doc);
    doc
}

const ONE_BUTTON: &str = "a41c7e29f0b3";
const OTAPA: &str = "otapa-5d2e81c0";
const FOTA: &str = "fota-3b9c20d1";

fn kyocera(firmware: &str) -> DeviceInfo {
    DeviceInfo {
        esn: Some("9F1ABCDE".into()),
        make: Some("Kyocera".into()),
        model: Some("KX-IOTA".into()),
        firmware: Some(firmware.into()),
        ..DeviceInfo::default()
    }
}

/// The update package the FOTA example writes.
pub(super) fn kx11_package() -> PackageItem {
    PackageItem {
        href: "https://mdm.example.net/firmware/packages/12/dd".into(),
        version: "KX1.1".into(),
        size: 524_288,
        sha256: ZEROS_SHA256.into(),
        mandatory: true,
    }
}

/// Every example with the value it stands for.
fn examples() -> Vec<(&'static str, &'static str, MmcDocument)> {
    vec![
        (
            "one-button first GET",
            ONE_BUTTON_GET,
            MmcDocument {
                device: Some(DeviceInfo {
                    esn: Some("8043B03F".into()),
                    meid: Some("A1000012345678".into()),
                    make: Some("Acme".into()),
                    model: Some("A-1000".into()),
                    ..DeviceInfo::default()
                }),
                controls: vec![control(Control::Start)],
                ..MmcDocument::default()
            },
        ),
        (
            "one-button GET RESPONSE",
            ONE_BUTTON_ACCEPT,
            session(ONE_BUTTON, |d| d.controls = vec![control(Control::Start)]),
        ),
        ("poll", ONE_BUTTON_POLL, session(ONE_BUTTON, |_| {})),
        (
            "configuration requests",
            CONFIGURATION_REQUESTS,
            session(ONE_BUTTON, |d| {
                d.messages = vec![
                    fwd(1, &CONFIGURATION_REQUEST),
                    fwd(2, &PROTOCOL_CAPABILITY_REQUEST),
                ]
            }),
        ),
        (
            "configuration responses",
            CONFIGURATION_RESPONSES,
            session(ONE_BUTTON, |d| {
                d.messages = vec![
                    rev(1, &CONFIGURATION_RESPONSE),
                    rev(2, &PROTOCOL_CAPABILITY_RESPONSE),
                ]
            }),
        ),
        (
            "one-button terminate and reboot",
            ONE_BUTTON_DONE,
            session(ONE_BUTTON, |d| {
                d.controls = vec![
                    ControlItem {
                        action: Control::Terminate,
                        reason: Some("activation complete".into()),
                    },
                    control(Control::Reboot),
                ]
            }),
        ),
        (
            "refusal",
            ALREADY_ACTIVATED,
            MmcDocument {
                controls: vec![control(Control::Terminate)],
                status: Some(StatusItem {
                    code: 403,
                    text: "handset already activated".into(),
                }),
                ..MmcDocument::default()
            },
        ),
        (
            "OTAPA first GET",
            OTAPA_GET,
            MmcDocument {
                device: Some(DeviceInfo {
                    esn: Some("9F1ABCDE".into()),
                    ..DeviceInfo::default()
                }),
                controls: vec![control(Control::Start)],
                ..MmcDocument::default()
            },
        ),
        (
            "OTAPA start",
            OTAPA_START,
            session(OTAPA, |d| {
                d.controls = vec![control(Control::Start)];
                d.messages = vec![fwd(1, &OTAPA_REQUEST_START)];
            }),
        ),
        (
            "OTAPA start response",
            OTAPA_START_RESPONSE,
            session(OTAPA, |d| d.messages = vec![rev(1, &OTAPA_RESPONSE)]),
        ),
        (
            "SSPR download",
            SSPR_DOWNLOAD,
            session(OTAPA, |d| d.messages = vec![fwd(2, &SSPR_DOWNLOAD_REQUEST)]),
        ),
        (
            "SSPR download response",
            SSPR_DOWNLOAD_RESPONSE,
            session(OTAPA, |d| {
                d.messages = vec![rev(2, &SSPR_DOWNLOAD_RESPONSE_OCTETS)]
            }),
        ),
        (
            "commit",
            COMMIT,
            session(OTAPA, |d| d.messages = vec![fwd(3, &COMMIT_REQUEST)]),
        ),
        (
            "commit response",
            COMMIT_RESPONSE,
            session(OTAPA, |d| {
                d.messages = vec![rev(3, &COMMIT_RESPONSE_OCTETS)]
            }),
        ),
        (
            "OTAPA stop",
            OTAPA_STOP,
            session(OTAPA, |d| d.messages = vec![fwd(4, &OTAPA_REQUEST_STOP)]),
        ),
        (
            "OTAPA stop response",
            OTAPA_STOP_RESPONSE,
            session(OTAPA, |d| d.messages = vec![rev(4, &OTAPA_RESPONSE)]),
        ),
        (
            "OTAPA terminate",
            OTAPA_DONE,
            session(OTAPA, |d| {
                d.controls = vec![ControlItem {
                    action: Control::Terminate,
                    reason: Some("PRL 10020 committed".into()),
                }]
            }),
        ),
        (
            "FOTA first GET",
            FOTA_GET,
            MmcDocument {
                device: Some(kyocera("KX1.0")),
                controls: vec![control(Control::Start)],
                ..MmcDocument::default()
            },
        ),
        (
            "FOTA GET response with the make-model-version query",
            FOTA_ACCEPT,
            session(FOTA, |d| {
                d.controls = vec![control(Control::Start)];
                d.messages = vec![fwd(1, &PROTOCOL_CAPABILITY_REQUEST)];
            }),
        ),
        (
            "FOTA protocol capability response",
            FOTA_CAPABILITY,
            session(FOTA, |d| {
                d.messages = vec![rev(1, &PROTOCOL_CAPABILITY_RESPONSE)]
            }),
        ),
        (
            "FOTA package",
            FOTA_PACKAGE,
            session(FOTA, |d| d.package = Some(kx11_package())),
        ),
        (
            "FOTA downloaded",
            FOTA_DOWNLOADED,
            session(FOTA, |d| {
                d.status = Some(StatusItem {
                    code: 200,
                    text: "downloaded".into(),
                })
            }),
        ),
        (
            "FOTA terminate for installation",
            FOTA_INSTALL,
            session(FOTA, |d| {
                d.controls = vec![ControlItem {
                    action: Control::Terminate,
                    reason: Some("install KX1.1".into()),
                }]
            }),
        ),
        (
            "FOTA final report",
            FOTA_REPORT,
            MmcDocument {
                device: Some(kyocera("KX1.1")),
                controls: vec![control(Control::Start)],
                status: Some(StatusItem {
                    code: 200,
                    text: "update installed".into(),
                }),
                ..MmcDocument::default()
            },
        ),
        (
            "FOTA final report answered",
            FOTA_REPORT_DONE,
            MmcDocument {
                controls: vec![ControlItem {
                    action: Control::Terminate,
                    reason: Some("KX1.1 installed".into()),
                }],
                ..MmcDocument::default()
            },
        ),
        (
            "FOTA refusal",
            NO_UPDATE,
            MmcDocument {
                controls: vec![control(Control::Terminate)],
                status: Some(StatusItem {
                    code: 404,
                    text: "no update for Kyocera KX-IOTA KX1.0".into(),
                }),
                ..MmcDocument::default()
            },
        ),
    ]
}

/// The example texts, for the fuzz corpus.
pub(super) fn example_texts() -> Vec<&'static str> {
    examples().into_iter().map(|(_, text, _)| text).collect()
}

#[test]
fn every_example_decodes_to_its_value_and_encodes_back_verbatim() {
    for (name, text, expected) in examples() {
        let decoded = decode_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded, expected, "{name}");
        assert_eq!(expected.encode().unwrap(), text, "{name}");
        let declared = format!("<mmc version=\"{}\"", expected.version());
        assert!(text.starts_with(&declared), "{name}");
    }
}

#[test]
fn only_the_fota_documents_with_a_1_1_item_are_version_1_1() {
    let v1_1: Vec<&str> = examples()
        .into_iter()
        .filter(|(_, _, doc)| doc.version() == VERSION_1_1)
        .map(|(name, _, _)| name)
        .collect();
    assert_eq!(
        v1_1,
        ["FOTA first GET", "FOTA package", "FOTA final report"]
    );
    assert_eq!(decode_str(FOTA_CAPABILITY).unwrap().version(), VERSION);
}

#[test]
fn every_xml_block_of_the_spec_is_a_tested_example() {
    let spec = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/iota-mmc.md"));
    let mut blocks = Vec::new();
    let mut rest = spec;
    while let Some(start) = rest.find("```xml\n") {
        let body = &rest[start + "```xml\n".len()..];
        let end = body.find("```").expect("closed code block");
        blocks.push(&body[..end]);
        rest = &body[end + 3..];
    }
    let texts = example_texts();
    for block in &blocks {
        assert!(
            texts.contains(block),
            "XML block of the spec is not a tested example:\n{block}"
        );
    }
    for text in &texts {
        let copies = blocks.iter().filter(|b| *b == text).count();
        assert_eq!(copies, 1, "example in the spec {copies} times:\n{text}");
    }
    assert!(spec.contains(ONE_BUTTON_GET_QUERY));
    assert!(spec.contains(FOTA_GET_QUERY));
    assert!(spec.contains(CONTENT_TYPE));
    // The hash the spec says the example package has.
    assert!(spec.contains("SHA-256 of 524288 zero octets"));
    assert!(spec.contains(ZEROS_SHA256));
}

#[test]
fn first_get_travels_as_the_documented_query_value() {
    let doc = decode_str(ONE_BUTTON_GET).unwrap();
    assert_eq!(doc.to_query_value().unwrap(), ONE_BUTTON_GET_QUERY);
    assert_eq!(
        MmcDocument::from_query_value(ONE_BUTTON_GET_QUERY).unwrap(),
        doc
    );
}

#[test]
fn fota_get_travels_as_the_documented_query_value() {
    let doc = decode_str(FOTA_GET).unwrap();
    assert_eq!(doc.to_query_value().unwrap(), FOTA_GET_QUERY);
    assert_eq!(MmcDocument::from_query_value(FOTA_GET_QUERY).unwrap(), doc);
    // The final report, with its status, fits a GET as well.
    let report = decode_str(FOTA_REPORT).unwrap();
    let query = report.to_query_value().unwrap();
    assert_eq!(MmcDocument::from_query_value(&query).unwrap(), report);
}

#[test]
fn indented_commented_and_declared_input_decodes_like_the_canonical_text() {
    let messy = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n\
        <!-- handset trace -->\r\n\
        <mmc  session='a41c7e29f0b3'\tversion=\"1.0\" >\r\n\
        \t<is683 link=\"reverse\" seq=\"1\">\r\n\
        \t\tAAIAFCmkFf9AwGjj+f5xHtHF\r\n\
        \t\tAEgr//+AAQaqqqqhI0AAAA==\r\n\
        \t</is683>\r\n\
        \t<is683 seq=\"2\" link=\"reverse\"><![CDATA[BgECKgUAAgECAgEDAQQBAA==]]></is683>\r\n\
        </mmc>\r\n\r\n";
    let doc = decode_str(messy).unwrap();
    assert_eq!(doc.encode().unwrap(), CONFIGURATION_RESPONSES);
}

#[test]
fn status_text_is_trimmed_and_escaped_text_survives() {
    let doc = decode_str(
        "<mmc version=\"1.0\"><status code=\"500\">\n   Tom &amp; Jerry &lt;3 \n</status></mmc>",
    )
    .unwrap();
    assert_eq!(doc.status.as_ref().unwrap().text, "Tom & Jerry <3");

    let tricky = MmcDocument {
        controls: vec![ControlItem {
            action: Control::Terminate,
            reason: Some("a\"b'c<d>&e\tf\ng\rh ]]> é".into()),
        }],
        status: Some(StatusItem {
            code: 500,
            text: "line 1\r\nline 2 ]]> & <tag> \"q\"".into(),
        }),
        ..MmcDocument::default()
    };
    let text = tricky.encode().unwrap();
    assert!(!text.contains("]]>"), "{text}");
    assert_eq!(decode_str(&text).unwrap(), tricky);
}

#[test]
fn line_breaks_and_attribute_whitespace_are_normalized_as_xml_requires() {
    let doc = decode_str(
        "<mmc version=\"1.0\">\r\n\
         <control action=\"terminate\" reason=\"two\r\nlines\tand&#10;a ref\"/>\r\n\
         <status code=\"500\">first\r\nsecond\rthird</status></mmc>",
    )
    .unwrap();
    assert_eq!(
        doc.controls[0].reason.as_deref(),
        Some("two lines and\na ref")
    );
    assert_eq!(doc.status.unwrap().text, "first\nsecond\nthird");
}

#[test]
fn lower_case_identifiers_are_read_and_written_in_upper_case() {
    let doc =
        decode_str("<mmc version=\"1.0\"><device esn=\"9f1abcde\" meid=\"a1000012345678\"/></mmc>")
            .unwrap();
    let device = doc.device.clone().unwrap();
    assert_eq!(device.esn.as_deref(), Some("9F1ABCDE"));
    assert_eq!(device.meid.as_deref(), Some("A1000012345678"));

    let written = MmcDocument {
        device: Some(DeviceInfo {
            esn: Some("9f1abcde".into()),
            ..DeviceInfo::default()
        }),
        ..MmcDocument::default()
    };
    assert!(written.encode().unwrap().contains("esn=\"9F1ABCDE\""));
}

#[test]
fn has_control_reports_the_actions_present() {
    let doc = decode_str(ONE_BUTTON_DONE).unwrap();
    assert!(doc.has_control(Control::Terminate));
    assert!(doc.has_control(Control::Reboot));
    assert!(!doc.has_control(Control::Start));
}

#[test]
fn content_type_is_the_vendor_tree_xml_type() {
    assert_eq!(CONTENT_TYPE, "application/vnd.mdm.iota-mmc+xml");
}
