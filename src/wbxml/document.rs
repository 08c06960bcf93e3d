//! The in-memory document model shared by the encoder, decoder and XML printer.

use super::vocabulary::{PublicIdForm, Vocabulary};

/// WBXML version 1.3, the version this codec writes by default.
pub const WBXML_VERSION_1_3: u8 = 0x03;
/// IANA MIBenum of UTF-8, the only charset the encoder writes.
pub const CHARSET_UTF8: u32 = 106;

/// A complete WBXML document: header fields plus the root element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// WBXML version byte (major - 1 in the high nibble, minor in the low one).
    pub version: u8,
    /// Document type identifier.
    pub public_id: PublicId,
    /// IANA MIBenum of the character set (106 = UTF-8).
    pub charset: u32,
    /// The root element.
    pub root: Element,
}

/// How the document type is identified in the WBXML header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PublicId {
    /// A registered numeric public id (e.g. 0x05 for SI 1.0).
    Known(u32),
    /// A formal public identifier carried as a string in the string table
    /// (e.g. `-//SYNCML//DTD SyncML 1.2//EN`, as OMA DM clients send it).
    Literal(String),
}

impl std::fmt::Display for PublicId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublicId::Known(id) => write!(f, "0x{id:x}"),
            PublicId::Literal(s) => write!(f, "\"{s}\""),
        }
    }
}

/// An XML element: name, attributes in document order, and children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Tag name without namespace prefix (code pages carry the namespace).
    pub name: String,
    /// Attributes as (name, value) pairs, in document order.
    pub attributes: Vec<(String, String)>,
    /// Child nodes in document order.
    pub children: Vec<Node>,
}

/// A child of an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A nested element.
    Element(Element),
    /// Character data (adjacent strings and entities are merged when decoding).
    Text(String),
    /// Binary data carried with the OPAQUE token.
    Opaque(Vec<u8>),
}

impl Document {
    /// A WBXML 1.3, UTF-8 document for `vocab`, identified the way real
    /// peers identify it: SyncML/DevInf by the literal public id in the
    /// string table, WAP Push and provisioning documents by their numeric id.
    pub fn new(vocab: &Vocabulary, root: Element) -> Self {
        let public_id = match vocab.public_id_form {
            PublicIdForm::Literal => PublicId::Literal(vocab.xml_public_id.to_string()),
            PublicIdForm::Known => PublicId::Known(vocab.public_id),
        };
        Document {
            version: WBXML_VERSION_1_3,
            public_id,
            charset: CHARSET_UTF8,
            root,
        }
    }
}

impl Element {
    /// An element with no attributes and no children.
    pub fn new(name: impl Into<String>) -> Self {
        Element {
            name: name.into(),
            attributes: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Builder: append an attribute.
    pub fn attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((name.into(), value.into()));
        self
    }

    /// Builder: append a child element.
    pub fn child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    /// Builder: append a text node.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.children.push(Node::Text(text.into()));
        self
    }

    /// Builder: append an OPAQUE node.
    pub fn opaque(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.children.push(Node::Opaque(data.into()));
        self
    }

    /// Builder: an element holding a single text node (`<name>text</name>`).
    pub fn with_text(name: impl Into<String>, text: impl Into<String>) -> Self {
        Element::new(name).text(text)
    }

    /// Value of the first attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Child elements, skipping text and opaque nodes.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// First child element called `name`.
    pub fn find(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    /// Concatenated text of the direct text children (opaque data that is
    /// valid UTF-8 counts too, because SyncML peers use either form).
    pub fn text_content(&self) -> String {
        let mut out = String::new();
        for child in &self.children {
            match child {
                Node::Text(t) => out.push_str(t),
                Node::Opaque(b) => {
                    if let Ok(s) = std::str::from_utf8(b) {
                        out.push_str(s);
                    }
                }
                Node::Element(_) => {}
            }
        }
        out
    }
}
