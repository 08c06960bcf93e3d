//! Several nodes on one database, round 3: package files every node can
//! serve (or a handset told to retry, and an operator told why), sign-in
//! locks that stay with the person who mistyped, and a demo load that
//! cannot duplicate the capability catalogue.

use diesel::connection::SimpleConnection;
use mdm::auth::Role;

use crate::common::{client, csrf_of, spawn_app_with, TestApp, ADMIN_PASSWORD};

// ---- Package files on several nodes ---------------------------------------

const MISSING: &str = "released/testing package has no file on this node";

#[tokio::test]
async fn a_node_without_the_package_file_tells_handsets_to_retry_and_operators_why() {
    let app = spawn_app_with(|_| {}).await;
    let (_, token) = app.token(Role::Admin).await;
    let id = app
        .release_package(&token, "Samsung", "SCH-U960", "U960.01", "U960.02", 4096)
        .await;
    let shared = app.data_dir.join("blobs");

    // A node with a blob store of its own: the database offers the package,
    // the node has no file for it.
    let lonely = app.second_node(|_| {}).await.expect("second node starts");
    let r = lonely.get(&format!("/dl/{id}/dd")).await;
    assert_eq!(r.status().as_u16(), 200);
    let r = lonely.get(&format!("/dl/{id}/package")).await;
    assert_eq!(
        r.status().as_u16(),
        503,
        "not a 404 the handset gives up on"
    );
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry > 0);
    let r = lonely
        .client
        .head(lonely.url(&format!("/dl/{id}/package")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);

    // Its O&M dashboard says so, and names the file it lacks.
    lonely.login_admin().await;
    let (status, html) = lonely.page("/ops").await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("1 {MISSING}")), "{html}");
    assert!(html.contains(&format!("/firmware/packages/{id}")), "{html}");
    // The node with the file has nothing to report.
    app.login_admin().await;
    let (_, html) = app.page("/ops").await;
    assert!(!html.contains("no file on this node"), "{html}");

    // A node given the shared blob directory serves the same bytes.
    let sharing = app
        .second_node(|c| c.blob_dir = shared.clone())
        .await
        .expect("third node starts");
    let r = sharing.get(&format!("/dl/{id}/package")).await;
    assert_eq!(r.status().as_u16(), 200);
    let body = r.bytes().await.unwrap();
    let expected: Vec<u8> = (0..4096u32).map(|i| (i % 253) as u8).collect();
    assert_eq!(body.as_ref(), expected.as_slice());
    sharing.login_admin().await;
    let (_, html) = sharing.page("/ops").await;
    assert!(!html.contains("no file on this node"), "{html}");
}

#[tokio::test]
async fn packages_uploaded_on_a_node_go_to_its_configured_blob_directory() {
    let elsewhere = tempfile::tempdir().unwrap();
    let root = elsewhere.path().join("shared-blobs");
    let app = spawn_app_with(|c| c.blob_dir = root.clone()).await;
    let (_, token) = app.token(Role::Admin).await;
    let id = app
        .release_package(&token, "Samsung", "SCH-U960", "U960.01", "U960.02", 512)
        .await;
    let p = app
        .with_conn(move |c| mdm::firmware::package::get(c, id).unwrap())
        .await;
    let store = mdm::firmware::blobs::BlobStore::at(&root);
    assert!(store.exists(&p.sha256), "the file is in MDM_BLOB_DIR");
    assert!(
        !mdm::firmware::blobs::BlobStore::new(&app.data_dir).exists(&p.sha256),
        "and not in the data dir"
    );
    let r = app.get(&format!("/dl/{id}/package")).await;
    assert_eq!(r.status().as_u16(), 200);
    // A file lost from the store is reported, not answered with a 404.
    std::fs::remove_file(store.path(&p.sha256)).unwrap();
    let r = app.get(&format!("/dl/{id}/package")).await;
    assert_eq!(r.status().as_u16(), 503);
    let missing = app
        .with_conn(move |c| mdm::firmware::blobs::missing_files(c, &store).unwrap())
        .await;
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].package.id, id);
}

// ---- Sign-in throttling ---------------------------------------------------

/// Signs `user` in through the form from client address `from` (the test
/// server trusts the loopback proxy's X-Forwarded-For); the answer's status.
async fn sign_in_from(app: &TestApp, from: &str, user: &str, password: &str) -> u16 {
    let c = client();
    let html = c
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    c.post(app.url("/login"))
        .header("x-forwarded-for", from)
        .form(&[
            ("username", user),
            ("password", password),
            ("csrf", &csrf_of(&html)),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn behind_nat(max_failures: i32, ceiling: i32) -> TestApp {
    let app = spawn_app_with(|c| {
        c.login_max_failures = max_failures;
        c.login_ceiling = ceiling;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    app.add_user("alice", "alice-password-1", Role::Operator)
        .await;
    app
}

#[tokio::test]
async fn one_persons_typos_lock_only_their_own_sign_in_from_that_address() {
    let app = behind_nat(3, 50).await;
    let office = "198.51.100.7";
    for _ in 0..3 {
        assert_eq!(sign_in_from(&app, office, "alice", "typo").await, 401);
    }
    // Alice is locked out from the office, even with the right password...
    assert_eq!(
        sign_in_from(&app, office, "alice", "alice-password-1").await,
        429
    );
    // ...but everyone else behind the same address still signs in.
    assert_eq!(
        sign_in_from(&app, office, "admin", ADMIN_PASSWORD).await,
        303
    );
    // Every node on the database sees the same lock.
    let other = app
        .second_node(|c| {
            c.login_max_failures = 3;
            c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        })
        .await
        .expect("second node starts");
    assert_eq!(
        sign_in_from(&other, office, "alice", "alice-password-1").await,
        429
    );
    assert_eq!(
        sign_in_from(&other, office, "admin", ADMIN_PASSWORD).await,
        303
    );
}

#[tokio::test]
async fn one_address_spraying_many_accounts_is_locked_at_the_ceiling() {
    let app = behind_nat(3, 4).await;
    let sprayer = "203.0.113.9";
    for user in ["alice", "admin", "bob", "carol"] {
        assert_eq!(sign_in_from(&app, sprayer, user, "guess").await, 401);
    }
    // Four failures, one per account: no account's own count is at 3, the
    // address is at its ceiling.
    assert_eq!(
        sign_in_from(&app, sprayer, "admin", ADMIN_PASSWORD).await,
        429
    );
    assert_eq!(
        sign_in_from(&app, "198.51.100.8", "admin", ADMIN_PASSWORD).await,
        303
    );
}

#[tokio::test]
async fn many_addresses_guessing_one_account_lock_it_at_the_ceiling() {
    let app = behind_nat(3, 4).await;
    for n in 1..=4 {
        let from = format!("192.0.2.{n}");
        assert_eq!(sign_in_from(&app, &from, "alice", "guess").await, 401);
    }
    assert_eq!(
        sign_in_from(&app, "192.0.2.99", "alice", "alice-password-1").await,
        429
    );
    assert_eq!(
        sign_in_from(&app, "192.0.2.99", "admin", ADMIN_PASSWORD).await,
        303
    );
}

// ---- The demo catalogue ---------------------------------------------------

#[tokio::test]
async fn demo_loads_running_at_once_add_the_capability_catalogue_once() {
    let app = spawn_app_with(|_| {}).await;
    let runs = 4;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(runs));
    let loads: Vec<_> = (0..runs)
        .map(|_| {
            let (db, barrier) = (app.db.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                mdm::demo::load(&db, 0, &mut |_| {})
            })
        })
        .collect();
    let reports: Vec<_> = loads
        .into_iter()
        .map(|t| t.join().unwrap().expect("every load succeeds"))
        .collect();
    let added: Vec<u32> = reports.iter().map(|r| r.capabilities).collect();
    assert_eq!(
        added.iter().filter(|n| **n > 0).count(),
        1,
        "one load adds the catalogue, the others find it: {added:?}"
    );
    let total: u32 = added.iter().sum();
    assert_eq!(app.count("capabilities").await, i64::from(total));
    // And again, one after the other: nothing more.
    let db = app.db.clone();
    let again = tokio::task::spawn_blocking(move || mdm::demo::load(&db, 0, &mut |_| {}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.capabilities, 0);
    assert_eq!(app.count("capabilities").await, i64::from(total));
}

/// The same capability entry twice, as a race could once leave it.
const COPY: &str = "INSERT INTO capabilities \
    (make, model, version_min, version_max, protocol, fota, brew, features, created_at, updated_at) \
    SELECT make, model, version_min, version_max, protocol, fota, brew, features, created_at, updated_at \
    FROM capabilities WHERE id = (SELECT MIN(id) FROM capabilities)";

#[tokio::test]
async fn a_capability_range_is_held_once_and_the_migration_removes_old_copies() {
    let app = spawn_app_with(|_| {}).await;
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || mdm::demo::load(&db, 0, &mut |_| {}).unwrap())
        .await
        .unwrap();
    let before = app.count("capabilities").await;
    assert!(before > 0);
    // The database refuses an exact copy, whoever writes it.
    let refused = app.with_conn(|c| c.batch_execute(COPY).is_err()).await;
    assert!(refused, "the unique index refuses a copy");
    assert_eq!(app.count("capabilities").await, before);

    // A database that already holds copies: the migration keeps one of each.
    let up = app
        .with_conn(|c| match c {
            mdm::db::DbConnection::Sqlite(_) => {
                include_str!("../../migrations/sqlite/2026-11-30-000034_capability_unique/up.sql")
            }
            mdm::db::DbConnection::Postgres(_) => {
                include_str!("../../migrations/postgres/2026-11-30-000034_capability_unique/up.sql")
            }
        })
        .await;
    let down = "DROP INDEX capabilities_range;";
    app.with_conn(move |c| {
        c.batch_execute(down).unwrap();
        c.batch_execute(COPY).unwrap();
        c.batch_execute(COPY).unwrap();
    })
    .await;
    assert_eq!(app.count("capabilities").await, before + 2);
    app.with_conn(move |c| c.batch_execute(up).unwrap()).await;
    assert_eq!(app.count("capabilities").await, before);
    let refused = app.with_conn(|c| c.batch_execute(COPY).is_err()).await;
    assert!(refused);
}
