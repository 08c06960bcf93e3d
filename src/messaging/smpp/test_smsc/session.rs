//! One ESME connection to the test SMSC.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use rusmpp::pdus::SubmitSm;
use rusmpp::{Command, CommandId, Pdu};
use tokio::net::TcpStream;
use tracing::debug;

use super::super::status::{
    ESME_RALYBND, ESME_RBINDFAIL, ESME_RINVBNDSTS, ESME_RINVCMDID, ESME_RINVCMDLEN, ESME_RINVPASWD,
    ESME_RINVSYSID, ESME_ROK,
};
use super::super::wire::{self, response, PduSender, PduWriter, SeqGen};
use super::replies::{self, BindKind, ReceiptSource};
use super::state::{Receiver, Shared, Verdict};
use super::{stopped, RecordedSubmit};

/// Time allowed to flush answers already queued when a connection closes.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

enum Flow {
    Continue,
    Close,
    DropAll,
}

struct Conn {
    shared: Arc<Shared>,
    id: u64,
    sender: PduSender,
    seq: Arc<SeqGen>,
    bound: Option<(BindKind, String)>,
}

pub(super) async fn run(shared: Arc<Shared>, stream: TcpStream) {
    let (mut reader, sink) = wire::split(stream);
    let writer = PduWriter::spawn(sink);
    let mut conn = Conn {
        id: shared.next_conn_id(),
        sender: writer.sender().clone(),
        seq: Arc::new(SeqGen::default()),
        bound: None,
        shared,
    };
    let mut kill = conn.shared.kill.subscribe();
    let mut stop = conn.shared.stop.subscribe();
    let graceful = loop {
        tokio::select! {
            frame = reader.next() => match frame {
                Some(Ok(command)) => match conn.handle(command).await {
                    Flow::Continue => {}
                    Flow::Close => break true,
                    Flow::DropAll => {
                        conn.shared.drop_all_connections();
                        break true;
                    }
                },
                Some(Err(e)) => {
                    debug!(error = %e, "test SMSC read failed");
                    break true;
                }
                None => break true,
            },
            _ = kill.changed() => break true,
            _ = stopped(&mut stop) => break false,
        }
    };
    conn.shared.unregister_receiver(conn.id);
    if graceful {
        // Keep reading (and ignoring) until the ESME closes: closing with
        // unread input would reset the connection and could destroy the
        // answers we just flushed before the ESME reads them.
        let discard = async { while let Some(Ok(_)) = reader.next().await {} };
        let _ = tokio::join!(
            writer.close(CLOSE_GRACE),
            tokio::time::timeout(CLOSE_GRACE, discard)
        );
    } else {
        writer.abort();
    }
}

impl Conn {
    async fn handle(&mut self, command: Command) -> Flow {
        let seq = command.sequence_number();
        let reply = match command.id() {
            CommandId::BindTransmitter | CommandId::BindReceiver | CommandId::BindTransceiver => {
                Some(self.on_bind(command))
            }
            CommandId::SubmitSm => return self.on_submit(command).await,
            CommandId::EnquireLink => {
                self.shared.enquire_links.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .controls()
                    .answer_enquire_links
                    .then(|| response(CommandId::EnquireLinkResp, ESME_ROK, seq))
            }
            CommandId::Unbind => {
                self.send(response(CommandId::UnbindResp, ESME_ROK, seq))
                    .await;
                return Flow::Close;
            }
            id if id.is_operation() => Some(response(CommandId::GenericNack, ESME_RINVCMDID, seq)),
            // deliver_sm_resp, enquire_link_resp, generic_nack: nothing to do.
            _ => None,
        };
        if let Some(reply) = reply {
            self.send(reply).await;
        }
        Flow::Continue
    }

    async fn send(&self, command: Command) {
        // A failed send means the writer died; the read side ends soon too.
        let _ = self.sender.send(command).await;
    }

    fn on_bind(&mut self, command: Command) -> Command {
        let seq = command.sequence_number();
        let (kind, system_id, password) = match command.into_parts().pdu {
            Some(Pdu::BindTransmitter(b)) => (BindKind::Transmitter, b.system_id, b.password),
            Some(Pdu::BindReceiver(b)) => (BindKind::Receiver, b.system_id, b.password),
            Some(Pdu::BindTransceiver(b)) => (BindKind::Transceiver, b.system_id, b.password),
            _ => return response(CommandId::GenericNack, ESME_RINVCMDLEN, seq),
        };
        let options = &self.shared.options;
        let status = if self.bound.is_some() {
            ESME_RALYBND
        } else if self.shared.controls().refuse_binds {
            ESME_RBINDFAIL
        } else if system_id.as_str() != options.system_id {
            ESME_RINVSYSID
        } else if password.as_str() != options.password {
            ESME_RINVPASWD
        } else {
            ESME_ROK
        };
        if status == ESME_ROK {
            let system_id = system_id.as_str().to_owned();
            if kind.can_receive() {
                self.shared.register_receiver(Receiver::new(
                    self.id,
                    system_id.clone(),
                    self.sender.clone(),
                    self.seq.clone(),
                ));
            }
            self.bound = Some((kind, system_id));
            self.shared.binds.fetch_add(1, Ordering::Relaxed);
        }
        replies::bind_resp(kind, status, seq)
    }

    async fn on_submit(&mut self, command: Command) -> Flow {
        let seq = command.sequence_number();
        let submit = match command.into_parts().pdu {
            Some(Pdu::SubmitSm(submit)) => submit,
            _ => {
                self.send(response(CommandId::GenericNack, ESME_RINVCMDLEN, seq))
                    .await;
                return Flow::Continue;
            }
        };
        let Some((kind, system_id)) = self.bound.clone().filter(|(k, _)| k.can_submit()) else {
            self.shared.rejected.fetch_add(1, Ordering::Relaxed);
            self.send(response(CommandId::SubmitSmResp, ESME_RINVBNDSTS, seq))
                .await;
            return Flow::Continue;
        };
        self.shared.submit_arrived();
        let (status, delay, receipts) =
            match self.shared.judge_submit(submit.destination_addr.as_str()) {
                Verdict::DropLinks => return Flow::DropAll,
                Verdict::Answer {
                    status,
                    delay,
                    receipts,
                } => (status, delay, receipts),
            };
        let answer = Answer {
            shared: self.shared.clone(),
            sender: self.sender.clone(),
            // A transceiver gets its receipts on the same session.
            own_receiver: (kind == BindKind::Transceiver).then(|| {
                Receiver::new(
                    self.id,
                    system_id.clone(),
                    self.sender.clone(),
                    self.seq.clone(),
                )
            }),
            system_id,
            seq,
            status,
            receipts,
            submit,
            received_at: SystemTime::now(),
        };
        if delay.is_zero() {
            answer.run().await;
        } else {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                answer.run().await;
            });
        }
        Flow::Continue
    }
}

/// Everything needed to answer one submit, possibly later.
struct Answer {
    shared: Arc<Shared>,
    sender: PduSender,
    own_receiver: Option<Receiver>,
    system_id: String,
    seq: u32,
    status: u32,
    receipts: bool,
    submit: SubmitSm,
    received_at: SystemTime,
}

impl Answer {
    async fn run(self) {
        if self.status != ESME_ROK {
            self.shared.rejected.fetch_add(1, Ordering::Relaxed);
            let _ = self
                .sender
                .send(response(CommandId::SubmitSmResp, self.status, self.seq))
                .await;
            self.shared.submit_answered();
            return;
        }
        let message_id = self.shared.next_message_id();
        let parts = self.submit.into_parts();
        let registered_delivery = u8::from(parts.registered_delivery);
        let record = RecordedSubmit {
            sequence: self.seq,
            message_id: message_id.clone(),
            source_addr: parts.source_addr.as_str().to_owned(),
            destination_addr: parts.destination_addr.as_str().to_owned(),
            esm_class: u8::from(parts.esm_class),
            data_coding: u8::from(parts.data_coding),
            registered_delivery,
            short_message: parts.short_message.into_vec(),
            received_at: self.received_at,
        };
        let receipt = (self.receipts && registered_delivery != 0)
            .then(|| {
                replies::receipt(&ReceiptSource {
                    message_id: message_id.clone(),
                    handset: record.destination_addr.clone(),
                    esme_addr: record.source_addr.clone(),
                    text: record.short_message.clone(),
                    submitted: self.received_at,
                })
            })
            .flatten();
        // Recorded before answering so the ESME never sees an acceptance
        // that `accepted()` does not show yet.
        self.shared.record_accepted(record);
        let _ = self
            .sender
            .send(replies::submit_ok(&message_id, self.seq))
            .await;
        self.shared.submit_answered();
        if let Some(receipt) = receipt {
            let target = self
                .own_receiver
                .or_else(|| self.shared.receiver_for(&self.system_id));
            match target {
                Some(target) => {
                    target.send(receipt).await;
                }
                None => debug!(%message_id, "no receiver bound for the receipt"),
            }
        }
    }
}
