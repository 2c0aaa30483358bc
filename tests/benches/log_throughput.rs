//! Issue 11, target 2: how many events per second one environment's log commits when every
//! DynamoDB request takes a network round trip, with 1, 4 and 16 concurrent projectors; and
//! target 3: how many users per second reach the log when 32 SCIM clients create them through
//! the local runner.
//!
//! A projector is one policy Lambda instance: its own client, its own event-head and context
//! caches, handing stream batches of user records to `dsync_policy::stream::handle_batch`, the
//! function the Lambda calls. Lambda runs one batch at a time per shard (times the mapping's
//! `ParallelizationFactor`, at most 10), so 4 and 16 stand for a table with a few shards or a
//! raised factor. The users are created first, through the SCIM function with no latency; the
//! projectors then commit one `dsync.user.created` each, all in one environment. After each run
//! the log is read back: its sequence numbers must be 1..=N with no gap, and each user created
//! exactly once.
//!
//! The latency is `dsync_dynamo::with_latency`'s: half a round trip before each request reaches
//! the engine and half after it answers, requests in flight overlapping freely.
//!
//! `bash benches/log-throughput.sh`; alone: `cargo bench -p dsync-tests --bench
//! log_throughput`. `DSYNC_BENCH_LOG_USERS` (default 4000): users per projector run;
//! `DSYNC_BENCH_LOG_BATCH` (default 160): user records per stream batch, as many as the
//! template's `BatchSize` of 500 records holds when users are created over SCIM (a create
//! makes about three records: the user, its `userName` guard and the record count); `DSYNC_BENCH_LOG_LATENCIES`
//! (default `0,10`, ms); `DSYNC_BENCH_LOG_PROJECTORS` (default `1,4,16`);
//! `DSYNC_BENCH_SCIM_USERS` (default 1000; 0 skips target 3).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dsync_domain::ids::{DirectoryId, EnvironmentId, ProviderUserId};
use dsync_domain::model::ProviderKind;
use dsync_dynamo::metering::Meter;
use dsync_dynamo::{Store, StoredEvent, TableNames};
use dsync_local::streams::Event;
use dsync_tests::read_log;
use futures::StreamExt;
use serde_json::{json, Value};

/// Keep-alive SCIM clients in target 3, as issue 11 states it.
const SCIM_CLIENTS: usize = 32;

fn list<T: std::str::FromStr>(variable: &str, default: &str) -> Vec<T> {
    std::env::var(variable)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{variable}: not a list of numbers"))
        })
        .collect()
}

fn number(variable: &str, default: usize) -> usize {
    list::<usize>(variable, &default.to_string())[0]
}

#[tokio::main]
async fn main() {
    let users = number("DSYNC_BENCH_LOG_USERS", 4000);
    let batch = number("DSYNC_BENCH_LOG_BATCH", 160).max(1);
    let latencies: Vec<u64> = list("DSYNC_BENCH_LOG_LATENCIES", "0,10");
    let projector_counts: Vec<usize> = list("DSYNC_BENCH_LOG_PROJECTORS", "1,4,16");
    let scim_users = number("DSYNC_BENCH_SCIM_USERS", 1000);

    let engine = dsync_local::Engine::start(None)
        .await
        .expect("the engine starts");
    let endpoint = engine.endpoint();
    let names = TableNames::with_prefix("log");
    let setup = Store::new(plain_client(&endpoint), names.clone());
    dsync_dynamo::tables::create_tables(setup.client(), &names)
        .await
        .expect("tables");

    println!("## Event log of one environment ({users} users per run, stream batches of {batch})");
    println!();
    println!("Target (issue 11): at 10 ms per request, at least 2,000 events/s with the projectors Lambda would run.");
    println!();
    println!("| latency per request | projectors | commits | events | seconds | events/s | failed requests/s (cancelled transactions, refused turns) | requests per event | log partition WCU per event (WCU/s; DynamoDB allows 1,000) | CPU s (engine included) | requests |");
    println!("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for &latency in &latencies {
        for &projectors in &projector_counts {
            for turns in designs(projectors) {
                let row = projector_run(
                    &endpoint,
                    &setup,
                    Duration::from_millis(latency),
                    projectors,
                    users,
                    batch,
                    turns,
                )
                .await;
                println!(
                    "| {latency} ms | {projectors} | {} | {} | {:.1} | {:.0} | {:.1} | {:.1} | {:.2} ({:.0}) | {:.1} | {} |",
                    if turns { "turns" } else { "racing (before turns)" },
                    row.events,
                    row.took.as_secs_f64(),
                    row.events as f64 / row.took.as_secs_f64(),
                    row.cancelled as f64 / row.took.as_secs_f64(),
                    row.requests as f64 / row.events as f64,
                    row.log_units / row.events as f64,
                    row.log_units / row.took.as_secs_f64(),
                    row.cpu,
                    row.by_operation,
                );
            }
        }
    }
    drop(engine);

    if scim_users > 0 {
        println!();
        println!("## SCIM creates to the log through the local runner ({scim_users} users, {SCIM_CLIENTS} clients)");
        println!();
        println!("Target (issue 11): at 10 ms per request, at least 500 users/s reaching the log.");
        println!();
        println!("| latency per request | SCIM creates/s | users/s reaching the log | last event after the last response | CPU s (runner included) |");
        println!("| ---: | ---: | ---: | ---: | ---: |");
        for &latency in &latencies {
            scim_run(Duration::from_millis(latency), scim_users).await;
        }
    }
}

fn plain_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    client(endpoint, Duration::ZERO, None)
}

/// A client for the local engine, as `dsync_dynamo::connect` builds one, whose requests each
/// take `latency` and report to `meter`.
fn client(endpoint: &str, latency: Duration, meter: Option<&Meter>) -> aws_sdk_dynamodb::Client {
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "bench",
        ))
        .http_client(dsync_dynamo::delayed_http_client(
            dsync_dynamo::https_client(),
            latency,
        ));
    if let Some(meter) = meter {
        config = config.interceptor(meter.interceptor());
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

struct RunFigures {
    events: usize,
    took: Duration,
    /// CPU seconds the process (projectors and engine) used: well under `took` at 10 ms
    /// means the run waited on round trips, near it (or near the cores) that it was short of
    /// CPU, as on a loaded machine.
    cpu: f64,
    /// `GetItem×3 Query×400 …`: where the requests per event go.
    by_operation: String,
    cancelled: u64,
    requests: u64,
    /// Write units the events table took: all of one environment's log is one partition key.
    log_units: f64,
}

/// The commit designs to run with `projectors`: with turns at the head, and, where
/// processes race (more than one) and `DSYNC_BENCH_LOG_COMPARE` is not `0`, without them,
/// as before turns.
fn designs(projectors: usize) -> Vec<bool> {
    let compare = std::env::var("DSYNC_BENCH_LOG_COMPARE").map_or(true, |v| v != "0");
    if projectors > 1 && compare {
        vec![false, true]
    } else {
        vec![true]
    }
}

async fn projector_run(
    endpoint: &str,
    setup: &Store,
    latency: Duration,
    projectors: usize,
    users: usize,
    batch: usize,
    turns: bool,
) -> RunFigures {
    let (environment, directory, ids) = directory_with_users(setup, users).await;
    let batches: Arc<Vec<Event>> = Arc::new(
        ids.chunks(batch)
            .map(|chunk| user_batch(&directory, chunk))
            .collect(),
    );
    let meter = Meter::new();
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..projectors {
        // One Lambda instance: its own client and caches, configured as the function is.
        let mut store = Store::new(
            client(endpoint, latency, Some(&meter)),
            setup.tables().clone(),
        );
        if !turns {
            store = store.without_commit_turns();
        }
        let app = dsync_policy::App::new(store).with_context_cache(dsync_policy::CONTEXT_CACHE);
        let (batches, next) = (batches.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(event) = batches.get(index) else {
                    return;
                };
                let response = dsync_policy::stream::handle_batch(&app, event.clone()).await;
                assert!(
                    response.batch_item_failures.is_empty(),
                    "batch {index} failed: {:?}",
                    response.batch_item_failures
                );
            }
        }));
    }
    for task in tasks {
        task.await.expect("a projector");
    }
    let took = started.elapsed();
    let cpu = cpu_seconds() - cpu_before;
    let report = meter.snapshot();
    let events = read_log(setup, &environment).await;
    check_log(&events, &ids);
    RunFigures {
        events: events.len(),
        took,
        cpu,
        by_operation: report.requests_summary(),
        cancelled: report.failed_requests,
        requests: report.total_requests,
        log_units: report
            .units_by_table
            .get(&setup.tables().events)
            .map_or(0.0, |units| units.write),
    }
}

/// User and system CPU time of this process so far (Linux: `/proc/self/stat`, in the
/// kernel's fixed 100 ticks per second; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    // utime and stime: fields 14 and 15 of the line, so 11 and 12 counted from 0 here.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A fresh environment and directory (a log starting at 0) holding `users` provider users,
/// created through the SCIM function.
async fn directory_with_users(
    store: &Store,
    users: usize,
) -> (EnvironmentId, DirectoryId, Vec<ProviderUserId>) {
    let now = dsync_domain::time::now_millis();
    let (environment, directory, token) = dsync_tests::environment_with_directory(
        store,
        ("bench", "bench"),
        ProviderKind::GenericScimV2,
        now,
    )
    .await;
    let scim = dsync_provider_webhooks::App::new(store.clone(), Default::default());
    let (scim, token) = (&scim, &token);
    let ids = futures::stream::iter(0..users)
        .map(|i| async move {
            let request = http::Request::builder()
                .method(http::Method::POST)
                .uri(format!("http://localhost/scim/v2/{}/Users", directory.id))
                .header(http::header::HOST, "localhost")
                .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
                .header(http::header::CONTENT_TYPE, "application/scim+json")
                .body(Bytes::from(dsync_tests::load::scim_create_body(i)))
                .expect("a request");
            let response = dsync_provider_webhooks::handle(scim, request).await;
            assert_eq!(response.status().as_u16(), 201, "SCIM create {i}");
            let body: Value = serde_json::from_slice(response.body()).expect("a SCIM user");
            ProviderUserId::parse(body["id"].as_str().expect("an id")).expect("a user id")
        })
        .buffered(8)
        .collect()
        .await;
    (environment.id, directory.id, ids)
}

/// The stream batch the provider-records table would deliver for these users' creation.
fn user_batch(directory: &DirectoryId, users: &[ProviderUserId]) -> Event {
    let records: Vec<Value> = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            json!({
                "eventID": format!("{i}"),
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "SequenceNumber": format!("{i:021}"),
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                    "SizeBytes": 256,
                    "NewImage": {
                        "type": {"S": "user"},
                        "directory_id": {"S": directory.to_string()},
                        "id": {"S": user.to_string()},
                    }
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/p/stream/x",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("a stream event")
}

/// Gap-free (1..=N in order) and one `dsync.user.created` per user, none twice.
fn check_log(events: &[StoredEvent], users: &[ProviderUserId]) {
    for (i, event) in events.iter().enumerate() {
        assert_eq!(
            event.sequence,
            i as u64 + 1,
            "the log has a gap or a repeat"
        );
        assert_eq!(event.name, "dsync.user.created", "event {}", event.sequence);
    }
    let created: HashSet<&str> = events
        .iter()
        .map(|e| e.data["id"].as_str().expect("a directory user id"))
        .collect();
    assert_eq!(created.len(), events.len(), "a user was created twice");
    assert_eq!(events.len(), users.len(), "a user is missing from the log");
}

async fn scim_run(latency: Duration, users: usize) {
    let (running, data_dir) = dsync_tests::load::start_runner(true, latency).await;
    let token = running.bootstrap.scim_token.clone();
    let path = format!("/scim/v2/{}/Users", running.bootstrap.directory_id);
    let cpu_before = cpu_seconds();
    // Wall-clock milliseconds, to compare with the events' commit times.
    let started_at = dsync_domain::time::now_millis();
    let (took, _) = dsync_tests::load::load(running.addr, users, SCIM_CLIENTS, move |i| {
        (
            http::Method::POST,
            path.clone(),
            dsync_tests::load::scim_create_body(i),
            token.clone(),
        )
    })
    .await;
    let responded_at = dsync_domain::time::now_millis();
    running.settle().await.expect("the pipeline settles");
    let cpu = cpu_seconds() - cpu_before;
    let events = read_log(&running.store, &running.bootstrap.environment_id).await;
    let created: Vec<&StoredEvent> = events
        .iter()
        .filter(|e| e.name == "dsync.user.created")
        .collect();
    assert_eq!(
        created.len(),
        users,
        "every user created reaches the log once"
    );
    // When the last user reached the log: its event's commit time (the pipeline's idle
    // detection after it, a poll or two, is not part of the figure).
    let last_event = created
        .iter()
        .map(|e| e.created_at)
        .max()
        .unwrap_or(responded_at);
    let lag = Duration::from_millis((last_event - responded_at).max(0) as u64);
    let to_log = Duration::from_millis((last_event - started_at).max(1) as u64);
    drop(running);
    let _ = std::fs::remove_dir_all(&data_dir);
    println!(
        "| {} ms | {:.0} | {:.0} | {:.1} s | {cpu:.1} |",
        latency.as_millis(),
        users as f64 / took.as_secs_f64(),
        users as f64 / to_log.as_secs_f64(),
        lag.as_secs_f64(),
    );
}
