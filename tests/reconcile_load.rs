//! Reconciliation under load: a lease per run (overlapping invocations never run or abort
//! the same run; a crashed holder's run resumes from its checkpoint once the lease runs
//! out), one unfinished run per environment (requests coalesce), and turns shared round
//! robin between environments.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use dsync_domain::ids::{DirectoryId, EnvironmentId};
use dsync_domain::time::now_millis;
use dsync_dynamo::{Reconciliation, ReconciliationState, RECONCILIATION_LEASE_MS};
use dsync_policy::reconcile::{run_one, run_unfinished, run_unfinished_with, Limits, RunEnd};
use dsync_tests::{json, read, spawn_app_without_stream_processing, user_body, TestApp};
use reqwest::Method;

/// A policy function whose clock the test moves.
fn policy_with_clock(app: &TestApp) -> (dsync_policy::App, Arc<AtomicI64>) {
    let offset = Arc::new(AtomicI64::new(0));
    let moved = offset.clone();
    let clock = Arc::new(move || now_millis() + moved.load(Ordering::SeqCst));
    (
        dsync_policy::App::with_clock(app.store().clone(), clock),
        offset,
    )
}

fn environment(app: &TestApp) -> EnvironmentId {
    EnvironmentId::parse(&app.running.bootstrap.environment_id).unwrap()
}

async fn stored(app: &TestApp, run: &Reconciliation) -> Reconciliation {
    app.store()
        .get_reconciliation(&run.environment_id, &run.id)
        .await
        .unwrap()
}

/// Small pages and short turns, so a handful of users spans several turns.
fn tiny(rounds: u32) -> Limits {
    Limits {
        page_size: 1,
        users_page_size: 1,
        pages_per_turn: 1,
        rounds: Some(rounds),
    }
}

#[tokio::test]
async fn a_run_held_by_another_invocation_is_left_alone_until_its_lease_runs_out() {
    let app = spawn_app_without_stream_processing().await;
    for i in 0..3 {
        app.create_user(&format!("lease{i}@example.com")).await;
    }
    let (policy, clock) = policy_with_clock(&app);
    let run = app
        .store()
        .create_reconciliation(environment(&app), None, policy.now())
        .await
        .unwrap();

    // Three turns of one page each: the groups phase, the vanished groups, the first user.
    let worked = run_unfinished_with(&policy, None, tiny(3)).await.unwrap();
    assert_eq!(worked.len(), 1);
    let suspended = stored(&app, &run).await;
    assert_eq!(suspended.state, ReconciliationState::Running);
    assert_eq!(suspended.counts.users, 1, "{suspended:?}");
    let checkpoint = suspended.checkpoint.clone().expect("a checkpoint");
    assert_eq!(checkpoint.phase, "users");

    // Another invocation claims it and dies without a word.
    let crashed = app
        .store()
        .claim_reconciliation(&run.environment_id, &run.id, "crashed", policy.now())
        .await
        .unwrap();
    assert!(crashed.is_some(), "a released run can be claimed");

    // While its lease holds, overlapping invocations neither run nor abort the run.
    let (first, second) = tokio::join!(
        run_unfinished(&policy, None),
        run_one(&policy, suspended.clone(), None)
    );
    assert!(first.unwrap().is_empty(), "the held run is skipped");
    assert_eq!(second.unwrap().1, RunEnd::Busy);
    assert_eq!(stored(&app, &run).await, suspended, "untouched");

    // The lease runs out: the next invocation resumes from the checkpoint.
    clock.fetch_add(RECONCILIATION_LEASE_MS + 1_000, Ordering::SeqCst);
    let worked = run_unfinished(&policy, None).await.unwrap();
    assert_eq!(worked.len(), 1);
    let done = stored(&app, &run).await;
    assert_eq!(done.state, ReconciliationState::Completed, "{done:?}");
    assert_eq!(done.counts.users, 3, "resumed, not restarted: {done:?}");
    assert_eq!(done.counts.events, 3, "each user created once: {done:?}");
    assert_eq!(app.event_names_after(None).await.len(), 3);
}

#[tokio::test]
async fn concurrent_invocations_run_one_run_once() {
    let app = spawn_app_without_stream_processing().await;
    for i in 0..5 {
        app.create_user(&format!("twice{i}@example.com")).await;
    }
    let policy = dsync_policy::App::new(app.store().clone());
    let run = app
        .store()
        .create_reconciliation(environment(&app), None, policy.now())
        .await
        .unwrap();
    let limits = Limits {
        page_size: 1,
        users_page_size: 1,
        pages_per_turn: 2,
        rounds: None,
    };
    let (a, b, c) = tokio::join!(
        run_unfinished_with(&policy, None, limits),
        run_unfinished_with(&policy, None, limits),
        run_unfinished_with(&policy, None, limits),
    );
    for result in [a, b, c] {
        result.expect("no invocation fails because another one works on the run");
    }
    let done = stored(&app, &run).await;
    assert_eq!(done.state, ReconciliationState::Completed, "{done:?}");
    assert_eq!(done.counts.users, 5, "{done:?}");
    assert_eq!(app.event_names_after(None).await.len(), 5, "no event twice");
}

#[tokio::test]
async fn requests_coalesce_into_the_environment_s_unfinished_run() {
    let app = spawn_app_without_stream_processing().await;
    let policy = dsync_policy::App::new(app.store().clone());
    let first = app
        .store()
        .request_reconciliation(environment(&app), None, policy.now())
        .await
        .unwrap();
    assert!(first.created);
    // Held by an invocation that keeps it pending for the rest of the test.
    app.store()
        .claim_reconciliation(
            &first.run.environment_id,
            &first.run.id,
            "busy",
            policy.now(),
        )
        .await
        .unwrap()
        .expect("claimed");

    let again = read(app.api(Method::POST, "/reconciliations")).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.body["id"], first.run.id.to_string().as_str());
    let directory = app.running.bootstrap.directory_id.clone();
    let scoped = read(
        app.api(Method::POST, "/reconciliations")
            .json(&json!({"directory_id": directory})),
    )
    .await;
    assert_eq!(scoped.status, 200, "{:?}", scoped.body);
    assert_eq!(scoped.body["id"], first.run.id.to_string().as_str());

    // The hourly schedule does not pile runs up either.
    for _ in 0..3 {
        dsync_policy::reconcile::reconcile_everything(&policy, None)
            .await
            .unwrap();
    }
    let listed = app.api_get("/reconciliations").await;
    assert_eq!(
        listed.body["data"].as_array().unwrap().len(),
        1,
        "{:?}",
        listed.body
    );

    // Once it finishes, the next request starts a new run.
    let (policy, clock) = policy_with_clock(&app);
    clock.fetch_add(RECONCILIATION_LEASE_MS + 1_000, Ordering::SeqCst);
    run_unfinished(&policy, None).await.unwrap();
    assert_eq!(
        stored(&app, &first.run).await.state,
        ReconciliationState::Completed
    );
    let next = read(app.api(Method::POST, "/reconciliations")).await;
    assert_eq!(next.status, 202, "{:?}", next.body);
    assert_ne!(next.body["id"], first.run.id.to_string().as_str());
}

#[tokio::test]
async fn a_big_environment_s_run_does_not_starve_a_small_one() {
    let app = spawn_app_without_stream_processing().await;
    for i in 0..8 {
        app.create_user(&format!("big{i}@example.com")).await;
    }
    let (other_base, other_token) = app.other_directory().await;
    let created = read(
        app.http
            .post(format!("{other_base}/Users"))
            .bearer_auth(&other_token)
            .json(&user_body("small@example.com")),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let other_directory = DirectoryId::parse(other_base.rsplit('/').next().unwrap()).unwrap();
    let other_environment = app
        .store()
        .get_directory(&other_directory)
        .await
        .unwrap()
        .environment_id;

    let policy = dsync_policy::App::new(app.store().clone());
    // The big environment asked first: a single queue would run it to its end first.
    let big = app
        .store()
        .create_reconciliation(environment(&app), None, policy.now())
        .await
        .unwrap();
    let small = app
        .store()
        .create_reconciliation(other_environment, None, policy.now())
        .await
        .unwrap();

    let limits = Limits {
        page_size: 1,
        users_page_size: 1,
        pages_per_turn: 2,
        rounds: Some(4),
    };
    run_unfinished_with(&policy, None, limits).await.unwrap();
    let small_now = stored(&app, &small).await;
    assert_eq!(
        small_now.state,
        ReconciliationState::Completed,
        "{small_now:?}"
    );
    assert_eq!(small_now.counts.users, 1);
    let big_now = stored(&app, &big).await;
    assert_eq!(big_now.state, ReconciliationState::Running, "{big_now:?}");
    assert!(big_now.counts.users < 8, "{big_now:?}");

    run_unfinished(&policy, None).await.unwrap();
    let big_done = stored(&app, &big).await;
    assert_eq!(
        big_done.state,
        ReconciliationState::Completed,
        "{big_done:?}"
    );
    assert_eq!(big_done.counts.users, 8);
    assert_eq!(big_done.counts.events, 8);
}

/// A page of users who belong to groups is planned with batched reads: the run's DynamoDB
/// calls do not grow with the number of users in groups (before, each such user cost a
/// Query and a BatchGetItem of its own).
#[tokio::test]
async fn reconciling_users_in_groups_costs_a_constant_number_of_calls_per_page() {
    let app = dsync_tests::spawn_app().await;
    let users: usize = 40;
    let mut members = Vec::new();
    for i in 0..users {
        members.push(json!({"value": app.create_user(&format!("grouped{i}@example.com")).await}));
    }
    for name in ["Engineering", "Everyone"] {
        let id = app.create_group(name).await;
        let added = app
            .patch(
                &format!("/Groups/{id}"),
                &json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "add", "path": "members", "value": members}],
                }),
            )
            .await;
        assert!(added.status < 300, "{:?}", added.body);
    }
    app.settle().await;
    let projected = app.event_names_after(None).await;
    assert_eq!(
        projected
            .iter()
            .filter(|e| *e == "dsync.group.user_added")
            .count(),
        2 * users
    );

    let meter = dsync_dynamo::metering::Meter::new();
    let (run, report) = metered_run(&app, &meter).await;
    assert_eq!(run.counts.users, users as u64);
    assert_eq!(run.counts.events, 0, "an unchanged directory: {run:?}");
    let calls = |operation: &str| {
        report
            .requests_by_operation
            .get(operation)
            .copied()
            .unwrap_or(0)
    };
    eprintln!("{} users in 2 groups: {}", users, report.requests_summary());
    // The whole run, groups and users phases included, in a handful of calls.
    assert!(calls("Query") <= 12, "{}", report.requests_summary());
    // Two of the BatchGetItems are the group phases', one per page each (which directory
    // groups are as their provider groups make them; which provider groups are still
    // there), where each phase read each group twice with GetItem: 8 GetItems here before.
    assert!(calls("BatchGetItem") <= 10, "{}", report.requests_summary());
    assert!(calls("GetItem") <= 6, "{}", report.requests_summary());
    assert!(
        report.total_requests < users as u64,
        "{}",
        report.requests_summary()
    );
}

/// The settings preview is paged: each slice walks a bounded number of pages and hands back
/// a cursor, and the slices add up to the whole environment. (At 100,000 users one request
/// could not walk it within the API's time limit.)
#[tokio::test]
async fn the_settings_preview_is_paged_and_its_slices_add_up() {
    use dsync_domain::model::{EnvironmentSettings, InactiveUserPolicy, ProviderUser};
    use dsync_policy::preview::{preview, preview_page, PreviewCursor};

    let app = spawn_app_without_stream_processing().await;
    let directory = DirectoryId::parse(&app.running.bootstrap.directory_id).unwrap();
    // 250 provider users, every fifth inactive, none projected yet: under `retain` a
    // reconciliation would create them all.
    for i in 0..250 {
        let active = i % 5 != 0;
        let user = ProviderUser {
            id: dsync_domain::ids::ProviderUserId::generate(),
            directory_id: directory,
            version: 1,
            user_name: format!("preview{i:03}@example.com"),
            external_id: None,
            active,
            inactive_since: (!active).then_some(1),
            resource: json!({"userName": format!("preview{i:03}@example.com"), "active": active}),
            created_at: 1,
            updated_at: 1,
        };
        app.store().create_user(&user).await.unwrap();
    }
    let policy = dsync_policy::App::new(app.store().clone());
    let retain = EnvironmentSettings {
        inactive_user_policy: InactiveUserPolicy::Retain,
        inactive_user_retention_days: None,
        ..EnvironmentSettings::default()
    };
    let whole = preview(&policy, &environment(&app), &retain).await.unwrap();
    assert_eq!(whole.users_created.len(), 250);

    let mut slices = 0;
    let mut created = Vec::new();
    let mut from = None;
    loop {
        let page = preview_page(&policy, &environment(&app), &retain, from, 1, None)
            .await
            .unwrap();
        slices += 1;
        assert!(page.preview.users_created.len() <= 100);
        created.extend(page.preview.users_created);
        match page.next {
            // Through the opaque token, as a client passes it back.
            Some(next) => from = Some(PreviewCursor::decode(&next.encode()).expect("a token")),
            None => break,
        }
    }
    assert!(slices >= 3, "one page per slice: {slices}");
    assert_eq!(
        created, whole.users_created,
        "the slices add up to the whole"
    );
    assert!(
        app.event_names_after(None).await.is_empty(),
        "a preview writes nothing"
    );

    // Through the API: a small environment fits one slice; a bad cursor is a 400.
    let reply = read(
        app.api(Method::POST, "/environment/settings/preview")
            .json(&json!({"inactive_user_policy": "retain"})),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["users_created"]["count"], 250);
    assert_eq!(
        reply.body["list_metadata"]["after"],
        serde_json::Value::Null
    );
    let reply = read(
        app.api(Method::POST, "/environment/settings/preview")
            .json(&json!({"inactive_user_policy": "retain", "cursor": "zz"})),
    )
    .await;
    assert_eq!(reply.status, 400, "{:?}", reply.body);
}

/// An unchanged directory is reconciled in one walk of its users: nothing written but the
/// run's own record, and each further page of users costs the three reads of its records
/// (the provider users, their memberships, their directory users), whatever the users. A
/// second walk to find directory users whose provider record is gone is skipped, since the
/// directory's user counters prove there are none.
#[tokio::test]
async fn an_unchanged_directory_reconciles_without_writes_in_three_reads_per_page_of_users() {
    use dsync_domain::ids::{ProviderGroupId, ProviderUserId};
    use dsync_domain::model::{ProviderGroup, ProviderUser};
    use dsync_dynamo::metering::{Meter, MeterReport};

    let app = spawn_app_without_stream_processing().await;
    let store = app.store().clone();
    let directory = DirectoryId::parse(&app.running.bootstrap.directory_id).unwrap();
    let meter = Meter::new();
    let add_users = |from: usize, count: usize| {
        let store = store.clone();
        async move {
            let mut ids = Vec::new();
            for i in from..from + count {
                let name = format!("steady{i:04}@example.com");
                let user = ProviderUser {
                    id: ProviderUserId::generate(),
                    directory_id: directory,
                    version: 1,
                    user_name: name.clone(),
                    external_id: None,
                    active: i % 10 != 0,
                    inactive_since: (i % 10 == 0).then_some(1),
                    resource: json!({"userName": name, "active": i % 10 != 0}),
                    created_at: 1,
                    updated_at: 1,
                };
                store.create_user(&user).await.unwrap();
                ids.push(user.id);
            }
            ids
        }
    };
    // Reconciles once to project what changed, then meters a second, unchanged run.
    let reconcile_twice = || async {
        let policy = dsync_policy::App::new(store.clone());
        let run = store
            .create_reconciliation(environment(&app), Some(directory), policy.now())
            .await
            .unwrap();
        assert_eq!(
            run_one(&policy, run, None).await.unwrap().1,
            RunEnd::Completed
        );
        let head = store.event_head(&environment(&app)).await.unwrap();
        let (run, report) = metered_run(&app, &meter).await;
        assert_eq!(run.counts.events, 0, "an unchanged directory: {run:?}");
        assert_eq!(store.event_head(&environment(&app)).await.unwrap(), head);
        eprintln!("{} users: {}", run.counts.users, report.requests_summary());
        (run.counts.users, report)
    };
    let writes = |report: &MeterReport| -> u64 {
        [
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "BatchWriteItem",
            "TransactWriteItems",
        ]
        .iter()
        .filter_map(|op| report.requests_by_operation.get(*op))
        .sum()
    };

    // One page of 100 users, 30 of them in three groups.
    let first = add_users(0, 100).await;
    for members in first.chunks(10).take(3) {
        let group = ProviderGroup {
            id: ProviderGroupId::generate(),
            directory_id: directory,
            version: 1,
            display_name: format!("Team {}", members[0]),
            external_id: None,
            resource: json!({"displayName": format!("Team {}", members[0])}),
            created_at: 1,
            updated_at: 1,
        };
        let diff = dsync_dynamo::MembershipDiff {
            add: members.iter().map(|m| (*m, None)).collect(),
            remove: Vec::new(),
        };
        store.create_group(&group, &diff, 1).await.unwrap();
    }
    let (users, small) = reconcile_twice().await;
    assert_eq!(users, 100);
    // 200 more, created later (so after the first 100 in id order): still one page (500).
    add_users(100, 200).await;
    let (users, large) = reconcile_twice().await;
    assert_eq!(users, 300);

    // The run's own record (its lease claimed, saved when it starts and when it ends) is all
    // it writes.
    assert_eq!(writes(&small), 3, "{}", small.requests_summary());
    assert_eq!(writes(&large), 3, "{}", large.requests_summary());
    assert_eq!(small.write_units, large.write_units);
    // In one page, 200 users more are only two more BatchGetItems of bases (100 keys
    // each): no listing, memberships or groups read of their own.
    let queries = |report: &MeterReport| report.requests_by_operation.get("Query").copied();
    assert_eq!(
        queries(&large),
        queries(&small),
        "{}",
        large.requests_summary()
    );
    assert!(
        large.total_requests <= small.total_requests + 2,
        "200 users more cost {} requests more: {} then {}",
        large.total_requests - small.total_requests,
        small.requests_summary(),
        large.requests_summary()
    );
}

/// A settings change that changes no user still changes every user's basis (the settings
/// are among a projection's inputs), so the next run projects every user in full, finds
/// nothing to change, and writes each user's new basis alone: one write per user, once. The
/// run after that finds them all at rest and writes nothing but its own record.
#[tokio::test]
async fn a_settings_change_that_changes_no_user_costs_one_basis_write_per_user_once() {
    use dsync_domain::model::EnvironmentSettings;
    use dsync_dynamo::metering::Meter;

    let app = spawn_app_without_stream_processing().await;
    let store = app.store().clone();
    for i in 0..12 {
        let created = app
            .post("/Users", &user_body(&format!("basis{i}@example.com")))
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
    }
    let meter = Meter::new();
    // Each run metered alone: (events, UpdateItems, transactions).
    let run = || async {
        let (run, report) = metered_run(&app, &meter).await;
        assert_eq!(run.counts.users, 12);
        let count = |op: &str| report.requests_by_operation.get(op).copied().unwrap_or(0);
        eprintln!("{}", report.requests_summary());
        (
            run.counts.events,
            count("UpdateItem"),
            count("TransactWriteItems"),
        )
    };
    // Projects the users (their bases stored with them), then finds them at rest: the run's
    // own record is one UpdateItem and two transactions.
    let (events, _, _) = run().await;
    assert_eq!(events, 12);
    assert_eq!(run().await, (0, 1, 2));

    let settings = EnvironmentSettings {
        inactive_user_retention_days: Some(30),
        ..EnvironmentSettings::default()
    };
    store
        .update_environment_settings(&environment(&app), &settings, now_millis())
        .await
        .unwrap();
    assert_eq!(
        run().await,
        (0, 1 + 12, 2),
        "each user's basis written once"
    );
    assert_eq!(run().await, (0, 1, 2), "then all at rest");
}

/// One reconciliation of the bootstrap directory run to its end through a store metered by
/// `meter`, and what it requested.
async fn metered_run(
    app: &TestApp,
    meter: &dsync_dynamo::metering::Meter,
) -> (Reconciliation, dsync_dynamo::metering::MeterReport) {
    let metered = dsync_dynamo::Store::new(
        dsync_dynamo::metering::metered_client(&app.running.endpoint, meter),
        app.store().tables().clone(),
    );
    let policy = dsync_policy::App::new(metered.clone());
    let directory = DirectoryId::parse(&app.running.bootstrap.directory_id).unwrap();
    let run = metered
        .create_reconciliation(environment(app), Some(directory), policy.now())
        .await
        .unwrap();
    meter.reset();
    let (run, end) = run_one(&policy, run, None).await.unwrap();
    let report = meter.take();
    assert_eq!(end, RunEnd::Completed);
    (run, report)
}
