//! Hostile input: nothing may panic, and whatever the decoder accepts must
//! survive an encode/decode round trip unchanged.

use super::super::{MmcDocument, MmcError, MAX_DOCUMENT};
use super::examples::example_texts;
use super::invalid_what;

/// xorshift64*: deterministic, so a failure reproduces from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Decodes and, on success, checks the round trip; returns whether the
/// input was accepted.
fn probe(input: &[u8]) -> bool {
    match MmcDocument::decode(input) {
        Ok(doc) => {
            let text = doc
                .encode()
                .unwrap_or_else(|e| panic!("accepted but not encodable ({e}): {input:?}"));
            assert_eq!(
                MmcDocument::decode(text.as_bytes()).as_ref(),
                Ok(&doc),
                "round trip changed {input:?}"
            );
            true
        }
        Err(_) => false,
    }
}

#[test]
fn deep_nesting_is_refused_at_the_first_unexpected_element() {
    let opened = "<a>".repeat(20_000);
    let inside_root = format!("<mmc version=\"1.0\">{opened}");
    assert_eq!(
        invalid_what(MmcDocument::decode(inside_root.as_bytes())),
        "element"
    );
    let inside_child = format!("<mmc version=\"1.0\"><is683 link=\"forward\" seq=\"1\">{opened}");
    assert_eq!(
        invalid_what(MmcDocument::decode(inside_child.as_bytes())),
        "element"
    );
    assert_eq!(
        invalid_what(MmcDocument::decode(opened.as_bytes())),
        "root element"
    );
}

#[test]
fn huge_input_is_refused_before_parsing() {
    let huge = vec![b'<'; 10 * 1024 * 1024];
    assert_eq!(
        MmcDocument::decode(&huge),
        Err(MmcError::TooLarge(huge.len()))
    );
    let huge_query = "A".repeat(10 * 1024 * 1024);
    assert!(matches!(
        MmcDocument::from_query_value(&huge_query),
        Err(MmcError::TooLarge(_))
    ));
}

#[test]
fn many_small_elements_within_the_size_limit_are_refused() {
    let controls = "<control action=\"start\"/>".repeat(MAX_DOCUMENT / 30);
    let xml = format!("<mmc version=\"1.0\">{controls}</mmc>");
    assert!(xml.len() <= MAX_DOCUMENT);
    assert_eq!(
        invalid_what(MmcDocument::decode(xml.as_bytes())),
        "control action"
    );
}

#[test]
fn every_truncation_of_every_example_is_handled() {
    for text in example_texts() {
        let full = MmcDocument::decode(text.as_bytes()).unwrap();
        for cut in 0..text.len() {
            let prefix = &text.as_bytes()[..cut];
            if probe(prefix) {
                // Only the trailing newline may go missing.
                assert_eq!(MmcDocument::decode(prefix).unwrap(), full, "cut at {cut}");
                assert!(cut >= text.trim_end().len(), "cut at {cut} of {text}");
            }
        }
    }
}

#[test]
fn garbage_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2_000 {
        let len = rng.below(256);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        assert!(!probe(&bytes));
        let _ = MmcDocument::from_query_value(&String::from_utf8_lossy(&bytes));
    }
}

/// Mutates the examples byte-wise and structurally; characters that
/// matter to XML are favoured so the parser is pushed past the first byte.
#[test]
fn mutated_examples_never_panic_and_accepted_ones_round_trip() {
    const INTERESTING: &[u8] = b"<>/=\"'&;#![]-? \t\r\nCDATAmcisx0123456789ABCDEF+";
    let corpus: Vec<&[u8]> = example_texts().iter().map(|t| t.as_bytes()).collect();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mut input = corpus[rng.below(corpus.len())].to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(input.len() + 1);
            match rng.below(6) {
                0 if at < input.len() => input[at] = rng.next() as u8,
                1 => input.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
                2 if at < input.len() => {
                    let end = (at + 1 + rng.below(16)).min(input.len());
                    input.drain(at..end);
                }
                3 if at < input.len() => {
                    let end = (at + 1 + rng.below(32)).min(input.len());
                    let copy = input[at..end].to_vec();
                    let to = rng.below(input.len() + 1);
                    input.splice(to..to, copy);
                }
                4 => {
                    let other = corpus[rng.below(corpus.len())];
                    let from = rng.below(other.len());
                    let end = (from + 1 + rng.below(64)).min(other.len());
                    input.splice(at..at, other[from..end].iter().copied());
                }
                _ => input.truncate(at),
            }
        }
        if probe(&input) {
            accepted += 1;
        }
    }
    // Some mutations (whitespace, digits in seq, letter case of ids) keep a
    // document valid; if none did, the loop would be testing nothing but
    // the first error path.
    assert!(accepted > 100, "only {accepted} mutants were valid");
}
