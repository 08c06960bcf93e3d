//! An in-process SMSC for integration tests, benchmarks and `mdm smsc-sim`.
//!
//! It accepts any number of ESME connections, checks credentials, answers
//! submits (optionally throttling, rejecting, delaying or dropping the
//! link on cue), records what it accepted and sends delivery receipts and
//! MO messages to bound receivers.

mod replies;
mod session;
mod state;
pub mod texts;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::timeout;
use tracing::{debug, info};

use state::Shared;

/// Credentials the test SMSC accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSmscOptions {
    pub system_id: String,
    pub password: String,
}

impl Default for TestSmscOptions {
    fn default() -> Self {
        TestSmscOptions {
            system_id: "mdm".into(),
            password: "secret".into(),
        }
    }
}

/// One submit_sm the SMSC answered with ESME_ROK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSubmit {
    pub sequence: u32,
    pub message_id: String,
    pub source_addr: String,
    pub destination_addr: String,
    pub esm_class: u8,
    pub data_coding: u8,
    pub registered_delivery: u8,
    pub short_message: Vec<u8>,
    pub received_at: SystemTime,
}

/// Handle to a running test SMSC; clones share it. It serves until
/// [`stop`](TestSmsc::stop) or the end of the tokio runtime, not until the
/// last handle is dropped.
#[derive(Clone)]
pub struct TestSmsc {
    shared: Arc<Shared>,
}

impl TestSmsc {
    /// Listens on `bind` (use `127.0.0.1:0` in tests) and serves until `stop`.
    pub async fn start(bind: SocketAddr, options: TestSmscOptions) -> io::Result<TestSmsc> {
        let listener = TcpListener::bind(bind).await?;
        let shared = Arc::new(Shared::new(options, listener.local_addr()?));
        info!(addr = %shared.local_addr, "test SMSC listening");
        tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(TestSmsc { shared })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// `smpp://id:pw@127.0.0.1:port` for [`SmscConfig::from_url`](super::SmscConfig::from_url).
    pub fn url(&self) -> String {
        let options = &self.shared.options;
        format!(
            "smpp://{}:{}@{}",
            encode_userinfo(&options.system_id),
            encode_userinfo(&options.password),
            self.shared.local_addr
        )
    }

    /// Every submit answered with ESME_ROK, in answer order.
    pub fn accepted(&self) -> Vec<RecordedSubmit> {
        self.shared.accepted()
    }

    /// The plain texts handsets have whole: single short messages, and
    /// concatenated ones once every part arrived, joined by reference.
    pub fn texts(&self) -> Vec<texts::ReceivedText> {
        texts::reassemble(&self.accepted())
    }

    pub fn accepted_count(&self) -> usize {
        *self.shared.accepted_count.borrow()
    }

    /// Submits answered with a non-zero status.
    pub fn rejected_count(&self) -> usize {
        self.shared.rejected.load(Ordering::Relaxed)
    }

    /// True once at least `n` submits were accepted, false on timeout.
    pub async fn wait_for_accepted(&self, n: usize, limit: Duration) -> bool {
        let mut count = self.shared.accepted_count.subscribe();
        let reached = timeout(limit, count.wait_for(|c| *c >= n)).await;
        matches!(reached, Ok(Ok(_)))
    }

    /// Answers the next `n` submits with ESME_RTHROTTLED.
    pub fn throttle_next(&self, n: usize) {
        self.shared.controls().throttle_next = n;
    }

    /// Answers submits to `destination` with `status` (e.g. ESME_RINVDSTADR).
    pub fn reject_destination(&self, destination: &str, status: u32) {
        self.shared
            .controls()
            .rejected_destinations
            .insert(destination.to_owned(), status);
    }

    /// When the `n`-th submit from now arrives, closes every connection
    /// without answering it (or anything after it); earlier submits are
    /// answered normally. `0` closes every connection now.
    pub fn drop_link_after(&self, n: usize) {
        if n == 0 {
            self.shared.controls().drop_after = None;
            self.shared.drop_all_connections();
        } else {
            self.shared.controls().drop_after = Some(n);
        }
    }

    /// While true, binds are answered with ESME_RBINDFAIL.
    pub fn refuse_binds(&self, refuse: bool) {
        self.shared.controls().refuse_binds = refuse;
    }

    /// Whether accepted submits with registered_delivery set get a receipt
    /// (on by default).
    pub fn set_receipts(&self, on: bool) {
        self.shared.controls().receipts = on;
    }

    /// Delays every submit response, so a window can fill up.
    pub fn set_response_delay(&self, delay: Duration) {
        self.shared.controls().response_delay = delay;
    }

    /// While false, enquire_link is left unanswered (a half-dead SMSC).
    pub fn answer_enquire_links(&self, answer: bool) {
        self.shared.controls().answer_enquire_links = answer;
    }

    /// Sends an MO deliver_sm to a bound receiver or transceiver; false if
    /// none is bound or the message cannot be encoded.
    pub async fn deliver_inbound(&self, source: &str, destination: &str, text: &[u8]) -> bool {
        let Some(target) = self.shared.any_receiver() else {
            return false;
        };
        let Some(pdu) = replies::mo_deliver(source, destination, text) else {
            return false;
        };
        target.send(pdu).await
    }

    /// Successful binds so far (a transmitter+receiver link counts two).
    pub fn bind_count(&self) -> usize {
        self.shared.binds.load(Ordering::Relaxed)
    }

    /// Most submits ever received but not yet answered at one time.
    pub fn max_outstanding(&self) -> usize {
        self.shared.max_outstanding.load(Ordering::Relaxed)
    }

    /// enquire_link PDUs received.
    pub fn enquire_link_count(&self) -> usize {
        self.shared.enquire_links.load(Ordering::Relaxed)
    }

    /// Closes the listener and every connection.
    pub fn stop(&self) {
        self.shared.stop.send_replace(true);
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut stop = shared.stop.subscribe();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    debug!(%peer, "test SMSC accepted a connection");
                    tokio::spawn(session::run(shared.clone(), stream));
                }
                Err(e) => debug!(error = %e, "test SMSC accept failed"),
            },
            _ = stopped(&mut stop) => break,
        }
    }
    info!(addr = %shared.local_addr, "test SMSC stopped");
}

/// Resolves once `stop()` was called (or the SMSC is gone).
pub(super) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // Returns `()` so no watch guard is held across the caller's awaits.
    let _ = stop.wait_for(|s| *s).await;
}

/// Percent-encodes what would break the userinfo part of a URL.
fn encode_userinfo(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
