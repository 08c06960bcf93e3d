//! The single error type of the SyncML codec.

use thiserror::Error;

use crate::wbxml::WbxmlError;

/// Everything that can go wrong while turning bytes or text into a
/// [`super::Message`] or back.
///
/// The messages name the offending element (as a path such as
/// `SyncBody/Status/CmdID`) so a log line is enough to see which part of a
/// device's package broke the session.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SyncmlError {
    /// The XML text is not well-formed (or is not UTF-8).
    #[error("malformed XML: {0}")]
    Xml(String),
    /// The WBXML bytes could not be decoded or the document could not be encoded.
    #[error("WBXML: {0}")]
    Wbxml(#[from] WbxmlError),
    /// The document's root element is not `SyncML`.
    #[error("root element is <{0}>, expected <SyncML>")]
    WrongRoot(String),
    /// A WBXML document carries a public id other than SyncML 1.2.
    #[error("WBXML document type {0} is not SyncML 1.2")]
    WrongDocumentType(String),
    /// An element the DTD requires is absent.
    #[error("missing required element {0}")]
    Missing(String),
    /// An element that must hold a number holds something else.
    #[error("element {element} must be a number, got {value:?}")]
    NotANumber {
        /// Path of the element.
        element: String,
        /// Its (trimmed) text.
        value: String,
    },
    /// Text that the Format says is base64 is not.
    #[error("element {0} is declared as b64 but is not valid base64")]
    BadBase64(String),
}
