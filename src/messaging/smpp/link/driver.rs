//! The link task: establish, serve, tear down, back off, repeat.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::super::config::{BindMode, SmscConfig};
use super::connection::Connection;
use super::handle::{Shared, Slot};
use super::pdu::Role;
use super::serve::{serve, shutdown_requested, Ending, ServeCtx};
use super::session::Session;
use super::{LinkEvent, LinkStatus};

/// The bound connections of one session.
enum Bound {
    Transceiver(Connection),
    Pair { tx: Connection, rx: Connection },
}

/// Marks the link stopped however the task ends, panics included, so
/// `shutdown()` and waiting submits never hang.
struct StoppedGuard(Arc<Shared>);

impl Drop for StoppedGuard {
    fn drop(&mut self) {
        self.0.close();
        self.0.set_status(LinkStatus::Stopped);
    }
}

pub(super) async fn run(
    shared: Arc<Shared>,
    events: mpsc::Sender<LinkEvent>,
    shutdown: watch::Receiver<bool>,
) {
    let _stopped = StoppedGuard(shared.clone());
    let config = &shared.config;
    let mut backoff = config.reconnect_min;
    let mut attempt: u32 = 0;
    loop {
        attempt = attempt.saturating_add(1);
        shared.set_status(LinkStatus::Connecting { attempt });
        let established = tokio::select! {
            bound = establish(config) => bound,
            _ = shutdown_requested(&shutdown) => break,
        };
        let reason = match established {
            Ok(bound) => {
                attempt = 0;
                backoff = config.reconnect_min;
                match run_session(&shared, bound, &events, &shutdown).await {
                    Ending::Unbound => break,
                    Ending::Failed(reason) => reason,
                }
            }
            Err(reason) => reason,
        };
        warn!(smsc = %config.redacted(), %reason, retry_in = ?backoff, "SMPP link down");
        shared.set_status(LinkStatus::Down {
            reason,
            retry_in: backoff,
        });
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown_requested(&shutdown) => break,
        }
        backoff = next_backoff(backoff, config);
    }
}

fn next_backoff(current: Duration, config: &SmscConfig) -> Duration {
    current
        .saturating_mul(2)
        .min(config.reconnect_max)
        .max(config.reconnect_min)
}

async fn establish(config: &SmscConfig) -> Result<Bound, String> {
    match config.bind_mode {
        BindMode::Transceiver => Ok(Bound::Transceiver(
            Connection::open(config, Role::Transceiver).await?,
        )),
        BindMode::TransmitterReceiver => {
            let tx = Connection::open(config, Role::Transmitter).await?;
            match Connection::open(config, Role::Receiver).await {
                Ok(rx) => Ok(Bound::Pair { tx, rx }),
                Err(reason) => {
                    tx.close().await;
                    Err(reason)
                }
            }
        }
    }
}

async fn run_session(
    shared: &Shared,
    bound: Bound,
    events: &mpsc::Sender<LinkEvent>,
    shutdown: &watch::Receiver<bool>,
) -> Ending {
    let config = &shared.config;
    let mode = config.bind_mode.as_str();
    let submitter = match &bound {
        Bound::Transceiver(conn) | Bound::Pair { tx: conn, .. } => conn,
    };
    let session = Arc::new(Session::new(
        submitter.writer.sender().clone(),
        submitter.seq.clone(),
    ));
    info!(smsc = %config.redacted(), mode, "SMPP link bound");
    shared.set_status(LinkStatus::Bound {
        since: SystemTime::now(),
        mode,
    });
    shared.set_slot(Slot::Up(session.clone()));

    let ctx = ServeCtx {
        config,
        session: &session,
        events,
        shutdown,
    };
    let (ending, connections) = match bound {
        Bound::Transceiver(mut conn) => (serve(&mut conn, &ctx).await, vec![conn]),
        Bound::Pair { mut tx, mut rx } => {
            let ending = serve_pair(&mut tx, &mut rx, &ctx).await;
            (ending, vec![tx, rx])
        }
    };

    // Stop new dispatches first, then fail whatever is still outstanding.
    shared.set_slot(Slot::Down);
    let lost = session.close();
    if lost > 0 {
        warn!(smsc = %config.redacted(), lost, "outstanding submits lost with the link");
    }
    for conn in connections {
        conn.close().await;
    }
    ending
}

/// Serves both connections; a failure of either ends both, while an
/// unbind for shutdown lets the other finish its own handshake.
async fn serve_pair(tx: &mut Connection, rx: &mut Connection, ctx: &ServeCtx<'_>) -> Ending {
    let tx_serve = serve(tx, ctx);
    let rx_serve = serve(rx, ctx);
    tokio::pin!(tx_serve, rx_serve);
    tokio::select! {
        ending = &mut tx_serve => match ending {
            Ending::Unbound => rx_serve.await,
            failed => failed,
        },
        ending = &mut rx_serve => match ending {
            Ending::Unbound => tx_serve.await,
            failed => failed,
        },
    }
}
