//! Typed [`Message`] <-> [`crate::wbxml::Document`] (OMA-TS-DM_RepPro-V1_2
//! "Protocol elements" and the SyncML 1.2 DTD element order).
//!
//! # Binary values
//!
//! Credentials (`Cred/Data`), nonces (`Chal/Meta/NextNonce`) and binary
//! item data are bytes in the model. Following OMA-TS-DM_Security-V1_2 and
//! OMA-TS-SyncML_MetaInfo-V1_2 (`Format`), a value whose Format is `b64`
//! (the default for credentials and nonces) is carried as base64 *text* in
//! both encodings; only Format `bin` puts raw bytes into a WBXML OPAQUE.
//! XML cannot hold raw bytes, so for XML output a `bin` value is written as
//! base64 and its Format as `b64`.
//!
//! Decoding is tolerant where peers are known to deviate: a b64 value that
//! arrives as OPAQUE and is not base64 text is taken as the raw bytes
//! (some WBXML clients send the MD5 digest that way), and item data
//! without b64/bin Format that arrives as OPAQUE becomes text when it is
//! printable UTF-8.

use base64::Engine as _;

use super::error::SyncmlError;
use super::model::{
    Alert, Chal, Command, Container, Cred, Item, ItemCmd, ItemData, Message, Meta, Results, Status,
    SyncBody, SyncHdr,
};
use super::xml;
use crate::wbxml::codepages::syncml::SYNCML_12;
use crate::wbxml::{Document, Element, Node};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Which encoding a document is built for; only binary values differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Xml,
    Wbxml,
}

// ---------------------------------------------------------------- encoding

/// Build the document of `msg` for `target`.
pub(crate) fn to_document(msg: &Message, target: Target) -> Document {
    let root = Element::new("SyncML")
        .child(hdr_element(&msg.hdr, target))
        .child(body_element(&msg.body, target));
    Document::new(&SYNCML_12, root)
}

fn text_el(name: &str, value: impl Into<String>) -> Element {
    Element::with_text(name, value)
}

fn loc(name: &str, uri: &str) -> Element {
    Element::new(name).child(text_el("LocURI", uri))
}

/// Bytes as `Data`/`NextNonce` content under `format`.
fn binary_node(data: &[u8], format: Option<&str>, target: Target) -> Node {
    if format == Some("bin") && target == Target::Wbxml {
        Node::Opaque(data.to_vec())
    } else {
        Node::Text(B64.encode(data))
    }
}

/// The Format to announce for a binary value: XML turns `bin` into `b64`.
fn binary_format(format: Option<&str>, target: Target) -> Option<String> {
    match (format, target) {
        (Some("bin"), Target::Xml) => Some("b64".into()),
        (f, _) => f.map(str::to_string),
    }
}

fn hdr_element(h: &SyncHdr, target: Target) -> Element {
    let mut source = loc("Source", &h.source);
    if let Some(name) = &h.source_name {
        source = source.child(text_el("LocName", name.as_str()));
    }
    let mut e = Element::new("SyncHdr")
        .child(text_el("VerDTD", h.ver_dtd.as_str()))
        .child(text_el("VerProto", h.ver_proto.as_str()))
        .child(text_el("SessionID", h.session_id.as_str()))
        .child(text_el("MsgID", h.msg_id.to_string()))
        .child(loc("Target", &h.target))
        .child(source);
    if let Some(uri) = &h.resp_uri {
        e = e.child(text_el("RespURI", uri.as_str()));
    }
    if let Some(cred) = &h.cred {
        e = e.child(cred_element(cred, target));
    }
    if h.max_msg_size.is_some() || h.max_obj_size.is_some() {
        let mut meta = Element::new("Meta");
        if let Some(n) = h.max_msg_size {
            meta = meta.child(text_el("MaxMsgSize", n.to_string()));
        }
        if let Some(n) = h.max_obj_size {
            meta = meta.child(text_el("MaxObjSize", n.to_string()));
        }
        e = e.child(meta);
    }
    e
}

fn cred_element(c: &Cred, target: Target) -> Element {
    let mut meta = Element::new("Meta");
    if let Some(f) = binary_format(c.format.as_deref(), target) {
        meta = meta.child(text_el("Format", f));
    }
    meta = meta.child(text_el("Type", c.auth_type.as_str()));
    let mut data = Element::new("Data");
    data.children
        .push(binary_node(&c.data, c.format.as_deref(), target));
    Element::new("Cred").child(meta).child(data)
}

fn chal_element(c: &Chal, target: Target) -> Element {
    let format = binary_format(Some(c.format.as_str()), target).unwrap_or_default();
    let mut meta = Element::new("Meta")
        .child(text_el("Format", format))
        .child(text_el("Type", c.auth_type.as_str()));
    // Basic authentication has no nonce; an empty NextNonce would be noise.
    if !c.next_nonce.is_empty() {
        let mut nonce = Element::new("NextNonce");
        nonce
            .children
            .push(binary_node(&c.next_nonce, Some(c.format.as_str()), target));
        meta = meta.child(nonce);
    }
    Element::new("Chal").child(meta)
}

fn meta_element(m: &Meta) -> Element {
    // MetInf DTD order: Format?, Type?, Mark?, Size?, ...
    let mut e = Element::new("Meta");
    if let Some(v) = &m.format {
        e = e.child(text_el("Format", v.as_str()));
    }
    if let Some(v) = &m.r#type {
        e = e.child(text_el("Type", v.as_str()));
    }
    if let Some(v) = &m.mark {
        e = e.child(text_el("Mark", v.as_str()));
    }
    if let Some(v) = m.size {
        e = e.child(text_el("Size", v.to_string()));
    }
    e
}

fn item_element(item: &Item, inherited_format: Option<&str>, target: Target) -> Element {
    let mut e = Element::new("Item");
    if let Some(uri) = &item.target {
        e = e.child(loc("Target", uri));
    }
    if let Some(uri) = &item.source {
        e = e.child(loc("Source", uri));
    }
    let mut meta = item.meta.clone();
    let format = meta
        .as_ref()
        .and_then(|m| m.format.as_deref())
        .or(inherited_format)
        .map(str::to_string);
    let data = item.data.as_ref().map(|d| {
        let mut data = Element::new("Data");
        match d {
            ItemData::Text(t) => {
                if !t.is_empty() {
                    data.children.push(Node::Text(t.clone()));
                }
            }
            ItemData::Binary(b) => {
                let raw_ok = target == Target::Wbxml && format.as_deref() != Some("b64");
                if raw_ok {
                    data.children.push(Node::Opaque(b.clone()));
                } else {
                    if format.as_deref() != Some("b64") {
                        // XML needs base64, and the receiver must be told.
                        meta.get_or_insert_with(Meta::default).format = Some("b64".into());
                    }
                    data.children.push(Node::Text(B64.encode(b)));
                }
            }
        }
        data
    });
    if let Some(m) = &meta {
        e = e.child(meta_element(m));
    }
    if let Some(d) = data {
        e = e.child(d);
    }
    if item.more_data {
        e = e.child(Element::new("MoreData"));
    }
    e
}

fn items_into(mut e: Element, items: &[Item], inherited: Option<&str>, t: Target) -> Element {
    for item in items {
        e = e.child(item_element(item, inherited, t));
    }
    e
}

fn body_element(b: &SyncBody, target: Target) -> Element {
    let mut e = Element::new("SyncBody");
    for c in &b.commands {
        e = e.child(command_element(c, target));
    }
    if b.final_ {
        e = e.child(Element::new("Final"));
    }
    e
}

fn command_element(c: &Command, t: Target) -> Element {
    match c {
        Command::Alert(a) => alert_element(a, t),
        Command::Status(s) => status_element(s, t),
        Command::Results(r) => results_element(r, t),
        Command::Get(ic)
        | Command::Replace(ic)
        | Command::Add(ic)
        | Command::Delete(ic)
        | Command::Exec(ic)
        | Command::Copy(ic) => item_cmd_element(c.name(), ic, t),
        Command::Sequence(k) | Command::Atomic(k) => {
            let mut e = Element::new(c.name()).child(text_el("CmdID", k.cmd_id.to_string()));
            for sub in &k.commands {
                e = e.child(command_element(sub, t));
            }
            e
        }
        Command::Unknown { name, cmd_id } => {
            Element::new(name.as_str()).child(text_el("CmdID", cmd_id.to_string()))
        }
    }
}

fn alert_element(a: &Alert, t: Target) -> Element {
    // DTD: CmdID, NoResp?, Cred?, Data?, Correlator?, Item*
    let mut e = Element::new("Alert")
        .child(text_el("CmdID", a.cmd_id.to_string()))
        .child(text_el("Data", a.data.to_string()));
    if let Some(c) = &a.correlator {
        e = e.child(text_el("Correlator", c.as_str()));
    }
    items_into(e, &a.items, None, t)
}

fn status_element(s: &Status, t: Target) -> Element {
    // DTD: CmdID, MsgRef, CmdRef, Cmd, TargetRef*, SourceRef*, Cred?, Chal?, Data, Item*
    let mut e = Element::new("Status")
        .child(text_el("CmdID", s.cmd_id.to_string()))
        .child(text_el("MsgRef", s.msg_ref.to_string()))
        .child(text_el("CmdRef", s.cmd_ref.to_string()))
        .child(text_el("Cmd", s.cmd.as_str()));
    for r in &s.target_refs {
        e = e.child(text_el("TargetRef", r.as_str()));
    }
    for r in &s.source_refs {
        e = e.child(text_el("SourceRef", r.as_str()));
    }
    if let Some(c) = &s.chal {
        e = e.child(chal_element(c, t));
    }
    e = e.child(text_el("Data", s.data.to_string()));
    items_into(e, &s.items, None, t)
}

fn results_element(r: &Results, t: Target) -> Element {
    // DTD: CmdID, MsgRef?, CmdRef, Meta?, TargetRef?, SourceRef?, Item+
    let mut e = Element::new("Results").child(text_el("CmdID", r.cmd_id.to_string()));
    if r.msg_ref != 0 {
        e = e.child(text_el("MsgRef", r.msg_ref.to_string()));
    }
    e = e.child(text_el("CmdRef", r.cmd_ref.to_string()));
    items_into(e, &r.items, None, t)
}

fn item_cmd_element(name: &str, c: &ItemCmd, t: Target) -> Element {
    // DTD: CmdID, NoResp?, Cred?, Meta?, Correlator? (Exec), Item+
    let mut e = Element::new(name).child(text_el("CmdID", c.cmd_id.to_string()));
    if let Some(m) = &c.meta {
        e = e.child(meta_element(m));
    }
    if let Some(corr) = &c.correlator {
        e = e.child(text_el("Correlator", corr.as_str()));
    }
    let inherited = c.meta.as_ref().and_then(|m| m.format.as_deref());
    items_into(e, &c.items, inherited, t)
}

// ---------------------------------------------------------------- decoding

/// Decode the typed message from a document (from either encoding).
pub(crate) fn from_document(doc: &Document) -> Result<Message, SyncmlError> {
    let root = &doc.root;
    if root.name != "SyncML" {
        return Err(SyncmlError::WrongRoot(root.name.clone()));
    }
    let hdr = require(root, "SyncHdr", "SyncML")?;
    let body = require(root, "SyncBody", "SyncML")?;
    Ok(Message {
        hdr: parse_hdr(hdr)?,
        body: parse_body(body)?,
    })
}

fn require<'a>(parent: &'a Element, name: &str, path: &str) -> Result<&'a Element, SyncmlError> {
    parent
        .find(name)
        .ok_or_else(|| SyncmlError::Missing(format!("{path}/{name}")))
}

/// Text of a leaf element, trimmed: protocol values never carry
/// meaningful edge whitespace, but pretty-printed XML often adds some.
fn leaf(e: &Element) -> String {
    e.text_content().trim().to_string()
}

fn req_text(parent: &Element, name: &str, path: &str) -> Result<String, SyncmlError> {
    require(parent, name, path).map(leaf)
}

fn opt_text(parent: &Element, name: &str) -> Option<String> {
    parent.find(name).map(leaf)
}

/// Text of every `name` child, in document order (elements the DTD repeats).
fn all_text(parent: &Element, name: &str) -> Vec<String> {
    parent
        .elements()
        .filter(|e| e.name == name)
        .map(leaf)
        .collect()
}

fn number<T: std::str::FromStr>(e: &Element, path: &str) -> Result<T, SyncmlError> {
    let value = leaf(e);
    value.parse().map_err(|_| SyncmlError::NotANumber {
        element: path.to_string(),
        value,
    })
}

fn req_num<T: std::str::FromStr>(
    parent: &Element,
    name: &str,
    path: &str,
) -> Result<T, SyncmlError> {
    number(require(parent, name, path)?, &format!("{path}/{name}"))
}

fn opt_num<T: std::str::FromStr>(
    parent: &Element,
    name: &str,
    path: &str,
) -> Result<Option<T>, SyncmlError> {
    parent
        .find(name)
        .map(|e| number(e, &format!("{path}/{name}")))
        .transpose()
}

/// `LocURI` of a `Target`/`Source` child.
fn loc_uri(parent: &Element, name: &str, path: &str) -> Result<Option<String>, SyncmlError> {
    match parent.find(name) {
        None => Ok(None),
        Some(e) => req_text(e, "LocURI", &format!("{path}/{name}")).map(Some),
    }
}

/// A MetInf field of `meta`, also looking into a `<MetInf>` wrapper,
/// which some SyncML 1.1-era implementations still write.
fn metinf<'a>(meta: &'a Element, name: &str) -> Option<&'a Element> {
    meta.find(name)
        .or_else(|| meta.find("MetInf").and_then(|m| m.find(name)))
}

fn metinf_text(meta: &Element, name: &str) -> Option<String> {
    metinf(meta, name).map(leaf)
}

fn raw_bytes(e: &Element) -> Vec<u8> {
    let mut out = Vec::new();
    for child in &e.children {
        match child {
            Node::Text(t) => out.extend_from_slice(t.as_bytes()),
            Node::Opaque(b) => out.extend_from_slice(b),
            Node::Element(_) => {}
        }
    }
    out
}

fn has_opaque(e: &Element) -> bool {
    e.children.iter().any(|c| matches!(c, Node::Opaque(_)))
}

/// base64 as peers write it: possibly wrapped over several lines.
fn b64_decode(bytes: &[u8]) -> Option<Vec<u8>> {
    let compact: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    B64.decode(compact).ok()
}

/// Decode a credential or nonce under its Format (b64 unless "bin").
fn binary_value(e: &Element, format: Option<&str>, path: &str) -> Result<Vec<u8>, SyncmlError> {
    let raw = raw_bytes(e);
    if format.map(str::trim) == Some("bin") {
        return Ok(raw);
    }
    match b64_decode(&raw) {
        Some(bytes) => Ok(bytes),
        None if has_opaque(e) => Ok(raw),
        None => Err(SyncmlError::BadBase64(path.to_string())),
    }
}

fn parse_hdr(h: &Element) -> Result<SyncHdr, SyncmlError> {
    let p = "SyncHdr";
    let source_el = require(h, "Source", p)?;
    let meta = h.find("Meta");
    Ok(SyncHdr {
        ver_dtd: req_text(h, "VerDTD", p)?,
        ver_proto: req_text(h, "VerProto", p)?,
        session_id: req_text(h, "SessionID", p)?,
        msg_id: req_num(h, "MsgID", p)?,
        target: req_text(require(h, "Target", p)?, "LocURI", "SyncHdr/Target")?,
        source: req_text(source_el, "LocURI", "SyncHdr/Source")?,
        source_name: opt_text(source_el, "LocName"),
        resp_uri: opt_text(h, "RespURI"),
        cred: h.find("Cred").map(parse_cred).transpose()?,
        max_msg_size: match meta.and_then(|m| metinf(m, "MaxMsgSize")) {
            Some(e) => Some(number(e, "SyncHdr/Meta/MaxMsgSize")?),
            None => None,
        },
        max_obj_size: match meta.and_then(|m| metinf(m, "MaxObjSize")) {
            Some(e) => Some(number(e, "SyncHdr/Meta/MaxObjSize")?),
            None => None,
        },
    })
}

fn parse_cred(c: &Element) -> Result<Cred, SyncmlError> {
    let meta = c.find("Meta");
    let format = meta.and_then(|m| metinf_text(m, "Format"));
    // SyncML RepPro: without Meta Type a credential is syncml:auth-basic.
    let auth_type = meta
        .and_then(|m| metinf_text(m, "Type"))
        .unwrap_or_else(|| "syncml:auth-basic".to_string());
    let data = require(c, "Data", "SyncHdr/Cred")?;
    Ok(Cred {
        data: binary_value(data, format.as_deref(), "SyncHdr/Cred/Data")?,
        format,
        auth_type,
    })
}

fn parse_chal(c: &Element, path: &str) -> Result<Chal, SyncmlError> {
    let meta = require(c, "Meta", path)?;
    let meta_path = format!("{path}/Meta");
    let format = metinf_text(meta, "Format").unwrap_or_else(|| "b64".to_string());
    let auth_type = metinf_text(meta, "Type")
        .ok_or_else(|| SyncmlError::Missing(format!("{meta_path}/Type")))?;
    let next_nonce = match metinf(meta, "NextNonce") {
        Some(n) => binary_value(n, Some(&format), &format!("{meta_path}/NextNonce"))?,
        None => Vec::new(),
    };
    Ok(Chal {
        auth_type,
        format,
        next_nonce,
    })
}

fn parse_meta(m: &Element, path: &str) -> Result<Meta, SyncmlError> {
    Ok(Meta {
        format: metinf_text(m, "Format"),
        r#type: metinf_text(m, "Type"),
        size: match metinf(m, "Size") {
            Some(e) => Some(number(e, &format!("{path}/Size"))?),
            None => None,
        },
        mark: metinf_text(m, "Mark"),
    })
}

fn parse_item(e: &Element, inherited: Option<&Meta>, path: &str) -> Result<Item, SyncmlError> {
    let meta = e
        .find("Meta")
        .map(|m| parse_meta(m, &format!("{path}/Meta")))
        .transpose()?;
    let format = meta
        .as_ref()
        .and_then(|m| m.format.as_deref())
        .or(inherited.and_then(|m| m.format.as_deref()))
        .map(str::trim);
    let data = e.find("Data").map(|d| item_data(d, format));
    Ok(Item {
        target: loc_uri(e, "Target", path)?,
        source: loc_uri(e, "Source", path)?,
        meta,
        data,
        more_data: e.find("MoreData").is_some(),
    })
}

fn item_data(d: &Element, format: Option<&str>) -> ItemData {
    if d.elements().next().is_some() {
        // Embedded XML (e.g. DevInf or a DDF fragment in XML messages) is
        // kept as its text so the value is not lost.
        let inner: String = d
            .children
            .iter()
            .map(|c| match c {
                Node::Element(e) => xml::element_to_string(e, false),
                Node::Text(t) => t.clone(),
                Node::Opaque(b) => String::from_utf8_lossy(b).into_owned(),
            })
            .collect();
        return ItemData::Text(inner);
    }
    let raw = raw_bytes(d);
    match format {
        Some("bin") => ItemData::Binary(raw),
        Some("b64") => match b64_decode(&raw) {
            Some(bytes) => ItemData::Binary(bytes),
            // Tolerated: a peer that labels plain text as b64.
            None => ItemData::Text(String::from_utf8_lossy(&raw).into_owned()),
        },
        _ if !has_opaque(d) => ItemData::Text(d.text_content()),
        _ => match String::from_utf8(raw) {
            Ok(s)
                if s.chars()
                    .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')) =>
            {
                ItemData::Text(s)
            }
            Ok(s) => ItemData::Binary(s.into_bytes()),
            Err(e) => ItemData::Binary(e.into_bytes()),
        },
    }
}

fn parse_items(
    parent: &Element,
    inherited: Option<&Meta>,
    path: &str,
) -> Result<Vec<Item>, SyncmlError> {
    parent
        .elements()
        .filter(|e| e.name == "Item")
        .enumerate()
        .map(|(i, e)| parse_item(e, inherited, &format!("{path}/Item[{}]", i + 1)))
        .collect()
}

fn parse_body(b: &Element) -> Result<SyncBody, SyncmlError> {
    let mut body = SyncBody::default();
    for e in b.elements() {
        if e.name == "Final" {
            body.final_ = true;
        } else {
            body.commands.push(parse_command(e, "SyncBody")?);
        }
    }
    Ok(body)
}

fn parse_command(e: &Element, parent_path: &str) -> Result<Command, SyncmlError> {
    let p = format!("{parent_path}/{}", e.name);
    // A CmdID that is not a number is kept as 0, which no valid command has
    // (CmdRef 0 names the SyncHdr): the server answers that one command
    // 400 rather than refusing the whole message.
    let cmd_id = leaf(require(e, "CmdID", &p)?).parse().unwrap_or(0);
    Ok(match e.name.as_str() {
        "Alert" => Command::Alert(Alert {
            cmd_id,
            data: req_num(e, "Data", &p)?,
            correlator: opt_text(e, "Correlator"),
            items: parse_items(e, None, &p)?,
        }),
        "Status" => Command::Status(Status {
            cmd_id,
            msg_ref: req_num(e, "MsgRef", &p)?,
            cmd_ref: req_num(e, "CmdRef", &p)?,
            cmd: req_text(e, "Cmd", &p)?,
            target_refs: all_text(e, "TargetRef"),
            source_refs: all_text(e, "SourceRef"),
            chal: e
                .find("Chal")
                .map(|c| parse_chal(c, &format!("{p}/Chal")))
                .transpose()?,
            data: req_num(e, "Data", &p)?,
            items: parse_items(e, None, &p)?,
        }),
        "Results" => {
            // The model has no command-level Meta for Results, so it is
            // handed down to the items that lack their own.
            let meta = e
                .find("Meta")
                .map(|m| parse_meta(m, &format!("{p}/Meta")))
                .transpose()?;
            let mut items = parse_items(e, meta.as_ref(), &p)?;
            for item in &mut items {
                if item.meta.is_none() {
                    item.meta.clone_from(&meta);
                }
            }
            Command::Results(Results {
                cmd_id,
                msg_ref: opt_num(e, "MsgRef", &p)?.unwrap_or(0),
                cmd_ref: req_num(e, "CmdRef", &p)?,
                items,
            })
        }
        "Get" | "Replace" | "Add" | "Delete" | "Exec" | "Copy" => {
            let meta = e
                .find("Meta")
                .map(|m| parse_meta(m, &format!("{p}/Meta")))
                .transpose()?;
            let c = ItemCmd {
                cmd_id,
                correlator: opt_text(e, "Correlator"),
                items: parse_items(e, meta.as_ref(), &p)?,
                meta,
            };
            match e.name.as_str() {
                "Get" => Command::Get(c),
                "Replace" => Command::Replace(c),
                "Add" => Command::Add(c),
                "Delete" => Command::Delete(c),
                "Exec" => Command::Exec(c),
                _ => Command::Copy(c),
            }
        }
        "Sequence" | "Atomic" => {
            let commands = e
                .elements()
                .filter(|c| !matches!(c.name.as_str(), "CmdID" | "NoResp" | "Meta"))
                .map(|c| parse_command(c, &p))
                .collect::<Result<Vec<_>, _>>()?;
            let k = Container { cmd_id, commands };
            if e.name == "Sequence" {
                Command::Sequence(k)
            } else {
                Command::Atomic(k)
            }
        }
        _ => Command::Unknown {
            name: e.name.clone(),
            cmd_id,
        },
    })
}
