//! The node's secrets key on a fresh data dir without MDM_SECRETS_KEY: every
//! thread and every `mdm` process starting at once ends with the one key
//! that won, and each opens what the others sealed.

use std::path::Path;
use std::sync::{Arc, Barrier};

use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use mdm::secrets::Vault;

use crate::common::spawn_app;

/// The data dir holds one key file and no temporary file left behind.
fn assert_one_key_file(dir: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("secrets"))
        .collect();
    names.sort();
    assert_eq!(names, ["secrets.key"], "in {}", dir.display());
    let key = std::fs::read_to_string(dir.join("secrets.key")).unwrap();
    assert_eq!(key.trim().len(), 64, "a whole key: {key:?}");
}

#[test]
fn threads_starting_together_on_a_fresh_data_dir_all_get_the_same_key() {
    // Several rounds, each on a new dir, so that the race is met often.
    for _ in 0..10 {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("data");
        let starters = 16;
        let barrier = Arc::new(Barrier::new(starters));
        let started: Vec<_> = (0..starters)
            .map(|i| {
                let (dir, barrier) = (dir.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let vault = Vault::load(None, &dir)
                        .unwrap_or_else(|e| panic!("starter {i} has no key: {e}"));
                    let what = format!("dm_accounts.client_password:{i}");
                    let sealed = vault.seal(&what, &format!("secret-{i}"));
                    (vault, what, sealed)
                })
            })
            .collect();
        let vaults: Vec<_> = started.into_iter().map(|t| t.join().unwrap()).collect();
        assert_one_key_file(&dir);
        let on_disk = Vault::load(None, &dir).unwrap();
        for (i, (_, what, sealed)) in vaults.iter().enumerate() {
            for (j, (other, _, _)) in vaults.iter().enumerate() {
                assert_eq!(
                    other.open(what, sealed).unwrap_or_else(|e| panic!(
                        "starter {j} cannot open what starter {i} sealed: {e}"
                    )),
                    format!("secret-{i}")
                );
            }
            assert_eq!(on_disk.open(what, sealed).unwrap(), format!("secret-{i}"));
        }
    }
}

#[derive(QueryableByName)]
struct Sealed {
    #[diesel(sql_type = BigInt)]
    device_id: i64,
    #[diesel(sql_type = Text)]
    client_password: String,
    #[diesel(sql_type = Text)]
    server_password: String,
}

/// Runs `mdm` with `args` against `database_url` and `data_dir`, without a
/// configured secrets key whatever the test's environment holds.
fn mdm_process(database_url: &str, data_dir: &Path, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_mdm"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("MDM_DATA_DIR", data_dir)
        .env_remove("MDM_SECRETS_KEY")
        .env_remove("MDM_SECRETS_PREVIOUS_KEY")
        .env_remove("MDM_BLOB_DIR")
        .env("MDM_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mdm")
}

#[tokio::test]
async fn mdm_processes_starting_together_on_a_fresh_data_dir_seal_under_one_key() {
    // The database is migrated by the app; the processes get a data dir of
    // their own with no key in it yet.
    let app = spawn_app().await;
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("node");
    let children: Vec<_> = (0..4)
        .map(|_| mdm_process(&app.database_url, &dir, &["demo", "--subscribers", "30"]))
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "mdm demo failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_one_key_file(&dir);

    // Whichever process issued them, every demo handset's secrets open
    // with the key on disk.
    let rows: Vec<Sealed> = app
        .with_conn(|c| {
            let q = diesel::sql_query(
                "SELECT device_id, client_password, server_password FROM dm_accounts",
            );
            match c {
                mdm::db::DbConnection::Sqlite(c) => diesel::RunQueryDsl::load(q, c).unwrap(),
                mdm::db::DbConnection::Postgres(c) => diesel::RunQueryDsl::load(q, c).unwrap(),
            }
        })
        .await;
    assert!(
        rows.len() >= 5,
        "the demo issued credentials: {}",
        rows.len()
    );
    let vault = Vault::load(None, &dir).unwrap();
    for r in &rows {
        let what = format!("dm_accounts.client_password:{}", r.device_id);
        assert_eq!(
            vault.open(&what, &r.client_password).unwrap(),
            mdm::demo::DEMO_DM_PASSWORD
        );
        let what = format!("dm_accounts.server_password:{}", r.device_id);
        assert!(vault.open(&what, &r.server_password).is_ok(), "{what}");
    }

    // A command started later on the same dir reads that key and accepts
    // the secrets already stored.
    let out = mdm_process(&app.database_url, &dir, &["demo", "--subscribers", "30"])
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_one_key_file(&dir);
}
