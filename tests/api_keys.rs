//! Management API: API keys created, listed and revoked; reconciliation runs listed.

use crate::api_support;

use api_support::*;
use dsync_tests::{json, read, spawn_app};
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn a_key_is_shown_once_listed_by_its_hint_and_revoked_at_once() {
    let app = spawn_app().await;
    let created = api_json(&app, Method::POST, "/api_keys", &json!({"name": "ci"})).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["object"], "api_key");
    assert_eq!(created.body["name"], "ci");
    let id = created.body["id"].as_str().unwrap().to_owned();
    let key = created.body["value"].as_str().unwrap().to_owned();
    assert!(id.starts_with("key_") && key.starts_with("sk_dsync_"));
    let hint = created.body["obfuscated_value"].as_str().unwrap();
    assert_eq!(hint, format!("sk_dsync_…{}", &key[key.len() - 4..]));

    // The new key works; the listing shows both keys, newest first, never a key's value.
    let with_new = read(api_as(&app, &key, Method::GET, "/environment/settings")).await;
    assert_eq!(with_new.status, 200);
    let listed = app.api_get("/api_keys").await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let data = listed.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{data:?}");
    assert_eq!(data[0]["id"], id.as_str());
    assert_eq!(data[1]["name"], "bootstrap");
    let text = listed.body.to_string();
    assert!(!text.contains(&key) && !text.contains(&app.running.bootstrap.api_key));
    assert!(data.iter().all(|k| k.get("value").is_none()));
    let page = app.api_get("/api_keys?limit=1").await;
    assert_eq!(page.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(page.body["list_metadata"]["after"], id.as_str());

    // Revoked: the key stops working at once and leaves the listing; a second revoke is 404.
    let revoked = read(app.api(Method::DELETE, &format!("/api_keys/{id}"))).await;
    assert_eq!(revoked.status, 204, "{:?}", revoked.body);
    let after = read(api_as(&app, &key, Method::GET, "/environment/settings")).await;
    assert_eq!(after.status, 401);
    assert_eq!(
        app.api_get("/api_keys").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let again = read(app.api(Method::DELETE, &format!("/api_keys/{id}"))).await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn keys_are_scoped_to_their_environment_and_requests_are_checked() {
    let app = spawn_app().await;
    let (_, other_key) = other_environment(&app).await;
    let listed = app.api_get("/api_keys").await;
    let mine = listed.body["data"][0]["id"].as_str().unwrap().to_owned();
    // Another environment neither sees nor revokes this environment's key.
    let theirs = read(api_as(&app, &other_key, Method::GET, "/api_keys")).await;
    assert!(!theirs.body.to_string().contains(&mine));
    let revoke = read(api_as(
        &app,
        &other_key,
        Method::DELETE,
        &format!("/api_keys/{mine}"),
    ))
    .await;
    assert_eq!(revoke.status, 404);
    assert_eq!(app.api_get("/environment/settings").await.status, 200);

    for (body, status) in [
        (json!({"name": 3}), 400),
        (json!({"nam": "x"}), 400),
        (json!({"name": "x".repeat(129)}), 400),
    ] {
        let reply = api_json(&app, Method::POST, "/api_keys", &body).await;
        assert_eq!(reply.status, status, "{body}: {:?}", reply.body);
    }
    assert_eq!(
        read(app.api(Method::DELETE, "/api_keys/nope")).await.status,
        404
    );
    assert_eq!(read(app.api(Method::PUT, "/api_keys")).await.status, 405);
}

#[tokio::test]
async fn reconciliation_runs_are_listed_newest_first_and_paged() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let started = read(app.api(Method::POST, "/reconciliations")).await;
        assert_eq!(started.status, 202, "{:?}", started.body);
        let id = started.body["id"].as_str().unwrap().to_owned();
        // One unfinished run per environment: a request while one is pending joins it.
        until_finished(&app, &id).await;
        ids.push(id);
    }
    let listed = app.api_get("/reconciliations").await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let listed_ids: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed_ids, [&ids[2], &ids[1], &ids[0]]);
    assert!(listed.body["data"][0]["state"].is_string());

    let first = app.api_get("/reconciliations?limit=2").await;
    assert_eq!(first.body["list_metadata"]["after"], ids[1].as_str());
    let next = app
        .api_get(&format!("/reconciliations?limit=2&after={}", ids[1]))
        .await;
    assert_eq!(next.body["data"][0]["id"], ids[0].as_str());
    assert_eq!(next.body["list_metadata"]["after"], Value::Null);

    let (_, other_key) = other_environment(&app).await;
    let theirs = read(api_as(&app, &other_key, Method::GET, "/reconciliations")).await;
    assert_eq!(theirs.body["data"], json!([]));
    let bad = app.api_get("/reconciliations?after=nope").await;
    assert_eq!(bad.status, 400);
}
