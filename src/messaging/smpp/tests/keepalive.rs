use std::time::Duration;

use super::*;

#[tokio::test]
async fn enquire_link_keeps_idle_link_bound() {
    let smsc = start_smsc().await;
    let mut config = fast_config(&smsc);
    config.enquire_link_interval = Duration::from_millis(50);
    let (link, _events) = bound_link(config).await;

    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(matches!(link.status(), LinkStatus::Bound { .. }));
    assert_eq!(smsc.bind_count(), 1);
    assert!(
        smsc.enquire_link_count() >= 3,
        "{}",
        smsc.enquire_link_count()
    );
    link.shutdown().await;
}

#[tokio::test]
async fn unanswered_enquire_link_recycles_the_link() {
    let smsc = start_smsc().await;
    smsc.answer_enquire_links(false);
    let mut config = fast_config(&smsc);
    config.enquire_link_interval = Duration::from_millis(50);
    config.response_timeout = Duration::from_millis(200);
    let (link, _events) = bound_link(config).await;

    let down = wait_status(&link, |s| matches!(s, LinkStatus::Down { .. })).await;
    assert!(
        matches!(&down, LinkStatus::Down { reason, .. } if reason.contains("enquire_link_resp")),
        "{down:?}"
    );
    smsc.answer_enquire_links(true);
    wait_bound(&link).await;
    assert!(smsc.bind_count() >= 2);
    link.shutdown().await;
}
