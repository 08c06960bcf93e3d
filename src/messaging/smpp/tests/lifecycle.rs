use std::time::{Duration, Instant};

use super::super::LinkError;
use super::*;

#[tokio::test]
async fn shutdown_unbinds_and_closes() {
    let smsc = start_smsc().await;
    let (link, mut events) = bound_link(fast_config(&smsc)).await;

    let started = Instant::now();
    link.shutdown().await;
    // Well under the 2 s unbind wait: the SMSC answered our unbind.
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(link.status(), LinkStatus::Stopped);
    assert_eq!(link.submit(sm("15551230040")).await, Err(LinkError::Closed));
    assert!(timeout(WAIT, events.recv()).await.unwrap().is_none());
    assert_eq!(smsc.bind_count(), 1);
}

#[tokio::test]
async fn shutdown_while_unbound_releases_waiting_submits() {
    let smsc = start_smsc().await;
    smsc.refuse_binds(true);
    let (link, _events) = spawn_link(fast_config(&smsc));
    let waiting = tokio::spawn({
        let link = link.clone();
        async move { link.submit(sm("15551230041")).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    link.shutdown().await;
    assert_eq!(
        timeout(WAIT, waiting).await.unwrap().unwrap(),
        Err(LinkError::Closed)
    );
}

#[tokio::test]
async fn dropping_every_handle_stops_the_link() {
    let smsc = start_smsc().await;
    let (link, mut events) = bound_link(fast_config(&smsc)).await;
    drop(link);
    // The driver exits, closing the event channel.
    assert!(timeout(WAIT, events.recv()).await.unwrap().is_none());
}
