//! The semantic rules of the format, in one place so that the encoder
//! refuses exactly what the decoder rejects: anything `encode` writes,
//! `decode` reads back unchanged.

use super::error::{shown, MmcError};
use super::model::{ControlItem, DeviceInfo, Is683Payload, MmcDocument, PackageItem, StatusItem};
use super::{MAX_MESSAGES, MAX_PACKAGE_HREF};

/// Longest session id; generous for a UUID or a 128-bit token in base64url.
pub(super) const MAX_SESSION_LEN: usize = 64;

pub(super) const ESN_DIGITS: usize = 8;
pub(super) const MEID_DIGITS: usize = 14;
pub(super) const SHA256_DIGITS: usize = 64;

/// Checks a whole document. The decoder runs it after parsing, the
/// encoder before writing.
pub(super) fn check(doc: &MmcDocument) -> Result<(), MmcError> {
    if let Some(session) = &doc.session {
        check_session(session)?;
    }
    if let Some(device) = &doc.device {
        check_device(device)?;
    }
    check_controls(&doc.controls)?;
    check_messages(&doc.messages)?;
    if let Some(package) = &doc.package {
        check_package(package)?;
    }
    if let Some(status) = &doc.status {
        check_status(status)?;
    }
    Ok(())
}

/// Session ids are limited to URL-unreserved characters so they can be
/// logged, put in URLs or used as keys without any escaping.
pub(super) fn check_session(session: &str) -> Result<(), MmcError> {
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if session.is_empty() || session.len() > MAX_SESSION_LEN || !session.bytes().all(ok_char) {
        return Err(MmcError::invalid(
            "session",
            format!(
                "{} must be 1 to {MAX_SESSION_LEN} of A-Z a-z 0-9 - . _ ~",
                shown(session)
            ),
        ));
    }
    Ok(())
}

/// Returns the canonical (upper-case) form of an ESN or MEID.
///
/// Exactly `digits` hex digits: no `0x`, no MEID check digit, no decimal
/// form, so a value has one spelling on the wire apart from letter case.
pub(super) fn hex_id(value: &str, digits: usize, what: &'static str) -> Result<String, MmcError> {
    check_hex(value, digits, what)?;
    Ok(value.to_ascii_uppercase())
}

/// Returns the canonical (lower-case) form of a package's SHA-256: 64 hex
/// digits, accepted in either letter case.
pub(super) fn sha256_hex(value: &str) -> Result<String, MmcError> {
    check_hex(value, SHA256_DIGITS, "sha256")?;
    Ok(value.to_ascii_lowercase())
}

fn check_hex(value: &str, digits: usize, what: &'static str) -> Result<(), MmcError> {
    if value.len() != digits || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(MmcError::invalid(
            what,
            format!("{} is not {digits} hex digits", shown(value)),
        ));
    }
    Ok(())
}

fn check_device(device: &DeviceInfo) -> Result<(), MmcError> {
    if device.esn.is_none() && device.meid.is_none() {
        return Err(MmcError::Missing("device esn or meid"));
    }
    if let Some(esn) = &device.esn {
        hex_id(esn, ESN_DIGITS, "esn")?;
    }
    if let Some(meid) = &device.meid {
        hex_id(meid, MEID_DIGITS, "meid")?;
    }
    if let Some(make) = &device.make {
        check_label(make, "make")?;
    }
    if let Some(model) = &device.model {
        check_label(model, "model")?;
    }
    if let Some(firmware) = &device.firmware {
        check_label(firmware, "firmware")?;
    }
    Ok(())
}

fn check_package(package: &PackageItem) -> Result<(), MmcError> {
    check_href(&package.href)?;
    check_label(&package.version, "package version")?;
    sha256_hex(&package.sha256)?;
    Ok(())
}

/// `href`: an absolute `http` or `https` URL (RFC 9110 §4.2) of at most
/// [`MAX_PACKAGE_HREF`] characters, written with URI characters only
/// (RFC 3986 §2: anything else percent-encoded, so no whitespace and no
/// non-ASCII), with a host and without userinfo (RFC 9110 §4.2.1 and
/// §4.2.4 forbid a sender to generate either an empty host or userinfo).
fn check_href(href: &str) -> Result<(), MmcError> {
    let bad = |why: String| Err(MmcError::invalid("href", format!("{}: {why}", shown(href))));
    if let Some(c) = href.chars().find(|&c| !is_uri_char(c)) {
        return bad(format!(
            "character U+{:04X} is not allowed in a URL (percent-encode it)",
            u32::from(c)
        ));
    }
    if href.len() > MAX_PACKAGE_HREF {
        return bad(format!("longer than {MAX_PACKAGE_HREF} characters"));
    }
    let bytes = href.as_bytes();
    let bad_escape = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !bytes
                .get(i + 1..i + 3)
                .is_some_and(|pair| pair.iter().all(u8::is_ascii_hexdigit))
    });
    if bad_escape {
        return bad("% not followed by two hex digits".into());
    }
    let Some(rest) = strip_prefix_ignore_case(href, "https://")
        .or_else(|| strip_prefix_ignore_case(href, "http://"))
    else {
        return bad("not an absolute http:// or https:// URL".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return bad("userinfo is not allowed in an http(s) URL".into());
    }
    // An IP-literal host is bracketed (RFC 3986 §3.2.2) and contains ':'.
    let (host, port) = match authority.strip_prefix('[') {
        Some(literal) => match literal.split_once(']') {
            Some((inside, after)) => (inside, after.strip_prefix(':').unwrap_or(after)),
            None => ("", ""),
        },
        None => authority.split_once(':').unwrap_or((authority, "")),
    };
    if host.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return bad("no host, or a port that is not a number".into());
    }
    Ok(())
}

/// RFC 3986 §2: unreserved, reserved and `%` of a percent-encoding.
fn is_uri_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    value.get(prefix.len()..)
}

/// Optional free-text attributes may not be empty, so that "absent" has
/// one representation (`None`) and a round trip cannot turn `Some("")`
/// into `None` or back.
fn check_label(value: &str, what: &'static str) -> Result<(), MmcError> {
    if value.is_empty() {
        return Err(MmcError::invalid(
            what,
            "empty value (omit the attribute instead)",
        ));
    }
    check_xml_chars(value, what)
}

fn check_controls(controls: &[ControlItem]) -> Result<(), MmcError> {
    for (i, item) in controls.iter().enumerate() {
        if controls[..i].iter().any(|c| c.action == item.action) {
            return Err(MmcError::invalid(
                "control action",
                format!("{:?} appears more than once", item.action.as_str()),
            ));
        }
        if let Some(reason) = &item.reason {
            check_label(reason, "reason")?;
        }
    }
    Ok(())
}

pub(super) fn check_message_count(count: usize) -> Result<(), MmcError> {
    if count > MAX_MESSAGES {
        return Err(MmcError::invalid(
            "is683 count",
            format!("more than {MAX_MESSAGES} messages in one document"),
        ));
    }
    Ok(())
}

fn check_messages(messages: &[Is683Payload]) -> Result<(), MmcError> {
    check_message_count(messages.len())?;
    for (i, m) in messages.iter().enumerate() {
        // Every IS-683 message has at least its OTASP_MSG_TYPE octet.
        if m.bytes.is_empty() {
            return Err(MmcError::invalid(
                "is683",
                format!("{} seq {} carries no octets", m.link.as_str(), m.seq),
            ));
        }
        if messages[..i]
            .iter()
            .any(|other| other.link == m.link && other.seq == m.seq)
        {
            return Err(MmcError::invalid(
                "seq",
                format!("{} seq {} appears more than once", m.link.as_str(), m.seq),
            ));
        }
    }
    Ok(())
}

pub(super) fn check_status_code(code: u16) -> Result<(), MmcError> {
    if !(100..=999).contains(&code) {
        return Err(MmcError::invalid(
            "status code",
            format!("{code} is not a three-digit code"),
        ));
    }
    Ok(())
}

fn check_status(status: &StatusItem) -> Result<(), MmcError> {
    check_status_code(status.code)?;
    // The decoder trims the text (documents may be indented), so text
    // that starts or ends with whitespace could not survive a round trip.
    if status.text.trim_matches(is_xml_space) != status.text {
        return Err(MmcError::invalid(
            "status text",
            "leading or trailing whitespace",
        ));
    }
    check_xml_chars(&status.text, "status text")
}

/// XML 1.0 `Char` (§2.2): quick-xml neither rejects raw control characters
/// nor character references such as `&#1;`, so both sides check here.
pub(super) fn check_xml_chars(value: &str, what: &'static str) -> Result<(), MmcError> {
    match value.chars().find(|&c| !is_xml_char(c)) {
        None => Ok(()),
        Some(c) => Err(MmcError::invalid(
            what,
            format!("character U+{:04X} is not allowed in XML", u32::from(c)),
        )),
    }
}

fn is_xml_char(c: char) -> bool {
    // Rust chars already exclude the surrogates D800..DFFF.
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

/// XML's `S` production (§2.3), narrower than `char::is_whitespace`.
pub(super) fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}
