//! Idempotency keys: made here, checked before anything is sent.

use rand::Rng;

use super::error::BillingError;

const MAX_KEY_LEN: usize = 255;

/// A fresh key for one logical order: 128 random bits as 32 lowercase hex
/// characters. `thread_rng` is a CSPRNG, so two orders never share a key by
/// chance, even across nodes.
pub fn new_idempotency_key() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes: [u8; 16] = rand::thread_rng().gen();
    let mut key = String::with_capacity(32);
    for b in bytes {
        key.push(char::from(HEX[usize::from(b >> 4)]));
        key.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    key
}

/// Refuses keys the gateway could not deduplicate on: an empty one would
/// make every retry a new order, and anything outside visible ASCII may not
/// survive a header intact.
pub(super) fn check(key: &str) -> Result<(), BillingError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BillingError::Config(format!(
            "the idempotency key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_32_lowercase_hex_and_differ() {
        let a = new_idempotency_key();
        let b = new_idempotency_key();
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_ne!(a, b);
        assert!(check(&a).is_ok());
    }

    #[test]
    fn unusable_keys_are_refused() {
        for bad in ["", "has space", "tab\t", "é", &"k".repeat(256)] {
            assert!(
                matches!(check(bad), Err(BillingError::Config(_))),
                "{bad:?}"
            );
        }
        assert!(check(&"k".repeat(255)).is_ok());
    }
}
