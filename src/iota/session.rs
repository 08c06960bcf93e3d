//! IOTA sessions as stored: every exchange moves one row, so any node can
//! carry on a session and a restart loses nothing.

use diesel::prelude::*;
use rand::Rng;
use serde::Serialize;

use super::ospp::{Flow, Sent, Stage};
use crate::db::schema::iota_sessions;
use crate::db::{now_ms, DbConnection};

/// How long a pushed call-back URL waits for its handset.
pub const CALLBACK_TTL_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = iota_sessions)]
pub struct IotaSession {
    pub id: i64,
    pub token: String,
    pub flow: String,
    pub state: String,
    pub step: String,
    pub device_id: Option<i64>,
    pub profile_id: Option<i64>,
    pub esn: Option<String>,
    pub meid: Option<String>,
    pub prl_sspr_table: Option<i32>,
    /// The FOTA session an IOTA FOTA session carries out.
    pub fota_session_id: Option<i64>,
    pub segment_offset: i32,
    pub next_seq: i32,
    pub outstanding: String,
    #[serde(skip)]
    pub last_request_sha: Option<String>,
    #[serde(skip)]
    pub last_response: Option<String>,
    pub detail: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

impl IotaSession {
    pub fn flow(&self) -> Option<Flow> {
        Flow::parse(&self.flow)
    }

    pub fn stage(&self) -> Option<Stage> {
        Stage::parse(&self.step)
    }

    pub fn sent(&self) -> Vec<Sent> {
        serde_json::from_str(&self.outstanding).unwrap_or_default()
    }

    pub fn is_over(&self) -> bool {
        !matches!(self.state.as_str(), "awaiting_handset" | "running")
    }

    pub fn flow_label(&self) -> &'static str {
        self.flow().map(Flow::label).unwrap_or("IOTA session")
    }

    /// The handset as the session knows it: the MEID it gave (or was
    /// pushed to), else its ESN.
    pub fn handset(&self) -> Option<String> {
        self.meid
            .as_deref()
            .map(|m| format!("MEID {m}"))
            .or_else(|| self.esn.as_deref().map(|e| format!("ESN {e}")))
    }

    /// Ended because a newer session or request replaced it (see
    /// [`SUPERSEDED`]), not because it was used or let lapse.
    pub fn superseded(&self) -> bool {
        self.state == "abandoned" && self.detail.starts_with(SUPERSEDED)
    }
}

impl IotaSession {
    /// Why the call-back pushed for this session would be a dead link if
    /// it were sent (again) now, if it would: only a session still waiting
    /// for its handset, within the call-back's lifetime, can take it.
    pub fn dead_callback(&self, now: i64) -> Option<String> {
        let detail = if self.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", self.detail)
        };
        match self.state.as_str() {
            "awaiting_handset" if now - self.created_at > CALLBACK_TTL_MS => {
                Some("its call-back has expired (a handset has a day to follow it)".into())
            }
            "awaiting_handset" => None,
            "running" => Some("the handset already followed it; the session is running".into()),
            "completed" => Some(format!("it has finished{detail}")),
            "abandoned" if self.superseded() => Some(format!("it was {}", self.detail)),
            "abandoned" => Some(format!("it has expired{detail}")),
            "failed" => Some(format!("it failed{detail}")),
            "refused" => Some(format!("it was refused{detail}")),
            other => Some(format!("it is {other}{detail}")),
        }
    }

    /// Whether a dead session's flow should be started afresh, rather than
    /// left alone (it finished, goes on, or a newer request replaced it).
    pub fn wants_fresh_start(&self) -> bool {
        matches!(self.flow(), Some(Flow::StarCode | Flow::OtapaPrl))
            && !matches!(
                self.state.as_str(),
                "completed" | "running" | "awaiting_handset"
            )
            && !self.superseded()
    }

    /// What care does instead of sending a dead session's call-back again.
    pub fn fresh_start(&self) -> &'static str {
        match (self.flow(), self.state.as_str()) {
            (_, "completed") => "Nothing needs sending again.",
            (_, "running") => "Nothing needs sending again: the session goes on with the handset.",
            (_, "abandoned") if self.superseded() => {
                "The newer request has its own push; start a fresh one only if that one fails too."
            }
            (Some(Flow::StarCode), _) => {
                "Start a fresh star-code activation instead (the subscriber's care page, or POST /api/v1/iota/activations): it gets a new call-back URL."
            }
            (Some(Flow::OtapaPrl), _) => {
                "Start a fresh PRL download instead (the subscriber's care page, `mdm otapa prl`, or POST /api/v1/iota/prl-downloads): it gets a new call-back URL."
            }
            _ => "Start a fresh session instead: it gets a new call-back URL.",
        }
    }
}

/// The session whose call-back URL a pushed SI or SL carries, if it is one
/// of ours.
pub fn of_push(conn: &mut DbConnection, pdu: &[u8]) -> QueryResult<Option<IotaSession>> {
    let Some(link) = crate::messaging::content::pushed_link(pdu) else {
        return Ok(None);
    };
    let Some((_, token)) = link.rsplit_once(super::driver::CALLBACK_PATH) else {
        return Ok(None);
    };
    by_token(conn, token)
}

/// How the detail of a session a newer one replaced begins.
pub const SUPERSEDED: &str = "superseded by";

/// A fresh session id: 16 random octets, URL-safe.
pub fn new_token() -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    hex::encode(bytes)
}

pub struct NewSession<'a> {
    pub flow: Flow,
    pub state: &'a str,
    pub stage: Stage,
    pub device_id: Option<i64>,
    pub profile_id: Option<i64>,
    pub esn: Option<String>,
    pub meid: Option<String>,
    pub prl_sspr_table: Option<i32>,
    pub fota_session_id: Option<i64>,
    pub detail: String,
}

pub fn insert(conn: &mut DbConnection, s: &NewSession<'_>) -> QueryResult<IotaSession> {
    let now = now_ms();
    let token = new_token();
    diesel::insert_into(iota_sessions::table)
        .values((
            iota_sessions::token.eq(&token),
            iota_sessions::flow.eq(s.flow.as_str()),
            iota_sessions::state.eq(s.state),
            iota_sessions::step.eq(s.stage.as_str()),
            iota_sessions::device_id.eq(s.device_id),
            iota_sessions::profile_id.eq(s.profile_id),
            iota_sessions::esn.eq(&s.esn),
            iota_sessions::meid.eq(&s.meid),
            iota_sessions::prl_sspr_table.eq(s.prl_sspr_table),
            iota_sessions::fota_session_id.eq(s.fota_session_id),
            iota_sessions::detail.eq(&s.detail),
            iota_sessions::created_at.eq(now),
            iota_sessions::updated_at.eq(now),
            iota_sessions::finished_at
                .eq((s.state != "running" && s.state != "awaiting_handset").then_some(now)),
        ))
        .execute(conn)?;
    by_token(conn, &token)?.ok_or(diesel::result::Error::NotFound)
}

pub fn by_token(conn: &mut DbConnection, token: &str) -> QueryResult<Option<IotaSession>> {
    iota_sessions::table
        .filter(iota_sessions::token.eq(token))
        .select(IotaSession::as_select())
        .first(conn)
        .optional()
}

pub fn get(conn: &mut DbConnection, id: i64) -> QueryResult<Option<IotaSession>> {
    iota_sessions::table
        .find(id)
        .select(IotaSession::as_select())
        .first(conn)
        .optional()
}

/// Records the SSPR table a session downloads from once its handset is
/// known (one-button activation identified late); `updated_at` is left as
/// read, so the exchange that pins it still moves the session on.
pub fn pin_prl_table(conn: &mut DbConnection, id: i64, table: Option<i32>) -> QueryResult<()> {
    diesel::update(iota_sessions::table.find(id))
        .set(iota_sessions::prl_sspr_table.eq(table))
        .execute(conn)
        .map(drop)
}

/// Records who a handset that identified itself late (in the POST that
/// answers the Protocol Capability Request) says it is, as it said it,
/// before anything is matched: care sees the handset whether or not it was
/// let in. A MEID is recorded without the ESN sent beside it, since that is
/// only its pseudo-ESN, which the MEID rules never identify a handset by.
/// `updated_at` is left as read, as [`pin_prl_table`] leaves it.
pub fn record_claimed(
    conn: &mut DbConnection,
    id: i64,
    info: &super::mmc::DeviceInfo,
) -> QueryResult<()> {
    use crate::registry::identifiers::{Esn, Meid};
    let meid = info.meid.as_deref().map(|m| {
        Meid::parse(m)
            .map(|m| m.to_hex())
            .unwrap_or_else(|_| m.to_ascii_uppercase())
    });
    let esn = match meid {
        Some(_) => None,
        None => info.esn.as_deref().map(|e| {
            Esn::parse(e)
                .map(|e| e.to_hex())
                .unwrap_or_else(|_| e.to_ascii_uppercase())
        }),
    };
    diesel::update(iota_sessions::table.find(id))
        .set((iota_sessions::esn.eq(esn), iota_sessions::meid.eq(meid)))
        .execute(conn)
        .map(drop)
}

/// What one exchange changes.
pub struct Advance<'a> {
    pub state: &'a str,
    pub stage: Stage,
    pub segment_offset: u16,
    pub next_seq: u32,
    pub sent: &'a [Sent],
    pub request_sha: &'a str,
    pub response: &'a str,
    pub detail: &'a str,
    pub device_id: Option<i64>,
    pub profile_id: Option<i64>,
}

/// Moves a session on, provided nobody else moved it since it was read
/// (`seen_updated_at`); returns false when someone did.
pub fn advance(
    conn: &mut DbConnection,
    id: i64,
    seen_updated_at: i64,
    a: &Advance<'_>,
) -> QueryResult<bool> {
    let now = now_ms().max(seen_updated_at + 1);
    let over = !matches!(a.state, "running" | "awaiting_handset");
    let sent = serde_json::to_string(a.sent).unwrap_or_else(|_| "[]".into());
    let n = diesel::update(
        iota_sessions::table
            .find(id)
            .filter(iota_sessions::updated_at.eq(seen_updated_at)),
    )
    .set((
        iota_sessions::state.eq(a.state),
        iota_sessions::step.eq(a.stage.as_str()),
        iota_sessions::segment_offset.eq(i32::from(a.segment_offset)),
        iota_sessions::next_seq.eq(a.next_seq as i32),
        iota_sessions::outstanding.eq(sent),
        iota_sessions::last_request_sha.eq(a.request_sha),
        iota_sessions::last_response.eq(a.response),
        iota_sessions::detail.eq(a.detail),
        iota_sessions::device_id.eq(a.device_id),
        iota_sessions::profile_id.eq(a.profile_id),
        iota_sessions::updated_at.eq(now),
        iota_sessions::finished_at.eq(over.then_some(now)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

#[derive(Debug, Clone, Default)]
pub struct SessionQuery {
    pub device_id: Option<i64>,
    pub profile_id: Option<i64>,
    pub flow: Option<String>,
    pub state: Option<String>,
    /// Keyset paging, newest first: only sessions older than this one.
    pub before: Option<i64>,
    pub limit: i64,
}

pub fn search(conn: &mut DbConnection, q: &SessionQuery) -> QueryResult<Vec<IotaSession>> {
    let mut query = iota_sessions::table.into_boxed();
    if let Some(d) = q.device_id {
        query = query.filter(iota_sessions::device_id.eq(d));
    }
    if let Some(p) = q.profile_id {
        query = query.filter(iota_sessions::profile_id.eq(p));
    }
    if let Some(f) = q.flow.as_deref().filter(|f| !f.is_empty()) {
        query = query.filter(iota_sessions::flow.eq(f.to_string()));
    }
    if let Some(s) = q.state.as_deref().filter(|s| !s.is_empty()) {
        query = query.filter(iota_sessions::state.eq(s.to_string()));
    }
    if let Some(b) = q.before {
        query = query.filter(iota_sessions::id.lt(b));
    }
    query
        .order(iota_sessions::id.desc())
        .limit(if q.limit > 0 { q.limit } else { 100 })
        .select(IotaSession::as_select())
        .load(conn)
}

/// A running session whose handset has not spoken for this long is over:
/// the data call dropped. Nothing was committed, so nothing is undone.
pub const IDLE_TTL_MS: i64 = 30 * 60 * 1000;

/// Closes running sessions the handset left mid-flow.
pub fn expire_idle(conn: &mut DbConnection, now: i64) -> QueryResult<usize> {
    let idle = iota_sessions::table
        .filter(iota_sessions::state.eq("running"))
        .filter(iota_sessions::updated_at.lt(now - IDLE_TTL_MS))
        .select(IotaSession::as_select())
        .load(conn)?;
    abandon_all(
        conn,
        &idle,
        "the handset stopped answering (data call lost)",
        now,
    )
}

/// Closes call-backs nobody answered, so their profiles can be pushed again.
pub fn expire_unanswered(conn: &mut DbConnection, now: i64) -> QueryResult<usize> {
    let stale = iota_sessions::table
        .filter(iota_sessions::state.eq("awaiting_handset"))
        .filter(iota_sessions::created_at.lt(now - CALLBACK_TTL_MS))
        .select(IotaSession::as_select())
        .load(conn)?;
    abandon_all(conn, &stale, "the handset never called back", now)
}

fn abandon_all(
    conn: &mut DbConnection,
    sessions: &[IotaSession],
    why: &str,
    now: i64,
) -> QueryResult<usize> {
    let mut n = 0;
    for s in sessions {
        if abandon(conn, s, why, now)? {
            n += 1;
        }
    }
    Ok(n)
}

/// Ends a session still open (awaiting its handset or running) as
/// abandoned; false when another request moved it since it was read.
pub fn abandon(conn: &mut DbConnection, s: &IotaSession, why: &str, now: i64) -> QueryResult<bool> {
    // A later time than the one read, so a request that read the session
    // before cannot move it on (its `advance` compares `updated_at`).
    let now = now.max(s.updated_at + 1);
    let n = diesel::update(
        iota_sessions::table
            .find(s.id)
            .filter(iota_sessions::updated_at.eq(s.updated_at))
            .filter(iota_sessions::state.eq_any(["awaiting_handset", "running"])),
    )
    .set((
        iota_sessions::state.eq("abandoned"),
        iota_sessions::detail.eq(why),
        iota_sessions::finished_at.eq(now),
        iota_sessions::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n == 1 {
        release_pending_prl(conn, s, why)?;
    }
    Ok(n == 1)
}

/// An OTAPA session that ends without its commit (refused, failed,
/// abandoned, superseded) takes the line's pending PRL id with it, as long
/// as that is still this session's PRL: an operator's own value, or a
/// newer request's, stays.
pub fn release_pending_prl(conn: &mut DbConnection, s: &IotaSession, why: &str) -> QueryResult<()> {
    use crate::db::schema::{prls, profiles};
    if s.flow() != Some(Flow::OtapaPrl) {
        return Ok(());
    }
    let (Some(pid), Some(table)) = (s.profile_id, s.prl_sspr_table) else {
        return Ok(());
    };
    let Some(prl_id) = prls::table
        .filter(prls::sspr_table.eq(table))
        .select(prls::prl_id)
        .first::<i32>(conn)
        .optional()?
    else {
        return Ok(());
    };
    let still_open: i64 = iota_sessions::table
        .filter(iota_sessions::profile_id.eq(pid))
        .filter(iota_sessions::id.ne(s.id))
        .filter(iota_sessions::flow.eq(Flow::OtapaPrl.as_str()))
        .filter(iota_sessions::prl_sspr_table.eq(table))
        .filter(iota_sessions::state.eq_any(["awaiting_handset", "running"]))
        .count()
        .get_result(conn)?;
    if still_open > 0 {
        return Ok(());
    }
    let cleared = diesel::update(
        profiles::table
            .find(pid)
            .filter(profiles::pending_prl_id.eq(prl_id)),
    )
    .set((
        profiles::pending_prl_id.eq(None::<i32>),
        profiles::updated_at.eq(now_ms()),
    ))
    .execute(conn)?;
    if cleared > 0 {
        crate::registry::audit::record(
            conn,
            &crate::registry::Actor::System("iota"),
            crate::registry::audit::EntityKind::Profile,
            pid,
            "pending PRL cleared",
            &serde_json::json!({"pending_prl_id": {"from": prl_id, "to": null}, "session": s.token, "reason": why}),
        )?;
    }
    Ok(())
}
