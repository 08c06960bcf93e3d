//! The real client against the real simulator on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};

use super::sim::{BillingSim, SimMode};
use super::*;

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn sim(mode: SimMode) -> BillingSim {
    BillingSim::start(loopback(), mode).await.unwrap()
}

/// Short delays so the whole suite stays well under the time budget.
fn client(url: &str, attempts: u32, timeout: Duration) -> BillingClient {
    let mut config = BillingConfig::new(url);
    config.attempts = attempts;
    config.timeout = timeout;
    config.backoff = Duration::from_millis(20);
    BillingClient::new(config).unwrap()
}

fn quick(url: &str) -> BillingClient {
    client(url, 3, Duration::from_secs(2))
}

fn order(action: Action) -> ServiceOrder {
    ServiceOrder {
        mdn: "3125550100".into(),
        account_id: "ACC-1".into(),
        service: "mobile_web".into(),
        action,
        reference: "feature-activation:42".into(),
    }
}

fn provisioned(id: &str) -> BillingOutcome {
    BillingOutcome::Provisioned {
        transaction_id: id.into(),
    }
}

fn line() -> Vec<(String, String)> {
    vec![("3125550100".into(), "mobile_web".into())]
}

#[tokio::test]
async fn an_added_service_is_provisioned() {
    let sim = sim(SimMode::Succeed).await;
    let key = new_idempotency_key();
    let outcome = quick(&sim.url()).submit(&order(Action::Add), &key).await;
    assert_eq!(outcome.unwrap(), provisioned("BG-000001"));
    let orders = sim.orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].idempotency_key, key);
    assert_eq!(orders[0].order, order(Action::Add));
    assert!(!orders[0].replayed);
    assert_eq!(sim.provisioned(), line());
}

#[tokio::test]
async fn a_refusal_comes_back_with_its_code_and_is_not_retried() {
    let sim = sim(SimMode::Fail {
        code: "E102".into(),
        message: "credit limit exceeded".into(),
    })
    .await;
    let outcome = quick(&sim.url())
        .submit(&order(Action::Add), &new_idempotency_key())
        .await;
    assert_eq!(
        outcome.unwrap(),
        BillingOutcome::Refused {
            code: "E102".into(),
            message: "credit limit exceeded".into()
        }
    );
    assert_eq!(sim.orders().len(), 1);
    assert!(sim.provisioned().is_empty());
}

// Multi-threaded on purpose: the simulator must run on either runtime flavour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_503s_are_retried_with_the_same_key() {
    let sim = sim(SimMode::Succeed).await;
    sim.fail_next(2);
    let key = new_idempotency_key();
    let outcome = quick(&sim.url()).submit(&order(Action::Add), &key).await;
    assert_eq!(outcome.unwrap(), provisioned("BG-000001"));
    let orders = sim.orders();
    assert_eq!(orders.len(), 3);
    assert!(orders.iter().all(|o| o.idempotency_key == key));
    assert_eq!(sim.provisioned(), line());
}

#[tokio::test]
async fn retries_run_out_as_unreachable() {
    let sim = sim(SimMode::Error500).await;
    let err = quick(&sim.url())
        .submit(&order(Action::Add), &new_idempotency_key())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BillingError::Unreachable { attempts: 3, cause, .. } if cause.contains("503")),
        "{err}"
    );
    // The gateway said it took nothing in.
    assert!(!err.may_be_done());
    assert_eq!(sim.orders().len(), 3);
    assert!(sim.provisioned().is_empty());
}

#[tokio::test]
async fn a_timeout_is_unreachable_and_the_same_key_later_provisions_once() {
    let sim = sim(SimMode::Timeout).await;
    let key = new_idempotency_key();
    let impatient = client(&sim.url(), 2, Duration::from_millis(300));
    let err = impatient
        .submit(&order(Action::Add), &key)
        .await
        .unwrap_err();
    assert!(
        matches!(err, BillingError::Unreachable { attempts: 2, .. }),
        "{err}"
    );
    // The order was sent: the gateway may have carried it out.
    assert!(err.may_be_done());
    assert!(sim.provisioned().is_empty());

    sim.set_mode(SimMode::Succeed);
    let outcome = quick(&sim.url()).submit(&order(Action::Add), &key).await;
    assert_eq!(outcome.unwrap(), provisioned("BG-000001"));
    let again = quick(&sim.url()).submit(&order(Action::Add), &key).await;
    assert_eq!(again.unwrap(), provisioned("BG-000001"));
    assert_eq!(sim.provisioned(), line());
    let orders = sim.orders();
    assert_eq!(orders.len(), 4);
    assert!(orders.iter().all(|o| o.idempotency_key == key));
}

#[tokio::test]
async fn a_replayed_key_gets_the_same_answer_and_changes_nothing() {
    let sim = sim(SimMode::Succeed).await;
    let billing = quick(&sim.url());
    let add_key = new_idempotency_key();
    let added = billing.submit(&order(Action::Add), &add_key).await.unwrap();
    assert_eq!(added, provisioned("BG-000001"));
    let removed = billing
        .submit(&order(Action::Remove), &new_idempotency_key())
        .await
        .unwrap();
    assert_eq!(removed, provisioned("BG-000002"));
    assert!(sim.provisioned().is_empty());

    // A late retry of the add must not put the service back on the bill.
    let replayed = billing.submit(&order(Action::Add), &add_key).await.unwrap();
    assert_eq!(replayed, added);
    assert!(sim.provisioned().is_empty());
    let last = sim.orders().pop().unwrap();
    assert!(last.replayed);
    assert_eq!(last.idempotency_key, add_key);
}

#[tokio::test]
async fn removing_a_missing_service_is_refused_e404() {
    let sim = sim(SimMode::Succeed).await;
    let outcome = quick(&sim.url())
        .submit(&order(Action::Remove), &new_idempotency_key())
        .await
        .unwrap();
    assert!(
        matches!(&outcome, BillingOutcome::Refused { code, .. } if code == "E404"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_key_reused_for_another_order_is_refused() {
    let sim = sim(SimMode::Succeed).await;
    let billing = quick(&sim.url());
    let key = new_idempotency_key();
    billing.submit(&order(Action::Add), &key).await.unwrap();
    let outcome = billing.submit(&order(Action::Remove), &key).await.unwrap();
    assert!(
        matches!(&outcome, BillingOutcome::Refused { code, .. } if code == "E409"),
        "{outcome:?}"
    );
    assert_eq!(sim.provisioned(), line());
}

#[tokio::test]
async fn nothing_listening_is_unreachable() {
    let port = {
        let listener = std::net::TcpListener::bind(loopback()).unwrap();
        listener.local_addr().unwrap().port()
    };
    let err = quick(&format!("http://127.0.0.1:{port}"))
        .submit(&order(Action::Add), &new_idempotency_key())
        .await
        .unwrap_err();
    assert!(
        matches!(err, BillingError::Unreachable { attempts: 3, .. }),
        "{err}"
    );
    // No connection, no order.
    assert!(!err.may_be_done());
}

#[tokio::test]
async fn a_stopped_simulator_is_unreachable() {
    let sim = sim(SimMode::Succeed).await;
    quick(&sim.url())
        .submit(&order(Action::Add), &new_idempotency_key())
        .await
        .unwrap();
    sim.stop();
    sim.stop();
    // stop() only sends the command; the server task closes the listener
    // moments later, and sooner or later under a loaded CI machine.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(sim.local_addr())
        .await
        .is_ok()
    {
        assert!(tokio::time::Instant::now() < deadline, "still listening");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A fresh client, so no pooled connection to the old worker is reused.
    let err = quick(&sim.url())
        .submit(&order(Action::Remove), &new_idempotency_key())
        .await
        .unwrap_err();
    assert!(matches!(err, BillingError::Unreachable { .. }), "{err}");
    assert_eq!(sim.provisioned(), line());
}

#[tokio::test]
async fn a_2xx_with_garbage_is_a_protocol_error_and_not_retried() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let server = HttpServer::new(move || {
        let counter = counter.clone();
        App::new().route(
            "/v1/service-orders",
            web::post().to(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body("<html>gateway maintenance</html>")
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .bind(loopback())
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);

    let err = quick(&format!("http://{addr}"))
        .submit(&order(Action::Add), &new_idempotency_key())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BillingError::Protocol(m) if m.contains("gateway maintenance")),
        "{err}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    handle.stop(false).await;
}

#[tokio::test]
async fn malformed_requests_are_refused_with_400_and_not_recorded() {
    let sim = sim(SimMode::Succeed).await;
    let http = reqwest::Client::new();
    let endpoint = format!("{}/v1/service-orders", sim.url());
    let no_key = http
        .post(&endpoint)
        .json(&order(Action::Add))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 400);
    let body: serde_json::Value = no_key.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"result": "failed", "code": "E400", "message": "Idempotency-Key header required"})
    );
    let bad_json = http
        .post(&endpoint)
        .header("Idempotency-Key", "k1")
        .header("Content-Type", "application/json")
        .body("{\"mdn\":")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_json.status(), 400);
    let body: serde_json::Value = bad_json.json().await.unwrap();
    assert_eq!(body["code"], "E400");
    assert!(sim.orders().is_empty());
    assert!(sim.provisioned().is_empty());
}

#[tokio::test]
async fn an_empty_key_is_refused_before_anything_is_sent() {
    let sim = sim(SimMode::Succeed).await;
    let err = quick(&sim.url())
        .submit(&order(Action::Add), "")
        .await
        .unwrap_err();
    assert!(matches!(err, BillingError::Config(_)), "{err}");
    assert!(sim.orders().is_empty());
}

#[test]
fn bad_configuration_is_refused_up_front() {
    let err = BillingClient::new(BillingConfig::new("ftp://gw")).unwrap_err();
    assert!(matches!(err, BillingError::Config(_)), "{err}");
}
