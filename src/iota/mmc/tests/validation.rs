//! One test per rule: each way a document can be wrong gives its own,
//! stable error, on decode and (where a value can express it) on encode.

use super::super::{
    Control, ControlItem, DeviceInfo, MmcDocument, MmcError, StatusItem, MAX_DOCUMENT,
    MAX_MESSAGES, MAX_QUERY_DOCUMENT,
};
use super::{control, decode_str, encode_what, fwd, invalid_what, rev};

/// Wraps children in a valid root.
fn doc(children: &str) -> String {
    format!("<mmc version=\"1.0\">{children}</mmc>")
}

fn is683(link: &str, seq: &str, body: &str) -> String {
    format!("<is683 link=\"{link}\" seq=\"{seq}\">{body}</is683>")
}

fn xml_error(result: Result<MmcDocument, MmcError>) {
    assert!(
        matches!(result, Err(MmcError::Xml(_))),
        "expected MmcError::Xml, got {result:?}"
    );
}

#[test]
fn wrong_root() {
    assert_eq!(
        invalid_what(decode_str("<MMC version=\"1.0\"/>")),
        "root element"
    );
    assert_eq!(
        invalid_what(decode_str("<x:mmc xmlns:x=\"urn:x\" version=\"1.0\"/>")),
        "root element"
    );
}

#[test]
fn missing_or_unsupported_version() {
    assert_eq!(
        decode_str("<mmc session=\"s1\"/>"),
        Err(MmcError::Missing("mmc version"))
    );
    for v in ["2.0", "1", "1.0 ", ""] {
        let xml = format!("<mmc version=\"{v}\"/>");
        assert_eq!(invalid_what(decode_str(&xml)), "version", "{v:?}");
    }
}

#[test]
fn bad_base64() {
    // Bad alphabet, missing padding, non-zero trailing bits, stray '='.
    for body in ["!!!!", "Bg", "Bh==", "B=g=", "BQ==BQ=="] {
        let xml = doc(&is683("forward", "1", body));
        assert_eq!(invalid_what(decode_str(&xml)), "base64", "{body:?}");
    }
}

#[test]
fn empty_message() {
    let xml = doc(&is683("forward", "1", "  "));
    assert_eq!(invalid_what(decode_str(&xml)), "is683");
    let value = MmcDocument {
        messages: vec![fwd(1, &[])],
        ..MmcDocument::default()
    };
    assert_eq!(encode_what(&value), "is683");
}

#[test]
fn unknown_or_missing_control_action() {
    assert_eq!(
        invalid_what(decode_str(&doc("<control action=\"pause\"/>"))),
        "control action"
    );
    assert_eq!(
        invalid_what(decode_str(&doc("<control action=\"START\"/>"))),
        "control action"
    );
    assert_eq!(
        decode_str(&doc("<control reason=\"x\"/>")),
        Err(MmcError::Missing("control action"))
    );
}

#[test]
fn duplicated_control_action() {
    let xml = doc("<control action=\"terminate\"/><control action=\"terminate\"/>");
    assert_eq!(invalid_what(decode_str(&xml)), "control action");
    let value = MmcDocument {
        controls: vec![control(Control::Reboot), control(Control::Reboot)],
        ..MmcDocument::default()
    };
    assert_eq!(encode_what(&value), "control action");
}

#[test]
fn unknown_or_missing_link() {
    assert_eq!(
        invalid_what(decode_str(&doc(&is683("uplink", "1", "BQ==")))),
        "link"
    );
    assert_eq!(
        decode_str(&doc("<is683 seq=\"1\">BQ==</is683>")),
        Err(MmcError::Missing("is683 link"))
    );
}

#[test]
fn malformed_or_missing_seq() {
    for seq in [
        "",
        "-1",
        "+1",
        "01",
        "1.0",
        " 1",
        "4294967296",
        "99999999999",
    ] {
        let xml = doc(&is683("forward", seq, "BQ=="));
        assert_eq!(invalid_what(decode_str(&xml)), "seq", "{seq:?}");
    }
    assert_eq!(
        decode_str(&doc("<is683 link=\"forward\">BQ==</is683>")),
        Err(MmcError::Missing("is683 seq"))
    );
    let max = decode_str(&doc(&is683("forward", "4294967295", "BQ=="))).unwrap();
    assert_eq!(max.messages[0].seq, u32::MAX);
}

#[test]
fn duplicated_seq_within_a_link() {
    let xml = doc(&format!(
        "{}{}",
        is683("reverse", "7", "BQA="),
        is683("reverse", "7", "BQA=")
    ));
    assert_eq!(invalid_what(decode_str(&xml)), "seq");
    let value = MmcDocument {
        messages: vec![fwd(3, &[5]), fwd(3, &[5])],
        ..MmcDocument::default()
    };
    assert_eq!(encode_what(&value), "seq");
}

#[test]
fn same_seq_on_both_links_is_allowed() {
    let value = MmcDocument {
        messages: vec![fwd(3, &[5]), rev(3, &[5, 0])],
        ..MmcDocument::default()
    };
    assert_eq!(decode_str(&value.encode().unwrap()).unwrap(), value);
}

#[test]
fn esn_and_meid_format() {
    for esn in [
        "9F1ABCD",
        "9F1ABCDE0",
        "0x9F1ABC",
        "G1234567",
        "12801487144",
        " 9F1ABCD",
    ] {
        let xml = doc(&format!("<device esn=\"{esn}\"/>"));
        assert_eq!(invalid_what(decode_str(&xml)), "esn", "{esn:?}");
    }
    // 15 digits = with check digit; 18 = decimal form: both refused.
    for meid in [
        "A100001234567",
        "A10000123456789",
        "293608736500703710",
        "Z1000012345678",
    ] {
        let xml = doc(&format!("<device meid=\"{meid}\"/>"));
        assert_eq!(invalid_what(decode_str(&xml)), "meid", "{meid:?}");
    }
    assert_eq!(
        decode_str(&doc("<device model=\"A-1000\"/>")),
        Err(MmcError::Missing("device esn or meid"))
    );
    let value = MmcDocument {
        device: Some(DeviceInfo {
            meid: Some("A1000012345678F".into()),
            ..DeviceInfo::default()
        }),
        ..MmcDocument::default()
    };
    assert_eq!(encode_what(&value), "meid");
    let empty = MmcDocument {
        device: Some(DeviceInfo::default()),
        ..MmcDocument::default()
    };
    assert_eq!(empty.encode(), Err(MmcError::Missing("device esn or meid")));
}

#[test]
fn empty_optional_attributes() {
    assert_eq!(
        invalid_what(decode_str(&doc("<device esn=\"9F1ABCDE\" make=\"\"/>"))),
        "make"
    );
    assert_eq!(
        invalid_what(decode_str(&doc("<control action=\"start\" reason=\"\"/>"))),
        "reason"
    );
}

#[test]
fn characters_xml_cannot_carry() {
    assert_eq!(
        invalid_what(decode_str(&doc(
            "<control action=\"terminate\" reason=\"a&#1;b\"/>"
        ))),
        "reason"
    );
    let value = MmcDocument {
        status: Some(StatusItem {
            code: 500,
            text: "bell\u{7}".into(),
        }),
        ..MmcDocument::default()
    };
    assert_eq!(encode_what(&value), "status text");
}

#[test]
fn document_over_the_size_limit() {
    let padding = " ".repeat(MAX_DOCUMENT);
    let xml = format!("<mmc version=\"1.0\">{padding}</mmc>");
    assert_eq!(decode_str(&xml), Err(MmcError::TooLarge(xml.len())));

    // Exactly at the limit is still read.
    let filler = MAX_DOCUMENT - doc("").len();
    let xml = doc(&" ".repeat(filler));
    assert_eq!(xml.len(), MAX_DOCUMENT);
    assert!(decode_str(&xml).is_ok());

    let big = MmcDocument {
        messages: (0..MAX_MESSAGES as u32)
            .map(|seq| fwd(seq, &[0x08; 1024]))
            .collect(),
        ..MmcDocument::default()
    };
    assert!(matches!(big.encode(), Err(MmcError::TooLarge(n)) if n > MAX_DOCUMENT));
}

#[test]
fn more_than_max_messages() {
    let at_limit: String = (0..MAX_MESSAGES)
        .map(|seq| is683("forward", &seq.to_string(), "BQ=="))
        .collect();
    assert_eq!(
        decode_str(&doc(&at_limit)).unwrap().messages.len(),
        MAX_MESSAGES
    );
    let over = format!("{at_limit}{}", is683("forward", "999", "BQ=="));
    assert_eq!(invalid_what(decode_str(&doc(&over))), "is683 count");
    let value = MmcDocument {
        messages: (0..=MAX_MESSAGES as u32)
            .map(|seq| fwd(seq, &[5]))
            .collect(),
        ..MmcDocument::default()
    };
    assert_eq!(encode_what(&value), "is683 count");
}

#[test]
fn unknown_elements() {
    assert_eq!(invalid_what(decode_str(&doc("<extra/>"))), "element");
    assert_eq!(
        invalid_what(decode_str(&doc(
            "<is683 link=\"forward\" seq=\"1\"><b/></is683>"
        ))),
        "element"
    );
    assert_eq!(
        invalid_what(decode_str(&doc(
            "<device esn=\"9F1ABCDE\"><device esn=\"9F1ABCDE\"/></device>"
        ))),
        "element"
    );
}

#[test]
fn unknown_and_duplicate_attributes() {
    assert_eq!(
        invalid_what(decode_str("<mmc version=\"1.0\" xmlns=\"urn:mmc\"/>")),
        "attribute"
    );
    assert_eq!(
        invalid_what(decode_str(&doc("<control action=\"start\" when=\"now\"/>"))),
        "attribute"
    );
    xml_error(decode_str(&doc(
        "<control action=\"start\" action=\"reboot\"/>",
    )));
}

#[test]
fn children_out_of_order_or_repeated() {
    for children in [
        "<control action=\"start\"/><device esn=\"9F1ABCDE\"/>",
        "<device esn=\"9F1ABCDE\"/><device esn=\"9F1ABCDE\"/>",
        "<is683 link=\"forward\" seq=\"1\">BQ==</is683><control action=\"start\"/>",
        "<status code=\"403\"/><is683 link=\"forward\" seq=\"1\">BQ==</is683>",
        "<status code=\"403\"/><status code=\"403\"/>",
    ] {
        assert_eq!(
            invalid_what(decode_str(&doc(children))),
            "element order",
            "{children}"
        );
    }
}

#[test]
fn text_outside_elements() {
    for xml in [
        doc("hello"),
        doc("<device esn=\"9F1ABCDE\">x</device>"),
        doc("<control action=\"start\">&#32;</control>"),
        doc("<![CDATA[ ]]>"),
        "junk<mmc version=\"1.0\"/>".to_string(),
        "<mmc version=\"1.0\"/>junk".to_string(),
    ] {
        assert_eq!(invalid_what(decode_str(&xml)), "text", "{xml}");
    }
}

#[test]
fn session_id_format() {
    for s in ["", "has space", "semi;colon", "é", &"a".repeat(65)] {
        let xml = format!("<mmc version=\"1.0\" session=\"{s}\"/>");
        assert_eq!(invalid_what(decode_str(&xml)), "session", "{s:?}");
    }
    let longest = "a".repeat(64);
    let xml = format!("<mmc version=\"1.0\" session=\"{longest}\"/>");
    assert_eq!(decode_str(&xml).unwrap().session, Some(longest));
}

#[test]
fn status_code_format() {
    for code in ["40", "0403", "1000", "4o3", "", "+40"] {
        let xml = doc(&format!("<status code=\"{code}\">x</status>"));
        assert_eq!(invalid_what(decode_str(&xml)), "status code", "{code:?}");
    }
    assert_eq!(
        decode_str(&doc("<status>x</status>")),
        Err(MmcError::Missing("status code"))
    );
    for code in [99, 1000] {
        let value = MmcDocument {
            status: Some(StatusItem {
                code,
                text: String::new(),
            }),
            ..MmcDocument::default()
        };
        assert_eq!(encode_what(&value), "status code");
    }
}

#[test]
fn status_text_must_be_trimmed_to_be_encoded() {
    let value = MmcDocument {
        status: Some(StatusItem {
            code: 403,
            text: " padded".into(),
        }),
        ..MmcDocument::default()
    };
    assert_eq!(encode_what(&value), "status text");
}

#[test]
fn empty_status_is_written_as_an_empty_element() {
    let value = MmcDocument {
        controls: vec![ControlItem {
            action: Control::Terminate,
            reason: None,
        }],
        status: Some(StatusItem {
            code: 503,
            text: String::new(),
        }),
        ..MmcDocument::default()
    };
    let text = value.encode().unwrap();
    assert!(text.contains("<status code=\"503\"/>"), "{text}");
    assert_eq!(decode_str(&text).unwrap(), value);
}

#[test]
fn xml_level_errors() {
    xml_error(decode_str(
        "<!DOCTYPE mmc [<!ENTITY x \"y\">]><mmc version=\"1.0\"/>",
    ));
    xml_error(decode_str("<mmc version=\"1.0\"><?php echo ?></mmc>"));
    xml_error(decode_str(" <?xml version=\"1.0\"?><mmc version=\"1.0\"/>"));
    xml_error(decode_str("<?xml version=\"1.1\"?><mmc version=\"1.0\"/>"));
    xml_error(decode_str("<mmc version=\"1.0\"/><mmc version=\"1.0\"/>"));
    xml_error(decode_str(
        "<mmc version=\"1.0\"><status code=\"403\">x</mmc>",
    ));
    xml_error(decode_str(
        "<mmc version=\"1.0\"><status code=\"403\">&bogus;</status></mmc>",
    ));
    xml_error(decode_str("<mmc version=\"1.0\">"));
    xml_error(decode_str("<mmc version=\"1.0\"><!-- a -- b --></mmc>"));
    xml_error(decode_str("<mmc version=1.0/>"));
    xml_error(MmcDocument::decode(
        b"<mmc version=\"1.0\"><status code=\"403\">\xff</status></mmc>",
    ));
    assert_eq!(
        invalid_what(decode_str(
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><mmc version=\"1.0\"/>"
        )),
        "encoding"
    );
    assert_eq!(decode_str(""), Err(MmcError::Missing("mmc root element")));
    assert_eq!(
        decode_str("  <!-- nothing -->\n"),
        Err(MmcError::Missing("mmc root element"))
    );
}

#[test]
fn query_value_errors() {
    assert_eq!(
        invalid_what(MmcDocument::from_query_value("PG1tYy8+=")),
        "mmc query parameter"
    );
    assert_eq!(
        invalid_what(MmcDocument::from_query_value("PG1tYy8+")),
        "mmc query parameter"
    );
    let long = "A".repeat(MAX_QUERY_DOCUMENT * 2);
    assert!(matches!(
        MmcDocument::from_query_value(&long),
        Err(MmcError::TooLarge(_))
    ));
    let big = MmcDocument {
        status: Some(StatusItem {
            code: 500,
            text: "x".repeat(MAX_QUERY_DOCUMENT),
        }),
        ..MmcDocument::default()
    };
    assert!(matches!(big.to_query_value(), Err(MmcError::TooLarge(_))));
    assert_eq!(
        MmcDocument::from_query_value("PG1tYyB2ZXJzaW9uPSIxLjAiLz4").unwrap(),
        MmcDocument::default()
    );
}
