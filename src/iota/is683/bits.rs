//! Big-endian (MSB-first) bit reader and writer.
//!
//! C.S0016 lays every field out MSB first with no alignment between
//! fields (e.g. the 34-bit IMSI_S straddles five octets), so all codecs
//! in this module go through these two types rather than byte slicing.

use super::error::Is683Error;

/// Reads fields of 1..=64 bits from a byte slice, most significant bit first.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Current position in bits from the start.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bits not yet consumed.
    pub fn remaining_bits(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos)
    }

    /// Whole octets not yet consumed (only meaningful when aligned).
    pub fn remaining_bytes(&self) -> usize {
        self.remaining_bits() / 8
    }

    pub fn is_aligned(&self) -> bool {
        self.pos.is_multiple_of(8)
    }

    /// Reads `bits` (0..=64) bits as an unsigned integer.
    pub fn read(&mut self, bits: u32, field: &'static str) -> Result<u64, Is683Error> {
        let needed = bits as usize;
        if bits > 64 || needed > self.remaining_bits() {
            return Err(Is683Error::Truncated {
                field,
                offset: self.pos,
                needed,
                available: self.remaining_bits(),
            });
        }
        let mut value: u64 = 0;
        for _ in 0..bits {
            // Bounds were checked above, so `get` cannot miss; the
            // fallback keeps this panic-free regardless.
            let byte = self.data.get(self.pos / 8).copied().unwrap_or(0);
            let bit = (byte >> (7 - (self.pos % 8))) & 1;
            value = (value << 1) | u64::from(bit);
            self.pos += 1;
        }
        Ok(value)
    }

    pub fn read_bool(&mut self, field: &'static str) -> Result<bool, Is683Error> {
        Ok(self.read(1, field)? == 1)
    }

    pub fn read_u8(&mut self, bits: u32, field: &'static str) -> Result<u8, Is683Error> {
        // Callers pass bits <= 8, so the value always fits.
        Ok(self.read(bits.min(8), field)? as u8)
    }

    pub fn read_u16(&mut self, bits: u32, field: &'static str) -> Result<u16, Is683Error> {
        Ok(self.read(bits.min(16), field)? as u16)
    }

    pub fn read_u32(&mut self, bits: u32, field: &'static str) -> Result<u32, Is683Error> {
        Ok(self.read(bits.min(32), field)? as u32)
    }

    /// Reads `count` whole octets (the reader need not be aligned).
    pub fn read_bytes(&mut self, count: usize, field: &'static str) -> Result<Vec<u8>, Is683Error> {
        if count.saturating_mul(8) > self.remaining_bits() {
            return Err(Is683Error::Truncated {
                field,
                offset: self.pos,
                needed: count.saturating_mul(8),
                available: self.remaining_bits(),
            });
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(self.read_u8(8, field)?);
        }
        Ok(out)
    }

    /// Skips to the next octet boundary (RESERVED padding).
    pub fn align(&mut self) {
        let rem = self.pos % 8;
        if rem != 0 {
            self.pos += 8 - rem;
        }
    }
}

/// Writes fields MSB first into a growing byte vector.
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    bit_len: usize,
}

impl BitWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn bit_len(&self) -> usize {
        self.bit_len
    }

    /// Writes the low `bits` bits of `value`; refuses values that do not
    /// fit, because silently truncating would corrupt the air message.
    pub fn write(&mut self, value: u64, bits: u32, field: &'static str) -> Result<(), Is683Error> {
        if bits > 64 || (bits < 64 && value >> bits != 0) {
            return Err(Is683Error::FieldOverflow { field, value, bits });
        }
        for i in (0..bits).rev() {
            let bit = ((value >> i) & 1) as u8;
            if self.bit_len.is_multiple_of(8) {
                self.bytes.push(0);
            }
            if bit == 1 {
                if let Some(last) = self.bytes.last_mut() {
                    *last |= 1 << (7 - (self.bit_len % 8));
                }
            }
            self.bit_len += 1;
        }
        Ok(())
    }

    pub fn write_bool(&mut self, value: bool) {
        // A single bit can never overflow.
        let _ = self.write(u64::from(value), 1, "flag");
    }

    pub fn write_bytes(&mut self, data: &[u8]) {
        for &b in data {
            let _ = self.write(u64::from(b), 8, "octet");
        }
    }

    /// Pads with zero RESERVED bits up to the next octet boundary.
    pub fn align(&mut self) {
        while !self.bit_len.is_multiple_of(8) {
            self.write_bool(false);
        }
    }

    /// Returns the octets, zero-padding a trailing partial octet.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_unaligned_fields() {
        let mut w = BitWriter::new();
        w.write(0b101, 3, "a").unwrap();
        w.write(0x3_FFFF_FFFF, 34, "b").unwrap();
        w.write(0, 3, "c").unwrap();
        w.align();
        let bytes = w.into_bytes();
        assert_eq!(bytes.len(), 5);
        let mut r = BitReader::new(&bytes);
        assert_eq!(r.read(3, "a").unwrap(), 0b101);
        assert_eq!(r.read(34, "b").unwrap(), 0x3_FFFF_FFFF);
        assert_eq!(r.read(3, "c").unwrap(), 0);
        assert!(r.read(1, "d").is_err());
    }

    #[test]
    fn overflow_is_rejected() {
        let mut w = BitWriter::new();
        assert!(matches!(
            w.write(8, 3, "x"),
            Err(Is683Error::FieldOverflow { bits: 3, .. })
        ));
    }
}
