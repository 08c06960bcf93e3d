//! Format version 1.1 (IOTA FOTA): the version rule, `<device firmware>`
//! and every rule of `<package>`, on decode and on encode.

use super::super::{
    DeviceInfo, MmcDocument, MmcError, PackageItem, StatusItem, MAX_PACKAGE_HREF, VERSION,
    VERSION_1_1,
};
use super::examples::{kx11_package, ZEROS_SHA256};
use super::{control, decode_str, encode_what, fwd, invalid_what};
use crate::iota::mmc::Control;

const HREF: &str = "https://mdm.example.net/firmware/packages/12/dd";

/// Wraps children in a version 1.1 root.
fn doc11(children: &str) -> String {
    format!("<mmc version=\"1.1\">{children}</mmc>")
}

/// A `<package>` with the given attribute text.
fn package(attributes: &str) -> String {
    doc11(&format!("<package {attributes}/>"))
}

/// A valid `<package>` with `name` set to `value` (or dropped if `None`).
fn package_with(name: &str, value: Option<&str>) -> String {
    let mut attributes = Vec::new();
    for (n, v) in [
        ("href", HREF),
        ("version", "KX1.1"),
        ("size", "524288"),
        ("sha256", ZEROS_SHA256),
    ] {
        if n != name {
            attributes.push(format!("{n}=\"{v}\""));
        }
    }
    if let Some(value) = value {
        attributes.push(format!("{name}=\"{value}\""));
    }
    package(&attributes.join(" "))
}

fn with_package(p: PackageItem) -> MmcDocument {
    MmcDocument {
        package: Some(p),
        ..MmcDocument::default()
    }
}

fn with_firmware(firmware: &str) -> MmcDocument {
    MmcDocument {
        device: Some(DeviceInfo {
            esn: Some("9F1ABCDE".into()),
            firmware: Some(firmware.into()),
            ..DeviceInfo::default()
        }),
        ..MmcDocument::default()
    }
}

fn round_trip(value: &MmcDocument) -> String {
    let text = value.encode().unwrap();
    assert_eq!(decode_str(&text).as_ref(), Ok(value), "{text}");
    text
}

// --- The version rule -------------------------------------------------------

#[test]
fn both_versions_are_read_and_no_other() {
    assert_eq!(VERSION, "1.0");
    assert_eq!(VERSION_1_1, "1.1");
    for v in [VERSION, VERSION_1_1] {
        let xml = format!("<mmc version=\"{v}\" session=\"s1\"/>");
        assert_eq!(decode_str(&xml).unwrap().session.as_deref(), Some("s1"));
    }
    for v in ["1.2", "1.10", "1.1 ", " 1.1", "1.01", "11", "2.0"] {
        let xml = format!("<mmc version=\"{v}\"/>");
        assert_eq!(invalid_what(decode_str(&xml)), "version", "{v:?}");
    }
}

#[test]
fn firmware_in_a_1_0_document_is_refused_as_1_0_refused_it() {
    for device in [
        "<device esn=\"9F1ABCDE\" firmware=\"KX1.0\"/>",
        "<device firmware=\"KX1.0\" esn=\"9F1ABCDE\"/>",
        "<device esn=\"9F1ABCDE\" make=\"Kyocera\" model=\"KX-IOTA\" firmware=\"KX1.0\"/>",
        // Refused as an attribute before its value is even looked at.
        "<device esn=\"9F1ABCDE\" firmware=\"\"/>",
    ] {
        let xml = format!("<mmc version=\"1.0\">{device}</mmc>");
        assert_eq!(invalid_what(decode_str(&xml)), "attribute", "{device}");
        // The same device is fine in 1.1 (apart from the empty value).
        let result = decode_str(&doc11(device));
        if device.contains("firmware=\"\"") {
            assert_eq!(invalid_what(result), "firmware");
        } else {
            assert!(result.is_ok(), "{device}: {result:?}");
        }
    }
}

#[test]
fn package_in_a_1_0_document_is_refused_as_1_0_refused_it() {
    let element = format!(
        "<package href=\"{HREF}\" version=\"KX1.1\" size=\"1\" sha256=\"{ZEROS_SHA256}\"/>"
    );
    for children in [
        element.clone(),
        // "element", not "element order", even where it would be misplaced.
        format!("<status code=\"200\"/>{element}"),
        format!("{element}<device esn=\"9F1ABCDE\"/>"),
        "<package/>".to_string(),
    ] {
        let xml = format!("<mmc version=\"1.0\">{children}</mmc>");
        assert_eq!(invalid_what(decode_str(&xml)), "element", "{children}");
    }
    assert!(decode_str(&doc11(&element)).is_ok());
}

#[test]
fn the_encoder_declares_1_1_exactly_when_a_1_1_item_is_used() {
    let plain = MmcDocument {
        device: Some(DeviceInfo {
            esn: Some("9F1ABCDE".into()),
            make: Some("Kyocera".into()),
            model: Some("KX-IOTA".into()),
            ..DeviceInfo::default()
        }),
        controls: vec![control(Control::Start)],
        messages: vec![fwd(1, &[6])],
        status: Some(StatusItem {
            code: 200,
            text: "ok".into(),
        }),
        ..MmcDocument::default()
    };
    assert_eq!(plain.version(), VERSION);
    assert!(round_trip(&plain).starts_with("<mmc version=\"1.0\">\n"));
    assert_eq!(MmcDocument::default().version(), VERSION);

    let mut firmware = plain.clone();
    if let Some(device) = firmware.device.as_mut() {
        device.firmware = Some("KX1.0".into());
    }
    assert_eq!(firmware.version(), VERSION_1_1);
    assert!(round_trip(&firmware).starts_with("<mmc version=\"1.1\">\n"));

    let package = MmcDocument {
        session: Some("s".into()),
        package: Some(kx11_package()),
        ..MmcDocument::default()
    };
    assert_eq!(package.version(), VERSION_1_1);
    assert!(round_trip(&package).starts_with("<mmc version=\"1.1\" session=\"s\">\n"));
}

#[test]
fn a_1_1_document_without_1_1_items_reads_like_its_1_0_twin() {
    let v1_1 = "<mmc version=\"1.1\" session=\"s\">\n  <control action=\"start\"/>\n</mmc>\n";
    let v1_0 = v1_1.replace("1.1", "1.0");
    let doc = decode_str(v1_1).unwrap();
    assert_eq!(doc, decode_str(&v1_0).unwrap());
    assert_eq!(doc.version(), VERSION);
    assert_eq!(doc.encode().unwrap(), v1_0);
    let empty = decode_str("<mmc version=\"1.1\"/>").unwrap();
    assert_eq!(empty, MmcDocument::default());
    assert_eq!(empty.encode().unwrap(), "<mmc version=\"1.0\"/>\n");
}

// --- <device firmware> --------------------------------------------------------

#[test]
fn firmware_is_free_text_like_make_and_model() {
    assert_eq!(
        invalid_what(decode_str(&doc11(
            "<device esn=\"9F1ABCDE\" firmware=\"\"/>"
        ))),
        "firmware"
    );
    assert_eq!(
        invalid_what(decode_str(&doc11(
            "<device esn=\"9F1ABCDE\" firmware=\"KX&#1;1.0\"/>"
        ))),
        "firmware"
    );
    assert_eq!(encode_what(&with_firmware("")), "firmware");
    assert_eq!(encode_what(&with_firmware("KX\u{7}")), "firmware");
    // Still a device: esn or meid required.
    assert_eq!(
        decode_str(&doc11("<device firmware=\"KX1.0\"/>")),
        Err(MmcError::Missing("device esn or meid"))
    );
    for firmware in ["KX1.0", "v 2.3 \"beta\" <rc1> & more", "é", "a\tb\nc"] {
        round_trip(&with_firmware(firmware));
    }
}

#[test]
fn firmware_comes_last_among_the_device_attributes() {
    let value = MmcDocument {
        device: Some(DeviceInfo {
            esn: Some("8043b03f".into()),
            meid: Some("a1000012345678".into()),
            make: Some("Acme".into()),
            model: Some("A-1000".into()),
            firmware: Some("A1.2".into()),
        }),
        ..MmcDocument::default()
    };
    assert_eq!(
        value.encode().unwrap(),
        "<mmc version=\"1.1\">\n  <device esn=\"8043B03F\" meid=\"A1000012345678\" \
         make=\"Acme\" model=\"A-1000\" firmware=\"A1.2\"/>\n</mmc>\n"
    );
    let shuffled = doc11(
        "<device firmware=\"A1.2\" model=\"A-1000\" meid=\"A1000012345678\" \
         esn=\"8043B03F\" make=\"Acme\"/>",
    );
    assert_eq!(decode_str(&shuffled).unwrap().encode(), value.encode());
}

// --- <package> ----------------------------------------------------------------

#[test]
fn package_requires_href_version_size_and_sha256() {
    for (name, missing) in [
        ("href", "package href"),
        ("version", "package version"),
        ("size", "package size"),
        ("sha256", "package sha256"),
    ] {
        assert_eq!(
            decode_str(&package_with(name, None)),
            Err(MmcError::Missing(missing)),
            "{name}"
        );
    }
    assert_eq!(
        decode_str(&package("")),
        Err(MmcError::Missing("package href"))
    );
}

#[test]
fn mandatory_is_optional_and_false_when_absent() {
    let absent = decode_str(&package_with("mandatory", None)).unwrap();
    assert_eq!(absent.package.as_ref().map(|p| p.mandatory), Some(false));
    let written_false = decode_str(&package_with("mandatory", Some("false"))).unwrap();
    assert_eq!(written_false, absent);
    // Canonical form: false is not written.
    assert!(!written_false.encode().unwrap().contains("mandatory"));
    let written_true = decode_str(&package_with("mandatory", Some("true"))).unwrap();
    assert_eq!(
        written_true.package.as_ref().map(|p| p.mandatory),
        Some(true)
    );
    assert!(written_true
        .encode()
        .unwrap()
        .contains(" mandatory=\"true\"/>"));
}

#[test]
fn mandatory_is_true_or_false_only() {
    for value in ["", "TRUE", "True", "1", "0", "yes", "no", " true", "false "] {
        assert_eq!(
            invalid_what(decode_str(&package_with("mandatory", Some(value)))),
            "mandatory",
            "{value:?}"
        );
    }
}

#[test]
fn href_must_be_an_absolute_http_or_https_url() {
    for href in [
        "",
        "mdm.example.net/firmware/12/dd",
        "/firmware/packages/12/dd",
        "//mdm.example.net/dd",
        "ftp://mdm.example.net/dd",
        "file:///etc/passwd",
        "https:mdm.example.net/dd",
        "https:/mdm.example.net/dd",
        "httpx://mdm.example.net/dd",
        "https://",
        "https:///dd",
        "http://?q",
        "http://#f",
        "https://:443/dd",
        "https://mdm.example.net:44x/dd",
        "https://user:secret@mdm.example.net/dd",
        "https://@mdm.example.net/dd",
        "https://[::1/dd",
        "https://[]/dd",
        "https://[::1]x/dd",
    ] {
        assert_eq!(
            invalid_what(decode_str(&package_with("href", Some(href)))),
            "href",
            "{href:?}"
        );
    }
}

#[test]
fn href_has_no_whitespace_and_only_uri_characters() {
    for href in [
        "https://mdm.example.net/a b",
        "https://mdm.example.net/a&#9;b",
        "https://mdm.example.net/a&#10;b",
        // Literal tab and LF become spaces (XML §3.3.3), refused as well.
        "https://mdm.example.net/a\tb",
        "https://mdm.example.net/a\nb",
        " https://mdm.example.net/dd",
        "https://mdm.example.net/dd ",
        "https://mdm.example.net/caf\u{e9}",
        "https://mdm.example.net/&lt;x&gt;",
        "https://mdm.example.net/&quot;",
        "https://mdm.example.net/a\\b",
        "https://mdm.example.net/{a}",
        "https://mdm.example.net/a|b",
        "https://mdm.example.net/a^b",
        "https://mdm.example.net/a`b",
        "https://mdm.example.net/%zz",
        "https://mdm.example.net/%4",
        "https://mdm.example.net/%",
        "https://mdm.example.net/a&#1;b",
    ] {
        assert_eq!(
            invalid_what(decode_str(&package_with("href", Some(href)))),
            "href",
            "{href:?}"
        );
    }
}

#[test]
fn href_of_every_accepted_shape_round_trips() {
    for (written, value) in [
        (HREF, HREF),
        ("http://mdm.example.net/dd", "http://mdm.example.net/dd"),
        ("HTTPS://MDM.example.net/dd", "HTTPS://MDM.example.net/dd"),
        ("https://mdm.example.net", "https://mdm.example.net"),
        (
            "https://mdm.example.net:8443/fw/dd?id=12&amp;t=a%2Fb#top",
            "https://mdm.example.net:8443/fw/dd?id=12&t=a%2Fb#top",
        ),
        (
            "https://[2001:db8::1]:443/dd",
            "https://[2001:db8::1]:443/dd",
        ),
        ("http://192.0.2.7/dd", "http://192.0.2.7/dd"),
        (
            "https://mdm.example.net/~a/-._~!$'()*+,;=:@/%C3%A9",
            "https://mdm.example.net/~a/-._~!$'()*+,;=:@/%C3%A9",
        ),
    ] {
        let doc = decode_str(&package_with("href", Some(written)))
            .unwrap_or_else(|e| panic!("{written}: {e}"));
        assert_eq!(doc.package.as_ref().map(|p| p.href.as_str()), Some(value));
        round_trip(&doc);
    }
}

#[test]
fn href_is_at_most_1024_characters() {
    let prefix = "https://mdm.example.net/";
    let longest = format!("{prefix}{}", "a".repeat(MAX_PACKAGE_HREF - prefix.len()));
    assert_eq!(longest.len(), MAX_PACKAGE_HREF);
    let doc = decode_str(&package_with("href", Some(&longest))).unwrap();
    round_trip(&doc);
    let too_long = format!("{longest}a");
    assert_eq!(
        invalid_what(decode_str(&package_with("href", Some(&too_long)))),
        "href"
    );
    let mut value = kx11_package();
    value.href = too_long;
    assert_eq!(encode_what(&with_package(value)), "href");
}

#[test]
fn the_encoder_refuses_a_bad_href() {
    for href in [
        "",
        "ftp://x/y",
        "https://x/a b",
        "https:///dd",
        "https://u@x/",
    ] {
        let mut value = kx11_package();
        value.href = href.into();
        assert_eq!(encode_what(&with_package(value)), "href", "{href:?}");
    }
}

#[test]
fn size_is_canonical_decimal_u64() {
    for size in [
        "",
        "-1",
        "+1",
        "01",
        "00",
        "1.0",
        " 1",
        "1 ",
        "0x10",
        "1e6",
        "524,288",
        "\u{663}",
        "18446744073709551616",
        "99999999999999999999",
        "100000000000000000000",
    ] {
        assert_eq!(
            invalid_what(decode_str(&package_with("size", Some(size)))),
            "size",
            "{size:?}"
        );
    }
    for (written, value) in [
        ("0", 0),
        ("1", 1),
        ("524288", 524_288),
        ("18446744073709551615", u64::MAX),
    ] {
        let doc = decode_str(&package_with("size", Some(written))).unwrap();
        assert_eq!(doc.package.as_ref().map(|p| p.size), Some(value));
        assert!(round_trip(&doc).contains(&format!(" size=\"{written}\" ")));
    }
}

#[test]
fn sha256_is_64_hex_digits() {
    let upper = ZEROS_SHA256.to_ascii_uppercase();
    for sha256 in [
        String::new(),
        ZEROS_SHA256[..63].to_string(),
        format!("{ZEROS_SHA256}0"),
        format!("{}g", &ZEROS_SHA256[..63]),
        format!(" {}", &ZEROS_SHA256[..63]),
        format!("sha256:{ZEROS_SHA256}"),
        format!("0x{}", &ZEROS_SHA256[..62]),
        // base64 of the hash, not hex.
        "B4VNL+8pega6gWheZgwzLeNtXRjVRpJ9MNqtbX/aFUE=".to_string(),
    ] {
        assert_eq!(
            invalid_what(decode_str(&package_with("sha256", Some(&sha256)))),
            "sha256",
            "{sha256:?}"
        );
        let mut value = kx11_package();
        value.sha256 = sha256.clone();
        assert_eq!(encode_what(&with_package(value)), "sha256", "{sha256:?}");
    }
    assert!(decode_str(&package_with("sha256", Some(&upper))).is_ok());
}

#[test]
fn sha256_is_read_and_written_in_lower_case() {
    let upper = ZEROS_SHA256.to_ascii_uppercase();
    let mixed: String = ZEROS_SHA256
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    for written in [&upper, &mixed] {
        let doc = decode_str(&package_with("sha256", Some(written))).unwrap();
        assert_eq!(
            doc.package.as_ref().map(|p| p.sha256.as_str()),
            Some(ZEROS_SHA256)
        );
    }
    let mut value = kx11_package();
    value.sha256 = upper;
    let text = value_text(value.clone());
    assert!(
        text.contains(&format!(" sha256=\"{ZEROS_SHA256}\" ")),
        "{text}"
    );
    // The value read back is the canonical (lower-case) one.
    let read = decode_str(&text).unwrap();
    assert_eq!(read.package, Some(kx11_package()));
}

fn value_text(p: PackageItem) -> String {
    with_package(p).encode().unwrap()
}

#[test]
fn package_version_is_free_text_like_make() {
    assert_eq!(
        invalid_what(decode_str(&package_with("version", Some("")))),
        "package version"
    );
    assert_eq!(
        invalid_what(decode_str(&package_with("version", Some("KX&#1;1.1")))),
        "package version"
    );
    for bad in ["", "KX\u{0}1.1"] {
        let mut value = kx11_package();
        value.version = bad.into();
        assert_eq!(encode_what(&with_package(value)), "package version");
    }
    let mut value = kx11_package();
    value.version = "KX 1.1 \"final\" <rc> & é".into();
    round_trip(&with_package(value));
}

#[test]
fn package_takes_no_other_attribute() {
    for extra in [
        "url=\"x\"",
        "xmlns=\"urn:x\"",
        "sha1=\"00\"",
        "firmware=\"KX1.1\"",
    ] {
        let xml = package(&format!(
            "href=\"{HREF}\" version=\"KX1.1\" size=\"1\" sha256=\"{ZEROS_SHA256}\" {extra}"
        ));
        assert_eq!(invalid_what(decode_str(&xml)), "attribute", "{extra}");
    }
}

#[test]
fn package_is_an_empty_element() {
    let open =
        format!("<package href=\"{HREF}\" version=\"KX1.1\" size=\"1\" sha256=\"{ZEROS_SHA256}\">");
    for (content, what) in [
        ("x", "text"),
        ("<![CDATA[ ]]>", "text"),
        ("<status code=\"200\"/>", "element"),
        ("<package/>", "element"),
    ] {
        let xml = doc11(&format!("{open}{content}</package>"));
        assert_eq!(invalid_what(decode_str(&xml)), what, "{content}");
    }
    // Whitespace between the tags is not content.
    let spaced = decode_str(&doc11(&format!("{open}\n  </package>"))).unwrap();
    assert_eq!(spaced.package.map(|p| p.size), Some(1));
}

#[test]
fn package_comes_after_is683_and_before_status_once() {
    let p = format!(
        "<package href=\"{HREF}\" version=\"KX1.1\" size=\"1\" sha256=\"{ZEROS_SHA256}\"/>"
    );
    let device = "<device esn=\"9F1ABCDE\"/>";
    let control = "<control action=\"start\"/>";
    let is683 = "<is683 link=\"forward\" seq=\"1\">Bg==</is683>";
    let status = "<status code=\"200\">ok</status>";
    for children in [
        format!("{p}{is683}"),
        format!("{is683}{p}{is683}"),
        format!("{p}{control}"),
        format!("{p}{device}"),
        format!("{status}{p}"),
        format!("{p}{p}"),
        format!("{p}{status}{p}"),
    ] {
        assert_eq!(
            invalid_what(decode_str(&doc11(&children))),
            "element order",
            "{children}"
        );
    }
    for children in [
        format!("{device}{control}{is683}{p}{status}"),
        format!("{is683}{p}"),
        format!("{p}{status}"),
        format!("{control}{p}"),
        p.clone(),
    ] {
        let doc = decode_str(&doc11(&children)).unwrap_or_else(|e| panic!("{children}: {e}"));
        assert!(doc.package.is_some());
        round_trip(&doc);
    }
}

#[test]
fn canonical_form_of_a_full_1_1_document() {
    let value = MmcDocument {
        session: Some("fota-1".into()),
        device: Some(DeviceInfo {
            esn: Some("9f1abcde".into()),
            make: Some("Kyocera".into()),
            model: Some("KX-IOTA".into()),
            firmware: Some("KX1.0".into()),
            ..DeviceInfo::default()
        }),
        controls: vec![control(Control::Start)],
        messages: vec![fwd(1, &[6])],
        package: Some(PackageItem {
            href: "https://mdm.example.net/dd?a=1&b=2".into(),
            version: "KX1.1".into(),
            size: 0,
            sha256: ZEROS_SHA256.to_ascii_uppercase(),
            mandatory: false,
        }),
        status: Some(StatusItem {
            code: 200,
            text: "ok".into(),
        }),
    };
    let expected = format!(
        "<mmc version=\"1.1\" session=\"fota-1\">\n\
         \x20 <device esn=\"9F1ABCDE\" make=\"Kyocera\" model=\"KX-IOTA\" firmware=\"KX1.0\"/>\n\
         \x20 <control action=\"start\"/>\n\
         \x20 <is683 link=\"forward\" seq=\"1\">Bg==</is683>\n\
         \x20 <package href=\"https://mdm.example.net/dd?a=1&amp;b=2\" version=\"KX1.1\" \
         size=\"0\" sha256=\"{ZEROS_SHA256}\"/>\n\
         \x20 <status code=\"200\">ok</status>\n\
         </mmc>\n"
    );
    assert_eq!(value.encode().unwrap(), expected);

    // Any spelling of the same document decodes to the canonical value.
    let messy = format!(
        "<?xml version=\"1.0\"?>\n<mmc session=\"fota-1\" version=\"1.1\">\n\
         <device firmware=\"KX1.0\" model=\"KX-IOTA\" make=\"Kyocera\" esn=\"9F1ABCDE\"></device>\n\
         <control action=\"start\"/><is683 seq=\"1\" link=\"forward\">Bg==</is683>\n\
         <package mandatory=\"false\" sha256=\"{}\" size=\"0\" version=\"KX1.1\"\n\
         \thref='https://mdm.example.net/dd?a=1&#38;b=2'></package>\n\
         <status code=\"200\"> ok </status></mmc>",
        ZEROS_SHA256.to_ascii_uppercase()
    );
    assert_eq!(decode_str(&messy).unwrap().encode().unwrap(), expected);
}

#[test]
fn package_only_document_round_trips() {
    for mandatory in [false, true] {
        let mut value = kx11_package();
        value.mandatory = mandatory;
        value.size = u64::MAX;
        let doc = MmcDocument {
            session: Some("fota-3b9c20d1".into()),
            package: Some(value),
            ..MmcDocument::default()
        };
        let text = round_trip(&doc);
        assert_eq!(text.contains("mandatory"), mandatory, "{text}");
        assert_eq!(text.lines().count(), 3, "{text}");
    }
}
