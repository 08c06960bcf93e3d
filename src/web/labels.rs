//! The words the portal shows for the codes it stores: one function per
//! vocabulary, so every screen says the same thing for the same code.

/// A message shown to a person as a sentence starts with a capital letter,
/// whatever lower layer (written for logs) produced it.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An outbox message kind (`dm_notification`) as its filter names it.
pub fn message_kind(code: &str) -> String {
    crate::messaging::outbox::Kind::parse(code)
        .map(|k| k.label().to_string())
        .unwrap_or_else(|| code.to_string())
}

/// A management protocol (`omadm`, `iota`) as the capability registry names it.
pub fn protocol(code: &str) -> String {
    crate::registry::capability::Protocol::parse(code)
        .map(|p| p.label().to_string())
        .unwrap_or_else(|| code.to_string())
}

/// A staff role (`care`) as the Users page names it.
pub fn role(code: &str) -> String {
    crate::auth::Role::parse(code)
        .map(|r| r.label().to_string())
        .unwrap_or_else(|| code.to_string())
}

/// A size in bytes in the largest binary unit it fills (512 MiB, 2 GiB).
pub fn byte_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["GiB", "MiB", "KiB", "bytes"];
    for (i, unit) in UNITS.iter().enumerate() {
        let size = 1u64 << (10 * (3 - i));
        if bytes >= size && size > 1 {
            let whole = bytes / size;
            let tenths = (bytes % size) * 10 / size;
            return if tenths == 0 {
                format!("{whole} {unit}")
            } else {
                format!("{whole}.{tenths} {unit}")
            };
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_for_codes() {
        assert_eq!(capitalised("a password needs"), "A password needs");
        assert_eq!(capitalised(""), "");
        assert_eq!(byte_size(536_870_912), "512 MiB");
        assert_eq!(byte_size(3 << 30), "3 GiB");
        assert_eq!(byte_size(1536), "1.5 KiB");
        assert_eq!(byte_size(100), "100 bytes");
        assert_eq!(protocol("omadm"), "OMA-DM");
        assert_eq!(protocol("iota"), "IOTA");
        assert_eq!(role("care"), "Care agent");
        assert_eq!(message_kind("wap_sl"), "WAP Push SL");
    }
}
