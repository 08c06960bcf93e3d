use super::super::{BindMode, ReceiptState, SubmitOutcome};
use super::*;

#[tokio::test]
async fn inbound_deliver_sm_becomes_event() {
    let smsc = start_smsc().await;
    assert!(!smsc.deliver_inbound("15551230030", "4242", b"hi").await);
    let (link, mut events) = bound_link(fast_config(&smsc)).await;

    assert!(smsc.deliver_inbound("15551230030", "4242", b"STOP").await);
    assert_eq!(
        next_event(&mut events).await,
        LinkEvent::Inbound {
            source_addr: "15551230030".into(),
            destination_addr: "4242".into(),
            data_coding: 0,
            esm_class: 0,
            short_message: b"STOP".to_vec(),
        }
    );
    link.shutdown().await;
}

#[tokio::test]
async fn transmitter_receiver_mode_uses_two_binds() {
    let smsc = start_smsc().await;
    let mut config = fast_config(&smsc);
    config.bind_mode = BindMode::TransmitterReceiver;
    let (link, mut events) = bound_link(config).await;
    assert!(matches!(
        link.status(),
        LinkStatus::Bound {
            mode: "transmitter+receiver",
            ..
        }
    ));
    assert_eq!(smsc.bind_count(), 2);

    let mut msg = sm("15551230031");
    msg.registered_delivery = true;
    let SubmitOutcome::Accepted { message_id } = link.submit(msg).await.unwrap() else {
        panic!("not accepted");
    };
    // The transmitter session cannot receive, so this came over the receiver.
    match next_event(&mut events).await {
        LinkEvent::Receipt {
            message_id: id,
            state,
            ..
        } => {
            assert_eq!(id, message_id);
            assert_eq!(state, ReceiptState::Delivered);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(smsc.deliver_inbound("15551230032", "4242", b"MO").await);
    assert!(matches!(
        next_event(&mut events).await,
        LinkEvent::Inbound { .. }
    ));
    link.shutdown().await;
}
