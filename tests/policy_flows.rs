//! Every row of the flow table in docs/inactive-users.md, for each policy: the directory state and the exact
//! event sequence read through `GET /events`.

use dsync_tests::{json, spawn_app, user_body, TestApp};

fn patch(operations: serde_json::Value) -> serde_json::Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

fn set_active(active: bool) -> serde_json::Value {
    patch(json!([{"op": "replace", "value": {"active": active}}]))
}

/// The last event's id, to read only what happens next.
async fn mark(app: &TestApp) -> Option<String> {
    app.events_after(None)
        .await
        .last()
        .and_then(|e| e["id"].as_str())
        .map(str::to_owned)
}

async fn directory_users(app: &TestApp) -> Vec<serde_json::Value> {
    let directory = &app.running.bootstrap.directory_id;
    let reply = app
        .api_get(&format!("/directory_users?directory={directory}&limit=100"))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["data"].as_array().cloned().unwrap_or_default()
}

/// Two groups with nobody in them yet; returns their SCIM ids.
async fn two_groups(app: &TestApp) -> (String, String) {
    (
        app.create_group("Alpha").await,
        app.create_group("Beta").await,
    )
}

async fn join(app: &TestApp, group: &str, user: &str) {
    let reply = app
        .patch(
            &format!("/Groups/{group}"),
            &patch(json!([{"op": "add", "path": "members", "value": [{"value": user}]}])),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

async fn run_flow_table(policy: &str) {
    let app = spawn_app().await;
    app.set_settings(json!({"inactive_user_policy": policy, "inactive_user_retention_days": null}))
        .await;
    let retain = policy == "retain";
    let (alpha, beta) = two_groups(&app).await;
    app.settle().await;
    assert_eq!(
        app.event_names_after(None).await,
        ["dsync.group.created", "dsync.group.created"]
    );

    // New user, active: created.
    let at = mark(&app).await;
    let user = app.create_user("ann@example.com").await;
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    assert_eq!(
        events
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["dsync.user.created"]
    );
    let first_id = events[0]["data"]["id"].as_str().unwrap().to_owned();
    assert!(first_id.starts_with("directory_user_"));
    assert_eq!(events[0]["data"]["state"], "active");
    assert_eq!(events[0]["data"]["username"], "ann@example.com");

    // Joins two groups: user_added for each.
    let at = mark(&app).await;
    join(&app, &alpha, &user).await;
    join(&app, &beta, &user).await;
    app.settle().await;
    assert_eq!(
        app.event_names_after(at.as_deref()).await,
        ["dsync.group.user_added", "dsync.group.user_added"]
    );

    // Attribute change while active: updated, with previous_attributes.
    let at = mark(&app).await;
    app.patch(
        &format!("/Users/{user}"),
        &patch(json!([{"op": "replace", "path": "title", "value": "Engineer"}])),
    )
    .await;
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "dsync.user.updated");
    assert_eq!(events[0]["data"]["job_title"], "Engineer");
    assert_eq!(
        events[0]["data"]["previous_attributes"]["job_title"],
        serde_json::Value::Null
    );

    // Deactivated: removed from both groups, then deleted (secure) or updated to inactive.
    let at = mark(&app).await;
    app.patch(&format!("/Users/{user}"), &set_active(false))
        .await;
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    let names: Vec<_> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let last = if retain {
        "dsync.user.updated"
    } else {
        "dsync.user.deleted"
    };
    assert_eq!(
        names,
        ["dsync.group.user_removed", "dsync.group.user_removed", last]
    );
    if retain {
        assert_eq!(events[2]["data"]["state"], "inactive");
        assert_eq!(events[2]["data"]["id"], first_id.as_str());
        assert_eq!(directory_users(&app).await[0]["state"], "inactive");
    } else {
        assert!(directory_users(&app).await.is_empty());
    }

    // Attribute change while inactive: nothing (secure) or updated.
    let at = mark(&app).await;
    app.patch(
        &format!("/Users/{user}"),
        &patch(json!([{"op": "replace", "path": "title", "value": "Manager"}])),
    )
    .await;
    app.settle().await;
    let expected: &[&str] = if retain { &["dsync.user.updated"] } else { &[] };
    assert_eq!(app.event_names_after(at.as_deref()).await, expected);

    // Reactivated: a new user with a new id (secure), or the same user active again; then
    // back into both groups.
    let at = mark(&app).await;
    app.patch(&format!("/Users/{user}"), &set_active(true))
        .await;
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    let names: Vec<_> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let first = if retain {
        "dsync.user.updated"
    } else {
        "dsync.user.created"
    };
    assert_eq!(
        names,
        [first, "dsync.group.user_added", "dsync.group.user_added"]
    );
    let returned_id = events[0]["data"]["id"].as_str().unwrap();
    if retain {
        assert_eq!(returned_id, first_id, "retain keeps the id");
    } else {
        assert_ne!(returned_id, first_id, "the secure flow makes a new user");
    }
    assert_eq!(events[1]["data"]["user"]["id"], returned_id);

    // Hard delete: removed from its groups, then deleted.
    let at = mark(&app).await;
    assert_eq!(app.delete(&format!("/Users/{user}")).await.status, 204);
    app.settle().await;
    assert_eq!(
        app.event_names_after(at.as_deref()).await,
        [
            "dsync.group.user_removed",
            "dsync.group.user_removed",
            "dsync.user.deleted"
        ]
    );
    assert!(directory_users(&app).await.is_empty());

    // New user, already inactive: nothing (secure) or created inactive.
    let at = mark(&app).await;
    let mut body = user_body("bob@example.com");
    body["active"] = json!(false);
    assert_eq!(app.post("/Users", &body).await.status, 201);
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    if retain {
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["event"], "dsync.user.created");
        assert_eq!(events[0]["data"]["state"], "inactive");
    } else {
        assert!(events.is_empty(), "{events:?}");
    }
}

#[tokio::test]
async fn secure_flow_table() {
    run_flow_table("delete").await;
}

#[tokio::test]
async fn custom_management_flow_table() {
    run_flow_table("retain").await;
}

#[tokio::test]
async fn a_deleted_group_comes_alone() {
    let app = spawn_app().await;
    let a = app.create_user("a@example.com").await;
    let b = app.create_user("b@example.com").await;
    let group = app.create_group_with_members("G", &[&a, &b]).await;
    app.settle().await;
    let names = app.event_names_after(None).await;
    assert_eq!(
        names
            .iter()
            .filter(|n| *n == "dsync.group.user_added")
            .count(),
        2,
        "{names:?}"
    );
    let at = mark(&app).await;
    assert_eq!(app.delete(&format!("/Groups/{group}")).await.status, 204);
    app.settle().await;
    assert_eq!(
        app.event_names_after(at.as_deref()).await,
        ["dsync.group.deleted"]
    );
}
