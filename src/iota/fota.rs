//! The IOTA branch of client-initiated FOTA (claim 1: "IOTA or OMA-DM
//! depending on the device's capability"), in MMC format 1.1
//! (docs/iota-mmc.md, "Version 1.1: IOTA FOTA"):
//!
//! 1. the FOTA URL registers a pending FOTA session and an IOTA session for
//!    it, and redirects the handset to `/iota/fota/<token>`;
//! 2. the handset's GET names its make, model and firmware; the answer is
//!    the make-model-version query (Protocol Capability Request);
//! 3. its answer leads to the package: `<package>` with the download
//!    descriptor's location, or a 404 "no update";
//! 4. the handset downloads (install notification on the descriptor's
//!    installNotifyURI), reports the download, and installs;
//! 5. after the restart, a GET to the same URL carries the final status.

use serde_json::json;

use super::driver::{note_model, open, refusal, request_sha, same_handset, settle, timeline};
use super::is683::ReverseMessage;
use super::mmc::{Control, ControlItem, Link, MmcDocument, PackageItem};
use super::ospp::{self, Answer, Flow, Plan, Stage};
use super::session::{self, IotaSession, NewSession};
use super::IotaError;
use crate::db::DbConnection;
use crate::firmware::package;
use crate::fota::session as fota;
use crate::fota::FotaState;
use crate::registry::device::{self, Device};

/// Where the FOTA URL sends an IOTA handset; the session token follows.
pub const FOTA_PATH: &str = "/iota/fota/";

impl From<crate::fota::FotaError> for IotaError {
    fn from(e: crate::fota::FotaError) -> Self {
        IotaError::Conflict(e.to_string())
    }
}

/// The IOTA half of a pending client-initiated FOTA; a repeated request
/// finds the session already registered.
pub fn register(
    conn: &mut DbConnection,
    d: &Device,
    fota_session_id: i64,
) -> Result<IotaSession, IotaError> {
    use crate::db::schema::iota_sessions;
    use diesel::prelude::*;
    crate::db::write(conn, |conn| {
        let open: Option<IotaSession> = iota_sessions::table
            .filter(iota_sessions::fota_session_id.eq(fota_session_id))
            .filter(iota_sessions::state.eq("awaiting_handset"))
            .select(IotaSession::as_select())
            .first(conn)
            .optional()?;
        if let Some(s) = open {
            return Ok(s);
        }
        Ok(session::insert(
            conn,
            &NewSession {
                flow: Flow::Fota,
                state: "awaiting_handset",
                stage: Stage::Identify,
                device_id: Some(d.id),
                profile_id: d.profile_id,
                esn: d.esn.clone(),
                meid: d.meid.clone(),
                prl_sspr_table: None,
                fota_session_id: Some(fota_session_id),
                detail: String::new(),
            },
        )?)
    })
}

/// Ends both the IOTA session and the FOTA session it carries out.
fn fail_fota(
    conn: &mut DbConnection,
    s: &IotaSession,
    sha: &str,
    code: u16,
    why: &str,
) -> Result<MmcDocument, IotaError> {
    if let Some(fid) = s.fota_session_id {
        if let Ok(f) = fota::get(conn, fid) {
            if !f.state().is_terminal() {
                fota::advance(conn, fid, FotaState::Failed, &format!("IOTA: {why}"))?;
            }
        }
    }
    super::driver::fail(conn, s, sha, code, why)
}

/// Make, model and firmware as the handset reported them in its GET.
fn reported(s: &IotaSession, d: &Device) -> (String, String, String) {
    let v: serde_json::Value = serde_json::from_str(&s.detail).unwrap_or_default();
    let get = |k: &str, fallback: &str| {
        v[k].as_str()
            .filter(|x| !x.is_empty())
            .unwrap_or(fallback)
            .to_string()
    };
    (
        get("make", &d.make),
        get("model", &d.model),
        get("firmware", &d.firmware_version),
    )
}

fn fota_id(s: &IotaSession) -> Result<i64, IotaError> {
    s.fota_session_id
        .ok_or_else(|| IotaError::Invalid("the IOTA FOTA session has no FOTA session".into()))
}

/// The handset's GET to its FOTA session: the start (step 6), or after the
/// restart the final status (step 11).
pub fn get_request(
    conn: &mut DbConnection,
    token: &str,
    doc: Option<MmcDocument>,
    raw: &[u8],
) -> Result<MmcDocument, IotaError> {
    let sha = request_sha(raw);
    crate::db::write(conn, |conn| {
        let Some(s) = session::by_token(conn, token)? else {
            return Ok(refusal(None, 404, "unknown FOTA session"));
        };
        if s.flow() != Some(Flow::Fota) {
            return Ok(refusal(None, 404, "unknown FOTA session"));
        }
        let doc = doc.unwrap_or_default();
        if doc.session.is_some() || !doc.messages.is_empty() || doc.package.is_some() {
            return Ok(refusal(
                None,
                400,
                "the first request of a session carries no session id, IS-683 message or package",
            ));
        }
        let d = match s.device_id {
            Some(id) => device::get(conn, id)?,
            None => return Ok(refusal(None, 410, "the handset of this session is gone")),
        };
        if let Some(info) = &doc.device {
            if !same_handset(info, &d) {
                return Ok(refusal(
                    None,
                    403,
                    "this FOTA session belongs to another handset",
                ));
            }
        }
        if let Some(status) = &doc.status {
            return final_report(conn, &s, &d, status.code, &status.text, &sha);
        }
        if s.state != "awaiting_handset" {
            if s.last_request_sha.as_deref() == Some(sha.as_str()) {
                if let Some(prev) = &s.last_response {
                    return Ok(MmcDocument::decode(prev.as_bytes())?);
                }
            }
            return Ok(refusal(None, 410, "this FOTA session has already started"));
        }
        if let Some(info) = &doc.device {
            note_model(conn, &d, info)?;
        }
        let info = doc.device.clone().unwrap_or_default();
        let mut s = s;
        s.detail =
            json!({"make": info.make, "model": info.model, "firmware": info.firmware}).to_string();
        let fid = fota_id(&s)?;
        fota::advance(
            conn,
            fid,
            FotaState::Querying,
            "make-model-version query sent over IOTA (Protocol Capability Request)",
        )?;
        device::touch(conn, d.id, "iota")?;
        open(conn, &s, Stage::Identify, &Plan::default(), Some(&d), &sha)
    })
}

/// After the restart: the installation's outcome ends the FOTA session.
fn final_report(
    conn: &mut DbConnection,
    s: &IotaSession,
    d: &Device,
    code: u16,
    text: &str,
    sha: &str,
) -> Result<MmcDocument, IotaError> {
    if s.state == "completed" && s.last_request_sha.as_deref() == Some(sha) {
        if let Some(prev) = &s.last_response {
            return Ok(MmcDocument::decode(prev.as_bytes())?);
        }
    }
    if s.stage() != Some(Stage::Installing) || s.state != "running" {
        return Ok(refusal(
            None,
            409,
            "no installation of this session awaits a final report",
        ));
    }
    let fid = fota_id(s)?;
    let done = fota::finish(
        conn,
        fid,
        code,
        &format!("final report over IOTA: {code} {text}"),
    )?;
    let reason = match done.state() {
        FotaState::Succeeded => format!(
            "{} installed",
            done.to_version.as_deref().unwrap_or("update")
        ),
        other => format!("update ended: {}", other.as_str()),
    };
    let reply = MmcDocument {
        controls: vec![ControlItem {
            action: Control::Terminate,
            reason: Some(reason.clone()),
        }],
        ..Default::default()
    };
    settle(
        conn,
        s,
        "completed",
        Stage::Done,
        sha,
        &reply,
        &reason,
        Some(d),
    )?;
    timeline(
        conn,
        d.profile_id,
        "IOTA FOTA finished",
        json!({"fota_session": fid, "result": code, "outcome": done.state().as_str()}),
    )?;
    Ok(reply)
}

/// A POST within an IOTA FOTA session.
pub fn step(
    conn: &mut DbConnection,
    s: &IotaSession,
    doc: &MmcDocument,
    sha: &str,
    base_url: &str,
) -> Result<MmcDocument, IotaError> {
    let fid = fota_id(s)?;
    let d = match s.device_id {
        Some(id) => device::get(conn, id)?,
        None => return fail_fota(conn, s, sha, 410, "the handset of this session is gone"),
    };
    if doc.has_control(Control::Terminate) {
        fota::advance(
            conn,
            fid,
            FotaState::Cancelled,
            "the handset ended the session",
        )?;
        return super::driver::fail(conn, s, sha, 410, "the handset ended the session");
    }
    if doc.messages.iter().any(|m| m.link != Link::Reverse) || doc.package.is_some() {
        return fail_fota(
            conn,
            s,
            sha,
            400,
            "a handset sends only reverse-link messages and reports",
        );
    }
    match s.stage() {
        Some(Stage::Identify) => query_answered(conn, s, &d, doc, sha, base_url, fid),
        Some(Stage::Offered) => download_reported(conn, s, &d, doc, sha, fid),
        _ => fail_fota(
            conn,
            s,
            sha,
            409,
            "out of order: the handset installs and reports with a GET after its restart",
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn query_answered(
    conn: &mut DbConnection,
    s: &IotaSession,
    d: &Device,
    doc: &MmcDocument,
    sha: &str,
    base_url: &str,
    fid: i64,
) -> Result<MmcDocument, IotaError> {
    let sent = s.sent();
    let [query] = sent.as_slice() else {
        return fail_fota(conn, s, sha, 409, "out of order: no query is in flight");
    };
    let [answer] = doc.messages.as_slice() else {
        return fail_fota(
            conn,
            s,
            sha,
            409,
            "out of order: the server waits for the Protocol Capability Response alone",
        );
    };
    if answer.seq != query.seq() {
        return fail_fota(
            conn,
            s,
            sha,
            409,
            &format!("out of order: the server waits for seq {}", query.seq()),
        );
    }
    let reverse = match ReverseMessage::decode(&answer.bytes) {
        Ok(r) => r,
        Err(e) => {
            return fail_fota(
                conn,
                s,
                sha,
                400,
                &format!("IS-683 message seq {}: {e}", answer.seq),
            )
        }
    };
    let capability = match ospp::judge(query, &reverse) {
        Answer::Accepted { capability, .. } => capability,
        Answer::Rejected(why) => {
            return fail_fota(conn, s, sha, 422, &format!("the handset rejected {why}"))
        }
        Answer::Mismatch(why) => return fail_fota(conn, s, sha, 409, &why),
    };
    let (make, model, fw) = reported(s, d);
    let Some(p) = package::find_update(conn, &make, &model, &fw)? else {
        let why = format!("no update for {make} {model} {fw}");
        fota::advance(
            conn,
            fid,
            FotaState::NoUpdate,
            &format!("no released package for {make} {model} {fw}"),
        )?;
        let reply = refusal(Some(s.token.clone()), 404, &why);
        settle(
            conn,
            s,
            "completed",
            Stage::Done,
            sha,
            &reply,
            &why,
            Some(d),
        )?;
        return Ok(reply);
    };
    // The session token (hex) is the correlator offer() records below, so
    // it keys the install notification.
    let href = format!(
        "{}/dl/{}/dd?fota={fid}&key={}",
        base_url.trim_end_matches('/'),
        p.id,
        s.token
    );
    let session = fota::get_for_update(conn, fid)?;
    fota::offer(conn, session, p.id, &p.to_version, &s.token)?;
    let reply = MmcDocument {
        session: Some(s.token.clone()),
        package: Some(PackageItem {
            href,
            version: p.to_version.clone(),
            size: u64::try_from(p.size).unwrap_or(0),
            sha256: p.sha256.clone(),
            mandatory: p.mandatory,
        }),
        ..Default::default()
    };
    let moved = settle(
        conn,
        s,
        "running",
        Stage::Offered,
        sha,
        &reply,
        &s.detail,
        Some(d),
    )?;
    if !moved {
        return Err(IotaError::Conflict("the session moved on meanwhile".into()));
    }
    timeline(
        conn,
        d.profile_id,
        "IOTA FOTA package offered",
        json!({"fota_session": fid, "package": p.id, "to_version": p.to_version, "reported": {"make": make, "model": model, "firmware": fw}, "capability": capability.map(|(rev, m)| json!({"mob_firm_rev": rev, "mob_model": m}))}),
    )?;
    Ok(reply)
}

fn download_reported(
    conn: &mut DbConnection,
    s: &IotaSession,
    d: &Device,
    doc: &MmcDocument,
    sha: &str,
    fid: i64,
) -> Result<MmcDocument, IotaError> {
    let Some(status) = &doc.status else {
        return fail_fota(
            conn,
            s,
            sha,
            409,
            "out of order: the server waits for the download report",
        );
    };
    let f = fota::get_for_update(conn, fid)?;
    let (state, stage, reason) = if (200..300).contains(&status.code) {
        if f.state() == FotaState::Offered {
            fota::advance(
                conn,
                fid,
                FotaState::Downloaded,
                "download reported over IOTA",
            )?;
        }
        (
            "running",
            Stage::Installing,
            format!(
                "install {}",
                f.to_version.as_deref().unwrap_or("the update")
            ),
        )
    } else {
        let done = fota::finish(
            conn,
            fid,
            status.code,
            &format!("download report over IOTA: {} {}", status.code, status.text),
        )?;
        (
            "failed",
            Stage::Done,
            format!("update ended: {}", done.state().as_str()),
        )
    };
    let reply = MmcDocument {
        session: Some(s.token.clone()),
        controls: vec![ControlItem {
            action: Control::Terminate,
            reason: Some(reason.clone()),
        }],
        ..Default::default()
    };
    settle(conn, s, state, stage, sha, &reply, &reason, Some(d))?;
    timeline(
        conn,
        d.profile_id,
        "IOTA FOTA download reported",
        json!({"fota_session": fid, "code": status.code, "text": status.text}),
    )?;
    Ok(reply)
}
