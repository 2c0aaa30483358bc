//! At-least-once delivery: a stream batch delivered twice, reordered, or cut by a failure
//! mid-batch yields the same directory and the same events as a clean delivery, none twice.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dsync_local::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse, Event};
use dsync_tests::{json, spawn_app_without_stream_processing, TestApp};

#[derive(Clone, Copy, Debug)]
enum Delivery {
    Clean,
    Twice,
    Reversed,
    CutMidBatch,
}

/// One event as comparable across runs (ids differ from run to run).
type Described = (String, String, String, String);

fn describe(event: &serde_json::Value) -> Described {
    let data = &event["data"];
    let user = if data["user"].is_object() {
        &data["user"]
    } else {
        data
    };
    let group = if data["group"].is_object() {
        &data["group"]
    } else {
        data
    };
    (
        event["event"].as_str().unwrap_or_default().to_owned(),
        user["username"].as_str().unwrap_or_default().to_owned(),
        group["name"].as_str().unwrap_or_default().to_owned(),
        user["state"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Delivers everything in the provider-records stream, in batches of three, the way
/// `delivery` says.
async fn deliver(app: &TestApp, delivery: Delivery) {
    let policy = dsync_policy::App::new(app.store().clone());
    let cut_done = Arc::new(AtomicBool::new(false));
    let handler = move |event: Event| {
        let policy = policy.clone();
        let cut_done = cut_done.clone();
        async move {
            match delivery {
                Delivery::Clean => Ok(dsync_policy::stream::handle_batch(&policy, event).await),
                Delivery::Twice => {
                    dsync_policy::stream::handle_batch(&policy, event.clone()).await;
                    Ok(dsync_policy::stream::handle_batch(&policy, event).await)
                }
                Delivery::Reversed => {
                    let mut reversed = event;
                    reversed.records.reverse();
                    Ok(dsync_policy::stream::handle_batch(&policy, reversed).await)
                }
                Delivery::CutMidBatch
                    if event.records.len() >= 2 && !cut_done.swap(true, Ordering::SeqCst) =>
                {
                    // The function dies after the first record: Lambda retries from the second.
                    let mut first = event.clone();
                    first.records.truncate(1);
                    dsync_policy::stream::handle_batch(&policy, first).await;
                    let mut response = DynamoDbEventResponse::default();
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = event.records[1].change.sequence_number.clone();
                    response.batch_item_failures.push(failure);
                    Ok(response)
                }
                Delivery::CutMidBatch => {
                    Ok(dsync_policy::stream::handle_batch(&policy, event).await)
                }
            }
        }
    };
    app.deliver_provider_records(3, handler).await;
}

fn patch(operations: serde_json::Value) -> serde_json::Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// A provisioning story in phases; the stream is delivered after each phase. Returns the
/// events of each phase as a sorted multiset (the order across different users within one
/// phase depends on batch boundaries; the order of one user's events does not).
async fn run_story(delivery: Delivery) -> Vec<Vec<Described>> {
    let app = spawn_app_without_stream_processing().await;
    let mut phases = Vec::new();
    let mut seen = 0;
    let mut phase_end = |events: Vec<serde_json::Value>| {
        let mut phase: Vec<Described> = events[seen..].iter().map(describe).collect();
        seen = events.len();
        phase.sort();
        phase
    };

    let a = app.create_user("a@example.com").await;
    let b = app.create_user("b@example.com").await;
    let c = app.create_user("c@example.com").await;
    let group = app.create_group_with_members("Crew", &[&a, &b]).await;
    deliver(&app, delivery).await;
    phases.push(phase_end(app.events_after(None).await));

    app.patch(
        &format!("/Users/{a}"),
        &patch(json!([{"op": "replace", "value": {"active": false}}])),
    )
    .await;
    app.patch(
        &format!("/Users/{c}"),
        &patch(json!([{"op": "replace", "path": "title", "value": "Lead"}])),
    )
    .await;
    app.patch(
        &format!("/Groups/{group}"),
        &patch(json!([{"op": "replace", "value": {"displayName": "Crew 2"}}])),
    )
    .await;
    app.patch(
        &format!("/Groups/{group}"),
        &patch(json!([{"op": "add", "path": "members", "value": [{"value": c}]}])),
    )
    .await;
    deliver(&app, delivery).await;
    phases.push(phase_end(app.events_after(None).await));

    app.patch(
        &format!("/Users/{a}"),
        &patch(json!([{"op": "replace", "value": {"active": true}}])),
    )
    .await;
    app.delete(&format!("/Users/{b}")).await;
    deliver(&app, delivery).await;
    phases.push(phase_end(app.events_after(None).await));

    // The directory itself ends the same.
    let directory = &app.running.bootstrap.directory_id;
    let users = app
        .api_get(&format!("/directory_users?directory={directory}&limit=100"))
        .await
        .body;
    let mut final_users: Vec<_> = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["username"].as_str().unwrap().to_owned(),
                u["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    final_users.sort();
    assert_eq!(
        final_users,
        [
            ("a@example.com".to_owned(), "active".to_owned()),
            ("c@example.com".to_owned(), "active".to_owned())
        ]
    );
    phases
}

#[tokio::test]
async fn redelivery_reordering_and_cuts_change_nothing() {
    let clean = run_story(Delivery::Clean).await;
    // Sanity: the clean story has the events docs/inactive-users.md's table gives.
    let names = |phase: &Vec<Described>| {
        let mut counts = BTreeMap::new();
        for (name, ..) in phase {
            *counts.entry(name.clone()).or_insert(0) += 1;
        }
        counts
    };
    assert_eq!(names(&clean[0])["dsync.user.created"], 3);
    assert_eq!(names(&clean[0])["dsync.group.user_added"], 2);
    assert_eq!(names(&clean[1])["dsync.user.deleted"], 1);
    assert_eq!(names(&clean[2])["dsync.user.created"], 1);
    for delivery in [Delivery::Twice, Delivery::Reversed, Delivery::CutMidBatch] {
        assert_eq!(run_story(delivery).await, clean, "{delivery:?}");
    }
}
