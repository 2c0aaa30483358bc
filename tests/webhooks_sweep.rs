//! The retry sweep on its own (no background pipeline): a dead endpoint's backlog neither
//! costs more than one attempt per run nor hides another endpoint's due deliveries.

use std::time::Duration;

use dsync_domain::ids::EnvironmentId;
use dsync_domain::webhooks::{AddressPolicy, DeliveryState, WebhookEndpoint};
use dsync_tests::event_batch::committed_events;
use dsync_tests::receiver::Receiver;
use dsync_tests::{bare_store, endpoint_for};

/// The fan-out's defaults, sending to loopback receivers, with `timeout` per attempt.
fn local_config(timeout: Duration) -> dsync_fanout::Config {
    dsync_fanout::Config {
        timeout,
        addresses: AddressPolicy::local(),
        ..Default::default()
    }
}

/// The due-index partition a delivery of this endpoint lands in (as the store spreads them).
fn partition(endpoint: &WebhookEndpoint) -> u128 {
    endpoint.id.ulid().random() % 8
}

#[tokio::test]
async fn a_dead_endpoints_backlog_does_not_hide_another_endpoints_deliveries() {
    let (_engine, store) = bare_store("sweep").await;
    let app = dsync_fanout::App::new(store.clone(), local_config(Duration::from_secs(2)));
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

/// An endpoint back from an outage has a backlog: once its first retry is answered, the
/// sweep sends the next ones several at a time, not one per round trip. The receiver takes
/// 300 ms per answer, so one at a time would space them at least 300 ms apart.
#[tokio::test]
async fn a_recovered_endpoints_backlog_is_retried_several_at_a_time() {
    let (_engine, store) = bare_store("sweepwide").await;
    let app = dsync_fanout::App::new(store.clone(), local_config(Duration::from_secs(5)));
    let slow = Receiver::start().await;
    slow.answer_always(dsync_tests::receiver::Answer::Stall(Duration::from_millis(
        300,
    )));
    let environment = failing_endpoint(&store, &slow).await.environment_id;
    let backlog = committed_events(&store, &environment, 9).await;
    dsync_fanout::stream::handle_batch(&app, backlog).await;
    assert!(slow.received().is_empty());

    let report = dsync_fanout::sweep::run(&app, None).await.unwrap();

    assert_eq!((report.attempted, report.delivered), (9, 9));
    let received = slow.received();
    assert_eq!(received.len(), 9);
    // The first alone: the other eight arrive after its answer, and together.
    assert!(received[1].at - received[0].at >= Duration::from_millis(250));
    assert!(
        received[8].at - received[1].at < Duration::from_millis(250),
        "{:?}",
        received[8].at - received[1].at
    );
}

/// The sweep with a third of DynamoDB calls failing (throttles, conflicts, 500s, answers
/// lost after the write): runs that fail are run again, as the schedule does, and claims
/// whose outcome was lost wait out their lease. In the end every event has reached the
/// receiver and each has exactly one delivery, succeeded.
#[tokio::test]
async fn the_sweep_under_faults_delivers_every_backlogged_event() {
    use dsync_dynamo::faults::{faulty_client, Faults};

    let (engine, store) = bare_store("sweepfaults").await;
    let receiver = Receiver::start().await;
    let endpoint = failing_endpoint(&store, &receiver).await;
    let environment = endpoint.environment_id;
    let config = local_config(Duration::from_millis(200));
    let count = 40;
    let backlog = committed_events(&store, &environment, count).await;
    let plain = dsync_fanout::App::new(store.clone(), config.clone());
    dsync_fanout::stream::handle_batch(&plain, backlog).await;
    let faults = Faults::new(41, 0.3);
    // The SDK's three attempts, as on Lambda: a run reads eight index partitions per page,
    // and with one attempt nearly every run would end at its first page.
    let faulty = dsync_fanout::App::new(
        dsync_dynamo::Store::new(
            faulty_client(&engine.endpoint(), &faults, 3),
            store.tables().clone(),
        ),
        config.clone(),
    );

    let lease = dsync_domain::webhooks::attempt::lease_for(config.timeout);
    let mut failed_runs = 0;
    for round in 0.. {
        assert!(round < 60, "the backlog never drained");
        match dsync_fanout::sweep::run(&faulty, None).await {
            Ok(_) => {}
            Err(_) => failed_runs += 1,
        }
        let page = store
            .endpoint_deliveries(&endpoint.id, None, 100)
            .await
            .unwrap();
        if page
            .deliveries
            .iter()
            .all(|d| d.state == DeliveryState::Succeeded)
        {
            break;
        }
        // What is still pending is due again, or claimed by an attempt whose outcome was
        // lost: that one is due when its lease ends.
        let claimed = page.deliveries.iter().any(|d| {
            d.next_attempt_at
                .is_some_and(|at| at > dsync_domain::time::now_millis())
        });
        tokio::time::sleep(if claimed { lease / 4 } else { lease / 50 }).await;
    }
    println!(
        "{failed_runs} failed runs, {} POSTs, {:?}",
        receiver.received().len(),
        faults.counts()
    );
    assert!(faults.counts().injected() > 0, "faults were injected");
    let page = store
        .endpoint_deliveries(&endpoint.id, None, 100)
        .await
        .unwrap();
    assert_eq!(page.deliveries.len(), count, "one delivery per event");
    let received: std::collections::BTreeSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: std::collections::BTreeSet<String> = page
        .deliveries
        .iter()
        .map(|d| d.event_id.to_string())
        .collect();
    assert_eq!(received, expected, "every event reached the receiver");
}

/// An endpoint marked failing since an outage: the stream path records its deliveries due
/// now, for the sweep, with no inline attempt.
async fn failing_endpoint(store: &dsync_dynamo::Store, receiver: &Receiver) -> WebhookEndpoint {
    let endpoint = endpoint_for(store, receiver).await;
    let since = dsync_domain::time::now_millis();
    store
        .set_webhook_endpoint_failing(&endpoint.environment_id, &endpoint.id, Some(since))
        .await
        .unwrap();
    endpoint
}
