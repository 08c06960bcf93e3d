//! The string table an encoder builds while writing the body.

use std::collections::HashMap;

use super::error::WbxmlError;

/// Append-only table of NUL-terminated strings, deduplicated so that a
/// repeated literal name costs one reference instead of a second copy.
#[derive(Debug, Default)]
pub struct StringTable {
    bytes: Vec<u8>,
    offsets: HashMap<String, u32>,
}

impl StringTable {
    /// Offset of `s` in the table, adding it if needed.
    pub fn add(&mut self, s: &str) -> Result<u32, WbxmlError> {
        if let Some(&off) = self.offsets.get(s) {
            return Ok(off);
        }
        if s.contains('\0') {
            return Err(WbxmlError::NulInString);
        }
        let off =
            u32::try_from(self.bytes.len()).map_err(|_| WbxmlError::TooLarge("string table"))?;
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.push(0);
        self.offsets.insert(s.to_string(), off);
        Ok(off)
    }

    /// The table's bytes, in the order strings were added.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}
