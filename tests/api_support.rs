//! Helpers shared by the `api_*` tests (included with `#[path]`; each test crate uses some).
#![allow(dead_code)]

use std::time::Duration;

use dsync_domain::ids::EnvironmentId;
use dsync_domain::model::{Environment, EnvironmentSettings};
use dsync_domain::secrets;
use dsync_tests::{json, read, Reply, TestApp};
use reqwest::{Method, RequestBuilder};
use serde_json::Value;

/// A second environment with its own API key: `(environment id, api key)`.
pub async fn other_environment(app: &TestApp) -> (EnvironmentId, String) {
    let environment = Environment {
        id: EnvironmentId::generate(),
        name: "other".into(),
        settings: EnvironmentSettings::default(),
        created_at: 0,
    };
    app.store()
        .put_environment(&environment)
        .await
        .expect("environment");
    let key = secrets::generate("sk_test_");
    app.store()
        .put_api_key(dsync_dynamo::NewApiKey::new(
            environment.id,
            "other",
            &key.plain,
            0,
        ))
        .await
        .expect("api key");
    (environment.id, key.plain)
}

/// An API request with the given key.
pub fn api_as(app: &TestApp, key: &str, method: Method, path: &str) -> RequestBuilder {
    app.http
        .request(method, format!("{}{}", app.base_url, path))
        .bearer_auth(key)
}

pub async fn api_json(app: &TestApp, method: Method, path: &str, body: &Value) -> Reply {
    read(app.api(method, path).json(body)).await
}

/// Creates a directory with the bootstrap key; returns the 201 body (with its SCIM token).
pub async fn create_directory(app: &TestApp, body: Value) -> Value {
    let reply = api_json(app, Method::POST, "/directories", &body).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body
}

/// A SCIM request to a directory created through the API.
pub fn scim_of(app: &TestApp, directory: &Value, method: Method, path: &str) -> RequestBuilder {
    let base = directory["scim_base_url"].as_str().expect("scim_base_url");
    let token = directory["scim_token"].as_str().expect("scim_token");
    app.http
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .header("content-type", "application/scim+json")
}

/// The id of the newest event, to read what follows it.
pub async fn last_event_id(app: &TestApp) -> Option<String> {
    app.events_after(None)
        .await
        .last()
        .and_then(|e| e["id"].as_str())
        .map(str::to_owned)
}

pub fn names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or_default().to_owned())
        .collect()
}

pub fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|o| o["id"].as_str().expect("an id").to_owned())
        .collect()
}

pub fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.body["code"], code, "{:?}", reply.body);
    assert!(
        reply.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{:?}",
        reply.body
    );
}

pub fn group_body(name: &str, members: &[&str]) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": name,
        "members": members.iter().map(|m| json!({"value": m})).collect::<Vec<_>>(),
    })
}

/// Polls a reconciliation run until it is completed or failed, and returns it.
pub async fn until_finished(app: &TestApp, id: &str) -> Value {
    for _ in 0..600 {
        let run = app.api_get(&format!("/reconciliations/{id}")).await;
        assert_eq!(run.status, 200, "{:?}", run.body);
        if matches!(run.body["state"].as_str(), Some("completed" | "failed")) {
            return run.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("reconciliation {id} did not finish");
}
