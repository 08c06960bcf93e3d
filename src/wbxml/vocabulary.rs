//! Token tables (code pages) that map element and attribute names to WBXML tokens.

use super::document::PublicId;

/// A tag token: element `name` is `token` on tag code page `page`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagToken {
    /// Tag code page.
    pub page: u8,
    /// Token value (0x05..=0x3F) without content/attribute bits.
    pub token: u8,
    /// Element name.
    pub name: &'static str,
}

/// An attribute start token: attribute `name` whose value begins with `prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrStartToken {
    /// Attribute code page.
    pub page: u8,
    /// Token value (0x05..=0x7F, globals excluded).
    pub token: u8,
    /// Attribute name.
    pub name: &'static str,
    /// Value prefix implied by the token ("" when the token names only the attribute).
    pub prefix: &'static str,
}

/// An attribute value token: `value` is `token` on attribute code page `page`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrValueToken {
    /// Attribute code page.
    pub page: u8,
    /// Token value (0x85..=0xFF, globals excluded).
    pub token: u8,
    /// The text the token stands for.
    pub value: &'static str,
}

/// How a vocabulary's documents identify themselves in the WBXML header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicIdForm {
    /// Numeric public id (WAP Push, provisioning).
    Known,
    /// Formal public identifier in the string table (what OMA DM/DS peers send).
    Literal,
}

/// How attribute values are split into value tokens when encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueTokenUse {
    /// Value tokens may replace any substring (URL fragments such as ".com/").
    Anywhere,
    /// Value tokens only replace a whole value (enumerations such as "IPV4"),
    /// because substrings like "," or "MAN" inside free text are not meant as tokens.
    WholeValue,
}

/// The token tables of one document type.
#[derive(Debug)]
pub struct Vocabulary {
    /// Human-readable name, e.g. "SyncML 1.2".
    pub name: &'static str,
    /// Registered numeric WBXML public id.
    pub public_id: u32,
    /// Formal public identifier of the DTD.
    pub xml_public_id: &'static str,
    /// System identifier (DTD URL) for the DOCTYPE.
    pub dtd: &'static str,
    /// Name of the root element.
    pub root: &'static str,
    /// How the encoder identifies documents by default (see [`super::Document::new`]).
    pub public_id_form: PublicIdForm,
    /// XML namespace of each tag code page, for `xmlns` in the XML rendering.
    pub namespaces: &'static [(u8, &'static str)],
    /// Tag tables; several tables let one vocabulary reuse another's code
    /// page (SyncML embeds the MetInf page as code page 1).
    pub tags: &'static [&'static [TagToken]],
    /// Attribute start tables.
    pub attr_starts: &'static [&'static [AttrStartToken]],
    /// Attribute value tables.
    pub attr_values: &'static [&'static [AttrValueToken]],
    /// Splitting policy for attribute values.
    pub value_tokens: ValueTokenUse,
    /// Attributes whose values are %Datetime and travel as OPAQUE
    /// (WAP-167 packs them as BCD digits).
    pub datetime_attrs: &'static [&'static str],
}

impl Vocabulary {
    /// Every tag token of every table.
    pub fn all_tags(&self) -> impl Iterator<Item = &TagToken> + Clone {
        self.tags.iter().flat_map(|t| t.iter())
    }

    /// Every attribute start token of every table.
    pub fn all_attr_starts(&self) -> impl Iterator<Item = &AttrStartToken> + Clone {
        self.attr_starts.iter().flat_map(|t| t.iter())
    }

    /// Every attribute value token of every table.
    pub fn all_attr_values(&self) -> impl Iterator<Item = &AttrValueToken> + Clone {
        self.attr_values.iter().flat_map(|t| t.iter())
    }

    /// Whether `id` designates this vocabulary (numeric id or formal public id).
    pub fn matches(&self, id: &PublicId) -> bool {
        match id {
            PublicId::Known(n) => *n == self.public_id,
            PublicId::Literal(s) => s.trim() == self.xml_public_id,
        }
    }

    /// Element name of `token` on tag page `page`.
    pub fn tag_name(&self, page: u8, token: u8) -> Option<&'static str> {
        self.all_tags()
            .find(|t| t.page == page && t.token == token)
            .map(|t| t.name)
    }

    /// Token for element `name`, preferring the current page to avoid SWITCH_PAGE.
    pub fn tag_token(&self, name: &str, current_page: u8) -> Option<TagToken> {
        let mut candidates = self.all_tags().filter(|t| t.name == name);
        let first = candidates.clone().next().copied();
        candidates
            .find(|t| t.page == current_page)
            .copied()
            .or(first)
    }

    /// Attribute start `token` on attribute page `page`.
    pub fn attr_start(&self, page: u8, token: u8) -> Option<AttrStartToken> {
        self.all_attr_starts()
            .find(|a| a.page == page && a.token == token)
            .copied()
    }

    /// Best attribute start for `name`=`value`: the longest matching prefix,
    /// then the current page. Under [`ValueTokenUse::WholeValue`] a prefix
    /// must be the whole value, since those prefixes are enumerated names.
    pub fn best_attr_start(
        &self,
        name: &str,
        value: &str,
        current_page: u8,
    ) -> Option<AttrStartToken> {
        let whole_only = self.value_tokens == ValueTokenUse::WholeValue;
        self.all_attr_starts()
            .filter(|a| a.name == name && value.starts_with(a.prefix))
            .filter(|a| !whole_only || a.prefix.is_empty() || a.prefix == value)
            .max_by_key(|a| {
                (
                    a.prefix.len(),
                    a.page == current_page,
                    std::cmp::Reverse(a.page),
                )
            })
            .copied()
    }

    /// Text of attribute value `token` on attribute page `page`.
    pub fn attr_value(&self, page: u8, token: u8) -> Option<&'static str> {
        self.all_attr_values()
            .find(|v| v.page == page && v.token == token)
            .map(|v| v.value)
    }

    /// Longest value token that `text` starts with, preferring the current page.
    pub fn value_token_prefix(&self, text: &str, current_page: u8) -> Option<AttrValueToken> {
        self.all_attr_values()
            .filter(|v| !v.value.is_empty() && text.starts_with(v.value))
            .max_by_key(|v| {
                (
                    v.value.len(),
                    v.page == current_page,
                    std::cmp::Reverse(v.page),
                )
            })
            .copied()
    }

    /// Value token equal to the whole of `text`, preferring the current page.
    pub fn value_token_exact(&self, text: &str, current_page: u8) -> Option<AttrValueToken> {
        self.all_attr_values()
            .filter(|v| v.value == text)
            .max_by_key(|v| (v.page == current_page, std::cmp::Reverse(v.page)))
            .copied()
    }

    /// Namespace of tag page `page`, if the vocabulary names one.
    pub fn namespace(&self, page: u8) -> Option<&'static str> {
        self.namespaces
            .iter()
            .find(|(p, _)| *p == page)
            .map(|(_, ns)| *ns)
    }

    /// Whether attribute `name` carries a %Datetime value.
    pub fn is_datetime_attr(&self, name: &str) -> bool {
        self.datetime_attrs.contains(&name)
    }
}
