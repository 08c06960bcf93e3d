//! The submit side of one bound session: sequence numbers, the PDUs
//! awaiting a response, and the way back to their callers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusmpp::Command;
use tokio::sync::{oneshot, Notify};

use super::super::sync::lock;
use super::super::wire::{PduSender, SeqGen};

/// The SMSC's answer to one submit.
#[derive(Debug)]
pub(super) enum Reply {
    Resp { status: u32, message_id: String },
    Nack { status: u32 },
}

#[derive(Default)]
struct Pending {
    /// Set once the session ended; later dispatches must go elsewhere.
    dead: bool,
    waiters: HashMap<u32, oneshot::Sender<Reply>>,
}

pub(super) struct Session {
    writer: PduSender,
    seq: Arc<SeqGen>,
    pending: Mutex<Pending>,
    recycle: Notify,
}

// Moved once per submit; boxing the Command would allocate on every one.
#[allow(clippy::large_enum_variant)]
pub(super) enum Dispatch {
    Sent(u32, oneshot::Receiver<Reply>),
    /// The session ended before the PDU left; it never reached the SMSC.
    NotSent(Command),
}

impl Session {
    pub(super) fn new(writer: PduSender, seq: Arc<SeqGen>) -> Session {
        Session {
            writer,
            seq,
            pending: Mutex::new(Pending::default()),
            recycle: Notify::new(),
        }
    }

    /// Numbers the PDU, registers for its response and queues it.
    pub(super) async fn dispatch(&self, mut command: Command) -> Dispatch {
        let seq = self.seq.next();
        command.sequence_number = seq;
        let (tx, rx) = oneshot::channel();
        {
            // Registered before sending so a fast response cannot miss us.
            let mut pending = lock(&self.pending);
            if pending.dead {
                return Dispatch::NotSent(command);
            }
            pending.waiters.insert(seq, tx);
        }
        match self.writer.send(command).await {
            Ok(()) => Dispatch::Sent(seq, rx),
            Err(command) => {
                self.forget(seq);
                Dispatch::NotSent(command)
            }
        }
    }

    /// Routes a response to its caller; false if nobody waits for `seq`.
    pub(super) fn complete(&self, seq: u32, reply: Reply) -> bool {
        let waiter = lock(&self.pending).waiters.remove(&seq);
        match waiter {
            Some(tx) => {
                let _ = tx.send(reply);
                true
            }
            None => false,
        }
    }

    pub(super) fn forget(&self, seq: u32) {
        lock(&self.pending).waiters.remove(&seq);
    }

    /// Asks the driver to drop and re-establish this session.
    pub(super) fn recycle(&self) {
        self.recycle.notify_one();
    }

    pub(super) async fn recycle_requested(&self) {
        self.recycle.notified().await;
    }

    /// Ends the session: every caller still waiting gets `LinkLost`
    /// (their oneshot senders are dropped here).
    pub(super) fn close(&self) -> usize {
        let waiters = {
            let mut pending = lock(&self.pending);
            pending.dead = true;
            std::mem::take(&mut pending.waiters)
        };
        waiters.len()
    }
}

/// Forgets a dispatched PDU if the caller's future is dropped mid-wait,
/// so abandoned submits do not accumulate in the pending map.
pub(super) struct PendingGuard<'a> {
    session: &'a Session,
    seq: u32,
}

impl<'a> PendingGuard<'a> {
    pub(super) fn new(session: &'a Session, seq: u32) -> Self {
        PendingGuard { session, seq }
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.session.forget(self.seq);
    }
}
