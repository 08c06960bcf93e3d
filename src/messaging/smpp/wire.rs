//! Connection plumbing shared by the ESME link and the test SMSC.
//!
//! Each TCP stream is split into rusmpp's codec on both halves
//! (`FramedRead`/`FramedWrite`, i.e. `Framed` without the shared lock) so the
//! reader never waits on the writer. All writes go through one task per
//! connection that drains its queue and flushes once per batch: under load
//! that turns many small PDUs into few syscalls.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::SinkExt;
use rusmpp::command::CommandParts;
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, FramedWrite};
use tracing::debug;

pub(crate) type PduReader = FramedRead<OwnedReadHalf, CommandCodec>;
pub(crate) type PduSink = FramedWrite<OwnedWriteHalf, CommandCodec>;

/// Queue depth per connection; the submit window keeps it far from full,
/// it only absorbs bursts of responses on the SMSC side.
const QUEUE: usize = 1024;
/// PDUs encoded per flush at most.
const BATCH: usize = 64;

/// Splits a stream into a PDU reader and an unspawned PDU sink.
pub(crate) fn split(stream: TcpStream) -> (PduReader, PduSink) {
    // PDUs are small and latency-bound; Nagle would stall the window.
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    (
        FramedRead::new(read, CommandCodec::new()),
        FramedWrite::new(write, CommandCodec::new()),
    )
}

/// Cloneable handle for queueing PDUs on a connection.
#[derive(Clone)]
pub(crate) struct PduSender(mpsc::Sender<Command>);

impl PduSender {
    /// Queues a PDU; gives it back if the connection's writer is gone.
    pub(crate) async fn send(&self, command: Command) -> Result<(), Command> {
        self.0.send(command).await.map_err(|e| e.0)
    }
}

/// The writer task of one connection.
pub(crate) struct PduWriter {
    sender: PduSender,
    close: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    /// The task's result was taken; a JoinHandle must not be polled again.
    finished: bool,
}

impl PduWriter {
    pub(crate) fn spawn(sink: PduSink) -> PduWriter {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (close_tx, close_rx) = oneshot::channel();
        let task = tokio::spawn(write_loop(rx, close_rx, sink));
        PduWriter {
            sender: PduSender(tx),
            close: Some(close_tx),
            task,
            finished: false,
        }
    }

    pub(crate) fn sender(&self) -> &PduSender {
        &self.sender
    }

    /// Resolves when the writer stopped, i.e. the socket failed; never
    /// resolves twice.
    pub(crate) async fn stopped(&mut self) {
        if self.finished {
            std::future::pending::<()>().await;
        }
        let _ = (&mut self.task).await;
        self.finished = true;
    }

    /// Flushes what is already queued and closes the write side; gives up
    /// after `grace` so a peer that stopped reading cannot hold us.
    pub(crate) async fn close(mut self, grace: Duration) {
        if let Some(close) = self.close.take() {
            let _ = close.send(());
        }
        if self.finished {
            return;
        }
        if tokio::time::timeout(grace, &mut self.task).await.is_err() {
            self.task.abort();
        }
    }

    pub(crate) fn abort(&self) {
        self.task.abort();
    }
}

async fn write_loop(
    mut rx: mpsc::Receiver<Command>,
    mut close: oneshot::Receiver<()>,
    mut sink: PduSink,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let closing = tokio::select! {
            biased;
            _ = &mut close => {
                // Closing is explicit because other holders of the sender may
                // outlive the connection. Queued responses and unbinds still
                // go out; queued submits do not, as their callers have been
                // told the link was lost and will retry them.
                while let Ok(command) = rx.try_recv() {
                    if command.id() != CommandId::SubmitSm {
                        batch.push(command);
                    }
                }
                true
            }
            n = rx.recv_many(&mut batch, BATCH) => n == 0,
        };
        for command in batch.drain(..) {
            if let Err(e) = sink.feed(command).await {
                debug!(error = %e, "SMPP write failed");
                return;
            }
        }
        if let Err(e) = SinkExt::<Command>::flush(&mut sink).await {
            debug!(error = %e, "SMPP flush failed");
            return;
        }
        if closing {
            break;
        }
    }
    let _ = SinkExt::<Command>::close(&mut sink).await;
}

/// Sequence numbers for PDUs we originate: 1..=0x7FFFFFFF, wrapping.
#[derive(Debug, Default)]
pub(crate) struct SeqGen(AtomicU32);

impl SeqGen {
    pub(crate) fn next(&self) -> u32 {
        self.0.fetch_add(1, Ordering::Relaxed) % 0x7FFF_FFFF + 1
    }
}

/// A request PDU with the given sequence number.
pub(crate) fn request(pdu: impl Into<Pdu>, seq: u32) -> Command {
    Command::new(CommandStatus::EsmeRok, seq, pdu)
}

/// A body-less response: what SMPP wants for errors (v3.4 omits the body
/// when command_status is non-zero) and for the empty acks.
pub(crate) fn response(id: CommandId, status: u32, seq: u32) -> Command {
    Command::from_parts(CommandParts::new(
        id,
        CommandStatus::from(status),
        seq,
        None,
    ))
}
