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
    /// `MDM_LOGIN_MAX_FAILURES` (default 5, 1 to 100) within
    /// `MDM_LOGIN_WINDOW_SECS` (default 900, 1 to 86400) against one account
    /// from one client address locks that account's sign-in from that
    /// address for `MDM_LOGIN_LOCKOUT_SECS` (default 900, 1 to 86400).
    /// Wrong current passwords and PINs given to change them count too.
    pub login_max_failures: i32,
    pub login_window_secs: i64,
    pub login_lockout_secs: i64,
    /// `MDM_LOGIN_CEILING` (default 50, from `MDM_LOGIN_MAX_FAILURES` to
    /// 100000): failed sign-ins within the window
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
    /// `MDM_SMSC_*` options beside it, and `MDM_OUTBOX_CLAIM_SECS` (the
    /// sender's claim time, default 120); without it nothing is sent and
    /// messages wait in the outbox.
    pub smsc: Option<SmscConfig>,
    /// `MDM_SMS_MAX_PARTS`: the most short messages one message may take (default 8).
    pub sms_max_parts: u8,
    /// `MDM_SMS_MAX_ATTEMPTS`: submissions before a message is failed (default 10).
    pub sms_max_attempts: i32,
    /// `MDM_SWEEP_INTERVAL_SECS`: how often abandoned FOTA sessions,
    /// unanswered notifications and idle DM sessions are closed (default 60; 0: never).
    pub sweep_interval_secs: u64,
    /// `MDM_FOTA_DOWNLOAD_STALL_MINUTES`: how long a FOTA download the
    /// handset started may go without a request before the sweeper closes
    /// its session as failed (default 60; 0: never, such sessions wait the
    /// day any silent offer gets).
    pub fota_download_stall_minutes: u32,
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

/// `MDM_OUTBOX_CLAIM_SECS`: how long the sender's claim on an outbox row
/// holds. Read whether or not an SMSC is set, so that a bad value stops the
/// server at once rather than on the day the SMSC is configured.
fn outbox_claim_from_env() -> Result<std::time::Duration, ConfigError> {
    crate::messaging::smpp::config::claim_time_from_setting(var("MDM_OUTBOX_CLAIM_SECS").as_deref())
        .map_err(|message| ConfigError {
            name: "MDM_OUTBOX_CLAIM_SECS",
            message,
        })
}

fn smsc_from_env() -> Result<Option<SmscConfig>, ConfigError> {
    let claim_time = outbox_claim_from_env()?;
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
    c.claim_time = claim_time;
    Ok(Some(c))
}

/// The stall window is whole minutes up to a day: past a day the silence
/// rule closes every offered session anyway, so a longer one is a mistake
/// worth stopping the server for.
fn download_stall_from_env() -> Result<u32, ConfigError> {
    let name = "MDM_FOTA_DOWNLOAD_STALL_MINUTES";
    let Some(v) = var(name) else {
        return Ok(crate::fota::session::DOWNLOAD_STALL_MINUTES);
    };
    check_download_stall(&v).map_err(|message| ConfigError { name, message })
}

/// The stall window `value` gives, or why it gives none.
pub fn check_download_stall(value: &str) -> Result<u32, String> {
    match value.trim().parse::<u32>() {
        Ok(m) if m <= 1440 => Ok(m),
        _ => Err(format!(
            "\"{value}\" is not a whole number of minutes from 1 to 1440 (a day), or 0 to turn the stall check off"
        )),
    }
}

/// `MDM_LOGIN_*`: (max failures, ceiling, window secs, lockout secs), within
/// the bounds of `auth::throttle::check_settings`, as a value outside them
/// would turn sign-in throttling off or lock everyone out without a word.
fn login_from_env() -> Result<(i32, i32, i64, i64), ConfigError> {
    let max_failures = parse("MDM_LOGIN_MAX_FAILURES", 5)?;
    let ceiling = parse("MDM_LOGIN_CEILING", 50)?;
    let window_secs = parse("MDM_LOGIN_WINDOW_SECS", 900)?;
    let lockout_secs = parse("MDM_LOGIN_LOCKOUT_SECS", 900)?;
    crate::auth::throttle::check_settings(max_failures, ceiling, window_secs, lockout_secs)
        .map_err(|(name, message)| ConfigError { name, message })?;
    Ok((max_failures, ceiling, window_secs, lockout_secs))
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

/// A whole number from `min` to `max` (its default when unset): a value
/// outside the range would panic deep in a library (a pool or a server of
/// no size) or quietly break a feature (an upload limit of 0 bytes), so
/// it stops the start, naming the range.
fn ranged<T>(name: &'static str, default: T, min: T, max: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match var(name) {
        None => Ok(default),
        Some(v) => check_range(&v, min, max).map_err(|message| ConfigError { name, message }),
    }
}

/// The number `value` gives when it is a whole number from `min` to `max`,
/// or why it is not.
pub fn check_range<T>(value: &str, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match value.trim().parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!(
            "\"{value}\" is not a whole number from {min} to {max}"
        )),
    }
}

/// `MDM_WORKERS`, when set: 1 to 512 (actix's own limit; it panics past it).
fn workers_from_env() -> Result<Option<usize>, ConfigError> {
    let name = "MDM_WORKERS";
    var(name)
        .map(|v| check_range(&v, 1, 512).map_err(|message| ConfigError { name, message }))
        .transpose()
}

/// `DATABASE_URL` as the database layer will use it (see
/// [`crate::db::check_url`]); a URL of another engine, or a mistyped scheme,
/// stops the start instead of becoming a SQLite file of that name.
fn database_url_from_env(data_dir: &std::path::Path) -> Result<String, ConfigError> {
    match var("DATABASE_URL") {
        None => Ok(data_dir.join("mdm.db").to_string_lossy().into_owned()),
        Some(url) => crate::db::check_url(url.trim()).map_err(|message| ConfigError {
            name: "DATABASE_URL",
            message,
        }),
    }
}

/// A secrets key variable, checked now so a mistyped key stops the start
/// as a configuration error naming the variable.
fn secrets_key_var(name: &'static str) -> Result<Option<String>, ConfigError> {
    let Some(key) = var(name) else {
        return Ok(None);
    };
    let key = key.trim().to_string();
    crate::secrets::check_key(&key).map_err(|message| ConfigError { name, message })?;
    Ok(Some(key))
}

/// The first path segments the portal, the API and the device protocols
/// route under. The FOTA check route is registered before all of them, so
/// a path under one of these would take that page or API over.
pub const RESERVED_PATHS: &[&str] = &[
    "account",
    "admin",
    "api",
    "campaigns",
    "capabilities",
    "care",
    "devices",
    "dl",
    "dm-jobs",
    "esn-changes",
    "favicon.ico",
    "firmware",
    "healthz",
    "iota",
    "iota-esn-series",
    "login",
    "logout",
    "omadm",
    "openapi.json",
    "ops",
    "prls",
    "profiles",
    "readyz",
    "self",
    "static",
    "wap",
];

fn fota_path_from_env() -> Result<String, ConfigError> {
    let Some(path) = var("MDM_FOTA_PATH") else {
        return Ok("/fota/check".into());
    };
    check_fota_path(path.trim()).map_err(|message| ConfigError {
        name: "MDM_FOTA_PATH",
        message,
    })?;
    Ok(path.trim().to_string())
}

/// Why `path` cannot be the client-initiated FOTA URL, if it cannot.
pub fn check_fota_path(path: &str) -> Result<(), String> {
    let first = path
        .strip_prefix('/')
        .map(|p| p.split('/').next().unwrap_or_default())
        .unwrap_or_default();
    if first.is_empty()
        || path.contains(['{', '}', '?', '#', '%', '\\'])
        || path.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "\"{path}\" is not a plain URL path such as /fota/check (a / then a name, without {{ }} ? # % or spaces)"
        ));
    }
    if RESERVED_PATHS.iter().any(|r| r.eq_ignore_ascii_case(first)) {
        return Err(format!(
            "\"{path}\" would take over the server's own /{first} pages; choose a path whose first part is none of /{}",
            RESERVED_PATHS.join(", /")
        ));
    }
    Ok(())
}

/// The smallest OMA-DM message limit accepted: a SyncML header with one
/// status and an alert already takes about a kilobyte, and a device's
/// first message (its DevInfo) two; below this every session would fail.
pub const DM_MAX_BODY_MIN: usize = 4096;

/// A directory the node writes to: created when missing, then checked by
/// writing a file in it, so an unusable one stops the start at once, naming
/// its variable and path, instead of failing the first import or download
/// (or the database pool retrying for its whole timeout).
fn check_writable_dir(name: &'static str, dir: &std::path::Path) -> Result<(), ConfigError> {
    let unusable = |what: &str, e: std::io::Error| ConfigError {
        name,
        message: format!("{} {what}: {e}", dir.display()),
    };
    // A missing directory is not created here (every command reads the
    // configuration, a simulator or a no-op purge included): the nearest
    // existing ancestor is probed instead, since that is where it will be.
    let probed = dir
        .ancestors()
        .map(|a| {
            if a.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                a
            }
        })
        .find(|a| a.exists())
        .unwrap_or(std::path::Path::new("."));
    if !probed.is_dir() {
        return Err(unusable(
            "cannot be created",
            std::io::Error::other(format!("{} is not a directory", probed.display())),
        ));
    }
    let verb = if probed == dir {
        "is not writable"
    } else {
        "cannot be created"
    };
    let probe = probed.join(format!(
        ".mdm-write-check-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| unusable(verb, e))?;
    // The probe is empty: one left behind by a failed removal harms nothing.
    let _ = std::fs::remove_file(&probe);
    Ok(())
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
        let database_url = database_url_from_env(&data_dir)?;
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
        let (login_max_failures, login_ceiling, login_window_secs, login_lockout_secs) =
            login_from_env()?;
        let retention_ms = match var("MDM_RETENTION") {
            None => 6 * 30 * 86_400_000,
            Some(v) => {
                crate::retention::purge::parse_duration(&v).map_err(|message| ConfigError {
                    name: "MDM_RETENTION",
                    message,
                })?
            }
        };
        let config = Config {
            blob_dir: var("MDM_BLOB_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("blobs")),
            archive_dir: var("MDM_ARCHIVE_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("archive")),
            retention_ms,
            purge_interval_secs: parse("MDM_PURGE_INTERVAL_SECS", 3600)?,
            public_url: var("MDM_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_string()),
            fota_path: fota_path_from_env()?,
            trusted_gateways,
            gateway_header: var("MDM_GATEWAY_DEVICE_HEADER")
                .unwrap_or_else(|| "x-device-id".into()),
            dm_allow_basic: flag("MDM_DM_ALLOW_BASIC")?,
            dm_max_body: ranged(
                "MDM_DM_MAX_BODY_BYTES",
                64 * 1024,
                DM_MAX_BODY_MIN,
                16 << 20,
            )?,
            bind: var("MDM_BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
            data_dir,
            database_url,
            pool_size: ranged("MDM_DB_POOL_SIZE", 8, 1, 1000)?,
            bootstrap_admin_password: var("MDM_BOOTSTRAP_ADMIN_PASSWORD"),
            session_key,
            secrets_key: secrets_key_var("MDM_SECRETS_KEY")?,
            secrets_previous_key: secrets_key_var("MDM_SECRETS_PREVIOUS_KEY")?,
            cookie_secure: flag("MDM_COOKIE_SECURE")?,
            login_max_failures,
            login_window_secs,
            login_lockout_secs,
            login_ceiling,
            trusted_proxies,
            upload_limit: ranged("MDM_UPLOAD_LIMIT_BYTES", 64 << 20, 1024, 16 << 30)?,
            package_limit: parse("MDM_PACKAGE_LIMIT_BYTES", 512 * 1024 * 1024)?,
            workers: workers_from_env()?,
            smsc: smsc_from_env()?,
            sms_max_parts: ranged("MDM_SMS_MAX_PARTS", 8, 1, 255)?,
            sms_max_attempts: ranged("MDM_SMS_MAX_ATTEMPTS", 10, 1, 1000)?,
            sweep_interval_secs: parse("MDM_SWEEP_INTERVAL_SECS", 60)?,
            fota_download_stall_minutes: download_stall_from_env()?,
            campaign_interval_secs: parse("MDM_CAMPAIGN_INTERVAL_SECS", 10)?,
            billing: billing_from_env()?,
            iota_ivr_sources: list_var("MDM_IOTA_IVR_SOURCES"),
            iota_otap_sources: list_var("MDM_IOTA_OTAP_SOURCES"),
            iota_welcome: welcome_from_env(ranged("MDM_SMS_MAX_PARTS", 8, 1, 255)?)?,
        };
        config.check_directories()?;
        Ok(config)
    }

    /// Creates the directories this node writes to when missing and checks
    /// each is writable: the data dir when the SQLite file or a generated
    /// key lives there, the SQLite file's own directory, the blob store and
    /// the archive.
    pub fn check_directories(&self) -> Result<(), ConfigError> {
        let explicit = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        let sqlite_dir = (crate::db::Backend::of_url(&self.database_url)
            == crate::db::Backend::Sqlite)
            .then(|| crate::db::sqlite_file(&self.database_url).parent())
            .flatten()
            .filter(|d| !d.as_os_str().is_empty());
        let database_in_data_dir = sqlite_dir == Some(self.data_dir.as_path());
        if database_in_data_dir || self.session_key.is_none() || self.secrets_key.is_none() {
            check_writable_dir("MDM_DATA_DIR", &self.data_dir)?;
        }
        if let Some(dir) = sqlite_dir.filter(|_| !database_in_data_dir) {
            check_writable_dir("DATABASE_URL", dir)?;
        }
        let under_data_dir = |name| if explicit(name) { name } else { "MDM_DATA_DIR" };
        check_writable_dir(under_data_dir("MDM_BLOB_DIR"), &self.blob_dir)?;
        check_writable_dir(under_data_dir("MDM_ARCHIVE_DIR"), &self.archive_dir)?;
        Ok(())
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
            fota_download_stall_minutes: crate::fota::session::DOWNLOAD_STALL_MINUTES,
            campaign_interval_secs: 0,
            billing: None,
            iota_ivr_sources: Vec::new(),
            iota_otap_sources: Vec::new(),
            iota_welcome: None,
        }
    }
}

#[cfg(test)]
mod startup_check_tests {
    use super::*;

    #[test]
    fn numbers_must_be_whole_and_within_their_range() {
        assert_eq!(check_range::<usize>("4", 1, 512), Ok(4));
        assert_eq!(check_range::<usize>(" 512 ", 1, 512), Ok(512));
        for bad in ["0", "513", "100000", "abc", "-2", "1.5", ""] {
            let err = check_range::<usize>(bad, 1, 512).unwrap_err();
            assert!(err.contains("from 1 to 512"), "{bad}: {err}");
        }
        assert!(check_range::<i32>("-1", 1, 1000).is_err());
        assert!(check_range::<u8>("256", 1, 255).is_err());
    }

    #[test]
    fn the_fota_path_must_be_its_own() {
        for ok in ["/fota/check", "/handset/fota", "/fota", "/dlx/check"] {
            assert_eq!(check_fota_path(ok), Ok(()), "{ok}");
        }
        for taken in [
            "/login",
            "/LOGIN",
            "/api",
            "/api/v1/x",
            "/omadm",
            "/static/a.css",
            "/dl",
            "/dl/1/dd",
            "/self",
            "/ops",
            "/devices/check",
            "/healthz",
        ] {
            let err = check_fota_path(taken).unwrap_err();
            assert!(err.contains("would take over"), "{taken}: {err}");
        }
        for malformed in ["", "/", "fota/check", "/fota/{id}", "/fota?x=1", "/a b"] {
            assert!(check_fota_path(malformed).is_err(), "{malformed}");
        }
    }

    #[test]
    fn missing_directories_are_checked_not_created_and_an_unusable_one_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_test(
            &dir.path().join("data/mdm.db").to_string_lossy(),
            dir.path().join("data"),
        );
        config.check_directories().expect("usable");
        // Nothing is created or left behind by the check: the commands that
        // use a directory make it.
        assert_eq!(std::fs::read_dir(dir.path()).expect("listed").count(), 0);
        std::fs::create_dir_all(dir.path().join("data/blobs")).expect("made");
        config.check_directories().expect("usable");
        let left = std::fs::read_dir(dir.path().join("data"))
            .expect("listed")
            .count();
        assert_eq!(left, 1);
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").expect("written");
        config.archive_dir = file.join("archive");
        let err = config.check_directories().unwrap_err();
        assert!(err.message.contains("is not a directory"), "{err}");
        config.archive_dir = dir.path().join("data/archive");

        config.blob_dir = "/proc/no-blobs".into();
        let err = config.check_directories().unwrap_err();
        assert_eq!(err.name, "MDM_DATA_DIR", "not set in the environment here");
        assert!(
            err.message.starts_with("/proc/no-blobs cannot be created"),
            "{err}"
        );

        let mut config = Config::for_test("/proc/nodb/mdm.db", dir.path().join("data"));
        let err = config.check_directories().unwrap_err();
        assert_eq!(err.name, "DATABASE_URL");
        config.database_url = "postgres://h/db".into();
        config.data_dir = "/proc/nodata".into();
        config.blob_dir = dir.path().join("blobs");
        config.archive_dir = dir.path().join("archive");
        // Generated keys live in the data dir, so it is needed...
        assert_eq!(config.check_directories().unwrap_err().name, "MDM_DATA_DIR");
        // ...but not when both keys are given on PostgreSQL.
        config.session_key = Some("00".repeat(64));
        config.secrets_key = Some("00".repeat(32));
        config
            .check_directories()
            .expect("the data dir is not used");
    }
}
