//! The life of one bound connection: read loop, keepalive, answering the
//! SMSC, and the unbind handshake on shutdown.

use std::time::Duration;

use futures_util::StreamExt;
use rusmpp::pdus::DeliverSmResp;
use rusmpp::types::COctetString;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::sync::{mpsc, watch};
use tokio::time::{self, Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use super::super::config::SmscConfig;
use super::super::status::{describe_status, ESME_RINVCMDID, ESME_RINVCMDLEN, ESME_ROK};
use super::super::wire::{request, response};
use super::connection::Connection;
use super::pdu::deliver_to_event;
use super::session::{Reply, Session};
use super::LinkEvent;

/// Upper bound on waiting for unbind_resp during shutdown.
const UNBIND_WAIT: Duration = Duration::from_secs(2);
/// After a write failure, how long to keep reading responses already sent.
const DRAIN_WAIT: Duration = Duration::from_millis(500);
const WRITE_FAILED: &str = "write to SMSC failed";

/// How a connection's life ended.
#[derive(Debug)]
pub(super) enum Ending {
    /// We unbound because of shutdown.
    Unbound,
    /// Anything else; the reason goes into `LinkStatus::Down`.
    Failed(String),
}

/// What a connection needs besides itself.
pub(super) struct ServeCtx<'a> {
    pub(super) config: &'a SmscConfig,
    /// Submit responses are routed here.
    pub(super) session: &'a Session,
    pub(super) events: &'a mpsc::Sender<LinkEvent>,
    pub(super) shutdown: &'a watch::Receiver<bool>,
}

#[derive(Default)]
struct State {
    /// Any PDU arrived since the previous keepalive tick.
    heard: bool,
    enquire_seq: Option<u32>,
    unbind_seq: Option<u32>,
    /// Set when writing failed; we still read what already arrived, since
    /// it may hold responses to submits the SMSC did accept.
    write_failed: bool,
}

/// Resolves once shutdown is requested or every `LinkHandle` is gone.
pub(super) async fn shutdown_requested(shutdown: &watch::Receiver<bool>) {
    let mut rx = shutdown.clone();
    let _ = rx.wait_for(|stop| *stop).await;
}

pub(super) async fn serve(conn: &mut Connection, ctx: &ServeCtx<'_>) -> Ending {
    // tokio panics on a zero interval.
    let period = ctx
        .config
        .enquire_link_interval
        .max(Duration::from_millis(10));
    let mut keepalive = time::interval_at(Instant::now() + period, period);
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let enquire_deadline = time::sleep(Duration::ZERO);
    let unbind_deadline = time::sleep(Duration::ZERO);
    let drain_deadline = time::sleep(Duration::ZERO);
    let shutdown = shutdown_requested(ctx.shutdown);
    tokio::pin!(enquire_deadline, unbind_deadline, drain_deadline, shutdown);
    let mut state = State::default();

    loop {
        tokio::select! {
            frame = conn.reader.next() => {
                let command = match frame {
                    Some(Ok(command)) => command,
                    _ if state.write_failed => return Ending::Failed(WRITE_FAILED.into()),
                    Some(Err(e)) => return Ending::Failed(format!("read failed: {e}")),
                    None => return Ending::Failed("connection closed by SMSC".into()),
                };
                state.heard = true;
                if let Some(ending) = handle(conn, ctx, &mut state, command).await {
                    return ending;
                }
            }
            _ = conn.writer.stopped(), if !state.write_failed => {
                state.write_failed = true;
                drain_deadline.as_mut().reset(Instant::now() + DRAIN_WAIT);
            }
            _ = &mut drain_deadline, if state.write_failed => {
                return Ending::Failed(WRITE_FAILED.into());
            }
            _ = ctx.session.recycle_requested() => {
                return Ending::Failed(format!(
                    "no submit_sm_resp within {:?}",
                    ctx.config.response_timeout
                ));
            }
            _ = keepalive.tick(), if state.unbind_seq.is_none() && !state.write_failed => {
                if !state.heard && state.enquire_seq.is_none() {
                    let seq = conn.seq.next();
                    if send(conn, request(Pdu::EnquireLink, seq)).await.is_err() {
                        return Ending::Failed(WRITE_FAILED.into());
                    }
                    state.enquire_seq = Some(seq);
                    enquire_deadline
                        .as_mut()
                        .reset(Instant::now() + ctx.config.response_timeout);
                }
                state.heard = false;
            }
            _ = &mut enquire_deadline, if state.enquire_seq.is_some() => {
                return Ending::Failed(format!(
                    "no enquire_link_resp within {:?}",
                    ctx.config.response_timeout
                ));
            }
            _ = &mut shutdown, if state.unbind_seq.is_none() => {
                let seq = conn.seq.next();
                if send(conn, request(Pdu::Unbind, seq)).await.is_err() {
                    return Ending::Unbound;
                }
                state.unbind_seq = Some(seq);
                let wait = ctx.config.response_timeout.min(UNBIND_WAIT);
                unbind_deadline.as_mut().reset(Instant::now() + wait);
            }
            _ = &mut unbind_deadline, if state.unbind_seq.is_some() => {
                warn!(smsc = %ctx.config.redacted(), role = conn.role.name(), "no unbind_resp; closing anyway");
                return Ending::Unbound;
            }
        }
    }
}

async fn send(conn: &Connection, command: Command) -> Result<(), Command> {
    conn.writer.sender().send(command).await
}

/// Handles one PDU from the SMSC; `Some` ends the connection.
async fn handle(
    conn: &mut Connection,
    ctx: &ServeCtx<'_>,
    state: &mut State,
    command: Command,
) -> Option<Ending> {
    let seq = command.sequence_number();
    let status = u32::from(command.status());
    let id = command.id();
    let reply = match id {
        CommandId::SubmitSmResp => {
            let message_id = match command.pdu() {
                Some(Pdu::SubmitSmResp(resp)) => resp.message_id().as_str().to_owned(),
                _ => String::new(),
            };
            if !ctx
                .session
                .complete(seq, Reply::Resp { status, message_id })
            {
                debug!(seq, "submit_sm_resp for nothing outstanding");
            }
            None
        }
        CommandId::EnquireLinkResp => {
            if state.enquire_seq == Some(seq) {
                state.enquire_seq = None;
            }
            None
        }
        CommandId::GenericNack => {
            if state.enquire_seq == Some(seq) {
                // Any answer proves the peer alive.
                state.enquire_seq = None;
            } else if !ctx.session.complete(seq, Reply::Nack { status }) {
                warn!(seq, status = %describe_status(status), "generic_nack from SMSC");
            }
            None
        }
        CommandId::UnbindResp if state.unbind_seq.is_some() => {
            info!(smsc = %ctx.config.redacted(), role = conn.role.name(), "SMPP link unbound");
            return Some(Ending::Unbound);
        }
        CommandId::EnquireLink => Some(response(CommandId::EnquireLinkResp, ESME_ROK, seq)),
        CommandId::Unbind => {
            let _ = send(conn, response(CommandId::UnbindResp, ESME_ROK, seq)).await;
            info!(smsc = %ctx.config.redacted(), role = conn.role.name(), "SMSC unbound the link");
            return Some(Ending::Failed("SMSC sent unbind".into()));
        }
        CommandId::DeliverSm => Some(match command.into_parts().pdu {
            Some(Pdu::DeliverSm(deliver)) => {
                // Forward before acknowledging: an unacknowledged deliver_sm
                // is redelivered by the SMSC, so nothing is lost on a crash.
                let _ = ctx.events.send(deliver_to_event(deliver)).await;
                Command::new(
                    CommandStatus::EsmeRok,
                    seq,
                    DeliverSmResp::new(COctetString::empty(), Vec::new()),
                )
            }
            _ => response(CommandId::GenericNack, ESME_RINVCMDLEN, seq),
        }),
        // alert_notification has no response; outbind is for unbound ESMEs.
        CommandId::AlertNotification | CommandId::Outbind => None,
        id if id.is_operation() => {
            debug!(?id, "unsupported request from SMSC");
            Some(response(CommandId::GenericNack, ESME_RINVCMDID, seq))
        }
        _ => None,
    };
    if let Some(reply) = reply {
        if send(conn, reply).await.is_err() {
            return Some(Ending::Failed(WRITE_FAILED.into()));
        }
    }
    None
}
