//! Link tests against the real test SMSC on 127.0.0.1:0.

mod events;
mod faults;
mod keepalive;
mod lifecycle;
mod submit;

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::timeout;

use super::{
    spawn_link, LinkEvent, LinkHandle, LinkStatus, OutgoingSm, SmscConfig, TestSmsc,
    TestSmscOptions,
};

const WAIT: Duration = Duration::from_secs(5);

async fn start_smsc() -> TestSmsc {
    let options = TestSmscOptions {
        system_id: "esme".into(),
        password: "pw".into(),
    };
    TestSmsc::start("127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap()
}

/// Short timers so failure paths finish quickly.
fn fast_config(smsc: &TestSmsc) -> SmscConfig {
    let mut config = SmscConfig::from_url(&smsc.url()).unwrap();
    config.reconnect_min = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(200);
    config.response_timeout = Duration::from_secs(2);
    config
}

fn sm(destination: &str) -> OutgoingSm {
    OutgoingSm {
        destination: destination.into(),
        esm_class: 0,
        data_coding: 0x04,
        short_message: b"hello".to_vec(),
        registered_delivery: false,
    }
}

async fn wait_status(handle: &LinkHandle, what: impl Fn(&LinkStatus) -> bool) -> LinkStatus {
    let mut rx = handle.watch_status();
    let status = timeout(WAIT, rx.wait_for(|s| what(s)))
        .await
        .expect("status not reached in time")
        .expect("status channel closed");
    status.clone()
}

async fn wait_bound(handle: &LinkHandle) {
    wait_status(handle, |s| matches!(s, LinkStatus::Bound { .. })).await;
}

async fn next_event(events: &mut mpsc::Receiver<LinkEvent>) -> LinkEvent {
    timeout(WAIT, events.recv())
        .await
        .expect("no event in time")
        .expect("event channel closed")
}

async fn bound_link(config: SmscConfig) -> (LinkHandle, mpsc::Receiver<LinkEvent>) {
    let (handle, events) = spawn_link(config);
    wait_bound(&handle).await;
    (handle, events)
}
