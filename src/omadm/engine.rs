//! The OMA-DM session engine: turns a decoded client message into calls on
//! the registry and FOTA domains and builds the server's answer. Session
//! state lives in the database, so any server node can take the next message.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::account::{self, DmAccount};
use super::auth::{self, HmacHeader};
use super::command::{CommandResult, DmCommand};
use super::syncml::{
    Alert, Chal, Command, Cred, Item, ItemCmd, ItemData, Message, Meta, Results, Status, SyncBody,
    SyncHdr,
};
use crate::db::schema::{devices, dm_sessions};
use crate::db::{now_ms, DbConnection};
use crate::firmware::package;
use crate::fota::session::{self as fota, FotaState};
use crate::registry::audit::{self, EntityKind};
use crate::registry::device::Device;
use crate::registry::lookup::{self, DeviceKey};
use crate::registry::{Actor, RegistryError};

/// FUMO node the server drives (OMA-TS-DM-FUMO-V1_0 section 5): one package
/// object per device is enough for client-initiated updates.
pub const FUMO_NODE: &str = "./FUMO/pkg1";
pub const FUMO_ALERT_TYPE: &str = "org.openmobilealliance.dm.firmwareupdate.downloadandupdate";
/// What every FUMO Generic Alert type starts with; other types (LAWMO's
/// "urn:oma:at:lawmo:1.0:OperationComplete", say) report an operator's Exec.
const FUMO_ALERT_TYPES: &str = "org.openmobilealliance.dm.firmwareupdate.";
/// Generic Alert types of the separate Download and Update operations
/// (OMA-TS-DM-FUMO-V1_0 section 6.3).
pub const FUMO_DOWNLOAD_ALERT_TYPE: &str = "org.openmobilealliance.dm.firmwareupdate.download";
pub const FUMO_UPDATE_ALERT_TYPE: &str = "org.openmobilealliance.dm.firmwareupdate.update";
/// Capability feature flag of handsets whose FUMO client wants Download
/// then Update rather than DownloadAndUpdate.
pub const FUMO_SPLIT_FEATURE: &str = "fumo-download-update";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Fota(#[from] crate::fota::FotaError),
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Our ServerID and the Source LocURI of our messages.
    pub server_uri: String,
    /// Base URL devices reach us at, for RespURI and package locations.
    pub base_url: String,
    pub allow_basic: bool,
    /// Opens the stored DM secrets.
    pub vault: std::sync::Arc<crate::secrets::Vault>,
}

/// Commands waiting to be sent: kept as data so they survive between nodes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Pending {
    Get(Vec<String>),
    Replace {
        target: String,
        data: String,
    },
    Exec {
        target: String,
        correlator: String,
    },
    /// An operator's command: its outcome goes to the job's results.
    Command(super::command::DmCommand),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SessionState {
    server_msg_id: u32,
    next_cmd_id: u32,
    queue: Vec<Pending>,
    /// Our command ids for which we await a status, with what they were.
    awaiting: Vec<(u32, String)>,
    fota: Option<i64>,
    /// The FOTA session past its query and offer, for which `plan` has
    /// nothing left to do (states never go back to pending or querying).
    #[serde(default)]
    planned_fota: Option<i64>,
    /// The FOTA session this DM session sent the make-model-version query
    /// for: a session queried in an earlier DM session the handset dropped
    /// is asked again.
    #[serde(default)]
    queried_fota: Option<i64>,
    /// The server-initiated job this session runs, while it runs.
    #[serde(default)]
    job: Option<i64>,
    #[serde(default)]
    job_log: Vec<String>,
    #[serde(default)]
    job_failed: bool,
    /// The job's commands sent so far and what the device answered.
    #[serde(default)]
    job_results: Vec<CommandResult>,
}

/// One parsed incoming message with its transport details.
pub struct Incoming<'a> {
    pub message: Message,
    pub hmac: Option<HmacHeader>,
    pub body: &'a [u8],
    /// The FOTA session named in the URL the device was redirected to.
    pub fota_hint: Option<i64>,
}

pub struct Outcome {
    pub reply: Message,
    /// The device, once identified (for logs and last-contact).
    pub device_id: Option<i64>,
}

/// The DevId a device uses: its MEID when it has one, else its ESN.
pub fn dev_id_of(d: &Device) -> String {
    match (&d.meid, &d.esn) {
        (Some(m), _) => format!("MEID:{m}"),
        (None, Some(e)) => format!("ESN:{e}"),
        (None, None) => format!("ID:{}", d.id),
    }
}

/// DevIds come as "MEID:A100...", "ESN:9F10...", "IMEI:..." or bare.
pub fn device_key_of(dev_id: &str) -> Option<DeviceKey> {
    let bare = dev_id
        .split_once(':')
        .map(|(scheme, v)| if scheme.len() <= 5 { v } else { dev_id })
        .unwrap_or(dev_id);
    DeviceKey::parse(bare).ok()
}

fn status(msg_ref: u32, cmd_ref: u32, cmd: &str, data: u16) -> Status {
    Status {
        cmd_id: 0,
        msg_ref,
        cmd_ref,
        cmd: cmd.into(),
        target_ref: None,
        source_ref: None,
        chal: None,
        data,
        items: Vec::new(),
    }
}

fn reply_header(
    req: &SyncHdr,
    cfg: &EngineConfig,
    msg_id: u32,
    resp_uri: Option<String>,
) -> SyncHdr {
    SyncHdr {
        ver_dtd: "1.2".into(),
        ver_proto: "DM/1.2".into(),
        session_id: req.session_id.clone(),
        msg_id,
        target: req.source.clone(),
        source: cfg.server_uri.clone(),
        source_name: None,
        resp_uri,
        cred: None,
        max_msg_size: Some(MAX_SERVER_MSG),
        max_obj_size: None,
    }
}

/// Our own MaxMsgSize: what we accept from devices.
pub const MAX_SERVER_MSG: u32 = 64 * 1024;

fn chal(nonce: &[u8]) -> Chal {
    Chal {
        auth_type: "syncml:auth-md5".into(),
        format: "b64".into(),
        next_nonce: nonce.to_vec(),
    }
}

/// An answer that only carries a status for the header: unknown device,
/// bad credentials, replay. Nothing of the session is stored, so its MsgID
/// is the client's: both sides send one message per exchange, and the
/// server's next message (see `handle`) goes on from it: a server's MsgIDs
/// increase within a session (OMA-DM RepPro), never restart at 1.
fn header_only(req: &Message, cfg: &EngineConfig, code: u16, chal_nonce: Option<&[u8]>) -> Message {
    let mut st = status(req.hdr.msg_id, 0, "SyncHdr", code);
    st.cmd_id = 1;
    st.target_ref = Some(req.hdr.target.clone());
    st.source_ref = Some(req.hdr.source.clone());
    st.chal = chal_nonce.map(chal);
    Message {
        hdr: reply_header(&req.hdr, cfg, req.hdr.msg_id, None),
        body: SyncBody {
            commands: vec![Command::Status(st)],
            final_: true,
        },
    }
}

enum AuthResult {
    Accepted,
    Missing,
    Rejected,
}

fn authenticate(acct: &DmAccount, incoming: &Incoming<'_>, cfg: &EngineConfig) -> AuthResult {
    let nonce = acct.client_nonce_bytes();
    if let Some(h) = &incoming.hmac {
        return if h.username == acct.client_username
            && auth::verify_hmac(h, &acct.client_password, &nonce, incoming.body)
        {
            AuthResult::Accepted
        } else {
            AuthResult::Rejected
        };
    }
    let Some(cred) = &incoming.message.hdr.cred else {
        return AuthResult::Missing;
    };
    match cred.auth_type.as_str() {
        "syncml:auth-md5" => {
            if auth::verify_md5(
                &acct.client_username,
                &acct.client_password,
                &nonce,
                &cred.data,
            ) {
                AuthResult::Accepted
            } else {
                AuthResult::Rejected
            }
        }
        "syncml:auth-basic" if cfg.allow_basic => match auth::parse_basic(&cred.data) {
            Some((u, p)) if u == acct.client_username && p == acct.client_password => {
                AuthResult::Accepted
            }
            _ => AuthResult::Rejected,
        },
        _ => AuthResult::Rejected,
    }
}

/// A DM session left idle this long is over.
const SESSION_IDLE_MS: i64 = 30 * 60 * 1000;

#[derive(Queryable, Selectable)]
#[diesel(table_name = dm_sessions)]
struct SessionRow {
    updated_at: i64,
    last_msg_id: i32,
    authenticated: bool,
    state: String,
}

/// The device a message comes from and its DM session's stored state. A
/// DevId naming the device's MEID or ESN reads both in one statement (every
/// message of every session starts here); other DevIds, and an ESN that is
/// only a pseudo-ESN, go through the registry's lookup.
fn device_and_session(
    conn: &mut DbConnection,
    key: &DeviceKey,
    session_id: &str,
) -> Result<(Device, Option<SessionRow>), EngineError> {
    macro_rules! joined {
        ($filter:expr) => {
            crate::native!(conn, |c| devices::table
                .left_join(
                    dm_sessions::table.on(dm_sessions::device_id
                        .eq(devices::id)
                        .and(dm_sessions::session_id.eq(session_id))),
                )
                .filter($filter)
                .select((Device::as_select(), Option::<SessionRow>::as_select()))
                .first::<(Device, Option<SessionRow>)>(c)
                .optional())
        };
    }
    let found = match key {
        DeviceKey::Meid(m) => joined!(devices::meid.eq(m.to_hex()))?,
        DeviceKey::Esn(e) => joined!(devices::esn.eq(e.to_hex()))?,
        DeviceKey::Mdn(_) => None,
    };
    if let Some(found) = found {
        return Ok(found);
    }
    let device = lookup::find(conn, key)?;
    let session_key = format!("{}:{session_id}", device.id);
    let row = crate::native!(conn, |c| dm_sessions::table
        .find(&session_key)
        .select(SessionRow::as_select())
        .first(c)
        .optional())?;
    Ok((device, row))
}

/// Handles one client message and returns the server's message.
pub fn handle(
    conn: &mut DbConnection,
    cfg: &EngineConfig,
    incoming: Incoming<'_>,
) -> Result<Outcome, EngineError> {
    let req = &incoming.message;
    let Some(key) = device_key_of(&req.hdr.source) else {
        tracing::warn!(dev_id = %req.hdr.source, "OMA-DM message from an unparseable DevId");
        return Ok(Outcome {
            reply: header_only(req, cfg, 403, None),
            device_id: None,
        });
    };
    let now = now_ms();
    // The device is read inside the message's transaction: on SQLite a read
    // of its own would start (and pay for) a second transaction.
    crate::db::write(conn, |conn| {
        let (device, mut row) = match device_and_session(conn, &key, &req.hdr.session_id) {
            Ok(found) => found,
            Err(EngineError::Registry(RegistryError::NotFound(_))) => {
                tracing::warn!(dev_id = %req.hdr.source, "OMA-DM message from an unknown device");
                return Ok(Outcome {
                    reply: header_only(req, cfg, 403, None),
                    device_id: None,
                });
            }
            Err(e) => return Err(e),
        };
        let session_key = format!("{}:{}", device.id, req.hdr.session_id);
        // Handsets reuse their 16-bit SessionIDs: a message 1 (or a session
        // idle for half an hour) starts a new session, which must
        // authenticate afresh; the rotated nonce defeats a replayed package 1.
        if row
            .as_ref()
            .is_some_and(|r| req.hdr.msg_id == 1 || now - r.updated_at > SESSION_IDLE_MS)
        {
            crate::native!(conn, |c| diesel::delete(
                dm_sessions::table.find(&session_key)
            )
            .execute(c))?;
            row = None;
        }
        if let Some(r) = &row {
            if i64::from(req.hdr.msg_id) <= i64::from(r.last_msg_id) {
                tracing::warn!(device = device.id, session = %req.hdr.session_id, msg = req.hdr.msg_id, "replayed OMA-DM message");
                return Ok(Outcome {
                    reply: header_only(req, cfg, 400, None),
                    device_id: Some(device.id),
                });
            }
        }
        let mut state: SessionState = row
            .as_ref()
            .and_then(|r| serde_json::from_str(&r.state).ok())
            .unwrap_or_default();
        let mut authenticated = row.as_ref().is_some_and(|r| r.authenticated);
        let mut hdr_status = 200;
        let mut next_nonce: Option<Vec<u8>> = None;
        // The account that just authenticated: its server credentials go in the reply.
        let mut signed_in: Option<DmAccount> = None;
        if !authenticated {
            let Some(acct) = account::get(conn, &cfg.vault, device.id)? else {
                tracing::warn!(device = device.id, "no OMA-DM credentials for this device");
                return Ok(Outcome {
                    reply: header_only(req, cfg, 401, None),
                    device_id: Some(device.id),
                });
            };
            match authenticate(&acct, &incoming, cfg) {
                AuthResult::Accepted => {
                    authenticated = true;
                    hdr_status = 212;
                    // A fresh nonce after every success: a captured digest is useless.
                    let n = auth::new_nonce();
                    account::set_client_nonce(conn, device.id, &n)?;
                    next_nonce = Some(n);
                    signed_in = Some(acct);
                }
                outcome => {
                    let n = auth::new_nonce();
                    account::set_client_nonce(conn, device.id, &n)?;
                    let code = if matches!(outcome, AuthResult::Missing) {
                        407
                    } else {
                        401
                    };
                    tracing::warn!(device = device.id, code, "OMA-DM authentication failed");
                    return Ok(Outcome {
                        reply: header_only(req, cfg, code, Some(&n)),
                        device_id: Some(device.id),
                    });
                }
            }
        }
        let server_initiated = req
            .body
            .commands
            .iter()
            .any(|c| matches!(c, Command::Alert(a) if a.data == 1200));
        if server_initiated && state.job.is_none() && row.is_none() {
            match super::job::for_callback(conn, device.id, &req.hdr.session_id)? {
                Some(job) => {
                    state.queue.extend(job.pending_commands());
                    if job.fota_session_id.is_some() {
                        state.fota = job.fota_session_id;
                    }
                    state.job = Some(job.id);
                    super::job::set_state(conn, job.id, "running", "the device called back")?;
                    tracing::info!(
                        device = device.id,
                        job = job.id,
                        "server-initiated OMA-DM session started"
                    );
                }
                None => {
                    tracing::warn!(device = device.id, session = %req.hdr.session_id, "Alert 1200 for no notified job");
                }
            }
        }
        if state.fota.is_none() {
            state.fota = incoming.fota_hint;
        }

        let mut statuses = Vec::new();
        let mut hs = status(req.hdr.msg_id, 0, "SyncHdr", hdr_status);
        hs.target_ref = Some(req.hdr.target.clone());
        hs.source_ref = Some(req.hdr.source.clone());
        hs.chal = next_nonce.as_deref().map(chal);
        statuses.push(hs);
        let mut reported = Reported::default();
        for cmd in &req.body.commands {
            statuses.extend(process(
                conn,
                &device,
                req.hdr.msg_id,
                cmd,
                &mut state,
                &mut reported,
            )?);
        }
        apply_reported(conn, &device, &reported)?;
        // Looked up only now: a final report (Generic Alert) finds its own
        // session, and no command before the plan needs the open one.
        if state.fota.is_none() {
            state.fota = open_fota(conn, device.id)?;
        }
        plan(
            conn,
            cfg,
            &device,
            &mut state,
            &reported,
            incoming.fota_hint,
        )?;
        finish_job(conn, &mut state)?;

        // Build the reply within the device's MaxMsgSize.
        // Never below the client's: a challenge before this message was
        // answered with the client's MsgID and stored nothing.
        state.server_msg_id = (state.server_msg_id + 1).max(req.hdr.msg_id);
        let resp_uri = format!("{}/omadm?s={}", cfg.base_url, url_encode(&session_key));
        let mut reply = Message {
            hdr: reply_header(&req.hdr, cfg, state.server_msg_id, Some(resp_uri)),
            body: SyncBody {
                commands: Vec::new(),
                final_: true,
            },
        };
        if let Some(acct) = &signed_in {
            reply.hdr.cred = Some(Cred {
                format: Some("b64".into()),
                auth_type: "syncml:auth-md5".into(),
                data: auth::md5_digest(
                    &acct.server_id,
                    &acct.server_password,
                    &acct.server_nonce_bytes(),
                )
                .to_vec(),
            });
        }
        for st in statuses {
            state.next_cmd_id += 1;
            reply.body.commands.push(Command::Status(Status {
                cmd_id: state.next_cmd_id,
                ..st
            }));
        }
        let limit = req.hdr.max_msg_size.unwrap_or(u32::MAX) as usize;
        // On a continuation (Alert 1222) a command that does not fit even
        // alone is sent anyway: holding it back would never end the package.
        let continuation = req
            .body
            .commands
            .iter()
            .any(|c| matches!(c, Command::Alert(a) if a.data == 1222));
        while let Some(p) = state.queue.first().cloned() {
            let others = reply
                .body
                .commands
                .iter()
                .filter(|c| !matches!(c, Command::Status(_)))
                .count();
            state.next_cmd_id += 1;
            let cmd = to_command(&p, state.next_cmd_id);
            reply.body.commands.push(cmd);
            let size = reply
                .encode(super::syncml::Encoding::Wbxml)
                .map(|b| b.len())
                .unwrap_or(0);
            if size > limit && (others > 0 || !continuation) {
                // Does not fit: keep it for the next message of this package.
                reply.body.commands.pop();
                state.next_cmd_id -= 1;
                reply.body.final_ = false;
                break;
            }
            state
                .awaiting
                .push((state.next_cmd_id, command_name(&p).into()));
            if let Pending::Command(c) = &p {
                state
                    .job_results
                    .push(CommandResult::sent(c, state.next_cmd_id));
            }
            state.queue.remove(0);
        }
        if !state.queue.is_empty() {
            reply.body.final_ = false;
        }

        let state_json = serde_json::to_string(&state).unwrap_or_default();
        match row {
            Some(_) => {
                let changes = (
                    dm_sessions::last_msg_id.eq(req.hdr.msg_id as i32),
                    dm_sessions::authenticated.eq(authenticated),
                    dm_sessions::state.eq(&state_json),
                    dm_sessions::fota_session_id.eq(state.fota),
                    dm_sessions::updated_at.eq(now),
                );
                crate::native!(conn, |c| crate::db::fixed_update(
                    dm_sessions::table.find(&session_key),
                    changes
                )
                .execute(c))?;
            }
            None => {
                let row = (
                    dm_sessions::id.eq(&session_key),
                    dm_sessions::device_id.eq(device.id),
                    dm_sessions::session_id.eq(&req.hdr.session_id),
                    dm_sessions::last_msg_id.eq(req.hdr.msg_id as i32),
                    dm_sessions::authenticated.eq(authenticated),
                    dm_sessions::state.eq(&state_json),
                    dm_sessions::fota_session_id.eq(state.fota),
                    dm_sessions::created_at.eq(now),
                    dm_sessions::updated_at.eq(now),
                );
                crate::native!(conn, |c| diesel::insert_into(dm_sessions::table)
                    .values(row)
                    .execute(c))?;
            }
        }
        crate::registry::device::touch_if_stale(conn, &device, "omadm")?;
        Ok(Outcome {
            reply,
            device_id: Some(device.id),
        })
    })
}

/// Closes the session's server-initiated job once every command it queued
/// has been answered.
fn finish_job(conn: &mut DbConnection, state: &mut SessionState) -> Result<(), EngineError> {
    let Some(job) = state.job else {
        return Ok(());
    };
    if !state.queue.is_empty() || !state.awaiting.is_empty() {
        return Ok(());
    }
    let mut detail = if state.job_results.is_empty() {
        state.job_log.join("; ")
    } else {
        super::command::summary(&state.job_results)
    };
    if let Some(f) = state.fota {
        let s = fota::get(conn, f)?;
        if !detail.is_empty() {
            detail.push_str("; ");
        }
        detail.push_str(&format!("FOTA session {f} is {}", s.state));
    }
    let outcome = if state.job_failed { "failed" } else { "done" };
    super::job::finish(conn, job, outcome, &detail, &state.job_results)?;
    tracing::info!(job, outcome, %detail, "server-initiated OMA-DM job finished");
    state.job = None;
    Ok(())
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn open_fota(conn: &mut DbConnection, device_id: i64) -> Result<Option<i64>, EngineError> {
    Ok(fota::for_device(conn, device_id, 1)?
        .into_iter()
        .find(|s| !s.state().is_terminal())
        .map(|s| s.id))
}

fn command_name(p: &Pending) -> &'static str {
    match p {
        Pending::Get(_) => "Get",
        Pending::Replace { .. } => "Replace",
        Pending::Exec { .. } => "Exec",
        Pending::Command(c) => c.verb(),
    }
}

fn to_command(p: &Pending, cmd_id: u32) -> Command {
    let item = |target: &str, data: Option<String>| Item {
        target: Some(target.to_string()),
        source: None,
        meta: None,
        data: data.map(ItemData::Text),
    };
    match p {
        Pending::Get(targets) => Command::Get(ItemCmd {
            cmd_id,
            correlator: None,
            meta: None,
            items: targets.iter().map(|t| item(t, None)).collect(),
        }),
        Pending::Replace { target, data } => Command::Replace(ItemCmd {
            cmd_id,
            correlator: None,
            meta: Some(Meta {
                format: Some("chr".into()),
                r#type: Some("text/plain".into()),
                size: None,
                mark: None,
            }),
            items: vec![item(target, Some(data.clone()))],
        }),
        Pending::Command(c) => operator_command(c, cmd_id),
        Pending::Exec { target, correlator } => Command::Exec(ItemCmd {
            cmd_id,
            correlator: Some(correlator.clone()),
            meta: None,
            items: vec![item(target, None)],
        }),
    }
}

fn operator_command(c: &DmCommand, cmd_id: u32) -> Command {
    let item = |data: Option<&String>| Item {
        target: Some(c.path().to_string()),
        source: None,
        meta: None,
        data: data.cloned().map(ItemData::Text),
    };
    let with = |items: Vec<Item>, meta: Option<Meta>, correlator: Option<String>| ItemCmd {
        cmd_id,
        correlator,
        meta,
        items,
    };
    let typed = |f: super::command::NodeFormat| {
        Some(Meta {
            format: Some(f.as_str().into()),
            r#type: Some("text/plain".into()),
            size: None,
            mark: None,
        })
    };
    match c {
        DmCommand::Get { .. } => Command::Get(with(vec![item(None)], None, None)),
        DmCommand::Delete { .. } => Command::Delete(with(vec![item(None)], None, None)),
        DmCommand::Replace { value, format, .. } => {
            Command::Replace(with(vec![item(Some(value))], typed(*format), None))
        }
        DmCommand::Add { value, format, .. } => {
            Command::Add(with(vec![item(Some(value))], typed(*format), None))
        }
        DmCommand::Exec {
            data, correlator, ..
        } => Command::Exec(with(
            vec![item(data.as_ref())],
            None,
            Some(correlator.clone()).filter(|c| !c.is_empty()),
        )),
    }
}

/// A URI as "A/B", however the device wrote it.
fn normal_uri(uri: &str) -> &str {
    uri.trim_start_matches("./").trim_end_matches('/')
}

/// Values the device reported in this message (DevInfo / DevDetail).
#[derive(Default)]
struct Reported {
    make: Option<String>,
    model: Option<String>,
    firmware: Option<String>,
    got_fw_query: bool,
}

fn text_of(item: &Item) -> Option<String> {
    match &item.data {
        Some(ItemData::Text(t)) => Some(t.trim().to_string()),
        Some(ItemData::Binary(b)) => String::from_utf8(b.clone())
            .ok()
            .map(|s| s.trim().to_string()),
        None => None,
    }
}

fn note_items(items: &[Item], reported: &mut Reported) {
    for it in items {
        let uri = it.source.as_deref().or(it.target.as_deref()).unwrap_or("");
        let uri = uri.trim_start_matches("./");
        let value = text_of(it).filter(|v| !v.is_empty() && v.len() <= 64);
        match uri {
            "DevInfo/Man" => reported.make = value,
            "DevInfo/Mod" => reported.model = value,
            "DevDetail/FwV" => reported.firmware = value,
            _ => {}
        }
    }
}

fn process(
    conn: &mut DbConnection,
    device: &Device,
    msg_ref: u32,
    cmd: &Command,
    state: &mut SessionState,
    reported: &mut Reported,
) -> Result<Vec<Status>, EngineError> {
    Ok(match cmd {
        Command::Alert(Alert {
            cmd_id,
            data,
            items,
            correlator,
        }) => {
            let code = match *data {
                1200 | 1201 | 1222 | 1223 => 200,
                1226 => generic_alert(conn, device, state, items, correlator.as_deref())?,
                _ => 406,
            };
            vec![status(msg_ref, *cmd_id, "Alert", code)]
        }
        Command::Replace(c) => {
            note_items(&c.items, reported);
            vec![status(msg_ref, c.cmd_id, "Replace", 200)]
        }
        Command::Results(Results {
            cmd_id,
            cmd_ref,
            items,
            ..
        }) => {
            note_items(items, reported);
            if let Some(r) = state.job_results.iter_mut().find(|r| r.cmd_id == *cmd_ref) {
                let it = items
                    .iter()
                    .find(|i| {
                        i.source.as_deref().or(i.target.as_deref()).map(normal_uri)
                            == Some(normal_uri(&r.path))
                    })
                    .or(items.first());
                if let Some(it) = it {
                    r.value = Some(text_of(it).unwrap_or_default());
                    r.format = it.meta.as_ref().and_then(|m| m.format.clone());
                }
            } else if state.job.is_some() {
                for it in items {
                    let uri = it.source.as_deref().or(it.target.as_deref()).unwrap_or("?");
                    state
                        .job_log
                        .push(format!("{uri} = {}", text_of(it).unwrap_or_default()));
                }
            }
            if items.iter().any(|i| {
                i.source
                    .as_deref()
                    .is_some_and(|s| s.ends_with("DevDetail/FwV"))
            }) {
                reported.got_fw_query = true;
            }
            vec![status(msg_ref, *cmd_id, "Results", 200)]
        }
        Command::Status(s) if s.cmd_ref == 0 => {
            // The device's answer to our SyncHdr. A Chal in it names the
            // nonce our credentials must use from now on (OMA DM Security:
            // the client rolls the server's nonce as the server rolls its).
            if let Some(ch) = s.chal.as_ref().filter(|c| c.auth_type == "syncml:auth-md5") {
                account::set_server_nonce(conn, device.id, &ch.next_nonce)?;
                tracing::info!(device = device.id, "the device rolled the server nonce");
            }
            Vec::new()
        }
        Command::Status(s) => {
            if let Some(pos) = state.awaiting.iter().position(|(id, _)| *id == s.cmd_ref) {
                let (_, name) = state.awaiting.remove(pos);
                if let Some(r) = state.job_results.iter_mut().find(|r| r.cmd_id == s.cmd_ref) {
                    // An operator's command: a refusal fails the job, never
                    // a firmware update the session may also be carrying.
                    r.status = Some(s.data);
                    if !r.succeeded() {
                        state.job_failed = true;
                    }
                    return Ok(Vec::new());
                }
                if state.job.is_some() && s.data >= 300 {
                    state.job_failed = true;
                    state.job_log.push(format!("{name} answered {}", s.data));
                }
                if s.data >= 300 && (name == "Replace" || name == "Exec") {
                    if let Some(f) = state.fota {
                        let _ = fota::advance(
                            conn,
                            f,
                            FotaState::Failed,
                            &format!("device answered {} to {name}", s.data),
                        );
                    }
                }
            }
            Vec::new()
        }
        other => {
            let (name, id) = describe(other);
            vec![status(msg_ref, id, name, 406)]
        }
    })
}

fn describe(cmd: &Command) -> (&'static str, u32) {
    match cmd {
        Command::Get(c) => ("Get", c.cmd_id),
        Command::Add(c) => ("Add", c.cmd_id),
        Command::Delete(c) => ("Delete", c.cmd_id),
        Command::Exec(c) => ("Exec", c.cmd_id),
        Command::Copy(c) => ("Copy", c.cmd_id),
        Command::Sequence(c) => ("Sequence", c.cmd_id),
        Command::Atomic(c) => ("Atomic", c.cmd_id),
        Command::Unknown { cmd_id, .. } => ("Unknown", *cmd_id),
        Command::Alert(a) => ("Alert", a.cmd_id),
        Command::Replace(c) => ("Replace", c.cmd_id),
        Command::Results(r) => ("Results", r.cmd_id),
        Command::Status(s) => ("Status", s.cmd_id),
    }
}

/// A FUMO Generic Alert (1226) closes the FOTA session with its result code.
fn generic_alert(
    conn: &mut DbConnection,
    device: &Device,
    state: &mut SessionState,
    items: &[Item],
    correlator: Option<&str>,
) -> Result<u16, EngineError> {
    let Some(item) = items.first() else {
        return Ok(400);
    };
    let Some(code) = text_of(item).and_then(|t| t.parse::<u16>().ok()) else {
        return Ok(400);
    };
    let alert_type = item
        .meta
        .as_ref()
        .and_then(|m| m.r#type.as_deref())
        .unwrap_or("");
    if !alert_type.is_empty() && !alert_type.starts_with(FUMO_ALERT_TYPES) {
        // Reported in the very session that runs the job (the operation
        // ended before it closed): its results are not stored yet.
        let open = state.job.is_some();
        let in_session = correlator
            .filter(|c| open && !c.is_empty())
            .and_then(|c| state.job_results.iter_mut().find(|r| r.correlator == c));
        if let Some(r) = in_session {
            r.reported = Some(super::job::reported_label(code, alert_type));
            if !super::job::reported_succeeded(code) {
                state.job_failed = true;
            }
            return Ok(200);
        }
        super::job::record_reported(conn, device.id, correlator, alert_type, code)?;
        return Ok(200);
    }
    let candidates = fota::for_device_for_update(conn, device.id, 20)?;
    let by_correlator = correlator.and_then(|c| {
        candidates
            .iter()
            .find(|s| s.correlator.as_deref() == Some(c))
            .cloned()
    });
    let session = by_correlator.or_else(|| {
        candidates
            .iter()
            .find(|s| !s.state().is_terminal())
            .cloned()
    });
    let Some(s) = session else {
        tracing::warn!(
            device = device.id,
            ?correlator,
            code,
            "generic alert for no FOTA session"
        );
        return Ok(404);
    };
    if s.state().is_terminal() {
        // Already closed (e.g. by the download report): acknowledge, change nothing.
        tracing::info!(fota_session = s.id, code, state = %s.state, "generic alert for a closed FOTA session");
        return Ok(200);
    }
    if alert_type == FUMO_DOWNLOAD_ALERT_TYPE && code == 200 {
        // The package is on the device: now the separate Update.
        if s.state() != FotaState::Downloaded {
            fota::advance_loaded(
                conn,
                s.clone(),
                FotaState::Downloaded,
                "FUMO Download reported 200",
            )?;
        }
        state.queue.push(Pending::Exec {
            target: format!("{FUMO_NODE}/Update"),
            correlator: s.correlator.clone().unwrap_or_default(),
        });
        state.fota = Some(s.id);
        // Past its offer: the plan has nothing to ask (nor to read again).
        state.planned_fota = Some(s.id);
        return Ok(200);
    }
    let id = s.id;
    fota::finish_loaded(conn, s, device, code, &format!("FUMO result {code}"))?;
    state.fota = Some(id);
    state.planned_fota = Some(id);
    Ok(200)
}

fn apply_reported(
    conn: &mut DbConnection,
    device: &Device,
    r: &Reported,
) -> Result<(), EngineError> {
    let make = r.make.clone().unwrap_or_else(|| device.make.clone());
    let model = r.model.clone().unwrap_or_else(|| device.model.clone());
    let fw = r
        .firmware
        .clone()
        .unwrap_or_else(|| device.firmware_version.clone());
    if make == device.make && model == device.model && fw == device.firmware_version {
        return Ok(());
    }
    diesel::update(devices::table.find(device.id))
        .set((
            devices::make.eq(&make),
            devices::model.eq(&model),
            devices::firmware_version.eq(&fw),
            devices::updated_at.eq(now_ms()),
        ))
        .execute(conn)?;
    let mut changes = serde_json::Map::new();
    for (k, a, b) in [
        ("make", &device.make, &make),
        ("model", &device.model, &model),
        ("firmware_version", &device.firmware_version, &fw),
    ] {
        if a != b {
            changes.insert(k.into(), serde_json::json!({"from": a, "to": b}));
        }
    }
    audit::record(
        conn,
        &Actor::System("omadm"),
        EntityKind::Device,
        device.id,
        "reported by the device",
        &serde_json::Value::Object(changes),
    )?;
    Ok(())
}

/// Decides what to ask of the device next for its FOTA session. `asked` is
/// the session the handset was sent to by the FOTA URL in this message: a
/// handset that asks again for a session it dropped (after the query, or
/// after the offer without reporting its download) is queried and offered
/// again rather than told there is nothing.
fn plan(
    conn: &mut DbConnection,
    cfg: &EngineConfig,
    device: &Device,
    state: &mut SessionState,
    reported: &Reported,
    asked: Option<i64>,
) -> Result<(), EngineError> {
    let Some(fid) = state.fota else { return Ok(()) };
    if state.planned_fota == Some(fid) {
        return Ok(());
    }
    // The session comes from the request's URL (the FOTA redirect) or the
    // DM session: one that is gone, or is another device's, is not this
    // handset's to drive.
    let session = match fota::get_for_update(conn, fid) {
        Ok(s) if s.device_id == device.id => s,
        Ok(_) | Err(crate::fota::FotaError::NotFound(_)) => {
            tracing::warn!(
                device = device.id,
                fota_session = fid,
                "OMA-DM message names a FOTA session that is not the device's; ignored"
            );
            state.fota = None;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let queried = state.queried_fota == Some(fid);
    let asked_again = asked == Some(fid) && !queried;
    match session.state() {
        FotaState::Pending => {
            state.queue.push(mmv_query());
            state.queried_fota = Some(fid);
            fota::advance_loaded(
                conn,
                session,
                FotaState::Querying,
                "make-model-version query sent",
            )?;
        }
        FotaState::Querying if reported.got_fw_query => {
            offer_update(conn, cfg, device, state, reported, session)?;
        }
        FotaState::Offered if reported.got_fw_query && queried => {
            offer_update(conn, cfg, device, state, reported, session)?;
        }
        // Asked again: the query of the DM session it dropped is lost.
        FotaState::Querying | FotaState::Offered if asked_again => {
            tracing::info!(
                device = device.id,
                fota_session = fid,
                state = %session.state,
                "the handset asked again for its open FOTA session; querying it again"
            );
            state.queue.push(mmv_query());
            state.queried_fota = Some(fid);
        }
        FotaState::Querying => {}
        FotaState::Offered if queried => {}
        _ => state.planned_fota = Some(fid),
    }
    Ok(())
}

/// The make-model-version query (claim 1).
fn mmv_query() -> Pending {
    Pending::Get(vec![
        "./DevInfo/Man".into(),
        "./DevInfo/Mod".into(),
        "./DevDetail/FwV".into(),
    ])
}

/// Answers the make-model-version the device reported: the released
/// package for it (again, for a session offered before), or why there is
/// none.
fn offer_update(
    conn: &mut DbConnection,
    cfg: &EngineConfig,
    device: &Device,
    state: &mut SessionState,
    reported: &Reported,
    session: fota::FotaSession,
) -> Result<(), EngineError> {
    let fid = session.id;
    state.planned_fota = Some(fid);
    let make = reported.make.clone().unwrap_or_else(|| device.make.clone());
    let model = reported
        .model
        .clone()
        .unwrap_or_else(|| device.model.clone());
    let fw = reported
        .firmware
        .clone()
        .unwrap_or_else(|| device.firmware_version.clone());
    let offered_before = session.state() == FotaState::Offered;
    if offered_before && session.to_version.as_deref() == Some(fw.as_str()) {
        // It installed the update and its final report was lost.
        fota::finish_loaded(
            conn,
            session,
            device,
            200,
            &format!("the device asked again and reports {fw}, the version it was offered"),
        )?;
        return Ok(());
    }
    // Closed without an offer: no update for a fresh query, a failed one
    // for a session that had been offered a package.
    let close = |conn: &mut DbConnection, session: fota::FotaSession, detail: String| {
        let to = if offered_before {
            FotaState::Failed
        } else {
            FotaState::NoUpdate
        };
        fota::advance_loaded(conn, session, to, &detail).map(|_| ())
    };
    let capability = crate::registry::capability::for_device(conn, &make, &model, &fw)?;
    if capability.as_ref().is_some_and(|c| !c.fota) {
        close(
            conn,
            session,
            format!(
                "no update over the air for {make} {model} {fw}: its capability entry says FOTA no"
            ),
        )?;
        return Ok(());
    }
    let Some(p) = package::find_update(conn, &make, &model, &fw)? else {
        close(
            conn,
            session,
            format!("no released package for {make} {model} {fw}"),
        )?;
        return Ok(());
    };
    // The same offer again keeps its correlator: a descriptor the handset
    // fetched before still names the session.
    let correlator = match (&session.correlator, session.package_id) {
        (Some(c), Some(id)) if id == p.id => c.clone(),
        _ => B64.encode(auth::new_nonce()).replace(['+', '/', '='], ""),
    };
    let url = format!(
        "{}/dl/{}/dd?fota={fid}&key={correlator}",
        cfg.base_url, p.id
    );
    let split = capability.is_some_and(|c| c.feature_list().contains(&FUMO_SPLIT_FEATURE));
    let node = if split {
        "Download"
    } else {
        "DownloadAndUpdate"
    };
    state.queue.push(Pending::Replace {
        target: format!("{FUMO_NODE}/{node}/PkgURL"),
        data: url,
    });
    state.queue.push(Pending::Exec {
        target: format!("{FUMO_NODE}/{node}"),
        correlator: correlator.clone(),
    });
    fota::offer(conn, session, p.id, &p.to_version, &correlator)?;
    Ok(())
}
