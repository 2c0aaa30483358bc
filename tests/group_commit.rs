//! Group commit: the projections one process commits to an environment's log at the same time
//! share transactions, and each keeps its own outcome.

use std::collections::HashSet;

use dsync_domain::ids::ProviderUserId;
use dsync_dynamo::metering::{metered_client, Meter};
use dsync_dynamo::{EventScope, StoreError, StoredEvent};
use dsync_policy::project::{plan_user, project_user, DirectoryContext, UserPlan};
use dsync_tests::{spawn_app_without_stream_processing, TestApp};

pub(crate) fn scope(context: &DirectoryContext) -> EventScope {
    EventScope {
        environment_id: context.directory().environment_id,
        directory_id: Some(context.directory().id),
        organization_id: context.directory().organization_id.clone(),
    }
}

/// A policy function over a metered client of the app's engine (one process: its own caches).
fn metered_policy(app: &TestApp, meter: &Meter) -> dsync_policy::App {
    let store = dsync_dynamo::Store::new(
        metered_client(&app.running.endpoint, meter),
        app.store().tables().clone(),
    );
    dsync_policy::App::new(store)
}

async fn create_users(app: &TestApp, count: usize) -> Vec<ProviderUserId> {
    create_users_named(app, "grouped", count).await
}

pub(crate) async fn create_users_named(
    app: &TestApp,
    prefix: &str,
    count: usize,
) -> Vec<ProviderUserId> {
    let mut users = Vec::new();
    for i in 0..count {
        let id = app.create_user(&format!("{prefix}{i}@example.com")).await;
        users.push(ProviderUserId::parse(&id).unwrap());
    }
    users
}

/// The directory users the log says were created, each checked to be created once.
async fn created_users(app: &TestApp) -> Vec<String> {
    let events = app.events_after(None).await;
    let created: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == "dsync.user.created")
        .map(|e| e["data"]["id"].as_str().unwrap().to_owned())
        .collect();
    let unique: HashSet<&String> = created.iter().collect();
    assert_eq!(
        unique.len(),
        created.len(),
        "a user created twice: {created:?}"
    );
    created
}

/// Each user's projection planned, not committed.
pub(crate) async fn plan_all(
    policy: &dsync_policy::App,
    context: &DirectoryContext,
    users: &[ProviderUserId],
) -> Vec<UserPlan> {
    let mut plans = Vec::new();
    for user in users {
        plans.push(plan_user(policy, context, user).await.unwrap());
    }
    plans
}

/// Projects `users` at once through `policy`, and again those that failed, as a retried
/// stream batch does, at most `rounds` times; returns the users never projected.
pub(crate) async fn project_until_done(
    policy: &dsync_policy::App,
    context: &DirectoryContext,
    mut pending: Vec<ProviderUserId>,
    rounds: usize,
) -> Vec<ProviderUserId> {
    for _ in 0..rounds {
        if pending.is_empty() {
            break;
        }
        let outcomes = futures::future::join_all(
            pending
                .iter()
                .map(|user| project_user(policy, context, user)),
        )
        .await;
        pending = pending
            .into_iter()
            .zip(outcomes)
            .filter_map(|(user, outcome)| outcome.is_err().then_some(user))
            .collect();
    }
    pending
}

/// The plans committed at once through `policy`'s store, as a batch's projections commit.
pub(crate) async fn commit_all(
    policy: &dsync_policy::App,
    context: &DirectoryContext,
    users: &[ProviderUserId],
    plans: &[UserPlan],
) -> Vec<Result<Vec<StoredEvent>, StoreError>> {
    let scope = scope(context);
    futures::future::join_all(users.iter().zip(plans).map(|(user, plan)| {
        policy.store.commit_user_plan(
            &scope,
            user,
            &plan.before,
            &plan.outcome,
            plan.now,
            dsync_dynamo::PlannedFrom::default(),
        )
    }))
    .await
}

/// The log holds exactly `users` creations, each of a different user, numbered 1..=users
/// without a gap, and the directory counts that many active users.
pub(crate) async fn assert_only_creates_logged(
    app: &TestApp,
    context: &DirectoryContext,
    users: u64,
) {
    assert_eq!(created_users(app).await.len() as u64, users);
    let sequences: Vec<u64> = app
        .events_after(None)
        .await
        .iter()
        .map(|e| dsync_domain::ids::EventId::parse(e["id"].as_str().unwrap()).unwrap())
        .map(|id| id.sequence())
        .collect();
    assert_eq!(sequences, (1..=users).collect::<Vec<u64>>());
    let metadata = app
        .api_get(&format!("/directories/{}", context.directory().id))
        .await;
    assert_eq!(
        metadata.body["metadata"]["users"]["active"], users,
        "{:?}",
        metadata.body
    );
}

/// Thirty users' projections committed at once by one process reach the log in one
/// transaction (one head update, one directory check and one counter update for all),
/// numbered without gaps, and the directory's counts move by all thirty.
#[tokio::test]
async fn concurrent_commits_of_one_process_share_a_transaction() {
    let app = spawn_app_without_stream_processing().await;
    let plain = dsync_policy::App::new(app.store().clone());
    let context = app.policy_context(&plain).await;
    let users = create_users(&app, 30).await;
    let plans = plan_all(&plain, &context, &users).await;
    let meter = Meter::new();
    let policy = metered_policy(&app, &meter);

    let committed = commit_all(&policy, &context, &users, &plans).await;
    for events in committed {
        assert_eq!(
            events.unwrap().len(),
            1,
            "each user's own dsync.user.created"
        );
    }

    let report = meter.take();
    assert_eq!(report.failed_requests, 0, "{report:?}");
    // The head's read (this process had not committed yet) and one transaction.
    assert_eq!(report.requests_summary(), "GetItem×1 TransactWriteItems×1");
    assert_only_creates_logged(&app, &context, 30).await;
}

/// One commit of a shared transaction was planned from a state that changed since: the
/// transaction is cancelled on its condition alone, that commit answers `Conflict` (its
/// caller re-plans), and the others commit once, in the next transaction.
#[tokio::test]
async fn a_stale_commit_conflicts_alone_and_the_others_commit_once() {
    let app = spawn_app_without_stream_processing().await;
    let plain = dsync_policy::App::new(app.store().clone());
    let context = app.policy_context(&plain).await;
    let users = create_users(&app, 3).await;
    let plans = plan_all(&plain, &context, &users).await;
    // The first user is projected meanwhile: its plan is stale.
    project_user(&plain, &context, &users[0]).await.unwrap();

    let meter = Meter::new();
    let policy = metered_policy(&app, &meter);
    let outcomes = commit_all(&policy, &context, &users, &plans).await;
    assert!(
        matches!(outcomes[0], Err(StoreError::Conflict)),
        "{:?}",
        outcomes[0]
    );
    for outcome in &outcomes[1..] {
        assert_eq!(outcome.as_ref().unwrap().len(), 1, "{outcome:?}");
    }
    let report = meter.take();
    assert_eq!(
        (
            report.requests_by_operation["TransactWriteItems"],
            report.failed_requests
        ),
        (2, 1),
        "one cancelled shared transaction, then the other two together: {}",
        report.requests_summary()
    );
    // Each user created exactly once, the stale one by its own projection.
    assert_eq!(created_users(&app).await.len(), 3);
}

/// A directory deleted while its users' commits wait: the shared directory check fails, and
/// every commit that asked for it answers `Conflict`; nothing of the directory is logged after
/// `dsync.deleted`.
#[tokio::test]
async fn a_failed_shared_directory_check_fails_every_commit_of_that_directory() {
    let app = spawn_app_without_stream_processing().await;
    let plain = dsync_policy::App::new(app.store().clone());
    let context = app.policy_context(&plain).await;
    let users = create_users(&app, 3).await;
    let plans = plan_all(&plain, &context, &users).await;
    let deleted = app
        .api(
            reqwest::Method::DELETE,
            &format!("/directories/{}", context.directory().id),
        )
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());

    let outcomes = commit_all(&plain, &context, &users, &plans).await;
    for outcome in &outcomes {
        assert!(matches!(outcome, Err(StoreError::Conflict)), "{outcome:?}");
    }
    let names = app.event_names_after(None).await;
    assert!(names.iter().any(|n| n == "dsync.deleted"), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "dsync.user.created"),
        "{names:?}"
    );
}

/// Faults on shared transactions: throttles, conflicts, server errors and lost answers (a
/// transaction of many commits that committed, its caller told it failed). Every commit of
/// such a transaction answers the error; each user is projected again until it succeeds, as a
/// retried stream batch does. Each user is then created exactly once, the log has no gap, and
/// the directory's counts saw each user once.
#[tokio::test]
async fn shared_transactions_under_faults_commit_each_user_once() {
    use dsync_dynamo::faults::{faulty_client, Faults};

    let app = spawn_app_without_stream_processing().await;
    let plain = dsync_policy::App::new(app.store().clone());
    let context = app.policy_context(&plain).await;
    let users = create_users(&app, 40).await;
    let faults = Faults::new(11, 0.3);
    let faulty = dsync_policy::App::new(dsync_dynamo::Store::new(
        faulty_client(&app.running.endpoint, &faults, 1),
        app.store().tables().clone(),
    ));

    let pending = project_until_done(&faulty, &context, users.clone(), 50).await;
    assert!(
        pending.is_empty(),
        "{} users never projected",
        pending.len()
    );
    let counts = faults.counts();
    assert!(
        counts.ambiguous_commits > 0,
        "no committed transaction was reported failed: {counts:?}"
    );

    assert_only_creates_logged(&app, &context, 40).await;
}

/// DynamoDB refuses a transaction whose items add up to more than 4 MB. Users with large
/// profiles (a directory user item keeps the whole SCIM resource) committed at once by one
/// process would fill one shared transaction far past that; each must still commit, in as
/// many transactions as their bytes need, not fail together (and fail again on every retry
/// of their stream batch).
#[tokio::test]
async fn commits_too_large_to_share_one_transaction_are_split_by_their_bytes() {
    use base64::Engine as _;
    let app = spawn_app_without_stream_processing().await;
    let plain = dsync_policy::App::new(app.store().clone());
    let context = app.policy_context(&plain).await;
    let mut users = Vec::new();
    for i in 0..24 {
        let mut body = dsync_tests::user_body(&format!("large{i}@example.com"));
        // 240 KB that does not compress: the stored item stays about that large.
        let noise: Vec<u8> = (0..180 * 1024).map(|_| rand::random::<u8>()).collect();
        body["badgePhoto"] = base64::engine::general_purpose::STANDARD
            .encode(noise)
            .into();
        let reply = app.post("/Users", &body).await;
        assert_eq!(reply.status, 201, "{:?}", reply.body["detail"]);
        users.push(ProviderUserId::parse(reply.body["id"].as_str().unwrap()).unwrap());
    }
    let plans = plan_all(&plain, &context, &users).await;
    let meter = Meter::new();
    let policy = metered_policy(&app, &meter);

    for committed in commit_all(&policy, &context, &users, &plans).await {
        assert_eq!(committed.expect("each commits").len(), 1);
    }

    let report = meter.take();
    assert_eq!(report.failed_requests, 0, "{report:?}");
    // 24 users of about 240 KB: at least two transactions, far fewer than one each.
    let transactions = report
        .requests_by_operation
        .get("TransactWriteItems")
        .copied()
        .unwrap_or(0);
    assert!((2..=6).contains(&transactions), "{report:?}");
    assert_only_creates_logged(&app, &context, 24).await;
}

/// The ids of a `GET /events` page, as sequence numbers.
async fn sequences(app: &TestApp, query: &str) -> (Vec<u64>, serde_json::Value) {
    let reply = app.api_get(&format!("/events?{query}")).await;
    assert_eq!(reply.status, 200, "{query}: {:?}", reply.body);
    let sequences = reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| dsync_domain::ids::EventId::parse(e["id"].as_str().unwrap()).unwrap())
        .map(|id| id.sequence())
        .collect();
    (sequences, reply.body["list_metadata"].clone())
}

/// Thirty creations committed together are stored together (one page of events); a reader
/// whose cursor falls inside that page, in either direction, sees exactly the events past
/// it, as with one event per item.
#[tokio::test]
async fn cursors_inside_a_page_of_events_read_exactly_the_events_past_them() {
    let app = spawn_app_without_stream_processing().await;
    let plain = dsync_policy::App::new(app.store().clone());
    let context = app.policy_context(&plain).await;
    let users = create_users(&app, 30).await;
    let plans = plan_all(&plain, &context, &users).await;
    for committed in commit_all(&plain, &context, &users, &plans).await {
        committed.unwrap();
    }
    let all = app.events_after(None).await;
    assert_eq!(all.len(), 30);
    let id_of = |sequence: u64| {
        all[sequence as usize - 1]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let range = |from: u64, to: u64| (from..=to).collect::<Vec<u64>>();

    let (first, metadata) = sequences(&app, "limit=10").await;
    assert_eq!(first, range(1, 10));
    let after = metadata["after"].as_str().unwrap().to_owned();
    assert_eq!(
        sequences(&app, &format!("limit=10&after={after}")).await.0,
        range(11, 20)
    );
    let (newest, _) = sequences(&app, "order=desc&limit=5").await;
    assert_eq!(newest, vec![30, 29, 28, 27, 26]);
    let fifteen = id_of(15);
    assert_eq!(
        sequences(&app, &format!("limit=10&before={fifteen}"))
            .await
            .0,
        range(5, 14)
    );
    let twenty_six = id_of(26);
    assert_eq!(
        sequences(&app, &format!("order=desc&limit=10&after={twenty_six}"))
            .await
            .0,
        (16..=25).rev().collect::<Vec<u64>>()
    );
    assert_eq!(
        sequences(&app, &format!("order=desc&limit=3&before={fifteen}"))
            .await
            .0,
        vec![18, 17, 16]
    );

    // The sweep finds the events of its deliveries inside pages too.
    let wanted: Vec<dsync_domain::ids::EventId> = [3, 17, 30]
        .iter()
        .map(|s| dsync_domain::ids::EventId::parse(&id_of(*s)).unwrap())
        .collect();
    let found = app
        .store()
        .events_by_id(&context.directory().environment_id, &wanted)
        .await
        .unwrap();
    let found: Vec<u64> = found.iter().map(|e| e.sequence).collect();
    assert_eq!(found, vec![3, 17, 30]);
}

/// A log written before pages holds one event per item (`type = event`, keyed by its own
/// number). After an upgrade, those items and the pages after them read as one log, in
/// either direction and from a cursor on either side.
#[tokio::test]
async fn events_stored_one_per_item_before_pages_read_on_with_the_pages() {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let app = spawn_app_without_stream_processing().await;
    let plain = dsync_policy::App::new(app.store().clone());
    let context = app.policy_context(&plain).await;
    let environment = context.directory().environment_id;
    let store = app.store();
    let head = store.event_head(&environment).await.unwrap();
    let now = dsync_domain::time::now_millis();
    for sequence in head + 1..=head + 3 {
        let id = dsync_domain::ids::EventId::for_sequence(sequence, now);
        store
            .client()
            .put_item()
            .table_name(&store.tables().events)
            .item("pk", S(format!("ENV#{environment}")))
            .item("sk", S(format!("{sequence:020}")))
            .item("type", S("event".into()))
            .item("id", S(id.to_string()))
            .item("environment_id", S(environment.to_string()))
            .item("sequence", N(sequence.to_string()))
            .item("event", S("dsync.user.updated".into()))
            .item("data", S(format!(r#"{{"id":"legacy{sequence}"}}"#)))
            .item("created_at", N(now.to_string()))
            .send()
            .await
            .unwrap();
    }
    store
        .client()
        .put_item()
        .table_name(&store.tables().directory)
        .item("pk", S(format!("ENV#{environment}")))
        .item("sk", S("EVENT_HEAD".into()))
        .item("sequence", N((head + 3).to_string()))
        .item("created_at", N(now.to_string()))
        .send()
        .await
        .unwrap();
    let users = create_users(&app, 5).await;
    let plans = plan_all(&plain, &context, &users).await;
    for committed in commit_all(&plain, &context, &users, &plans).await {
        committed.unwrap();
    }

    let all = app.events_after(None).await;
    let numbers: Vec<u64> = all
        .iter()
        .map(|e| dsync_domain::ids::EventId::parse(e["id"].as_str().unwrap()).unwrap())
        .map(|id| id.sequence())
        .collect();
    assert_eq!(numbers, (1..=head + 8).collect::<Vec<u64>>());
    let legacy = &all[head as usize + 1];
    assert_eq!(legacy["data"]["id"], format!("legacy{}", head + 2));
    let from_legacy = legacy["id"].as_str().unwrap();
    let (after, _) = sequences(&app, &format!("limit=3&after={from_legacy}")).await;
    assert_eq!(after, vec![head + 3, head + 4, head + 5]);
    let (newest, _) = sequences(&app, "order=desc&limit=100").await;
    assert_eq!(newest, (1..=head + 8).rev().collect::<Vec<u64>>());
    let first_page_event = all[head as usize + 4]["id"].as_str().unwrap();
    let (before, _) = sequences(&app, &format!("limit=3&before={first_page_event}")).await;
    assert_eq!(before, vec![head + 2, head + 3, head + 4]);
}

/// Pages of every size the log makes (a commit alone, a full page, a page and one more),
/// read from a cursor at every event, in both directions and both orders: each read returns
/// exactly the events next to its cursor, as a log of one event per item would.
#[tokio::test]
async fn a_cursor_at_any_event_reads_exactly_its_neighbours_across_pages() {
    let app = spawn_app_without_stream_processing().await;
    let plain = dsync_policy::App::new(app.store().clone());
    let context = app.policy_context(&plain).await;
    for (round, size) in [1, 33, 1, 40].into_iter().enumerate() {
        let users = create_users_named(&app, &format!("paged{round}_"), size).await;
        let plans = plan_all(&plain, &context, &users).await;
        for committed in commit_all(&plain, &context, &users, &plans).await {
            committed.unwrap();
        }
    }
    let all = app.events_after(None).await;
    let ids: Vec<String> = all
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let numbers: Vec<u64> = ids
        .iter()
        .map(|id| dsync_domain::ids::EventId::parse(id).unwrap().sequence())
        .collect();
    let last = *numbers.last().unwrap();
    assert_eq!(numbers, (1..=last).collect::<Vec<u64>>());
    const LIMIT: u64 = 5;
    for (index, id) in ids.iter().enumerate() {
        let at = numbers[index];
        let after: Vec<u64> = (at + 1..=last).take(LIMIT as usize).collect();
        let before: Vec<u64> = (at.saturating_sub(LIMIT).max(1)..at).collect();
        let (read, _) = sequences(&app, &format!("limit={LIMIT}&after={id}")).await;
        assert_eq!(read, after, "after {at}");
        let (read, _) = sequences(&app, &format!("limit={LIMIT}&before={id}")).await;
        assert_eq!(read, before, "before {at}");
        let (read, _) = sequences(&app, &format!("order=desc&limit={LIMIT}&after={id}")).await;
        assert_eq!(
            read,
            before.iter().rev().copied().collect::<Vec<u64>>(),
            "desc after {at}"
        );
        let (read, _) = sequences(&app, &format!("order=desc&limit={LIMIT}&before={id}")).await;
        assert_eq!(
            read,
            after.iter().rev().copied().collect::<Vec<u64>>(),
            "desc before {at}"
        );
    }
}
