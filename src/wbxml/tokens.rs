//! Global tokens of WAP-192-WBXML (section 7.1), valid on every code page.

pub const SWITCH_PAGE: u8 = 0x00;
pub const END: u8 = 0x01;
pub const ENTITY: u8 = 0x02;
pub const STR_I: u8 = 0x03;
pub const LITERAL: u8 = 0x04;
pub const LITERAL_C: u8 = 0x44;
pub const STR_T: u8 = 0x83;
pub const LITERAL_A: u8 = 0x84;
pub const OPAQUE: u8 = 0xC3;
pub const LITERAL_AC: u8 = 0xC4;

/// Tag token bit: the element has attributes.
pub const TAG_HAS_ATTRS: u8 = 0x80;
/// Tag token bit: the element has content.
pub const TAG_HAS_CONTENT: u8 = 0x40;
/// Mask that leaves the tag identity.
pub const TAG_ID_MASK: u8 = 0x3F;

/// Whether `b` is a global token in the attribute token space. The globals
/// occupy 0x?0-0x?4 of each quarter (SWITCH_PAGE..LITERAL, EXT_I/PI/LITERAL_C,
/// EXT_T/STR_T/LITERAL_A, EXT/OPAQUE/LITERAL_AC), which is why start and
/// value tokens of every vocabulary begin at 0x05 and 0x85.
pub fn is_attr_global(b: u8) -> bool {
    (b & 0x3F) <= 0x04
}
