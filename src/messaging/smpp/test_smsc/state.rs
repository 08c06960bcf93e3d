//! What the test SMSC knows: its knobs, what it recorded, and which
//! sessions can receive deliver_sm.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusmpp::Command;
use tokio::sync::watch;

use super::super::status::{ESME_ROK, ESME_RTHROTTLED};
use super::super::sync::lock;
use super::super::wire::{request, PduSender, SeqGen};
use super::{RecordedSubmit, TestSmscOptions};

/// Behaviour switches set through `TestSmsc`.
pub(super) struct Controls {
    pub(super) throttle_next: usize,
    pub(super) rejected_destinations: HashMap<String, u32>,
    pub(super) drop_after: Option<usize>,
    pub(super) refuse_binds: bool,
    pub(super) receipts: bool,
    pub(super) response_delay: Duration,
    pub(super) answer_enquire_links: bool,
}

/// A bound session that deliver_sm can be sent to.
#[derive(Clone)]
pub(super) struct Receiver {
    conn_id: u64,
    system_id: String,
    sender: PduSender,
    seq: Arc<SeqGen>,
}

impl Receiver {
    pub(super) fn new(
        conn_id: u64,
        system_id: String,
        sender: PduSender,
        seq: Arc<SeqGen>,
    ) -> Self {
        Receiver {
            conn_id,
            system_id,
            sender,
            seq,
        }
    }

    /// Sends a request PDU on this session; false if it is gone.
    pub(super) async fn send(&self, pdu: rusmpp::Pdu) -> bool {
        let command: Command = request(pdu, self.seq.next());
        self.sender.send(command).await.is_ok()
    }
}

/// The decision for one arriving submit.
pub(super) enum Verdict {
    /// Close every connection and never answer it.
    DropLinks,
    Answer {
        status: u32,
        delay: Duration,
        receipts: bool,
    },
}

pub(super) struct Shared {
    pub(super) options: TestSmscOptions,
    pub(super) local_addr: SocketAddr,
    controls: Mutex<Controls>,
    accepted: Mutex<Vec<RecordedSubmit>>,
    pub(super) accepted_count: watch::Sender<usize>,
    pub(super) rejected: AtomicUsize,
    pub(super) binds: AtomicUsize,
    pub(super) enquire_links: AtomicUsize,
    outstanding: AtomicUsize,
    pub(super) max_outstanding: AtomicUsize,
    next_message_id: AtomicU64,
    next_conn_id: AtomicU64,
    receivers: Mutex<Vec<Receiver>>,
    /// Bumped to make every open connection close.
    pub(super) kill: watch::Sender<u64>,
    pub(super) stop: watch::Sender<bool>,
}

impl Shared {
    pub(super) fn new(options: TestSmscOptions, local_addr: SocketAddr) -> Shared {
        Shared {
            options,
            local_addr,
            controls: Mutex::new(Controls {
                throttle_next: 0,
                rejected_destinations: HashMap::new(),
                drop_after: None,
                refuse_binds: false,
                receipts: true,
                response_delay: Duration::ZERO,
                answer_enquire_links: true,
            }),
            accepted: Mutex::new(Vec::new()),
            accepted_count: watch::channel(0).0,
            rejected: AtomicUsize::new(0),
            binds: AtomicUsize::new(0),
            enquire_links: AtomicUsize::new(0),
            outstanding: AtomicUsize::new(0),
            max_outstanding: AtomicUsize::new(0),
            next_message_id: AtomicU64::new(1),
            next_conn_id: AtomicU64::new(1),
            receivers: Mutex::new(Vec::new()),
            kill: watch::channel(0).0,
            stop: watch::channel(false).0,
        }
    }

    pub(super) fn controls(&self) -> MutexGuard<'_, Controls> {
        lock(&self.controls)
    }

    pub(super) fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Unique across all connections of this SMSC.
    pub(super) fn next_message_id(&self) -> String {
        format!(
            "{:08X}",
            self.next_message_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    pub(super) fn drop_all_connections(&self) {
        self.kill.send_modify(|generation| *generation += 1);
    }

    /// Decides the fate of an arriving submit, in one lock.
    pub(super) fn judge_submit(&self, destination: &str) -> Verdict {
        let mut controls = self.controls();
        if let Some(left) = controls.drop_after.as_mut() {
            *left -= 1;
            if *left == 0 {
                controls.drop_after = None;
                return Verdict::DropLinks;
            }
        }
        let status = if controls.throttle_next > 0 {
            controls.throttle_next -= 1;
            ESME_RTHROTTLED
        } else {
            controls
                .rejected_destinations
                .get(destination)
                .copied()
                .unwrap_or(ESME_ROK)
        };
        Verdict::Answer {
            status,
            delay: controls.response_delay,
            receipts: controls.receipts,
        }
    }

    pub(super) fn submit_arrived(&self) {
        let now = self.outstanding.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_outstanding.fetch_max(now, Ordering::Relaxed);
    }

    pub(super) fn submit_answered(&self) {
        self.outstanding.fetch_sub(1, Ordering::Relaxed);
    }

    pub(super) fn record_accepted(&self, submit: RecordedSubmit) {
        let mut accepted = lock(&self.accepted);
        accepted.push(submit);
        // Published under the lock so concurrent sessions cannot reorder counts.
        self.accepted_count.send_replace(accepted.len());
    }

    pub(super) fn accepted(&self) -> Vec<RecordedSubmit> {
        lock(&self.accepted).clone()
    }

    pub(super) fn register_receiver(&self, receiver: Receiver) {
        lock(&self.receivers).push(receiver);
    }

    pub(super) fn unregister_receiver(&self, conn_id: u64) {
        lock(&self.receivers).retain(|r| r.conn_id != conn_id);
    }

    /// A receiver bound with `system_id`, for routing receipts.
    pub(super) fn receiver_for(&self, system_id: &str) -> Option<Receiver> {
        lock(&self.receivers)
            .iter()
            .find(|r| r.system_id == system_id)
            .cloned()
    }

    pub(super) fn any_receiver(&self) -> Option<Receiver> {
        lock(&self.receivers).first().cloned()
    }
}
