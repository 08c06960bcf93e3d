//! WAP Push Service Indication 1.0 (WAP-167-ServiceInd-20010731-a, binary encoding
//! token tables).

use super::super::vocabulary::{
    AttrStartToken, AttrValueToken, PublicIdForm, TagToken, ValueTokenUse, Vocabulary,
};
use super::{attr, tag, value};

/// Tag tokens.
pub static SI_TAGS: [TagToken; 4] = [
    tag(0, 0x05, "si"),
    tag(0, 0x06, "indication"),
    tag(0, 0x07, "info"),
    tag(0, 0x08, "item"),
];

/// Attribute start tokens; the href tokens carry URL scheme prefixes.
pub static SI_ATTR_STARTS: [AttrStartToken; 14] = [
    attr(0, 0x05, "action", "signal-none"),
    attr(0, 0x06, "action", "signal-low"),
    attr(0, 0x07, "action", "signal-medium"),
    attr(0, 0x08, "action", "signal-high"),
    attr(0, 0x09, "action", "delete"),
    attr(0, 0x0A, "created", ""),
    attr(0, 0x0B, "href", ""),
    attr(0, 0x0C, "href", "http://"),
    attr(0, 0x0D, "href", "http://www."),
    attr(0, 0x0E, "href", "https://"),
    attr(0, 0x0F, "href", "https://www."),
    attr(0, 0x10, "si-expires", ""),
    attr(0, 0x11, "si-id", ""),
    attr(0, 0x12, "class", ""),
];

/// Attribute value tokens (top-level domains inside URLs).
pub static SI_ATTR_VALUES: [AttrValueToken; 4] = [
    value(0, 0x85, ".com/"),
    value(0, 0x86, ".edu/"),
    value(0, 0x87, ".net/"),
    value(0, 0x88, ".org/"),
];

/// SI 1.0 (public id 0x05).
pub static SI_10: Vocabulary = Vocabulary {
    name: "SI 1.0",
    public_id: 0x05,
    xml_public_id: "-//WAPFORUM//DTD SI 1.0//EN",
    dtd: "http://www.wapforum.org/DTD/si.dtd",
    root: "si",
    public_id_form: PublicIdForm::Known,
    namespaces: &[],
    tags: &[&SI_TAGS],
    attr_starts: &[&SI_ATTR_STARTS],
    attr_values: &[&SI_ATTR_VALUES],
    value_tokens: ValueTokenUse::Anywhere,
    datetime_attrs: &["created", "si-expires"],
};
