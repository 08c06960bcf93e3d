//! The sender: drains the outbox through the SMPP link. It claims due rows
//! under a lease, submits their parts (the link keeps the window), and
//! records outcomes and delivery receipts in batches so the database is not
//! the bottleneck. Claims happen only while the link is bound, so an SMSC
//! outage leaves messages queued rather than burning their attempts.
//!
//! A row this node claimed is its own until its outcome is written: it
//! claims no more than the link lets out well within the claim time,
//! renews the claims of rows still waiting, never claims a row it still
//! holds, keeps an outcome the database would not take until it does, and
//! withdraws a row whose claim lapsed before its turn on the link.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};

use super::inbound::{self, InboundRouter, InboundSms};
use super::outbox::{self, OutboxMessage, Outcome, Receipt, SendOutcome};
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
            // The process names the claims, so that a node's successor can
            // tell them from a live node's (`outbox::release_dead_claims`);
            // the tag tells apart two senders of one process.
            node: format!(
                "{}#{:08x}",
                crate::retention::lease::this_process(),
                rand::random::<u32>()
            ),
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

    /// How many rows this node may hold at once, and claim at once, sending
    /// at `rate` a second: what the link lets out within half the claim
    /// time, so a claimed row goes out long before its claim runs out.
    fn sizing(&self, rate: Option<u32>) -> (i64, i64) {
        let most = self.batch.max(1) * 2;
        let held = match rate.filter(|&r| r > 0) {
            Some(r) => (i64::from(r) * self.lease_ms / 2_000).clamp(1, most),
            None => most,
        };
        (held, (held / 2).max(1))
    }

    /// Before this lapses, a claim is renewed; after, its row is not sent.
    fn claim_margin_ms(&self) -> i64 {
        self.lease_ms / 4
    }
}

/// A row this node holds: the claim (its attempts) and until when this
/// node knows it holds it.
struct Held {
    attempts: i32,
    until: i64,
}

/// The rows this node claimed and whose outcome is not written yet.
struct Claims {
    rows: Mutex<HashMap<i64, Held>>,
    /// Outcomes the database would not take, waiting to be written again.
    unrecorded: AtomicUsize,
    margin_ms: i64,
}

impl Claims {
    fn new(margin_ms: i64) -> Claims {
        Claims {
            rows: Mutex::new(HashMap::new()),
            unrecorded: AtomicUsize::new(0),
            margin_ms,
        }
    }

    fn rows(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Held>> {
        // The map stays consistent whatever panicked while holding it.
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hold(&self, rows: &[OutboxMessage]) {
        let mut held = self.rows();
        for r in rows {
            held.insert(
                r.id,
                Held {
                    attempts: r.attempts,
                    until: r.claimed_until.unwrap_or(0),
                },
            );
        }
    }

    fn ids(&self) -> Vec<i64> {
        self.rows().keys().copied().collect()
    }

    /// Whether the claim of `id` certainly still holds, with a margin for
    /// the clocks of other nodes.
    fn still_ours(&self, id: i64, attempts: i32) -> bool {
        self.rows()
            .get(&id)
            .is_some_and(|h| h.attempts == attempts && now_ms() < h.until - self.margin_ms)
    }

    /// `asked` were renewed to `until` and `kept` is what the database still
    /// had as this node's; the others are not sent by it any more.
    fn renewed(&self, asked: &[i64], kept: &[i64], until: i64) {
        let kept: std::collections::HashSet<i64> = kept.iter().copied().collect();
        let mut held = self.rows();
        for id in asked {
            if let Some(h) = held.get_mut(id) {
                h.until = if kept.contains(id) { until } else { 0 };
            }
        }
    }

    fn settled(&self, outcomes: &[Outcome]) {
        let mut held = self.rows();
        for o in outcomes {
            if held
                .get(&o.id)
                .is_some_and(|h| o.attempts.is_none_or(|a| a == h.attempts))
            {
                held.remove(&o.id);
            }
        }
    }
}

enum Record {
    /// The permit travels with the outcome and is released once it is
    /// written, so the rows acknowledged but not yet recorded (those a crash
    /// would send again) never exceed the in-flight limit.
    Outcome(Outcome, Option<OwnedSemaphorePermit>),
    Receipt(Receipt),
}

/// Receipts kept while the database is down, beyond which the oldest go
/// (their rows stay submitted rather than delivered).
const MAX_UNRECORDED_RECEIPTS: usize = 10_000;

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
        mut opts: SenderOptions,
        router: InboundRouter,
    ) -> Messaging {
        opts.lease_ms = i64::try_from(smsc.claim_time.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let (link, events) = spawn_link(smsc.clone());
        let wake = Arc::new(Notify::new());
        let (stop, stopped) = watch::channel(false);
        let (records, record_rx) = mpsc::unbounded_channel();
        let throttled_until = Arc::new(AtomicI64::new(0));
        let claims = Arc::new(Claims::new(opts.claim_margin_ms()));
        tokio::spawn(recorder(
            db.clone(),
            opts.clone(),
            claims.clone(),
            record_rx,
        ));
        tokio::spawn(events_loop(db.clone(), events, records.clone(), router));
        tokio::spawn(renewer(
            db.clone(),
            opts.clone(),
            claims.clone(),
            stopped.clone(),
        ));
        let sizing = opts.sizing(smsc.rate_limit_per_sec);
        let sending = Sending {
            link: link.clone(),
            records,
            claims,
            throttled_until,
        };
        tokio::spawn(claim_loop(db, opts, sizing, sending, wake.clone(), stopped));
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

/// What the claim loop hands each row's task.
#[derive(Clone)]
struct Sending {
    link: LinkHandle,
    records: mpsc::UnboundedSender<Record>,
    claims: Arc<Claims>,
    throttled_until: Arc<AtomicI64>,
}

async fn claim_loop(
    db: Db,
    opts: SenderOptions,
    (capacity, batch): (i64, i64),
    sending: Sending,
    wake: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let link = sending.link.clone();
    let mut status = link.watch_status();
    // A predecessor of this node that died left its rows claimed: they go
    // out now rather than when those claims run out.
    let node = opts.node.clone();
    match db
        .run(move |c| outbox::release_dead_claims(c).map_err(DbError::from))
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            rows = n,
            node = %node,
            "queued again the messages a stopped process of this host had claimed"
        ),
        Err(e) => tracing::warn!(error = %e, "could not release the claims of stopped processes"),
    }
    // Rows in flight on this node: bounded so a large queue is claimed in
    // step with the link rather than all at once.
    let inflight = Arc::new(Semaphore::new(capacity as usize));
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
        let pause = sending.throttled_until.load(Ordering::Relaxed) - now_ms();
        if pause > 0 {
            tokio::time::sleep(Duration::from_millis(pause as u64)).await;
            continue;
        }
        // Outcomes the database would not take are written before anything
        // new is claimed.
        if sending.claims.unrecorded.load(Ordering::Relaxed) > 0 {
            tokio::select! {
                _ = tokio::time::sleep(opts.poll) => {}
                _ = stopped.changed() => {}
            }
            continue;
        }
        let Ok(permits) = inflight.clone().acquire_many_owned(batch as u32).await else {
            break;
        };
        let (node, lease) = (opts.node.clone(), opts.lease_ms);
        let held = sending.claims.ids();
        let claimed = db
            .run(move |c| {
                outbox::claim_except(c, &node, batch, lease, &held).map_err(DbError::from)
            })
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
        sending.claims.hold(&rows);
        let mut permits = permits;
        for row in rows {
            let permit = permits.split(1);
            let sending = sending.clone();
            let max_parts = opts.max_parts;
            let vault = opts.vault.clone();
            tokio::spawn(async move {
                let outcome = send_row(&sending, &row, max_parts, vault.as_deref()).await;
                let _ = sending.records.send(Record::Outcome(
                    Outcome {
                        id: row.id,
                        attempts: Some(row.attempts),
                        this_round: row.attempts_this_round(),
                        outcome,
                    },
                    permit,
                ));
            });
        }
    }
}

/// Keeps this node's claims alive while their rows wait for the link or
/// for the database to take their outcomes.
async fn renewer(
    db: Db,
    opts: SenderOptions,
    claims: Arc<Claims>,
    mut stopped: watch::Receiver<bool>,
) {
    let every = Duration::from_millis((opts.lease_ms / 4).max(50) as u64);
    let mut wait = every;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => {}
        }
        if *stopped.borrow() {
            break;
        }
        let ids = claims.ids();
        if ids.is_empty() {
            wait = every;
            continue;
        }
        let until = now_ms() + opts.lease_ms;
        let node = opts.node.clone();
        let asked = ids.clone();
        match db
            .run(move |c| outbox::renew(c, &node, &asked, until).map_err(DbError::from))
            .await
        {
            Ok(kept) => {
                claims.renewed(&ids, &kept, until);
                wait = every;
            }
            Err(e) => {
                // Again soon: the claims must be renewed as soon as the
                // database is back, before they run out.
                tracing::warn!(error = %e, rows = ids.len(), "could not renew the claims of messages waiting to go out");
                wait = opts.poll.min(every);
            }
        }
    }
}

async fn send_row(
    sending: &Sending,
    row: &OutboxMessage,
    max_parts: u8,
    vault: Option<&Vault>,
) -> SendOutcome {
    let (link, throttled_until) = (&sending.link, &sending.throttled_until);
    let still_ours = || sending.claims.still_ours(row.id, row.attempts);
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
        match link.submit_while(sm, still_ours).await {
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
            // The claim lapsed while the row waited for the link: another
            // node may hold it now. Before its first part nothing went out.
            Err(LinkError::Withdrawn) if i == 0 => {
                tracing::warn!(
                    outbox = row.id,
                    "claim lapsed before the message went out; left to the next claim"
                );
                return SendOutcome::Withdrawn;
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
/// What the database would not take is kept and written again, first, as
/// soon as it does: an outcome dropped would leave its row to be sent again
/// once its claim ran out.
async fn recorder(
    db: Db,
    opts: SenderOptions,
    claims: Arc<Claims>,
    mut rx: mpsc::UnboundedReceiver<Record>,
) {
    // Receipts that arrived before their submit_sm_resp was written, with
    // the time they came in; retried with later batches for a minute.
    let mut early: Vec<(i64, Receipt)> = Vec::new();
    // Outcomes (with their in-flight permits, so nothing new is claimed in
    // their place) and receipts a failed write left unrecorded.
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut permits: Vec<Option<OwnedSemaphorePermit>> = Vec::new();
    let mut receipts: Vec<Receipt> = Vec::new();
    let mut open = true;
    loop {
        let retrying = !outcomes.is_empty() || !receipts.is_empty();
        let first = if retrying {
            // Try again shortly, whether or not more comes in.
            match tokio::time::timeout(opts.poll, rx.recv()).await {
                Ok(Some(r)) => Some(r),
                Ok(None) => {
                    open = false;
                    None
                }
                Err(_) => None,
            }
        } else if open {
            rx.recv().await
        } else {
            None
        };
        if first.is_none() && !retrying {
            break;
        }
        let mut batch: Vec<Record> = first.into_iter().collect();
        if !batch.is_empty() {
            // Let a burst gather so a busy link costs one commit per batch.
            tokio::time::sleep(Duration::from_millis(2)).await;
            while batch.len() < 2_000 {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
        }
        for r in batch {
            match r {
                Record::Outcome(o, permit) => {
                    outcomes.push(o);
                    permits.push(permit);
                }
                Record::Receipt(r) => receipts.push(r),
            }
        }
        let node = opts.node.clone();
        let max_attempts = opts.max_attempts;
        let writing = outcomes.clone();
        let mut applying: Vec<Receipt> = early.iter().map(|(_, r)| r.clone()).collect();
        applying.extend(receipts.iter().cloned());
        let written = db
            .run(move |c| -> Result<Vec<Receipt>, DbError> {
                outbox::record(c, &node, &writing, max_attempts)?;
                Ok(outbox::apply_receipts(c, &applying)?)
            })
            .await;
        match written {
            Ok(unmatched) => {
                if claims.unrecorded.swap(0, Ordering::Relaxed) > 0 {
                    tracing::info!(
                        outcomes = outcomes.len(),
                        "recorded the SMS outcomes kept while the database was unavailable"
                    );
                }
                claims.settled(&outcomes);
                outcomes.clear();
                receipts.clear();
                permits.clear();
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
            Err(e) => {
                // The rows stay this node's (held, their claims renewed
                // when the database lets it), so none is sent again.
                if claims
                    .unrecorded
                    .swap(outcomes.len().max(1), Ordering::Relaxed)
                    == 0
                {
                    tracing::error!(error = %e, outcomes = outcomes.len(), "could not record SMS outcomes; kept to be written again");
                }
                if receipts.len() > MAX_UNRECORDED_RECEIPTS {
                    let over = receipts.len() - MAX_UNRECORDED_RECEIPTS;
                    tracing::warn!(
                        receipts = over,
                        "delivery receipts dropped while the database was unavailable"
                    );
                    receipts.drain(..over);
                }
            }
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
    use super::{backoff_ms, SenderOptions};

    #[test]
    fn a_rate_limited_node_holds_no_more_than_it_sends_in_half_a_claim() {
        let mut opts = SenderOptions::new(8, 10);
        // QA's node: 4 a second on a two-minute claim.
        assert_eq!(opts.sizing(Some(4)), (240, 120));
        assert_eq!(opts.sizing(None), (1_000, 500));
        assert_eq!(opts.sizing(Some(0)), (1_000, 500));
        assert_eq!(opts.sizing(Some(1_000_000)), (1_000, 500));
        opts.lease_ms = 1_000;
        assert_eq!(opts.sizing(Some(1)), (1, 1));
        assert!(opts
            .node
            .starts_with(crate::retention::lease::this_process()));
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(4), 8_000);
        assert_eq!(backoff_ms(50), 256_000);
    }
}
