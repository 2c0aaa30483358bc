//! A new group's members are re-projected in chunks, each started by the stream record of
//! the wake-up the previous chunk left, so one invocation stays bounded whatever the
//! group's size, and a crash or a deletion mid-sweep leaves nothing behind.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dsync_domain::ids::ProviderGroupId;
use dsync_local::streams::Event;
use dsync_policy::project::project_group;
use dsync_tests::{spawn_app_without_stream_processing, TestApp};
use serde_dynamo::AttributeValue;

const MEMBERS: usize = 10;
const CHUNK: i32 = 4;

fn is_sweep_wake_up(record: &dsync_local::streams::EventRecord) -> bool {
    matches!(
        record.change.new_image.get("type"),
        Some(AttributeValue::S(kind)) if kind == dsync_dynamo::MEMBER_SWEEP_MARK_TYPE
    )
}

/// Delivers the provider-records stream to the policy function; with `only_wake_ups`, every
/// other record is dropped, so whatever happens is the sweep's doing. Returns how many
/// wake-ups were delivered.
async fn deliver(app: &TestApp, policy: &dsync_policy::App, only_wake_ups: bool) -> usize {
    let policy = policy.clone();
    let wake_ups = Arc::new(AtomicUsize::new(0));
    let seen = wake_ups.clone();
    let handler = move |mut event: Event| {
        let policy = policy.clone();
        let seen = seen.clone();
        async move {
            seen.fetch_add(
                event.records.iter().filter(|r| is_sweep_wake_up(r)).count(),
                Ordering::SeqCst,
            );
            if only_wake_ups {
                event.records.retain(is_sweep_wake_up);
            }
            Ok(dsync_policy::stream::handle_batch(&policy, event).await)
        }
    };
    app.deliver_provider_records(100, handler).await;
    wake_ups.load(Ordering::SeqCst)
}

/// Ten projected users, then a group naming all of them whose record has not been
/// projected yet, as when the projection backlog reaches a group after its PATCHes.
async fn users_then_their_group(app: &TestApp, policy: &dsync_policy::App) -> ProviderGroupId {
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        members.push(app.create_user(&format!("member{i}@example.com")).await);
    }
    deliver(app, policy, false).await;
    let group = app.create_group_with_members("Everyone", &members).await;
    ProviderGroupId::parse(&group).unwrap()
}

async fn members_in_group(app: &TestApp, group: &ProviderGroupId) -> usize {
    let directory = app.running.bootstrap.directory_id.parse().unwrap();
    let mut joined = 0;
    for (user, _) in app.store().all_members(&directory, group).await.unwrap() {
        let projected = app.store().load_projected_user(&user).await.unwrap();
        joined += projected
            .groups
            .iter()
            .filter(|g| g.provider_group_id == *group)
            .count();
    }
    joined
}

async fn wake_up_left(app: &TestApp) -> bool {
    let directory = &app.running.bootstrap.directory_id;
    let items = app
        .store()
        .client()
        .query()
        .table_name(&app.store().tables().provider_records)
        .key_condition_expression("pk = :pk AND begins_with(sk, :mark)")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("DIR#{directory}")),
        )
        .expression_attribute_values(
            ":mark",
            aws_sdk_dynamodb::types::AttributeValue::S("GSWEEP#".into()),
        )
        .send()
        .await
        .unwrap();
    items.count > 0
}

#[tokio::test]
async fn a_new_groups_members_are_projected_a_chunk_per_invocation() {
    let app = spawn_app_without_stream_processing().await;
    let mut policy = dsync_policy::App::new(app.store().clone());
    policy.member_sweep_chunk = CHUNK;
    let group = users_then_their_group(&app, &policy).await;
    let events_before = app.event_names_after(None).await.len();

    // The group's own record: the group and its first chunk of members.
    let context = app.policy_context(&policy).await;
    let first = project_group(&policy, &context, &group).await.unwrap();
    assert_eq!(first.events.len(), 1, "dsync.group.created: {first:?}");
    assert_eq!(first.member_events, CHUNK as usize);
    assert!(first.sweep_unfinished);
    assert_eq!(members_in_group(&app, &group).await, CHUNK as usize);
    assert!(app
        .store()
        .load_projected_group(&group)
        .await
        .unwrap()
        .members_pending());

    // Only the wake-ups are delivered: each starts the next chunk (4, 4, then the last 2).
    let wake_ups = deliver(&app, &policy, true).await;
    assert_eq!(wake_ups, 2, "one wake-up after each full chunk");
    assert_eq!(members_in_group(&app, &group).await, MEMBERS);
    let projected = app.store().load_projected_group(&group).await.unwrap();
    assert!(!projected.members_pending(), "the sweep is over");
    assert!(projected.members_after().is_none());
    assert!(!wake_up_left(&app).await, "the wake-up is removed");

    let names = app.event_names_after(None).await;
    let new = &names[events_before..];
    assert_eq!(new.len(), 1 + MEMBERS, "{new:?}");
    assert_eq!(new[0], "dsync.group.created");
    assert!(
        new[1..].iter().all(|n| n == "dsync.group.user_added"),
        "{new:?}"
    );

    // Done once: projecting the group again has nothing left to sweep.
    let again = project_group(&policy, &context, &group).await.unwrap();
    assert_eq!(again.event_count(), 0, "{again:?}");
}

#[tokio::test]
async fn a_group_deleted_mid_sweep_leaves_no_member_and_no_wake_up() {
    let app = spawn_app_without_stream_processing().await;
    let mut policy = dsync_policy::App::new(app.store().clone());
    policy.member_sweep_chunk = CHUNK;
    let group = users_then_their_group(&app, &policy).await;
    let context = app.policy_context(&policy).await;
    let first = project_group(&policy, &context, &group).await.unwrap();
    assert!(first.sweep_unfinished);

    let deleted = app
        .scim(reqwest::Method::DELETE, &format!("/Groups/{group}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    deliver(&app, &policy, false).await;

    assert_eq!(members_in_group(&app, &group).await, 0);
    assert!(app
        .store()
        .load_projected_group(&group)
        .await
        .unwrap()
        .group
        .is_none());
    assert!(!wake_up_left(&app).await, "the wake-up went with the group");
    let names = app.event_names_after(None).await;
    // As for any deleted group, `dsync.group.deleted` stands for its memberships, and the
    // sweep's remaining chunks add no member after it.
    assert_eq!(
        names.last().map(String::as_str),
        Some("dsync.group.deleted"),
        "{names:?}"
    );
    let added = names
        .iter()
        .filter(|n| *n == "dsync.group.user_added")
        .count();
    assert_eq!(
        added, CHUNK as usize,
        "only the first chunk joined: {names:?}"
    );
}
