//! The retry sweep on its own (no background pipeline): a dead endpoint's backlog neither
//! costs more than one attempt per run nor hides another endpoint's due deliveries.

use std::time::Duration;

use dsync_domain::ids::EnvironmentId;
use dsync_domain::webhooks::{AddressPolicy, DeliveryState, WebhookEndpoint};
use dsync_tests::bare_store;
use dsync_tests::event_batch::committed_events;
use dsync_tests::receiver::Receiver;

/// The due-index partition a delivery of this endpoint lands in (as the store spreads them).
fn partition(endpoint: &WebhookEndpoint) -> u128 {
    endpoint.id.ulid().random() % 8
}

#[tokio::test]
async fn a_dead_endpoints_backlog_does_not_hide_another_endpoints_deliveries() {
    let (_engine, store) = bare_store("sweep").await;
    let app = dsync_fanout::App::new(
        store.clone(),
        dsync_fanout::Config {
            timeout: Duration::from_secs(2),
            addresses: AddressPolicy::local(),
            ..Default::default()
        },
    );
    let environment = EnvironmentId::generate();
    let now = dsync_domain::time::now_millis();
    let healthy = Receiver::start().await;
    let alive = WebhookEndpoint::new(environment, healthy.url(), Vec::new(), now);
    // Nothing listens on port 9 (discard): every attempt is refused, an unanswered attempt.
    let dead = loop {
        let candidate =
            WebhookEndpoint::new(environment, "http://127.0.0.1:9/".into(), Vec::new(), now);
        if partition(&candidate) == partition(&alive) {
            break candidate;
        }
    };
    // Marked failing, so the stream path leaves every delivery due now for the sweep.
    let subscribe = |endpoint: WebhookEndpoint| {
        let store = store.clone();
        async move {
            store.create_webhook_endpoint(&endpoint).await.unwrap();
            store
                .set_webhook_endpoint_failing(&environment, &endpoint.id, Some(now))
                .await
                .unwrap();
        }
    };
    // 250 events while only the dead endpoint is subscribed, then one for both.
    subscribe(dead.clone()).await;
    let backlog = committed_events(&store, &environment, 250).await;
    dsync_fanout::stream::handle_batch(&app, backlog).await;
    subscribe(alive.clone()).await;
    let last = committed_events(&store, &environment, 1).await;
    dsync_fanout::stream::handle_batch(&app, last).await;

    let report = dsync_fanout::sweep::run(&app, None).await.unwrap();
    assert_eq!(
        healthy.received().len(),
        1,
        "reached behind 251 due deliveries"
    );
    assert_eq!(report.delivered, 1);
    assert_eq!(
        report.attempted, 2,
        "the dead endpoint costs one attempt per run"
    );
    let dead_deliveries = store
        .endpoint_deliveries(&dead.id, None, 100)
        .await
        .unwrap();
    let attempted = dead_deliveries
        .deliveries
        .iter()
        .chain(
            store
                .endpoint_deliveries(&dead.id, dead_deliveries.deliveries.last(), 100)
                .await
                .unwrap()
                .deliveries
                .iter(),
        )
        .filter(|d| d.attempts > 0)
        .count();
    assert!(attempted <= 1);
    let alive_deliveries = store
        .endpoint_deliveries(&alive.id, None, 10)
        .await
        .unwrap();
    assert_eq!(
        alive_deliveries.deliveries[0].state,
        DeliveryState::Succeeded
    );
}
