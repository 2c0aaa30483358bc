//! Management API: reconciliation runs requested and followed through the API.

use crate::api_support;

use api_support::*;
use dsync_tests::{json, read, spawn_app};
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn a_requested_reconciliation_is_accepted_and_runs() {
    let app = spawn_app().await;
    let started = read(app.api(Method::POST, "/reconciliations")).await;
    assert_eq!(started.status, 202, "{:?}", started.body);
    assert_eq!(started.body["object"], "reconciliation");
    assert_eq!(started.body["state"], "pending");
    assert_eq!(started.body["directory_id"], Value::Null);
    assert_eq!(
        started.body["counts"],
        json!({"directories": 0, "users": 0, "groups": 0, "events": 0, "failed": 0})
    );
    let id = started.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("reconciliation_"));
    let finished = until_finished(&app, &id).await;
    assert_eq!(finished["state"], "completed", "{finished}");

    let directory = app.running.bootstrap.directory_id.clone();
    let one = api_json(
        &app,
        Method::POST,
        "/reconciliations",
        &json!({"directory_id": directory}),
    )
    .await;
    assert_eq!(one.status, 202, "{:?}", one.body);
    assert_eq!(one.body["directory_id"], directory.as_str());
    until_finished(&app, one.body["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn reconciliation_requests_are_checked() {
    let app = spawn_app().await;
    for body in [
        json!({"directory_id": "nope"}),
        json!({"directory_id": 3}),
        json!({"directories": []}),
        json!([]),
    ] {
        assert_error(
            &api_json(&app, Method::POST, "/reconciliations", &body).await,
            400,
            "invalid_request",
        );
    }
    let unknown = api_json(
        &app,
        Method::POST,
        "/reconciliations",
        &json!({"directory_id": "directory_01J00000000000000000000000"}),
    )
    .await;
    assert_error(&unknown, 404, "entity_not_found");
    for path in [
        "/reconciliations/reconciliation_01J00000000000000000000000",
        "/reconciliations/nope",
    ] {
        assert_error(&app.api_get(path).await, 404, "entity_not_found");
    }
    // The collection lists runs (GET) and starts one (POST); nothing else.
    assert_error(
        &read(app.api(Method::DELETE, "/reconciliations")).await,
        405,
        "method_not_allowed",
    );
}
