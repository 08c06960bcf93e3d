//! WBXML 1.3 codec (WAP-192-WBXML-20010725-a, "WAP Binary XML Content
//! Format") over a small document model, with the token tables needed by
//! the device-management server.
//!
//! The module is pure: no I/O, no global state. [`encode`] turns a
//! [`Document`] into bytes with a [`Vocabulary`], [`decode`] does the
//! reverse with a lookup from public id to vocabulary (usually
//! [`known_vocabulary`]), and [`to_xml`] renders a document for logs.
//!
//! # Where the token values come from
//!
//! | Table | Public id | Standard |
//! |-------|-----------|----------|
//! | [`codepages::syncml`] (page 0) | 0x1201 / `-//SYNCML//DTD SyncML 1.2//EN` | OMA-TS-SyncML_RepPro-V1_2 (SyncML representation protocol, WBXML token table), used by OMA-TS-DM_RepPro-V1_2 |
//! | [`codepages::metinf`] (page 1) | 0x1202 / `-//SYNCML//DTD MetInf 1.2//EN` | OMA-TS-SyncML_MetaInfo-V1_2 (namespace `syncml:metinf`) |
//! | [`codepages::devinf`] | 0x1203 / `-//SYNCML//DTD DevInf 1.2//EN` | OMA-TS-DS_DevInf-V1_2 |
//! | [`codepages::si`] | 0x05 / `-//WAPFORUM//DTD SI 1.0//EN` | WAP-167-ServiceInd-20010731-a (token tables, %Datetime as OPAQUE) |
//! | [`codepages::sl`] | 0x06 / `-//WAPFORUM//DTD SL 1.0//EN` | WAP-168-ServiceLoad-20010731-a (token tables) |
//! | [`codepages::provisioning`] | 0x0B / `-//WAPFORUM//DTD PROV 1.0//EN` | OMA-WAP-TS-ProvCont-V1_1 (and WAP-183-ProvCont-20010724-a) |
//!
//! The values were cross-checked against the tables of libwbxml
//! (`wbxml_tables.c`), which most deployed decoders derive from, and the
//! test suite feeds every encoder output to libwbxml's `wbxml2xml`.
//!
//! # What the decoder accepts
//!
//! WBXML 1.0-1.3; UTF-8, US-ASCII and ISO-8859-1; numeric or string-table
//! public ids; STR_I, STR_T, ENTITY, OPAQUE, LITERAL tags and attributes,
//! SWITCH_PAGE in tag and attribute state. EXT_* and processing
//! instructions are rejected, as are unknown tokens, bad string-table
//! references, unbalanced END, trailing bytes and nesting deeper than
//! [`MAX_DEPTH`].

pub mod codepages;
mod datetime;
mod decode;
mod document;
mod encode;
mod error;
mod mbint;
mod strtable;
mod tokens;
mod vocabulary;
mod xml;

pub use codepages::known_vocabulary;
pub use decode::decode;
pub use document::{Document, Element, Node, PublicId, CHARSET_UTF8, WBXML_VERSION_1_3};
pub use encode::encode;
pub use error::WbxmlError;
pub use vocabulary::{
    AttrStartToken, AttrValueToken, PublicIdForm, TagToken, ValueTokenUse, Vocabulary,
};
pub use xml::to_xml;

/// Deepest element nesting the codec handles. Real documents stay below
/// 20 levels; the limit keeps hostile input from exhausting the stack.
pub const MAX_DEPTH: usize = 256;

#[cfg(test)]
mod tests;
