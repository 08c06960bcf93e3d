//! Document -> WBXML bytes.

use super::datetime::encode_datetime;
use super::document::{Document, Element, Node, PublicId, CHARSET_UTF8};
use super::error::WbxmlError;
use super::mbint::write_mb_u32;
use super::strtable::StringTable;
use super::tokens::{END, LITERAL, OPAQUE, STR_I, SWITCH_PAGE, TAG_HAS_ATTRS, TAG_HAS_CONTENT};
use super::vocabulary::{ValueTokenUse, Vocabulary};
use super::MAX_DEPTH;

/// Encode `doc` with the token tables of `vocab`.
///
/// Names missing from `vocab` are written as LITERAL tokens, text as inline
/// strings (STR_I), and the public id as given in `doc` (a literal id goes to
/// the string table, which is how OMA DM peers send SyncML). Only UTF-8
/// documents (charset 106) and WBXML versions 1.1 to 1.3 can be written.
pub fn encode(doc: &Document, vocab: &Vocabulary) -> Result<Vec<u8>, WbxmlError> {
    if !(0x01..=0x03).contains(&doc.version) {
        return Err(WbxmlError::UnsupportedVersion(doc.version));
    }
    if doc.charset != CHARSET_UTF8 {
        return Err(WbxmlError::UnsupportedCharset(doc.charset));
    }
    let mut enc = Encoder {
        vocab,
        body: Vec::new(),
        strings: StringTable::default(),
        tag_page: 0,
        attr_page: 0,
    };
    // The public id is added first so that it sits at index 0, where
    // simple DM clients expect it.
    let public_id_index = match &doc.public_id {
        PublicId::Literal(s) => Some(enc.strings.add(s)?),
        PublicId::Known(0) => return Err(WbxmlError::InvalidPublicId(doc.public_id.to_string())),
        PublicId::Known(_) => None,
    };
    enc.element(&doc.root, 0)?;

    let table = enc.strings.bytes();
    let mut out = Vec::with_capacity(8 + table.len() + enc.body.len());
    out.push(doc.version);
    match (&doc.public_id, public_id_index) {
        (_, Some(index)) => {
            out.push(0);
            write_mb_u32(&mut out, index);
        }
        (PublicId::Known(id), None) => write_mb_u32(&mut out, *id),
        (PublicId::Literal(_), None) => {
            return Err(WbxmlError::InvalidPublicId(doc.public_id.to_string()))
        }
    }
    write_mb_u32(&mut out, doc.charset);
    let table_len = u32::try_from(table.len()).map_err(|_| WbxmlError::TooLarge("string table"))?;
    write_mb_u32(&mut out, table_len);
    out.extend_from_slice(table);
    out.extend_from_slice(&enc.body);
    Ok(out)
}

struct Encoder<'v> {
    vocab: &'v Vocabulary,
    body: Vec<u8>,
    strings: StringTable,
    tag_page: u8,
    attr_page: u8,
}

impl Encoder<'_> {
    fn element(&mut self, e: &Element, depth: usize) -> Result<(), WbxmlError> {
        if depth >= MAX_DEPTH {
            return Err(WbxmlError::TooDeep { limit: MAX_DEPTH });
        }
        let attrs: Vec<&(String, String)> = e
            .attributes
            .iter()
            .filter(|(n, v)| !self.is_implied_namespace(n, v))
            .collect();
        let mut bits = 0;
        if !attrs.is_empty() {
            bits |= TAG_HAS_ATTRS;
        }
        if !e.children.is_empty() {
            bits |= TAG_HAS_CONTENT;
        }
        match self.vocab.tag_token(&e.name, self.tag_page) {
            Some(t) => {
                if t.page != self.tag_page {
                    self.body.extend_from_slice(&[SWITCH_PAGE, t.page]);
                    self.tag_page = t.page;
                }
                self.body.push(t.token | bits);
            }
            None => {
                let index = self.strings.add(&e.name)?;
                self.body.push(LITERAL | bits);
                write_mb_u32(&mut self.body, index);
            }
        }
        if !attrs.is_empty() {
            for (name, value) in attrs {
                self.attribute(name, value)?;
            }
            self.body.push(END);
        }
        if !e.children.is_empty() {
            for child in &e.children {
                match child {
                    Node::Element(c) => self.element(c, depth + 1)?,
                    Node::Text(t) => self.inline_str(t)?,
                    Node::Opaque(data) => self.opaque(data)?,
                }
            }
            self.body.push(END);
        }
        Ok(())
    }

    /// `xmlns` attributes that name one of the vocabulary's namespaces are
    /// implied by the code page, so writing them would only add a literal.
    fn is_implied_namespace(&self, name: &str, value: &str) -> bool {
        name == "xmlns" && self.vocab.namespaces.iter().any(|(_, ns)| *ns == value)
    }

    fn attribute(&mut self, name: &str, value: &str) -> Result<(), WbxmlError> {
        let rest = match self.vocab.best_attr_start(name, value, self.attr_page) {
            Some(a) => {
                self.switch_attr_page(a.page);
                self.body.push(a.token);
                value.strip_prefix(a.prefix).unwrap_or(value)
            }
            None => {
                let index = self.strings.add(name)?;
                self.body.push(LITERAL);
                write_mb_u32(&mut self.body, index);
                value
            }
        };
        if rest.is_empty() {
            return Ok(());
        }
        if self.vocab.is_datetime_attr(name) {
            // Not every sender formats dates exactly; those are sent as text.
            if let Some(bcd) = encode_datetime(rest) {
                return self.opaque(&bcd);
            }
        }
        match self.vocab.value_tokens {
            ValueTokenUse::WholeValue => match self.vocab.value_token_exact(rest, self.attr_page) {
                Some(v) => {
                    self.switch_attr_page(v.page);
                    self.body.push(v.token);
                    Ok(())
                }
                None => self.inline_str(rest),
            },
            ValueTokenUse::Anywhere => self.split_value(rest),
        }
    }

    /// Replace every known fragment (".com/" ...) by its token, greedily
    /// from the left, and send the text between fragments inline.
    fn split_value(&mut self, text: &str) -> Result<(), WbxmlError> {
        let mut pending = 0;
        let mut i = 0;
        while let Some(rest) = text.get(i..) {
            if rest.is_empty() {
                break;
            }
            match self.vocab.value_token_prefix(rest, self.attr_page) {
                Some(v) => {
                    if let Some(before) = text.get(pending..i).filter(|s| !s.is_empty()) {
                        self.inline_str(before)?;
                    }
                    self.switch_attr_page(v.page);
                    self.body.push(v.token);
                    i += v.value.len();
                    pending = i;
                }
                None => i += rest.chars().next().map_or(1, char::len_utf8),
            }
        }
        if let Some(tail) = text.get(pending..).filter(|s| !s.is_empty()) {
            self.inline_str(tail)?;
        }
        Ok(())
    }

    fn switch_attr_page(&mut self, page: u8) {
        if page != self.attr_page {
            self.body.extend_from_slice(&[SWITCH_PAGE, page]);
            self.attr_page = page;
        }
    }

    fn inline_str(&mut self, s: &str) -> Result<(), WbxmlError> {
        if s.contains('\0') {
            return Err(WbxmlError::NulInString);
        }
        self.body.push(STR_I);
        self.body.extend_from_slice(s.as_bytes());
        self.body.push(0);
        Ok(())
    }

    fn opaque(&mut self, data: &[u8]) -> Result<(), WbxmlError> {
        let len = u32::try_from(data.len()).map_err(|_| WbxmlError::TooLarge("opaque data"))?;
        self.body.push(OPAQUE);
        write_mb_u32(&mut self.body, len);
        self.body.extend_from_slice(data);
        Ok(())
    }
}
