//! The durable outbox: every short message the platform sends is a row
//! first. A sender claims due rows under a lease, submits them and records
//! the outcome; receipts move them on. A row is claimed by one node at a
//! time (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock on SQLite),
//! and a row the SMSC acknowledged is never claimed again.

use diesel::prelude::*;
use serde::Serialize;

use super::codec::wdp::{self, DataCoding, Ports, SegmentOptions};
use super::codec::CodecError;
use crate::db::schema::outbox;
use crate::db::{now_ms, DbConnection};
use crate::registry::identifiers::Mdn;

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
}

/// One short message of a row, ready for submit_sm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub short_message: Vec<u8>,
    pub esm_class: u8,
    pub data_coding: u8,
}

/// The longest plain text message: one SMS in the SMSC default alphabet.
pub const MAX_TEXT_CHARS: usize = 160;

impl OutboxMessage {
    pub fn kind(&self) -> Option<Kind> {
        Kind::parse(&self.kind)
    }

    /// The short messages this row goes out as. The concatenation reference
    /// comes from the row id, so a retried row repeats the same reference
    /// and the handset's reassembly drops parts it already has.
    pub fn parts(&self, max_parts: u8) -> Result<Vec<Part>, CodecError> {
        parts_of(&self.payload, self.wdp_port, self.id, max_parts)
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
            if payload.len() > MAX_TEXT_CHARS {
                return Err(CodecError::TooManySegments {
                    payload_len: payload.len(),
                    needed: payload.len().div_ceil(MAX_TEXT_CHARS),
                    limit: 1,
                });
            }
            Ok(vec![Part {
                short_message: payload.to_vec(),
                esm_class: 0,
                data_coding: 0,
            }])
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
pub fn queue(
    conn: &mut DbConnection,
    msg: &NewMessage,
    created_by: &str,
    max_parts: u8,
) -> QueryResult<OutboxMessage> {
    let now = now_ms();
    let port = msg.wdp_port.map(i32::from);
    let check = parts_of(&msg.payload, port, 0, max_parts);
    let (state, error) = match &check {
        Ok(_) => ("queued", String::new()),
        Err(e) => {
            tracing::warn!(mdn = %msg.mdn, kind = msg.kind.as_str(), error = %e, "message too large for the SMS concatenation limit");
            ("failed", format!("payload too large: {e}"))
        }
    };
    let data_coding = if port.is_some() {
        i32::from(DataCoding::default().dcs())
    } else {
        0
    };
    let row = (
        outbox::kind.eq(msg.kind.as_str()),
        outbox::device_id.eq(msg.device_id),
        outbox::mdn.eq(msg.mdn.as_str()),
        outbox::payload.eq(&msg.payload),
        outbox::data_coding.eq(data_coding),
        outbox::wdp_port.eq(port),
        outbox::summary.eq(&msg.summary),
        outbox::state.eq(state),
        outbox::last_error.eq(&error),
        outbox::next_attempt_at.eq(now),
        outbox::created_by.eq(created_by),
        outbox::created_at.eq(now),
        outbox::updated_at.eq(now),
    );
    // The row comes back from the INSERT: one round trip, not three.
    crate::native!(conn, |c| diesel::insert_into(outbox::table)
        .values(row)
        .returning(OutboxMessage::as_returning())
        .get_result(c))
}

/// Claims up to `limit` due rows for `node` until `now + lease_ms`. Rows
/// whose claimer vanished (lease run out) are due again.
pub fn claim(
    conn: &mut DbConnection,
    node: &str,
    limit: i64,
    lease_ms: i64,
) -> QueryResult<Vec<OutboxMessage>> {
    crate::db::write(conn, |conn| {
        let now = now_ms();
        let due = outbox::state
            .eq("queued")
            .and(outbox::next_attempt_at.le(now))
            .or(outbox::state
                .eq("sending")
                .and(outbox::claimed_until.lt(now)));
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
}

/// Records outcomes for rows `node` holds, in one transaction. A row whose
/// lease another node took over is left alone.
pub fn record(
    conn: &mut DbConnection,
    node: &str,
    outcomes: &[(i64, i32, SendOutcome)],
    max_attempts: i32,
) -> QueryResult<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    crate::db::write(conn, |conn| {
        let now = now_ms();
        // On PostgreSQL every statement is a round trip: the common case,
        // accepted, goes in one statement for the whole batch.
        let batched = if let DbConnection::Postgres(pg) = conn {
            let (ids, mids): (Vec<i64>, Vec<String>) = outcomes
                .iter()
                .filter_map(|(id, _, o)| match o {
                    SendOutcome::Accepted { message_id } => Some((*id, message_id.clone())),
                    _ => None,
                })
                .unzip();
            if !ids.is_empty() {
                use diesel::sql_types::{Array, BigInt, Text};
                diesel::sql_query(
                    "UPDATE outbox AS o SET state = 'submitted', smsc_message_id = v.mid, \
                     submitted_at = $1, updated_at = $1, last_error = '', claimed_by = NULL, \
                     claimed_until = NULL FROM unnest($2, $3) AS v(id, mid) \
                     WHERE o.id = v.id AND o.state = 'sending' AND o.claimed_by = $4",
                )
                .bind::<BigInt, _>(now)
                .bind::<Array<BigInt>, _>(&ids)
                .bind::<Array<Text>, _>(&mids)
                .bind::<Text, _>(node)
                .execute(pg)?;
            }
            true
        } else {
            false
        };
        for (id, attempts, outcome) in outcomes {
            if batched && matches!(outcome, SendOutcome::Accepted { .. }) {
                continue;
            }
            let mine = outbox::table
                .filter(outbox::id.eq(id))
                .filter(outbox::state.eq("sending"))
                .filter(outbox::claimed_by.eq(node));
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
                SendOutcome::Retry { error, .. } if *attempts >= max_attempts => {
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
            }
        }
        Ok(())
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
    let mut q = outbox::table
        .select(OutboxMessage::as_select())
        .order(outbox::id.desc())
        .limit(limit)
        .into_boxed();
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
    q.load(conn)
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

/// Puts a failed message back in the queue (an operator's decision).
pub fn requeue(conn: &mut DbConnection, id: i64) -> QueryResult<bool> {
    let now = now_ms();
    let n = diesel::update(
        outbox::table
            .filter(outbox::id.eq(id))
            .filter(outbox::state.eq("failed")),
    )
    .set((
        outbox::state.eq("queued"),
        outbox::attempts.eq(0),
        outbox::next_attempt_at.eq(now),
        outbox::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
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
        assert!(parts_of(&[b'a'; 161], None, 1, 10).is_err());
        let text = parts_of(b"Welcome", None, 1, 10).unwrap();
        assert_eq!(text[0].short_message, b"Welcome");
        assert_eq!(text[0].esm_class, 0);
    }
}
