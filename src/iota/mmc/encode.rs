//! Writes the canonical text of a document: no XML declaration, attributes
//! in a fixed order, one child element per line indented by two spaces,
//! a final newline. Canonical output lets tests and logs compare documents
//! as strings.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::error::MmcError;
use super::model::{DeviceInfo, MmcDocument, PackageItem};
use super::rules::{self, ESN_DIGITS, MEID_DIGITS};
use super::MAX_DOCUMENT;

impl MmcDocument {
    /// Encodes the document as UTF-8 XML text.
    ///
    /// Fails when the document breaks a rule that [`MmcDocument::decode`]
    /// enforces, so that whatever is sent can be read back unchanged.
    /// The root declares [`MmcDocument::version`]: 1.1 only when the
    /// document uses an item new in 1.1.
    pub fn encode(&self) -> Result<String, MmcError> {
        rules::check(self)?;
        let mut out = String::with_capacity(256);
        out.push_str("<mmc version=\"");
        out.push_str(self.version());
        out.push('"');
        if let Some(session) = &self.session {
            attr(&mut out, "session", session);
        }
        if self.device.is_none()
            && self.controls.is_empty()
            && self.messages.is_empty()
            && self.package.is_none()
            && self.status.is_none()
        {
            out.push_str("/>\n");
            return finish(out);
        }
        out.push_str(">\n");
        if let Some(device) = &self.device {
            write_device(&mut out, device)?;
        }
        for c in &self.controls {
            out.push_str("  <control");
            attr(&mut out, "action", c.action.as_str());
            if let Some(reason) = &c.reason {
                attr(&mut out, "reason", reason);
            }
            out.push_str("/>\n");
        }
        for m in &self.messages {
            out.push_str("  <is683");
            attr(&mut out, "link", m.link.as_str());
            attr(&mut out, "seq", &m.seq.to_string());
            out.push('>');
            out.push_str(&STANDARD.encode(&m.bytes));
            out.push_str("</is683>\n");
        }
        if let Some(package) = &self.package {
            write_package(&mut out, package)?;
        }
        if let Some(status) = &self.status {
            out.push_str("  <status");
            attr(&mut out, "code", &status.code.to_string());
            if status.text.is_empty() {
                out.push_str("/>\n");
            } else {
                out.push('>');
                escape_text(&mut out, &status.text);
                out.push_str("</status>\n");
            }
        }
        out.push_str("</mmc>\n");
        finish(out)
    }
}

fn write_device(out: &mut String, device: &DeviceInfo) -> Result<(), MmcError> {
    out.push_str("  <device");
    if let Some(esn) = &device.esn {
        attr(out, "esn", &rules::hex_id(esn, ESN_DIGITS, "esn")?);
    }
    if let Some(meid) = &device.meid {
        attr(out, "meid", &rules::hex_id(meid, MEID_DIGITS, "meid")?);
    }
    if let Some(make) = &device.make {
        attr(out, "make", make);
    }
    if let Some(model) = &device.model {
        attr(out, "model", model);
    }
    if let Some(firmware) = &device.firmware {
        attr(out, "firmware", firmware);
    }
    out.push_str("/>\n");
    Ok(())
}

/// `mandatory` is written only when true: absent means false, so the
/// canonical form has one spelling for each value.
fn write_package(out: &mut String, package: &PackageItem) -> Result<(), MmcError> {
    out.push_str("  <package");
    attr(out, "href", &package.href);
    attr(out, "version", &package.version);
    attr(out, "size", &package.size.to_string());
    attr(out, "sha256", &rules::sha256_hex(&package.sha256)?);
    if package.mandatory {
        attr(out, "mandatory", "true");
    }
    out.push_str("/>\n");
    Ok(())
}

fn finish(out: String) -> Result<String, MmcError> {
    if out.len() > MAX_DOCUMENT {
        return Err(MmcError::TooLarge(out.len()));
    }
    Ok(out)
}

fn attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // A conforming parser turns literal tab, CR and LF in an
            // attribute into spaces (XML §3.3.3); references survive.
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            // Also keeps "]]>" out of character data (XML §2.4).
            '>' => out.push_str("&gt;"),
            // A conforming parser folds a literal CR (or CRLF) into LF
            // (XML §2.11); the reference keeps it.
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}
