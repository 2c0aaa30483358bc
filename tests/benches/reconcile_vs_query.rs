//! Reconciliation of an unchanged directory against the floor it cannot beat: a raw paginated
//! Query of the same provider records, on the same engine, over the same wire, in the same run.
//!
//! `cargo bench -p dsync-tests --bench reconcile_vs_query` (or `bash benches/run-all.sh`).
//! `DSYNC_BENCH_RECONCILE_USERS` (default 10000, comma-separated for several sizes) users in
//! `users / 100` groups of 10 members each (`DSYNC_BENCH_RECONCILE_MEMBERS`; contiguous, or
//! spread over the directory with `DSYNC_BENCH_RECONCILE_SPREAD=1`) are stored directly (no SCIM), a first reconciliation
//! projects them (not timed), then the second is timed with every DynamoDB request counted:
//! target ≤ 1.3× the raw Query, and zero writes. Peak RSS is the whole process's (the embedded
//! engine runs in it too), read from `/proc/self/status` after each size.
//!
//! `DSYNC_BENCH_RECONCILE_LATENCY_MS` (default 0) delays every timed DynamoDB request (the raw
//! Queries' and the second reconciliation's) by that round trip, as from Lambda to DynamoDB:
//! then the ratio counts round trips in sequence more than CPU.
//!
//! Reconciliation must also read the projection it compares against, which the raw Query of
//! the provider records does not: a second floor adds a raw paginated Query of the
//! directory's users (its `DIR#<directory>#DUSERS` index partition), and the second ratio is
//! to both (the membership items, one per user in a group, have no such partition and stay
//! out of either floor).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dsync_domain::ids::{DirectoryId, EnvironmentId, ProviderGroupId, ProviderUserId};
use dsync_domain::model::{ProviderGroup, ProviderUser};
use dsync_dynamo::metering::{metered_client, Meter};
use dsync_dynamo::{MembershipDiff, Store};
use futures::StreamExt;
use serde_json::json;

const TARGET_RATIO: f64 = 1.3;

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("DSYNC_BENCH_RECONCILE_USERS")
        .unwrap_or_else(|_| "10000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    if !latency().is_zero() {
        println!("{} ms per timed DynamoDB request", latency().as_millis());
    }
    println!("| users (groups) | raw Query | + directory users | reconciliation | ratio | ratio to both | target | writes | peak RSS | within |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for users in sizes {
        run(users).await;
    }
}

/// The injected round trip of every timed request.
fn latency() -> Duration {
    let ms = std::env::var("DSYNC_BENCH_RECONCILE_LATENCY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0);
    Duration::from_millis(ms)
}

async fn run(count: usize) {
    let app = dsync_tests::spawn_app_without_stream_processing().await;
    let store = app.store().clone();
    let bootstrap = &app.running.bootstrap;
    let directory = DirectoryId::parse(&bootstrap.directory_id).unwrap();
    let environment = EnvironmentId::parse(&bootstrap.environment_id).unwrap();
    let groups = (count / 100).max(1);
    seed(&store, directory, count, groups).await;

    let policy = dsync_policy::App::new(store.clone());
    let first = store
        .create_reconciliation(environment, None, 1)
        .await
        .unwrap();
    let (first, _) = dsync_policy::reconcile::run_one(&policy, first, None)
        .await
        .unwrap();
    assert_eq!(first.counts.users, count as u64);

    let meter = Meter::new();
    let metered = metered_client(&app.running.endpoint, &meter);
    let delayed = metered
        .config()
        .to_builder()
        .http_client(dsync_dynamo::delayed_http_client(
            dsync_dynamo::https_client(),
            latency(),
        ))
        .build();
    let metered = Store::new(
        aws_sdk_dynamodb::Client::from_conf(delayed),
        store.tables().clone(),
    );
    let (raw, items) = raw_query(&metered, directory).await;
    assert!(
        items >= count,
        "the raw Query read {items} of {count} users"
    );
    let (raw_projection, projected) = raw_directory_users(&metered, directory).await;
    assert!(projected > 0, "the first reconciliation projected users");
    let both = raw + raw_projection;
    meter.reset();

    let policy = dsync_policy::App::new(metered.clone());
    let second = metered
        .create_reconciliation(environment, None, 2)
        .await
        .unwrap();
    let started = Instant::now();
    let (second, _) = dsync_policy::reconcile::run_one(&policy, second, None)
        .await
        .unwrap();
    let took = started.elapsed();
    let report = meter.take();
    assert_eq!(second.counts.users, count as u64);
    assert_eq!(
        second.counts.events, 0,
        "an unchanged directory has no events"
    );
    // The run's own bookkeeping (its checkpoints and final save) is all it may write.
    let writes = report.write_units;
    let bookkeeping = report
        .requests_by_operation
        .iter()
        .filter(|(op, _)| {
            matches!(
                op.as_str(),
                "PutItem" | "UpdateItem" | "TransactWriteItems" | "BatchWriteItem" | "DeleteItem"
            )
        })
        .map(|(_, n)| n)
        .sum::<u64>();
    let ratio = took.as_secs_f64() / raw.as_secs_f64();
    let ratio_both = took.as_secs_f64() / both.as_secs_f64();
    let within = if ratio <= TARGET_RATIO { "yes" } else { "NO" };
    println!(
        "| {count} ({groups}) | {:.2} s | {:.2} s | {:.2} s | {ratio:.1}× | {ratio_both:.1}× | ≤ {TARGET_RATIO}× | {bookkeeping} requests, {writes:.0} WCU (run bookkeeping only) | {} MiB | {within} |",
        raw.as_secs_f64(),
        both.as_secs_f64(),
        took.as_secs_f64(),
        peak_rss_mib(),
    );
    eprintln!(
        "  reconciliation requests: {}; {:.0} read units",
        report.requests_summary(),
        report.read_units
    );
}

/// Members per group: `DSYNC_BENCH_RECONCILE_MEMBERS` (default 10; 300 puts each of 10,000
/// users in 100 groups in three of them).
fn members_per_group() -> usize {
    std::env::var("DSYNC_BENCH_RECONCILE_MEMBERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10)
}

/// `DSYNC_BENCH_RECONCILE_SPREAD=1`: each group's members spread over the whole directory
/// (every page of users then names most groups, as with company-wide and department groups),
/// instead of a contiguous range of users (each page names a few groups of its own).
fn spread() -> bool {
    std::env::var("DSYNC_BENCH_RECONCILE_SPREAD").is_ok_and(|v| v == "1")
}

/// Provider users (one in ten inactive) and groups of [`members_per_group`] members,
/// written directly.
async fn seed(store: &Store, directory: DirectoryId, count: usize, groups: usize) {
    let users: Vec<ProviderUser> = (0..count)
        .map(|i| ProviderUser {
            id: ProviderUserId::generate(),
            directory_id: directory,
            version: 1,
            user_name: format!("user{i:06}@example.com"),
            external_id: None,
            active: i % 10 != 0,
            inactive_since: (i % 10 == 0).then_some(1),
            resource: json!({"userName": format!("user{i:06}@example.com"), "active": i % 10 != 0,
                             "name": {"givenName": "User", "familyName": format!("{i}")}}),
            created_at: 1,
            updated_at: 1,
        })
        .collect();
    futures::stream::iter(&users)
        .map(|user| store.create_user(user))
        .buffer_unordered(16)
        .for_each(|result| async move { result.expect("user stored") })
        .await;
    let members_per_group = members_per_group().min(count);
    futures::stream::iter(0..groups)
        .map(|g| {
            let members = MembershipDiff {
                add: (0..members_per_group)
                    .map(|m| {
                        let index = if spread() {
                            (m * (count / members_per_group).max(1) + g) % count
                        } else {
                            (g * members_per_group + m) % count
                        };
                        (users[index].id, None)
                    })
                    .collect(),
                remove: Vec::new(),
            };
            let group = ProviderGroup {
                id: ProviderGroupId::generate(),
                directory_id: directory,
                version: 1,
                display_name: format!("Group {g:04}"),
                external_id: None,
                resource: json!({"displayName": format!("Group {g:04}")}),
                created_at: 1,
                updated_at: 1,
            };
            async move { store.create_group(&group, &members, 1).await }
        })
        .buffer_unordered(8)
        .for_each(|result| async move { result.map(|_| ()).expect("group stored") })
        .await;
}

/// Every item of the directory's provider-records partition, 1 MB pages, consistent reads as
/// reconciliation does; returns the time and how many user items it saw.
async fn raw_query(store: &Store, directory: DirectoryId) -> (Duration, usize) {
    let query = store
        .client()
        .query()
        .table_name(&store.tables().provider_records)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("DIR#{directory}")),
        )
        .consistent_read(true);
    time_pages(query, |item| {
        item.get("sk")
            .and_then(|sk| sk.as_s().ok())
            .is_some_and(|sk| sk.starts_with("USER#"))
    })
    .await
}

/// Every directory user of the directory, from its index partition in 1 MB pages (an index
/// cannot be read consistently); returns the time and how many it saw.
async fn raw_directory_users(store: &Store, directory: DirectoryId) -> (Duration, usize) {
    let query = store
        .client()
        .query()
        .table_name(&store.tables().directory)
        .index_name("gsi1")
        .key_condition_expression("gsi1pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("DIR#{directory}#DUSERS")),
        );
    time_pages(query, |_| true).await
}

/// Reads every page of `query`; returns the time and how many items `counted` accepts.
async fn time_pages(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    counted: impl Fn(&HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) -> bool,
) -> (Duration, usize) {
    let started = Instant::now();
    let mut items = 0;
    let mut start = None;
    loop {
        let page = query
            .clone()
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("a page");
        items += page.items().iter().filter(|item| counted(item)).count();
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return (started.elapsed(), items);
        }
    }
}

/// The process's peak resident set (`VmHWM`), in MiB.
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}
