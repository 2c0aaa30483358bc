//! What a webhook delivery costs in DynamoDB, counted by a metering client (as
//! `tests/cost.rs` counts provisioning): a stream batch of 100 new events fanned out to one
//! and to three endpoints, and a sweep that retries 100 failed deliveries.
//!
//! `cargo test -p dsync-tests --test webhooks_cost -- --nocapture` prints the table in
//! docs/COST.md.

use std::time::Duration;

use dsync_domain::ids::EnvironmentId;
use dsync_domain::webhooks::{RetrySchedule, WebhookEndpoint};
use dsync_dynamo::metering::{metered_client, Meter, MeterReport};
use dsync_dynamo::Store;
use dsync_tests::event_batch::{committed_events, stream_batch};
use dsync_tests::receiver::{Answer, Receiver};
use dsync_tests::{assert_each_delivered, bare_store};

struct Setup {
    _engine: dsync_local::Engine,
    plain: Store,
    metered: dsync_fanout::App,
    meter: Meter,
    environment: EnvironmentId,
}

async fn setup() -> Setup {
    let (engine, plain) = bare_store("cost").await;
    let endpoint = engine.endpoint();
    let names = plain.tables().clone();
    let meter = Meter::new();
    let config = dsync_fanout::Config {
        schedule: RetrySchedule::new(vec![Duration::ZERO; 3]),
        addresses: dsync_domain::webhooks::AddressPolicy::local(),
        ..Default::default()
    };
    Setup {
        _engine: engine,
        plain,
        metered: dsync_fanout::App::new(
            Store::new(metered_client(&endpoint, &meter), names),
            config,
        ),
        meter,
        environment: EnvironmentId::generate(),
    }
}

impl Setup {
    async fn subscribe(&self, receiver: &Receiver) -> WebhookEndpoint {
        let endpoint = WebhookEndpoint::new(
            self.environment,
            receiver.url(),
            Vec::new(),
            dsync_domain::time::now_millis(),
        );
        self.plain.create_webhook_endpoint(&endpoint).await.unwrap();
        endpoint
    }
}

fn row(label: &str, deliveries: usize, report: &MeterReport) -> (f64, f64, f64) {
    let per = |x: f64| x / deliveries as f64;
    let figures = (
        per(report.total_requests as f64),
        per(report.read_units),
        per(report.write_units),
    );
    println!(
        "| {label} | {deliveries} | {} | {:.2} | {:.2} | {:.2} |",
        report.requests_summary(),
        figures.0,
        figures.1,
        figures.2
    );
    figures
}

#[tokio::test]
async fn a_batchs_deliveries_share_their_requests_and_a_retry_costs_two_writes() {
    let s = setup().await;
    let receivers = [
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    ];
    println!();
    println!("| scenario | deliveries | requests | requests per delivery | RCU per delivery | WCU per delivery |");
    println!("| --- | ---: | --- | ---: | ---: | ---: |");

    // One endpoint, 100 events, every first attempt answered 200.
    s.subscribe(&receivers[0]).await;
    s.meter.reset();
    dsync_fanout::stream::handle_batch(
        &s.metered,
        stream_batch(&s.environment, 1, 100, "dsync.user.created"),
    )
    .await;
    let (requests, reads, writes) =
        row("stream batch, 1 endpoint, delivered", 100, &s.meter.take());
    assert_eq!(receivers[0].received().len(), 100);
    // Per batch: one Query for the endpoints, one BatchGetItem of the 100 keys, four
    // BatchWriteItems to record; the outcomes' BatchWriteItems take what attempts have ended
    // when one is sent (7 here, up to 100 if every attempt ended alone). One PutItem to
    // record and one for the outcome per delivery were 2.0 requests.
    assert!(requests <= 0.6, "{requests} requests per delivery");
    // The record and its due-index entry, the outcome and that entry's removal; the key read.
    assert!(writes <= 4.1, "{writes} WCU per delivery");
    assert!(reads <= 1.05, "{reads} RCU per delivery");

    // Three endpoints, the same number of events.
    s.subscribe(&receivers[1]).await;
    s.subscribe(&receivers[2]).await;
    dsync_fanout::stream::handle_batch(
        &s.metered,
        stream_batch(&s.environment, 101, 100, "dsync.user.updated"),
    )
    .await;
    let (requests, _, _) = row("stream batch, 3 endpoints, delivered", 300, &s.meter.take());
    assert!(requests <= 0.6, "{requests} requests per delivery");

    // 100 deliveries that failed once, then a sweep that retries and delivers them. The
    // events must exist for the sweep to read them, so this part commits real ones.
    for receiver in &receivers {
        receiver.answer_always(Answer::Status(200));
    }
    let failing = Receiver::start().await;
    failing.script(std::iter::repeat_n(Answer::Status(500), 100));
    let all = s.plain.webhook_endpoints(&s.environment).await.unwrap();
    for endpoint in &all {
        s.plain
            .delete_webhook_endpoint(&s.environment, &endpoint.id)
            .await
            .unwrap();
    }
    let endpoint = s.subscribe(&failing).await;
    let events = committed_events(&s.plain, &s.environment, 100).await;
    dsync_fanout::stream::handle_batch(&s.metered, events).await;
    assert_eq!(failing.received().len(), 100);
    s.meter.reset();
    let report = dsync_fanout::sweep::run(&s.metered, None).await.unwrap();
    assert_eq!(report.delivered, 100);
    let (requests, _, _) = row("sweep, retry delivered", 100, &s.meter.take());
    // Claim and outcome (two PutItems) per retry, plus the due-index Queries, the endpoint
    // Query and the events' BatchGetItem per round.
    assert!(requests <= 2.3, "{requests} requests per retry");
    assert_eq!(assert_each_delivered(&s.plain, &endpoint.id, 2).await, 100);
    println!();
}
