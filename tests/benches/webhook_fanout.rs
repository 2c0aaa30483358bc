//! Deliveries per second to a receiver on loopback: the fan-out function handling stream
//! batches of 100 new events, with one and with four endpoints, and the retry sweep.
//!
//! `bash benches/webhook-throughput.sh` (or `cargo bench -p dsync-tests --bench
//! webhook_fanout`). The store is the embedded engine over HTTP on the same machine, as in
//! the tests; on AWS, DynamoDB round trips are longer and Lambda runs batches of shards in
//! parallel, so read these as the cost of the code path, not as a deployment's ceiling.

use std::time::{Duration, Instant};

use dsync_domain::ids::EnvironmentId;
use dsync_domain::webhooks::{AddressPolicy, RetrySchedule, WebhookEndpoint};
use dsync_tests::event_batch::stream_batch;
use dsync_tests::receiver::{Answer, Receiver};

const EVENTS: usize = 2_000;
const BATCH: usize = 100;

#[tokio::main]
async fn main() {
    println!("| scenario | deliveries | seconds | deliveries per second |");
    println!("| --- | ---: | ---: | ---: |");
    for endpoints in [1, 4] {
        let (deliveries, took) = stream_path(endpoints).await;
        row(
            &format!("stream batches of {BATCH}, {endpoints} endpoint(s)"),
            deliveries,
            took,
        );
    }
    let (deliveries, took) = sweep_path().await;
    row(
        "sweep retrying failed deliveries, 1 endpoint",
        deliveries,
        took,
    );
}

fn row(label: &str, deliveries: usize, took: Duration) {
    println!(
        "| {label} | {deliveries} | {:.2} | {:.0} |",
        took.as_secs_f64(),
        deliveries as f64 / took.as_secs_f64()
    );
}

struct Fixture {
    _engine: dsync_local::Engine,
    app: dsync_fanout::App,
    environment: EnvironmentId,
}

async fn fixture() -> Fixture {
    let (engine, store) = dsync_tests::bare_store("bench").await;
    let config = dsync_fanout::Config {
        schedule: RetrySchedule::new(vec![Duration::ZERO; 3]),
        addresses: AddressPolicy::local(),
        ..Default::default()
    };
    Fixture {
        _engine: engine,
        app: dsync_fanout::App::new(store, config),
        environment: EnvironmentId::generate(),
    }
}

async fn subscribe(f: &Fixture, receiver: &Receiver) {
    let endpoint = WebhookEndpoint::new(
        f.environment,
        receiver.url(),
        Vec::new(),
        dsync_domain::time::now_millis(),
    );
    f.app
        .store
        .create_webhook_endpoint(&endpoint)
        .await
        .unwrap();
}

async fn stream_path(endpoints: usize) -> (usize, Duration) {
    let f = fixture().await;
    let mut receivers = Vec::new();
    for _ in 0..endpoints {
        let receiver = Receiver::start().await;
        subscribe(&f, &receiver).await;
        receivers.push(receiver);
    }
    let batches: Vec<_> = (0..EVENTS / BATCH)
        .map(|b| {
            stream_batch(
                &f.environment,
                (b * BATCH) as u64 + 1,
                BATCH,
                "dsync.user.updated",
            )
        })
        .collect();
    let started = Instant::now();
    for batch in batches {
        dsync_fanout::stream::handle_batch(&f.app, batch).await;
    }
    let took = started.elapsed();
    let delivered: usize = receivers.iter().map(|r| r.received().len()).sum();
    assert_eq!(delivered, EVENTS * endpoints);
    (delivered, took)
}

/// Failed first attempts are recorded by the stream path (not timed); the sweep then retries
/// them all. The sweep reads the events back from the log, so these are committed ones.
async fn sweep_path() -> (usize, Duration) {
    let f = fixture().await;
    let receiver = Receiver::start().await;
    receiver.script(std::iter::repeat_n(Answer::Status(500), EVENTS / 4));
    subscribe(&f, &receiver).await;
    let count = EVENTS / 4;
    let batch =
        dsync_tests::event_batch::committed_events(&f.app.store, &f.environment, count).await;
    dsync_fanout::stream::handle_batch(&f.app, batch).await;
    assert_eq!(receiver.received().len(), count);
    let started = Instant::now();
    let report = dsync_fanout::sweep::run(&f.app, None).await.unwrap();
    let took = started.elapsed();
    assert_eq!(report.delivered, count);
    (count, took)
}
