//! Body sizes around every limit: what is accepted is stored and projected; what is refused
//! gets a precise 413 and leaves nothing behind (never a 503 the client would retry forever).

use dsync_domain::directory::limits::{
    MAX_EVENT_RAW_BYTES, MAX_EXPOSED_BYTES, MAX_RESOURCE_BYTES, TRUNCATED_MARKER,
};
use dsync_tests::{json, spawn_app, user_body, TestApp};
use serde_json::Value;

/// A user body of about `bytes` bytes, the bulk in a certificate (kept only in
/// `raw_attributes`).
fn user_of_size(user_name: &str, bytes: usize) -> Value {
    let mut body = user_body(user_name);
    let base = serde_json::to_vec(&body).unwrap().len();
    let filler = bytes.saturating_sub(base + 40);
    body["x509Certificates"] = json!([{"value": "c".repeat(filler)}]);
    body
}

async fn directory_users(app: &TestApp) -> Vec<Value> {
    let directory = &app.running.bootstrap.directory_id;
    let reply = app
        .api_get(&format!("/directory_users?directory={directory}&limit=100"))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["data"].as_array().cloned().unwrap_or_default()
}

async fn nothing_stored(app: &TestApp) {
    let reply = app.get("/Users").await;
    assert_eq!(reply.body["totalResults"], 0, "{:?}", reply.body);
    app.settle().await;
    assert!(directory_users(app).await.is_empty());
}

#[tokio::test]
async fn a_user_just_under_the_record_limit_is_stored_projected_and_announced_capped() {
    let app = spawn_app().await;
    let body = user_of_size("big@example.com", MAX_RESOURCE_BYTES - 2_000);
    let reply = app.post("/Users", &body).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body["detail"]);
    app.settle().await;

    let users = directory_users(&app).await;
    assert_eq!(users.len(), 1, "the accepted record is projected");
    let id = users[0]["id"].as_str().unwrap();
    // The full record is readable by id...
    let full = app.api_get(&format!("/directory_users/{id}")).await;
    let certificate = &full.body["raw_attributes"]["x509Certificates"][0]["value"];
    assert!(certificate.as_str().unwrap().len() > MAX_RESOURCE_BYTES - 3_000);
    // ...while its event carries a marker in place of the large value.
    let events = app.events_after(None).await;
    let created = events
        .iter()
        .find(|e| e["event"] == "dsync.user.created")
        .unwrap();
    let raw = &created["data"]["raw_attributes"];
    assert_eq!(raw["userName"], "big@example.com");
    assert!(
        raw["x509Certificates"][TRUNCATED_MARKER]["bytes"]
            .as_u64()
            .unwrap()
            > 300_000
    );
    assert!(serde_json::to_vec(raw).unwrap().len() <= MAX_EVENT_RAW_BYTES);
}

#[tokio::test]
async fn a_user_over_the_record_limit_is_413_and_nothing_is_stored() {
    let app = spawn_app().await;
    let body = user_of_size("over@example.com", MAX_RESOURCE_BYTES + 2_000);
    let reply = app.post("/Users", &body).await;
    assert_eq!(reply.status, 413, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "413");
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(detail.contains(&MAX_RESOURCE_BYTES.to_string()), "{detail}");
    nothing_stored(&app).await;
}

#[tokio::test]
async fn a_600_kb_user_is_413_not_503() {
    let app = spawn_app().await;
    let reply = app
        .post("/Users", &user_of_size("huge@example.com", 600 * 1024))
        .await;
    assert_eq!(reply.status, 413, "{:?}", reply.body["detail"]);
    nothing_stored(&app).await;
}

#[tokio::test]
async fn a_body_over_the_request_limit_is_413_before_parsing() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/Users",
            &user_of_size("vast@example.com", 1024 * 1024 + 10),
        )
        .await;
    assert_eq!(reply.status, 413, "{:?}", reply.body["detail"]);
    assert!(reply.body["detail"]
        .as_str()
        .unwrap()
        .contains("request body"));
    nothing_stored(&app).await;
}

#[tokio::test]
async fn exposed_attributes_over_their_limit_are_413() {
    let app = spawn_app().await;
    let mut body = user_body("titled@example.com");
    body["title"] = json!("t".repeat(MAX_EXPOSED_BYTES));
    let reply = app.post("/Users", &body).await;
    assert_eq!(reply.status, 413, "{:?}", reply.body);
    nothing_stored(&app).await;

    body["title"] = json!("t".repeat(MAX_EXPOSED_BYTES / 2));
    assert_eq!(app.post("/Users", &body).await.status, 201);
}

#[tokio::test]
async fn a_patch_that_would_grow_a_user_past_the_limit_is_413_and_changes_nothing() {
    let app = spawn_app().await;
    let body = user_of_size("grow@example.com", MAX_RESOURCE_BYTES - 10_000);
    let reply = app.post("/Users", &body).await;
    assert_eq!(reply.status, 201);
    let id = reply.body["id"].as_str().unwrap().to_owned();
    let version = reply.body["meta"]["version"].clone();
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "photos", "value": [{"value": "p".repeat(20_000)}]}]
    });
    let reply = app.patch(&format!("/Users/{id}"), &patch).await;
    assert_eq!(reply.status, 413, "{:?}", reply.body);
    let reply = app.get(&format!("/Users/{id}")).await;
    assert_eq!(reply.body["meta"]["version"], version);
    assert!(reply.body.get("photos").is_none());
}

#[tokio::test]
async fn a_group_over_the_record_limit_is_413_and_a_long_display_name_400() {
    let app = spawn_app().await;
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Big",
        "urn:example:params:scim:schemas:extension:blob:2.0:Group": {
            "blob": "b".repeat(MAX_RESOURCE_BYTES + 1_000)
        }
    });
    let reply = app.post("/Groups", &body).await;
    assert_eq!(reply.status, 413, "{:?}", reply.body);
    let reply = app.get("/Groups").await;
    assert_eq!(reply.body["totalResults"], 0);

    let long_display = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "d".repeat(600),
    });
    let reply = app.post("/Groups", &long_display).await;
    assert_eq!(reply.status, 400, "{:?}", reply.body);
    assert_eq!(reply.body["scimType"], "invalidValue");
}
