//! The test harness: the real server on a random port against a fresh
//! database (a SQLite temp file, or a new PostgreSQL database when
//! MDM_TEST_DATABASE_URL names a server), and an HTTP client with cookies.

use diesel::connection::SimpleConnection;
use diesel::Connection;
use mdm::auth::Role;
use mdm::config::Config;
use mdm::db::Db;
use mdm::registry::Actor;
use mdm::Application;

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

pub struct TestApp {
    pub base: String,
    pub db: Db,
    /// The server's secrets key, for tests that read or set DM secrets.
    pub vault: std::sync::Arc<mdm::secrets::Vault>,
    pub client: reqwest::Client,
    pub data_dir: std::path::PathBuf,
    pub database_url: String,
    _dir: tempfile::TempDir,
    pg: Option<(String, String)>,
    server: Option<RunningServer>,
}

/// The server runs on a thread and runtime of its own, as it would in its own
/// process, so that ending a test can stop it and close its pool before the
/// test's database is dropped.
struct RunningServer {
    handle: actix_web::dev::ServerHandle,
    finished: std::sync::mpsc::Receiver<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            // `stop` sends the command at once; the server's thread carries
            // it out. A server that does not stop in time is left behind
            // rather than hanging the suite.
            drop(s.handle.stop(false));
            let _ = s.finished.recv_timeout(std::time::Duration::from_secs(10));
        }
        drop_database(self.pg.take());
    }
}

/// Drops a PostgreSQL test database made by `fresh_database`.
pub fn drop_database(pg: Option<(String, String)>) {
    if let Some((admin_url, name)) = pg {
        if let Ok(mut c) = diesel::PgConnection::establish(&admin_url) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
}

/// Runs the `mdm` binary against a database; returns (exit code, stdout, stderr).
pub fn run_mdm(
    database_url: &str,
    data_dir: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
) -> (i32, String, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_mdm"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("MDM_DATA_DIR", data_dir)
        .env("MDM_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mdm");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("mdm finished");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The local test server needs no TLS, and without it no connection touches
/// OpenSSL: the pools of finished tests keep reconnecting to their dropped
/// databases until the process exits, and OpenSSL's exit-time cleanup must
/// not race with a handshake on one of those threads.
fn without_tls(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return url.to_string();
    };
    if !u.query_pairs().any(|(k, _)| k == "sslmode") {
        u.query_pairs_mut().append_pair("sslmode", "disable");
    }
    u.to_string()
}

/// A fresh database URL: a new PostgreSQL database, or a SQLite file in `dir`.
pub fn fresh_database(dir: &std::path::Path) -> (String, Option<(String, String)>) {
    match std::env::var("MDM_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(admin_url) => {
            let admin_url = without_tls(&admin_url);
            let name = format!("mdm_test_{}", uuid::Uuid::new_v4().simple());
            let mut c = diesel::PgConnection::establish(&admin_url)
                .expect("connect to MDM_TEST_DATABASE_URL");
            c.batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .expect("create test database");
            let mut url = url::Url::parse(&admin_url).expect("MDM_TEST_DATABASE_URL is a URL");
            url.set_path(&format!("/{name}"));
            (url.to_string(), Some((admin_url, name)))
        }
        None => (dir.join("test.db").to_string_lossy().into_owned(), None),
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        // Shorter than the server's 5 s keep-alive: a test that waits
        // several seconds between requests must not send its next one on a
        // connection the server is closing at that moment (hyper reports
        // that as an incomplete message).
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("client")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database_url, pg) = fresh_database(dir.path());
    let mut config = Config::for_test(&database_url, dir.path().join("data"));
    adjust(&mut config);
    let mut app = start(config, dir).await.expect("application starts");
    app.pg = pg;
    app
}

/// An app that provisions services through the billing gateway `billing`;
/// with `trusted_gateways` false it trusts no WAP gateway to name the
/// handset.
pub async fn spawn_app_with_billing(
    billing: mdm::billing::BillingConfig,
    trusted_gateways: bool,
) -> TestApp {
    spawn_app_with(move |c| {
        c.billing = Some(billing);
        if !trusted_gateways {
            c.trusted_gateways.clear();
        }
    })
    .await
}

impl TestApp {
    /// Another node on this app's database, with a data dir of its own
    /// unless `adjust` says otherwise; the database stays this app's.
    pub async fn second_node(&self, adjust: impl FnOnce(&mut Config)) -> Result<TestApp, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_test(&self.database_url, dir.path().join("data"));
        adjust(&mut config);
        start(config, dir).await
    }
}

/// Starts the application on a thread of its own, or says why it did not.
async fn start(config: Config, dir: tempfile::TempDir) -> Result<TestApp, String> {
    let database_url = config.database_url.clone();
    let data_dir = config.data_dir.clone();
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let (finished_tx, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            match Application::build(config).await {
                Ok(app) => {
                    let _ = started_tx.send(Ok((
                        app.port(),
                        app.state().db.clone(),
                        app.state().vault.clone(),
                        app.handle(),
                    )));
                    let _ = app.run_until_stopped().await;
                }
                Err(e) => {
                    let _ = started_tx.send(Err(e.to_string()));
                }
            }
        });
        // The runtime (and with it the server's tasks and pool) is gone.
        drop(rt);
        let _ = finished_tx.send(());
    });
    let (port, db, vault, handle) = started.await.expect("server thread")?;
    let base = format!("http://127.0.0.1:{port}");
    Ok(TestApp {
        base,
        db,
        vault,
        client: client(),
        data_dir,
        database_url,
        _dir: dir,
        pg: None,
        server: Some(RunningServer { handle, finished }),
    })
}

/// The value of the first `name="csrf"` hidden field in a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn page(&self, path: &str) -> (u16, String) {
        let r = self.get(path).await;
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    /// The CSRF token of the current session, read from a page that has a form.
    pub async fn csrf(&self, path: &str) -> String {
        let (_, html) = self.page(path).await;
        csrf_of(&html)
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST")
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        let csrf = self.csrf("/login").await;
        self.post_form(
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/"),
            ],
        )
        .await
    }

    pub async fn login_admin(&self) {
        let r = self.login("admin", ADMIN_PASSWORD).await;
        assert_eq!(r.status().as_u16(), 303, "admin signs in");
    }

    /// Creates a staff user directly in the domain.
    pub async fn add_user(&self, name: &str, password: &str, role: Role) {
        let db = self.db.clone();
        let (name, password) = (name.to_string(), password.to_string());
        tokio::task::spawn_blocking(move || {
            let mut c = db.get().unwrap();
            mdm::auth::users::create(&mut c, &Actor::System("test"), &name, &password, role)
                .unwrap();
        })
        .await
        .unwrap();
    }

    /// Creates an API token named after its role (`firmware-client`, then
    /// `firmware-client-2`: active names are unique) and returns (id, secret).
    pub async fn token(&self, role: Role) -> (i64, String) {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = db.get().unwrap();
            let base = format!("{}-client", role.as_str());
            let taken = mdm::auth::tokens::list(&mut c)
                .unwrap()
                .iter()
                .filter(|t| t.name == base || t.name.starts_with(&format!("{base}-")))
                .count();
            let name = match taken {
                0 => base,
                n => format!("{base}-{}", n + 1),
            };
            let (t, s) =
                mdm::auth::tokens::create(&mut c, &Actor::System("test"), &name, role, None)
                    .unwrap();
            (t.id, s)
        })
        .await
        .unwrap()
    }

    pub async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut mdm::db::DbConnection) -> T + Send + 'static,
    ) -> T {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = db.get().unwrap();
            f(&mut c)
        })
        .await
        .unwrap()
    }

    pub fn api(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(&format!("/api/v1{path}")))
            .bearer_auth(token)
    }

    /// Uploads a delta package of `size` bytes and releases it; returns its id.
    pub async fn release_package(
        &self,
        token: &str,
        make: &str,
        model: &str,
        from: &str,
        to: &str,
        size: u32,
    ) -> i64 {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("make", make),
            ("model", model),
            ("from_version", from),
            ("to_version", to),
            ("release_notes", "Better battery"),
        ] {
            q.append_pair(k, v);
        }
        let r = self
            .api(
                reqwest::Method::POST,
                &format!("/firmware/packages?{}", q.finish()),
                token,
            )
            .body((0..size).map(|i| (i % 253) as u8).collect::<Vec<u8>>())
            .send()
            .await
            .unwrap();
        let p: serde_json::Value = r.json().await.unwrap();
        let id = p["id"].as_i64().expect("package id");
        for s in ["testing", "released"] {
            self.api(
                reqwest::Method::POST,
                &format!("/firmware/packages/{id}/state"),
                token,
            )
            .json(&serde_json::json!({"state": s}))
            .send()
            .await
            .unwrap();
        }
        id
    }

    /// Gives a device OMA-DM credentials (server id `mdm`), as an operator
    /// would on its page.
    pub async fn set_dm_credentials(
        &self,
        device_id: i64,
        client_username: &str,
        client_password: &str,
        server_password: &str,
    ) {
        let vault = self.vault.clone();
        let (user, client, server) = (
            client_username.to_string(),
            client_password.to_string(),
            server_password.to_string(),
        );
        self.with_conn(move |c| {
            mdm::omadm::account::set(
                c,
                &vault,
                &Actor::System("test"),
                device_id,
                &mdm::omadm::account::Credentials {
                    server_id: "mdm",
                    client_username: &user,
                    client_password: &client,
                    server_password: &server,
                },
            )
            .unwrap();
        })
        .await;
    }

    /// A device's OMA-DM account as the server keeps it (nonces, server
    /// credentials), decrypted with the server's key.
    pub async fn dm_account(&self, device_id: i64) -> mdm::omadm::account::DmAccount {
        let vault = self.vault.clone();
        self.with_conn(move |c| {
            mdm::omadm::account::get(c, &vault, device_id)
                .unwrap()
                .expect("the device has DM credentials")
        })
        .await
    }

    /// Registers a Samsung SCH-U960 handset at U960.05, named by `identity`
    /// (`{"meid": …}` or `{"esn": …}`); returns its id.
    pub async fn u960_handset(&self, token: &str, identity: serde_json::Value) -> i64 {
        let u960 = serde_json::json!({"make": "Samsung", "model": "SCH-U960", "firmware_version": "U960.05"});
        self.register_device(token, u960, identity).await
    }

    /// Registers the device `fields` describes, named by `identity`'s
    /// identifiers; returns its id.
    async fn register_device(
        &self,
        token: &str,
        mut fields: serde_json::Value,
        identity: serde_json::Value,
    ) -> i64 {
        for (k, v) in identity.as_object().expect("identity is an object") {
            fields[k] = v.clone();
        }
        let d = self
            .api(reqwest::Method::POST, "/devices", token)
            .json(&fields)
            .send_json()
            .await;
        d["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("device created: {d}"))
    }

    /// The ESN-only U960 handset 9F100001 with DM credentials (username
    /// `ESN:9F100001`, the given password); returns its id.
    pub async fn esn_handset_with_dm_account(&self, token: &str, client_password: &str) -> i64 {
        let id = self
            .u960_handset(token, serde_json::json!({"esn": "9F100001"}))
            .await;
        self.set_dm_credentials(id, "ESN:9F100001", client_password, "server-secret-2")
            .await;
        id
    }

    /// Kyocera's pre-agreed IOTA ESN series (9F100000-9F1FFFFF): what tells
    /// the platform that a pushed call-back will be answered over IOTA.
    pub async fn kyocera_iota_series(&self) {
        self.with_conn(|c| {
            mdm::registry::capability::add_series(
                c,
                &Actor::System("test"),
                &mdm::registry::capability::EsnSeriesDraft {
                    make: Some("Kyocera".into()),
                    first_esn: Some("9F100000".into()),
                    last_esn: Some("9F1FFFFF".into()),
                },
            )
            .unwrap();
        })
        .await;
    }

    /// Files a PRL for SSPR table `table`.
    pub async fn file_prl(&self, bytes: Vec<u8>, table: i32) {
        self.with_conn(move |c| {
            mdm::iota::prl_store::add(
                c,
                &Actor::System("test"),
                &mdm::iota::prl_store::NewPrl {
                    bytes,
                    prl_id: None,
                    sspr_table: Some(table),
                    name: "test".into(),
                },
            )
            .unwrap();
        })
        .await;
    }

    /// Registers the subscriber `profile` (see [`profile_json`]); returns
    /// the profile's id.
    pub async fn add_subscriber(&self, token: &str, profile: &serde_json::Value) -> i64 {
        let p = self
            .api(reqwest::Method::POST, "/profiles", token)
            .json(profile)
            .send_json()
            .await;
        p["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("profile created: {p}"))
    }

    /// Registers the subscriber `profile` and its Kyocera KX-IOTA handset at
    /// 1.0, named by `identity` (`{"esn": …}` or `{"meid": …}`) and linked
    /// to the profile's MDN; returns (profile id, device id).
    pub async fn kyocera_line(
        &self,
        token: &str,
        profile: &serde_json::Value,
        identity: serde_json::Value,
    ) -> (i64, i64) {
        let pid = self.add_subscriber(token, profile).await;
        let kx = serde_json::json!({"make": "Kyocera", "model": "KX-IOTA", "firmware_version": "1.0", "profile_mdn": profile["mdn"]});
        (pid, self.register_device(token, kx, identity).await)
    }

    /// 25 subscribers, `{mdn_prefix}` followed by 10000..10024, each with
    /// an LG VX8360 whose ESN is `{esn_prefix}` and five hex digits; the
    /// first 20 are de-activated, due for the purge. Returns their MDNs.
    pub async fn purgeable_subscribers(&self, mdn_prefix: &str, esn_prefix: &str) -> Vec<String> {
        let (_, token) = self.token(Role::Admin).await;
        let mut due = Vec::new();
        for i in 0..25u32 {
            let mdn = format!("{mdn_prefix}{:05}", 10_000 + i);
            let id = self.add_subscriber(&token, &profile_json(&mdn)).await;
            self.api(reqwest::Method::POST, "/devices", &token)
                .json(&serde_json::json!({"esn": format!("{esn_prefix}{:05X}", i), "make": "LG", "model": "VX8360", "firmware_version": "1", "profile_mdn": mdn}))
                .send()
                .await
                .unwrap();
            if i < 20 {
                self.with_conn(move |c| {
                    mdm::registry::profile::set_state(
                        c,
                        &Actor::System("test"),
                        id,
                        mdm::registry::profile::ActivationState::Deactivated,
                    )
                    .unwrap()
                })
                .await;
                due.push(mdn);
            }
        }
        due
    }

    /// Uploads a subscriber and device import file through the import page,
    /// as an operator would, and follows its progress page until the import
    /// is over; returns that last page.
    pub async fn upload_import(&self, file_name: &str, body: &str) -> String {
        self.upload_import_run(file_name, body).await.1
    }

    /// [`TestApp::upload_import`], returning the import run's id too.
    pub async fn upload_import_run(&self, file_name: &str, body: &str) -> (i64, String) {
        let csrf = self.csrf("/devices/import").await;
        let form = reqwest::multipart::Form::new().text("csrf", csrf).part(
            "file",
            reqwest::multipart::Part::bytes(body.as_bytes().to_vec())
                .file_name(file_name.to_string()),
        );
        let r = self
            .client
            .post(self.url("/devices/import"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
        // A large file (thousands of lines) may take a minute.
        for _ in 0..1200 {
            let (_, html) = self.page(&location).await;
            if !html.contains("data-state=\"running\"") {
                return (id, html);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("import did not finish");
    }

    /// Sends `body` to the API; returns the answer's status and its JSON
    /// body (null when it has none).
    pub async fn api_call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let r = self
            .api(method, path, token)
            .json(body)
            .send()
            .await
            .expect("request sent");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// POSTs `body` to the API's `path`, which must create it (201);
    /// returns what was created.
    pub async fn api_create(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> serde_json::Value {
        let (status, created) = self
            .api_call(reqwest::Method::POST, path, token, body)
            .await;
        assert_eq!(status, 201, "POST {path}: {created}");
        created
    }

    /// Registers the subscriber `mdn` (see [`profile_json`]) with the Self
    /// Service PIN `pin`; returns the profile's id.
    pub async fn self_service_subscriber(&self, token: &str, mdn: &str, pin: &str) -> i64 {
        let mut profile = profile_json(mdn);
        profile["pin"] = serde_json::json!(pin);
        let p = self.api_create("/profiles", token, &profile).await;
        p["id"].as_i64().expect("profile id")
    }

    /// Signs this app's client in to Self Service as the line `mdn` with
    /// `pin`; returns the CSRF token of the line's page.
    pub async fn self_sign_in(&self, mdn: &str, pin: &str) -> String {
        let csrf = self.csrf("/self/login").await;
        let r = self
            .post_form(
                "/self/login",
                &[("mdn", mdn), ("pin", pin), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(r.status().as_u16(), 303);
        let (_, page) = self.page(&format!("/self/line/{mdn}")).await;
        csrf_of(&page)
    }

    /// Moves the subscriber line `profile_id` to the activation state
    /// `state` by API; returns the answer's status.
    pub async fn set_line_state(&self, token: &str, profile_id: i64, state: &str) -> u16 {
        let path = format!("/profiles/{profile_id}/activation");
        let body = serde_json::json!({ "state": state });
        self.api_call(reqwest::Method::POST, &path, token, &body)
            .await
            .0
    }

    /// The actions on a profile's timeline, oldest first.
    pub async fn profile_timeline(&self, pid: i64) -> Vec<String> {
        self.with_conn(move |c| {
            use diesel::prelude::*;
            use mdm::db::schema::audit_events;
            audit_events::table
                .filter(audit_events::entity_kind.eq("profile"))
                .filter(audit_events::entity_id.eq(pid))
                .order(audit_events::id.asc())
                .select(audit_events::action)
                .load::<String>(c)
                .unwrap()
        })
        .await
    }

    pub async fn count(&self, table: &'static str) -> i64 {
        self.with_conn(move |c| {
            use diesel::dsl::count_star;
            use diesel::prelude::*;
            use mdm::db::schema::*;
            match table {
                "profiles" => profiles::table
                    .select(count_star())
                    .first::<i64>(c)
                    .unwrap(),
                "devices" => devices::table.select(count_star()).first::<i64>(c).unwrap(),
                "outbox" => outbox::table.select(count_star()).first::<i64>(c).unwrap(),
                "capabilities" => capabilities::table
                    .select(count_star())
                    .first::<i64>(c)
                    .unwrap(),
                "users" => users::table.select(count_star()).first::<i64>(c).unwrap(),
                "dm_accounts" => dm_accounts::table
                    .select(count_star())
                    .first::<i64>(c)
                    .unwrap(),
                "dm_jobs" => dm_jobs::table.select(count_star()).first::<i64>(c).unwrap(),
                "fota_campaigns" => fota_campaigns::table
                    .select(count_star())
                    .first::<i64>(c)
                    .unwrap(),
                other => panic!("unknown table {other}"),
            }
        })
        .await
    }
}

/// What the server offered the FOTA test handset in its DM session: the
/// Replace of the FUMO node's PkgURL and the Exec that starts the update.
pub struct FumoOffer {
    /// The package's download descriptor URL, as the Replace of PkgURL
    /// carries it.
    pub pkg_url: String,
    /// The Exec's correlator, which the handset's final report names.
    pub correlator: String,
    /// The FOTA session the offer belongs to.
    pub fota_session: i64,
}

/// The FOTA test handset's DM session, step by step as the handset drives
/// it: the handset is `crate::fota::setup`'s Samsung SCH-U960 (MEID
/// A1000012345678) at U960.05.
impl TestApp {
    /// Sends the handset's first, authenticated message of DM session
    /// `session` to `url` (the client-initiated Alert 1201); returns the
    /// server's reply, which asks for make, model and version.
    pub async fn open_fota_dm_session(
        &self,
        url: &str,
        session: &str,
    ) -> mdm::omadm::syncml::Message {
        use mdm::omadm::syncml::{Alert, Command};
        let cred = crate::fota::md5_cred(self).await;
        let alert = Command::Alert(Alert {
            cmd_id: 1,
            data: 1201,
            correlator: None,
            items: vec![],
        });
        let first = crate::fota::dm_message(session, 1, 65_535, Some(cred), vec![alert]);
        crate::fota::post_dm(self, url, &first).await
    }

    /// Answers the make-model-version Get of the server's `reply` in the
    /// handset's next message of DM session `session`, the firmware being
    /// `firmware`; returns the server's answer (the offer, when there is
    /// one).
    pub async fn answer_make_model_version(
        &self,
        session: &str,
        reply: &mdm::omadm::syncml::Message,
        firmware: &str,
    ) -> mdm::omadm::syncml::Message {
        use mdm::omadm::syncml::{Command, Item, ItemData, Results};
        let get = get_cmd_id(reply).expect("the make-model-version query");
        let item = |uri: &str, v: &str| Item {
            source: Some(uri.into()),
            data: Some(ItemData::Text(v.into())),
            ..Item::default()
        };
        let results = Command::Results(Results {
            cmd_id: 1,
            msg_ref: reply.hdr.msg_id,
            cmd_ref: get,
            items: vec![
                item("./DevInfo/Man", "Samsung"),
                item("./DevInfo/Mod", "SCH-U960"),
                item("./DevDetail/FwV", firmware),
            ],
        });
        let next = reply.hdr.resp_uri.clone().expect("the server's RespURI");
        let answer =
            crate::fota::dm_message(session, reply.hdr.msg_id + 1, 65_535, None, vec![results]);
        crate::fota::post_dm(self, &next, &answer).await
    }

    /// Runs the handset's DM session `session` from the FOTA URL through
    /// the make-model-version query to the FUMO package offer; the handset
    /// needs a released delta (`crate::fota::setup(app, true)`).
    pub async fn dm_session_to_fumo_offer(&self, session: &str) -> FumoOffer {
        use mdm::omadm::syncml::{Command, ItemData};
        let r = crate::fota::ask_fota_url(self, "MEID:A1000012345678").await;
        let url = r.headers()["location"].to_str().unwrap().to_string();
        let query = self.open_fota_dm_session(&url, session).await;
        let offer = self
            .answer_make_model_version(session, &query, "U960.05")
            .await;
        let mut pkg_url = None;
        let mut correlator = None;
        for c in &offer.body.commands {
            match c {
                Command::Replace(r)
                    if r.items[0]
                        .target
                        .as_deref()
                        .is_some_and(|t| t.ends_with("/PkgURL")) =>
                {
                    pkg_url = r.items[0].data.as_ref().map(|d| match d {
                        ItemData::Text(t) => t.clone(),
                        ItemData::Binary(b) => String::from_utf8(b.clone()).unwrap(),
                    })
                }
                Command::Exec(e) => correlator = e.correlator.clone(),
                _ => {}
            }
        }
        let pkg_url = pkg_url.expect("the Replace of PkgURL");
        let correlator = correlator.expect("the Exec's correlator");
        let fota_session = self
            .with_conn({
                let correlator = correlator.clone();
                move |c| {
                    use diesel::prelude::*;
                    use mdm::db::schema::fota_sessions;
                    fota_sessions::table
                        .filter(fota_sessions::correlator.eq(correlator))
                        .select(fota_sessions::id)
                        .first::<i64>(c)
                        .expect("the offer's FOTA session")
                }
            })
            .await;
        FumoOffer {
            pkg_url,
            correlator,
            fota_session,
        }
    }
}

pub fn profile_json(mdn: &str) -> serde_json::Value {
    serde_json::json!({
        "mdn": mdn,
        "min": mdn,
        "imsi": format!("31000{mdn}"),
        "account_id": "ACC-1",
        "subscriber_name": "Test Subscriber",
        "sid_nid_pairs": "4145/65535",
        "prl_id": 10001,
        "features": ["mobile_web", "text_messaging"]
    })
}

/// Fails the test unless `body` (a WAP deck, a page) is well-formed XML.
pub fn assert_well_formed(body: &str) {
    let mut r = quick_xml::Reader::from_str(body);
    loop {
        match r.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not well-formed: {e}\n{body}"),
        }
    }
}

/// Sends a request and reads its JSON body, failing the test on either.
pub trait SendJson {
    fn send_json(self) -> impl std::future::Future<Output = serde_json::Value>;
}

impl SendJson for reqwest::RequestBuilder {
    async fn send_json(self) -> serde_json::Value {
        self.send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("a JSON body")
    }
}

/// Signs `c` in as a staff user through the sign-in form, as a browser of
/// its own would; the response carries the session cookie.
pub async fn staff_sign_in(
    app: &TestApp,
    c: &reqwest::Client,
    user: &str,
    password: &str,
) -> reqwest::Response {
    let r = staff_sign_in_answer(app, c, user, password).await;
    assert_eq!(r.status().as_u16(), 303, "{user} signs in");
    r
}

/// The sign-in form sent as [`staff_sign_in`] does, whatever the answer
/// (a refusal or a lock is the caller's to judge).
pub async fn staff_sign_in_answer(
    app: &TestApp,
    c: &reqwest::Client,
    user: &str,
    password: &str,
) -> reqwest::Response {
    let html = c
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    c.post(app.url("/login"))
        .form(&[
            ("username", user),
            ("password", password),
            ("csrf", &csrf_of(&html)),
        ])
        .send()
        .await
        .unwrap()
}

/// Signs `c` in as a subscriber through the Self Service form, from the
/// client address `forwarded_for` when given; the caller judges the answer.
pub async fn subscriber_sign_in(
    app: &TestApp,
    c: &reqwest::Client,
    mdn: &str,
    pin: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let html = c
        .get(app.url("/self/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut post = c.post(app.url("/self/login"));
    if let Some(address) = forwarded_for {
        post = post.header("x-forwarded-for", address);
    }
    post.form(&[("mdn", mdn), ("pin", pin), ("csrf", &csrf_of(&html))])
        .send()
        .await
        .unwrap()
}

/// The CmdID of the server's Get in `msg` (the make-model-version query),
/// if it asks one.
pub fn get_cmd_id(msg: &mdm::omadm::syncml::Message) -> Option<u32> {
    msg.body.commands.iter().find_map(|c| match c {
        mdm::omadm::syncml::Command::Get(g) => Some(g.cmd_id),
        _ => None,
    })
}
