//! The semantic rules of the format, in one place so that the encoder
//! refuses exactly what the decoder rejects: anything `encode` writes,
//! `decode` reads back unchanged.

use super::error::{shown, MmcError};
use super::model::{ControlItem, DeviceInfo, Is683Payload, MmcDocument, StatusItem};
use super::MAX_MESSAGES;

/// Longest session id; generous for a UUID or a 128-bit token in base64url.
pub(super) const MAX_SESSION_LEN: usize = 64;

pub(super) const ESN_DIGITS: usize = 8;
pub(super) const MEID_DIGITS: usize = 14;

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
    if value.len() != digits || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(MmcError::invalid(
            what,
            format!("{} is not {digits} hex digits", shown(value)),
        ));
    }
    Ok(value.to_ascii_uppercase())
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
    Ok(())
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
