//! Start-up configuration: values that used to panic, be ignored, or
//! quietly open the wrong database stop `mdm` at once with exit status 2
//! and a message naming the variable.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::fresh_database;

struct Pg(Option<(String, String)>);

impl Drop for Pg {
    fn drop(&mut self) {
        crate::common::drop_database(self.0.take());
    }
}

/// Runs `mdm ARGS` in `cwd` with only the given environment (so the
/// caller's MDM_* variables play no part): (status, stderr, seconds taken).
fn mdm_in(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, f64) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_mdm"))
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("MDM_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run mdm");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed().as_secs_f64(),
    )
}

/// `mdm user list` with `env` on top of a usable data dir in `dir`.
fn refused(dir: &Path, env: &[(&str, &str)], variable: &str, says: &str) {
    let data = dir.join("data");
    let mut all = vec![("MDM_DATA_DIR", data.to_str().unwrap())];
    all.extend_from_slice(env);
    let (code, err, _) = mdm_in(dir, &all, &["user", "list"]);
    assert_eq!(code, 2, "{env:?} not refused as configuration: {err}");
    let expected = format!("error: configuration: {variable}: ");
    assert!(err.starts_with(&expected), "{env:?}: {err}");
    assert!(err.contains(says), "{env:?}: {err} lacks {says}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_database_url_of_another_scheme_is_refused_and_creates_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    for url in [
        "mysql://u:p@h/db",
        "garbage://x",
        "postgress://mdm:mdm@127.0.0.1/mdm",
        "file:///tmp/x.db",
    ] {
        let (code, err, _) = mdm_in(
            &cwd,
            &[
                ("DATABASE_URL", url),
                ("MDM_DATA_DIR", dir.path().join("data").to_str().unwrap()),
            ],
            &["user", "list"],
        );
        assert_eq!(code, 2, "{url}: {err}");
        assert!(
            err.starts_with("error: configuration: DATABASE_URL: "),
            "{url}: {err}"
        );
        assert!(err.contains("postgres://"), "{err}");
        // The old behaviour: a SQLite file named after the URL.
        let left: Vec<_> = std::fs::read_dir(&cwd).unwrap().collect();
        assert!(left.is_empty(), "{url} created {left:?}");
    }
}

#[test]
fn a_sqlite_url_a_path_and_a_capitalised_postgres_scheme_open_their_database() {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = fresh_database(dir.path());
    let _pg = Pg(pg);
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let (url, backend) = match url.strip_prefix("postgres://") {
        // The scheme in capitals, as URLs allow.
        Some(rest) => (format!("Postgres://{rest}"), "PostgreSQL"),
        None => (format!("sqlite://{url}"), "SQLite"),
    };
    let out = Command::new(env!("CARGO_BIN_EXE_mdm"))
        .arg("migrate")
        .env_clear()
        .env("DATABASE_URL", &url)
        .env("MDM_DATA_DIR", data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("applied on {backend}")),
        "{stdout}"
    );

    // The server says which database it opened, without the password.
    let mut server = Command::new(env!("CARGO_BIN_EXE_mdm"))
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", &url)
        .env("MDM_DATA_DIR", data)
        .env("MDM_BIND", "127.0.0.1:0")
        .env("MDM_LOG", "info")
        .env("MDM_LOG_FORMAT", "json")
        .env("MDM_PURGE_INTERVAL_SECS", "0")
        .env("MDM_SWEEP_INTERVAL_SECS", "0")
        .env("MDM_CAMPAIGN_INTERVAL_SECS", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = server.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut opened = None;
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        if line.contains("database opened") {
            opened = Some(line.clone());
        }
        let listening = line.contains("listening");
        seen.push(line);
        if listening {
            break;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    let opened = opened.unwrap_or_else(|| panic!("no database line in {seen:#?}"));
    assert!(opened.contains(backend), "{opened}");
    if backend == "SQLite" {
        assert!(opened.contains("test.db"), "{opened}");
    } else {
        let u = url::Url::parse(&url.replacen("Postgres", "postgres", 1)).unwrap();
        assert!(
            opened.contains(u.path().trim_start_matches('/')),
            "{opened}"
        );
        // (The test role's password may equal its name, so the URL's
        // credentials part is looked for, not the bare word.)
        if let Some(password) = u.password() {
            assert!(!opened.contains(&format!(":{password}@")), "{opened}");
        }
        assert!(!opened.contains("://"), "{opened}");
    }
}

#[test]
fn numbers_out_of_range_are_configuration_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    refused(
        d,
        &[("MDM_DB_POOL_SIZE", "0")],
        "MDM_DB_POOL_SIZE",
        "from 1 to 1000",
    );
    for workers in ["0", "100000", "abc", "-2"] {
        refused(
            d,
            &[("MDM_WORKERS", workers)],
            "MDM_WORKERS",
            "from 1 to 512",
        );
    }
    refused(
        d,
        &[("MDM_UPLOAD_LIMIT_BYTES", "0")],
        "MDM_UPLOAD_LIMIT_BYTES",
        "from 1024 to",
    );
    for body in ["0", "100"] {
        refused(
            d,
            &[("MDM_DM_MAX_BODY_BYTES", body)],
            "MDM_DM_MAX_BODY_BYTES",
            "from 4096 to",
        );
    }
    refused(
        d,
        &[("MDM_SMS_MAX_PARTS", "0")],
        "MDM_SMS_MAX_PARTS",
        "from 1 to 255",
    );
    for attempts in ["0", "-1"] {
        refused(
            d,
            &[("MDM_SMS_MAX_ATTEMPTS", attempts)],
            "MDM_SMS_MAX_ATTEMPTS",
            "from 1 to 1000",
        );
    }
}

#[test]
fn a_bad_previous_secrets_key_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    refused(
        dir.path(),
        &[("MDM_SECRETS_PREVIOUS_KEY", "garbage")],
        "MDM_SECRETS_PREVIOUS_KEY",
        "64 hex digits",
    );
    refused(
        dir.path(),
        &[("MDM_SECRETS_KEY", "garbage")],
        "MDM_SECRETS_KEY",
        "64 hex digits",
    );
}

#[test]
fn a_fota_path_over_the_servers_own_pages_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for path in [
        "/login",
        "/api",
        "/api/v1/x",
        "/omadm",
        "/static/x",
        "/dl",
        "/self",
        "/ops",
        "/",
        "fota",
        "/Login",
    ] {
        refused(
            dir.path(),
            &[("MDM_FOTA_PATH", path)],
            "MDM_FOTA_PATH",
            path,
        );
    }
    // A path of its own is fine: the command gets past the configuration.
    let (url, pg) = fresh_database(dir.path());
    let _pg = Pg(pg);
    let data = dir.path().join("data");
    let (code, err, _) = mdm_in(
        dir.path(),
        &[
            ("DATABASE_URL", &url),
            ("MDM_DATA_DIR", data.to_str().unwrap()),
            ("MDM_FOTA_PATH", "/handset/fota-check"),
        ],
        &["migrate"],
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn unusable_directories_are_named_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err, secs) = mdm_in(
        dir.path(),
        &[("MDM_DATA_DIR", "/proc/x")],
        &["user", "list"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("error: configuration: MDM_DATA_DIR: /proc/x"),
        "{err}"
    );
    assert!(secs < 5.0, "took {secs}s");

    let data = dir.path().join("data");
    let (code, err, secs) = mdm_in(
        dir.path(),
        &[
            ("MDM_DATA_DIR", data.to_str().unwrap()),
            ("MDM_BLOB_DIR", "/proc/b"),
        ],
        &["user", "list"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("error: configuration: MDM_BLOB_DIR: /proc/b"),
        "{err}"
    );
    assert!(secs < 5.0, "took {secs}s");

    // A SQLite file elsewhere than the data dir: its own directory.
    let (code, err, _) = mdm_in(
        dir.path(),
        &[
            ("MDM_DATA_DIR", data.to_str().unwrap()),
            ("DATABASE_URL", "/proc/db/mdm.db"),
        ],
        &["user", "list"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("error: configuration: DATABASE_URL: /proc/db"),
        "{err}"
    );
}

#[test]
fn a_refused_postgresql_login_fails_at_once_without_retrying() {
    let Some(admin) = std::env::var("MDM_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return; // PostgreSQL only.
    };
    let mut url = url::Url::parse(&admin).unwrap();
    // A role that does not exist: refused whether the server asks for a
    // password or trusts local connections.
    url.set_username("mdm_round4_no_such_role").unwrap();
    url.set_password(Some("wrong")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (code, err, secs) = mdm_in(
        dir.path(),
        &[
            ("DATABASE_URL", url.as_str()),
            ("MDM_DATA_DIR", data.to_str().unwrap()),
        ],
        &["migrate"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("mdm_round4_no_such_role"), "{err}");
    assert!(secs < 10.0, "took {secs}s: {err}");
    assert!(
        err.lines().count() <= 3,
        "the failure is reported once: {err}"
    );
}
