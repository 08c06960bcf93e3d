//! The %Datetime OPAQUE encoding of WAP-167 (SI binary encoding).
//!
//! "1999-06-25T15:23:15Z" travels as the BCD octets 19 99 06 25 15 23 15,
//! with trailing zero octets dropped, which keeps push messages short
//! enough for a single SMS.

/// Number of octets of a complete date-time (14 BCD digits).
const FULL_LEN: usize = 7;

/// Pack an ISO 8601 UTC date-time (`YYYY-MM-DDThh:mm:ssZ`) into BCD octets.
/// Returns `None` when the text is not in that exact form, so the caller can
/// fall back to sending it as a plain string.
pub fn encode_datetime(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    if b.len() != 20 {
        return None;
    }
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'Z'),
    ];
    if separators.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let digit_positions = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
    let mut digits = [0u8; 14];
    for (d, &i) in digits.iter_mut().zip(digit_positions.iter()) {
        let c = b[i];
        if !c.is_ascii_digit() {
            return None;
        }
        *d = c - b'0';
    }
    let mut out: Vec<u8> = digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect();
    while out.last() == Some(&0) {
        out.pop();
    }
    Some(out)
}

/// Unpack BCD octets into `YYYY-MM-DDThh:mm:ssZ`; `None` on bad length or digits.
pub fn decode_datetime(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() || bytes.len() > FULL_LEN {
        return None;
    }
    let mut digits = [0u8; 14];
    for (i, &octet) in bytes.iter().enumerate() {
        let (hi, lo) = (octet >> 4, octet & 0x0F);
        if hi > 9 || lo > 9 {
            return None;
        }
        digits[2 * i] = hi;
        digits[2 * i + 1] = lo;
    }
    let d = |range: std::ops::Range<usize>| -> String {
        digits[range]
            .iter()
            .map(|&x| char::from(b'0' + x))
            .collect()
    };
    Some(format!(
        "{}-{}-{}T{}:{}:{}Z",
        d(0..4),
        d(4..6),
        d(6..8),
        d(8..10),
        d(10..12),
        d(12..14)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wap167_examples() {
        assert_eq!(
            encode_datetime("1999-06-25T15:23:15Z"),
            Some(vec![0x19, 0x99, 0x06, 0x25, 0x15, 0x23, 0x15])
        );
        assert_eq!(
            encode_datetime("1999-06-30T00:00:00Z"),
            Some(vec![0x19, 0x99, 0x06, 0x30])
        );
        assert_eq!(
            decode_datetime(&[0x19, 0x99, 0x06, 0x30]).as_deref(),
            Some("1999-06-30T00:00:00Z")
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(encode_datetime("1999-06-30"), None);
        assert_eq!(encode_datetime("1999-06-30T00:00:00+01"), None);
        assert_eq!(encode_datetime("19x9-06-30T00:00:00Z"), None);
        assert_eq!(decode_datetime(&[]), None);
        assert_eq!(decode_datetime(&[0x1A]), None);
        assert_eq!(decode_datetime(&[0x19; 8]), None);
    }
}
