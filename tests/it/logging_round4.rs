//! Operations logging, as an operator reads it from the real binary: one
//! line per request with its status, capability tokens masked, no colour
//! codes in a pipe, the stop logged, and bad log settings refused.

use std::process::{Command, Stdio};

use crate::common::{drop_database, fresh_database, run_mdm};
use crate::served::{serve_command, Served};

const DM_TOKEN: &str = "MFZGnfyuUzaPbWseZRUg";
const NOTIFY_KEY: &str = "AiSkScwB8G8cq5pjNjew";

/// `mdm serve` at info, plain text.
fn start(database_url: &str, data_dir: &std::path::Path) -> Served {
    Served::spawn(
        serve_command(database_url, data_dir)
            .env("MDM_LOG", "info")
            .env_remove("MDM_LOG_FORMAT")
            .env_remove("NO_COLOR"),
    )
}

/// The completion lines of requests whose path starts with `path`.
fn lines_for<'a>(log: &'a str, path: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.contains("request completed") && l.contains(&format!(" path={path}")))
        .collect()
}

#[tokio::test]
async fn every_request_gets_one_line_with_its_status_and_no_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let (database_url, pg) = fresh_database(dir.path());
    let (code, _, err) = run_mdm(&database_url, &data, &["migrate"], None);
    assert_eq!(code, 0, "{err}");
    let package = dir.path().join("pkg.bin");
    std::fs::write(&package, vec![7u8; 50_000]).expect("package file");
    let (code, out, err) = run_mdm(
        &database_url,
        &data,
        &[
            "firmware",
            "add",
            "--make",
            "Acme",
            "--model",
            "A1",
            "--to",
            "2.0",
            "--file",
            package.to_str().expect("utf-8 path"),
            "--release",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let package_id: i64 = out
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no package id in {out:?}"));

    let mut served = start(&database_url, &data);
    let base = format!("http://127.0.0.1:{}", served.port());
    // Redirects not followed: each request is one line.
    let client = crate::common::client();
    let mut asked = Vec::new();
    for (method, path) in [
        ("POST", format!("/omadm?s={DM_TOKEN}")),
        ("GET", format!("/dl/{package_id}/package")),
        (
            "GET",
            format!("/dl/{package_id}/notify?fota=1&key={NOTIFY_KEY}"),
        ),
        ("GET", "/api/v1/devices/lookup/3122000000".to_string()),
        ("GET", "/devices?q=3122".to_string()),
        ("GET", "/healthz".to_string()),
    ] {
        let req = match method {
            "POST" => client
                .post(format!("{base}{path}"))
                .header("Content-Type", "application/vnd.syncml.dm+xml")
                .body("<SyncML/>"),
            _ => client.get(format!("{base}{path}")),
        };
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let body = res.bytes().await.expect("body");
        asked.push((path, status, body.len()));
    }
    // The last line is written when the response has gone out.
    served.wait_for(" path=/healthz ");
    let log = served.stop();

    for (path, status, len) in &asked {
        let logged = path.replace(DM_TOKEN, "***").replace(NOTIFY_KEY, "***");
        let lines = lines_for(&log, &logged);
        assert_eq!(lines.len(), 1, "one line for {logged}:\n{log}");
        assert!(
            lines[0].contains(&format!("status={status}")) && lines[0].contains("request_id="),
            "{logged} answered {status}: {}",
            lines[0]
        );
        if path.ends_with("/package") {
            assert_eq!(*status, 200, "the download is served");
            assert!(lines[0].contains(&format!("bytes={len}")), "{}", lines[0]);
        }
    }
    assert!(
        !log.contains(DM_TOKEN),
        "the DM session token leaked:\n{log}"
    );
    assert!(!log.contains(NOTIFY_KEY), "the notify key leaked:\n{log}");
    assert!(!log.contains('\x1b'), "colour codes in a pipe:\n{log}");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("server stopped"), "{log}");
    drop_database(pg);
}

#[test]
fn bad_log_settings_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (var, value) in [("MDM_LOG", "info,mdm=loud"), ("MDM_LOG_FORMAT", "xml")] {
        let out = Command::new(env!("CARGO_BIN_EXE_mdm"))
            .args(["user", "list"])
            .env("MDM_DATA_DIR", dir.path())
            .env("MDM_LOG", "warn")
            .env(var, value)
            .stdin(Stdio::null())
            .output()
            .expect("run mdm");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {err}");
        assert!(
            err.starts_with(&format!("error: configuration: {var}: ")),
            "{var}={value}: {err}"
        );
        assert!(!dir.path().join("mdm.db").exists(), "nothing was opened");
    }
}

#[test]
fn help_tells_what_dm_does() {
    let out = Command::new(env!("CARGO_BIN_EXE_mdm"))
        .arg("--help")
        .output()
        .expect("run mdm");
    let help = String::from_utf8_lossy(&out.stdout);
    let dm = help
        .lines()
        .find(|l| l.trim_start().starts_with("dm "))
        .unwrap_or_else(|| panic!("no dm in {help}"));
    assert!(dm.contains("commands") && dm.contains("jobs"), "{dm}");
}
