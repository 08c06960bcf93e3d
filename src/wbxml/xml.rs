//! Document -> XML text, for logs, debugging and tests.

use super::codepages::known_vocabulary;
use super::document::{Document, Element, Node, PublicId};
use super::vocabulary::Vocabulary;

/// Render `doc` as indented XML with a DOCTYPE.
///
/// Namespaces of the shipped vocabularies are restored as `xmlns`
/// attributes where the code page changes (SyncML MetInf elements), so the
/// text matches what the XML form of the protocol looks like. OPAQUE data
/// is shown as text when it is printable UTF-8 and as base64 otherwise;
/// the output is meant for people, not for re-parsing binary payloads.
pub fn to_xml(doc: &Document) -> String {
    let vocab = known_vocabulary(&doc.public_id);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    match (vocab, &doc.public_id) {
        (Some(v), _) => out.push_str(&format!(
            "<!DOCTYPE {} PUBLIC \"{}\" \"{}\">\n",
            doc.root.name, v.xml_public_id, v.dtd
        )),
        (None, PublicId::Literal(id)) => out.push_str(&format!(
            "<!DOCTYPE {} PUBLIC \"{}\">\n",
            doc.root.name,
            escape(id)
        )),
        (None, PublicId::Known(_)) => {}
    }
    let mut printer = Printer { out, vocab };
    printer.element(&doc.root, 0, None);
    printer.out
}

struct Printer {
    out: String,
    vocab: Option<&'static Vocabulary>,
}

impl Printer {
    fn element(&mut self, e: &Element, depth: usize, parent_ns: Option<&'static str>) {
        let indent = "  ".repeat(depth);
        let ns = self.namespace_of(&e.name);
        self.out.push_str(&indent);
        self.out.push('<');
        self.out.push_str(&e.name);
        let declares_ns = e.attributes.iter().any(|(n, _)| n == "xmlns");
        if let Some(ns) = ns.filter(|ns| !declares_ns && Some(*ns) != parent_ns) {
            self.out.push_str(&format!(" xmlns=\"{}\"", escape(ns)));
        }
        for (name, value) in &e.attributes {
            self.out
                .push_str(&format!(" {}=\"{}\"", name, escape(value)));
        }
        if e.children.is_empty() {
            self.out.push_str("/>\n");
            return;
        }
        self.out.push('>');
        let child_ns = ns.or(parent_ns);
        let has_elements = e.children.iter().any(|c| matches!(c, Node::Element(_)));
        if !has_elements {
            for child in &e.children {
                self.leaf(child);
            }
        } else {
            self.out.push('\n');
            for child in &e.children {
                match child {
                    Node::Element(c) => self.element(c, depth + 1, child_ns),
                    other => {
                        self.out.push_str(&"  ".repeat(depth + 1));
                        self.leaf(other);
                        self.out.push('\n');
                    }
                }
            }
            self.out.push_str(&indent);
        }
        self.out.push_str(&format!("</{}>\n", e.name));
    }

    fn leaf(&mut self, node: &Node) {
        match node {
            Node::Text(t) => self.out.push_str(&escape(t)),
            Node::Opaque(data) => match std::str::from_utf8(data) {
                Ok(s) if s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t') => {
                    self.out.push_str(&escape(s))
                }
                _ => self.out.push_str(&base64(data)),
            },
            Node::Element(_) => {}
        }
    }

    /// Namespace of the code page holding `name` (first page wins, as in the encoder).
    fn namespace_of(&self, name: &str) -> Option<&'static str> {
        let vocab = self.vocab?;
        let page = vocab.all_tags().find(|t| t.name == name)?.page;
        vocab.namespace(page)
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3F) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
