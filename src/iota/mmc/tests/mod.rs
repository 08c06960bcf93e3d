//! Unit tests: the documented examples (`examples.rs`), one test per
//! validation rule (`validation.rs`), the rules of format version 1.1
//! (`version_1_1.rs`) and hostile input (`hostile.rs`).

/// The worked examples of docs/iota-mmc.md, shared with the handset
/// simulator's tests.
pub(crate) mod examples;
mod hostile;
mod validation;
mod version_1_1;

use super::{Control, ControlItem, Is683Payload, Link, MmcDocument, MmcError};

fn fwd(seq: u32, bytes: &[u8]) -> Is683Payload {
    Is683Payload {
        link: Link::Forward,
        seq,
        bytes: bytes.to_vec(),
    }
}

fn rev(seq: u32, bytes: &[u8]) -> Is683Payload {
    Is683Payload {
        link: Link::Reverse,
        seq,
        bytes: bytes.to_vec(),
    }
}

fn control(action: Control) -> ControlItem {
    ControlItem {
        action,
        reason: None,
    }
}

fn decode_str(xml: &str) -> Result<MmcDocument, MmcError> {
    MmcDocument::decode(xml.as_bytes())
}

/// The `what` of an [`MmcError::Invalid`], for matching error kinds
/// without spelling out the detail text.
fn invalid_what(result: Result<MmcDocument, MmcError>) -> &'static str {
    match result {
        Err(MmcError::Invalid { what, .. }) => what,
        other => panic!("expected MmcError::Invalid, got {other:?}"),
    }
}

/// Like [`invalid_what`], for a value the encoder must refuse.
fn encode_what(doc: &MmcDocument) -> &'static str {
    match doc.encode() {
        Err(MmcError::Invalid { what, .. }) => what,
        other => panic!("expected MmcError::Invalid, got {other:?}"),
    }
}
