//! Reads a document with a flat state machine over quick-xml events. The
//! format is two levels deep and every unexpected element is an error the
//! moment it opens, so no input can make the parser nest, recurse or
//! buffer more than the (size-limited) input itself.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use quick_xml::events::{BytesDecl, BytesStart, Event};
use quick_xml::Reader;

use super::error::{shown, MmcError};
use super::model::{
    Control, ControlItem, DeviceInfo, Is683Payload, Link, MmcDocument, PackageItem, StatusItem,
};
use super::rules::{self, is_xml_space, ESN_DIGITS, MEID_DIGITS};
use super::{MAX_DOCUMENT, VERSION, VERSION_1_1};

impl MmcDocument {
    /// Decodes UTF-8 XML text (an optional BOM and XML declaration are
    /// accepted) and checks every rule of the format. Reads versions 1.0
    /// and 1.1; a 1.0 document that uses a 1.1 item is refused as 1.0
    /// always refused it.
    pub fn decode(xml: &[u8]) -> Result<MmcDocument, MmcError> {
        if xml.len() > MAX_DOCUMENT {
            return Err(MmcError::TooLarge(xml.len()));
        }
        let text = std::str::from_utf8(xml)
            .map_err(|e| MmcError::Xml(format!("document is not UTF-8: {e}")))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // XML §2.11: line breaks are normalized before parsing, which
        // quick-xml leaves to the application.
        let text: Cow<'_, str> = if text.contains('\r') {
            Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
        } else {
            Cow::Borrowed(text)
        };
        let doc = Parser::default().run(&text)?;
        rules::check(&doc)?;
        Ok(doc)
    }
}

/// Where the parser stands; children are listed in the order the format
/// requires them.
#[derive(Debug, Default)]
enum State {
    #[default]
    Prolog,
    Root,
    Device,
    Control,
    Is683 {
        link: Link,
        seq: u32,
    },
    Package,
    Status {
        code: u16,
    },
    Epilog,
}

impl State {
    fn element(&self) -> &'static str {
        match self {
            State::Device => "device",
            State::Control => "control",
            State::Is683 { .. } => "is683",
            State::Package => "package",
            State::Status { .. } => "status",
            State::Prolog | State::Root | State::Epilog => "mmc",
        }
    }
}

#[derive(Default)]
struct Parser {
    doc: MmcDocument,
    state: State,
    /// Position in the child order device < control < is683 < package <
    /// status of the last child seen.
    rank: u8,
    /// The root declares version 1.1, so its items are allowed.
    v1_1: bool,
    /// Character data of the open `<is683>` or `<status>`.
    text: String,
    seen_event: bool,
}

impl Parser {
    fn run(mut self, text: &str) -> Result<MmcDocument, MmcError> {
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.trim_text(false);
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.check_comments = true;
        loop {
            let event = reader.read_event().map_err(|e| {
                MmcError::Xml(format!("{e} (near byte {})", reader.error_position()))
            })?;
            let first = !self.seen_event;
            self.seen_event = true;
            match event {
                Event::Decl(decl) if first => check_declaration(&decl)?,
                Event::Decl(_) => {
                    return Err(MmcError::Xml("the XML declaration must come first".into()))
                }
                Event::Start(start) => self.start(&start)?,
                // Not produced with expand_empty_elements; handled anyway
                // so a change of reader configuration cannot skip checks.
                Event::Empty(start) => {
                    self.start(&start)?;
                    self.end()?;
                }
                Event::End(_) => self.end()?,
                Event::Text(t) => {
                    if self.takes_text() {
                        let s = t
                            .unescape()
                            .map_err(|e| MmcError::Xml(format!("bad character data: {e}")))?;
                        self.text.push_str(&s);
                    } else {
                        stray_text(&t)?;
                    }
                }
                Event::CData(c) => {
                    if !self.takes_text() {
                        return Err(MmcError::invalid(
                            "text",
                            "CDATA section outside <is683> and <status>",
                        ));
                    }
                    let s = c
                        .decode()
                        .map_err(|e| MmcError::Xml(format!("bad CDATA section: {e}")))?;
                    self.text.push_str(&s);
                }
                Event::Comment(_) => {}
                Event::PI(_) => {
                    return Err(MmcError::Xml(
                        "processing instructions are not allowed".into(),
                    ))
                }
                // Refused outright: a DTD could declare entities and
                // defaults that change what the document means.
                Event::DocType(_) => return Err(MmcError::Xml("DOCTYPE is not allowed".into())),
                Event::Eof => return self.finish(),
            }
        }
    }

    fn takes_text(&self) -> bool {
        matches!(self.state, State::Is683 { .. } | State::Status { .. })
    }

    fn start(&mut self, start: &BytesStart<'_>) -> Result<(), MmcError> {
        let name = start.name();
        let name = name.as_ref();
        match self.state {
            State::Prolog if name == b"mmc" => self.root(start),
            State::Prolog => Err(MmcError::invalid(
                "root element",
                format!("{} instead of mmc", lossy(name)),
            )),
            State::Root => self.child(name, start),
            State::Epilog => Err(MmcError::Xml(format!(
                "element {} after the end of <mmc>",
                lossy(name)
            ))),
            _ => Err(MmcError::invalid(
                "element",
                format!(
                    "{} is not allowed inside <{}>",
                    lossy(name),
                    self.state.element()
                ),
            )),
        }
    }

    fn root(&mut self, start: &BytesStart<'_>) -> Result<(), MmcError> {
        let [version, session] = attributes(start, "mmc", ["version", "session"], &[])?;
        self.v1_1 = match version.as_deref() {
            None => return Err(MmcError::Missing("mmc version")),
            Some(VERSION) => false,
            Some(VERSION_1_1) => true,
            Some(v) => {
                return Err(MmcError::invalid(
                    "version",
                    format!(
                        "{} is not supported (only {VERSION} and {VERSION_1_1})",
                        shown(v)
                    ),
                ))
            }
        };
        self.doc.session = session;
        self.state = State::Root;
        Ok(())
    }

    fn child(&mut self, name: &[u8], start: &BytesStart<'_>) -> Result<(), MmcError> {
        let (rank, once) = match name {
            b"device" => (1, true),
            b"control" => (2, false),
            b"is683" => (3, false),
            b"package" if self.v1_1 => (4, true),
            b"status" => (5, true),
            b"package" => {
                return Err(MmcError::invalid(
                    "element",
                    format!("package is not part of format {VERSION} (it is new in {VERSION_1_1})"),
                ))
            }
            _ => {
                return Err(MmcError::invalid(
                    "element",
                    format!("{} is not part of the MMC format", lossy(name)),
                ))
            }
        };
        if rank < self.rank || (once && rank == self.rank) {
            return Err(MmcError::invalid(
                "element order",
                format!(
                    "{} out of place; children are <device>?, <control>*, <is683>*, <package>?, <status>?",
                    lossy(name)
                ),
            ));
        }
        self.rank = rank;
        self.text.clear();
        self.state = match name {
            b"device" => {
                self.doc.device = Some(device(start, self.v1_1)?);
                State::Device
            }
            b"control" => {
                self.doc.controls.push(control(start)?);
                State::Control
            }
            b"package" => {
                self.doc.package = Some(package(start)?);
                State::Package
            }
            b"is683" => {
                let [link, seq] = attributes(start, "is683", ["link", "seq"], &[])?;
                let link = link.ok_or(MmcError::Missing("is683 link"))?;
                let link = Link::from_name(&link).ok_or_else(|| {
                    MmcError::invalid(
                        "link",
                        format!("{} is not forward or reverse", shown(&link)),
                    )
                })?;
                let seq = seq.ok_or(MmcError::Missing("is683 seq"))?;
                let seq = parse_decimal::<u32>(&seq).ok_or_else(|| {
                    MmcError::invalid(
                        "seq",
                        format!("{} is not a decimal number 0..=4294967295", shown(&seq)),
                    )
                })?;
                State::Is683 { link, seq }
            }
            _ => {
                let [code] = attributes(start, "status", ["code"], &[])?;
                let code = code.ok_or(MmcError::Missing("status code"))?;
                let code = parse_code(&code).ok_or_else(|| {
                    MmcError::invalid(
                        "status code",
                        format!("{} is not three digits 100..=999", shown(&code)),
                    )
                })?;
                State::Status { code }
            }
        };
        Ok(())
    }

    fn end(&mut self) -> Result<(), MmcError> {
        self.state = match std::mem::take(&mut self.state) {
            State::Is683 { link, seq } => {
                let compact: String = self.text.chars().filter(|&c| !is_xml_space(c)).collect();
                let bytes = STANDARD.decode(compact.as_bytes()).map_err(|e| {
                    MmcError::invalid("base64", format!("{} seq {seq}: {e}", link.as_str()))
                })?;
                self.doc.messages.push(Is683Payload { link, seq, bytes });
                // Checked as each message arrives so a flood stops early.
                rules::check_message_count(self.doc.messages.len())?;
                State::Root
            }
            State::Status { code } => {
                let text = self.text.trim_matches(is_xml_space).to_string();
                self.doc.status = Some(StatusItem { code, text });
                State::Root
            }
            State::Device | State::Control | State::Package => State::Root,
            State::Root => State::Epilog,
            // check_end_names makes quick-xml reject these first.
            State::Prolog | State::Epilog => {
                return Err(MmcError::Xml("end tag without a start tag".into()))
            }
        };
        Ok(())
    }

    fn finish(self) -> Result<MmcDocument, MmcError> {
        match self.state {
            State::Epilog => Ok(self.doc),
            State::Prolog => Err(MmcError::Missing("mmc root element")),
            open => Err(MmcError::Xml(format!(
                "input ends inside <{}>",
                open.element()
            ))),
        }
    }
}

fn device(start: &BytesStart<'_>, v1_1: bool) -> Result<DeviceInfo, MmcError> {
    let names = ["esn", "meid", "make", "model", "firmware"];
    let newer: &[&str] = if v1_1 { &[] } else { &["firmware"] };
    let [esn, meid, make, model, firmware] = attributes(start, "device", names, newer)?;
    Ok(DeviceInfo {
        esn: esn
            .map(|v| rules::hex_id(&v, ESN_DIGITS, "esn"))
            .transpose()?,
        meid: meid
            .map(|v| rules::hex_id(&v, MEID_DIGITS, "meid"))
            .transpose()?,
        make,
        model,
        firmware,
    })
}

fn package(start: &BytesStart<'_>) -> Result<PackageItem, MmcError> {
    let names = ["href", "version", "size", "sha256", "mandatory"];
    let [href, version, size, sha256, mandatory] = attributes(start, "package", names, &[])?;
    let href = href.ok_or(MmcError::Missing("package href"))?;
    let version = version.ok_or(MmcError::Missing("package version"))?;
    let size = size.ok_or(MmcError::Missing("package size"))?;
    let size = parse_decimal(&size).ok_or_else(|| {
        MmcError::invalid(
            "size",
            format!("{} is not a decimal number 0..={}", shown(&size), u64::MAX),
        )
    })?;
    let sha256 = sha256.ok_or(MmcError::Missing("package sha256"))?;
    let mandatory = match mandatory.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(MmcError::invalid(
                "mandatory",
                format!("{} is not true or false", shown(other)),
            ))
        }
    };
    // href and version are checked with the whole document (rules.rs).
    Ok(PackageItem {
        href,
        version,
        size,
        sha256: rules::sha256_hex(&sha256)?,
        mandatory,
    })
}

fn control(start: &BytesStart<'_>) -> Result<ControlItem, MmcError> {
    let [action, reason] = attributes(start, "control", ["action", "reason"], &[])?;
    let action = action.ok_or(MmcError::Missing("control action"))?;
    let action = Control::from_name(&action).ok_or_else(|| {
        MmcError::invalid(
            "control action",
            format!("{} is not start, terminate or reboot", shown(&action)),
        )
    })?;
    Ok(ControlItem { action, reason })
}

/// Collects the attributes of `element` in the order of `names`,
/// rejecting any other attribute (including `xmlns`: the format has no
/// namespace), those of `names` that are also in `newer` (new in a later
/// version than the document declares) and, through quick-xml's checks,
/// duplicates.
fn attributes<const N: usize>(
    start: &BytesStart<'_>,
    element: &'static str,
    names: [&'static str; N],
    newer: &[&str],
) -> Result<[Option<String>; N], MmcError> {
    let mut values: [Option<String>; N] = std::array::from_fn(|_| None);
    for attr in start.attributes() {
        let attr = attr.map_err(|e| MmcError::Xml(format!("<{element}>: {e}")))?;
        let key = attr.key.as_ref();
        if newer.iter().any(|n| n.as_bytes() == key) {
            return Err(MmcError::invalid(
                "attribute",
                format!(
                    "{} is not allowed on <{element}> in format {VERSION} (it is new in {VERSION_1_1})",
                    lossy(key)
                ),
            ));
        }
        let Some(slot) = names.iter().position(|n| n.as_bytes() == key) else {
            return Err(MmcError::invalid(
                "attribute",
                format!("{} is not allowed on <{element}>", lossy(key)),
            ));
        };
        let value = attribute_value(&attr.value)
            .map_err(|e| MmcError::Xml(format!("<{element}> {}: {e}", names[slot])))?;
        // The root's `version` already owns the name "version".
        let what = match (element, names[slot]) {
            ("package", "version") => "package version",
            (_, name) => name,
        };
        rules::check_xml_chars(&value, what)?;
        values[slot] = Some(value);
    }
    Ok(values)
}

/// XML §3.3.3 attribute-value normalization, which quick-xml skips:
/// literal tab and line feed become spaces before references are
/// expanded, so `&#10;` still yields a line feed.
fn attribute_value(raw: &[u8]) -> Result<String, String> {
    // The whole input was checked to be UTF-8; this cannot fail in practice.
    let raw = std::str::from_utf8(raw).map_err(|e| e.to_string())?;
    let spaced = raw.replace(['\t', '\n'], " ");
    quick_xml::escape::unescape(&spaced)
        .map(Cow::into_owned)
        .map_err(|e| e.to_string())
}

fn check_declaration(decl: &BytesDecl<'_>) -> Result<(), MmcError> {
    let bad = |e: quick_xml::Error| MmcError::Xml(format!("XML declaration: {e}"));
    let version = decl.version().map_err(bad)?;
    if version.as_ref() != b"1.0" {
        return Err(MmcError::Xml(format!(
            "XML version {} is not supported",
            lossy(&version)
        )));
    }
    if let Some(encoding) = decl.encoding() {
        let encoding = encoding.map_err(|e| MmcError::Xml(format!("XML declaration: {e}")))?;
        if !encoding.eq_ignore_ascii_case(b"UTF-8") {
            return Err(MmcError::invalid(
                "encoding",
                format!("{} declared; documents are UTF-8", lossy(&encoding)),
            ));
        }
    }
    Ok(())
}

/// Character data where the format has none: only indentation may appear
/// between elements and around the root.
fn stray_text(raw: &[u8]) -> Result<(), MmcError> {
    if raw
        .iter()
        .all(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        return Ok(());
    }
    Err(MmcError::invalid(
        "text",
        format!("{} outside <is683> and <status>", lossy(raw)),
    ))
}

/// Canonical decimal (`seq`, `size`): digits only, no sign, no leading
/// zeros except for "0" itself, and a value that fits in `T`.
fn parse_decimal<T: std::str::FromStr>(s: &str) -> Option<T> {
    let canonical = s == "0" || (s.len() <= 20 && !s.starts_with('0'));
    if !canonical || s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `code`: exactly three digits, 100..=999.
fn parse_code(s: &str) -> Option<u16> {
    if s.len() != 3 || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn lossy(raw: &[u8]) -> String {
    shown(&String::from_utf8_lossy(raw))
}
