//! Firmware version ordering. Handset versions mix numbers and letters
//! ("1.2.10", "V2.0b3"), so numeric runs compare as numbers and the rest as text.

use std::cmp::Ordering;

pub fn compare(a: &str, b: &str) -> Ordering {
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(cb.iter()) {
        let ord = match (x, y) {
            (Chunk::Num(p), Chunk::Num(q)) => p.cmp(q),
            (Chunk::Text(p), Chunk::Text(q)) => p.cmp(q),
            (Chunk::Num(_), Chunk::Text(_)) => Ordering::Greater,
            (Chunk::Text(_), Chunk::Num(_)) => Ordering::Less,
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len())
}

/// True when `version` lies within the optional inclusive bounds.
pub fn in_range(version: &str, min: Option<&str>, max: Option<&str>) -> bool {
    min.is_none_or(|m| compare(version, m) != Ordering::Less)
        && max.is_none_or(|m| compare(version, m) != Ordering::Greater)
}

#[derive(Debug, PartialEq, Eq)]
enum Chunk {
    Num(u64),
    Text(String),
}

fn chunks(s: &str) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            let mut n: u64 = 0;
            while let Some(&d) = chars.peek() {
                match d.to_digit(10) {
                    Some(v) => {
                        n = n.saturating_mul(10).saturating_add(u64::from(v));
                        chars.next();
                    }
                    None => break,
                }
            }
            out.push(Chunk::Num(n));
        } else if c.is_alphabetic() {
            let mut t = String::new();
            while let Some(&d) = chars.peek() {
                if d.is_alphabetic() {
                    t.push(d.to_ascii_lowercase());
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Chunk::Text(t));
        } else {
            // Separators only delimit chunks.
            chars.next();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_runs_compare_as_numbers() {
        assert_eq!(compare("1.2.10", "1.2.9"), Ordering::Greater);
        assert_eq!(compare("1.2", "1.2.0"), Ordering::Less);
        assert_eq!(compare("V2.0", "v2.0"), Ordering::Equal);
        assert_eq!(compare("2.0b3", "2.0b12"), Ordering::Less);
    }

    #[test]
    fn ranges_are_inclusive_and_open_ended() {
        assert!(in_range("1.5", Some("1.0"), Some("1.5")));
        assert!(!in_range("1.6", Some("1.0"), Some("1.5")));
        assert!(in_range("9.9", Some("1.0"), None));
        assert!(in_range("0.1", None, None));
        assert!(!in_range("0.9", Some("1.0"), None));
    }
}
