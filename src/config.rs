//! Typed settings, read from the environment. Every variable is documented
//! in the README's configuration reference.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::messaging::smpp::{BindMode, SmscConfig};

#[derive(Debug, Clone)]
pub struct Config {
    /// `MDM_BIND`, default `127.0.0.1:8080`.
    pub bind: String,
    /// `MDM_DATA_DIR`, default `./data`.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`; default a SQLite file `mdm.db` in the data dir.
    pub database_url: String,
    /// `MDM_DB_POOL_SIZE`, default 8.
    pub pool_size: u32,
    /// `MDM_BOOTSTRAP_ADMIN_PASSWORD`: the first admin's password.
    pub bootstrap_admin_password: Option<String>,
    /// `MDM_SESSION_KEY`: 128 hex digits (64 bytes). Default: generated once
    /// and kept in `session.key` in the data dir.
    pub session_key: Option<String>,
    /// `MDM_SECRETS_KEY`: 64 hex digits (32 bytes) sealing the OMA-DM shared
    /// secrets in the database. Default: generated once and kept in
    /// `secrets.key` in the data dir. Nodes sharing a database share it.
    pub secrets_key: Option<String>,
    /// `MDM_SECRETS_PREVIOUS_KEY`: the key being rotated out. Secrets it
    /// sealed still open, and each node re-seals them under the current
    /// key when it starts.
    pub secrets_previous_key: Option<String>,
    /// `MDM_COOKIE_SECURE`: mark cookies Secure (set when served over HTTPS).
    pub cookie_secure: bool,
    /// `MDM_LOGIN_MAX_FAILURES` (default 5) within `MDM_LOGIN_WINDOW_SECS`
    /// (default 900) against one account from one client address locks that
    /// account's sign-in from that address for `MDM_LOGIN_LOCKOUT_SECS` (default 900).
    pub login_max_failures: i32,
    pub login_window_secs: i64,
    pub login_lockout_secs: i64,
    /// `MDM_LOGIN_CEILING` (default 50): failed sign-ins within the window
    /// from one client address whatever the accounts, or against one staff
    /// account whatever the addresses, before that address or account is
    /// locked (a subscriber line is locked at `MDM_LOGIN_MAX_FAILURES` from
    /// everywhere: a PIN is short).
    /// The lock above is per account and address, so one person's typos do
    /// not lock out everyone behind the same NAT or proxy.
    pub login_ceiling: i32,
    /// `MDM_TRUSTED_PROXIES`: comma-separated addresses whose
    /// X-Forwarded-For is believed when throttling by client address.
    pub trusted_proxies: Vec<IpAddr>,
    /// `MDM_UPLOAD_LIMIT_BYTES`: the largest CSV import accepted (default 64 MiB).
    pub upload_limit: usize,
    /// `MDM_PACKAGE_LIMIT_BYTES`: the largest firmware package accepted (default 512 MiB).
    pub package_limit: usize,
    /// `MDM_PUBLIC_URL`: the base URL devices reach this server at (for
    /// RespURI, package and descriptor locations). Default: from the request.
    pub public_url: Option<String>,
    /// `MDM_FOTA_PATH`: the client-initiated FOTA URL (default `/fota/check`).
    pub fota_path: String,
    /// `MDM_TRUSTED_GATEWAYS`: WAP gateway addresses whose device-id header is believed.
    pub trusted_gateways: Vec<IpAddr>,
    /// `MDM_GATEWAY_DEVICE_HEADER`: the header those gateways put the ESN/MEID in
    /// (default `x-device-id`).
    pub gateway_header: String,
    /// `MDM_DM_ALLOW_BASIC`: accept `syncml:auth-basic` credentials (default false).
    pub dm_allow_basic: bool,
    /// `MDM_DM_MAX_BODY_BYTES`: the largest OMA-DM message accepted (default 65536).
    pub dm_max_body: usize,
    /// `MDM_BLOB_DIR`: where firmware package files are kept (default
    /// `blobs` in the data dir). Nodes sharing a database must share it: the
    /// database names packages whose files only this directory holds.
    pub blob_dir: PathBuf,
    /// `MDM_ARCHIVE_DIR`: the offline archive (default `archive` in the data dir).
    pub archive_dir: PathBuf,
    /// `MDM_RETENTION`: how long deactivated subscribers stay before the purge
    /// archives them (default `6mo`; units s, m, h, d, w, mo, y).
    pub retention_ms: i64,
    /// `MDM_PURGE_INTERVAL_SECS`: how often the server runs the purge
    /// (default 3600; 0 turns the scheduled purge off).
    pub purge_interval_secs: u64,
    /// `MDM_WORKERS`: HTTP worker threads (default: one per core).
    pub workers: Option<usize>,
    /// `MDM_SMSC_URL` (`smpp://SYSTEM_ID:PASSWORD@HOST:PORT`) and the
    /// `MDM_SMSC_*` options beside it; without it nothing is sent and
    /// messages wait in the outbox.
    pub smsc: Option<SmscConfig>,
    /// `MDM_SMS_MAX_PARTS`: the most short messages one message may take (default 8).
    pub sms_max_parts: u8,
    /// `MDM_SMS_MAX_ATTEMPTS`: submissions before a message is failed (default 10).
    pub sms_max_attempts: i32,
    /// `MDM_SWEEP_INTERVAL_SECS`: how often abandoned FOTA sessions,
    /// unanswered notifications and idle DM sessions are closed (default 60; 0: never).
    pub sweep_interval_secs: u64,
    /// `MDM_CAMPAIGN_INTERVAL_SECS`: how often running FOTA campaigns are
    /// moved on (outcomes recorded, the next wave notified) (default 10; 0: never).
    pub campaign_interval_secs: u64,
    /// `MDM_BILLING_URL` (the billing gateway's base URL), with
    /// `MDM_BILLING_TIMEOUT_SECS` (default 5) and `MDM_BILLING_ATTEMPTS` (default 3).
    pub billing: Option<crate::billing::BillingConfig>,
    /// `MDM_IOTA_IVR_SOURCES`: comma-separated SMS source addresses of the
    /// IVR whose `IOTA ACTIVATE <ESN>` messages start star-code activation
    /// (default: none, the trigger is off).
    pub iota_ivr_sources: Vec<String>,
    /// `MDM_IOTA_OTAP_SOURCES`: source addresses of the OTAP administrator
    /// whose `OTAPA PRL <ESN|MEID|MDN> <PRL_ID>` messages start a PRL download.
    pub iota_otap_sources: Vec<String>,
    /// `MDM_IOTA_WELCOME`: the optional welcome text sent before the
    /// star-code activation push (default: none).
    pub iota_welcome: Option<String>,
}

fn list_var(name: &str) -> Vec<String> {
    var(name)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn billing_from_env() -> Result<Option<crate::billing::BillingConfig>, ConfigError> {
    let Some(url) = var("MDM_BILLING_URL") else {
        return Ok(None);
    };
    let mut c = crate::billing::BillingConfig::new(url);
    let secs: u64 = parse("MDM_BILLING_TIMEOUT_SECS", c.timeout.as_secs())?;
    c.timeout = std::time::Duration::from_secs(secs.max(1));
    c.attempts = parse("MDM_BILLING_ATTEMPTS", c.attempts)?.max(1);
    // Checked now so a bad URL stops the server at start, not at the first order.
    crate::billing::BillingClient::new(c.clone()).map_err(|e| ConfigError {
        name: "MDM_BILLING_URL",
        message: e.to_string(),
    })?;
    Ok(Some(c))
}

/// The star-code welcome goes out in at most a few short messages: one
/// that does not fit would fail on every activation, so it stops the server
/// at start.
fn welcome_from_env(sms_max_parts: u8) -> Result<Option<String>, ConfigError> {
    let Some(text) = var("MDM_IOTA_WELCOME") else {
        return Ok(None);
    };
    check_welcome(&text, sms_max_parts).map_err(|message| ConfigError {
        name: "MDM_IOTA_WELCOME",
        message,
    })?;
    Ok(Some(text))
}

/// Why a welcome text cannot be sent, if it cannot.
pub fn check_welcome(text: &str, sms_max_parts: u8) -> Result<(), String> {
    crate::iota::driver::check_welcome(text, sms_max_parts).map(drop)
}

fn smsc_from_env() -> Result<Option<SmscConfig>, ConfigError> {
    let Some(url) = var("MDM_SMSC_URL") else {
        return Ok(None);
    };
    let mut c = SmscConfig::from_url(&url).map_err(|e| ConfigError {
        name: "MDM_SMSC_URL",
        message: e.to_string(),
    })?;
    if let Some(v) = var("MDM_SMSC_SOURCE_ADDR") {
        c.source_addr = v;
    }
    c.source_ton = parse("MDM_SMSC_SOURCE_TON", c.source_ton)?;
    c.source_npi = parse("MDM_SMSC_SOURCE_NPI", c.source_npi)?;
    c.dest_ton = parse("MDM_SMSC_DEST_TON", c.dest_ton)?;
    c.dest_npi = parse("MDM_SMSC_DEST_NPI", c.dest_npi)?;
    if let Some(v) = var("MDM_SMSC_SYSTEM_TYPE") {
        c.system_type = v;
    }
    c.bind_mode = match var("MDM_SMSC_BIND").as_deref() {
        None | Some("transceiver") => BindMode::Transceiver,
        Some("transmitter-receiver") => BindMode::TransmitterReceiver,
        Some(other) => {
            return Err(ConfigError {
                name: "MDM_SMSC_BIND",
                message: format!("\"{other}\" is not transceiver or transmitter-receiver"),
            })
        }
    };
    c.window = parse("MDM_SMSC_WINDOW", c.window)?;
    if c.window == 0 {
        return Err(ConfigError {
            name: "MDM_SMSC_WINDOW",
            message: "must be at least 1".into(),
        });
    }
    let rate: u32 = parse("MDM_SMSC_RATE", 0)?;
    c.rate_limit_per_sec = (rate > 0).then_some(rate);
    let enquire: u64 = parse(
        "MDM_SMSC_ENQUIRE_LINK_SECS",
        c.enquire_link_interval.as_secs(),
    )?;
    c.enquire_link_interval = std::time::Duration::from_secs(enquire.max(1));
    Ok(Some(c))
}

#[derive(Debug, thiserror::Error)]
#[error("{name}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| ConfigError {
            name,
            message: format!("\"{v}\" is not a valid value"),
        }),
    }
}

fn flag(name: &'static str) -> Result<bool, ConfigError> {
    match var(name).as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("0") | Some("false") | Some("no") | Some("off") => Ok(false),
        Some("1") | Some("true") | Some("yes") | Some("on") => Ok(true),
        Some(other) => Err(ConfigError {
            name,
            message: format!("\"{other}\" is not true or false"),
        }),
    }
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        let data_dir = PathBuf::from(var("MDM_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = var("DATABASE_URL")
            .unwrap_or_else(|| data_dir.join("mdm.db").to_string_lossy().into_owned());
        let trusted_proxies = match var("MDM_TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    s.trim().parse().map_err(|_| ConfigError {
                        name: "MDM_TRUSTED_PROXIES",
                        message: format!("\"{s}\" is not an IP address"),
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let session_key = var("MDM_SESSION_KEY");
        if let Some(k) = &session_key {
            if hex::decode(k).map(|b| b.len() < 64).unwrap_or(true) {
                return Err(ConfigError {
                    name: "MDM_SESSION_KEY",
                    message: "must be at least 128 hex digits (64 bytes)".into(),
                });
            }
        }
        let trusted_gateways = match var("MDM_TRUSTED_GATEWAYS") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    s.trim().parse().map_err(|_| ConfigError {
                        name: "MDM_TRUSTED_GATEWAYS",
                        message: format!("\"{s}\" is not an IP address"),
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let retention_ms = match var("MDM_RETENTION") {
            None => 6 * 30 * 86_400_000,
            Some(v) => {
                crate::retention::purge::parse_duration(&v).map_err(|message| ConfigError {
                    name: "MDM_RETENTION",
                    message,
                })?
            }
        };
        Ok(Config {
            blob_dir: var("MDM_BLOB_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("blobs")),
            archive_dir: var("MDM_ARCHIVE_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("archive")),
            retention_ms,
            purge_interval_secs: parse("MDM_PURGE_INTERVAL_SECS", 3600)?,
            public_url: var("MDM_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_string()),
            fota_path: var("MDM_FOTA_PATH").unwrap_or_else(|| "/fota/check".into()),
            trusted_gateways,
            gateway_header: var("MDM_GATEWAY_DEVICE_HEADER")
                .unwrap_or_else(|| "x-device-id".into()),
            dm_allow_basic: flag("MDM_DM_ALLOW_BASIC")?,
            dm_max_body: parse("MDM_DM_MAX_BODY_BYTES", 64 * 1024)?,
            bind: var("MDM_BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
            data_dir,
            database_url,
            pool_size: parse("MDM_DB_POOL_SIZE", 8)?,
            bootstrap_admin_password: var("MDM_BOOTSTRAP_ADMIN_PASSWORD"),
            session_key,
            secrets_key: var("MDM_SECRETS_KEY"),
            secrets_previous_key: var("MDM_SECRETS_PREVIOUS_KEY"),
            cookie_secure: flag("MDM_COOKIE_SECURE")?,
            login_max_failures: parse("MDM_LOGIN_MAX_FAILURES", 5)?,
            login_window_secs: parse("MDM_LOGIN_WINDOW_SECS", 900)?,
            login_lockout_secs: parse("MDM_LOGIN_LOCKOUT_SECS", 900)?,
            login_ceiling: parse("MDM_LOGIN_CEILING", 50)?,
            trusted_proxies,
            upload_limit: parse("MDM_UPLOAD_LIMIT_BYTES", 64 * 1024 * 1024)?,
            package_limit: parse("MDM_PACKAGE_LIMIT_BYTES", 512 * 1024 * 1024)?,
            workers: var("MDM_WORKERS").and_then(|w| w.parse().ok()),
            smsc: smsc_from_env()?,
            sms_max_parts: parse("MDM_SMS_MAX_PARTS", 8)?,
            sms_max_attempts: parse("MDM_SMS_MAX_ATTEMPTS", 10)?,
            sweep_interval_secs: parse("MDM_SWEEP_INTERVAL_SECS", 60)?,
            campaign_interval_secs: parse("MDM_CAMPAIGN_INTERVAL_SECS", 10)?,
            billing: billing_from_env()?,
            iota_ivr_sources: list_var("MDM_IOTA_IVR_SOURCES"),
            iota_otap_sources: list_var("MDM_IOTA_OTAP_SOURCES"),
            iota_welcome: welcome_from_env(parse("MDM_SMS_MAX_PARTS", 8)?)?,
        })
    }

    /// Settings for a test or an embedded run: everything default, with the
    /// given database and data dir and the server on a random port.
    pub fn for_test(database_url: &str, data_dir: PathBuf) -> Config {
        Config {
            blob_dir: data_dir.join("blobs"),
            archive_dir: data_dir.join("archive"),
            bind: "127.0.0.1:0".into(),
            data_dir,
            database_url: database_url.into(),
            pool_size: 4,
            bootstrap_admin_password: Some("admin-password-for-tests".into()),
            session_key: None,
            secrets_key: None,
            secrets_previous_key: None,
            cookie_secure: false,
            login_max_failures: 5,
            login_window_secs: 900,
            login_lockout_secs: 900,
            login_ceiling: 50,
            trusted_proxies: Vec::new(),
            upload_limit: 8 * 1024 * 1024,
            package_limit: 1024 * 1024,
            retention_ms: 6 * 30 * 86_400_000,
            purge_interval_secs: 0,
            public_url: None,
            fota_path: "/fota/check".into(),
            trusted_gateways: vec![std::net::IpAddr::from([127, 0, 0, 1])],
            gateway_header: "x-device-id".into(),
            dm_allow_basic: false,
            dm_max_body: 64 * 1024,
            workers: Some(2),
            smsc: None,
            sms_max_parts: 8,
            sms_max_attempts: 10,
            sweep_interval_secs: 0,
            campaign_interval_secs: 0,
            billing: None,
            iota_ivr_sources: Vec::new(),
            iota_otap_sources: Vec::new(),
            iota_welcome: None,
        }
    }
}
