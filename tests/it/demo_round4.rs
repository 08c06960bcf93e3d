//! The demo data as `mdm demo` and `serve --demo` load it: two loads at
//! once on a fresh database, and a demo handset that updates over the air
//! to the demo's released package with the demo's credentials.

use mdm::omadm::syncml::Encoding;
use mdm::sim::omadm_handset::{FotaOutcome, Handset};
use mdm::sim::trace::Trace;

use crate::common::{spawn_app, TestApp};

fn config_of(app: &TestApp) -> mdm::config::Config {
    // The app's own data directory: its secrets key and blob store.
    mdm::config::Config::for_test(&app.database_url, app.data_dir.clone())
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    app.with_conn(move |c| {
        let rows: Vec<N> = match c {
            mdm::db::DbConnection::Sqlite(c) => {
                diesel::RunQueryDsl::load(diesel::sql_query(sql), c).unwrap()
            }
            mdm::db::DbConnection::Postgres(c) => {
                diesel::RunQueryDsl::load(diesel::sql_query(sql), c).unwrap()
            }
        };
        rows[0].n
    })
    .await
}

#[tokio::test]
async fn two_demo_loads_at_once_both_succeed_and_add_everything_once() {
    let app = spawn_app().await;
    let subscribers = 200;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let loads: Vec<_> = (0..2)
        .map(|_| {
            let (db, config, barrier) = (app.db.clone(), config_of(&app), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                mdm::demo::load_for(&config, &db, subscribers, &mut |_| {})
            })
        })
        .collect();
    let reports: Vec<_> = loads
        .into_iter()
        .map(|t| t.join().unwrap().expect("both loads succeed"))
        .collect();
    let sum = |f: fn(&mdm::demo::DemoReport) -> u32| -> i64 {
        reports.iter().map(|r| i64::from(f(r))).sum()
    };
    assert_eq!(sum(|r| r.profiles), i64::from(subscribers));
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM profiles").await, 200);
    let accounts = count(&app, "SELECT COUNT(*) AS n FROM dm_accounts").await;
    assert!(
        accounts > 40,
        "most OMA-DM handsets have credentials: {accounts}"
    );
    assert_eq!(sum(|r| r.dm_accounts), accounts);
    assert_eq!(sum(|r| r.packages), 2);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM firmware_packages WHERE state = 'released'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM firmware_packages WHERE state = 'draft'"
        )
        .await,
        1
    );
    assert_eq!(sum(|r| r.fota_sessions), 4);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM fota_sessions WHERE state = 'succeeded'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM fota_sessions WHERE state = 'failed'"
        )
        .await,
        1
    );
    // A line pending activation has no services yet.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) AS n FROM profiles WHERE activation_state = 'pending' AND features <> ''"
        )
        .await,
        0
    );
    // Once more, afterwards: nothing added.
    let (db, config) = (app.db.clone(), config_of(&app));
    let again = tokio::task::spawn_blocking(move || {
        mdm::demo::load_for(&config, &db, subscribers, &mut |_| {})
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        (
            again.profiles,
            again.dm_accounts,
            again.packages,
            again.fota_sessions
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) AS n FROM fota_sessions").await,
        4
    );
}

#[tokio::test]
async fn the_readme_demo_handset_updates_to_the_demo_package() {
    let app = spawn_app().await;
    let (db, config) = (app.db.clone(), config_of(&app));
    tokio::task::spawn_blocking(move || mdm::demo::load_for(&config, &db, 10, &mut |_| {}))
        .await
        .unwrap()
        .unwrap();
    let mdn = mdm::demo::demo_mdn(0);
    assert_eq!(mdn, "3122000000");
    let d = app
        .with_conn(move |c| {
            let key = mdm::registry::lookup::DeviceKey::parse(&mdn).unwrap();
            mdm::registry::lookup::find(c, &key).unwrap()
        })
        .await;
    assert_eq!(
        (
            d.make.as_str(),
            d.model.as_str(),
            d.firmware_version.as_str()
        ),
        ("Motorola", "W755", "2.1.4")
    );
    let meid = d.meid.clone().expect("an OMA-DM handset has a MEID");
    // Its secrets are sealed under the server's key, and open with it.
    let (vault, id) = (app.vault.clone(), d.id);
    let acct = app
        .with_conn(move |c| mdm::omadm::account::get(c, &vault, id).unwrap())
        .await
        .expect("the demo handset has OMA-DM credentials");
    assert_eq!(acct.client_password, mdm::demo::DEMO_DM_PASSWORD);

    let dir = tempfile::tempdir().unwrap();
    let trace = Trace::new(Some(dir.path().to_path_buf())).unwrap();
    let mut h = Handset {
        server: app.base.clone(),
        fota_path: "/fota/check".into(),
        dev_id: format!("MEID:{meid}"),
        username: acct.client_username.clone(),
        password: mdm::demo::DEMO_DM_PASSWORD.into(),
        man: "Motorola".into(),
        model: "W755".into(),
        firmware: "2.1.4".into(),
        encoding: Encoding::Wbxml,
        fail: None,
        gateway_header: Some("x-device-id".into()),
        timings: None,
        server_password: Some(acct.server_password.clone()),
        server_nonce: acct.server_nonce_bytes(),
        server_id: Some(acct.server_id.clone()),
        client_nonce: Default::default(),
    };
    let outcome = h.run_fota(&trace).await.unwrap();
    assert_eq!(
        outcome,
        FotaOutcome::Updated {
            from: "2.1.4".into(),
            to: "2.2.0".into()
        }
    );
    let sessions = app
        .with_conn(move |c| mdm::fota::session::for_device(c, id, 10).unwrap())
        .await;
    assert_eq!(sessions[0].state, "succeeded");
}
