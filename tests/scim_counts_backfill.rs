//! Counters of directories that held records before their counters existed: a
//! reconciliation counts them once, exactly, even while the directory keeps changing.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use dsync_dynamo::Backfill;
use dsync_tests::{json, read, spawn_app, spawn_app_without_stream_processing, TestApp};
use futures::stream::{self, StreamExt};
use reqwest::Method;
use serde_json::Value;

/// Deletes every counter item of the bootstrap directory, leaving it as a directory created
/// before counting began: records, no counts.
async fn forget_counters(app: &TestApp) {
    let store = app.store();
    let directory = &app.running.bootstrap.directory_id;
    let tables = store.tables();
    let partitions = [
        (
            &tables.provider_records,
            format!("DIR#{directory}"),
            "COUNT#",
        ),
        (&tables.directory, format!("DUSERCOUNT#{directory}"), ""),
    ];
    for (table, pk, prefix) in partitions {
        let items = store
            .client()
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default();
        for item in items {
            store
                .client()
                .delete_item()
                .table_name(table)
                .key("pk", item["pk"].clone())
                .key("sk", item["sk"].clone())
                .send()
                .await
                .unwrap();
        }
    }
}

async fn totals(app: &TestApp) -> (Value, Value) {
    let users = app.get("/Users?count=0").await.body["totalResults"].clone();
    let groups = app.get("/Groups?count=0").await.body["totalResults"].clone();
    (users, groups)
}

async fn metadata(app: &TestApp) -> Value {
    let directory = &app.running.bootstrap.directory_id;
    let reply = app.api_get(&format!("/directories/{directory}")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["metadata"].clone()
}

async fn reconcile(app: &TestApp) {
    let started = read(app.api(Method::POST, "/reconciliations")).await;
    assert_eq!(started.status, 202, "{:?}", started.body);
    let id = started.body["id"].as_str().unwrap().to_owned();
    for _ in 0..600 {
        let run = app.api_get(&format!("/reconciliations/{id}")).await.body;
        match run["state"].as_str() {
            Some("completed") => return,
            Some("failed") => panic!("reconciliation failed: {run}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("reconciliation did not finish");
}

fn deactivate() -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
           "Operations": [{"op": "replace", "path": "active", "value": false}]})
}

#[tokio::test]
async fn a_reconciliation_restores_lost_counters_exactly() {
    let app = spawn_app().await;
    app.set_settings(json!({"inactive_user_policy": "retain"}))
        .await;
    let mut users = Vec::new();
    for i in 0..12 {
        users.push(app.create_user(&format!("u{i:02}@example.com")).await);
    }
    for user in &users[..3] {
        assert_eq!(
            app.patch(&format!("/Users/{user}"), &deactivate())
                .await
                .status,
            200
        );
    }
    for user in &users[10..] {
        assert_eq!(app.delete(&format!("/Users/{user}")).await.status, 204);
    }
    let mut groups = Vec::new();
    for name in ["A", "B", "C", "D"] {
        groups.push(app.create_group_with_members(name, &[&users[5]]).await);
    }
    assert_eq!(
        app.delete(&format!("/Groups/{}", groups[0])).await.status,
        204
    );
    app.settle().await;
    let counted = (totals(&app).await, metadata(&app).await);
    assert_eq!(counted.0, (json!(10), json!(3)));
    assert_eq!(
        counted.1,
        json!({"users": {"active": 7, "inactive": 3}, "groups": 3})
    );

    forget_counters(&app).await;
    assert_eq!(totals(&app).await, (json!(0), json!(0)));

    reconcile(&app).await;
    assert_eq!((totals(&app).await, metadata(&app).await), counted);

    // Counting goes on from there, and a second run leaves the counts alone.
    app.create_user("late@example.com").await;
    app.settle().await;
    reconcile(&app).await;
    assert_eq!(totals(&app).await, (json!(11), json!(3)));
    assert_eq!(
        metadata(&app).await,
        json!({"users": {"active": 8, "inactive": 3}, "groups": 3})
    );
    let directory = app.running.bootstrap.directory_id.parse().unwrap();
    assert_eq!(
        app.store().backfill_counts(&directory).await.unwrap(),
        Backfill::AlreadyCounted
    );
}

#[tokio::test]
async fn a_backfill_racing_creates_and_deletes_loses_none_of_them() {
    let app = spawn_app_without_stream_processing().await;
    let early: Vec<String> = stream::iter(0..40)
        .map(|i| {
            let app = &app;
            async move { app.create_user(&format!("early{i:03}@example.com")).await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    forget_counters(&app).await;
    let directory = app.running.bootstrap.directory_id.parse().unwrap();

    // Creates and deletes keep committing while the backfill snapshots, walks and writes.
    let churn = async {
        let created: Vec<String> = stream::iter(0..150)
            .map(|i| {
                let app = &app;
                async move { app.create_user(&format!("late{i:03}@example.com")).await }
            })
            .buffer_unordered(4)
            .collect()
            .await;
        for user in &early[..15] {
            assert_eq!(app.delete(&format!("/Users/{user}")).await.status, 204);
        }
        created.len()
    };
    let backfill = async {
        let mut outcomes = Vec::new();
        loop {
            let outcome = app.store().backfill_counts(&directory).await.unwrap();
            outcomes.push(outcome);
            if outcome != Backfill::Contended {
                return outcomes;
            }
        }
    };
    let (created, outcomes) = tokio::join!(churn, backfill);
    assert_eq!(outcomes.last(), Some(&Backfill::Counted), "{outcomes:?}");

    let expected = 40 + created - 15;
    assert_eq!(totals(&app).await.0, json!(expected));
    // The count is the directory's: a full listing agrees.
    let mut listed = 0;
    for start in (1..=expected + 100).step_by(100) {
        let page = app
            .get(&format!("/Users?startIndex={start}&count=100"))
            .await;
        listed += page.body["Resources"].as_array().map_or(0, Vec::len);
    }
    assert_eq!(listed, expected);
}

/// A directory created now is counted from its start: its counters' bases (zero) are written
/// with it, by the runner's bootstrap and by `POST /directories` alike, so no reconciliation
/// walks it to count or waits for the index to settle first; its counts still move with
/// every create.
#[tokio::test]
async fn a_new_directory_is_counted_from_its_start() {
    let app = spawn_app_without_stream_processing().await;
    let bootstrap = app.running.bootstrap.directory_id.parse().unwrap();
    let created = crate::api_support::create_directory(&app, json!({"name": "Fresh"})).await;
    let created = created["id"].as_str().unwrap().parse().unwrap();
    for directory in [bootstrap, created] {
        assert_eq!(
            app.store().backfill_counts(&directory).await.unwrap(),
            Backfill::AlreadyCounted
        );
    }
    app.create_user("counted@example.com").await;
    assert_eq!(totals(&app).await, (json!(1), json!(0)));
}
