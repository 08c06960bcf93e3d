//! XML text <-> [`crate::wbxml::Document`], the XML form of OMA DM messages
//! (content type `application/vnd.syncml.dm+xml`, OMA-TS-DM_RepPro-V1_2
//! "XML usage" and its MIME type registration).
//!
//! Parsing goes through the same document model as WBXML so that one
//! converter (the private `convert` module) serves both encodings. Namespaces are
//! reduced to local names: the SyncML and MetInf element names do not
//! collide, and peers write the MetInf namespace in every form (default
//! namespace per element, `xmlns:m` prefix on the root, or not at all).

use std::borrow::Cow;

use base64::Engine as _;
use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::error::SyncmlError;
use crate::wbxml::codepages::syncml::SYNCML_12;
use crate::wbxml::{Document, Element, Node, MAX_DEPTH};

/// Parse XML text into a document tagged with the SyncML 1.2 vocabulary.
///
/// Element names lose their namespace prefix; `xmlns` declarations of the
/// SyncML and MetInf namespaces are dropped (the WBXML code pages imply
/// them) while foreign ones are kept, so embedded content such as DevInf
/// can be written out again. Whitespace-only text between child elements
/// is dropped; text of leaf elements is kept as written. Comments,
/// processing instructions and the DOCTYPE are skipped.
pub fn parse(text: &str) -> Result<Document, SyncmlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.expand_empty_elements = true;
    config.check_end_names = true;

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| SyncmlError::Xml(format!("{e} (at byte {})", reader.error_position())))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(SyncmlError::Xml("content after the root element".into()));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(SyncmlError::Xml(format!(
                        "elements nested deeper than {MAX_DEPTH} levels"
                    )));
                }
                stack.push(start_element(&start)?);
            }
            Event::End(_) => {
                // check_end_names already matched the name against the open tag.
                let mut done = stack
                    .pop()
                    .ok_or_else(|| SyncmlError::Xml("unbalanced end tag".into()))?;
                drop_indentation(&mut done);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(done)),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let s = t
                    .unescape()
                    .map_err(|e| SyncmlError::Xml(format!("bad character data: {e}")))?;
                push_text(&mut stack, s)?;
            }
            Event::CData(c) => {
                let raw = c.into_inner();
                let s = std::str::from_utf8(&raw)
                    .map_err(|_| SyncmlError::Xml("CDATA section is not UTF-8".into()))?;
                push_text(&mut stack, Cow::Borrowed(s))?;
            }
            Event::Eof => break,
            // Expanded into Start + End by the reader configuration.
            Event::Empty(_) => {}
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(SyncmlError::Xml(format!(
            "input ends inside <{}> (truncated?)",
            open.name
        )));
    }
    let root = root.ok_or_else(|| SyncmlError::Xml("no root element".into()))?;
    Ok(Document::new(&SYNCML_12, root))
}

fn start_element(start: &BytesStart<'_>) -> Result<Element, SyncmlError> {
    let name = utf8(start.local_name().as_ref())?.to_string();
    let mut element = Element::new(name);
    for attr in start.attributes() {
        let attr = attr.map_err(|e| SyncmlError::Xml(format!("bad attribute: {e}")))?;
        let value = attr
            .unescape_value()
            .map_err(|e| SyncmlError::Xml(format!("bad attribute value: {e}")))?;
        let key = if attr.key.as_namespace_binding().is_some() {
            let implied = SYNCML_12.namespaces.iter().any(|(_, ns)| *ns == value);
            // Prefix bindings are useless once prefixes are stripped, and
            // the SyncML/MetInf namespaces are implied by the code pages.
            if implied || attr.key.as_ref() != b"xmlns" {
                continue;
            }
            "xmlns".to_string()
        } else {
            utf8(attr.key.local_name().as_ref())?.to_string()
        };
        element.attributes.push((key, value.into_owned()));
    }
    Ok(element)
}

fn push_text(stack: &mut [Element], text: Cow<'_, str>) -> Result<(), SyncmlError> {
    match stack.last_mut() {
        Some(parent) => {
            // quick-xml reports text around entity references in pieces;
            // merging keeps one text node per run, as the WBXML decoder does.
            if let Some(Node::Text(prev)) = parent.children.last_mut() {
                prev.push_str(&text);
            } else {
                parent.children.push(Node::Text(text.into_owned()));
            }
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(SyncmlError::Xml("text outside the root element".into())),
    }
}

/// Pretty-printed input puts whitespace between child elements; it is not
/// content, and keeping it would turn into bogus STR_I tokens in WBXML.
fn drop_indentation(e: &mut Element) {
    if e.children.iter().any(|c| matches!(c, Node::Element(_))) {
        e.children
            .retain(|c| !matches!(c, Node::Text(t) if t.trim().is_empty()));
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, SyncmlError> {
    std::str::from_utf8(bytes).map_err(|_| SyncmlError::Xml("name is not UTF-8".into()))
}

/// Render a document as compact XML text with an XML declaration.
///
/// The root carries `xmlns="SYNCML:SYNCML1.2"` and every element whose
/// code page namespace differs from its parent's declares it, which puts
/// `xmlns="syncml:metinf"` on the MetInf elements as OMA-TS-DM_RepPro-V1_2
/// examples show. No indentation is added because in SyncML leaf text is
/// content. OPAQUE nodes, which XML cannot carry, are written as base64;
/// the private `convert` module avoids producing them for XML.
pub fn write(doc: &Document) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    write_element(&mut out, &doc.root, None, true);
    out
}

/// Render one element (and its subtree) without a declaration; with
/// `infer_ns` false no namespace is added, for content of a foreign
/// vocabulary such as DevInf inside `<Data>`.
pub(crate) fn element_to_string(e: &Element, infer_ns: bool) -> String {
    let mut out = String::new();
    write_element(&mut out, e, None, infer_ns);
    out
}

fn write_element(out: &mut String, e: &Element, parent_ns: Option<&str>, infer_ns: bool) {
    let page = SYNCML_12.tag_token(&e.name, 0).map(|t| t.page);
    let ns = if infer_ns {
        page.and_then(|p| SYNCML_12.namespace(p)).or(parent_ns)
    } else {
        None
    };
    out.push('<');
    out.push_str(&e.name);
    let declares_ns = e.attributes.iter().any(|(n, _)| n == "xmlns");
    if let Some(ns) = ns.filter(|ns| !declares_ns && Some(*ns) != parent_ns) {
        out.push_str(" xmlns=\"");
        out.push_str(&escape(ns));
        out.push('"');
    }
    for (name, value) in &e.attributes {
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        out.push_str(&escape(value.as_str()));
        out.push('"');
    }
    if e.children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for child in &e.children {
        match child {
            Node::Element(c) => write_element(out, c, ns, infer_ns),
            Node::Text(t) => out.push_str(&escape(t.as_str())),
            Node::Opaque(b) => {
                out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
            }
        }
    }
    out.push_str("</");
    out.push_str(&e.name);
    out.push('>');
}
