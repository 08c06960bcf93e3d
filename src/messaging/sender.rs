//! The sender: drains the outbox through the SMPP link. It claims due rows
//! under a lease, submits their parts (the link keeps the window), and
//! records outcomes and delivery receipts in batches so the database is not
//! the bottleneck. Claims happen only while the link is bound, so an SMSC
//! outage leaves messages queued rather than burning their attempts.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};

use super::inbound::{self, InboundRouter, InboundSms};
use super::outbox::{self, OutboxMessage, Receipt, SendOutcome};
use super::smpp::{
    spawn_link, LinkError, LinkEvent, LinkHandle, LinkStatus, OutgoingSm, ReceiptState, SmscConfig,
    SubmitOutcome,
};
use crate::db::{now_ms, Db, DbError};
use crate::secrets::Vault;

#[derive(Debug, Clone)]
pub struct SenderOptions {
    /// This node's name in claims.
    pub node: String,
    /// Rows claimed at once.
    pub batch: i64,
    /// How long a claim holds before another node may take the row over.
    pub lease_ms: i64,
    pub max_parts: u8,
    pub max_attempts: i32,
    /// How often to look for rows queued by other processes (the CLI, other nodes).
    pub poll: Duration,
    /// Opens the payloads stored sealed (those carrying secrets); without
    /// it such a message fails rather than going out.
    pub vault: Option<Arc<Vault>>,
}

impl SenderOptions {
    pub fn new(max_parts: u8, max_attempts: i32) -> Self {
        SenderOptions {
            node: format!("{}-{:08x}", std::process::id(), rand::random::<u32>()),
            batch: 500,
            lease_ms: 120_000,
            max_parts,
            max_attempts,
            poll: Duration::from_millis(500),
            vault: None,
        }
    }

    /// These options, opening sealed payloads with `vault`.
    pub fn with_vault(mut self, vault: Arc<Vault>) -> Self {
        self.vault = Some(vault);
        self
    }
}

enum Record {
    /// The permit travels with the outcome and is released once it is
    /// written, so the rows acknowledged but not yet recorded (those a crash
    /// would send again) never exceed the in-flight limit.
    Outcome(i64, i32, SendOutcome, Option<OwnedSemaphorePermit>),
    Receipt(Receipt),
}

/// The running sender: cheap to clone, one per server node.
#[derive(Clone)]
pub struct Messaging {
    link: LinkHandle,
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    config: Arc<SmscConfig>,
}

impl Messaging {
    /// Starts the link, the claim loop, the recorder and the event loop.
    pub fn start(
        db: Db,
        smsc: SmscConfig,
        opts: SenderOptions,
        router: InboundRouter,
    ) -> Messaging {
        let (link, events) = spawn_link(smsc.clone());
        let wake = Arc::new(Notify::new());
        let (stop, stopped) = watch::channel(false);
        let (records, record_rx) = mpsc::unbounded_channel();
        let throttled_until = Arc::new(AtomicI64::new(0));
        tokio::spawn(recorder(db.clone(), opts.clone(), record_rx));
        tokio::spawn(events_loop(db.clone(), events, records.clone(), router));
        tokio::spawn(claim_loop(
            db,
            link.clone(),
            opts,
            wake.clone(),
            stopped,
            records,
            throttled_until,
        ));
        tracing::info!(smsc = %smsc.redacted(), "SMS sender started");
        Messaging {
            link,
            wake,
            stop,
            config: Arc::new(smsc),
        }
    }

    /// Rows were queued on this node: look now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn status(&self) -> LinkStatus {
        self.link.status()
    }

    pub fn smsc(&self) -> String {
        self.config.redacted()
    }

    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        self.link.shutdown().await;
    }
}

/// Seconds to wait before the n-th retry: 1, 2, 4 ... capped at 5 minutes.
fn backoff_ms(attempts: i32) -> i64 {
    let exp = attempts.clamp(1, 9) - 1;
    (1_000i64 << exp).min(300_000)
}

async fn claim_loop(
    db: Db,
    link: LinkHandle,
    opts: SenderOptions,
    wake: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
    records: mpsc::UnboundedSender<Record>,
    throttled_until: Arc<AtomicI64>,
) {
    let mut status = link.watch_status();
    // Rows in flight on this node: bounded so a large queue is claimed in
    // step with the link rather than all at once.
    let capacity = (opts.batch as usize) * 2;
    let inflight = Arc::new(Semaphore::new(capacity));
    loop {
        if *stopped.borrow() {
            break;
        }
        if !matches!(*status.borrow_and_update(), LinkStatus::Bound { .. }) {
            tokio::select! {
                _ = status.changed() => {}
                _ = stopped.changed() => {}
            }
            continue;
        }
        let pause = throttled_until.load(Ordering::Relaxed) - now_ms();
        if pause > 0 {
            tokio::time::sleep(Duration::from_millis(pause as u64)).await;
            continue;
        }
        let Ok(permits) = inflight.clone().acquire_many_owned(opts.batch as u32).await else {
            break;
        };
        let (node, batch, lease) = (opts.node.clone(), opts.batch, opts.lease_ms);
        let claimed = db
            .run(move |c| outbox::claim(c, &node, batch, lease).map_err(DbError::from))
            .await;
        let rows = match claimed {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "could not claim outbox rows");
                drop(permits);
                tokio::time::sleep(opts.poll).await;
                continue;
            }
        };
        if rows.is_empty() {
            drop(permits);
            tokio::select! {
                _ = tokio::time::sleep(opts.poll) => {}
                _ = wake.notified() => {}
                _ = stopped.changed() => {}
            }
            continue;
        }
        let mut permits = permits;
        for row in rows {
            let permit = permits.split(1);
            let link = link.clone();
            let records = records.clone();
            let throttled_until = throttled_until.clone();
            let max_parts = opts.max_parts;
            let vault = opts.vault.clone();
            tokio::spawn(async move {
                let outcome =
                    send_row(&link, &row, max_parts, vault.as_deref(), &throttled_until).await;
                let _ = records.send(Record::Outcome(
                    row.id,
                    row.attempts_this_round(),
                    outcome,
                    permit,
                ));
            });
        }
    }
}

async fn send_row(
    link: &LinkHandle,
    row: &OutboxMessage,
    max_parts: u8,
    vault: Option<&Vault>,
    throttled_until: &AtomicI64,
) -> SendOutcome {
    // The only place a sealed payload is opened: it goes out in clear, as
    // the handset needs it, and is never written back so.
    let parts = match row.parts(max_parts, vault) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(outbox = row.id, error = %e, "message cannot go out");
            return SendOutcome::Failed {
                error: e.to_string(),
            };
        }
    };
    let last = parts.len().saturating_sub(1);
    let mut message_id = String::new();
    for (i, part) in parts.into_iter().enumerate() {
        let sm = OutgoingSm {
            destination: row.mdn.clone(),
            esm_class: part.esm_class,
            data_coding: part.data_coding,
            short_message: part.short_message,
            // One receipt per message: the last part's stands for the whole.
            registered_delivery: i == last,
        };
        match link.submit(sm).await {
            Ok(SubmitOutcome::Accepted { message_id: id }) => message_id = id,
            Ok(SubmitOutcome::Rejected { status, transient }) => {
                let name = super::smpp::status::describe_status(status);
                return if transient {
                    let wait = backoff_ms(row.attempts_this_round());
                    throttled_until.fetch_max(now_ms() + wait.min(5_000), Ordering::Relaxed);
                    tracing::info!(outbox = row.id, status = %name, "SMSC asked us to retry later");
                    SendOutcome::Retry {
                        error: format!("SMSC: {name}"),
                        retry_in_ms: wait,
                    }
                } else {
                    SendOutcome::Failed {
                        error: format!("SMSC refused the message: {name}"),
                    }
                };
            }
            Err(LinkError::TooLong(n)) => {
                return SendOutcome::Failed {
                    error: format!("short message of {n} octets is too long for submit_sm"),
                }
            }
            Err(LinkError::InvalidAddress(a)) => {
                return SendOutcome::Failed {
                    error: format!("not a destination address the SMSC takes: {a}"),
                }
            }
            Err(e) => {
                tracing::warn!(outbox = row.id, error = %e, "message not acknowledged; it will be sent again");
                return SendOutcome::Retry {
                    error: format!("not acknowledged: {e}"),
                    retry_in_ms: 0,
                };
            }
        }
    }
    SendOutcome::Accepted { message_id }
}

/// Writes outcomes and receipts in batches: one transaction per batch.
async fn recorder(db: Db, opts: SenderOptions, mut rx: mpsc::UnboundedReceiver<Record>) {
    // Receipts that arrived before their submit_sm_resp was written, with
    // the time they came in; retried with later batches for a minute.
    let mut early: Vec<(i64, Receipt)> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        // Let a burst gather so a busy link costs one commit per batch.
        tokio::time::sleep(Duration::from_millis(2)).await;
        while batch.len() < 2_000 {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let mut outcomes = Vec::new();
        let mut permits = Vec::new();
        let mut receipts: Vec<Receipt> = early.iter().map(|(_, r)| r.clone()).collect();
        for r in batch {
            match r {
                Record::Outcome(id, attempts, o, permit) => {
                    outcomes.push((id, attempts, o));
                    permits.push(permit);
                }
                Record::Receipt(r) => receipts.push(r),
            }
        }
        let node = opts.node.clone();
        let max_attempts = opts.max_attempts;
        let written = db
            .run(move |c| -> Result<Vec<Receipt>, DbError> {
                outbox::record(c, &node, &outcomes, max_attempts)?;
                Ok(outbox::apply_receipts(c, &receipts)?)
            })
            .await;
        drop(permits);
        match written {
            Ok(unmatched) => {
                let now = now_ms();
                let previous = std::mem::take(&mut early);
                early = unmatched
                    .into_iter()
                    .map(|r| {
                        let since = previous
                            .iter()
                            .find(|(_, p)| p.message_id == r.message_id)
                            .map(|(t, _)| *t)
                            .unwrap_or(now);
                        (since, r)
                    })
                    .filter(|(since, r)| {
                        let keep = now - since < 60_000;
                        if !keep {
                            tracing::warn!(message_id = %r.message_id, "delivery receipt for no message we sent");
                        }
                        keep
                    })
                    .collect();
            }
            // The rows stay claimed; when the lease runs out they are sent
            // again, which is the price of a database that would not write.
            Err(e) => tracing::error!(error = %e, "could not record SMS outcomes"),
        }
    }
}

async fn events_loop(
    db: Db,
    mut events: mpsc::Receiver<LinkEvent>,
    records: mpsc::UnboundedSender<Record>,
    router: InboundRouter,
) {
    while let Some(ev) = events.recv().await {
        match ev {
            LinkEvent::Receipt {
                message_id,
                state,
                error_code,
                raw,
            } => {
                let delivered = matches!(state, ReceiptState::Delivered);
                let pending = matches!(
                    state,
                    ReceiptState::Accepted | ReceiptState::Enroute | ReceiptState::Unknown
                );
                if pending {
                    tracing::debug!(%message_id, %raw, "intermediate delivery receipt");
                    continue;
                }
                let detail = match error_code {
                    Some(code) => format!("{state:?} (err {code})"),
                    None => format!("{state:?}"),
                };
                let _ = records.send(Record::Receipt(Receipt {
                    message_id,
                    delivered,
                    detail,
                }));
            }
            LinkEvent::Inbound {
                source_addr,
                destination_addr,
                data_coding,
                esm_class: _,
                short_message,
            } => {
                let sms = InboundSms {
                    source_addr,
                    destination_addr,
                    data_coding: i32::from(data_coding),
                    body: short_message,
                };
                let router = router.clone();
                let stored = db
                    .run(move |c| inbound::receive(c, &router, &sms).map_err(DbError::from))
                    .await;
                if let Err(e) = stored {
                    tracing::error!(error = %e, "could not store an inbound short message");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(4), 8_000);
        assert_eq!(backoff_ms(50), 256_000);
    }
}
