//! SMSC connection settings and their `smpp://` URL form.

use std::fmt;
use std::time::Duration;

use url::{Host, Url};

use super::error::ConfigError;

/// Longest values the bind PDU can carry (the SMPP sizes minus the NUL).
const MAX_SYSTEM_ID: usize = 15;
const MAX_PASSWORD: usize = 8;

/// How the ESME binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindMode {
    /// One connection bound with `bind_transceiver`.
    #[default]
    Transceiver,
    /// Two connections: `bind_transmitter` for submits and `bind_receiver`
    /// for receipts and MO messages, for SMSCs without transceiver support.
    TransmitterReceiver,
}

impl BindMode {
    /// Label used in `LinkStatus::Bound` and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            BindMode::Transceiver => "transceiver",
            BindMode::TransmitterReceiver => "transmitter+receiver",
        }
    }
}

/// Everything the link needs to reach and use one SMSC account.
#[derive(Clone, PartialEq, Eq)]
pub struct SmscConfig {
    pub host: String,
    pub port: u16,
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub source_addr: String,
    pub source_ton: u8,
    pub source_npi: u8,
    pub dest_ton: u8,
    pub dest_npi: u8,
    pub bind_mode: BindMode,
    /// Maximum outstanding `submit_sm` without a response (0 acts as 1).
    pub window: usize,
    /// `None` (or `Some(0)`) means unlimited.
    pub rate_limit_per_sec: Option<u32>,
    pub enquire_link_interval: Duration,
    /// A submit or our enquire_link unanswered for this long recycles the
    /// link; also bounds the TCP connect and the bind handshake.
    pub response_timeout: Duration,
    /// Exponential back-off between reconnect attempts, reset by a bind.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// How long the sender's claim on an outbox row holds before another
    /// node (or this one, afresh) may take the row over. The sender claims
    /// no more than the rate limit lets out well within it and renews the
    /// claims of rows still waiting for the link.
    pub claim_time: Duration,
}

/// How long an outbox claim holds unless `MDM_OUTBOX_CLAIM_SECS` says otherwise.
pub const DEFAULT_CLAIM_TIME: Duration = Duration::from_secs(120);

/// The shortest claim the sender keeps hold of. Its renewer runs every
/// quarter of the claim time but never more often than every 50 ms, and a
/// row is only sent while more than a quarter of its claim is left: a claim
/// under 4 × 50 ms would lapse, as this node sees it, before the renewal
/// that extends it. In whole seconds (as the setting is given) that is one.
pub const MIN_CLAIM_TIME: Duration = Duration::from_secs(1);

/// The longest claim accepted: a node that dies keeps its rows (on another
/// host, where its end cannot be seen) for this long, and the sender adds
/// the claim time to clock readings in milliseconds.
pub const MAX_CLAIM_TIME: Duration = Duration::from_secs(86_400);

/// The claim time `MDM_OUTBOX_CLAIM_SECS` gives (`None`: not set), or why
/// it cannot be used.
pub fn claim_time_from_setting(value: Option<&str>) -> Result<Duration, String> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(DEFAULT_CLAIM_TIME);
    };
    let secs: u64 = v
        .parse()
        .map_err(|_| format!("\"{v}\" is not a whole number of seconds"))?;
    let claim = Duration::from_secs(secs);
    if claim < MIN_CLAIM_TIME {
        return Err(format!(
            "must be at least {} second(s): the sender renews its claims every quarter of this time, \
             and with {secs} another node could take a message over as soon as it is claimed",
            MIN_CLAIM_TIME.as_secs()
        ));
    }
    if claim > MAX_CLAIM_TIME {
        return Err(format!(
            "{secs} is more than {} (a day): the messages of a node that dies would wait that long",
            MAX_CLAIM_TIME.as_secs()
        ));
    }
    Ok(claim)
}

impl SmscConfig {
    pub const DEFAULT_PORT: u16 = 2775;

    /// A config with the documented defaults for everything but the account.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        system_id: impl Into<String>,
        password: impl Into<String>,
    ) -> SmscConfig {
        SmscConfig {
            host: host.into(),
            port,
            system_id: system_id.into(),
            password: password.into(),
            system_type: String::new(),
            source_addr: String::new(),
            source_ton: 0,
            source_npi: 0,
            dest_ton: 1,
            dest_npi: 1,
            bind_mode: BindMode::Transceiver,
            window: 10,
            rate_limit_per_sec: None,
            enquire_link_interval: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            claim_time: DEFAULT_CLAIM_TIME,
        }
    }

    /// `smpp://SYSTEM_ID:PASSWORD@HOST:PORT`; see [`parse_url`].
    pub fn from_url(url: &str) -> Result<SmscConfig, ConfigError> {
        parse_url(url)
    }

    /// The URL with the password masked, safe for logs and the UI.
    pub fn redacted(&self) -> String {
        format!(
            "smpp://{}:***@{}:{}",
            self.system_id,
            host_for_url(&self.host),
            self.port
        )
    }
}

impl fmt::Debug for SmscConfig {
    // Hand-written so a logged config never leaks the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmscConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("system_id", &self.system_id)
            .field("password", &"***")
            .field("system_type", &self.system_type)
            .field("source_addr", &self.source_addr)
            .field("source_ton", &self.source_ton)
            .field("source_npi", &self.source_npi)
            .field("dest_ton", &self.dest_ton)
            .field("dest_npi", &self.dest_npi)
            .field("bind_mode", &self.bind_mode)
            .field("window", &self.window)
            .field("rate_limit_per_sec", &self.rate_limit_per_sec)
            .field("enquire_link_interval", &self.enquire_link_interval)
            .field("response_timeout", &self.response_timeout)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("claim_time", &self.claim_time)
            .finish()
    }
}

/// Parses `smpp://SYSTEM_ID:PASSWORD@HOST:PORT` (port defaults to 2775,
/// user and password are percent-decoded). Every other field gets the
/// defaults of [`SmscConfig::new`].
pub fn parse_url(input: &str) -> Result<SmscConfig, ConfigError> {
    let url = Url::parse(input.trim()).map_err(|e| match e {
        url::ParseError::EmptyHost => ConfigError::MissingHost,
        other => ConfigError::InvalidUrl(other),
    })?;
    if url.scheme() != "smpp" {
        return Err(ConfigError::UnsupportedScheme(url.scheme().to_owned()));
    }
    let host = match url.host() {
        Some(Host::Domain(d)) if !d.is_empty() => d.to_owned(),
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err(ConfigError::MissingHost),
    };
    // A stray query such as `?window=20` would otherwise be silently ignored.
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::UnexpectedComponent);
    }
    let system_id = percent_decode(url.username(), "system id")?;
    if system_id.is_empty() {
        return Err(ConfigError::MissingSystemId);
    }
    let password = percent_decode(url.password().unwrap_or(""), "password")?;
    check_field(&system_id, "system id", MAX_SYSTEM_ID)?;
    check_field(&password, "password", MAX_PASSWORD)?;
    let port = url.port().unwrap_or(SmscConfig::DEFAULT_PORT);
    Ok(SmscConfig::new(host, port, system_id, password))
}

fn check_field(value: &str, field: &'static str, max: usize) -> Result<(), ConfigError> {
    // The bind PDU carries C-octet strings: ASCII without NUL.
    if !value.bytes().all(|b| b.is_ascii() && b != 0) {
        return Err(ConfigError::NotAscii { field });
    }
    if value.len() > max {
        return Err(ConfigError::TooLong { field, max });
    }
    Ok(())
}

fn percent_decode(raw: &str, field: &'static str) -> Result<String, ConfigError> {
    let bad = || ConfigError::BadEncoding { field };
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes
                .get(i + 1)
                .and_then(|&b| hex_value(b))
                .ok_or_else(bad)?;
            let lo = bytes
                .get(i + 2)
                .and_then(|&b| hex_value(b))
                .ok_or_else(bad)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fn host_for_url(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_url_with_defaults() {
        let c = parse_url("smpp://esme1:s3cret@smsc.example.net:2776").unwrap();
        assert_eq!(c.host, "smsc.example.net");
        assert_eq!(c.port, 2776);
        assert_eq!(c.system_id, "esme1");
        assert_eq!(c.password, "s3cret");
        assert_eq!(c.system_type, "");
        assert_eq!(c.source_addr, "");
        assert_eq!((c.source_ton, c.source_npi), (0, 0));
        assert_eq!((c.dest_ton, c.dest_npi), (1, 1));
        assert_eq!(c.bind_mode, BindMode::Transceiver);
        assert_eq!(c.window, 10);
        assert_eq!(c.rate_limit_per_sec, None);
        assert_eq!(c.enquire_link_interval, Duration::from_secs(30));
        assert_eq!(c.response_timeout, Duration::from_secs(10));
        assert_eq!(c.reconnect_min, Duration::from_secs(1));
        assert_eq!(c.reconnect_max, Duration::from_secs(60));
    }

    #[test]
    fn the_claim_time_is_whole_seconds_from_one_second_to_a_day() {
        assert_eq!(claim_time_from_setting(None), Ok(Duration::from_secs(120)));
        assert_eq!(claim_time_from_setting(Some("  ")), Ok(DEFAULT_CLAIM_TIME));
        assert_eq!(
            claim_time_from_setting(Some(" 45 ")),
            Ok(Duration::from_secs(45))
        );
        assert_eq!(claim_time_from_setting(Some("1")), Ok(MIN_CLAIM_TIME));
        assert_eq!(claim_time_from_setting(Some("86400")), Ok(MAX_CLAIM_TIME));
        for (bad, says) in [
            ("abc", "\"abc\" is not a whole number of seconds"),
            ("2m", "\"2m\" is not a whole number of seconds"),
            ("1.5", "\"1.5\" is not a whole number of seconds"),
            ("-5", "\"-5\" is not a whole number of seconds"),
            ("0", "must be at least 1 second(s)"),
            ("86401", "86401 is more than 86400"),
            ("18446744073709551615", "is more than 86400"),
        ] {
            let e = claim_time_from_setting(Some(bad)).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        // The default of a link built without the setting.
        let c = parse_url("smpp://esme1:pw@smsc:2775").unwrap();
        assert_eq!(c.claim_time, DEFAULT_CLAIM_TIME);
    }

    #[test]
    fn default_port_ip_hosts_and_empty_password() {
        let c = SmscConfig::from_url("smpp://id@10.1.2.3").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("10.1.2.3", 2775));
        assert_eq!(c.password, "");
        let c = SmscConfig::from_url("smpp://id:pw@[::1]:9000/").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("::1", 9000));
        assert_eq!(c.redacted(), "smpp://id:***@[::1]:9000");
    }

    #[test]
    fn percent_decodes_credentials() {
        let c = parse_url("smpp://us%40r:p%3Aw%2F%25@h:1").unwrap();
        assert_eq!(c.system_id, "us@r");
        assert_eq!(c.password, "p:w/%");
    }

    #[test]
    fn redacts_password_everywhere() {
        let c = parse_url("smpp://esme1:secret@smsc:2775").unwrap();
        assert_eq!(c.redacted(), "smpp://esme1:***@smsc:2775");
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            parse_url("not a url"),
            Err(ConfigError::InvalidUrl(_))
        ));
        assert_eq!(
            parse_url("http://id:pw@h:1"),
            Err(ConfigError::UnsupportedScheme("http".into()))
        );
        assert_eq!(
            parse_url("smpp://h:2775"),
            Err(ConfigError::MissingSystemId)
        );
        assert_eq!(
            parse_url("smpp://:pw@h:2775"),
            Err(ConfigError::MissingSystemId)
        );
        assert_eq!(parse_url("smpp://id:pw@"), Err(ConfigError::MissingHost));
        assert_eq!(parse_url("smpp:nothing"), Err(ConfigError::MissingHost));
        assert!(matches!(
            parse_url("smpp://id:pw@h:99999"),
            Err(ConfigError::InvalidUrl(_))
        ));
        assert_eq!(
            parse_url("smpp://id:pw@h:1?window=20"),
            Err(ConfigError::UnexpectedComponent)
        );
        assert_eq!(
            parse_url("smpp://id:pw@h:1/x"),
            Err(ConfigError::UnexpectedComponent)
        );
        assert_eq!(
            parse_url("smpp://id:p%zz@h"),
            Err(ConfigError::BadEncoding { field: "password" })
        );
        assert_eq!(
            parse_url("smpp://%C3%A9t%C3%A9@h"),
            Err(ConfigError::NotAscii { field: "system id" })
        );
        assert_eq!(
            parse_url("smpp://a_very_long_system_id@h"),
            Err(ConfigError::TooLong {
                field: "system id",
                max: 15
            })
        );
        assert_eq!(
            parse_url("smpp://esme1:topsecret@smsc:2775"),
            Err(ConfigError::TooLong {
                field: "password",
                max: 8
            })
        );
    }
}
