use crate::common::fresh_database;

fn mdm(
    database_url: &str,
    data_dir: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
) -> (i32, String, String) {
    crate::common::run_mdm(database_url, data_dir, args, stdin)
}

struct Pg(Option<(String, String)>);

impl Drop for Pg {
    fn drop(&mut self) {
        crate::common::drop_database(self.0.take());
    }
}

#[test]
fn the_cli_migrates_adds_users_and_tokens_imports_and_shows_devices() {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = fresh_database(dir.path());
    let _pg = Pg(pg);
    let data = dir.path().join("data");

    let (code, out, _) = mdm(&url, &data, &["migrate"], None);
    assert_eq!(code, 0);
    assert!(out.contains("migration(s) applied"));

    let (code, out, err) = mdm(
        &url,
        &data,
        &["user", "add", "olga", "--role", "operator"],
        Some("operator-pass-1\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("user olga created with role operator"));
    let (code, _, err) = mdm(
        &url,
        &data,
        &["user", "add", "olga", "--role", "operator"],
        Some("operator-pass-1\n"),
    );
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = mdm(
        &url,
        &data,
        &["user", "add", "eve", "--role", "wizard"],
        Some("whatever-pass\n"),
    );
    assert_ne!(code, 0);
    assert!(err.contains("role must be"));

    let (code, out, _) = mdm(
        &url,
        &data,
        &[
            "token", "create", "billing", "--role", "care", "--days", "90",
        ],
        None,
    );
    assert_eq!(code, 0);
    assert!(out.trim().starts_with("mdm_") && out.trim().len() > 40);

    let csv = dir.path().join("pos.csv");
    std::fs::write(&csv, "mdn,min,account_id,subscriber_name,sid_nid_pairs,esn,make,model,firmware_version\n3125550100,3125550100,A1,Ana,4145/65535,9F100001,Samsung,SCH-U350,U350.01\n3125550101,3125550101,A2,Ben,4145/65535,nope,Samsung,SCH-U350,U350.01\n").unwrap();
    let (code, _, err) = mdm(&url, &data, &["import", csv.to_str().unwrap()], None);
    assert_ne!(code, 0);
    assert!(err.contains("line 3: esn: ESN must be"), "{err}");
    assert!(err.contains("nothing was imported"));
    std::fs::write(&csv, "mdn,min,account_id,subscriber_name,sid_nid_pairs,esn,make,model,firmware_version\n3125550100,3125550100,A1,Ana,4145/65535,9F100001,Samsung,SCH-U350,U350.01\n").unwrap();
    let (code, out, err) = mdm(&url, &data, &["import", csv.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported 1 line(s): 1 profile(s), 1 device(s)"));

    for id in ["9F100001", "15901048577", "3125550100"] {
        let (code, out, err) = mdm(&url, &data, &["device", "show", id, "--json"], None);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["device"]["esn"], "9F100001");
        assert_eq!(v["profile"]["mdn"], "3125550100");
    }
    let pkg = dir.path().join("u960.bin");
    std::fs::write(&pkg, b"delta package bytes").unwrap();
    let (code, out, err) = mdm(
        &url,
        &data,
        &[
            "firmware",
            "add",
            "--make",
            "Samsung",
            "--model",
            "SCH-U350",
            "--from",
            "U350.01",
            "--to",
            "U350.02",
            "--file",
            pkg.to_str().unwrap(),
            "--notes",
            "Better battery life",
            "--release",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("sha256 856700869282639ca2687a738be9845e436d7a275edcaafb860bd6148ad42197"),
        "{out}"
    );
    assert!(out.contains("(19 bytes, released)"), "{out}");
    let (code, _, err) = mdm(
        &url,
        &data,
        &[
            "firmware",
            "add",
            "--make",
            "Samsung",
            "--model",
            "SCH-U350",
            "--from",
            "U350.02",
            "--to",
            "U350.01",
            "--file",
            pkg.to_str().unwrap(),
        ],
        None,
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("must be a later version than U350.02"),
        "{err}"
    );

    let (code, _, err) = mdm(&url, &data, &["device", "show", "12345"], None);
    assert_ne!(code, 0);
    assert!(err.contains("is not an ESN"), "{err}");
}

#[test]
fn demo_data_loads_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = fresh_database(dir.path());
    let _pg = Pg(pg);
    let data = dir.path().join("data");
    let (code, out, err) = mdm(&url, &data, &["demo", "--subscribers", "60"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("60 profiles, 60 devices"), "{out}");
    let (code, out, _) = mdm(&url, &data, &["demo", "--subscribers", "60"], None);
    assert_eq!(code, 0);
    assert!(
        out.contains(
            "0 profiles, 0 devices, 0 capability entries, 0 ESN series added; 60 already present"
        ),
        "{out}"
    );
    let (code, out, _) = mdm(
        &url,
        &data,
        &["device", "show", &mdm::demo::demo_mdn(0), "--json"],
        None,
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["capability"]["protocol"].is_string(),
        "demo devices have capabilities"
    );
}

#[tokio::test]
async fn billing_sim_takes_orders_from_the_billing_adapter() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdm"))
        .args(["billing-sim", "--bind", "127.0.0.1:0", "--fail", "E102"])
        .env("MDM_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("billing-sim starts");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line
        .split("MDM_BILLING_URL=")
        .nth(1)
        .expect("the URL is printed")
        .trim()
        .to_string();
    let client = mdm::billing::BillingClient::new(mdm::billing::BillingConfig::new(url)).unwrap();
    let order = mdm::billing::ServiceOrder {
        mdn: "3125550100".into(),
        account_id: "ACC-1".into(),
        service: "mobile_web".into(),
        action: mdm::billing::Action::Add,
        reference: "test".into(),
    };
    let outcome = client
        .submit(&order, &mdm::billing::new_idempotency_key())
        .await
        .unwrap();
    assert!(
        matches!(outcome, mdm::billing::BillingOutcome::Refused { ref code, .. } if code == "E102"),
        "{outcome:?}"
    );
    line.clear();
    let read = tokio::task::spawn_blocking(move || {
        out.read_line(&mut line).unwrap();
        line
    });
    let printed = read.await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(printed.contains("mobile_web"), "{printed}");
}
