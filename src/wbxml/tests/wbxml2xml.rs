//! Cross-check helper: decode bytes with libwbxml's `wbxml2xml` (Debian
//! package libwbxml2-utils). Tests that use it fail when the tool is
//! missing, because an unchecked encoder is exactly what they guard against.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const TOOL: &str = "/usr/bin/wbxml2xml";
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Run `wbxml2xml -o out.xml in.wbxml` on `bytes` and return the XML text.
/// Panics (failing the test) if the tool is missing, exits non-zero,
/// reports an error, writes no output, or shows unrecognised tokens.
pub fn wbxml2xml(bytes: &[u8]) -> String {
    assert!(
        std::path::Path::new(TOOL).exists(),
        "{TOOL} is missing: install Debian package libwbxml2-utils"
    );
    let dir = scratch_dir();
    let input = dir.join("in.wbxml");
    let output = dir.join("out.xml");
    std::fs::write(&input, bytes).expect("write input");
    let result = Command::new(TOOL)
        .arg("-o")
        .arg(&output)
        .arg(&input)
        .output()
        .expect("run wbxml2xml");
    let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
    assert!(
        result.status.success(),
        "wbxml2xml failed ({}): {stdout}{stderr}",
        result.status
    );
    // OPAQUE binary data is copied verbatim into the XML, so it need not be UTF-8.
    let xml = std::fs::read(&output)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| panic!("wbxml2xml wrote no output ({e}): {stdout}{stderr}"));
    let _ = std::fs::remove_dir_all(&dir);
    // libwbxml exits 0 even for tokens it does not know and prints them as
    // "unknown", so that has to be checked separately.
    assert!(
        !xml.contains("<unknown") && !xml.contains("unknown=\""),
        "wbxml2xml did not recognise some tokens:\n{xml}"
    );
    assert!(!stdout.contains("failed"), "wbxml2xml reported: {stdout}");
    xml
}

/// Assert that wbxml2xml decodes `bytes` and that every needle is in the XML.
pub fn assert_wbxml2xml_contains(bytes: &[u8], needles: &[&str]) -> String {
    let xml = wbxml2xml(bytes);
    for needle in needles {
        assert!(
            xml.contains(needle),
            "wbxml2xml output lacks {needle:?}:\n{xml}"
        );
    }
    xml
}

fn scratch_dir() -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("wbxml-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}
