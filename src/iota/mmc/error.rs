//! The single error type of the MMC codec.

use thiserror::Error;

use super::{MAX_DOCUMENT, MAX_QUERY_DOCUMENT};

/// Every way encoding or decoding an MMC document can fail. The decoder
/// never panics: any input, however hostile, ends up as one of these.
///
/// `what` in [`MmcError::Invalid`] names the element or attribute at fault
/// (`"esn"`, `"seq"`, `"element order"`, ...) so callers and tests can
/// tell the cases apart without parsing the message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MmcError {
    /// Not well-formed XML, not UTF-8, or XML features the format forbids
    /// (DOCTYPE, processing instructions, content after the root).
    #[error("malformed XML: {0}")]
    Xml(String),
    /// A required element or attribute is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// Well-formed XML that breaks a rule of the MMC format.
    #[error("invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
    /// The document (input or encoded output) is longer than
    /// [`MAX_DOCUMENT`] octets, or [`MAX_QUERY_DOCUMENT`] in a GET query.
    #[error(
        "document too large: {0} octets (limit {MAX_DOCUMENT}, GET query {MAX_QUERY_DOCUMENT})"
    )]
    TooLarge(usize),
}

impl MmcError {
    pub(super) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        MmcError::Invalid {
            what,
            detail: detail.into(),
        }
    }
}

/// Quotes peer-supplied text for an error message, cut short so that a
/// hostile 60 KiB attribute cannot turn into a 60 KiB log line.
pub(super) fn shown(s: &str) -> String {
    const LIMIT: usize = 40;
    match s.char_indices().nth(LIMIT) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
    }
}
