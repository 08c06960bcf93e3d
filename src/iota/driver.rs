//! The OSPP driver: runs IOTA sessions for the three call flows. The IOTA
//! HTTP server (`web/iota.rs`) hands it every MMC document a handset sends
//! and returns the document it answers with; the IVR and the OTAP
//! administrator start sessions through `start_star_code` and
//! `start_otapa`.
//!
//! Every exchange is one transaction that moves the session row on, so a
//! session survives a restart and continues on any node. The request's hash
//! and the answer are kept with it: a handset that repeats a request whose
//! answer it lost gets the same answer again, and nothing is done twice.
//! The customer profile changes only once the handset has committed.

use diesel::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::call_manager;
use super::is683::ReverseMessage;
use super::mmc::{Control, ControlItem, DeviceInfo, Link, MmcDocument, StatusItem};
use super::ospp::{self, Answer, Flow, Plan, Sent, Stage};
use super::prl_store::{self, StoredPrl};
use super::session::{self, Advance, IotaSession, NewSession};
use super::IotaError;
use crate::db::schema::profiles;
use crate::db::{now_ms, DbConnection};
use crate::messaging::content;
use crate::messaging::outbox::{self, Kind, NewMessage};
use crate::registry::audit::{self, EntityKind};
use crate::registry::capability::{self, Protocol};
use crate::registry::device::{self, Device};
use crate::registry::identifiers::{Esn, Mdn, Meid};
use crate::registry::lookup::{self, DeviceKey};
use crate::registry::profile::{self, ActivationState, Profile};
use crate::registry::{Actor, RegistryError};

const DRIVER: Actor = Actor::System("iota");

/// Path of the call-back URL pushed in the SI / SL; the session token follows.
pub const CALLBACK_PATH: &str = "/iota/callback/";
/// The pre-provisioned activation (bootstrap) URL of one-button activation.
pub const BOOTSTRAP_PATH: &str = "/iota/activate";

pub fn request_sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A document that ends the exchange with an error the handset can show.
pub fn refusal(session: Option<String>, code: u16, text: &str) -> MmcDocument {
    MmcDocument {
        session,
        controls: vec![ControlItem {
            action: Control::Terminate,
            reason: None,
        }],
        status: Some(StatusItem {
            code,
            text: text.to_string(),
        }),
        ..Default::default()
    }
}

pub(super) fn timeline(
    conn: &mut DbConnection,
    profile_id: Option<i64>,
    action: &str,
    detail: serde_json::Value,
) -> QueryResult<()> {
    match profile_id {
        Some(id) => audit::record(conn, &DRIVER, EntityKind::Profile, id, action, &detail),
        None => Ok(()),
    }
}

/// Automatic device identification: a MEID identifies the handset by
/// itself; an ESN-only handset is found by its ESN. A handset that gives
/// its MEID is that MEID or unknown, never matched on its pESN: pESNs
/// collide, and the match would program another subscriber's NAM.
pub fn identify(conn: &mut DbConnection, info: &DeviceInfo) -> Result<Option<Device>, IotaError> {
    let key = match (info.meid.as_deref(), info.esn.as_deref()) {
        (Some(m), _) => Meid::parse(m).ok().map(DeviceKey::Meid),
        (None, Some(e)) => Esn::parse(e).ok().map(DeviceKey::Esn),
        (None, None) => None,
    };
    let Some(key) = key else {
        return Ok(None);
    };
    match lookup::find(conn, &key) {
        Ok(d) => {
            note_model(conn, &d, info)?;
            device::touch(conn, d.id, "iota")?;
            Ok(Some(device::get(conn, d.id)?))
        }
        Err(RegistryError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// An ESN-only handset's model is learnt from the IOTA session: it is what
/// decides IOTA support for later server-initiated sessions.
pub(super) fn note_model(
    conn: &mut DbConnection,
    d: &Device,
    info: &DeviceInfo,
) -> Result<(), IotaError> {
    let (Some(make), Some(model)) = (info.make.as_deref(), info.model.as_deref()) else {
        return Ok(());
    };
    if d.make == make && d.model == model {
        return Ok(());
    }
    if d.make.is_empty() || d.model.is_empty() {
        use crate::db::schema::devices;
        diesel::update(devices::table.find(d.id))
            .set((devices::make.eq(make), devices::model.eq(model)))
            .execute(conn)?;
    }
    audit::record(
        conn,
        &DRIVER,
        EntityKind::Device,
        d.id,
        "model reported over IOTA",
        &json!({"make": make, "model": model, "registry": {"make": d.make, "model": d.model}}),
    )?;
    Ok(())
}

/// Whether a handset may run an IOTA session for server-initiated work,
/// decided before anything is pushed: by its model in the capability
/// registry, else by the IOTA ESN number series.
pub fn iota_support(conn: &mut DbConnection, d: &Device) -> Result<String, IotaError> {
    if let Some(cap) = capability::for_device(conn, &d.make, &d.model, &d.firmware_version)? {
        match cap.protocol() {
            Protocol::Iota | Protocol::Both => {
                return Ok(format!("capability registry: {} {}", d.make, d.model))
            }
            Protocol::Omadm => {
                return Err(IotaError::Conflict(format!(
                    "{} {} is registered as an OMA-DM handset, not IOTA",
                    d.make, d.model
                )))
            }
        }
    }
    if let Some(esn) = d.esn.as_deref().and_then(|e| Esn::parse(e).ok()) {
        if let Some(series) = capability::iota_series_for(conn, esn)? {
            return Ok(format!(
                "ESN series {}-{} ({})",
                series.first_hex(),
                series.last_hex(),
                series.make
            ));
        }
    }
    Err(IotaError::Conflict(format!(
        "cannot tell whether handset {} supports IOTA: its model {} {} has no capability entry and its ESN is in no IOTA series",
        d.label(),
        d.make,
        d.model
    )))
}

/// Why a handset may not be activated, as the GET response says it.
fn activation_refusal(d: &Device) -> Option<&'static str> {
    match d.activation_state.as_str() {
        "activated" => Some("handset already activated"),
        "deactivated" => Some("handset has been de-activated"),
        _ => None,
    }
}

fn profile_of(conn: &mut DbConnection, d: &Device) -> Result<Option<Profile>, IotaError> {
    match d.profile_id {
        Some(id) => Ok(Some(profile::get(conn, id)?)),
        None => Ok(None),
    }
}

/// Why a session may not go on for this handset and line: checked when it
/// starts and again at every exchange, since a de-activation (or another
/// session's activation) can come at any time before the commit.
fn line_refusal(flow: Flow, d: &Device, p: &Profile) -> Option<&'static str> {
    // A handset awaiting an ESN change's activation keeps its own state
    // when the line is de-activated: the line's state decides first.
    if p.state() == ActivationState::Deactivated {
        return Some("the line has been de-activated");
    }
    match flow {
        Flow::OneButton | Flow::StarCode => activation_refusal(d),
        Flow::OtapaPrl if d.activation_state != "activated" => {
            Some("handset is not activated: OTAPA reprograms active handsets only")
        }
        _ => None,
    }
}

/// What a session downloads. `sspr_table` is the table the session started
/// with, for every flow: the profile's table may change meanwhile, and the
/// segments of two PRLs must never be mixed.
fn plan_for(
    conn: &mut DbConnection,
    flow: Flow,
    profile: &Profile,
    sspr_table: Option<i32>,
) -> Result<(Plan, Option<StoredPrl>), IotaError> {
    match flow {
        Flow::OneButton | Flow::StarCode => {
            call_manager::activation_plan(conn, profile, sspr_table)
        }
        Flow::OtapaPrl => {
            let table = sspr_table
                .ok_or_else(|| IotaError::Invalid("the OTAPA session names no PRL".into()))?;
            let prl = call_manager::prl_of_table(conn, table)?;
            Ok((call_manager::prl_plan(&prl), Some(prl)))
        }
        Flow::Fota => Ok((Plan::default(), None)),
    }
}

/// The plan, or why the profile cannot be programmed: that reason is
/// told to the handset and recorded, where other errors are the server's.
fn plan_or_why(
    conn: &mut DbConnection,
    flow: Flow,
    profile: &Profile,
    sspr_table: Option<i32>,
) -> Result<Result<(Plan, Option<StoredPrl>), String>, IotaError> {
    match plan_for(conn, flow, profile, sspr_table) {
        Ok(plan) => Ok(Ok(plan)),
        Err(IotaError::Invalid(why)) => Ok(Err(why)),
        Err(IotaError::Is683(e)) => Ok(Err(format!(
            "the customer profile of {} cannot be programmed: {e}",
            profile.mdn
        ))),
        Err(e) => Err(e),
    }
}

/// Whether the `<device>` a handset sent names the registered handset. A
/// MEID given is compared alone: a pESN is shared by many MEIDs.
pub(super) fn same_handset(info: &DeviceInfo, d: &Device) -> bool {
    match info.meid.as_deref() {
        Some(m) => Meid::parse(m).is_ok_and(|m| d.meid.as_deref() == Some(m.to_hex().as_str())),
        None => info.esn.is_some() && (info.esn == d.esn || info.esn == d.pesn),
    }
}

/// Stores an answer that leaves no request in flight, and where the
/// session now stands; false when another request moved it meanwhile.
#[allow(clippy::too_many_arguments)]
pub(super) fn settle(
    conn: &mut DbConnection,
    s: &IotaSession,
    state: &str,
    stage: Stage,
    sha: &str,
    reply: &MmcDocument,
    detail: &str,
    device: Option<&Device>,
) -> Result<bool, IotaError> {
    let text = encode(reply)?;
    let moved = session::advance(
        conn,
        s.id,
        s.updated_at,
        &Advance {
            state,
            stage,
            segment_offset: s.segment_offset as u16,
            next_seq: s.next_seq as u32,
            sent: &[],
            request_sha: sha,
            response: &text,
            detail,
            device_id: device.map(|d| d.id).or(s.device_id),
            profile_id: device.and_then(|d| d.profile_id).or(s.profile_id),
        },
    )?;
    if moved && matches!(state, "failed" | "refused" | "abandoned") {
        session::release_pending_prl(conn, s, detail)?;
    }
    Ok(moved)
}

pub(super) fn encode(doc: &MmcDocument) -> Result<String, IotaError> {
    Ok(doc.encode()?)
}

/// Stores a refused first request as a session, so care sees the attempt.
fn record_refusal(
    conn: &mut DbConnection,
    flow: Flow,
    d: Option<&Device>,
    info: Option<&DeviceInfo>,
    text: &str,
) -> Result<(), IotaError> {
    session::insert(
        conn,
        &NewSession {
            flow,
            state: "refused",
            stage: Stage::Done,
            device_id: d.map(|d| d.id),
            profile_id: d.and_then(|d| d.profile_id),
            esn: info.and_then(|i| i.esn.clone()),
            meid: info.and_then(|i| i.meid.clone()),
            prl_sspr_table: None,
            detail: text.to_string(),
            fota_session_id: None,
        },
    )?;
    timeline(
        conn,
        d.and_then(|d| d.profile_id),
        "IOTA session refused",
        json!({"flow": flow.as_str(), "reason": text}),
    )?;
    tracing::warn!(flow = flow.as_str(), reason = text, "IOTA session refused");
    Ok(())
}

/// A handset let in with its subscriber, or the code and text it is refused with.
type Admission = Result<(Device, Profile), (u16, String)>;

/// Checks a handset that wants an activation session; the error is what
/// the handset is told.
fn admit(conn: &mut DbConnection, flow: Flow, info: &DeviceInfo) -> Result<Admission, IotaError> {
    let Some(d) = identify(conn, info)? else {
        let who = info
            .meid
            .as_deref()
            .map(|m| format!("MEID {m}"))
            .or_else(|| info.esn.as_deref().map(|e| format!("ESN {e}")))
            .unwrap_or_default();
        let text = format!("unknown handset: {who} is not in the customer profile database");
        record_refusal(conn, flow, None, Some(info), &text)?;
        return Ok(Err((404, text)));
    };
    if let Some(why) = activation_refusal(&d) {
        record_refusal(conn, flow, Some(&d), Some(info), why)?;
        return Ok(Err((403, why.to_string())));
    }
    let Some(p) = profile_of(conn, &d)? else {
        let text = "no customer profile is associated with this handset".to_string();
        record_refusal(conn, flow, Some(&d), Some(info), &text)?;
        return Ok(Err((404, text)));
    };
    if let Some(why) = line_refusal(flow, &d, &p) {
        record_refusal(conn, flow, Some(&d), Some(info), why)?;
        return Ok(Err((403, why.to_string())));
    }
    Ok(Ok((d, p)))
}

/// A handset runs one IOTA session at a time: when it starts one afresh
/// (after a dropped data call, pressing the button again, following a
/// pushed link), the sessions it was running are over, and only the new
/// one may commit. Pushed links it has not followed yet stay.
fn supersede_open(conn: &mut DbConnection, d: &Device, new: &IotaSession) -> Result<(), IotaError> {
    use crate::db::schema::iota_sessions;
    let open: Vec<IotaSession> = iota_sessions::table
        .filter(iota_sessions::device_id.eq(d.id))
        .filter(iota_sessions::id.ne(new.id))
        .filter(iota_sessions::flow.eq_any([
            Flow::OneButton.as_str(),
            Flow::StarCode.as_str(),
            Flow::OtapaPrl.as_str(),
        ]))
        .filter(iota_sessions::state.eq("running"))
        .select(IotaSession::as_select())
        .load(conn)?;
    let why = format!(
        "{} a new {} of the handset (session {})",
        session::SUPERSEDED,
        new.flow_label().to_lowercase(),
        new.token
    );
    for old in open {
        if !session::abandon(conn, &old, &why, now_ms())? {
            // It moved while this request ran (it may have committed):
            // the handset asks again and is told where it stands.
            return Err(IotaError::Conflict(format!(
                "IOTA session {} of {} moved on meanwhile",
                old.token,
                d.label()
            )));
        }
        timeline(
            conn,
            old.profile_id,
            "IOTA session superseded",
            json!({"flow": old.flow, "session": old.token, "by": new.token}),
        )?;
    }
    Ok(())
}

/// The handset's first GET to the bootstrap URL (one-button activation,
/// steps 1-6). `doc` is the `mmc` query parameter, if any.
pub fn bootstrap(
    conn: &mut DbConnection,
    doc: Option<MmcDocument>,
) -> Result<MmcDocument, IotaError> {
    let doc = doc.unwrap_or_default();
    if doc.session.is_some() {
        return Ok(refusal(
            None,
            400,
            "the first request of a session carries no session id",
        ));
    }
    if !doc.messages.is_empty() {
        return Ok(refusal(
            None,
            400,
            "the first request of a session carries no IS-683 message",
        ));
    }
    crate::db::write(conn, |conn| {
        let Some(info) = doc.device.as_ref() else {
            // No identity in the GET: ask for it with a Protocol
            // Capability Request; the handset names itself in its POST.
            let s = session::insert(
                conn,
                &NewSession {
                    flow: Flow::OneButton,
                    state: "running",
                    stage: Stage::Identify,
                    device_id: None,
                    profile_id: None,
                    esn: None,
                    meid: None,
                    prl_sspr_table: None,
                    detail: String::new(),
                    fota_session_id: None,
                },
            )?;
            return open(conn, &s, Stage::Identify, &Plan::default(), None, "");
        };
        let (d, p) = match admit(conn, Flow::OneButton, info)? {
            Ok(found) => found,
            Err((code, text)) => return Ok(refusal(None, code, &text)),
        };
        let plan = match plan_or_why(conn, Flow::OneButton, &p, p.sspr_table)? {
            Ok((plan, _)) => plan,
            Err(why) => {
                record_refusal(conn, Flow::OneButton, Some(&d), Some(info), &why)?;
                return Ok(refusal(None, 409, &why));
            }
        };
        let s = session::insert(
            conn,
            &NewSession {
                flow: Flow::OneButton,
                state: "running",
                stage: Stage::Nam,
                device_id: Some(d.id),
                profile_id: Some(p.id),
                esn: d.esn.clone(),
                meid: d.meid.clone(),
                prl_sspr_table: p.sspr_table,
                detail: String::new(),
                fota_session_id: None,
            },
        )?;
        supersede_open(conn, &d, &s)?;
        timeline(
            conn,
            Some(p.id),
            "IOTA session started",
            json!({"flow": "one_button", "session": s.token, "device": d.label()}),
        )?;
        open(conn, &s, Stage::Nam, &plan, Some(&d), "")
    })
}

/// Answers the first request of a session with `start` and the first
/// requests of `stage`.
pub(super) fn open(
    conn: &mut DbConnection,
    s: &IotaSession,
    stage: Stage,
    plan: &Plan,
    d: Option<&Device>,
    request: &str,
) -> Result<MmcDocument, IotaError> {
    let requests = ospp::requests(stage, plan, 0, 1)?;
    let sent: Vec<Sent> = requests.iter().map(|(s, _)| s.clone()).collect();
    let reply = MmcDocument {
        session: Some(s.token.clone()),
        controls: vec![ControlItem {
            action: Control::Start,
            reason: None,
        }],
        messages: ospp::payloads(&requests)?,
        ..Default::default()
    };
    let text = encode(&reply)?;
    let moved = session::advance(
        conn,
        s.id,
        s.updated_at,
        &Advance {
            state: "running",
            stage,
            segment_offset: 0,
            next_seq: 1 + sent.len() as u32,
            sent: &sent,
            request_sha: request,
            response: &text,
            detail: &s.detail,
            device_id: d.map(|d| d.id).or(s.device_id),
            profile_id: d.and_then(|d| d.profile_id).or(s.profile_id),
        },
    )?;
    if !moved {
        return Err(IotaError::Conflict("the session moved on meanwhile".into()));
    }
    Ok(reply)
}

/// The handset's GET to a pushed call-back URL (star-code step 7, OTAPA
/// step 16).
pub fn callback(
    conn: &mut DbConnection,
    token: &str,
    doc: Option<MmcDocument>,
    raw: &[u8],
) -> Result<MmcDocument, IotaError> {
    let sha = request_sha(raw);
    crate::db::write(conn, |conn| {
        let Some(s) = session::by_token(conn, token)? else {
            return Ok(refusal(None, 404, "unknown call-back URL"));
        };
        if s.state != "awaiting_handset" {
            if s.last_request_sha.as_deref() == Some(sha.as_str()) {
                if let Some(prev) = &s.last_response {
                    return Ok(MmcDocument::decode(prev.as_bytes())?);
                }
            }
            let why = if s.superseded() {
                "this call-back URL was superseded by a newer request"
            } else if s.state == "abandoned" && s.last_request_sha.is_none() {
                "this call-back URL has expired"
            } else {
                "this call-back URL has already been used"
            };
            return Ok(refusal(None, 410, why));
        }
        if now_ms() - s.created_at > session::CALLBACK_TTL_MS {
            return Ok(refusal(None, 410, "this call-back URL has expired"));
        }
        let doc = doc.unwrap_or_default();
        if doc.session.is_some() || !doc.messages.is_empty() {
            return Ok(refusal(
                None,
                400,
                "the first request of a session carries no session id and no IS-683 message",
            ));
        }
        let flow = s.flow().ok_or_else(|| IotaError::Invalid(s.flow.clone()))?;
        let d = match s.device_id {
            Some(id) => device::get(conn, id)?,
            None => return Ok(refusal(None, 410, "the handset of this call-back is gone")),
        };
        if let Some(info) = &doc.device {
            if !same_handset(info, &d) {
                return Ok(refusal(
                    None,
                    403,
                    "this call-back URL was sent to another handset",
                ));
            }
            note_model(conn, &d, info)?;
        }
        device::touch(conn, d.id, "iota")?;
        if flow.activates() {
            if let Some(why) = activation_refusal(&d) {
                return refuse_callback(conn, &s, &sha, "refused", 403, why);
            }
        }
        let Some(p) = profile_of(conn, &d)? else {
            return refuse_callback(
                conn,
                &s,
                &sha,
                "failed",
                404,
                "no customer profile is associated with this handset",
            );
        };
        if let Some(why) = line_refusal(flow, &d, &p) {
            return refuse_callback(conn, &s, &sha, "refused", 403, why);
        }
        let plan = match plan_or_why(conn, flow, &p, s.prl_sspr_table)? {
            Ok((plan, _)) => plan,
            Err(why) => return refuse_callback(conn, &s, &sha, "failed", 409, &why),
        };
        supersede_open(conn, &d, &s)?;
        timeline(
            conn,
            Some(p.id),
            "IOTA handset called back",
            json!({"flow": flow.as_str(), "session": s.token}),
        )?;
        open(conn, &s, flow.first_stage(), &plan, Some(&d), &sha)
    })
}

/// Ends a pushed session at its call-back: the handset may not go on.
fn refuse_callback(
    conn: &mut DbConnection,
    s: &IotaSession,
    sha: &str,
    state: &str,
    code: u16,
    why: &str,
) -> Result<MmcDocument, IotaError> {
    let reply = refusal(None, code, why);
    let stage = s.stage().unwrap_or(Stage::Done);
    settle(conn, s, state, stage, sha, &reply, why, None)?;
    timeline(
        conn,
        s.profile_id,
        "IOTA session refused",
        json!({"flow": s.flow, "session": s.token, "reason": why}),
    )?;
    tracing::warn!(session = %s.token, reason = why, "IOTA call-back refused");
    Ok(reply)
}

/// Ends a session on a handset's error and tells it why.
pub(super) fn fail(
    conn: &mut DbConnection,
    s: &IotaSession,
    sha: &str,
    code: u16,
    why: &str,
) -> Result<MmcDocument, IotaError> {
    let reply = refusal(Some(s.token.clone()), code, why);
    let stage = s.stage().unwrap_or(Stage::Done);
    settle(conn, s, "failed", stage, sha, &reply, why, None)?;
    timeline(
        conn,
        s.profile_id,
        "IOTA session failed",
        json!({"flow": s.flow, "session": s.token, "reason": why}),
    )?;
    tracing::warn!(session = %s.token, code, reason = why, "IOTA session failed");
    Ok(reply)
}

/// Ends a session under way whose line may no longer be programmed (it
/// was de-activated, or activated by another session): the handset is told
/// to terminate, and nothing of the session reaches the profile.
fn refuse_mid_session(
    conn: &mut DbConnection,
    s: &IotaSession,
    sha: &str,
    stage: Stage,
    why: &str,
) -> Result<MmcDocument, IotaError> {
    let text = format!("{why}: the session ends and nothing is recorded on the line");
    let reply = refusal(Some(s.token.clone()), 403, &text);
    if !settle(conn, s, "refused", stage, sha, &reply, &text, None)? {
        return Err(IotaError::Conflict("the session moved on meanwhile".into()));
    }
    // A Commit Request already sent may have been carried out by the
    // handset; the timeline says so, since the line's record stays as it was.
    let commit_requested = s.sent().iter().any(|x| matches!(x, Sent::Commit { .. }))
        || matches!(stage, Stage::OtapaStop);
    timeline(
        conn,
        s.profile_id,
        "IOTA session refused",
        json!({"flow": s.flow, "session": s.token, "reason": why, "stage": stage.as_str(), "commit_requested": commit_requested}),
    )?;
    tracing::warn!(session = %s.token, reason = why, "IOTA session ended: the line changed");
    Ok(reply)
}

/// Locks the profile row for the rest of the transaction on PostgreSQL, so
/// a de-activation either waits for this exchange or is seen by it (a
/// SQLite write transaction already excludes every other writer).
fn lock_profile(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    let query = profiles::table.find(id).select(profiles::id);
    match conn {
        DbConnection::Sqlite(_) => Ok(()),
        DbConnection::Postgres(c) => query.for_update().first::<i64>(c).optional().map(drop),
    }
}

/// A POST from the handset within a session.
pub fn exchange(
    conn: &mut DbConnection,
    doc: &MmcDocument,
    raw: &[u8],
    base_url: &str,
) -> Result<MmcDocument, IotaError> {
    let sha = request_sha(raw);
    let Some(token) = doc.session.clone() else {
        return Ok(refusal(
            None,
            400,
            "a POST carries the session id the server assigned",
        ));
    };
    crate::db::write(conn, |conn| {
        let Some(s) = session::by_token(conn, &token)? else {
            return Ok(refusal(None, 404, "no such IOTA session"));
        };
        // The handset lost our answer and asks again: same answer, no
        // second effect.
        if s.last_request_sha.as_deref() == Some(sha.as_str()) {
            if let Some(prev) = &s.last_response {
                return Ok(MmcDocument::decode(prev.as_bytes())?);
            }
        }
        if s.is_over() {
            let why = if s.superseded() {
                format!("this IOTA session has ended: {}", s.detail)
            } else {
                format!("this IOTA session has ended ({})", s.state)
            };
            return Ok(refusal(Some(token.clone()), 410, &why));
        }
        if s.state == "awaiting_handset" {
            return Ok(refusal(
                Some(token.clone()),
                409,
                "this session starts with a GET to its call-back URL",
            ));
        }
        if s.flow() == Some(Flow::Fota) {
            return super::fota::step(conn, &s, doc, &sha, base_url);
        }
        step(conn, &s, doc, &sha)
    })
}

fn step(
    conn: &mut DbConnection,
    s: &IotaSession,
    doc: &MmcDocument,
    sha: &str,
) -> Result<MmcDocument, IotaError> {
    let flow = s.flow().ok_or_else(|| IotaError::Invalid(s.flow.clone()))?;
    let stage = s
        .stage()
        .ok_or_else(|| IotaError::Invalid(s.step.clone()))?;
    if doc.has_control(Control::Terminate) {
        let reply = MmcDocument {
            session: Some(s.token.clone()),
            controls: vec![ControlItem {
                action: Control::Terminate,
                reason: Some("session abandoned by the handset".into()),
            }],
            ..Default::default()
        };
        settle(
            conn,
            s,
            "abandoned",
            stage,
            sha,
            &reply,
            "the handset ended the session",
            None,
        )?;
        timeline(
            conn,
            s.profile_id,
            "IOTA session abandoned by the handset",
            json!({"flow": s.flow, "session": s.token}),
        )?;
        return Ok(reply);
    }
    if doc.messages.iter().any(|m| m.link != Link::Reverse) {
        return fail(
            conn,
            s,
            sha,
            400,
            "a handset sends only reverse-link IS-683 messages",
        );
    }
    // The handset and line as they are now: the session may have started
    // before a de-activation, and nothing may reach the line after one.
    let known = if stage == Stage::Identify {
        None
    } else {
        if let Some(pid) = s.profile_id {
            lock_profile(conn, pid)?;
        }
        let d = match s.device_id {
            Some(id) => device::get(conn, id)?,
            None => return fail(conn, s, sha, 410, "the handset of this session is gone"),
        };
        let Some(p) = profile_of(conn, &d)? else {
            return fail(conn, s, sha, 410, "the profile of this session is gone");
        };
        if let Some(why) = line_refusal(flow, &d, &p) {
            return refuse_mid_session(conn, s, sha, stage, why);
        }
        Some((d, p))
    };
    let sent = s.sent();
    if doc.messages.is_empty() {
        // A poll while requests are in flight: the handset missed them.
        if let Some(prev) = &s.last_response {
            return Ok(MmcDocument::decode(prev.as_bytes())?);
        }
    }
    let mut answers = Vec::with_capacity(doc.messages.len());
    for m in &doc.messages {
        match ReverseMessage::decode(&m.bytes) {
            Ok(r) => answers.push((m.seq, r)),
            Err(e) => {
                return fail(
                    conn,
                    s,
                    sha,
                    400,
                    &format!("IS-683 message seq {}: {e}", m.seq),
                )
            }
        }
    }
    let mut expected: Vec<u32> = sent.iter().map(Sent::seq).collect();
    let mut got: Vec<u32> = answers.iter().map(|(seq, _)| *seq).collect();
    expected.sort_unstable();
    got.sort_unstable();
    if expected != got {
        let want = sent
            .iter()
            .map(|x| format!("seq {} ({})", x.seq(), x.describe()))
            .collect::<Vec<_>>()
            .join(", ");
        return fail(
            conn,
            s,
            sha,
            409,
            &format!(
                "out of order: the handset answered seq {got:?}; the server waits for {}",
                if want.is_empty() {
                    "nothing".into()
                } else {
                    want
                }
            ),
        );
    }
    let mut offset = s.segment_offset as u16;
    let mut prl_done = false;
    let mut capability = None;
    let mut accepted = Vec::new();
    for x in &sent {
        let Some((_, answer)) = answers.iter().find(|(seq, _)| *seq == x.seq()) else {
            continue;
        };
        match ospp::judge(x, answer) {
            Answer::Accepted {
                prl_next,
                capability: cap,
            } => {
                if let Some((next, last)) = prl_next {
                    offset = next;
                    prl_done = last;
                }
                capability = capability.or(cap);
                accepted.push(x.describe());
            }
            Answer::Rejected(why) => {
                return fail(conn, s, sha, 422, &format!("the handset rejected {why}"))
            }
            Answer::Mismatch(why) => return fail(conn, s, sha, 409, &why),
        }
    }
    // The handset names itself in the POST that answers the Protocol
    // Capability Request when its GET did not.
    let (d, p, table) = match known {
        Some((d, p)) => (d, p, s.prl_sspr_table),
        None => {
            let Some(info) = doc.device.as_ref() else {
                return fail(
                    conn,
                    s,
                    sha,
                    400,
                    "the handset did not say who it is (no <device> with its Protocol Capability Response)",
                );
            };
            session::record_claimed(conn, s.id, info)?;
            let (d, p) = match admit(conn, flow, info)? {
                Ok(found) => found,
                Err((code, text)) => return fail(conn, s, sha, code, &text),
            };
            // From here on the session keeps the PRL the line has now.
            session::pin_prl_table(conn, s.id, p.sspr_table)?;
            supersede_open(conn, &d, s)?;
            let table = p.sspr_table;
            (d, p, table)
        }
    };
    let (plan, prl) = match plan_or_why(conn, flow, &p, table)? {
        Ok(planned) => planned,
        Err(why) => return fail(conn, s, sha, 409, &why),
    };
    timeline(
        conn,
        Some(p.id),
        "IOTA step accepted",
        json!({"session": s.token, "accepted": accepted, "capability": capability.map(|(rev, model)| json!({"mob_firm_rev": rev, "mob_model": model}))}),
    )?;
    let next = ospp::next_stage(flow, stage, &plan, prl_done);
    let next_offset = if stage == Stage::Prl { offset } else { 0 };
    if next == Stage::Done {
        let summary = complete(conn, flow, &d, &p, prl.as_ref())?;
        let mut controls = vec![ControlItem {
            action: Control::Terminate,
            reason: Some(summary.clone()),
        }];
        if flow.activates() {
            controls.push(ControlItem {
                action: Control::Reboot,
                reason: None,
            });
        }
        let reply = MmcDocument {
            session: Some(s.token.clone()),
            controls,
            ..Default::default()
        };
        let moved = settle(
            conn,
            s,
            "completed",
            Stage::Done,
            sha,
            &reply,
            &summary,
            Some(&d),
        )?;
        if !moved {
            return Err(IotaError::Conflict("the session moved on meanwhile".into()));
        }
        return Ok(reply);
    }
    let requests = ospp::requests(next, &plan, next_offset, s.next_seq as u32)?;
    let now_sent: Vec<Sent> = requests.iter().map(|(x, _)| x.clone()).collect();
    let reply = MmcDocument {
        session: Some(s.token.clone()),
        messages: ospp::payloads(&requests)?,
        ..Default::default()
    };
    let text = encode(&reply)?;
    let moved = session::advance(
        conn,
        s.id,
        s.updated_at,
        &Advance {
            state: "running",
            stage: next,
            segment_offset: next_offset,
            next_seq: s.next_seq as u32 + now_sent.len() as u32,
            sent: &now_sent,
            request_sha: sha,
            response: &text,
            detail: &s.detail,
            device_id: Some(d.id),
            profile_id: Some(p.id),
        },
    )?;
    if !moved {
        return Err(IotaError::Conflict("the session moved on meanwhile".into()));
    }
    Ok(reply)
}

/// The handset committed: now, and only now, the profile changes (step 22
/// of one-button activation, step 7 of the PRL download).
fn complete(
    conn: &mut DbConnection,
    flow: Flow,
    d: &Device,
    p: &Profile,
    prl: Option<&StoredPrl>,
) -> Result<String, IotaError> {
    let now = now_ms();
    if flow.activates() {
        crate::registry::esn_change::complete_for(conn, &DRIVER, d)?;
        device::set_activation(conn, d.id, "activated")?;
        profile::set_state(conn, &DRIVER, p.id, ActivationState::Activated)?;
        let esn = d.esn.clone().or_else(|| d.pesn.clone());
        // New ESN holds what the change named: the ESN, or a MEID whose
        // pESN is what becomes the Activated ESN.
        let clear_new = p.new_esn.is_some() && (p.new_esn == esn || p.new_esn == d.meid);
        diesel::update(profiles::table.find(p.id))
            .set((
                profiles::activated_esn.eq(&esn),
                profiles::prl_id.eq(prl.map(|x| x.prl_id).or(p.prl_id)),
                profiles::updated_at.eq(now),
            ))
            .execute(conn)?;
        if clear_new {
            diesel::update(profiles::table.find(p.id))
                .set(profiles::new_esn.eq(None::<String>))
                .execute(conn)?;
        }
        let summary = "activation complete".to_string();
        timeline(
            conn,
            Some(p.id),
            "activated over IOTA",
            json!({"flow": flow.as_str(), "device": d.label(), "activated_esn": esn, "prl_id": prl.map(|x| x.prl_id), "new_esn_moved": clear_new}),
        )?;
        Ok(summary)
    } else {
        let prl = prl.ok_or_else(|| IotaError::Invalid("the OTAPA session sent no PRL".into()))?;
        diesel::update(profiles::table.find(p.id))
            .set((
                profiles::prl_id.eq(Some(prl.prl_id)),
                profiles::sspr_table.eq(Some(prl.sspr_table)),
                profiles::pending_prl_id.eq(None::<i32>),
                profiles::updated_at.eq(now),
            ))
            .execute(conn)?;
        timeline(
            conn,
            Some(p.id),
            "PRL downloaded over IOTA",
            json!({"prl_id": prl.prl_id, "sspr_table": prl.sspr_table, "previous_prl_id": p.prl_id}),
        )?;
        Ok(format!("PRL {} committed", prl.prl_id))
    }
}

/// Most short messages a star-code welcome may take: it precedes the
/// activation push, which waits for all of it, and a welcome longer than
/// this is a letter, not a greeting.
pub const WELCOME_MAX_PARTS: u8 = 4;

/// The short messages a welcome text goes out in, or why it cannot go out
/// within [`WELCOME_MAX_PARTS`] (and the outbox's own `sms_max_parts`):
/// checked at start, since such a welcome would fail on every activation.
pub fn check_welcome(text: &str, sms_max_parts: u8) -> Result<usize, String> {
    let most = WELCOME_MAX_PARTS.min(sms_max_parts);
    crate::messaging::codec::text::encode_parts(text, 0, most)
        .map(|parts| parts.len())
        .map_err(|e| format!("{e}; shorten it"))
}

/// Where pushed call-back URLs point and how long messages may be.
#[derive(Debug, Clone)]
pub struct PushContext {
    pub base_url: String,
    pub max_parts: u8,
}

fn find_device(conn: &mut DbConnection, key: &str) -> Result<Device, IotaError> {
    Ok(lookup::find(conn, &DeviceKey::parse(key)?)?)
}

/// The session under way for a handset, if any. A pushed call-back the
/// handset never followed does not block a new request: it is abandoned,
/// and its URL says it was superseded.
fn busy(conn: &mut DbConnection, device_id: i64) -> Result<Option<IotaSession>, IotaError> {
    use crate::db::schema::iota_sessions;
    let waiting: Vec<IotaSession> = iota_sessions::table
        .filter(iota_sessions::device_id.eq(device_id))
        .filter(iota_sessions::state.eq("awaiting_handset"))
        .select(IotaSession::as_select())
        .load(conn)?;
    let why = format!("{} a newer request", session::SUPERSEDED);
    for s in &waiting {
        if !session::abandon(conn, s, &why, now_ms())? {
            return Err(IotaError::Conflict(format!(
                "the handset answered call-back {} meanwhile; ask again",
                s.token
            )));
        }
    }
    Ok(iota_sessions::table
        .filter(iota_sessions::device_id.eq(device_id))
        .filter(iota_sessions::state.eq("running"))
        .select(IotaSession::as_select())
        .first(conn)
        .optional()?)
}

/// The OTAPA call-back of this PRL still waiting for the handset, if any.
fn pending_download(
    conn: &mut DbConnection,
    device_id: i64,
    sspr_table: i32,
) -> Result<Option<IotaSession>, IotaError> {
    use crate::db::schema::iota_sessions;
    Ok(iota_sessions::table
        .filter(iota_sessions::device_id.eq(device_id))
        .filter(iota_sessions::flow.eq(Flow::OtapaPrl.as_str()))
        .filter(iota_sessions::state.eq("awaiting_handset"))
        .filter(iota_sessions::prl_sspr_table.eq(sspr_table))
        .filter(iota_sessions::created_at.ge(now_ms() - session::CALLBACK_TTL_MS))
        .select(IotaSession::as_select())
        .first(conn)
        .optional()?)
}

fn line_mdn(p: &Profile) -> Result<Mdn, IotaError> {
    Mdn::parse(&p.mdn).map_err(|e| IotaError::Invalid(format!("the profile's MDN: {e}")))
}

/// Star-code activation, steps 1-6: the IVR's message names the handset
/// (the TRN attach gave it the ESN); the OSPP driver checks it, sends the
/// optional welcome text and a WAP Push SI with the call-back URL.
pub fn start_star_code(
    conn: &mut DbConnection,
    actor: &Actor,
    handset: &str,
    welcome: Option<&str>,
    ctx: &PushContext,
) -> Result<IotaSession, IotaError> {
    crate::db::write(conn, |conn| {
        let d = find_device(conn, handset)?;
        if let Some(why) = activation_refusal(&d) {
            record_refusal(conn, Flow::StarCode, Some(&d), None, why)?;
            return Err(IotaError::Conflict(format!("{}: {why}", d.label())));
        }
        let p = profile_of(conn, &d)?.ok_or_else(|| {
            IotaError::Conflict(format!("{}: no customer profile is associated", d.label()))
        })?;
        if let Some(why) = line_refusal(Flow::StarCode, &d, &p) {
            record_refusal(conn, Flow::StarCode, Some(&d), None, why)?;
            return Err(IotaError::Conflict(format!("{}: {why}", d.label())));
        }
        // The pushed SI only makes sense to a handset that will answer it
        // over IOTA; an OMA-DM one would show a link that goes nowhere.
        let support = iota_support(conn, &d)?;
        if let Some(s) = busy(conn, d.id)? {
            return Err(IotaError::Conflict(format!(
                "an IOTA session ({}) is already under way for {}",
                s.flow_label(),
                d.label()
            )));
        }
        // Fails early when the profile's SSPR table holds no PRL or its NAM
        // data cannot be programmed.
        plan_for(conn, Flow::StarCode, &p, p.sspr_table)?;
        let s = session::insert(
            conn,
            &NewSession {
                flow: Flow::StarCode,
                state: "awaiting_handset",
                stage: Stage::Nam,
                device_id: Some(d.id),
                profile_id: Some(p.id),
                esn: d.esn.clone(),
                meid: d.meid.clone(),
                prl_sspr_table: p.sspr_table,
                detail: format!("requested by {actor}"),
                fota_session_id: None,
            },
        )?;
        let url = format!(
            "{}{CALLBACK_PATH}{}",
            ctx.base_url.trim_end_matches('/'),
            s.token
        );
        let mdn = line_mdn(&p)?;
        if let Some(text) = welcome.filter(|t| !t.trim().is_empty()) {
            outbox::queue(
                conn,
                &NewMessage {
                    kind: Kind::Text,
                    device_id: Some(d.id),
                    mdn: mdn.clone(),
                    payload: text.as_bytes().to_vec(),
                    wdp_port: None,
                    summary: format!("Welcome message: {text}"),
                },
                &actor.to_string(),
                ctx.max_parts,
            )?;
        }
        let pdu = content::service_indication(&url, "Tap to activate your phone")
            .map_err(|e| IotaError::Invalid(e.to_string()))?;
        outbox::queue(
            conn,
            &NewMessage::push(
                Kind::ServiceIndication,
                Some(d.id),
                mdn,
                pdu,
                format!("IOTA activation call-back {url}"),
            ),
            &actor.to_string(),
            ctx.max_parts,
        )?;
        timeline(
            conn,
            Some(p.id),
            "star-code activation requested",
            json!({"by": actor.to_string(), "session": s.token, "callback": url, "welcome": welcome.is_some(), "iota_support": support}),
        )?;
        Ok(s)
    })
}

/// Automated IOTA PRL download, steps 1-15: stores the pending PRL id and
/// the call-back on the profile's session and sends a WAP Push SL.
pub fn start_otapa(
    conn: &mut DbConnection,
    actor: &Actor,
    handset: &str,
    prl_id: i32,
    ctx: &PushContext,
) -> Result<IotaSession, IotaError> {
    crate::db::write(conn, |conn| {
        let d = find_device(conn, handset)?;
        let p = profile_of(conn, &d)?.ok_or_else(|| {
            IotaError::Conflict(format!("{}: no customer profile is associated", d.label()))
        })?;
        if d.activation_state != "activated" {
            return Err(IotaError::Conflict(format!(
                "{} is not activated: OTAPA reprograms active handsets only",
                d.label()
            )));
        }
        let support = iota_support(conn, &d)?;
        let prl = prl_store::by_prl_id(conn, prl_id)?
            .ok_or_else(|| IotaError::NotFound(format!("PRL {prl_id}")))?;
        if let Some(s) = pending_download(conn, d.id, prl.sspr_table)? {
            // The same request again (a repeated trigger message): a second
            // push would only leave the handset two links, one dead.
            return Err(IotaError::Conflict(format!(
                "PRL {} download for {} is already waiting for the handset (call-back session {}); nothing was sent again",
                prl.prl_id,
                d.label(),
                s.token
            )));
        }
        if let Some(s) = busy(conn, d.id)? {
            return Err(IotaError::Conflict(format!(
                "an IOTA session ({}) is already under way for {}",
                s.flow_label(),
                d.label()
            )));
        }
        let s = session::insert(
            conn,
            &NewSession {
                flow: Flow::OtapaPrl,
                state: "awaiting_handset",
                stage: Stage::OtapaStart,
                device_id: Some(d.id),
                profile_id: Some(p.id),
                esn: d.esn.clone(),
                meid: d.meid.clone(),
                prl_sspr_table: Some(prl.sspr_table),
                detail: format!("requested by {actor}"),
                fota_session_id: None,
            },
        )?;
        let url = format!(
            "{}{CALLBACK_PATH}{}",
            ctx.base_url.trim_end_matches('/'),
            s.token
        );
        diesel::update(profiles::table.find(p.id))
            .set((
                profiles::pending_prl_id.eq(Some(prl.prl_id)),
                profiles::updated_at.eq(now_ms()),
            ))
            .execute(conn)?;
        let pdu = content::service_loading(&url).map_err(|e| IotaError::Invalid(e.to_string()))?;
        outbox::queue(
            conn,
            &NewMessage::push(
                Kind::ServiceLoading,
                Some(d.id),
                line_mdn(&p)?,
                pdu,
                format!("IOTA PRL {} call-back {url}", prl.prl_id),
            ),
            &actor.to_string(),
            ctx.max_parts,
        )?;
        timeline(
            conn,
            Some(p.id),
            "OTAPA PRL download requested",
            json!({"by": actor.to_string(), "session": s.token, "pending_prl_id": prl.prl_id, "sspr_table": prl.sspr_table, "callback": url, "iota_support": support}),
        )?;
        Ok(s)
    })
}
