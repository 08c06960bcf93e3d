//! The wire trace: every HTTP body the handset sent and received, one
//! numbered file each, in the order they crossed the wire.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Trace {
    dir: Option<PathBuf>,
    n: AtomicU32,
}

impl Trace {
    pub fn new(dir: Option<PathBuf>) -> Result<Trace, std::io::Error> {
        if let Some(d) = &dir {
            std::fs::create_dir_all(d)?;
        }
        Ok(Trace {
            dir,
            n: AtomicU32::new(0),
        })
    }

    /// Writes `NNN-<direction>-<what>.<ext>`.
    pub fn record(
        &self,
        direction: &str,
        what: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(), std::io::Error> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let n = self.n.fetch_add(1, Ordering::Relaxed) + 1;
        let ext = if content_type.contains("wbxml") {
            "wbxml"
        } else if content_type.contains("xml") {
            "xml"
        } else if content_type.contains("text") {
            "txt"
        } else {
            "bin"
        };
        let name: String = what
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        std::fs::write(dir.join(format!("{n:03}-{direction}-{name}.{ext}")), body)
    }
}
