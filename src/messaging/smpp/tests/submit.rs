use std::time::{Duration, Instant};

use super::super::status::{ESME_RINVDSTADR, ESME_RTHROTTLED};
use super::super::{LinkError, ReceiptState, SubmitOutcome};
use super::*;

#[tokio::test]
async fn accepted_submit_then_receipt_event() {
    let smsc = start_smsc().await;
    let (link, mut events) = bound_link(fast_config(&smsc)).await;

    let mut msg = sm("15551230001");
    msg.esm_class = 0x40;
    msg.short_message = vec![0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0xAA];
    msg.registered_delivery = true;
    let outcome = link.submit(msg.clone()).await.unwrap();
    let SubmitOutcome::Accepted { message_id } = outcome else {
        panic!("unexpected {outcome:?}");
    };

    let recorded = smsc.accepted();
    assert_eq!(recorded.len(), 1);
    let r = &recorded[0];
    assert_eq!(r.message_id, message_id);
    assert_eq!(r.destination_addr, "15551230001");
    assert_eq!(
        (r.esm_class, r.data_coding, r.registered_delivery),
        (0x40, 0x04, 1)
    );
    assert_eq!(r.short_message, msg.short_message);

    match next_event(&mut events).await {
        LinkEvent::Receipt {
            message_id: id,
            state,
            error_code,
            raw,
        } => {
            assert_eq!(id, message_id);
            assert_eq!(state, ReceiptState::Delivered);
            assert_eq!(error_code.as_deref(), Some("000"));
            assert!(raw.contains("stat:DELIVRD"), "{raw}");
        }
        other => panic!("unexpected {other:?}"),
    }
    link.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_limits_outstanding_submits() {
    let smsc = start_smsc().await;
    smsc.set_response_delay(Duration::from_millis(50));
    let (link, _events) = bound_link(fast_config(&smsc)).await;

    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let link = link.clone();
            tokio::spawn(async move { link.submit(sm(&format!("1555000{i:04}"))).await })
        })
        .collect();
    for task in tasks {
        let outcome = task.await.unwrap().unwrap();
        assert!(
            matches!(outcome, SubmitOutcome::Accepted { .. }),
            "{outcome:?}"
        );
    }
    assert_eq!(smsc.accepted_count(), 50);
    // Exactly the window: never more, and pipelining actually fills it.
    assert_eq!(smsc.max_outstanding(), 10);
    link.shutdown().await;
}

#[tokio::test]
async fn throttled_is_transient_and_bad_destination_permanent() {
    let smsc = start_smsc().await;
    let (link, _events) = bound_link(fast_config(&smsc)).await;

    smsc.throttle_next(1);
    assert_eq!(
        link.submit(sm("15551230002")).await.unwrap(),
        SubmitOutcome::Rejected {
            status: ESME_RTHROTTLED,
            transient: true
        }
    );
    smsc.reject_destination("15550000000", ESME_RINVDSTADR);
    assert_eq!(
        link.submit(sm("15550000000")).await.unwrap(),
        SubmitOutcome::Rejected {
            status: 0x0B,
            transient: false
        }
    );
    assert!(matches!(
        link.submit(sm("15551230002")).await.unwrap(),
        SubmitOutcome::Accepted { .. }
    ));
    assert_eq!(smsc.rejected_count(), 2);
    assert_eq!(smsc.accepted_count(), 1);
    link.shutdown().await;
}

#[tokio::test]
async fn unsendable_messages_fail_without_sending() {
    let smsc = start_smsc().await;
    let (link, _events) = bound_link(fast_config(&smsc)).await;

    let mut long = sm("15551230003");
    long.short_message = vec![0; 255];
    assert_eq!(link.submit(long).await, Err(LinkError::TooLong(255)));
    let mut max = sm("15551230003");
    max.short_message = vec![0; 254];
    assert!(matches!(
        link.submit(max).await,
        Ok(SubmitOutcome::Accepted { .. })
    ));
    let bad = "123456789012345678901";
    assert_eq!(
        link.submit(sm(bad)).await,
        Err(LinkError::InvalidAddress(bad.into()))
    );
    assert_eq!(smsc.accepted_count(), 1);
    assert_eq!(smsc.rejected_count(), 0);
    link.shutdown().await;
}

#[tokio::test]
async fn rate_limit_spaces_submits() {
    let smsc = start_smsc().await;
    let mut config = fast_config(&smsc);
    config.rate_limit_per_sec = Some(20);
    let (link, _events) = bound_link(config).await;

    let started = Instant::now();
    let tasks: Vec<_> = (0..11)
        .map(|i| {
            let link = link.clone();
            tokio::spawn(async move { link.submit(sm(&format!("1555111{i:04}"))).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_ok());
    }
    // 11 submits at 20/s: the last slot is 500 ms after the first.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(480), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    link.shutdown().await;
}

#[tokio::test]
async fn submit_waits_for_bind_instead_of_failing() {
    let smsc = start_smsc().await;
    smsc.refuse_binds(true);
    let (link, _events) = spawn_link(fast_config(&smsc));

    let pending = tokio::spawn({
        let link = link.clone();
        async move { link.submit(sm("15551230004")).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished());
    smsc.refuse_binds(false);
    let outcome = timeout(WAIT, pending).await.unwrap().unwrap().unwrap();
    assert!(matches!(outcome, SubmitOutcome::Accepted { .. }));
    link.shutdown().await;
}
