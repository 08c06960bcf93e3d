//! Opening one TCP connection to the SMSC and binding it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rusmpp::CommandId;
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::super::config::SmscConfig;
use super::super::status::{describe_status, ESME_ROK};
use super::super::wire::{self, request, response, PduReader, PduSink, PduWriter, SeqGen};
use super::pdu::Role;

/// Time allowed to flush an unbind or unbind_resp before the socket closes.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// A bound connection.
pub(super) struct Connection {
    pub(super) role: Role,
    pub(super) reader: PduReader,
    pub(super) writer: PduWriter,
    pub(super) seq: Arc<SeqGen>,
}

impl Connection {
    /// Connects and binds; the error is the reason shown in `LinkStatus::Down`.
    pub(super) async fn open(config: &SmscConfig, role: Role) -> Result<Connection, String> {
        let target = format!("{}:{}", config.host, config.port);
        let stream = match timeout(
            config.response_timeout,
            TcpStream::connect((config.host.as_str(), config.port)),
        )
        .await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(format!("connect to {target} failed: {e}")),
            Err(_) => return Err(format!("connect to {target} timed out")),
        };
        let (mut reader, mut sink) = wire::split(stream);
        let seq = Arc::new(SeqGen::default());
        let bind_seq = seq.next();
        sink.send(request(role.bind_pdu(config)?, bind_seq))
            .await
            .map_err(|e| format!("{} not sent: {e}", role.name()))?;
        match timeout(
            config.response_timeout,
            await_bind_resp(&mut reader, &mut sink, role, bind_seq),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => return Err(reason),
            Err(_) => return Err(format!("no {}_resp in time", role.name())),
        }
        Ok(Connection {
            role,
            reader,
            writer: PduWriter::spawn(sink),
            seq,
        })
    }

    /// Closes the socket after flushing anything queued (e.g. unbind_resp).
    pub(super) async fn close(self) {
        drop(self.reader);
        self.writer.close(CLOSE_GRACE).await;
    }
}

async fn await_bind_resp(
    reader: &mut PduReader,
    sink: &mut PduSink,
    role: Role,
    bind_seq: u32,
) -> Result<(), String> {
    loop {
        let command = match reader.next().await {
            Some(Ok(command)) => command,
            Some(Err(e)) => return Err(format!("{} failed: {e}", role.name())),
            None => return Err(format!("connection closed during {}", role.name())),
        };
        let seq = command.sequence_number();
        let status = u32::from(command.status());
        match command.id() {
            id if id == role.response_id() && seq == bind_seq => {
                return if status == ESME_ROK {
                    Ok(())
                } else {
                    Err(format!("bind refused: {}", describe_status(status)))
                };
            }
            CommandId::GenericNack if seq == bind_seq => {
                return Err(format!(
                    "bind refused: generic_nack {}",
                    describe_status(status)
                ));
            }
            // Some SMSCs probe before answering the bind; staying silent
            // would get us dropped.
            CommandId::EnquireLink => {
                sink.send(response(CommandId::EnquireLinkResp, ESME_ROK, seq))
                    .await
                    .map_err(|e| format!("{} failed: {e}", role.name()))?;
            }
            _ => {}
        }
    }
}
