//! MMC (Mobile Management Command) documents: the XML that an IOTA
//! (IP-based over-the-air, 3GPP2 C.S0040) handset client and the IOTA HTTP
//! server exchange to tunnel IS-683 OTASP/OTAPA messages over HTTP.
//!
//! No normative schema is freely available, so this module defines
//! versions 1.0 and 1.1 (IOTA FOTA) of the format; `docs/iota-mmc.md` is
//! its specification, with the call flows and worked examples.
//!
//! ```text
//! <mmc version="1.0|1.1" session="S">                      session once assigned
//!   <device esn="..." meid="..." make="..." model="..."
//!           firmware="..."/>                                optional; firmware: 1.1
//!   <control action="start|terminate|reboot" reason="..."/> zero to three
//!   <is683 link="forward|reverse" seq="N">BASE64</is683>    zero to 64
//!   <package href="URL" version="..." size="N" sha256="HEX"
//!            mandatory="true|false"/>                       optional, 1.1
//!   <status code="NNN">text</status>                        optional
//! </mmc>
//! ```
//!
//! The decoder reads both versions and refuses a 1.0 document that uses a
//! 1.1 item; the encoder writes 1.1 only for a document that uses one
//! ([`MmcDocument::version`]), so 1.0 documents keep their exact text.
//!
//! IS-683 messages stay opaque octets here; decoding them is the job of
//! the IS-683 codec, which keeps the two modules independent.
//!
//! Pure functions only: no I/O, no clock. Decoding never panics.

mod decode;
mod encode;
mod error;
mod model;
mod query;
mod rules;

#[cfg(test)]
pub(crate) mod tests;

pub use error::MmcError;
pub use model::{
    Control, ControlItem, DeviceInfo, Is683Payload, Link, MmcDocument, PackageItem, StatusItem,
};
pub use query::{MAX_QUERY_DOCUMENT, QUERY_PARAMETER};

/// Media type of every MMC document body, in requests and responses.
pub const CONTENT_TYPE: &str = "application/vnd.mdm.iota-mmc+xml";

/// The base format version: the decoder reads it, and the encoder writes
/// it for every document that uses no item new in [`VERSION_1_1`].
pub const VERSION: &str = "1.0";

/// Format version 1.1 (IOTA FOTA): adds `<device firmware>` and
/// `<package>`. The decoder reads it; the encoder writes it exactly when a
/// document uses one of those items ([`MmcDocument::version`]).
pub const VERSION_1_1: &str = "1.1";

/// Longest `href` of a `<package>`, in characters (all ASCII).
pub const MAX_PACKAGE_HREF: usize = 1024;

/// Largest document accepted or produced, in octets. 64 messages the size
/// of the largest routine one (an SSPR Download Request with a full
/// 251-octet PRL segment: 258 octets, 344 base64 characters) take about
/// 25 KiB, so the limit only stops abuse.
pub const MAX_DOCUMENT: usize = 64 * 1024;

/// Most `<is683>` elements in one document.
pub const MAX_MESSAGES: usize = 64;
