//! The durable outbox: every short message the platform sends is a row
//! first. A sender claims due rows under a lease, submits them and records
//! the outcome; receipts move them on. A row is claimed by one node at a
//! time (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock on SQLite),
//! and a row the SMSC acknowledged is never claimed again.

use diesel::prelude::*;
use serde::Serialize;

use super::codec::wdp::{self, DataCoding, Ports, SegmentOptions};
use super::codec::{text, CodecError};
use crate::db::schema::outbox;
use crate::db::{now_ms, DbConnection};
use crate::registry::identifiers::Mdn;
use crate::secrets::{self, SecretsError, Vault};

/// What a message is, for the log and for decoding its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// OMA-DM package #0 in a WAP push.
    DmNotification,
    /// OMA CP settings (BREW URL, data/WAP connectivity).
    CpSettings,
    /// OMA CP bootstrap of the device's OMA-DM account.
    CpBootstrap,
    /// WAP Push Service Indication.
    ServiceIndication,
    /// WAP Push Service Loading.
    ServiceLoading,
    /// A plain text message.
    Text,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::DmNotification,
        Kind::CpSettings,
        Kind::CpBootstrap,
        Kind::ServiceIndication,
        Kind::ServiceLoading,
        Kind::Text,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DmNotification => "dm_notification",
            Kind::CpSettings => "cp_settings",
            Kind::CpBootstrap => "cp_bootstrap",
            Kind::ServiceIndication => "wap_si",
            Kind::ServiceLoading => "wap_sl",
            Kind::Text => "text",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether its payload carries secrets (the bootstrap's DM passwords):
    /// such a payload is stored sealed, and the log shows a copy without them.
    pub fn carries_secrets(self) -> bool {
        matches!(self, Kind::CpBootstrap)
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::DmNotification => "OMA-DM notification",
            Kind::CpSettings => "OMA CP settings",
            Kind::CpBootstrap => "OMA CP bootstrap",
            Kind::ServiceIndication => "WAP Push SI",
            Kind::ServiceLoading => "WAP Push SL",
            Kind::Text => "Text",
        }
    }
}

pub const STATES: [&str; 5] = ["queued", "sending", "submitted", "delivered", "failed"];

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = outbox)]
pub struct OutboxMessage {
    pub id: i64,
    pub kind: String,
    pub device_id: Option<i64>,
    pub mdn: String,
    /// What goes out; sealed (see [`Kind::carries_secrets`]) when it
    /// carries secrets, and emptied once such a message is delivered.
    #[serde(skip)]
    pub payload: Vec<u8>,
    pub data_coding: i32,
    pub wdp_port: Option<i32>,
    pub summary: String,
    pub state: String,
    pub attempts: i32,
    pub smsc_message_id: Option<String>,
    pub last_error: String,
    pub next_attempt_at: i64,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub submitted_at: Option<i64>,
    pub delivered_at: Option<i64>,
    /// For a sealed payload: the same message with its secrets masked,
    /// which is what the log decodes and shows.
    #[serde(skip)]
    pub payload_view: Option<Vec<u8>>,
    /// `attempts` when an operator last sent the failed message again.
    #[serde(skip)]
    pub attempts_before_retry: i32,
}

/// One short message of a row, ready for submit_sm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub short_message: Vec<u8>,
    pub esm_class: u8,
    pub data_coding: u8,
}

/// Why a claimed row cannot go out.
#[derive(Debug, thiserror::Error)]
pub enum PartsError {
    #[error("payload too large: {0}")]
    Codec(#[from] CodecError),
    #[error("the sealed payload does not open: {0}")]
    Sealed(#[from] SecretsError),
}

/// The associated data a row's sealed payload is sealed under: a sealed
/// payload copied into another row does not open.
fn sealed_as(id: i64) -> String {
    format!("outbox.payload:{id}")
}

/// Seals a payload for row `id`: the vault seals text, so the octets go in
/// as base64.
fn seal_payload(vault: &Vault, id: i64, payload: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
    vault.seal(&sealed_as(id), &encoded).into_bytes()
}

/// Whether a stored payload is sealed (a row from before sealing is not).
fn is_sealed(payload: &[u8]) -> bool {
    std::str::from_utf8(payload).is_ok_and(secrets::is_sealed)
}

impl OutboxMessage {
    pub fn kind(&self) -> Option<Kind> {
        Kind::parse(&self.kind)
    }

    /// Attempts since the message was queued, or sent again by an
    /// operator: what the limit of attempts and the back-off count.
    pub fn attempts_this_round(&self) -> i32 {
        self.attempts - self.attempts_before_retry
    }

    /// Whether the payload is stored sealed.
    pub fn is_sealed(&self) -> bool {
        is_sealed(&self.payload)
    }

    /// The payload as it goes out: opened when sealed (only the sender
    /// needs it so), as stored otherwise.
    pub fn clear_payload(&self, vault: Option<&Vault>) -> Result<Vec<u8>, SecretsError> {
        if !self.is_sealed() {
            return Ok(self.payload.clone());
        }
        use base64::Engine;
        let what = sealed_as(self.id);
        let vault = vault.ok_or_else(|| SecretsError::Unreadable(what.clone()))?;
        let stored = String::from_utf8_lossy(&self.payload);
        let encoded = vault.open(&what, &stored)?;
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| SecretsError::Unreadable(what))
    }

    /// What the log decodes: the masked copy of a sealed payload, else the
    /// payload itself.
    pub fn shown_payload(&self) -> &[u8] {
        self.payload_view.as_deref().unwrap_or(&self.payload)
    }

    /// The short messages this row goes out as. The concatenation reference
    /// comes from the row id, so a retried row repeats the same reference
    /// and the handset's reassembly drops parts it already has.
    pub fn parts(&self, max_parts: u8, vault: Option<&Vault>) -> Result<Vec<Part>, PartsError> {
        let payload = self.clear_payload(vault)?;
        Ok(parts_of(&payload, self.wdp_port, self.id, max_parts)?)
    }
}

/// The data_coding a row's parts go out with: WAP push datagrams are 8-bit
/// data; text is GSM 7-bit or UCS-2 by its characters.
fn data_coding_of(payload: &[u8], wdp_port: Option<i32>) -> i32 {
    match wdp_port {
        Some(_) => i32::from(DataCoding::default().dcs()),
        None => i32::from(text::encode(&String::from_utf8_lossy(payload)).data_coding),
    }
}

fn parts_of(
    payload: &[u8],
    wdp_port: Option<i32>,
    id: i64,
    max_parts: u8,
) -> Result<Vec<Part>, CodecError> {
    match wdp_port {
        None => {
            // A text row holds UTF-8; the handset gets it in the alphabet
            // its characters need, concatenated when one short message
            // does not hold it, under the same row reference as a push.
            let parts = text::encode_parts(
                &String::from_utf8_lossy(payload),
                (id & 0xFF) as u8,
                max_parts,
            )?;
            Ok(parts
                .into_iter()
                .map(|p| Part {
                    short_message: p.short_message,
                    esm_class: p.esm_class,
                    data_coding: p.data_coding,
                })
                .collect())
        }
        Some(port) => {
            let destination = u16::try_from(port).map_err(|_| CodecError::Invalid {
                field: "WDP port",
                reason: "out of range",
            })?;
            let options = SegmentOptions {
                ports: Ports {
                    destination,
                    source: wdp::WSP_CONNECTIONLESS_PORT,
                },
                data_coding: DataCoding::default(),
                max_segments: max_parts,
            };
            let reference = (id & 0xFF) as u8;
            Ok(wdp::segment(payload, reference, &options)?
                .into_iter()
                .map(|s| Part {
                    short_message: s.user_data,
                    esm_class: s.esm_class,
                    data_coding: s.data_coding,
                })
                .collect())
        }
    }
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub kind: Kind,
    pub device_id: Option<i64>,
    pub mdn: Mdn,
    /// A WDP datagram (WSP push PDU) for port-addressed kinds, else text.
    pub payload: Vec<u8>,
    /// Destination WDP port; `None` for plain text.
    pub wdp_port: Option<u16>,
    pub summary: String,
}

impl NewMessage {
    /// A WAP push datagram for port 2948.
    pub fn push(
        kind: Kind,
        device_id: Option<i64>,
        mdn: Mdn,
        pdu: Vec<u8>,
        summary: String,
    ) -> Self {
        NewMessage {
            kind,
            device_id,
            mdn,
            payload: pdu,
            wdp_port: Some(wdp::WAP_PUSH_PORT),
            summary,
        }
    }
}

/// Queues a message. A payload that cannot go out within `max_parts`
/// short messages is still recorded, as failed, so the attempt is visible.
/// A kind that [carries secrets](Kind::carries_secrets) goes through
/// [`queue_sealed`] instead.
pub fn queue(
    conn: &mut DbConnection,
    msg: &NewMessage,
    created_by: &str,
    max_parts: u8,
) -> QueryResult<OutboxMessage> {
    insert(conn, msg, None, created_by, max_parts)
}

/// [`queue`] for a payload that carries secrets: it is stored sealed by
/// `vault` (under the row's id, so a second statement), and `view`, the
/// same message with its secrets masked, is what the log shows.
pub fn queue_sealed(
    conn: &mut DbConnection,
    vault: &Vault,
    msg: &NewMessage,
    view: Vec<u8>,
    created_by: &str,
    max_parts: u8,
) -> QueryResult<OutboxMessage> {
    crate::db::write(conn, |conn| {
        let row = insert(conn, msg, Some(view), created_by, max_parts)?;
        let sealed = seal_payload(vault, row.id, &msg.payload);
        diesel::update(outbox::table.find(row.id))
            .set(outbox::payload.eq(&sealed))
            .execute(conn)?;
        Ok(OutboxMessage {
            payload: sealed,
            ..row
        })
    })
}

fn insert(
    conn: &mut DbConnection,
    msg: &NewMessage,
    view: Option<Vec<u8>>,
    created_by: &str,
    max_parts: u8,
) -> QueryResult<OutboxMessage> {
    let now = now_ms();
    let port = msg.wdp_port.map(i32::from);
    let check = parts_of(&msg.payload, port, 0, max_parts);
    let (state, error) = match &check {
        Ok(_) => ("queued", String::new()),
        Err(e) => {
            tracing::warn!(mdn = %msg.mdn, kind = msg.kind.as_str(), error = %e, "message too large for the SMS limits");
            ("failed", format!("payload too large: {e}"))
        }
    };
    let data_coding = data_coding_of(&msg.payload, port);
    // A sealed row's payload is written once its id is known.
    let payload: &[u8] = if view.is_some() { &[] } else { &msg.payload };
    let row = (
        outbox::kind.eq(msg.kind.as_str()),
        outbox::device_id.eq(msg.device_id),
        outbox::mdn.eq(msg.mdn.as_str()),
        outbox::payload.eq(payload),
        outbox::data_coding.eq(data_coding),
        outbox::wdp_port.eq(port),
        outbox::summary.eq(&msg.summary),
        outbox::state.eq(state),
        outbox::last_error.eq(&error),
        outbox::next_attempt_at.eq(now),
        outbox::created_by.eq(created_by),
        outbox::created_at.eq(now),
        outbox::updated_at.eq(now),
        outbox::payload_view.eq(view),
    );
    // The row comes back from the INSERT: one round trip, not three.
    crate::native!(conn, |c| diesel::insert_into(outbox::table)
        .values(row)
        .returning(OutboxMessage::as_returning())
        .get_result(c))
}

/// A text queued before another message to the same handset introduces
/// it (the star-code welcome before its SI): the later message waits until
/// the text has left (submitted) or will never leave (failed). Rows are
/// sent by concurrent tasks, so claiming both at once would let the SMSC
/// take them in either order.
const AFTER_EARLIER_TEXTS: &str = "NOT EXISTS (SELECT 1 FROM outbox AS earlier \
     WHERE earlier.mdn = outbox.mdn AND earlier.id < outbox.id AND earlier.kind = 'text' \
     AND earlier.state IN ('queued', 'sending'))";

/// Claims up to `limit` due rows for `node` until `now + lease_ms`. Rows
/// whose claimer vanished (lease run out) are due again.
pub fn claim(
    conn: &mut DbConnection,
    node: &str,
    limit: i64,
    lease_ms: i64,
) -> QueryResult<Vec<OutboxMessage>> {
    claim_except(conn, node, limit, lease_ms, &[])
}

/// [`claim`], leaving out the rows `node` still holds (`held`): a row this
/// node claimed and has not settled is its own until its outcome is
/// written, even once that claim ran out, so the node never has it twice.
pub fn claim_except(
    conn: &mut DbConnection,
    node: &str,
    limit: i64,
    lease_ms: i64,
    held: &[i64],
) -> QueryResult<Vec<OutboxMessage>> {
    crate::db::write(conn, |conn| {
        let now = now_ms();
        let due = outbox::state
            .eq("queued")
            .and(outbox::next_attempt_at.le(now))
            .or(outbox::state
                .eq("sending")
                .and(outbox::claimed_until.lt(now)))
            .and(diesel::dsl::sql::<diesel::sql_types::Bool>(
                AFTER_EARLIER_TEXTS,
            ))
            .and(outbox::id.ne_all(held));
        let ids: Vec<i64> = match conn {
            DbConnection::Postgres(pg) => outbox::table
                .filter(due)
                .order(outbox::id)
                .limit(limit)
                .select(outbox::id)
                .for_update()
                .skip_locked()
                .load(pg)?,
            DbConnection::Sqlite(_) => outbox::table
                .filter(due)
                .order(outbox::id)
                .limit(limit)
                .select(outbox::id)
                .load(conn)?,
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
            .set((
                outbox::state.eq("sending"),
                outbox::claimed_by.eq(node),
                outbox::claimed_until.eq(now + lease_ms),
                outbox::attempts.eq(outbox::attempts + 1),
                outbox::updated_at.eq(now),
            ))
            .execute(conn)?;
        outbox::table
            .filter(outbox::id.eq_any(&ids))
            .order(outbox::id)
            .select(OutboxMessage::as_select())
            .load(conn)
    })
}

/// What happened to a claimed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Every part was acknowledged; the id is the last part's.
    Accepted { message_id: String },
    /// Not sent (link lost, throttled): due again after `retry_in_ms`.
    Retry { error: String, retry_in_ms: i64 },
    /// Will never go out.
    Failed { error: String },
    /// Not sent: the claim lapsed before the row's turn on the link came
    /// (the database would not renew it). Queued again as if this attempt
    /// never happened, for whichever node claims it next.
    Withdrawn,
}

/// What became of one claimed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub id: i64,
    /// The row's attempts when it was claimed: every claim adds one, so
    /// this names the claim the outcome belongs to. `None`: whichever
    /// claim the node holds.
    pub attempts: Option<i32>,
    /// Attempts since it was queued or an operator sent it again, which
    /// the limit of attempts counts.
    pub this_round: i32,
    pub outcome: SendOutcome,
}

/// `(id, attempts this round, outcome)`, for the claim the node holds.
impl From<(i64, i32, SendOutcome)> for Outcome {
    fn from((id, this_round, outcome): (i64, i32, SendOutcome)) -> Outcome {
        Outcome {
            id,
            attempts: None,
            this_round,
            outcome,
        }
    }
}

/// Records outcomes for rows `node` holds, in one transaction. A row whose
/// lease another node took over, or that was claimed again since, is left
/// alone.
pub fn record<O: Clone + Into<Outcome>>(
    conn: &mut DbConnection,
    node: &str,
    outcomes: &[O],
    max_attempts: i32,
) -> QueryResult<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let outcomes: Vec<Outcome> = outcomes.iter().cloned().map(Into::into).collect();
    crate::db::write(conn, |conn| {
        let now = now_ms();
        // On PostgreSQL every statement is a round trip: the common case,
        // accepted, goes in one statement for the whole batch.
        let batched = if let DbConnection::Postgres(pg) = conn {
            let mut ids = Vec::new();
            let mut mids = Vec::new();
            let mut claims = Vec::new();
            for o in &outcomes {
                if let SendOutcome::Accepted { message_id } = &o.outcome {
                    ids.push(o.id);
                    mids.push(message_id.clone());
                    claims.push(o.attempts);
                }
            }
            if !ids.is_empty() {
                use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text};
                diesel::sql_query(
                    "UPDATE outbox AS o SET state = 'submitted', smsc_message_id = v.mid, \
                     submitted_at = $1, updated_at = $1, last_error = '', claimed_by = NULL, \
                     claimed_until = NULL FROM unnest($2, $3, $5) AS v(id, mid, attempts) \
                     WHERE o.id = v.id AND o.state = 'sending' AND o.claimed_by = $4 \
                     AND o.attempts = COALESCE(v.attempts, o.attempts)",
                )
                .bind::<BigInt, _>(now)
                .bind::<Array<BigInt>, _>(&ids)
                .bind::<Array<Text>, _>(&mids)
                .bind::<Text, _>(node)
                .bind::<Array<Nullable<Integer>>, _>(&claims)
                .execute(pg)?;
            }
            true
        } else {
            false
        };
        for o in &outcomes {
            let (id, attempts, outcome) = (o.id, o.this_round, &o.outcome);
            if batched && matches!(outcome, SendOutcome::Accepted { .. }) {
                continue;
            }
            // The claim the outcome is of, or any: one statement either way.
            let (first, last) = o.attempts.map_or((i32::MIN, i32::MAX), |a| (a, a));
            let mine = outbox::table
                .filter(outbox::id.eq(id))
                .filter(outbox::state.eq("sending"))
                .filter(outbox::claimed_by.eq(node))
                .filter(outbox::attempts.between(first, last));
            let released = (
                outbox::claimed_by.eq(None::<String>),
                outbox::claimed_until.eq(None::<i64>),
                outbox::updated_at.eq(now),
            );
            match outcome {
                SendOutcome::Accepted { message_id } => {
                    diesel::update(mine)
                        .set((
                            outbox::state.eq("submitted"),
                            outbox::smsc_message_id.eq(message_id),
                            outbox::submitted_at.eq(now),
                            outbox::last_error.eq(""),
                            released,
                        ))
                        .execute(conn)?;
                }
                SendOutcome::Retry { error, .. } if attempts >= max_attempts => {
                    tracing::warn!(outbox = id, attempts, %error, "message failed: no attempts left");
                    diesel::update(mine)
                        .set((
                            outbox::state.eq("failed"),
                            outbox::last_error
                                .eq(format!("gave up after {attempts} attempts: {error}")),
                            released,
                        ))
                        .execute(conn)?;
                }
                SendOutcome::Retry { error, retry_in_ms } => {
                    diesel::update(mine)
                        .set((
                            outbox::state.eq("queued"),
                            outbox::last_error.eq(error),
                            outbox::next_attempt_at.eq(now + retry_in_ms),
                            released,
                        ))
                        .execute(conn)?;
                }
                SendOutcome::Failed { error } => {
                    tracing::warn!(outbox = id, %error, "message failed");
                    diesel::update(mine)
                        .set((
                            outbox::state.eq("failed"),
                            outbox::last_error.eq(error),
                            released,
                        ))
                        .execute(conn)?;
                }
                SendOutcome::Withdrawn => {
                    diesel::update(mine)
                        .set((
                            outbox::state.eq("queued"),
                            outbox::attempts.eq(outbox::attempts - 1),
                            outbox::next_attempt_at.eq(now),
                            released,
                        ))
                        .execute(conn)?;
                }
            }
        }
        Ok(())
    })
}

/// Extends `node`'s claims on `ids` to `until`; returns the rows it still
/// holds (those not settled, nor taken over by another node).
pub fn renew(
    conn: &mut DbConnection,
    node: &str,
    ids: &[i64],
    until: i64,
) -> QueryResult<Vec<i64>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    crate::db::write(conn, |conn| {
        crate::native!(conn, |c| diesel::update(
            outbox::table
                .filter(outbox::id.eq_any(ids))
                .filter(outbox::state.eq("sending"))
                .filter(outbox::claimed_by.eq(node)),
        )
        .set(outbox::claimed_until.eq(until))
        .returning(outbox::id)
        .get_results(c))
    })
}

/// The process a claim's holder names: a node is `PROCESS#TAG`, the
/// process as [`crate::retention::lease::this_process`] writes it.
fn claim_process(holder: &str) -> Option<&str> {
    holder.split_once('#').map(|(process, _)| process)
}

/// Queues again at once the rows claimed by a process of this host that is
/// certainly gone (a node's predecessor before its restart), rather than
/// leaving them until their claims run out. Returns how many.
pub fn release_dead_claims(conn: &mut DbConnection) -> QueryResult<usize> {
    let holders: Vec<Option<String>> = outbox::table
        .filter(outbox::state.eq("sending"))
        .select(outbox::claimed_by)
        .distinct()
        .load(conn)?;
    let dead: Vec<String> = holders
        .into_iter()
        .flatten()
        .filter(|h| claim_process(h).is_some_and(crate::retention::lease::is_gone))
        .collect();
    if dead.is_empty() {
        return Ok(0);
    }
    crate::db::write(conn, |conn| {
        let now = now_ms();
        // The dead holder may have sent a row without recording it: its
        // attempt stays counted.
        diesel::update(
            outbox::table
                .filter(outbox::state.eq("sending"))
                .filter(outbox::claimed_by.eq_any(&dead)),
        )
        .set((
            outbox::state.eq("queued"),
            outbox::claimed_by.eq(None::<String>),
            outbox::claimed_until.eq(None::<i64>),
            outbox::next_attempt_at.eq(now),
            outbox::updated_at.eq(now),
        ))
        .execute(conn)
    })
}

/// A delivery receipt, reduced to what the outbox keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub message_id: String,
    pub delivered: bool,
    pub detail: String,
}

/// Applies receipts; returns those whose message id is not (yet) known,
/// which happens when a receipt overtakes the write of its submit_sm_resp.
pub fn apply_receipts(conn: &mut DbConnection, receipts: &[Receipt]) -> QueryResult<Vec<Receipt>> {
    if receipts.is_empty() {
        return Ok(Vec::new());
    }
    crate::db::write(conn, |conn| {
        let now = now_ms();
        let mut unmatched = Vec::new();
        let batched = if let DbConnection::Postgres(pg) = conn {
            let ids: Vec<&str> = receipts
                .iter()
                .filter(|r| r.delivered)
                .map(|r| r.message_id.as_str())
                .collect();
            if !ids.is_empty() {
                use diesel::sql_types::{Array, BigInt, Text};
                #[derive(QueryableByName)]
                struct Matched {
                    #[diesel(sql_type = Text)]
                    smsc_message_id: String,
                }
                let matched: Vec<Matched> = diesel::sql_query(
                    "UPDATE outbox SET state = 'delivered', delivered_at = $1, updated_at = $1 \
                     WHERE smsc_message_id = ANY($2) AND state = 'submitted' \
                     RETURNING smsc_message_id",
                )
                .bind::<BigInt, _>(now)
                .bind::<Array<Text>, _>(&ids)
                .load(pg)?;
                let matched: std::collections::HashSet<String> =
                    matched.into_iter().map(|m| m.smsc_message_id).collect();
                unmatched.extend(
                    receipts
                        .iter()
                        .filter(|r| r.delivered && !matched.contains(&r.message_id))
                        .cloned(),
                );
            }
            true
        } else {
            false
        };
        for r in receipts {
            if batched && r.delivered {
                continue;
            }
            let target = outbox::table
                .filter(outbox::smsc_message_id.eq(&r.message_id))
                .filter(outbox::state.eq("submitted"));
            let n = if r.delivered {
                diesel::update(target)
                    .set((
                        outbox::state.eq("delivered"),
                        outbox::delivered_at.eq(now),
                        outbox::updated_at.eq(now),
                    ))
                    .execute(conn)?
            } else {
                tracing::warn!(message_id = %r.message_id, detail = %r.detail, "SMSC reports the message undelivered");
                diesel::update(target)
                    .set((
                        outbox::state.eq("failed"),
                        outbox::last_error.eq(format!("delivery receipt: {}", r.detail)),
                        outbox::updated_at.eq(now),
                    ))
                    .execute(conn)?
            };
            if n == 0 {
                unmatched.push(r.clone());
            }
        }
        // A delivered message never goes out again: a sealed payload (the
        // secrets) is not kept any longer than that; its masked copy stays
        // for the log.
        let delivered: Vec<&str> = receipts
            .iter()
            .filter(|r| r.delivered)
            .map(|r| r.message_id.as_str())
            .collect();
        if !delivered.is_empty() {
            diesel::update(
                outbox::table
                    .filter(outbox::smsc_message_id.eq_any(&delivered))
                    .filter(outbox::state.eq("delivered"))
                    .filter(outbox::payload_view.is_not_null()),
            )
            .set(outbox::payload.eq(Vec::<u8>::new()))
            .execute(conn)?;
        }
        Ok(unmatched)
    })
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub mdn: Option<String>,
    pub kind: Option<String>,
    pub state: Option<String>,
    pub device_id: Option<i64>,
}

pub fn list(
    conn: &mut DbConnection,
    filter: &Filter,
    limit: i64,
) -> QueryResult<Vec<OutboxMessage>> {
    Ok(page(conn, filter, None, None, limit)?.rows)
}

/// One page of the message log, newest first.
pub struct LogPage {
    pub rows: Vec<OutboxMessage>,
    /// Older messages follow this page.
    pub has_older: bool,
    /// Newer messages precede this page.
    pub has_newer: bool,
}

/// A page of the log by key, as the device list pages: `before` an id for
/// the older messages that follow a page, `after` one for the newer ones
/// that precede it, so a deep page costs what the first one does.
pub fn page(
    conn: &mut DbConnection,
    filter: &Filter,
    before: Option<i64>,
    after: Option<i64>,
    limit: i64,
) -> QueryResult<LogPage> {
    let limit = limit.max(1);
    let newer = after.is_some() && before.is_none();
    let mut q = matching(filter).select(OutboxMessage::as_select());
    if let Some(b) = before {
        q = q.filter(outbox::id.lt(b));
    }
    if let Some(a) = after {
        q = q.filter(outbox::id.gt(a));
    }
    // The newer page is read upwards from the key, then shown newest first.
    q = if newer {
        q.order(outbox::id.asc())
    } else {
        q.order(outbox::id.desc())
    };
    let mut rows: Vec<OutboxMessage> = q.limit(limit + 1).load(conn)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    if newer {
        rows.reverse();
    }
    let (has_older, has_newer) = if newer {
        (true, more)
    } else {
        (more, before.is_some())
    };
    Ok(LogPage {
        rows,
        has_older,
        has_newer,
    })
}

type Backend = <DbConnection as diesel::Connection>::Backend;

/// The messages a log filter selects: one place for [`page`] and
/// [`count_matching`] to agree on.
fn matching(filter: &Filter) -> outbox::BoxedQuery<'static, Backend> {
    let mut q = outbox::table.into_boxed();
    if let Some(m) = &filter.mdn {
        q = q.filter(outbox::mdn.eq(m.clone()));
    }
    if let Some(k) = &filter.kind {
        q = q.filter(outbox::kind.eq(k.clone()));
    }
    if let Some(s) = &filter.state {
        q = q.filter(outbox::state.eq(s.clone()));
    }
    if let Some(d) = filter.device_id {
        q = q.filter(outbox::device_id.eq(d));
    }
    q
}

/// How many messages a log filter matches (paging ignored), reading at
/// most `cap + 1` ids in one query, so a filter matching most of a large
/// outbox (a kind has no index) costs no more than `cap` rows: returns the
/// ids read, as `registry::profile::count_matching` does.
pub fn count_matching(conn: &mut DbConnection, filter: &Filter, cap: i64) -> QueryResult<i64> {
    let ids: Vec<i64> = matching(filter)
        .select(outbox::id)
        .limit(cap.max(0) + 1)
        .load(conn)?;
    Ok(ids.len() as i64)
}

pub fn get(conn: &mut DbConnection, id: i64) -> QueryResult<Option<OutboxMessage>> {
    outbox::table
        .find(id)
        .select(OutboxMessage::as_select())
        .first(conn)
        .optional()
}

/// Rows per state, in [`STATES`] order.
pub fn counts(conn: &mut DbConnection) -> QueryResult<Vec<(String, i64)>> {
    let rows: Vec<(String, i64)> = outbox::table
        .group_by(outbox::state)
        .select((outbox::state, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(STATES
        .iter()
        .map(|s| {
            let n = rows
                .iter()
                .find(|(st, _)| st == s)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            (s.to_string(), n)
        })
        .collect())
}

/// Puts a failed message back in the queue (an operator's decision). Its
/// count of attempts goes on from where it was (the log keeps saying how
/// often the message was really tried), and the retry gets the full number
/// of attempts of its own.
pub fn requeue(conn: &mut DbConnection, id: i64) -> QueryResult<bool> {
    let now = now_ms();
    let n = diesel::update(
        outbox::table
            .filter(outbox::id.eq(id))
            .filter(outbox::state.eq("failed")),
    )
    .set((
        outbox::state.eq("queued"),
        outbox::attempts_before_retry.eq(outbox::attempts),
        outbox::next_attempt_at.eq(now),
        outbox::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// The rows a start must seal: secret-carrying kinds without a masked copy.
/// Written with the literal kind, as the partial index
/// `outbox_unsealed_secrets` is, so SQLite's and PostgreSQL's planners can
/// both match the two (a bound parameter would keep SQLite from it).
pub const UNSEALED_SECRETS: &str = "outbox.kind = 'cp_bootstrap' AND outbox.payload_view IS NULL";

/// Why a message is not sent again.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("there is no message {0}")]
    NotFound(i64),
    #[error("message {id} is {state}, not failed: only failed messages are sent again")]
    NotFailed { id: i64, state: String },
    /// The message is the push of an IOTA session that can no longer take
    /// its handset: sent again, it would only give the handset a dead link.
    #[error("message {id} was not sent again: it carries the call-back of {flow} session {token}, which is over ({why}), so the handset would only get a link that no longer works. {fresh}", flow = session.flow_label().to_lowercase(), token = session.token)]
    SessionOver {
        id: i64,
        session: Box<crate::iota::session::IotaSession>,
        why: String,
        fresh: &'static str,
    },
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error(transparent)]
    Pool(#[from] crate::db::DbError),
}

/// An operator's "send again" of a failed message: [`requeue`]d, unless it
/// is the call-back push of an IOTA session that is over (finished,
/// failed, expired, superseded), whose link the handset could only get an
/// error from.
pub fn retry(conn: &mut DbConnection, id: i64) -> Result<OutboxMessage, RetryError> {
    crate::db::write(conn, |conn| {
        let row = get(conn, id)?.ok_or(RetryError::NotFound(id))?;
        if row.state != "failed" {
            return Err(RetryError::NotFailed {
                id,
                state: row.state,
            });
        }
        if matches!(
            row.kind(),
            Some(Kind::ServiceIndication | Kind::ServiceLoading)
        ) {
            if let Some(s) = crate::iota::session::of_push(conn, row.shown_payload())? {
                if let Some(why) = s.dead_callback(now_ms()) {
                    return Err(RetryError::SessionOver {
                        id,
                        fresh: s.fresh_start(),
                        why,
                        session: Box::new(s),
                    });
                }
            }
        }
        if !requeue(conn, id)? {
            return Err(RetryError::NotFailed {
                id,
                state: "no longer failed".into(),
            });
        }
        get(conn, id)?.ok_or(RetryError::NotFound(id))
    })
}

/// Seals the payloads that carry secrets but are stored in clear (rows
/// queued by a release before sealing) and, during a key rotation, those
/// sealed by the key being retired; a delivered one is emptied instead,
/// since it never goes out again. Returns how many rows it changed. Run at
/// start, as the DM accounts' secrets are.
pub fn seal_stored_payloads(conn: &mut DbConnection, vault: &Vault) -> QueryResult<usize> {
    let kinds: Vec<&str> = Kind::ALL
        .iter()
        .filter(|k| k.carries_secrets())
        .map(|k| k.as_str())
        .collect();
    let mut changed = 0;
    let mut after = 0i64;
    loop {
        let mut q = outbox::table.filter(outbox::id.gt(after)).into_boxed();
        // Outside a rotation only rows from before sealing (no masked copy
        // yet) can need it: a start reads nothing else, through the
        // partial index of exactly those rows.
        q = if vault.is_rotating() {
            q.filter(outbox::kind.eq_any(&kinds))
        } else {
            q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                UNSEALED_SECRETS,
            ))
        };
        let batch: Vec<OutboxMessage> = q
            .order(outbox::id)
            .limit(200)
            .select(OutboxMessage::as_select())
            .load(conn)?;
        let Some(last) = batch.last() else {
            return Ok(changed);
        };
        after = last.id;
        changed += crate::db::write(conn, |conn| -> QueryResult<usize> {
            let mut n = 0;
            for row in &batch {
                let stored = String::from_utf8_lossy(&row.payload).into_owned();
                let sealed = row.is_sealed();
                if row.payload.is_empty()
                    || (sealed && !vault.needs_sealing(&sealed_as(row.id), &stored))
                {
                    continue;
                }
                let clear = match row.clear_payload(Some(vault)) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(outbox = row.id, error = %e, "a sealed message payload does not open; left as it is");
                        continue;
                    }
                };
                let view = match &row.payload_view {
                    Some(v) => v.clone(),
                    None => super::content::masked_push(&clear).unwrap_or_default(),
                };
                let payload = if row.state == "delivered" {
                    Vec::new()
                } else {
                    seal_payload(vault, row.id, &clear)
                };
                // Only a row still as read is changed: the sender may be
                // moving it meanwhile on another node.
                n += diesel::update(
                    outbox::table
                        .filter(outbox::id.eq(row.id))
                        .filter(outbox::payload.eq(&row.payload)),
                )
                .set((
                    outbox::payload.eq(payload),
                    outbox::payload_view.eq(Some(view)),
                ))
                .execute(conn)?;
            }
            Ok(n)
        })?;
    }
}

/// A stored message for unit tests of the code that reads the outbox.
#[cfg(test)]
pub(crate) fn test_row(id: i64, kind: &str, payload: Vec<u8>) -> OutboxMessage {
    OutboxMessage {
        id,
        kind: kind.into(),
        device_id: None,
        mdn: "2125550100".into(),
        payload,
        data_coding: 4,
        wdp_port: Some(2948),
        summary: String::new(),
        state: "queued".into(),
        attempts: 0,
        smsc_message_id: None,
        last_error: String::new(),
        next_attempt_at: 0,
        claimed_by: None,
        claimed_until: None,
        created_by: "t".into(),
        created_at: 0,
        updated_at: 0,
        submitted_at: None,
        delivered_at: None,
        payload_view: None,
        attempts_before_retry: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_push_is_one_part_with_the_port_header() {
        let parts = parts_of(&[0x01, 0x06, 0x00], Some(2948), 5, 10).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(
            parts[0].short_message,
            vec![0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x01, 0x06, 0x00]
        );
        assert_eq!(parts[0].esm_class, 0x40);
        assert_eq!(parts[0].data_coding, 0x04);
    }

    #[test]
    fn long_push_is_concatenated_with_the_row_reference() {
        let parts = parts_of(&[0xAA; 300], Some(2948), 0x1_07, 10).unwrap();
        assert_eq!(parts.len(), 3);
        for (i, p) in parts.iter().enumerate() {
            // UDHL, port IE, then concat IE 00 03 ref total seq.
            assert_eq!(&p.short_message[7..12], &[0x00, 0x03, 0x07, 3, i as u8 + 1]);
        }
    }

    #[test]
    fn too_many_parts_is_refused() {
        assert!(matches!(
            parts_of(&[0; 2000], Some(2948), 1, 10),
            Err(CodecError::TooManySegments { limit: 10, .. })
        ));
        assert!(parts_of(&[b'a'; 161 * 8], None, 1, 8).is_err());
        let text = parts_of(b"Welcome", None, 1, 10).unwrap();
        assert_eq!(text[0].short_message, b"Welcome");
        assert_eq!(text[0].esm_class, 0);
    }

    #[test]
    fn text_goes_in_the_gsm_alphabet_or_as_ucs2_within_one_message() {
        // "à" is in the GSM 7-bit alphabet (0x7F): data_coding 0, one octet.
        let gsm = parts_of("Bienvenue à bord".as_bytes(), None, 1, 8).unwrap();
        assert_eq!(gsm[0].data_coding, 0);
        assert_eq!(gsm[0].short_message.len(), 16);
        assert_eq!(gsm[0].short_message[10], 0x7F);
        // "Ł" is not: UCS-2, data_coding 8, two octets a character.
        let ucs2 = parts_of("Witaj w sieci Łódź".as_bytes(), None, 1, 8).unwrap();
        assert_eq!(ucs2[0].data_coding, 8);
        assert_eq!(ucs2[0].short_message.len(), 36);
        assert_eq!(data_coding_of("Łódź".as_bytes(), None), 8);
        assert_eq!(data_coding_of(b"Welcome", None), 0);
        // One short message: 70 UCS-2 characters (140 octets), 160 GSM
        // ones; beyond, parts of 67 or 153 under the row's reference.
        assert_eq!(
            parts_of("ł".repeat(70).as_bytes(), None, 1, 8)
                .unwrap()
                .len(),
            1
        );
        let ucs2 = parts_of("ł".repeat(71).as_bytes(), None, 0x1_05, 8).unwrap();
        assert_eq!(ucs2.len(), 2);
        assert_eq!(&ucs2[1].short_message[..6], &[5, 0, 3, 0x05, 2, 2]);
        assert_eq!((ucs2[0].esm_class, ucs2[0].data_coding), (0x40, 8));
        assert_eq!(ucs2[0].short_message.len(), 6 + 134);
        assert_eq!(
            parts_of("e".repeat(160).as_bytes(), None, 1, 8)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            parts_of("e".repeat(161).as_bytes(), None, 1, 8)
                .unwrap()
                .len(),
            2
        );
        assert!(matches!(
            parts_of("e".repeat(161).as_bytes(), None, 1, 1),
            Err(CodecError::TextTooLong(_))
        ));
    }

    #[test]
    fn the_unsealed_scan_names_every_kind_that_carries_secrets() {
        // A new secret-carrying kind must join the scan and its index.
        let secret: Vec<Kind> = Kind::ALL
            .into_iter()
            .filter(|k| k.carries_secrets())
            .collect();
        assert_eq!(secret, [Kind::CpBootstrap]);
        assert!(UNSEALED_SECRETS.contains(&format!("'{}'", Kind::CpBootstrap.as_str())));
    }

    #[test]
    fn a_sealed_payload_opens_with_the_key_for_its_own_row_only() {
        let vault = Vault::from_key(&[3; 32]);
        let pdu = vec![0x01, 0x06, 0x00, 0xFF, b's', b'e', b'c'];
        let sealed = seal_payload(&vault, 7, &pdu);
        assert!(!sealed.windows(3).any(|w| w == b"sec"));
        let r = test_row(7, Kind::CpBootstrap.as_str(), sealed.clone());
        assert!(r.is_sealed());
        assert_eq!(r.clear_payload(Some(&vault)).unwrap(), pdu);
        assert_eq!(r.parts(8, Some(&vault)).unwrap().len(), 1);
        // No key, another key, another row: it does not go out.
        assert!(matches!(r.parts(8, None), Err(PartsError::Sealed(_))));
        assert!(r.clear_payload(Some(&Vault::from_key(&[4; 32]))).is_err());
        assert!(test_row(8, Kind::CpBootstrap.as_str(), sealed)
            .clear_payload(Some(&vault))
            .is_err());
        // A row from before sealing goes out as stored.
        assert_eq!(
            test_row(9, Kind::CpBootstrap.as_str(), pdu.clone())
                .clear_payload(None)
                .unwrap(),
            pdu
        );
    }
}
