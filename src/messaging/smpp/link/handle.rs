//! The public face of a link: `spawn_link` and the cloneable `LinkHandle`.

use std::sync::Arc;

use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::timeout;

use super::super::config::SmscConfig;
use super::super::error::LinkError;
use super::super::status::is_transient;
use super::driver;
use super::pdu::SubmitTemplate;
use super::rate::RateLimiter;
use super::session::{Dispatch, PendingGuard, Reply, Session};
use super::{LinkEvent, LinkStatus, OutgoingSm, SubmitOutcome, MAX_SHORT_MESSAGE};

/// Events are buffered this deep before the read loop waits for the consumer.
const EVENT_QUEUE: usize = 1024;

/// Where submits should go right now.
pub(super) enum Slot {
    Down,
    Up(Arc<Session>),
    Closed,
}

/// State shared by the handles and the driver task.
pub(super) struct Shared {
    pub(super) config: SmscConfig,
    template: SubmitTemplate,
    window: Semaphore,
    rate: Option<RateLimiter>,
    slot: watch::Sender<Slot>,
    status: watch::Sender<LinkStatus>,
}

impl Shared {
    pub(super) fn set_status(&self, status: LinkStatus) {
        self.status.send_replace(status);
    }

    /// Publishes where submits go; `Closed` is final.
    pub(super) fn set_slot(&self, slot: Slot) {
        self.slot.send_if_modified(|current| {
            if matches!(current, Slot::Closed) {
                return false;
            }
            *current = slot;
            true
        });
    }

    /// Makes every current and future submit fail with `Closed`.
    pub(super) fn close(&self) {
        self.slot.send_replace(Slot::Closed);
        self.window.close();
    }
}

/// Handle to a running link; cheap to clone. When the last clone is
/// dropped the link unbinds and stops as if `shutdown` had been called.
#[derive(Clone)]
pub struct LinkHandle {
    shared: Arc<Shared>,
    control: Arc<Control>,
}

/// Owned only by handles, so the driver notices when they are all gone.
struct Control {
    shutdown: watch::Sender<bool>,
}

/// Spawns the link task (connect, bind, keepalive, reconnect with back-off,
/// read loop). deliver_sm PDUs are acknowledged and forwarded as events;
/// keep draining the receiver (or drop it): while it is full the read loop
/// waits, which also holds back submit responses.
pub fn spawn_link(config: SmscConfig) -> (LinkHandle, mpsc::Receiver<LinkEvent>) {
    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        template: SubmitTemplate::new(&config),
        window: Semaphore::new(config.window.clamp(1, Semaphore::MAX_PERMITS)),
        rate: RateLimiter::new(config.rate_limit_per_sec),
        slot: watch::channel(Slot::Down).0,
        status: watch::channel(LinkStatus::Connecting { attempt: 0 }).0,
        config,
    });
    tokio::spawn(driver::run(shared.clone(), events_tx, shutdown_rx));
    let handle = LinkHandle {
        shared,
        control: Arc::new(Control {
            shutdown: shutdown_tx,
        }),
    };
    (handle, events_rx)
}

impl LinkHandle {
    /// Waits for the link to be bound, a free window slot and the rate
    /// limiter, sends the submit_sm and awaits its response.
    ///
    /// `Err(LinkLost)` means the connection dropped while the PDU was
    /// outstanding (the SMSC never acknowledged it); `Err(Timeout)` means no
    /// response in `response_timeout` and the link is being recycled.
    pub async fn submit(&self, sm: OutgoingSm) -> Result<SubmitOutcome, LinkError> {
        self.submit_while(sm, || true).await
    }

    /// [`submit`](Self::submit), asking `wanted` once the PDU's turn has
    /// come (rate slot, window slot, bound session), just before it goes
    /// out: the wait can be long, and a sender whose right to send the
    /// message lapsed meanwhile must not send it. `Err(Withdrawn)` then,
    /// and nothing was sent.
    pub async fn submit_while(
        &self,
        sm: OutgoingSm,
        wanted: impl Fn() -> bool,
    ) -> Result<SubmitOutcome, LinkError> {
        let len = sm.short_message.len();
        if len > MAX_SHORT_MESSAGE {
            return Err(LinkError::TooLong(len));
        }
        let mut command = self.shared.template.build(sm)?;
        if let Some(rate) = &self.shared.rate {
            rate.acquire().await;
        }
        let _permit = self
            .shared
            .window
            .acquire()
            .await
            .map_err(|_| LinkError::Closed)?;
        let mut stale = None;
        loop {
            let session = self.bound_session(stale.as_ref()).await?;
            if !wanted() {
                return Err(LinkError::Withdrawn);
            }
            match session.dispatch(command).await {
                Dispatch::Sent(seq, rx) => {
                    let _guard = PendingGuard::new(&session, seq);
                    return match timeout(self.shared.config.response_timeout, rx).await {
                        Ok(Ok(reply)) => Ok(outcome(reply)),
                        Ok(Err(_)) => Err(LinkError::LinkLost),
                        Err(_) => {
                            session.recycle();
                            Err(LinkError::Timeout)
                        }
                    };
                }
                Dispatch::NotSent(returned) => {
                    // The session died under us before the PDU left; wait
                    // for its replacement rather than spinning on it.
                    command = returned;
                    stale = Some(session);
                }
            }
        }
    }

    async fn bound_session(&self, stale: Option<&Arc<Session>>) -> Result<Arc<Session>, LinkError> {
        let mut slot = self.shared.slot.subscribe();
        let slot = slot
            .wait_for(|slot| match slot {
                Slot::Up(s) => stale.is_none_or(|old| !Arc::ptr_eq(s, old)),
                Slot::Closed => true,
                Slot::Down => false,
            })
            .await
            .map_err(|_| LinkError::Closed)?;
        match &*slot {
            Slot::Up(session) => Ok(session.clone()),
            _ => Err(LinkError::Closed),
        }
    }

    /// The current status.
    pub fn status(&self) -> LinkStatus {
        self.shared.status.borrow().clone()
    }

    pub fn watch_status(&self) -> watch::Receiver<LinkStatus> {
        self.shared.status.subscribe()
    }

    /// Unbinds if bound (waiting briefly for unbind_resp), stops
    /// reconnecting and returns once the link is `Stopped`. Submits still
    /// waiting for a bind or a window slot get `Closed`.
    pub async fn shutdown(&self) {
        self.shared.close();
        self.control.shutdown.send_replace(true);
        let mut status = self.shared.status.subscribe();
        let _ = status.wait_for(|s| matches!(s, LinkStatus::Stopped)).await;
    }
}

fn outcome(reply: Reply) -> SubmitOutcome {
    match reply {
        Reply::Resp {
            status: 0,
            message_id,
        } => SubmitOutcome::Accepted { message_id },
        Reply::Resp { status, .. } => SubmitOutcome::Rejected {
            status,
            transient: is_transient(status),
        },
        // The SMSC could not even parse the PDU; resending it will not help.
        Reply::Nack { status } => SubmitOutcome::Rejected {
            status,
            transient: false,
        },
    }
}
