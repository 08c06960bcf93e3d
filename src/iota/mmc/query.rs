//! The document of an HTTP GET. A GET has no body with a defined meaning
//! (RFC 9110 §9.3.1) and WAP gateways drop it, so the handset puts the
//! document in the query parameter [`QUERY_PARAMETER`], base64url-encoded
//! without padding (RFC 4648 §5): that alphabet needs no percent-encoding.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::error::MmcError;
use super::model::MmcDocument;

/// Name of the query parameter that carries a GET's document.
pub const QUERY_PARAMETER: &str = "mmc";

/// Largest document (octets of XML) a GET may carry: its base64url form,
/// 1366 characters, keeps the request line far below the URL limits of
/// handset browsers and WAP gateways. A first GET needs about 200.
pub const MAX_QUERY_DOCUMENT: usize = 1024;

impl MmcDocument {
    /// The value of the `mmc` query parameter for this document.
    pub fn to_query_value(&self) -> Result<String, MmcError> {
        let xml = self.encode()?;
        if xml.len() > MAX_QUERY_DOCUMENT {
            return Err(MmcError::TooLarge(xml.len()));
        }
        Ok(URL_SAFE_NO_PAD.encode(xml))
    }

    /// Decodes the (already percent-decoded) value of the `mmc` query
    /// parameter. A GET without the parameter stands for the empty
    /// document, [`MmcDocument::default`].
    pub fn from_query_value(value: &str) -> Result<MmcDocument, MmcError> {
        // Checked on the encoded length so an oversized value is refused
        // before anything is allocated for it.
        let decoded_len = value.len() / 4 * 3 + (value.len() % 4).saturating_sub(1);
        if decoded_len > MAX_QUERY_DOCUMENT {
            return Err(MmcError::TooLarge(decoded_len));
        }
        let xml = URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|e| MmcError::invalid("mmc query parameter", format!("base64url: {e}")))?;
        MmcDocument::decode(&xml)
    }
}
