//! The OMA-DM session engine: turns a decoded client message into calls on
//! the registry and FOTA domains and builds the server's answer. Session
//! state lives in the database, so any server node can take the next message.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::account::{self, DmAccount};
use super::auth::{self, HmacHeader};
use super::command::{CommandResult, DmCommand, NodePath};
use super::syncml::{
    alert_code, Alert, Chal, Command, Cred, Encoding, Item, ItemCmd, ItemData, Message, Meta,
    Results, Status, SyncBody, SyncHdr,
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
    /// `MDM_DM_MAX_BODY_BYTES`: the largest message we accept, advertised
    /// as our MaxMsgSize, and the largest large object we assemble.
    pub max_body: usize,
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
    /// One Get of several nodes (a refresh). Each node's outcome goes to
    /// the job's results as a `get` of its own, from the Status of its Item
    /// (OMA-DM RepPro 1.2: one per Item when their codes differ, one for the
    /// command when not) and its Item of the Results (one Results per Item,
    /// or one holding them all).
    Read(Vec<NodePath>),
}

impl Pending {
    /// How many of a job's commands (its results' entries) this carries.
    pub fn job_commands(&self) -> usize {
        match self {
            Pending::Command(_) => 1,
            Pending::Read(paths) => paths.len(),
            Pending::Get(_) | Pending::Replace { .. } | Pending::Exec { .. } => 0,
        }
    }
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
    /// The job is a refresh: a node the handset does not have (404) is
    /// reported as missing, and the rest of what it read still counts.
    #[serde(default)]
    job_refresh: bool,
    /// The job's commands sent so far and what the device answered.
    #[serde(default)]
    job_results: Vec<CommandResult>,
    /// The secret part of the RespURI we hand out: a message that carries
    /// no credentials continues the session only through it, as the
    /// SessionID and DevId are no secret.
    #[serde(default)]
    token: String,
    /// The device authenticated with `x-syncml-hmac`: then every message
    /// must carry a valid one (OMA-TS-DM_Security 5.1.4), and every reply
    /// carries ours.
    #[serde(default)]
    hmac: bool,
    /// How often the device refused our credentials (Status 401/407 for
    /// our SyncHdr).
    #[serde(default)]
    server_refusals: u8,
    /// A large object whose chunks are still arriving.
    #[serde(default)]
    large_object: Option<LargeObject>,
    /// Our last message did not close our package: the rest of it follows.
    #[serde(default)]
    server_package_open: bool,
    /// This message asks for our credentials again.
    #[serde(skip)]
    resend_cred: bool,
    /// The nonce the device gave us in this message for our credentials.
    #[serde(skip)]
    rolled_server_nonce: Option<Vec<u8>>,
}

/// One parsed incoming message with its transport details.
pub struct Incoming<'a> {
    pub message: Message,
    pub hmac: Option<HmacHeader>,
    pub body: &'a [u8],
    /// The FOTA session named in the URL the device was redirected to.
    pub fota_hint: Option<i64>,
    /// The session token of the RespURI the message was sent to.
    pub resp_token: Option<String>,
    /// How the message came, and so how the reply goes (sizes are
    /// measured in it).
    pub encoding: Encoding,
}

pub struct Outcome {
    pub reply: Message,
    /// The device, once identified (for logs and last-contact).
    pub device_id: Option<i64>,
    /// For a device that authenticates with HMAC: our credentials, to sign
    /// the encoded reply with.
    pub server_mac: Option<ServerMac>,
}

/// What the `x-syncml-hmac` header of a reply is made from: the server's
/// id, password and the nonce the device gave it.
pub struct ServerMac {
    server_id: String,
    password: String,
    nonce: Vec<u8>,
}

impl ServerMac {
    /// The header value for the reply's encoded body.
    pub fn header(&self, body: &[u8]) -> String {
        auth::hmac_header(&self.server_id, &self.password, &self.nonce, body)
    }
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
        target_refs: Vec::new(),
        source_refs: Vec::new(),
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
        // What we accept: a larger message is answered 413.
        max_msg_size: Some(u32::try_from(cfg.max_body).unwrap_or(u32::MAX)),
        max_obj_size: None,
    }
}

fn chal(nonce: &[u8]) -> Chal {
    Chal {
        auth_type: "syncml:auth-md5".into(),
        format: "b64".into(),
        next_nonce: nonce.to_vec(),
    }
}

/// The challenge for a device that authenticates as it did: HMAC is
/// challenged as `syncml:auth-MAC` (OMA-TS-DM_Security 5.1.4.1).
fn chal_for(hmac: bool, nonce: &[u8]) -> Chal {
    let mut c = chal(nonce);
    if hmac {
        c.auth_type = "syncml:auth-MAC".into();
    }
    c
}

/// An answer that only carries a status for the header: unparseable DevId,
/// bad credentials, replay. Nothing of the session is stored, so its MsgID
/// is the client's: both sides send one message per exchange, and the
/// server's next message (see `handle`) goes on from it: a server's MsgIDs
/// increase within a session (OMA-DM RepPro), never restart at 1.
fn header_only(req: &Message, cfg: &EngineConfig, code: u16, chal_nonce: Option<&[u8]>) -> Message {
    let mut st = status(req.hdr.msg_id, 0, "SyncHdr", code);
    st.cmd_id = 1;
    st.target_refs = vec![req.hdr.target.clone()];
    st.source_refs = vec![req.hdr.source.clone()];
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
        "syncml:auth-basic" if cfg.allow_basic => {
            if auth::verify_basic(&cred.data, &acct.client_username, &acct.client_password) {
                AuthResult::Accepted
            } else {
                AuthResult::Rejected
            }
        }
        _ => AuthResult::Rejected,
    }
}

/// How a message of a session that has authenticated shows it belongs to it.
enum Continuation {
    /// It does; with the account when it had to be read (HMAC).
    Proven(Option<DmAccount>),
    /// Not through the session's token, but it carries credentials: they
    /// are checked as a first message's are.
    Authenticate,
    /// It does not: refused with this SyncHdr status and challenge.
    Refused(u16, Chal),
}

/// Checks a later message of an authenticated session. A device that uses
/// HMAC signs every message; a forged or unsigned one is refused. Other
/// messages may omit credentials (OMA-DM Protocol: authentication once per
/// session) but must then come to the RespURI we gave, whose token nobody
/// else has seen. A refusal rolls no nonce: it must not break the session
/// of the device it imitates.
fn check_continuation(
    conn: &mut DbConnection,
    cfg: &EngineConfig,
    device_id: i64,
    state: &SessionState,
    incoming: &Incoming<'_>,
) -> Result<Continuation, EngineError> {
    if state.hmac || incoming.hmac.is_some() {
        let Some(acct) = account::get(conn, &cfg.vault, device_id)? else {
            return Ok(Continuation::Refused(401, chal_for(true, &[])));
        };
        let nonce = acct.client_nonce_bytes();
        let signed = incoming.hmac.as_ref().is_some_and(|h| {
            h.username == acct.client_username
                && auth::verify_hmac(h, &acct.client_password, &nonce, incoming.body)
        });
        return Ok(if signed {
            Continuation::Proven(Some(acct))
        } else {
            Continuation::Refused(401, chal_for(true, &nonce))
        });
    }
    let token_matches = !state.token.is_empty()
        && incoming
            .resp_token
            .as_deref()
            .is_some_and(|t| bool::from(t.as_bytes().ct_eq(state.token.as_bytes())));
    if token_matches {
        return Ok(Continuation::Proven(None));
    }
    if incoming.message.hdr.cred.is_some() {
        return Ok(Continuation::Authenticate);
    }
    let nonce = account::get(conn, &cfg.vault, device_id)?
        .map(|a| a.client_nonce_bytes())
        .unwrap_or_default();
    Ok(Continuation::Refused(407, chal(&nonce)))
}

/// A header-only answer with a challenge (see `header_only`).
fn refused(req: &Message, cfg: &EngineConfig, code: u16, challenge: Chal) -> Message {
    let mut m = header_only(req, cfg, code, None);
    if let Some(Command::Status(st)) = m.body.commands.first_mut() {
        st.chal = Some(challenge);
    }
    m
}

/// The answer to a message no registered account can check: from a DevId
/// no device has, or from a device without DM credentials. It is the one a
/// registered device presenting the same kind of credentials wrongly gets
/// (407 without credentials, else 401, with a challenge of the same type),
/// its nonce random and stored nowhere, so the wire does not tell which
/// MEIDs and ESNs are registered. The log keeps the real reason.
fn refused_as_unverifiable(req: &Message, cfg: &EngineConfig, incoming: &Incoming<'_>) -> Message {
    let code = if incoming.hmac.is_none() && req.hdr.cred.is_none() {
        407
    } else {
        401
    };
    let challenge = chal_for(incoming.hmac.is_some(), &auth::new_nonce());
    refused(req, cfg, code, challenge)
}

/// A new session's token: 128 random bits, URL-safe.
fn new_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(auth::new_nonce())
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

/// Handles one client message and returns the server's message, in a
/// write transaction of its own.
pub fn handle(
    conn: &mut DbConnection,
    cfg: &EngineConfig,
    incoming: Incoming<'_>,
) -> Result<Outcome, EngineError> {
    // The device is read inside the message's transaction: on SQLite a read
    // of its own would start (and pay for) a second transaction.
    crate::db::write(conn, |conn| handle_in(conn, cfg, incoming))
}

/// [`handle`] inside the caller's write transaction (`Db::run_write`), so
/// that the message's work is not a savepoint of one more.
pub fn handle_in(
    conn: &mut DbConnection,
    cfg: &EngineConfig,
    incoming: Incoming<'_>,
) -> Result<Outcome, EngineError> {
    let req = &incoming.message;
    if let Some(code) = req.hdr.unsupported_version() {
        tracing::warn!(ver_dtd = %req.hdr.ver_dtd, ver_proto = %req.hdr.ver_proto, code, "OMA-DM message of another version");
        return Ok(Outcome {
            reply: header_only(req, cfg, code, None),
            device_id: None,
            server_mac: None,
        });
    }
    let Some(key) = device_key_of(&req.hdr.source) else {
        tracing::warn!(dev_id = %req.hdr.source, "OMA-DM message from an unparseable DevId");
        return Ok(Outcome {
            reply: header_only(req, cfg, 403, None),
            device_id: None,
            server_mac: None,
        });
    };
    let now = now_ms();
    let (device, mut row) = match device_and_session(conn, &key, &req.hdr.session_id) {
        Ok(found) => found,
        Err(EngineError::Registry(RegistryError::NotFound(_))) => {
            tracing::warn!(dev_id = %req.hdr.source, "OMA-DM message from an unknown device; refused as bad credentials");
            return Ok(Outcome {
                reply: refused_as_unverifiable(req, cfg, &incoming),
                device_id: None,
                server_mac: None,
            });
        }
        Err(e) => return Err(e),
    };
    let session_key = format!("{}:{}", device.id, req.hdr.session_id);
    // Handsets reuse their 16-bit SessionIDs: a message 1 (or a session
    // idle for half an hour) starts a new session, which must
    // authenticate afresh; the rotated nonce defeats a replayed package 1.
    // The old one goes only once the new one has authenticated: a forged
    // message 1 must not end a live session.
    let mut replaced = None;
    if row
        .as_ref()
        .is_some_and(|r| req.hdr.msg_id == 1 || now - r.updated_at > SESSION_IDLE_MS)
    {
        replaced = row.take();
    }
    if let Some(r) = &row {
        if i64::from(req.hdr.msg_id) <= i64::from(r.last_msg_id) {
            tracing::warn!(device = device.id, session = %req.hdr.session_id, msg = req.hdr.msg_id, "replayed OMA-DM message");
            return Ok(Outcome {
                reply: header_only(req, cfg, 400, None),
                device_id: Some(device.id),
                server_mac: None,
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
    // The device just authenticated: our credentials go in the reply.
    let mut signed_in = false;
    // The account, when this message needed it read.
    let mut acct_read: Option<DmAccount> = None;
    if authenticated {
        match check_continuation(conn, cfg, device.id, &state, &incoming)? {
            Continuation::Proven(acct) => acct_read = acct,
            Continuation::Authenticate => authenticated = false,
            Continuation::Refused(code, challenge) => {
                tracing::warn!(device = device.id, session = %req.hdr.session_id, msg = req.hdr.msg_id, code, "OMA-DM message does not prove it belongs to its session; refused");
                return Ok(Outcome {
                    reply: refused(req, cfg, code, challenge),
                    device_id: Some(device.id),
                    server_mac: None,
                });
            }
        }
    }
    if !authenticated {
        let Some(acct) = account::get(conn, &cfg.vault, device.id)? else {
            tracing::warn!(
                device = device.id,
                "no OMA-DM credentials for this device; refused as bad credentials"
            );
            return Ok(Outcome {
                reply: refused_as_unverifiable(req, cfg, &incoming),
                device_id: Some(device.id),
                server_mac: None,
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
                state.hmac = incoming.hmac.is_some();
                acct_read = Some(acct);
                signed_in = true;
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
                    reply: refused(req, cfg, code, chal_for(incoming.hmac.is_some(), &n)),
                    device_id: Some(device.id),
                    server_mac: None,
                });
            }
        }
    }
    if let Some(old) = replaced {
        keep_job_progress(conn, &old.state)?;
        crate::native!(conn, |c| diesel::delete(
            dm_sessions::table.find(&session_key)
        )
        .execute(c))?;
    }
    let server_initiated = req
        .body
        .commands
        .iter()
        .any(|c| matches!(c, Command::Alert(a) if a.data == 1200));
    // The FOTA session the handset asks about afresh (see `plan`).
    let mut asked = incoming.fota_hint;
    if server_initiated && state.job.is_none() && row.is_none() {
        match super::job::for_callback(conn, device.id, &req.hdr.session_id)? {
            Some(job) => {
                // A job taken up again (its session was started anew)
                // keeps what the device answered before and sends the
                // rest, unanswered commands included: the device may
                // never have received them. Their old CmdIDs meant the
                // old session's commands.
                let resumed = job.state == "running";
                let answered: Vec<CommandResult> = job
                    .results()
                    .into_iter()
                    .filter(|r| r.status.is_some())
                    .map(|r| CommandResult { cmd_id: 0, ..r })
                    .collect();
                state.queue.extend(job.remaining_commands(&answered));
                state.job_refresh = job.kind == super::job::JobKind::Refresh.as_str();
                state.job_failed = answered
                    .iter()
                    .any(|r| super::job::fails_job(r, state.job_refresh));
                state.job_results = answered;
                if job.fota_session_id.is_some() {
                    state.fota = job.fota_session_id;
                    if resumed {
                        // Its query or offer went to the session that broke.
                        asked = job.fota_session_id;
                    }
                }
                state.job = Some(job.id);
                let why = if resumed {
                    "the device started the session again"
                } else {
                    "the device called back"
                };
                super::job::set_state(conn, job.id, "running", why)?;
                tracing::info!(
                    device = device.id,
                    job = job.id,
                    resumed,
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
    hs.target_refs = vec![req.hdr.target.clone()];
    hs.source_refs = vec![req.hdr.source.clone()];
    hs.chal = next_nonce.as_deref().map(|n| chal_for(state.hmac, n));
    statuses.push(hs);
    let mut reported = Reported::default();
    let (more, alerts) = run_commands(conn, cfg, &device, req, &mut state, &mut reported)?;
    statuses.extend(more);
    apply_reported(conn, &device, &reported)?;
    // The device refused the credentials we sent again: the session ends
    // (Alert 1223) rather than going round (OMA-TS-DM_Security 5.1.3.3
    // allows one more challenge).
    let refused_us = state.resend_cred && state.server_refusals >= 2;
    if refused_us {
        tracing::warn!(device = device.id, session = %req.hdr.session_id, "the device refused the server's credentials twice; session aborted");
        abort_job(
            conn,
            &mut state,
            "the device refused the server's credentials twice",
        )?;
    } else if reported.aborted {
        abort_job(
            conn,
            &mut state,
            "the device aborted the session (Alert 1223)",
        )?;
    } else {
        // Looked up only now: a final report (Generic Alert) finds its
        // own session, and no command before the plan needs the open one.
        if state.fota.is_none() {
            state.fota = open_fota(conn, device.id)?;
        }
        plan(conn, cfg, &device, &mut state, &reported, asked)?;
        finish_job(conn, &mut state)?;
    }

    // Build the reply within the device's MaxMsgSize.
    // Never below the client's: a challenge before this message was
    // answered with the client's MsgID and stored nothing.
    state.server_msg_id = (state.server_msg_id + 1).max(req.hdr.msg_id);
    if state.token.is_empty() {
        state.token = new_token();
    }
    let resp_uri = format!("{}/omadm?s={}", cfg.base_url, url_encode(&state.token));
    let mut reply = Message {
        hdr: reply_header(&req.hdr, cfg, state.server_msg_id, Some(resp_uri)),
        body: SyncBody {
            commands: Vec::new(),
            final_: true,
        },
    };
    // Our credentials: in the reply that accepts the device, in the one
    // after it refused them (made with the nonce it gave), and as HMAC
    // in every reply to a device that signs its messages.
    let mut server_mac = None;
    if signed_in || (state.resend_cred && !refused_us) || state.hmac {
        let acct = match acct_read {
            Some(a) => Some(a),
            None => account::get(conn, &cfg.vault, device.id)?,
        };
        if let Some(acct) = acct {
            let nonce = state
                .rolled_server_nonce
                .clone()
                .unwrap_or_else(|| acct.server_nonce_bytes());
            if state.hmac {
                server_mac = Some(ServerMac {
                    server_id: acct.server_id,
                    password: acct.server_password,
                    nonce,
                });
            } else {
                reply.hdr.cred = Some(Cred {
                    format: Some("b64".into()),
                    auth_type: "syncml:auth-md5".into(),
                    data: auth::md5_digest(&acct.server_id, &acct.server_password, &nonce).to_vec(),
                });
            }
        }
    }
    for st in statuses {
        state.next_cmd_id += 1;
        reply.body.commands.push(Command::Status(Status {
            cmd_id: state.next_cmd_id,
            ..st
        }));
    }
    let mut alerts = alerts;
    // A device still sending its package after ours was complete gets
    // the "Next Message" answer: Alert 1222, no new command, no Final
    // (OMA-DM Protocol 1.2, Multiple Messages in Package). While ours
    // goes on, the device's messages are not final either: they ask for
    // the rest of it.
    let package_open = !req.body.final_ && !state.server_package_open && !refused_us;
    if refused_us {
        alerts.push(alert(alert_code::SESSION_ABORT, Vec::new()));
    } else if package_open {
        alerts.push(alert(alert_code::NEXT_MESSAGE, Vec::new()));
    }
    for a in alerts {
        state.next_cmd_id += 1;
        reply.body.commands.push(Command::Alert(Alert {
            cmd_id: state.next_cmd_id,
            ..a
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
    while let Some(p) = state.queue.first().cloned().filter(|_| !package_open) {
        let others = reply
            .body
            .commands
            .iter()
            .filter(|c| !matches!(c, Command::Status(_)))
            .count();
        state.next_cmd_id += 1;
        let cmd = to_command(&p, state.next_cmd_id);
        reply.body.commands.push(cmd);
        // Measured as it will travel: XML is several times its WBXML.
        let size = reply
            .encode(incoming.encoding)
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
        match &p {
            Pending::Command(c) => state
                .job_results
                .push(CommandResult::sent(c, state.next_cmd_id)),
            Pending::Read(paths) => {
                for path in paths {
                    let get = DmCommand::Get { path: path.clone() };
                    state
                        .job_results
                        .push(CommandResult::sent(&get, state.next_cmd_id));
                }
            }
            _ => {}
        }
        state.queue.remove(0);
    }
    if !state.queue.is_empty() || package_open {
        reply.body.final_ = false;
    }
    state.server_package_open = !state.queue.is_empty() && !package_open;

    let ended = reported.aborted || refused_us;
    let state_json = serde_json::to_string(&state).unwrap_or_default();
    match row {
        // Aborted: over, so a later message must authenticate afresh.
        Some(_) if ended => {
            crate::native!(conn, |c| diesel::delete(
                dm_sessions::table.find(&session_key)
            )
            .execute(c))?;
        }
        None if ended => {}
        Some(_) => {
            let changes = (
                dm_sessions::last_msg_id.eq(req.hdr.msg_id as i32),
                dm_sessions::authenticated.eq(authenticated),
                dm_sessions::state.eq(&state_json),
                dm_sessions::fota_session_id.eq(state.fota),
                dm_sessions::job_id.eq(state.job),
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
                dm_sessions::job_id.eq(state.job),
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
        server_mac,
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
    let detail = super::job::outcome_detail(conn, &progress_of(state))?;
    let failed = state.job_failed
        || state
            .job_results
            .iter()
            .any(|r| super::job::fails_job(r, state.job_refresh));
    let outcome = if failed { "failed" } else { "done" };
    super::job::finish(conn, job, outcome, &detail, &state.job_results)?;
    tracing::info!(job, outcome, %detail, "server-initiated OMA-DM job finished");
    state.job = None;
    Ok(())
}

/// The device aborted the session (Alert 1223): nothing more is sent, and
/// the job it was running fails with how far it got.
fn abort_job(
    conn: &mut DbConnection,
    state: &mut SessionState,
    why: &str,
) -> Result<(), EngineError> {
    let progress = progress_of(state);
    state.queue.clear();
    state.awaiting.clear();
    if let Some(job) = state.job.take() {
        super::job::interrupt(conn, job, why, &progress, None)?;
    }
    Ok(())
}

/// How far the session's job got.
fn progress_of(state: &SessionState) -> super::job::Progress {
    super::job::Progress {
        results: state.job_results.clone(),
        unsent: state.queue.iter().map(Pending::job_commands).sum(),
        log: state.job_log.clone(),
        fota: state.fota,
        refresh: state.job_refresh,
    }
}

/// The job a stored session state was running, and how far it got.
pub(crate) fn job_progress(state_json: &str) -> Option<(i64, super::job::Progress)> {
    let state: SessionState = serde_json::from_str(state_json).ok()?;
    Some((state.job?, progress_of(&state)))
}

/// A session that ends while running a job (the handset started it again)
/// leaves what the job came to with the job, for the session that follows.
fn keep_job_progress(conn: &mut DbConnection, state_json: &str) -> Result<(), EngineError> {
    if let Some((job, progress)) = job_progress(state_json) {
        super::job::keep_progress(conn, job, &progress.results)?;
    }
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
        Pending::Read(_) => "Get",
    }
}

fn to_command(p: &Pending, cmd_id: u32) -> Command {
    let item = |target: &str, data: Option<String>| Item {
        target: Some(target.to_string()),
        source: None,
        meta: None,
        data: data.map(ItemData::Text),
        more_data: false,
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
        Pending::Read(paths) => Command::Get(ItemCmd {
            cmd_id,
            correlator: None,
            meta: None,
            items: paths.iter().map(|p| item(p.as_str(), None)).collect(),
        }),
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
        more_data: false,
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
    /// The device aborted the session (Alert 1223).
    aborted: bool,
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

/// An Alert of ours; its CmdID is set when it goes in the reply.
fn alert(code: u16, items: Vec<Item>) -> Alert {
    Alert {
        cmd_id: 0,
        data: code,
        correlator: None,
        items,
    }
}

/// Runs the commands of one message in order. A command whose CmdID is
/// not valid (0, not a number, or used twice in the message: its Status
/// could not say which it answers) is answered 400 and not run. Chunks of
/// a large object are answered 213 and kept with the session until the
/// last one, when the whole command runs. Returns the statuses, and the
/// Alerts 1225 for large objects whose end never came.
fn run_commands(
    conn: &mut DbConnection,
    cfg: &EngineConfig,
    device: &Device,
    req: &Message,
    state: &mut SessionState,
    reported: &mut Reported,
) -> Result<(Vec<Status>, Vec<Alert>), EngineError> {
    let msg_ref = req.hdr.msg_id;
    let mut uses = std::collections::HashMap::<u32, usize>::new();
    for c in &req.body.commands {
        *uses.entry(c.cmd_id()).or_default() += 1;
    }
    let valid = |c: &Command| c.cmd_id() != 0 && uses.get(&c.cmd_id()) == Some(&1);
    let mut statuses = Vec::new();
    let mut alerts = Vec::new();
    // The object under way, and whether a chunk of it came in this message.
    let mut open = state.large_object.take().map(|lo| (lo, false));
    for cmd in &req.body.commands {
        let ok = valid(cmd);
        if let Command::Status(_) = cmd {
            if ok {
                statuses.extend(process(conn, device, msg_ref, cmd, state, reported)?);
            } else {
                tracing::warn!(
                    device = device.id,
                    cmd_id = cmd.cmd_id(),
                    "Status with an invalid CmdID ignored"
                );
            }
            continue;
        }
        let answer = |code| status(msg_ref, cmd.cmd_id(), cmd.name(), code);
        if let Some((lo, fresh)) = open.take() {
            // Its next chunk must open the next message: anything else
            // means its end never comes (OMA-DM Protocol 1.2, Large Object
            // Handling).
            if ok && !fresh && lo.continued_by(cmd) {
                match lo.add(cmd, cfg.max_body) {
                    Chunked::More(lo) => {
                        open = Some((lo, true));
                        statuses.push(answer(213));
                    }
                    Chunked::Whole(whole) => {
                        statuses.extend(process(conn, device, msg_ref, &whole, state, reported)?);
                    }
                    Chunked::Refused(code) => statuses.push(answer(code)),
                }
                continue;
            }
            tracing::warn!(
                device = device.id,
                "a large object's chunks stopped before its end"
            );
            alerts.push(lo.no_end_of_data());
        }
        if !ok {
            tracing::warn!(
                device = device.id,
                cmd = cmd.name(),
                cmd_id = cmd.cmd_id(),
                "command with an invalid CmdID refused"
            );
            statuses.push(answer(400));
            continue;
        }
        match LargeObject::start(cmd, cfg.max_body) {
            None => statuses.extend(process(conn, device, msg_ref, cmd, state, reported)?),
            Some(Ok(lo)) => {
                open = Some((lo, true));
                statuses.push(answer(213));
            }
            Some(Err(code)) => statuses.push(answer(code)),
        }
    }
    match open {
        Some((lo, true)) => state.large_object = Some(lo),
        Some((lo, false)) => {
            tracing::warn!(
                device = device.id,
                "a large object's chunks stopped before its end"
            );
            alerts.push(lo.no_end_of_data());
        }
        None => {}
    }
    Ok((statuses, alerts))
}

/// A large object arriving in chunks, one per message (OMA-DM Protocol 1.2,
/// Large Object Handling): kept with the session's state in the database,
/// so any node takes the next chunk.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LargeObject {
    /// The command carrying it: "Results" or "Replace".
    cmd: String,
    /// Results: the Get it answers.
    msg_ref: u32,
    cmd_ref: u32,
    /// The command's items before the chunked one.
    earlier: Vec<HeldItem>,
    /// The chunked item, with its data so far.
    item: HeldItem,
    /// The whole object's size, from the first chunk's Meta Size.
    size: u64,
}

/// An item as the session state keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct HeldItem {
    target: Option<String>,
    source: Option<String>,
    format: Option<String>,
    mime: Option<String>,
    /// The data's bytes, base64: the state is JSON text.
    data: Option<String>,
    /// Whether the data came as bytes rather than characters.
    binary: bool,
}

enum Chunked {
    /// More chunks to come.
    More(LargeObject),
    /// The last chunk: the command with the whole object.
    Whole(Command),
    /// Answered with this status, and dropped.
    Refused(u16),
}

impl HeldItem {
    fn of(item: &Item, inherited: Option<&Meta>) -> HeldItem {
        let meta = item.meta.as_ref();
        let (data, binary) = match &item.data {
            None => (None, false),
            Some(ItemData::Text(t)) => (Some(B64.encode(t)), false),
            Some(ItemData::Binary(b)) => (Some(B64.encode(b)), true),
        };
        HeldItem {
            target: item.target.clone(),
            source: item.source.clone(),
            format: meta
                .and_then(|m| m.format.clone())
                .or_else(|| inherited.and_then(|m| m.format.clone())),
            mime: meta
                .and_then(|m| m.r#type.clone())
                .or_else(|| inherited.and_then(|m| m.r#type.clone())),
            data,
            binary,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        self.data
            .as_deref()
            .and_then(|d| B64.decode(d).ok())
            .unwrap_or_default()
    }

    fn item(&self, size: Option<u64>) -> Item {
        let bytes = self.bytes();
        let data = self.data.as_ref().map(|_| {
            let bin = matches!(self.format.as_deref(), Some("b64" | "bin"));
            match String::from_utf8(bytes) {
                Ok(t) if !bin && !self.binary => ItemData::Text(t),
                Ok(t) => ItemData::Binary(t.into_bytes()),
                Err(e) => ItemData::Binary(e.into_bytes()),
            }
        });
        let meta = (self.format.is_some() || self.mime.is_some() || size.is_some()).then(|| Meta {
            format: self.format.clone(),
            r#type: self.mime.clone(),
            size,
            mark: None,
        });
        Item {
            target: self.target.clone(),
            source: self.source.clone(),
            meta,
            data,
            more_data: false,
        }
    }
}

/// The name, items and command Meta of a command that can carry a large
/// object from the device.
fn chunk_carrier(cmd: &Command) -> Option<(&'static str, &[Item], Option<&Meta>)> {
    match cmd {
        Command::Results(r) => Some(("Results", &r.items, None)),
        Command::Replace(c) => Some(("Replace", &c.items, c.meta.as_ref())),
        _ => None,
    }
}

impl LargeObject {
    /// The object whose first chunk `cmd` carries, or why it is refused;
    /// `None` when `cmd` carries no chunk.
    fn start(cmd: &Command, limit: usize) -> Option<Result<LargeObject, u16>> {
        let (name, items, meta) = chunk_carrier(cmd)?;
        let at = items.iter().position(|i| i.more_data)?;
        // Only the last item may go on in the next message.
        if at + 1 != items.len() {
            return Some(Err(400));
        }
        let first = &items[at];
        // 411: the first chunk must say how large the whole object is.
        let Some(size) = first.meta.as_ref().and_then(|m| m.size) else {
            return Some(Err(411));
        };
        if size > limit as u64 {
            return Some(Err(413));
        }
        let (msg_ref, cmd_ref) = match cmd {
            Command::Results(r) => (r.msg_ref, r.cmd_ref),
            _ => (0, 0),
        };
        let lo = LargeObject {
            cmd: name.into(),
            msg_ref,
            cmd_ref,
            earlier: items[..at].iter().map(|i| HeldItem::of(i, meta)).collect(),
            item: HeldItem::of(first, meta),
            size,
        };
        Some(if lo.item.bytes().len() as u64 > size {
            Err(424)
        } else {
            Ok(lo)
        })
    }

    /// Whether `cmd` carries the object's next chunk: the same command,
    /// its first item naming the same node (when it names one).
    fn continued_by(&self, cmd: &Command) -> bool {
        let Some((name, items, _)) = chunk_carrier(cmd) else {
            return false;
        };
        let Some(first) = items.first() else {
            return false;
        };
        let same = |a: &Option<String>, b: &Option<String>| a.is_none() || a == b;
        name == self.cmd
            && same(&first.source, &self.item.source)
            && same(&first.target, &self.item.target)
    }

    fn add(mut self, cmd: &Command, limit: usize) -> Chunked {
        let Some((_, items, meta)) = chunk_carrier(cmd) else {
            return Chunked::Refused(400);
        };
        let Some(chunk) = items.first() else {
            return Chunked::Refused(400);
        };
        let more = chunk.more_data;
        if more && items.len() > 1 {
            return Chunked::Refused(400);
        }
        let held = HeldItem::of(chunk, meta);
        let mut bytes = self.item.bytes();
        bytes.extend(held.bytes());
        if bytes.len() as u64 > self.size || bytes.len() > limit {
            return Chunked::Refused(424);
        }
        self.item.binary |= held.binary;
        self.item.data = Some(B64.encode(&bytes));
        if more {
            return Chunked::More(self);
        }
        if bytes.len() as u64 != self.size {
            // 424: the chunks do not make the size announced.
            return Chunked::Refused(424);
        }
        let mut all: Vec<Item> = self.earlier.iter().map(|i| i.item(None)).collect();
        all.push(self.item.item(Some(self.size)));
        all.extend(items[1..].iter().cloned());
        let cmd_id = cmd.cmd_id();
        Chunked::Whole(match self.cmd.as_str() {
            "Results" => Command::Results(Results {
                cmd_id,
                msg_ref: self.msg_ref,
                cmd_ref: self.cmd_ref,
                items: all,
            }),
            _ => Command::Replace(ItemCmd {
                cmd_id,
                correlator: None,
                meta: None,
                items: all,
            }),
        })
    }

    /// Alert 1225, naming the object whose end never came.
    fn no_end_of_data(&self) -> Alert {
        alert(
            alert_code::NO_END_OF_DATA,
            vec![Item {
                target: self.item.target.clone(),
                source: self.item.source.clone(),
                meta: None,
                data: None,
                more_data: false,
            }],
        )
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
                1200 | 1201 | 1222 => 200,
                1223 => {
                    reported.aborted = true;
                    200
                }
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
            let mine = results_of(&state.job_results, *cmd_ref);
            if !mine.is_empty() {
                record_values(&mut state.job_results, &mine, items);
                if mine.iter().all(|&i| state.job_results[i].status.is_some()) {
                    // Every node has its outcome: no Status is still awaited.
                    state.awaiting.retain(|(id, _)| id != cmd_ref);
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
            let rolls = |c: &&Chal| {
                c.auth_type.eq_ignore_ascii_case("syncml:auth-md5")
                    || c.auth_type.eq_ignore_ascii_case("syncml:auth-MAC")
            };
            if let Some(ch) = s.chal.as_ref().filter(rolls) {
                account::set_server_nonce(conn, device.id, &ch.next_nonce)?;
                state.rolled_server_nonce = Some(ch.next_nonce.clone());
                tracing::info!(device = device.id, "the device rolled the server nonce");
            }
            if matches!(s.data, 401 | 407) {
                // It refused (or missed) our credentials: they go again in
                // the reply, made with the nonce it just gave.
                state.server_refusals = state.server_refusals.saturating_add(1);
                state.resend_cred = true;
                tracing::warn!(
                    device = device.id,
                    code = s.data,
                    refusals = state.server_refusals,
                    "the device refused the server's credentials"
                );
            }
            Vec::new()
        }
        Command::Status(s) => {
            if let Some(pos) = state.awaiting.iter().position(|(id, _)| *id == s.cmd_ref) {
                let (_, name) = state.awaiting.remove(pos);
                let mine = results_of(&state.job_results, s.cmd_ref);
                if !mine.is_empty() {
                    // A job's command: a refusal fails the job, never a
                    // firmware update the session may also be carrying.
                    if record_status(&mut state.job_results, &mine, s, state.job_refresh) {
                        state.job_failed = true;
                    }
                    if mine.iter().any(|&i| state.job_results[i].status.is_none()) {
                        // The Statuses of its other Items are still to come.
                        state.awaiting.insert(pos, (s.cmd_ref, name));
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
        // Named as it came (Sync, Put, ...): the device must see which
        // command is not supported.
        other => vec![status(msg_ref, other.cmd_id(), other.name(), 406)],
    })
}

/// The job's results a command of ours (`cmd_ref`) carries: one for an
/// operator's command, one per node for a [`Pending::Read`].
fn results_of(results: &[CommandResult], cmd_ref: u32) -> Vec<usize> {
    results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.cmd_id == cmd_ref)
        .map(|(i, _)| i)
        .collect()
}

/// The values a Results brings to the job's results `mine`, each Item to
/// the node it names. An Item naming no node (or, for a one-node command, a
/// node written in some other form) fills the first node still without a
/// value.
fn record_values(results: &mut [CommandResult], mine: &[usize], items: &[Item]) {
    for it in items {
        let uri = it
            .source
            .as_deref()
            .or(it.target.as_deref())
            .map(normal_uri);
        let named = uri.and_then(|u| {
            mine.iter()
                .copied()
                .find(|&i| normal_uri(&results[i].path) == u)
        });
        let slot = named.or_else(|| {
            (uri.is_none() || mine.len() == 1)
                .then(|| mine.iter().copied().find(|&i| results[i].value.is_none()))
                .flatten()
        });
        let Some(i) = slot else {
            tracing::warn!(uri = ?uri, "Results item for no node of the command; ignored");
            continue;
        };
        let r = &mut results[i];
        r.value = Some(text_of(it).unwrap_or_default());
        r.format = it.meta.as_ref().and_then(|m| m.format.clone());
        // A handset that answers one Status for all the Items gives the
        // first failure's code, and one whose Status names only the Items
        // it could not read (by TargetRef) gives none for the rest: a node
        // whose value came back was read.
        if mine.len() > 1 && r.status.is_none_or(|c| c >= 300) {
            r.status = Some(200);
        }
    }
}

/// A Status for the job's results `mine`: the Items its TargetRefs name
/// (or its SourceRefs, from clients that name them so), one TargetRef per
/// Item when a Status for a command of several applies to some of them
/// (SyncML RepPro 1.2, Status); or else, when it names none of them,
/// every one still unanswered (a Status for the whole command). True when
/// it fails the job.
fn record_status(results: &mut [CommandResult], mine: &[usize], s: &Status, refresh: bool) -> bool {
    let refs = if s.target_refs.is_empty() {
        &s.source_refs
    } else {
        &s.target_refs
    };
    let mut named: Vec<usize> = Vec::new();
    let mut unknown: Vec<&str> = Vec::new();
    for uri in refs {
        let u = normal_uri(uri);
        // A node the job reads twice is named twice: each ref takes one.
        match mine
            .iter()
            .copied()
            .find(|&i| !named.contains(&i) && normal_uri(&results[i].path) == u)
        {
            Some(i) => named.push(i),
            None => unknown.push(uri),
        }
    }
    if !named.is_empty() && !unknown.is_empty() {
        tracing::warn!(refs = ?unknown, "Status names nodes the command did not carry; ignored for those");
    }
    let whole = named.is_empty();
    let answered: Vec<usize> = if whole {
        mine.iter()
            .copied()
            .filter(|&i| results[i].status.is_none())
            .collect()
    } else {
        named
    };
    let mut fails = false;
    for i in answered {
        let r = &mut results[i];
        // Its value arrived first (see `record_values`): it was read.
        let read = mine.len() > 1 && whole && r.value.is_some();
        r.status = Some(if read && s.data >= 300 { 200 } else { s.data });
        fails |= super::job::fails_job(r, refresh);
    }
    fails
}

/// A Generic Alert (1226): each Item reports on the Management Object it
/// names (OMA-DM Protocol 1.2, Generic Alert), so every one is handled; the
/// Alert's one Status is 200 when all were, else the first Item's error.
fn generic_alert(
    conn: &mut DbConnection,
    device: &Device,
    state: &mut SessionState,
    items: &[Item],
    correlator: Option<&str>,
) -> Result<u16, EngineError> {
    if items.is_empty() {
        return Ok(400);
    }
    let correlator = correlator.filter(|c| !c.is_empty());
    // The device's recent FOTA sessions, read once for all the Items.
    let mut candidates: Option<Vec<fota::FotaSession>> = None;
    let mut code = 200;
    for item in items {
        let item_code = alert_item(conn, device, state, item, correlator, &mut candidates)?;
        if code == 200 && item_code != 200 {
            code = item_code;
        }
    }
    Ok(code)
}

/// One Item of a Generic Alert: a FUMO result closes (or moves on) the FOTA
/// session it belongs to; another type reports an operator's Exec.
fn alert_item(
    conn: &mut DbConnection,
    device: &Device,
    state: &mut SessionState,
    item: &Item,
    correlator: Option<&str>,
    candidates: &mut Option<Vec<fota::FotaSession>>,
) -> Result<u16, EngineError> {
    let Some(code) = text_of(item).and_then(|t| t.parse::<u16>().ok()) else {
        tracing::warn!(
            device = device.id,
            "generic alert item without a result code"
        );
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
            .filter(|_| open)
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
    let candidates = match candidates {
        Some(c) => c,
        None => candidates.insert(fota::for_device_for_update(conn, device.id, 20)?),
    };
    // A correlator names the offer it answers, and only that one; without
    // one (FUMO allows it) the report can only be about a package the
    // handset was offered, never a session still asking what it runs.
    let found = match correlator {
        Some(c) => candidates
            .iter()
            .position(|s| s.correlator.as_deref() == Some(c)),
        None => candidates
            .iter()
            .position(|s| matches!(s.state(), FotaState::Offered | FotaState::Downloaded)),
    };
    let Some(i) = found else {
        tracing::warn!(
            device = device.id,
            ?correlator,
            code,
            alert_type,
            "generic alert matches no FOTA offer of the device; not applied"
        );
        return Ok(404);
    };
    let s = candidates[i].clone();
    if s.state().is_terminal() {
        // Already closed (e.g. by the download report): acknowledged; the
        // FUMO code is kept if the session has none yet.
        tracing::info!(fota_session = s.id, code, state = %s.state, "generic alert for a closed FOTA session");
        candidates[i] = fota::record_late_result(conn, s, code)?;
        return Ok(200);
    }
    if alert_type == FUMO_DOWNLOAD_ALERT_TYPE && code == 200 {
        // The package is on the device: now the separate Update.
        let s = if s.state() != FotaState::Downloaded {
            fota::advance_loaded(conn, s, FotaState::Downloaded, "FUMO Download reported 200")?
        } else {
            s
        };
        state.queue.push(Pending::Exec {
            target: format!("{FUMO_NODE}/Update"),
            correlator: s.correlator.clone().unwrap_or_default(),
        });
        state.fota = Some(s.id);
        // Past its offer: the plan has nothing to ask (nor to read again).
        state.planned_fota = Some(s.id);
        candidates[i] = s;
        return Ok(200);
    }
    let id = s.id;
    candidates[i] = fota::finish_loaded(conn, s, device, code, &format!("FUMO result {code}"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: [&str; 5] = [
        "./DevInfo/Man",
        "./DevInfo/Mod",
        "./DevInfo/DmV",
        "./DevInfo/Lang",
        "./DevDetail/FwV",
    ];

    /// A refresh's five results, sent with CmdID 4.
    fn refresh() -> (Vec<CommandResult>, Vec<usize>) {
        let results: Vec<CommandResult> = NODES
            .iter()
            .map(|p| {
                let get = DmCommand::Get {
                    path: NodePath::parse(p).unwrap(),
                };
                CommandResult::sent(&get, 4)
            })
            .collect();
        let mine = results_of(&results, 4);
        (results, mine)
    }

    fn get_status(refs: &[&str], code: u16) -> Status {
        let mut s = status(1, 4, "Get", code);
        s.target_refs = refs.iter().map(|r| r.to_string()).collect();
        s
    }

    fn values(nodes: &[&str]) -> Vec<Item> {
        nodes
            .iter()
            .map(|n| Item {
                source: Some(n.to_string()),
                data: Some(ItemData::Text(format!("value of {n}"))),
                ..Item::default()
            })
            .collect()
    }

    fn codes(results: &[CommandResult]) -> Vec<Option<u16>> {
        results.iter().map(|r| r.status).collect()
    }

    #[test]
    fn a_status_naming_several_items_applies_to_each_of_them_only() {
        let (mut results, mine) = refresh();
        // One written without "./", as some clients do.
        let missing = get_status(&["./DevInfo/DmV", "DevInfo/Lang"], 404);
        assert!(!record_status(&mut results, &mine, &missing, true));
        assert_eq!(codes(&results), [None, None, Some(404), Some(404), None]);
        let read = get_status(&["./DevInfo/Man", "./DevInfo/Mod", "./DevDetail/FwV"], 200);
        assert!(!record_status(&mut results, &mine, &read, true));
        assert_eq!(
            codes(&results),
            [Some(200), Some(200), Some(404), Some(404), Some(200)]
        );
        // Outside a refresh a 404 fails the job.
        let (mut results, mine) = refresh();
        assert!(record_status(&mut results, &mine, &missing, false));
    }

    #[test]
    fn a_status_naming_no_item_still_answers_the_whole_command() {
        let (mut results, mine) = refresh();
        record_status(
            &mut results,
            &mine,
            &get_status(&["./DevInfo/Lang"], 404),
            true,
        );
        record_status(&mut results, &mine, &get_status(&[], 200), true);
        assert_eq!(
            codes(&results),
            [Some(200), Some(200), Some(200), Some(404), Some(200)]
        );
        // Refs naming no node of the command: the whole command too.
        let (mut results, mine) = refresh();
        record_status(
            &mut results,
            &mine,
            &get_status(&["./Elsewhere"], 200),
            true,
        );
        assert!(results.iter().all(|r| r.status == Some(200)));
    }

    #[test]
    fn values_for_items_no_status_named_are_reads() {
        // A 404 naming the two missing nodes and Results for the others.
        let (mut results, mine) = refresh();
        let missing = get_status(&["./DevInfo/DmV", "./DevInfo/Lang"], 404);
        record_status(&mut results, &mine, &missing, true);
        record_values(
            &mut results,
            &mine,
            &values(&["./DevInfo/Man", "./DevInfo/Mod", "./DevDetail/FwV"]),
        );
        assert_eq!(
            codes(&results),
            [Some(200), Some(200), Some(404), Some(404), Some(200)]
        );
        assert_eq!(results[0].value.as_deref(), Some("value of ./DevInfo/Man"));
        assert_eq!(results[2].value, None);
        // Results before a whole-command Status of the first failure's code.
        let (mut results, mine) = refresh();
        record_values(
            &mut results,
            &mine,
            &values(&["./DevInfo/Man", "./DevInfo/Mod", "./DevDetail/FwV"]),
        );
        record_status(&mut results, &mine, &get_status(&[], 404), true);
        assert_eq!(
            codes(&results),
            [Some(200), Some(200), Some(404), Some(404), Some(200)]
        );
    }
}
