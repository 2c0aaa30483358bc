//! Reliability guarantees of the projection: the retention clock kept by the SCIM endpoint,
//! event time taken at commit, and records that cannot be projected quarantined, not halting.

use std::sync::Arc;

use dsync_domain::ids::{DirectoryId, ProviderUserId};
use dsync_domain::time::now_millis;
use dsync_policy::project::{project_user, Contexts};
use dsync_tests::{json, spawn_app_without_stream_processing, TestApp};

fn set_active(active: bool) -> serde_json::Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
           "Operations": [{"op": "replace", "value": {"active": active}}]})
}

fn retitle(title: &str) -> serde_json::Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
           "Operations": [{"op": "replace", "path": "title", "value": title}]})
}

fn directory(app: &TestApp) -> DirectoryId {
    DirectoryId::parse(&app.running.bootstrap.directory_id).unwrap()
}

async fn inactive_since(app: &TestApp, user: &str) -> Option<i64> {
    let id = ProviderUserId::parse(user).unwrap();
    let record = app.store().get_user(&directory(app), &id).await.unwrap();
    record.inactive_since
}

#[tokio::test]
async fn the_scim_endpoint_keeps_when_it_first_saw_a_user_inactive() {
    let app = spawn_app_without_stream_processing().await;
    let user = app.create_user("leaver@example.com").await;
    assert_eq!(inactive_since(&app, &user).await, None);

    let before = now_millis();
    let path = format!("/Users/{user}");
    assert_eq!(app.patch(&path, &set_active(false)).await.status, 200);
    let since = inactive_since(&app, &user).await.expect("inactive since");
    assert!(since >= before);

    // Attribute changes while inactive (PATCH and PUT) keep the instant.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(app.patch(&path, &retitle("Gone")).await.status, 200);
    let mut body = dsync_tests::user_body("leaver@example.com");
    body["active"] = json!(false);
    body["title"] = json!("Still gone");
    assert_eq!(app.put(&path, &body).await.status, 200);
    assert_eq!(inactive_since(&app, &user).await, Some(since));

    // Reactivation clears it; the next deactivation starts a new count.
    assert_eq!(app.patch(&path, &set_active(true)).await.status, 200);
    assert_eq!(inactive_since(&app, &user).await, None);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(app.patch(&path, &set_active(false)).await.status, 200);
    assert!(inactive_since(&app, &user).await.expect("inactive again") > since);

    // Created inactive: inactive from its creation.
    let mut body = dsync_tests::user_body("never@example.com");
    body["active"] = json!(false);
    let created = app.post("/Users", &body).await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().unwrap();
    assert!(inactive_since(&app, id).await.is_some());
}

/// A projection planned (or clocked) earlier that commits after a later one must not put an
/// older `created_at` after a newer one in the log.
#[tokio::test]
async fn event_time_never_decreases_in_log_order() {
    let app = spawn_app_without_stream_processing().await;
    let first = app.create_user("first@example.com").await;
    let second = app.create_user("second@example.com").await;
    let ahead = now_millis() + 3_600_000;
    let late = dsync_policy::App::with_clock(app.store().clone(), Arc::new(move || ahead));
    let behind = dsync_policy::App::with_clock(app.store().clone(), Arc::new(|| 1_000));
    let context = Contexts::default()
        .get(&late, &directory(&app))
        .await
        .unwrap()
        .expect("directory");

    let user = ProviderUserId::parse(&first).unwrap();
    project_user(&late, &context, &user).await.unwrap();
    let user = ProviderUserId::parse(&second).unwrap();
    project_user(&behind, &context, &user).await.unwrap();

    let events = app.events_after(None).await;
    assert_eq!(events.len(), 2, "{events:?}");
    let times: Vec<&str> = events
        .iter()
        .map(|e| e["created_at"].as_str().unwrap())
        .collect();
    assert!(times[0] <= times[1], "created_at went backwards: {times:?}");
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let ulid_time = |id: &str| dsync_domain::ids::EventId::parse(id).unwrap().ulid().timestamp_ms();
    assert!(ulid_time(ids[0]) <= ulid_time(ids[1]), "{ids:?}");
}
