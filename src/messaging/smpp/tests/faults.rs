use std::collections::HashSet;
use std::net::TcpListener as StdListener;
use std::time::Duration;

use super::super::{LinkError, SubmitOutcome};
use super::*;

#[tokio::test]
async fn refused_bind_reports_status_then_recovers() {
    let smsc = start_smsc().await;
    smsc.refuse_binds(true);
    let (link, _events) = spawn_link(fast_config(&smsc));

    let down = wait_status(&link, |s| matches!(s, LinkStatus::Down { .. })).await;
    let LinkStatus::Down { reason, retry_in } = down else {
        unreachable!()
    };
    assert_eq!(reason, "bind refused: ESME_RBINDFAIL (0x0000000D)");
    assert!(retry_in <= Duration::from_millis(200));
    assert_eq!(smsc.bind_count(), 0);

    smsc.refuse_binds(false);
    wait_bound(&link).await;
    assert_eq!(smsc.bind_count(), 1);
    link.shutdown().await;
}

#[tokio::test]
async fn wrong_credentials_name_the_status() {
    let smsc = start_smsc().await;
    let mut config = fast_config(&smsc);
    config.password = "nope".into();
    let (link, _events) = spawn_link(config.clone());
    let down = wait_status(&link, |s| matches!(s, LinkStatus::Down { .. })).await;
    assert!(
        matches!(&down, LinkStatus::Down { reason, .. } if reason == "bind refused: ESME_RINVPASWD (0x0000000E)"),
        "{down:?}"
    );
    link.shutdown().await;

    config.system_id = "other".into();
    let (link, _events) = spawn_link(config);
    let down = wait_status(&link, |s| matches!(s, LinkStatus::Down { .. })).await;
    assert!(
        matches!(&down, LinkStatus::Down { reason, .. } if reason.contains("ESME_RINVSYSID")),
        "{down:?}"
    );
    link.shutdown().await;
}

#[tokio::test]
async fn refused_connect_backs_off_and_connects_when_smsc_appears() {
    // Reserve a free port, then leave it closed.
    let addr = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = SmscConfig::from_url(&format!("smpp://esme:pw@{addr}")).unwrap();
    config.reconnect_min = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(100);
    let (link, _events) = spawn_link(config);

    let down = wait_status(&link, |s| matches!(s, LinkStatus::Down { .. })).await;
    assert!(
        matches!(&down, LinkStatus::Down { reason, .. } if reason.starts_with("connect to")),
        "{down:?}"
    );
    // Back-off grows towards the cap.
    wait_status(&link, |s| {
        matches!(s, LinkStatus::Down { retry_in, .. } if *retry_in == Duration::from_millis(100))
    })
    .await;

    let options = TestSmscOptions {
        system_id: "esme".into(),
        password: "pw".into(),
    };
    let smsc = TestSmsc::start(addr, options).await.unwrap();
    wait_bound(&link).await;
    assert!(matches!(
        link.submit(sm("15551230010")).await,
        Ok(SubmitOutcome::Accepted { .. })
    ));
    link.shutdown().await;
    smsc.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_link_fails_outstanding_and_reconnects() {
    let smsc = start_smsc().await;
    let (link, _events) = bound_link(fast_config(&smsc)).await;
    smsc.drop_link_after(5);

    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let link = link.clone();
            let destination = format!("1555200{i:04}");
            tokio::spawn(async move {
                let result = link.submit(sm(&destination)).await;
                (destination, result)
            })
        })
        .collect();
    let mut accepted = HashSet::new();
    let mut lost = HashSet::new();
    for task in tasks {
        let (destination, result) = timeout(WAIT, task).await.unwrap().unwrap();
        match result {
            Ok(SubmitOutcome::Accepted { .. }) => accepted.insert(destination),
            Err(LinkError::LinkLost) => lost.insert(destination),
            other => panic!("unexpected {other:?}"),
        };
    }
    assert!(!lost.is_empty(), "the dropped submit must be reported lost");
    assert!(accepted.len() >= 4, "submits before the drop are answered");
    // What the SMSC accepted is exactly what callers saw accepted.
    let recorded: HashSet<_> = smsc
        .accepted()
        .into_iter()
        .map(|r| r.destination_addr)
        .collect();
    assert_eq!(recorded, accepted);

    wait_bound(&link).await;
    assert_eq!(smsc.bind_count(), 2);
    for destination in &lost {
        assert!(matches!(
            link.submit(sm(destination)).await,
            Ok(SubmitOutcome::Accepted { .. })
        ));
    }
    assert_eq!(smsc.accepted_count(), 20);
    link.shutdown().await;
}

#[tokio::test]
async fn missing_submit_response_times_out_and_recycles() {
    let smsc = start_smsc().await;
    smsc.set_response_delay(Duration::from_secs(1));
    let mut config = fast_config(&smsc);
    config.response_timeout = Duration::from_millis(200);
    let (link, _events) = bound_link(config).await;

    assert_eq!(
        link.submit(sm("15551230020")).await,
        Err(LinkError::Timeout)
    );
    let down = wait_status(&link, |s| matches!(s, LinkStatus::Down { .. })).await;
    assert!(
        matches!(&down, LinkStatus::Down { reason, .. } if reason.contains("submit_sm_resp")),
        "{down:?}"
    );
    smsc.set_response_delay(Duration::ZERO);
    wait_bound(&link).await;
    assert!(matches!(
        link.submit(sm("15551230021")).await,
        Ok(SubmitOutcome::Accepted { .. })
    ));
    assert_eq!(smsc.bind_count(), 2);
    link.shutdown().await;
}
