#![recursion_limit = "512"]
//! The MDM platform: an operator's central device-management server.
//!
//! `Application::build` wires storage, the portal, the REST API and the
//! middleware into a running server; `main.rs` is only the command line.

pub mod api;
pub mod auth;
pub mod billing;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod export_csv;
pub mod features;
pub mod firmware;
pub mod fota;
pub mod iota;
pub mod logging;
pub mod messaging;
pub mod omadm;
pub mod registry;
pub mod retention;
pub mod secrets;
pub mod sim;
pub mod timefmt;
pub mod wbxml;
pub mod web;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_session::SessionMiddleware;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Compress, DefaultHeaders};
use actix_web::{web as aweb, App, HttpServer};
use tracing_actix_web::TracingLogger;

use config::Config;
use db::Db;
use web::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Db(#[from] db::DbError),
    #[error("first administrator: {0}")]
    Bootstrap(#[from] auth::AuthError),
    #[error("session key: {0}")]
    SessionKey(String),
    #[error("secrets key: {0}")]
    Secrets(#[from] secrets::SecretsError),
    #[error("{0}")]
    SecretsKeyMismatch(#[from] omadm::account::VaultMismatch),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
}

/// Opens the database and applies pending migrations off the async executor.
pub async fn open_database(config: &Config) -> Result<Db, StartError> {
    let url = config.database_url.clone();
    let size = config.pool_size;
    let db = tokio::task::spawn_blocking(move || -> Result<Db, db::DbError> {
        let db = Db::connect(&url, size)?;
        // Which database this node runs on, so a wrong DATABASE_URL is seen.
        tracing::info!(backend = db.backend().name(), database = %db::describe_url(&url), "database opened");
        let applied = db.migrate()?;
        if applied > 0 {
            tracing::info!(applied, backend = db.backend().name(), "migrations applied");
        }
        Ok(db)
    })
    .await
    .map_err(|e| db::DbError::Task(e.to_string()))??;
    Ok(db)
}

fn session_key(config: &Config) -> Result<Key, StartError> {
    if let Some(hexkey) = &config.session_key {
        let bytes = hex::decode(hexkey).map_err(|e| StartError::SessionKey(e.to_string()))?;
        return Key::try_from(bytes.as_slice()).map_err(|e| StartError::SessionKey(e.to_string()));
    }
    // Kept in the data dir so sessions survive a restart of this node.
    let path = config.data_dir.join("session.key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if let Ok(bytes) = hex::decode(existing.trim()) {
            if let Ok(key) = Key::try_from(bytes.as_slice()) {
                return Ok(key);
            }
        }
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let key = Key::generate();
    std::fs::write(&path, hex::encode(key.master()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(key)
}

/// Refuses a secrets key that does not open the stored DM secrets, then
/// seals those stored in clear (by a release before sealing, or a bulk
/// load), off the async executor.
async fn seal_stored_secrets(db: &Db, vault: &Arc<secrets::Vault>) -> Result<(), StartError> {
    let (db, vault) = (db.clone(), vault.clone());
    let (sealed, messages) =
        tokio::task::spawn_blocking(move || -> Result<(usize, usize), StartError> {
            let mut conn = db.get()?;
            omadm::account::check_vault(&mut conn, &vault)?;
            let sealed = omadm::account::seal_stored_secrets(&mut conn, &vault)
                .map_err(db::DbError::from)?;
            // The bootstraps in the outbox carry the same secrets.
            let messages = messaging::outbox::seal_stored_payloads(&mut conn, &vault)
                .map_err(db::DbError::from)?;
            Ok((sealed, messages))
        })
        .await
        .map_err(|e| db::DbError::Task(e.to_string()))??;
    if sealed > 0 {
        tracing::info!(
            sealed,
            "OMA-DM secrets in clear or under the retired key are now sealed under the current key"
        );
    }
    if messages > 0 {
        tracing::info!(
            messages,
            "outbox messages carrying OMA-DM secrets are now sealed (or emptied once delivered)"
        );
    }
    Ok(())
}

/// Logs each downloadable package whose file this node's blob store lacks,
/// so that a node started without the shared `MDM_BLOB_DIR` is noticed
/// before handsets are told to retry their downloads. It does not stop the
/// start: the other packages, and everything else, still work.
async fn report_missing_package_files(db: &Db, config: &Config) {
    let db = db.clone();
    let store = firmware::blobs::BlobStore::of(config);
    let checked = tokio::task::spawn_blocking(move || -> Result<_, db::DbError> {
        let mut conn = db.get()?;
        Ok(firmware::blobs::missing_files(&mut conn, &store)?)
    })
    .await;
    match checked {
        Ok(Ok(missing)) => {
            for m in &missing {
                tracing::error!(
                    package = m.package.id,
                    name = %m.package.name,
                    state = %m.package.state,
                    file = %m.path.display(),
                    "package file missing from this node's blob store (MDM_BLOB_DIR)"
                );
            }
            if !missing.is_empty() {
                tracing::error!(
                    count = missing.len(),
                    "{} released/testing packages have no file on this node",
                    missing.len()
                );
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "could not check the package files"),
        Err(e) => tracing::warn!(error = %e, "could not check the package files"),
    }
}

/// The IVR and OTAP-administrator triggers, with the URL handsets are told
/// to call back at: `MDM_PUBLIC_URL`, else the address this node listens on.
fn iota_triggers(
    config: &Config,
    listener: &TcpListener,
) -> Result<messaging::inbound::InboundRouter, StartError> {
    let base_url = match &config.public_url {
        Some(u) => u.clone(),
        None => {
            let addr = listener.local_addr()?;
            let host = if addr.ip().is_unspecified() {
                std::net::IpAddr::from([127, 0, 0, 1])
            } else {
                addr.ip()
            };
            format!("http://{}", std::net::SocketAddr::new(host, addr.port()))
        }
    };
    let ctx = iota::driver::PushContext {
        base_url,
        max_parts: config.sms_max_parts,
    };
    let mut router = messaging::inbound::InboundRouter::default();
    if !config.iota_ivr_sources.is_empty() {
        router = router.with(Arc::new(iota::triggers::StarCodeTrigger {
            sources: config.iota_ivr_sources.clone(),
            welcome: config.iota_welcome.clone(),
            ctx: ctx.clone(),
        }));
    }
    if !config.iota_otap_sources.is_empty() {
        router = router.with(Arc::new(iota::triggers::OtapaTrigger {
            sources: config.iota_otap_sources.clone(),
            ctx,
        }));
    }
    Ok(router)
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartError> {
        let db = open_database(&config).await?;
        let bootstrap_db = db.clone();
        let configured = config.bootstrap_admin_password.clone();
        let generated = tokio::task::spawn_blocking(move || {
            let mut conn = bootstrap_db.get()?;
            auth::users::bootstrap_admin(&mut conn, configured.as_deref())
        })
        .await
        .map_err(|e| db::DbError::Task(e.to_string()))??;
        if let Some(password) = generated {
            // Printed once, on the first start only; it is not stored anywhere in clear.
            println!(
                "Created the first administrator. Sign in as 'admin' with password: {password}"
            );
            tracing::warn!(
                "created user 'admin' with a generated password (printed on standard output)"
            );
        }
        let key = session_key(&config)?;
        let vault = Arc::new(secrets::Vault::load_rotating(
            config.secrets_key.as_deref(),
            config.secrets_previous_key.as_deref(),
            &config.data_dir,
        )?);
        seal_stored_secrets(&db, &vault).await?;
        // Before serving: an import this node was running when it stopped
        // must not show as running to the first page that asks.
        fail_abandoned_imports(&db).await;
        report_missing_package_files(&db, &config).await;
        let listener = TcpListener::bind(&config.bind).map_err(|source| StartError::Bind {
            addr: config.bind.clone(),
            source,
        })?;
        let port = listener.local_addr()?.port();
        let router = iota_triggers(&config, &listener)?;
        let messaging = config.smsc.clone().map(|smsc| {
            messaging::sender::Messaging::start(
                db.clone(),
                smsc,
                messaging::sender::SenderOptions::new(
                    config.sms_max_parts,
                    config.sms_max_attempts,
                )
                .with_vault(vault.clone()),
                router,
            )
        });
        // The URL was checked when the configuration was read.
        let billing = match config.billing.clone() {
            Some(c) => Some(billing::BillingClient::new(c).map_err(|e| {
                StartError::Io(std::io::Error::other(format!("billing gateway: {e}")))
            })?),
            None => None,
        };
        let state = AppState {
            db,
            config: Arc::new(config.clone()),
            imports: Arc::new(Mutex::new(HashMap::new())),
            started_at: db::now_ms(),
            messaging,
            billing,
            vault,
        };
        let data = aweb::Data::new(state.clone());
        let secure = config.cookie_secure;
        let upload_limit = config.upload_limit;
        let fota_path = config.fota_path.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("X-Frame-Options", "DENY"))
                        .add(("Referrer-Policy", "same-origin"))
                        .add((
                            "Content-Security-Policy",
                            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
                        )),
                )
                .wrap(
                    SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                        .cookie_name("mdm_session".into())
                        .cookie_secure(secure)
                        .cookie_http_only(true)
                        .cookie_same_site(SameSite::Lax)
                        .cookie_content_security(CookieContentSecurity::Private)
                        .session_lifecycle(PersistentSession::default().session_ttl(actix_web::cookie::time::Duration::hours(12)))
                        .build(),
                )
                .wrap(Compress::default())
                .wrap(from_fn(web::error::sign_in_redirects_are_not_errors))
                .wrap(from_fn(logging::log_requests))
                .wrap(TracingLogger::<logging::MaskedRootSpan>::new())
                .app_data(data.clone())
                .app_data(aweb::FormConfig::default().limit(256 * 1024))
                .app_data(aweb::PayloadConfig::default().limit(upload_limit))
                .route(&fota_path, aweb::get().to(web::fota::check))
                .configure(api::routes)
                .configure(web::routes)
                .default_service(aweb::to(not_found))
        })
        .listen(listener)?
        // The drain the stop lines announce (SIGTERM: running requests get
        // this long, then are cut off).
        .shutdown_timeout(logging::DRAIN_GRACE.as_secs())
        // `mdm serve` stops it on a signal (`logging::stop_on_signal`), the
        // one handler, so no signal is logged but missed.
        .disable_signals();
        if let Some(w) = config.workers {
            server = server.workers(w);
        }
        let server = server.run();
        spawn_purge_schedule(&state);
        spawn_import_recovery(&state);
        spawn_sweeper(&state);
        spawn_campaigns(&state);
        if let Some(b) = &state.billing {
            features::upgrade::spawn(state.db.clone(), b.clone(), FEATURE_POLL);
        }
        Ok(Application {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops the server from outside (`stop` sends the command at once).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The scheduled purge: every interval, on whichever node gets there first
/// (the database keeps a second run from starting; a run is resumed only
/// where its archive is, so the archive folder is shared storage when every
/// node purges).
fn spawn_purge_schedule(state: &AppState) {
    let interval = state.config.purge_interval_secs;
    if interval == 0 {
        return;
    }
    let db = state.db.clone();
    let opts =
        retention::purge::PurgeOptions::new(state.config.retention_ms, &state.config.archive_dir);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(interval));
        // A run held by a frozen process is warned about once, not per tick.
        let mut log = retention::schedule::TickLog::default();
        loop {
            tick.tick().await;
            let (db, opts) = (db.clone(), opts.clone());
            let outcome = tokio::task::spawn_blocking(move || {
                retention::purge::run(&db, "scheduler", &opts, &mut |_| {})
            })
            .await;
            match outcome {
                Ok(outcome) => log.report(outcome),
                Err(e) => tracing::error!(error = %e, "scheduled purge task failed"),
            }
        }
    });
}

/// Ends the imports no live process runs any more (cut off by a restart of
/// this node or the end of another's): failed if they wrote nothing,
/// interrupted (resumable) if some batches were written; safe on every node,
/// as a run is only failed when its holder is known gone or its lease ran
/// out.
async fn fail_abandoned_imports(db: &Db) {
    let failed = db
        .run(|c| registry::import::fail_abandoned(c, db::now_ms()).map_err(db::DbError::from))
        .await;
    match failed {
        Ok(runs) if !runs.is_empty() => {
            tracing::warn!(
                ?runs,
                "abandoned imports ended: failed if nothing was written, else interrupted (import the same file again to finish)"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "checking for interrupted imports failed"),
    }
}

/// After the start's pass, the imports of nodes that went away since.
fn spawn_import_recovery(state: &AppState) {
    let db = state.db.clone();
    let every = std::time::Duration::from_millis(registry::import::LEASE_MS as u64 / 2);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            fail_abandoned_imports(&db).await;
        }
    });
}

/// How often queued firmware-update features are settled with billing.
const FEATURE_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Closes abandoned FOTA sessions, unanswered notifications and idle DM
/// sessions, and deletes expired API idempotency keys, on a timer; harmless
/// when several nodes do it.
fn spawn_sweeper(state: &AppState) {
    let interval = state.config.sweep_interval_secs;
    if interval == 0 {
        return;
    }
    let db = state.db.clone();
    let stall_minutes = state.config.fota_download_stall_minutes;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(interval));
        loop {
            tick.tick().await;
            match db
                .run(move |c| fota::sweeper::sweep_with(c, stall_minutes))
                .await
            {
                Ok(s) if s != fota::sweeper::Swept::default() => tracing::info!(
                    fota_sessions = s.fota_sessions,
                    jobs = s.jobs,
                    dm_sessions = s.dm_sessions,
                    iota_sessions = s.iota_sessions,
                    "closed abandoned sessions"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "sweeping abandoned sessions failed"),
            }
            // Idempotency keys past their day answer no retry any more.
            match db
                .run(|c| api::idempotency::sweep_expired(c, db::now_ms()))
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(keys = n, "expired idempotency keys deleted"),
                Err(e) => tracing::error!(error = %e, "deleting expired idempotency keys failed"),
            }
        }
    });
}

/// Moves running FOTA campaigns on; every node may, as each change is
/// conditional on the state it was decided from.
fn spawn_campaigns(state: &AppState) {
    let interval = state.config.campaign_interval_secs;
    if interval == 0 {
        return;
    }
    let (db, vault, messaging) = (
        state.db.clone(),
        state.vault.clone(),
        state.messaging.clone(),
    );
    let max_parts = state.config.sms_max_parts;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(interval));
        loop {
            tick.tick().await;
            let vault = vault.clone();
            match db
                .run(move |c| fota::campaign_run::tick(c, &vault, max_parts))
                .await
            {
                Ok(t) => {
                    if t.notified > 0 {
                        if let Some(m) = &messaging {
                            m.wake();
                        }
                    }
                    if t != fota::campaign_run::Ticked::default() {
                        tracing::info!(
                            notified = t.notified,
                            skipped = t.skipped,
                            settled = t.settled,
                            unanswered = t.unanswered,
                            failed = t.failed.len(),
                            "FOTA campaigns moved on"
                        );
                    }
                }
                Err(e) => tracing::error!(error = %e, "moving FOTA campaigns on failed"),
            }
        }
    });
}

async fn not_found() -> Result<actix_web::HttpResponse, web::WebError> {
    Err(web::WebError::NotFound(
        "There is no page at this address.".into(),
    ))
}
