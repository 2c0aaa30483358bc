//! Deliveries per second to a receiver on loopback: the fan-out function handling stream
//! batches of 100 new events, with one and with four endpoints, and the retry sweep.
//!
//! `bash benches/webhook-throughput.sh` (or `cargo bench -p dsync-tests --bench
//! webhook_fanout`). The store is the embedded engine over HTTP on the same machine, as in
//! the tests; on AWS, DynamoDB round trips are longer and Lambda runs batches of shards in
//! parallel, so read these as the cost of the code path, not as a deployment's ceiling. One
//! run delays every DynamoDB request by 10 ms (`dsync_dynamo::with_latency`), about what a
//! Lambda function waits for DynamoDB, to show what the round trips of a batch cost.

use std::time::{Duration, Instant};

use dsync_domain::ids::EnvironmentId;
use dsync_domain::webhooks::{AddressPolicy, RetrySchedule, WebhookEndpoint};
use dsync_tests::event_batch::stream_batch;
use dsync_tests::receiver::{Answer, Receiver};

const EVENTS: usize = 2_000;
/// Raw POSTs take a tenth of the stream path's time: ten times as many keep the baseline
/// from swinging with a scheduler hiccup.
const RAW_POSTS: usize = 20_000;
const BATCH: usize = 100;
const DYNAMODB_LATENCY: Duration = Duration::from_millis(10);

/// The target: the fan-out delivers at least half as fast as bare POSTs to the same receiver.
const TARGET_RATIO: f64 = 0.5;

#[tokio::main]
async fn main() {
    println!("| scenario | deliveries | seconds | deliveries per second |");
    println!("| --- | ---: | ---: | ---: |");
    let (posts, raw_took) = raw_posts().await;
    row(
        "raw HTTP POSTs, same client and concurrency, no store",
        posts,
        raw_took,
    );
    let raw_rate = posts as f64 / raw_took.as_secs_f64();
    let mut one_endpoint_rate = 0.0;
    for endpoints in [1, 4] {
        let (deliveries, took) = stream_path(endpoints, Duration::ZERO).await;
        row(
            &format!("stream batches of {BATCH}, {endpoints} endpoint(s)"),
            deliveries,
            took,
        );
        if endpoints == 1 {
            one_endpoint_rate = deliveries as f64 / took.as_secs_f64();
        }
    }
    let (deliveries, took) = stream_path(1, DYNAMODB_LATENCY).await;
    row(
        &format!(
            "stream batches of {BATCH}, 1 endpoint, {} ms per DynamoDB request",
            DYNAMODB_LATENCY.as_millis()
        ),
        deliveries,
        took,
    );
    let (deliveries, took) = sweep_path(Duration::ZERO).await;
    row(
        "sweep retrying failed deliveries, 1 endpoint",
        deliveries,
        took,
    );
    let (deliveries, took) = sweep_path(DYNAMODB_LATENCY).await;
    row(
        &format!(
            "sweep retrying failed deliveries, 1 endpoint, {} ms per DynamoDB request",
            DYNAMODB_LATENCY.as_millis()
        ),
        deliveries,
        took,
    );
    let ratio = one_endpoint_rate / raw_rate;
    let within = if ratio >= TARGET_RATIO { "yes" } else { "NO" };
    println!();
    println!("| fan-out vs raw POSTs | ratio | target | within |");
    println!("| --- | ---: | ---: | --- |");
    println!("| stream path, 1 endpoint | {ratio:.2} | ≥ {TARGET_RATIO} | {within} |");
}

/// Ten times the stream path's one-endpoint deliveries as POSTs, with the delivery client
/// the fan-out builds and as many in flight as it allows, but nothing recorded or signed:
/// what the receiver and loopback HTTP alone allow on this machine right now.
async fn raw_posts() -> (usize, Duration) {
    use futures::StreamExt;
    let receiver = Receiver::start().await;
    let config = dsync_fanout::Config::default();
    let client = dsync_fanout::address::http_client(AddressPolicy::local(), config.timeout);
    let url = receiver.url();
    let body = serde_json::json!({
        "id": "event_01JZ0000000000000000000000",
        "event": "dsync.user.updated",
        "data": {"object": "directory_user", "id": "directory_user_1", "state": "active", "emails": []},
        "created_at": "2026-11-29T00:00:00.000Z"
    })
    .to_string();
    let started = Instant::now();
    let sent = futures::stream::iter(0..RAW_POSTS)
        .map(|_| {
            let request = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone());
            async move { request.send().await.is_ok_and(|r| r.status().is_success()) }
        })
        .buffer_unordered(config.concurrency)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    let took = started.elapsed();
    assert_eq!(sent, RAW_POSTS);
    assert_eq!(receiver.received().len(), RAW_POSTS);
    (sent, took)
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

/// The fan-out over a fresh engine, its DynamoDB requests each delayed by `latency`.
async fn fixture(latency: Duration) -> Fixture {
    let (engine, plain) = dsync_tests::bare_store("bench").await;
    let config = dsync_dynamo::sdk_config(dsync_dynamo::ConnectOptions {
        endpoint: Some(engine.endpoint()),
        region: None,
    })
    .await;
    let client = dsync_dynamo::client_from(&dsync_dynamo::with_latency(&config, latency));
    let store = dsync_dynamo::Store::new(client, plain.tables().clone());
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

async fn stream_path(endpoints: usize, latency: Duration) -> (usize, Duration) {
    let f = fixture(latency).await;
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
async fn sweep_path(latency: Duration) -> (usize, Duration) {
    let f = fixture(latency).await;
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
