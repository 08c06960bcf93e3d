//! WBXML bytes -> Document.
//!
//! The parser is iterative with an explicit element stack and a nesting
//! limit, so hostile input can neither overflow the call stack nor build a
//! tree whose recursive drop would.

use super::datetime::decode_datetime;
use super::document::{Document, Element, Node, PublicId};
use super::error::WbxmlError;
use super::mbint::read_mb_u32;
use super::tokens::{
    is_attr_global, END, ENTITY, LITERAL, LITERAL_A, LITERAL_AC, LITERAL_C, OPAQUE, STR_I, STR_T,
    SWITCH_PAGE, TAG_HAS_ATTRS, TAG_HAS_CONTENT, TAG_ID_MASK,
};
use super::vocabulary::Vocabulary;
use super::MAX_DEPTH;

/// Decode a WBXML document.
///
/// `vocab_lookup` maps the header's public id (numeric, or the formal id
/// found in the string table) to token tables; pass
/// [`super::known_vocabulary`] for the shipped ones. Versions 1.0 to 1.3 and
/// the charsets UTF-8, US-ASCII and ISO-8859-1 are accepted. Every malformed
/// input yields an error, never a panic.
pub fn decode(
    bytes: &[u8],
    vocab_lookup: impl Fn(&PublicId) -> Option<&'static Vocabulary>,
) -> Result<Document, WbxmlError> {
    let mut pos = 0;
    let version = *bytes
        .first()
        .ok_or(WbxmlError::UnexpectedEof { offset: 0 })?;
    if version > 0x03 {
        return Err(WbxmlError::UnsupportedVersion(version));
    }
    pos += 1;
    let public_id_field = read_mb_u32(bytes, &mut pos)?;
    let public_id_index = if public_id_field == 0 {
        let offset = pos;
        Some((read_mb_u32(bytes, &mut pos)?, offset))
    } else {
        None
    };
    // WBXML 1.0 had no charset field; its documents are UTF-8 in practice.
    let charset = if version == 0 {
        106
    } else {
        read_mb_u32(bytes, &mut pos)?
    };
    let text_charset = Charset::from_mib(charset)?;
    let table_len = read_mb_u32(bytes, &mut pos)? as usize;
    let table_start = pos;
    let table = table_start
        .checked_add(table_len)
        .and_then(|end| bytes.get(table_start..end))
        .ok_or(WbxmlError::UnexpectedEof {
            offset: bytes.len(),
        })?;
    pos += table_len;

    let strings = Strings {
        table,
        charset: text_charset,
    };
    let public_id = match public_id_index {
        Some((index, offset)) => PublicId::Literal(strings.table_str(index, offset)?),
        None => PublicId::Known(public_id_field),
    };
    let vocab = vocab_lookup(&public_id)
        .ok_or_else(|| WbxmlError::UnknownPublicId(public_id.to_string()))?;
    if pos >= bytes.len() {
        return Err(WbxmlError::MissingRoot);
    }
    let mut parser = Parser {
        data: bytes,
        pos,
        strings,
        vocab,
        tag_page: 0,
        attr_page: 0,
    };
    let root = parser.body()?;
    Ok(Document {
        version,
        public_id,
        charset,
        root,
    })
}

#[derive(Debug, Clone, Copy)]
enum Charset {
    Utf8,
    Latin1,
}

impl Charset {
    fn from_mib(mib: u32) -> Result<Self, WbxmlError> {
        match mib {
            // 0 means "unknown"; UTF-8 is the only sensible guess for DM/DS peers.
            0 | 3 | 106 => Ok(Charset::Utf8),
            4 => Ok(Charset::Latin1),
            other => Err(WbxmlError::UnsupportedCharset(other)),
        }
    }

    fn convert(self, raw: &[u8], offset: usize) -> Result<String, WbxmlError> {
        match self {
            Charset::Utf8 => std::str::from_utf8(raw)
                .map(str::to_string)
                .map_err(|_| WbxmlError::InvalidString { offset }),
            Charset::Latin1 => Ok(raw.iter().map(|&b| char::from(b)).collect()),
        }
    }
}

struct Strings<'a> {
    table: &'a [u8],
    charset: Charset,
}

impl Strings<'_> {
    /// String at `index`; the last entry may lack its terminator because
    /// several OMA DM clients size the table without it.
    fn table_str(&self, index: u32, offset: usize) -> Result<String, WbxmlError> {
        let bad = WbxmlError::BadStringTableRef {
            index,
            table_len: self.table.len(),
            offset,
        };
        let rest = self
            .table
            .get(index as usize..)
            .filter(|r| !r.is_empty())
            .ok_or(bad)?;
        let raw = match rest.iter().position(|&b| b == 0) {
            Some(end) => &rest[..end],
            None => rest,
        };
        self.charset.convert(raw, offset)
    }
}

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    strings: Strings<'a>,
    vocab: &'static Vocabulary,
    tag_page: u8,
    attr_page: u8,
}

impl<'a> Parser<'a> {
    fn body(&mut self) -> Result<Element, WbxmlError> {
        let mut stack: Vec<Element> = Vec::new();
        loop {
            let offset = self.pos;
            let token = self.byte()?;
            match token {
                SWITCH_PAGE => self.tag_page = self.byte()?,
                END => {
                    let done = stack.pop().ok_or(WbxmlError::UnbalancedEnd { offset })?;
                    if let Some(root) = self.attach(&mut stack, done)? {
                        return Ok(root);
                    }
                }
                STR_I => {
                    let s = self.inline_str()?;
                    push_text(&mut stack, &s, offset)?;
                }
                STR_T => {
                    let index = read_mb_u32(self.data, &mut self.pos)?;
                    let s = self.strings.table_str(index, offset)?;
                    push_text(&mut stack, &s, offset)?;
                }
                ENTITY => {
                    let c = self.entity(offset)?;
                    push_text(&mut stack, c.encode_utf8(&mut [0; 4]), offset)?;
                }
                OPAQUE => {
                    let data = self.opaque()?.to_vec();
                    let parent = stack
                        .last_mut()
                        .ok_or(WbxmlError::ContentOutsideRoot { offset })?;
                    parent.children.push(Node::Opaque(data));
                }
                LITERAL | LITERAL_C | LITERAL_A | LITERAL_AC => {
                    let index = read_mb_u32(self.data, &mut self.pos)?;
                    let name = self.strings.table_str(index, offset)?;
                    if let Some(root) = self.open_element(&mut stack, name, token)? {
                        return Ok(root);
                    }
                }
                t if (t & TAG_ID_MASK) >= 0x05 => {
                    let id = t & TAG_ID_MASK;
                    let name =
                        self.vocab
                            .tag_name(self.tag_page, id)
                            .ok_or(WbxmlError::UnknownTag {
                                page: self.tag_page,
                                token: id,
                                offset,
                            })?;
                    if let Some(root) = self.open_element(&mut stack, name.to_string(), token)? {
                        return Ok(root);
                    }
                }
                // EXT_*, PI and the reserved tag ids 0x00-0x04 with flag bits.
                _ => return Err(WbxmlError::UnexpectedToken { token, offset }),
            }
        }
    }

    /// Read the attributes of a new element, then either keep it open or
    /// attach it at once; returns the root when the document is complete.
    fn open_element(
        &mut self,
        stack: &mut Vec<Element>,
        name: String,
        token: u8,
    ) -> Result<Option<Element>, WbxmlError> {
        if stack.len() >= MAX_DEPTH {
            return Err(WbxmlError::TooDeep { limit: MAX_DEPTH });
        }
        let mut element = Element::new(name);
        if token & TAG_HAS_ATTRS != 0 {
            element.attributes = self.attributes()?;
        }
        if token & TAG_HAS_CONTENT != 0 {
            stack.push(element);
            Ok(None)
        } else {
            self.attach(stack, element)
        }
    }

    /// Add a finished element to its parent; a finished root ends the body.
    fn attach(
        &mut self,
        stack: &mut [Element],
        done: Element,
    ) -> Result<Option<Element>, WbxmlError> {
        match stack.last_mut() {
            Some(parent) => {
                parent.children.push(Node::Element(done));
                Ok(None)
            }
            None if self.pos < self.data.len() => {
                Err(WbxmlError::TrailingData { offset: self.pos })
            }
            None => Ok(Some(done)),
        }
    }

    fn attributes(&mut self) -> Result<Vec<(String, String)>, WbxmlError> {
        let mut attrs = Vec::new();
        let mut current: Option<(String, String)> = None;
        loop {
            let offset = self.pos;
            let token = self.byte()?;
            match token {
                END => {
                    attrs.extend(current.take());
                    return Ok(attrs);
                }
                SWITCH_PAGE => self.attr_page = self.byte()?,
                LITERAL => {
                    attrs.extend(current.take());
                    let index = read_mb_u32(self.data, &mut self.pos)?;
                    current = Some((self.strings.table_str(index, offset)?, String::new()));
                }
                STR_I => {
                    let s = self.inline_str()?;
                    value_of(&mut current, offset)?.push_str(&s);
                }
                STR_T => {
                    let index = read_mb_u32(self.data, &mut self.pos)?;
                    let s = self.strings.table_str(index, offset)?;
                    value_of(&mut current, offset)?.push_str(&s);
                }
                ENTITY => {
                    let c = self.entity(offset)?;
                    value_of(&mut current, offset)?.push(c);
                }
                OPAQUE => {
                    let data = self.opaque()?;
                    let (name, value) = current
                        .as_mut()
                        .ok_or(WbxmlError::ValueWithoutAttribute { offset })?;
                    if !self.vocab.is_datetime_attr(name) {
                        return Err(WbxmlError::OpaqueAttribute { name: name.clone() });
                    }
                    let text = decode_datetime(data)
                        .ok_or_else(|| WbxmlError::InvalidDateTime { name: name.clone() })?;
                    value.push_str(&text);
                }
                t if is_attr_global(t) => {
                    return Err(WbxmlError::UnexpectedToken { token, offset })
                }
                t if t >= 0x80 => {
                    let text = self.vocab.attr_value(self.attr_page, t).ok_or(
                        WbxmlError::UnknownAttributeValue {
                            page: self.attr_page,
                            token: t,
                            offset,
                        },
                    )?;
                    value_of(&mut current, offset)?.push_str(text);
                }
                t => {
                    attrs.extend(current.take());
                    let start = self.vocab.attr_start(self.attr_page, t).ok_or(
                        WbxmlError::UnknownAttribute {
                            page: self.attr_page,
                            token: t,
                            offset,
                        },
                    )?;
                    current = Some((start.name.to_string(), start.prefix.to_string()));
                }
            }
        }
    }

    fn byte(&mut self) -> Result<u8, WbxmlError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or(WbxmlError::UnexpectedEof { offset: self.pos })?;
        self.pos += 1;
        Ok(b)
    }

    fn inline_str(&mut self) -> Result<String, WbxmlError> {
        let start = self.pos;
        let rest = self.data.get(start..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(WbxmlError::UnexpectedEof {
                offset: self.data.len(),
            })?;
        self.pos = start + len + 1;
        self.strings.charset.convert(&rest[..len], start)
    }

    fn entity(&mut self, offset: usize) -> Result<char, WbxmlError> {
        let value = read_mb_u32(self.data, &mut self.pos)?;
        char::from_u32(value)
            .filter(|&c| c != '\0')
            .ok_or(WbxmlError::InvalidEntity { value, offset })
    }

    fn opaque(&mut self) -> Result<&'a [u8], WbxmlError> {
        let len = read_mb_u32(self.data, &mut self.pos)? as usize;
        let start = self.pos;
        let all: &'a [u8] = self.data;
        let data = start
            .checked_add(len)
            .and_then(|end| all.get(start..end))
            .ok_or(WbxmlError::UnexpectedEof { offset: all.len() })?;
        self.pos = start + len;
        Ok(data)
    }
}

fn value_of(
    current: &mut Option<(String, String)>,
    offset: usize,
) -> Result<&mut String, WbxmlError> {
    current
        .as_mut()
        .map(|(_, v)| v)
        .ok_or(WbxmlError::ValueWithoutAttribute { offset })
}

/// Append text to the open element, merging with a preceding text node so
/// that strings split by entities or table references read as one.
fn push_text(stack: &mut [Element], s: &str, offset: usize) -> Result<(), WbxmlError> {
    let parent = stack
        .last_mut()
        .ok_or(WbxmlError::ContentOutsideRoot { offset })?;
    match parent.children.last_mut() {
        Some(Node::Text(t)) => t.push_str(s),
        _ => parent.children.push(Node::Text(s.to_string())),
    }
    Ok(())
}
