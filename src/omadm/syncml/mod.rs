//! OMA DM 1.2 message codec: typed SyncML messages <-> XML text and WBXML.
//!
//! OMA DM 1.2 exchanges SyncML 1.2 messages restricted by
//! OMA-TS-DM_RepPro-V1_2 ("Representation Protocol") in the packages of
//! OMA-TS-DM_Protocol-V1_2. They travel over HTTP as
//! `application/vnd.syncml.dm+xml` or `application/vnd.syncml.dm+wbxml`
//! (OMA-TS-DM_RepPro-V1_2 "MIME media types"; WBXML tokens from
//! OMA-TS-SyncML_RepPro-V1_2 and OMA-TS-SyncML_MetaInfo-V1_2).
//!
//! The codec is pure (no I/O). Both encodings go through the
//! [`crate::wbxml::Document`] model: [`xml`] converts XML text to and from
//! it, the private `convert` module maps it to the typed [`Message`], and
//! [`crate::wbxml::encode`]/[`crate::wbxml::decode`] do the binary form.
//!
//! Decoding is strict about what the DTD requires (`MsgID`, `SessionID`,
//! `CmdID`, status codes, ...; see [`SyncmlError`]) and tolerant about
//! whitespace, namespace prefixes and commands DM does not use, which come
//! back as [`Command::Unknown`] so that the server can answer them with
//! status 406.

mod convert;
mod error;
mod model;
pub mod xml;

#[cfg(test)]
mod tests;

pub use error::SyncmlError;
pub use model::{
    alert_code, Alert, Chal, Command, Container, Cred, Item, ItemCmd, ItemData, Message, Meta,
    Results, Status, SyncBody, SyncHdr,
};

use crate::wbxml::codepages::syncml::SYNCML_12;
use crate::wbxml::{self, Document};
use convert::Target;

/// Content type of XML-encoded DM messages.
pub const CONTENT_TYPE_XML: &str = "application/vnd.syncml.dm+xml";
/// Content type of WBXML-encoded DM messages.
pub const CONTENT_TYPE_WBXML: &str = "application/vnd.syncml.dm+wbxml";

/// Transfer encoding of a DM message, as named by its HTTP content type
/// (OMA-TS-DM_RepPro-V1_2 "MIME media types").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `application/vnd.syncml.dm+xml`.
    Xml,
    /// `application/vnd.syncml.dm+wbxml`.
    Wbxml,
}

impl Encoding {
    /// The encoding named by a Content-Type header value; parameters
    /// (`; charset=utf-8`) and letter case are ignored.
    pub fn from_content_type(content_type: &str) -> Option<Encoding> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case(CONTENT_TYPE_XML) {
            Some(Encoding::Xml)
        } else if media.eq_ignore_ascii_case(CONTENT_TYPE_WBXML) {
            Some(Encoding::Wbxml)
        } else {
            None
        }
    }

    /// The Content-Type header value for this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Xml => CONTENT_TYPE_XML,
            Encoding::Wbxml => CONTENT_TYPE_WBXML,
        }
    }
}

impl Message {
    /// The message as a document in the shape the WBXML encoding uses
    /// (values with Format `bin` as OPAQUE).
    pub fn to_document(&self) -> Document {
        convert::to_document(self, Target::Wbxml)
    }

    /// Decode a message from a document produced by either decoder.
    pub fn from_document(doc: &Document) -> Result<Message, SyncmlError> {
        convert::from_document(doc)
    }

    /// XML text with `<SyncML xmlns="SYNCML:SYNCML1.2">` as root. Binary
    /// values are base64 (Format `bin` is announced as `b64`, since XML
    /// cannot carry raw bytes).
    pub fn to_xml(&self) -> String {
        xml::write(&convert::to_document(self, Target::Xml))
    }

    /// Decode XML text.
    pub fn from_xml(text: &str) -> Result<Message, SyncmlError> {
        Message::from_document(&xml::parse(text)?)
    }

    /// WBXML bytes, with the formal public id
    /// `-//SYNCML//DTD SyncML 1.2//EN` in the string table as DM peers send it.
    pub fn to_wbxml(&self) -> Result<Vec<u8>, SyncmlError> {
        Ok(wbxml::encode(&self.to_document(), &SYNCML_12)?)
    }

    /// Decode WBXML bytes; documents other than SyncML 1.2 are rejected.
    pub fn from_wbxml(bytes: &[u8]) -> Result<Message, SyncmlError> {
        let doc = wbxml::decode(bytes, wbxml::known_vocabulary)?;
        if !SYNCML_12.matches(&doc.public_id) {
            return Err(SyncmlError::WrongDocumentType(doc.public_id.to_string()));
        }
        Message::from_document(&doc)
    }

    /// Bytes in the encoding named by the HTTP content type.
    pub fn encode(&self, enc: Encoding) -> Result<Vec<u8>, SyncmlError> {
        match enc {
            Encoding::Xml => Ok(self.to_xml().into_bytes()),
            Encoding::Wbxml => self.to_wbxml(),
        }
    }

    /// Decode bytes received with the content type of `enc`. XML must be
    /// UTF-8 (with or without byte order mark), as DM peers send it.
    pub fn decode(bytes: &[u8], enc: Encoding) -> Result<Message, SyncmlError> {
        match enc {
            Encoding::Xml => {
                let text = std::str::from_utf8(bytes)
                    .map_err(|e| SyncmlError::Xml(format!("not UTF-8: {e}")))?;
                Message::from_xml(text)
            }
            Encoding::Wbxml => Message::from_wbxml(bytes),
        }
    }
}
