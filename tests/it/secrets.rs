//! The OMA-DM shared secrets at rest: sealed in the database under the
//! node's key, readable by every node given the same key, refused by a node
//! (or a command) given another.

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl};
use mdm::auth::Role;
use reqwest::Method;
use serde_json::json;

use crate::common::{run_mdm, spawn_app, SendJson, TestApp};

const MEID: &str = "A1000012345678";

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    device_id: i64,
    #[diesel(sql_type = Text)]
    server_password: String,
    #[diesel(sql_type = Text)]
    client_password: String,
}

async fn stored(app: &TestApp) -> Vec<Row> {
    app.with_conn(|c| {
        diesel::sql_query(
            "SELECT device_id, server_password, client_password FROM dm_accounts ORDER BY device_id",
        )
        .load::<Row>(c)
        .unwrap()
    })
    .await
}

/// A device whose credentials are set on its page, as an operator would.
async fn device_with_credentials(app: &TestApp) -> i64 {
    let (_, token) = app.token(Role::Admin).await;
    let d: serde_json::Value = app
        .api(Method::POST, "/devices", &token)
        .json(&json!({"meid": MEID, "make": "Samsung", "model": "SCH-U960", "firmware_version": "U960.05"}))
        .send_json()
        .await;
    let id = d["id"].as_i64().unwrap();
    app.login_admin().await;
    let page = format!("/devices/{id}");
    let csrf = app.csrf(&page).await;
    let r = app
        .post_form(
            &format!("/devices/{id}/dm-credentials"),
            &[
                ("csrf", &csrf),
                ("client_password", "device-secret-1"),
                ("server_password", "server-secret-1"),
            ],
        )
        .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    id
}

#[tokio::test]
async fn dm_secrets_are_stored_sealed_and_read_back_in_clear() {
    let app = spawn_app().await;
    let id = device_with_credentials(&app).await;
    let rows = stored(&app).await;
    assert_eq!(rows.len(), 1);
    for value in [&rows[0].server_password, &rows[0].client_password] {
        assert!(value.starts_with("sealed:v1:"), "{value}");
        assert!(!value.contains("secret-1"), "{value}");
    }
    let vault = app.vault.clone();
    let acct = app
        .with_conn(move |c| mdm::omadm::account::get(c, &vault, id).unwrap().unwrap())
        .await;
    assert_eq!(acct.client_password, "device-secret-1");
    assert_eq!(acct.server_password, "server-secret-1");

    // Left out on the device page, the server password is generated and
    // shown once.
    let page = format!("/devices/{id}");
    let csrf = app.csrf(&page).await;
    app.post_form(
        &format!("{page}/dm-credentials"),
        &[("csrf", &csrf), ("client_password", "device-secret-2")],
    )
    .await;
    let (_, html) = app.page(&page).await;
    let marker = "Generated server password (shown once): ";
    let start = html.find(marker).expect("the generated password is shown") + marker.len();
    let shown: String = html[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '<')
        .collect();
    let vault = app.vault.clone();
    let acct = app
        .with_conn(move |c| mdm::omadm::account::get(c, &vault, id).unwrap().unwrap())
        .await;
    assert_eq!(acct.server_password, shown);
    let (_, again) = app.page(&page).await;
    assert!(!again.contains(marker), "shown once");

    // Credentials for a device that does not exist are refused by the
    // database's foreign key, and nothing is stored.
    let vault = app.vault.clone();
    let refused = app
        .with_conn(move |c| {
            mdm::omadm::account::set(
                c,
                &vault,
                &mdm::registry::Actor::System("test"),
                999_999,
                &mdm::omadm::account::Credentials {
                    server_id: "mdm",
                    client_username: "MEID:A1000099999999",
                    client_password: "device-secret-9",
                    server_password: "server-secret-9",
                },
            )
            .map(|_| ())
        })
        .await;
    assert!(
        matches!(refused, Err(mdm::registry::RegistryError::NotFound(ref m)) if m == "device 999999"),
        "{refused:?}"
    );
    assert_eq!(stored(&app).await.len(), 1);
}

#[tokio::test]
async fn a_sealed_secret_moved_to_another_device_does_not_open() {
    let app = spawn_app().await;
    let id = device_with_credentials(&app).await;
    let (_, token) = app.token(Role::Admin).await;
    let other: serde_json::Value = app
        .api(Method::POST, "/devices", &token)
        .json(&json!({"meid": "A1000012345679", "make": "Samsung", "model": "SCH-U960", "firmware_version": "U960.05"}))
        .send_json()
        .await;
    let other = other["id"].as_i64().unwrap();
    // Someone with write access to the database copies the first device's
    // sealed secrets to the second device's account.
    app.with_conn(move |c| {
        c.batch_execute(&format!(
            "INSERT INTO dm_accounts (device_id, server_id, server_password, client_username, \
             client_password, client_nonce, server_nonce, updated_at) \
             SELECT {other}, server_id, server_password, 'MEID:A1000012345679', client_password, \
             client_nonce, server_nonce, 0 FROM dm_accounts WHERE device_id = {id}"
        ))
        .unwrap();
    })
    .await;
    let vault = app.vault.clone();
    let read = app
        .with_conn(move |c| mdm::omadm::account::get(c, &vault, other).map(|_| ()))
        .await;
    assert!(
        read.is_err(),
        "a secret sealed for device {id} opened for {other}"
    );
}

#[tokio::test]
async fn secrets_stored_in_clear_are_sealed_when_a_node_starts() {
    let app = spawn_app().await;
    let id = device_with_credentials(&app).await;
    // As a release before sealing (or a bulk load) left them.
    app.with_conn(move |c| {
        c.batch_execute(&format!(
            "UPDATE dm_accounts SET server_password = 'old-server-pw', \
             client_password = 'old-client-pw' WHERE device_id = {id}"
        ))
        .unwrap();
    })
    .await;
    let data_dir = app.data_dir.clone();
    let node = app
        .second_node(move |c| c.data_dir = data_dir)
        .await
        .expect("a node with the same key starts");
    let rows = stored(&app).await;
    assert_eq!(rows[0].device_id, id);
    assert!(rows[0].server_password.starts_with("sealed:v1:"));
    assert!(rows[0].client_password.starts_with("sealed:v1:"));
    let vault = node.vault.clone();
    let acct = node
        .with_conn(move |c| mdm::omadm::account::get(c, &vault, id).unwrap().unwrap())
        .await;
    assert_eq!(
        (acct.client_password.as_str(), acct.server_password.as_str()),
        ("old-client-pw", "old-server-pw")
    );
}

#[tokio::test]
async fn a_node_or_command_with_another_secrets_key_is_refused_before_it_writes() {
    let app = spawn_app().await;
    device_with_credentials(&app).await;
    let before = stored(&app).await;

    let refused = app.second_node(|_| {}).await.err().expect("refused");
    assert!(refused.contains("MDM_SECRETS_KEY"), "{refused}");

    let elsewhere = tempfile::tempdir().unwrap();
    let (url, dir) = (app.database_url.clone(), elsewhere.path().to_path_buf());
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        run_mdm(
            &url,
            &dir,
            &[
                "dm",
                "credentials",
                "--device",
                MEID,
                "--password",
                "another-pass-1",
            ],
            None,
        )
    })
    .await
    .unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("MDM_SECRETS_KEY"), "{err}");
    let after = stored(&app).await;
    assert_eq!(after[0].client_password, before[0].client_password);

    // Given the key, the node starts.
    let key = std::fs::read_to_string(app.data_dir.join("secrets.key")).unwrap();
    let node = app
        .second_node(move |c| c.secrets_key = Some(key.trim().to_string()))
        .await;
    assert!(node.is_ok(), "{:?}", node.err());
}

#[tokio::test]
async fn a_rotated_key_takes_over_the_stored_secrets_when_nodes_start_with_both_keys() {
    let app = spawn_app().await;
    let id = device_with_credentials(&app).await;
    let old_key = std::fs::read_to_string(app.data_dir.join("secrets.key"))
        .unwrap()
        .trim()
        .to_string();
    let new_key = hex::encode([7u8; 32]);

    let (new, old) = (new_key.clone(), old_key.clone());
    let node = app
        .second_node(move |c| {
            c.secrets_key = Some(new);
            c.secrets_previous_key = Some(old);
        })
        .await
        .expect("a node with the new key and the retired one starts");
    // The new key alone now opens every stored secret.
    let new_only = mdm::secrets::Vault::from_key(&[7u8; 32]);
    let acct = node
        .with_conn(move |c| mdm::omadm::account::get(c, &new_only, id).unwrap().unwrap())
        .await;
    assert_eq!(acct.client_password, "device-secret-1");
    assert_eq!(acct.server_password, "server-secret-1");
    // And a node still on the retired key is refused.
    let refused = app
        .second_node(move |c| c.secrets_key = Some(old_key))
        .await
        .err()
        .expect("refused");
    assert!(refused.contains("MDM_SECRETS_KEY"), "{refused}");
    let node = app
        .second_node(move |c| c.secrets_key = Some(new_key))
        .await;
    assert!(node.is_ok(), "{:?}", node.err());
}
