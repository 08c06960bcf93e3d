//! OMA Client Provisioning pushes for a device: a settings push (BREW URL,
//! data and WAP connectivity) or the bootstrap of its OMA-DM account. Both
//! are signed with NETWPIN, whose key comes from the subscriber's IMSI.

use super::content::{self, ContentError, CpSettings};
use super::outbox::{self, Kind, NewMessage, OutboxMessage};
use crate::db::DbConnection;
use crate::omadm::account;
use crate::registry::audit::{self, EntityKind};
use crate::registry::identifiers::Mdn;
use crate::registry::{device, profile, Actor, RegistryError};

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the device has no subscriber line (MDN) to push to")]
    NoMdn,
    #[error("the subscriber has no IMSI, which the NETWPIN signature needs")]
    NoImsi,
    #[error(
        "the device has no OMA-DM credentials to bootstrap; set them on the device page first"
    )]
    NoAccount,
    #[error("nothing to push: give a BREW URL, an APN or a WAP proxy")]
    Empty,
    #[error("this handset has been de-activated: nothing is pushed to it any more")]
    HandsetDeactivated,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
}

struct Line {
    mdn: Mdn,
    imsi: String,
}

fn line_of(conn: &mut DbConnection, device_id: i64) -> Result<Line, PushError> {
    let dev = device::get(conn, device_id)?;
    // Both pushes reach a handset through its line: one out of service
    // would program a phone that is no longer the subscriber's.
    if dev.is_deactivated() {
        return Err(PushError::HandsetDeactivated);
    }
    let pid = dev.profile_id.ok_or(PushError::NoMdn)?;
    let p = profile::get(conn, pid)?;
    let mdn = Mdn::parse(&p.mdn).map_err(|_| PushError::NoMdn)?;
    let imsi = p.imsi.filter(|i| !i.is_empty()).ok_or(PushError::NoImsi)?;
    Ok(Line { mdn, imsi })
}

fn check_url(what: &str, url: &str) -> Result<(), PushError> {
    if url.is_empty() {
        return Ok(());
    }
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        _ => Err(PushError::Invalid(format!(
            "{what} must be an http or https URL"
        ))),
    }
}

/// Queues a settings push.
pub fn push_settings(
    conn: &mut DbConnection,
    device_id: i64,
    settings: &CpSettings,
    actor: &Actor,
    max_parts: u8,
) -> Result<OutboxMessage, PushError> {
    if settings.is_empty() {
        return Err(PushError::Empty);
    }
    check_url("The BREW URL", &settings.brew_url)?;
    check_url("The home page", &settings.homepage)?;
    if !settings.proxy.is_empty() && settings.proxy.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(PushError::Invalid(
            "The WAP proxy must be an IPv4 address".into(),
        ));
    }
    if !settings.proxy_port.is_empty() && settings.proxy_port.parse::<u16>().is_err() {
        return Err(PushError::Invalid("The proxy port must be a number".into()));
    }
    crate::db::write(conn, |conn| {
        let line = line_of(conn, device_id)?;
        let pdu = content::cp_push(&settings.document(), &line.imsi)?;
        let mut what = Vec::new();
        if !settings.brew_url.is_empty() {
            what.push(format!("BREW {}", settings.brew_url));
        }
        if !settings.apn.is_empty() {
            what.push(format!("APN {}", settings.apn));
        }
        if !settings.proxy.is_empty() {
            what.push(format!("proxy {}", settings.proxy));
        }
        let summary = format!("OMA CP settings: {}", what.join(", "));
        let msg = outbox::queue(
            conn,
            &NewMessage::push(Kind::CpSettings, Some(device_id), line.mdn, pdu, summary),
            &actor.to_string(),
            max_parts,
        )?;
        audit::record(
            conn,
            actor,
            EntityKind::Device,
            device_id,
            "OMA CP settings push queued",
            &serde_json::json!({"message": msg.id, "brew_url": settings.brew_url, "apn": settings.apn, "proxy": settings.proxy}),
        )?;
        Ok(msg)
    })
}

/// Queues the bootstrap of the device's OMA-DM account, pointing it at
/// `server_url`.
pub fn push_bootstrap(
    conn: &mut DbConnection,
    vault: &crate::secrets::Vault,
    device_id: i64,
    server_url: &str,
    actor: &Actor,
    max_parts: u8,
) -> Result<OutboxMessage, PushError> {
    // The handset stores this as its DM account's server address (ADDR): one
    // that is not a web URL leaves it unable to reach any DM server until it
    // is bootstrapped again.
    if server_url.trim().is_empty() {
        return Err(PushError::Invalid(
            "The OMA-DM server URL must be an http or https URL".into(),
        ));
    }
    check_url("The OMA-DM server URL", server_url)?;
    crate::db::write(conn, |conn| {
        let line = line_of(conn, device_id)?;
        let acct = account::get(conn, vault, device_id)?.ok_or(PushError::NoAccount)?;
        let doc = content::dm_bootstrap_document(&acct, server_url);
        let pdu = content::cp_push(&doc, &line.imsi)?;
        // The document carries both DM passwords: sealed at rest, opened by
        // the sender only; the log gets a masked copy.
        let view = content::masked_push(&pdu)?;
        let msg = outbox::queue_sealed(
            conn,
            vault,
            &NewMessage::push(
                Kind::CpBootstrap,
                Some(device_id),
                line.mdn,
                pdu,
                format!("OMA CP bootstrap of the OMA-DM account for {server_url}"),
            ),
            view,
            &actor.to_string(),
            max_parts,
        )?;
        audit::record(
            conn,
            actor,
            EntityKind::Device,
            device_id,
            "OMA CP bootstrap queued",
            &serde_json::json!({"message": msg.id, "server": server_url}),
        )?;
        Ok(msg)
    })
}
