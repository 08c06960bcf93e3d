//! The single error type of the codec.

use thiserror::Error;

/// Everything that can go wrong while encoding or decoding WBXML.
///
/// Decoder errors carry the byte offset where the problem was detected so
/// that a log line is enough to locate the fault in a captured packet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WbxmlError {
    /// The input ended in the middle of a structure.
    #[error("unexpected end of input at offset {offset}")]
    UnexpectedEof {
        /// Offset at which more bytes were needed.
        offset: usize,
    },
    /// A multi-byte integer does not fit into 32 bits (or is longer than 5 bytes).
    #[error("mb_u_int32 overflow at offset {offset}")]
    MbUintOverflow {
        /// Offset of the first byte of the integer.
        offset: usize,
    },
    /// The WBXML version byte is not one this codec understands.
    #[error("unsupported WBXML version 0x{0:02x}")]
    UnsupportedVersion(u8),
    /// The document character set is not supported.
    #[error("unsupported charset (IANA MIBenum {0})")]
    UnsupportedCharset(u32),
    /// No vocabulary is known for the document's public identifier.
    #[error("no vocabulary for public id {0}")]
    UnknownPublicId(String),
    /// A tag token is not defined on the current code page.
    #[error("unknown tag token 0x{token:02x} on code page {page} at offset {offset}")]
    UnknownTag {
        /// Active tag code page.
        page: u8,
        /// Token with the content/attribute bits stripped.
        token: u8,
        /// Offset of the token.
        offset: usize,
    },
    /// An attribute start token is not defined on the current code page.
    #[error("unknown attribute start token 0x{token:02x} on code page {page} at offset {offset}")]
    UnknownAttribute {
        /// Active attribute code page.
        page: u8,
        /// The token.
        token: u8,
        /// Offset of the token.
        offset: usize,
    },
    /// An attribute value token is not defined on the current code page.
    #[error("unknown attribute value token 0x{token:02x} on code page {page} at offset {offset}")]
    UnknownAttributeValue {
        /// Active attribute code page.
        page: u8,
        /// The token.
        token: u8,
        /// Offset of the token.
        offset: usize,
    },
    /// A global token that is not allowed (or not supported) where it appears.
    #[error("unexpected token 0x{token:02x} at offset {offset}")]
    UnexpectedToken {
        /// The token.
        token: u8,
        /// Offset of the token.
        offset: usize,
    },
    /// A string table reference points outside the table or into nothing usable.
    #[error("bad string table reference {index} (table length {table_len}) at offset {offset}")]
    BadStringTableRef {
        /// The reference read from the stream.
        index: u32,
        /// Length of the string table.
        table_len: usize,
        /// Offset of the reference.
        offset: usize,
    },
    /// A string is not valid in the document character set.
    #[error("invalid string encoding at offset {offset}")]
    InvalidString {
        /// Offset of the string.
        offset: usize,
    },
    /// An ENTITY token names a value that is not a Unicode scalar.
    #[error("invalid character entity {value} at offset {offset}")]
    InvalidEntity {
        /// The entity value.
        value: u32,
        /// Offset of the ENTITY token.
        offset: usize,
    },
    /// END token while no element (or attribute list) is open.
    #[error("END token without an open element at offset {offset}")]
    UnbalancedEnd {
        /// Offset of the END token.
        offset: usize,
    },
    /// Content (text, opaque data, entity) outside of the root element.
    #[error("content outside the root element at offset {offset}")]
    ContentOutsideRoot {
        /// Offset of the content token.
        offset: usize,
    },
    /// Attribute value data before any attribute start.
    #[error("attribute value without attribute name at offset {offset}")]
    ValueWithoutAttribute {
        /// Offset of the value token.
        offset: usize,
    },
    /// An OPAQUE attribute value that the vocabulary does not define a meaning for.
    #[error("opaque value for attribute '{name}' cannot be represented as text")]
    OpaqueAttribute {
        /// Attribute name.
        name: String,
    },
    /// An OPAQUE date/time value with a bad length or non-BCD digits.
    #[error("invalid OPAQUE date/time value for attribute '{name}'")]
    InvalidDateTime {
        /// Attribute name.
        name: String,
    },
    /// Bytes after the root element.
    #[error("trailing data after the root element at offset {offset}")]
    TrailingData {
        /// Offset of the first extra byte.
        offset: usize,
    },
    /// Elements nest deeper than the codec accepts.
    #[error("elements nested deeper than {limit} levels")]
    TooDeep {
        /// The nesting limit.
        limit: usize,
    },
    /// The header's public id cannot be written (0 is reserved for string-table ids).
    #[error("invalid public id {0}")]
    InvalidPublicId(String),
    /// The body contains no root element.
    #[error("document has no root element")]
    MissingRoot,
    /// A string to be encoded contains a NUL character, which WBXML cannot carry inline.
    #[error("string contains a NUL character, which cannot be encoded")]
    NulInString,
    /// A value is too large for an mb_u_int32 field (string table over 4 GiB, ...).
    #[error("value too large to encode: {0}")]
    TooLarge(&'static str),
}
