//! mb_u_int32: the variable-length unsigned integer of WAP-192-WBXML section 5.1.

use super::error::WbxmlError;

/// At most 5 groups of 7 bits are needed for 32 bits.
const MAX_LEN: usize = 5;

/// Append `value` in mb_u_int32 form (big-endian 7-bit groups, high bit = more).
pub fn write_mb_u32(out: &mut Vec<u8>, value: u32) {
    let mut groups = [0u8; MAX_LEN];
    let mut n = 0;
    let mut v = value;
    loop {
        groups[n] = (v & 0x7F) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        let more = if i > 0 { 0x80 } else { 0 };
        out.push(groups[i] | more);
    }
}

/// Read an mb_u_int32 at `*pos`, advancing it.
///
/// Rejects values above `u32::MAX` and encodings longer than five bytes,
/// since an endless run of 0x80 bytes would otherwise be accepted as zero.
pub fn read_mb_u32(data: &[u8], pos: &mut usize) -> Result<u32, WbxmlError> {
    let start = *pos;
    let mut value: u32 = 0;
    for i in 0..MAX_LEN {
        let offset = start + i;
        let byte = *data
            .get(offset)
            .ok_or(WbxmlError::UnexpectedEof { offset })?;
        if value > (u32::MAX >> 7) {
            return Err(WbxmlError::MbUintOverflow { offset: start });
        }
        value = (value << 7) | u32::from(byte & 0x7F);
        if byte & 0x80 == 0 {
            *pos = offset + 1;
            return Ok(value);
        }
    }
    Err(WbxmlError::MbUintOverflow { offset: start })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: u32) -> Vec<u8> {
        let mut out = Vec::new();
        write_mb_u32(&mut out, v);
        out
    }

    #[test]
    fn spec_examples() {
        // WAP-192-WBXML 5.1: 0xA0 is encoded as 0x81 0x20; 0x60 as 0x60.
        assert_eq!(enc(0xA0), vec![0x81, 0x20]);
        assert_eq!(enc(0x60), vec![0x60]);
        assert_eq!(enc(0), vec![0x00]);
        assert_eq!(enc(u32::MAX), vec![0x8F, 0xFF, 0xFF, 0xFF, 0x7F]);
    }

    #[test]
    fn round_trip() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            0x1201,
            2_097_151,
            u32::MAX - 1,
            u32::MAX,
        ] {
            let bytes = enc(v);
            let mut pos = 0;
            assert_eq!(read_mb_u32(&bytes, &mut pos), Ok(v));
            assert_eq!(pos, bytes.len());
        }
    }

    #[test]
    fn rejects_overflow_and_truncation() {
        let mut pos = 0;
        assert_eq!(
            read_mb_u32(&[0x90, 0x80, 0x80, 0x80, 0x00], &mut pos),
            Err(WbxmlError::MbUintOverflow { offset: 0 })
        );
        pos = 0;
        assert_eq!(
            read_mb_u32(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], &mut pos),
            Err(WbxmlError::MbUintOverflow { offset: 0 })
        );
        pos = 0;
        assert_eq!(
            read_mb_u32(&[0x81], &mut pos),
            Err(WbxmlError::UnexpectedEof { offset: 1 })
        );
        pos = 0;
        assert_eq!(
            read_mb_u32(&[], &mut pos),
            Err(WbxmlError::UnexpectedEof { offset: 0 })
        );
    }
}
