//! A billing gateway simulator speaking the protocol in the parent module,
//! for tests (on `127.0.0.1:0`) and for `mdm billing-sim`.
//!
//! Its rules:
//! - An `Idempotency-Key` it has answered definitely (success or refusal)
//!   gets the same status and body again and changes nothing; the request
//!   is recorded with `replayed: true`. Reusing a key for a different order
//!   is refused with 409 `E409` (a caller bug worth seeing in a test).
//! - 503 answers, malformed requests and unanswered (`Timeout`) requests do
//!   not tie up their key, so a later attempt with it is processed afresh.
//! - `add` of a service the line has is accepted with the transaction id that
//!   added it: the service is on the bill once, under one transaction.
//!   `remove` of a service the line lacks is refused with 422 `E404`.
//!   Every other success takes the next id: `BG-000001`, `BG-000002`, …
//! - Refusals are 422. A missing `Idempotency-Key`, bad JSON or an empty
//!   field is 400 `E400`; a body not sent as `application/json` is 415
//!   `E415`. None of these is recorded, having no order to record.
//! - [`BillingSim::fail_next`] answers 503 before anything else is looked at,
//!   like an outage in front of the gateway.
//!
//! The actix-web server has one worker thread (with its own runtime, as
//! actix-server runs workers) and leaves OS signals to the host process. Its
//! `Server` future is `tokio::spawn`ed on the caller's runtime, so it works in
//! a plain `#[tokio::test]`; when that runtime ends, or the last clone of the
//! `BillingSim` is dropped, the server stops.

mod http;
mod ledger;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};

use super::order::ServiceOrder;
use ledger::{lock, Ledger};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimMode {
    /// Carries orders out by the business rules above.
    Succeed,
    /// Refuses every new order with 422 and this code and message.
    Fail { code: String, message: String },
    /// Accepts the request, then never answers (sleeps for an hour).
    Timeout,
    /// Answers 503.
    Error500,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordedOrder {
    pub idempotency_key: String,
    pub order: ServiceOrder,
    pub at: SystemTime,
    /// Answered from an earlier answer to the same key.
    pub replayed: bool,
}

#[derive(Clone)]
pub struct BillingSim {
    addr: SocketAddr,
    ledger: Arc<Mutex<Ledger>>,
    server: Arc<Running>,
}

/// Only `BillingSim` holds this (the handlers hold just the ledger), so the
/// server stops when the last `BillingSim` clone goes.
struct Running {
    handle: ServerHandle,
}

impl Running {
    fn stop(&self) {
        // The stop command is sent before the returned future is polled;
        // the future only reports completion, which nobody here waits for.
        drop(self.handle.stop(false));
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

impl BillingSim {
    /// Listens on `bind` (port 0 picks a free one); call inside a tokio runtime.
    pub async fn start(bind: SocketAddr, mode: SimMode) -> std::io::Result<BillingSim> {
        let ledger = Arc::new(Mutex::new(Ledger::new(mode)));
        let data = web::Data::from(ledger.clone());
        let server =
            HttpServer::new(move || App::new().app_data(data.clone()).configure(http::routes))
                .workers(1)
                .disable_signals()
                .bind(bind)?;
        let addr = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| std::io::Error::other("the simulator bound no address"))?;
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::error!(error = %e, "billing simulator stopped with an error");
            }
        });
        tracing::info!(%addr, "billing simulator listening");
        Ok(BillingSim {
            addr,
            ledger,
            server: Arc::new(Running { handle }),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to put in `BillingConfig::url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: SimMode) {
        lock(&self.ledger).set_mode(mode);
    }

    /// The next `n` requests get 503, whatever they carry; replaces any count left.
    pub fn fail_next(&self, n: usize) {
        lock(&self.ledger).fail_next(n);
    }

    /// Every request that carried a key and a readable order, in arrival order.
    pub fn orders(&self) -> Vec<RecordedOrder> {
        lock(&self.ledger).orders().to_vec()
    }

    /// `(mdn, service)` pairs on the bill now, sorted.
    pub fn provisioned(&self) -> Vec<(String, String)> {
        lock(&self.ledger).provisioned()
    }

    /// Stops listening and drops open connections (unanswered requests
    /// included); idempotent. Returns at once: the server task carries the
    /// stop out moments later, so a request sent right after may still land.
    pub fn stop(&self) {
        self.server.stop();
    }
}
