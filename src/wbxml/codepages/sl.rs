//! WAP Push Service Loading 1.0 (WAP-168-ServiceLoad-20010731-a, binary encoding
//! token tables).

use super::super::vocabulary::{
    AttrStartToken, AttrValueToken, PublicIdForm, TagToken, ValueTokenUse, Vocabulary,
};
use super::{attr, tag, value};

/// Tag tokens.
pub static SL_TAGS: [TagToken; 1] = [tag(0, 0x05, "sl")];

/// Attribute start tokens; the href tokens carry URL scheme prefixes.
pub static SL_ATTR_STARTS: [AttrStartToken; 8] = [
    attr(0, 0x05, "action", "execute-low"),
    attr(0, 0x06, "action", "execute-high"),
    attr(0, 0x07, "action", "cache"),
    attr(0, 0x08, "href", ""),
    attr(0, 0x09, "href", "http://"),
    attr(0, 0x0A, "href", "http://www."),
    attr(0, 0x0B, "href", "https://"),
    attr(0, 0x0C, "href", "https://www."),
];

/// Attribute value tokens (top-level domains inside URLs).
pub static SL_ATTR_VALUES: [AttrValueToken; 4] = [
    value(0, 0x85, ".com/"),
    value(0, 0x86, ".edu/"),
    value(0, 0x87, ".net/"),
    value(0, 0x88, ".org/"),
];

/// SL 1.0 (public id 0x06).
pub static SL_10: Vocabulary = Vocabulary {
    name: "SL 1.0",
    public_id: 0x06,
    xml_public_id: "-//WAPFORUM//DTD SL 1.0//EN",
    dtd: "http://www.wapforum.org/DTD/sl.dtd",
    root: "sl",
    public_id_form: PublicIdForm::Known,
    namespaces: &[],
    tags: &[&SL_TAGS],
    attr_starts: &[&SL_ATTR_STARTS],
    attr_values: &[&SL_ATTR_VALUES],
    value_tokens: ValueTokenUse::Anywhere,
    datetime_attrs: &[],
};
