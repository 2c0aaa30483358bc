//! Management API: webhook endpoints (create, read, list, update, rotate the secret, delete)
//! and their deliveries (list, retry), end to end through the local runner.
//!
//! Endpoint URLs point at loopback over plain HTTP, which the local runner's API allows
//! (production allows public HTTPS only); refusals use addresses no policy here allows.

use crate::api_support;

use std::time::{Duration, Instant};

use api_support::*;
use dsync_domain::ids::{DeliveryId, EventId, WebhookEndpointId};
use dsync_tests::receiver::{Answer, Receiver};
use dsync_tests::{json, read, spawn_app, Reply, TestApp};
use reqwest::Method;
use serde_json::Value;

/// A loopback URL nothing listens on: these tests make no events, so nothing is sent there.
fn hook(name: &str) -> String {
    format!("http://127.0.0.1:9/hooks/{name}")
}

/// A well-formed delivery id that names no delivery.
fn unknown_delivery() -> DeliveryId {
    DeliveryId::new(WebhookEndpointId::generate(), &EventId::for_sequence(1, 0))
}

async fn create_endpoint(app: &TestApp, body: Value) -> Value {
    let reply = api_json(app, Method::POST, "/webhook_endpoints", &body).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body
}

fn id_of(object: &Value) -> String {
    object["id"].as_str().expect("an id").to_owned()
}

async fn patch(app: &TestApp, id: &str, body: Value) -> Reply {
    api_json(
        app,
        Method::PATCH,
        &format!("/webhook_endpoints/{id}"),
        &body,
    )
    .await
}

async fn post(app: &TestApp, path: &str) -> Reply {
    read(app.api(Method::POST, path)).await
}

#[tokio::test]
async fn a_created_endpoint_shows_its_secret_once() {
    let app = spawn_app().await;
    let created = create_endpoint(
        &app,
        json!({
            "url": hook("a"),
            "events": ["dsync.user.created", "dsync.group.created", "dsync.user.created"],
        }),
    )
    .await;
    let id = id_of(&created);
    assert!(WebhookEndpointId::parse(&id).is_ok(), "{id}");
    assert_eq!(created["object"], "webhook_endpoint");
    assert_eq!(created["url"], hook("a").as_str());
    assert_eq!(created["endpoint_url"], hook("a").as_str());
    assert_eq!(
        created["events"],
        json!(["dsync.user.created", "dsync.group.created"]),
        "duplicates are dropped"
    );
    assert_eq!(created["state"], "enabled");
    assert_eq!(created["status"], "enabled");
    assert_eq!(created["disabled_reason"], Value::Null);
    assert_eq!(created["previous_secret_expires_at"], Value::Null);
    assert_eq!(created["created_at"], created["updated_at"]);
    let secret = created["secret"].as_str().expect("the secret, once");
    assert!(secret.starts_with("whsec_"), "{secret}");

    let shown = app.api_get(&format!("/webhook_endpoints/{id}")).await;
    assert_eq!(shown.status, 200, "{:?}", shown.body);
    assert_eq!(
        shown.body["secret"],
        Value::Null,
        "the secret is shown once"
    );
    let mut without_secret = created.clone();
    without_secret["secret"] = Value::Null;
    assert_eq!(shown.body, without_secret);

    // The stored secret is the one shown (it signs the deliveries).
    let environment = app.running.bootstrap.environment_id.parse().unwrap();
    let stored = app
        .store()
        .webhook_endpoint(&environment, &WebhookEndpointId::parse(&id).unwrap())
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.secret, secret);

    // WorkOS SDKs' field name; no events means every event.
    let sdk = create_endpoint(&app, json!({"endpoint_url": hook("b")})).await;
    assert_eq!(sdk["url"], hook("b").as_str());
    assert_eq!(sdk["events"], json!([]));
    let same = json!({"url": hook("c"), "endpoint_url": hook("c"), "events": []});
    assert_eq!(create_endpoint(&app, same).await["url"], hook("c").as_str());

    let list = app.api_get("/webhook_endpoints").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["object"], "list");
    assert_eq!(list.body["data"].as_array().unwrap().len(), 3);
    assert!(list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["secret"].is_null()));
}

#[tokio::test]
async fn bad_input_is_a_400_that_says_what_is_wrong() {
    let app = spawn_app().await;
    let refused = |body: Value, says: &'static str| {
        let app = &app;
        async move {
            let reply = api_json(app, Method::POST, "/webhook_endpoints", &body).await;
            assert_error(&reply, 400, "invalid_request");
            let message = reply.body["message"].as_str().unwrap();
            assert!(message.contains(says), "{body}: {message}");
        }
    };
    refused(
        json!({"url": hook("a"), "secret": "whsec_mine"}),
        "unknown field secret",
    )
    .await;
    refused(
        json!({"url": hook("a"), "events": ["user.created"]}),
        "unknown event \"user.created\"",
    )
    .await;
    refused(
        json!({"url": hook("a"), "events": ["nope"]}),
        "dsync.group.user_removed",
    )
    .await;
    refused(
        json!({"url": hook("a"), "events": "dsync.user.created"}),
        "events must be a list",
    )
    .await;
    refused(json!({"events": []}), "url is required").await;
    refused(json!({"url": 7}), "url must be a string").await;
    refused(
        json!({"url": hook("a"), "endpoint_url": hook("b")}),
        "url and endpoint_url differ",
    )
    .await;
    let forbidden = "private, loopback or link-local";
    for url in [
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]/hook",
        "https://100.64.0.1/hook",
        "http://0.0.0.0/hook",
    ] {
        refused(json!({ "url": url }), forbidden).await;
    }
    refused(json!({"url": "ftp://127.0.0.1/hook"}), "must use https").await;
    refused(json!({"url": "not a url"}), "not a valid absolute URL").await;
    refused(
        json!({"url": "http://user:pw@127.0.0.1/hook"}),
        "user name or password",
    )
    .await;
    refused(json!({"url": "http://127.0.0.1/hook#x"}), "fragment").await;
    refused(
        json!({ "url": format!("https://example.com/{}", "a".repeat(3000)) }),
        "longer than",
    )
    .await;
    refused(
        json!({"url": "https://no-such-host.invalid/hook"}),
        "does not resolve",
    )
    .await;

    let not_json = read(
        app.api(Method::POST, "/webhook_endpoints")
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    assert_error(&not_json, 400, "invalid_request");
    let empty = read(app.api(Method::POST, "/webhook_endpoints")).await;
    assert_error(&empty, 400, "invalid_request");

    let id = id_of(&create_endpoint(&app, json!({"url": hook("a")})).await);
    for (body, says) in [
        (
            json!({"status": "paused"}),
            "status must be enabled or disabled",
        ),
        (json!({"state": 1}), "state must be a string"),
        (
            json!({"status": "enabled", "state": "disabled"}),
            "status and state differ",
        ),
        (json!({"secret": "x"}), "unknown field secret"),
        (json!({"events": ["dsync.user.exploded"]}), "unknown event"),
        (json!({"url": "https://169.254.169.254/"}), forbidden),
    ] {
        let reply = patch(&app, &id, body.clone()).await;
        assert_error(&reply, 400, "invalid_request");
        let message = reply.body["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
    let unchanged = app.api_get(&format!("/webhook_endpoints/{id}")).await;
    assert_eq!(unchanged.body["url"], hook("a").as_str());

    let rotate = format!("/webhook_endpoints/{id}/rotate_secret");
    for body in [
        json!({"grace_period_seconds": -1}),
        json!({"grace_period_seconds": 604_801}),
        json!({"grace_period_seconds": "60"}),
        json!({"grace_period_seconds": 1.5}),
        json!({"grace": 60}),
    ] {
        assert_error(
            &api_json(&app, Method::POST, &rotate, &body).await,
            400,
            "invalid_request",
        );
    }

    let deliveries = format!("/webhook_endpoints/{id}/deliveries");
    for query in [
        "after=nope".to_owned(),
        format!("after={}", unknown_delivery()),
        format!("before={}", unknown_delivery()),
        "limit=0".to_owned(),
        "limit=101".to_owned(),
        "order=asc".to_owned(),
    ] {
        let reply = app.api_get(&format!("{deliveries}?{query}")).await;
        assert_error(&reply, 400, "invalid_request");
    }
    assert_error(
        &app.api_get("/webhook_endpoints?after=directory_nope").await,
        400,
        "invalid_request",
    );

    let wrong_method = read(app.api(Method::PUT, &format!("/webhook_endpoints/{id}"))).await;
    assert_error(&wrong_method, 405, "method_not_allowed");
    assert_eq!(wrong_method.header("allow"), Some("GET, PATCH, DELETE"));
    let wrong_method = app.api_get(&rotate).await;
    assert_error(&wrong_method, 405, "method_not_allowed");
}

#[tokio::test]
async fn endpoints_are_listed_newest_first_and_paged() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for name in ["a", "b", "c"] {
        created.push(id_of(
            &create_endpoint(&app, json!({ "url": hook(name) })).await,
        ));
    }
    let first = app.api_get("/webhook_endpoints?limit=2").await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(ids(&first.body), [created[2].clone(), created[1].clone()]);
    assert_eq!(first.body["list_metadata"]["before"], Value::Null);
    assert_eq!(first.body["list_metadata"]["after"], created[1].as_str());

    let second = app
        .api_get(&format!("/webhook_endpoints?limit=2&after={}", created[1]))
        .await;
    assert_eq!(ids(&second.body), [created[0].clone()]);
    assert_eq!(second.body["list_metadata"]["after"], Value::Null);
    assert_eq!(second.body["list_metadata"]["before"], created[0].as_str());

    let back = app
        .api_get(&format!("/webhook_endpoints?limit=2&before={}", created[0]))
        .await;
    assert_eq!(ids(&back.body), [created[2].clone(), created[1].clone()]);

    let ascending = app.api_get("/webhook_endpoints?order=asc").await;
    assert_eq!(ids(&ascending.body), created);
}

#[tokio::test]
async fn patch_changes_events_status_and_url() {
    let app = spawn_app().await;
    let created = create_endpoint(&app, json!({"url": hook("a")})).await;
    let id = id_of(&created);
    tokio::time::sleep(Duration::from_millis(5)).await;

    let events = patch(
        &app,
        &id,
        json!({"events": ["dsync.deleted", "dsync.deleted"]}),
    )
    .await;
    assert_eq!(events.status, 200, "{:?}", events.body);
    assert_eq!(events.body["events"], json!(["dsync.deleted"]));
    assert_eq!(events.body["secret"], Value::Null);
    assert_eq!(events.body["created_at"], created["created_at"]);
    assert_ne!(events.body["updated_at"], created["updated_at"]);

    let disabled = patch(&app, &id, json!({"status": "disabled"})).await;
    assert_eq!(disabled.status, 200, "{:?}", disabled.body);
    assert_eq!(disabled.body["status"], "disabled");
    assert_eq!(disabled.body["state"], "disabled");
    assert_eq!(disabled.body["disabled_reason"], "disabled by request");

    // Nothing to change: nothing is written.
    let again = patch(&app, &id, json!({"status": "disabled"})).await;
    assert_eq!(again.body, disabled.body);
    let nothing = patch(&app, &id, json!({})).await;
    assert_eq!(nothing.body, disabled.body);

    let enabled = patch(&app, &id, json!({"state": "enabled"})).await;
    assert_eq!(enabled.body["status"], "enabled");
    assert_eq!(enabled.body["disabled_reason"], Value::Null);

    let moved = patch(
        &app,
        &id,
        json!({"endpoint_url": hook("moved"), "events": []}),
    )
    .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(moved.body["url"], hook("moved").as_str());
    assert_eq!(moved.body["endpoint_url"], hook("moved").as_str());
    assert_eq!(moved.body["events"], json!([]));

    let shown = app.api_get(&format!("/webhook_endpoints/{id}")).await;
    assert_eq!(shown.body, moved.body);

    // Each saved change moved the version on by one.
    let environment = app.running.bootstrap.environment_id.parse().unwrap();
    let stored = app
        .store()
        .webhook_endpoint(&environment, &WebhookEndpointId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version, 5);
}

#[tokio::test]
async fn another_environments_endpoints_are_404() {
    let app = spawn_app().await;
    let id = id_of(&create_endpoint(&app, json!({"url": hook("a")})).await);
    let (_, other_key) = other_environment(&app).await;
    let list = read(api_as(&app, &other_key, Method::GET, "/webhook_endpoints")).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["data"], json!([]));
    for (method, path) in [
        (Method::GET, format!("/webhook_endpoints/{id}")),
        (Method::PATCH, format!("/webhook_endpoints/{id}")),
        (Method::DELETE, format!("/webhook_endpoints/{id}")),
        (
            Method::POST,
            format!("/webhook_endpoints/{id}/rotate_secret"),
        ),
        (Method::GET, format!("/webhook_endpoints/{id}/deliveries")),
    ] {
        let request = api_as(&app, &other_key, method.clone(), &path).json(&json!({}));
        assert_error(&read(request).await, 404, "entity_not_found");
    }
    for missing in [
        "/webhook_endpoints/we_nope".to_owned(),
        format!("/webhook_endpoints/{}", WebhookEndpointId::generate()),
        format!(
            "/webhook_endpoints/{}/deliveries",
            WebhookEndpointId::generate()
        ),
    ] {
        assert_error(&app.api_get(&missing).await, 404, "entity_not_found");
    }
    // Still there for its own environment.
    let shown = app.api_get(&format!("/webhook_endpoints/{id}")).await;
    assert_eq!(shown.status, 200);
}

#[tokio::test]
async fn rotating_the_secret_shows_the_new_one_and_when_the_old_one_expires() {
    let app = spawn_app().await;
    let created = create_endpoint(&app, json!({"url": hook("a")})).await;
    let id = id_of(&created);
    let path = format!("/webhook_endpoints/{id}/rotate_secret");

    let rotated = post(&app, &path).await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let secret = rotated.body["secret"].as_str().expect("the new secret");
    assert!(secret.starts_with("whsec_"));
    assert_ne!(secret, created["secret"].as_str().unwrap());
    let expires = rotated.body["previous_secret_expires_at"]
        .as_str()
        .expect("the old secret's expiry");
    assert!(expires > rotated.body["updated_at"].as_str().unwrap());

    let environment = app.running.bootstrap.environment_id.parse().unwrap();
    let stored = app
        .store()
        .webhook_endpoint(&environment, &WebhookEndpointId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.secret, secret);
    let previous = stored.previous_secret.expect("the old secret signs on");
    assert_eq!(previous.secret, created["secret"].as_str().unwrap());
    assert_eq!(previous.expires_at - stored.updated_at, 24 * 3600 * 1000);

    let shown = app.api_get(&format!("/webhook_endpoints/{id}")).await;
    assert_eq!(shown.body["secret"], Value::Null);
    assert_eq!(shown.body["previous_secret_expires_at"], expires);

    let short = api_json(
        &app,
        Method::POST,
        &path,
        &json!({"grace_period_seconds": 60}),
    )
    .await;
    assert_eq!(short.status, 200, "{:?}", short.body);
    assert_ne!(short.body["secret"].as_str(), Some(secret));
    let stored = app
        .store()
        .webhook_endpoint(&environment, &WebhookEndpointId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let previous = stored.previous_secret.unwrap();
    assert_eq!(previous.secret, secret);
    assert_eq!(previous.expires_at - stored.updated_at, 60_000);

    let at_once = api_json(
        &app,
        Method::POST,
        &path,
        &json!({"grace_period_seconds": 0}),
    )
    .await;
    assert_eq!(at_once.status, 200, "{:?}", at_once.body);
    assert_eq!(at_once.body["previous_secret_expires_at"], Value::Null);
}

#[tokio::test]
async fn a_deleted_endpoint_is_gone() {
    let app = spawn_app().await;
    let id = id_of(&create_endpoint(&app, json!({"url": hook("a")})).await);
    let path = format!("/webhook_endpoints/{id}");
    let deleted = read(app.api(Method::DELETE, &path)).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, Value::Null, "an empty body");
    assert_error(&app.api_get(&path).await, 404, "entity_not_found");
    assert_error(
        &read(app.api(Method::DELETE, &path)).await,
        404,
        "entity_not_found",
    );
    assert_error(
        &patch(&app, &id, json!({"status": "enabled"})).await,
        404,
        "entity_not_found",
    );
    let list = app.api_get("/webhook_endpoints").await;
    assert_eq!(list.body["data"], json!([]));
}

#[tokio::test]
async fn an_environment_has_at_most_fifty_endpoints() {
    let app = spawn_app().await;
    for n in 0..50 {
        create_endpoint(&app, json!({ "url": hook(&n.to_string()) })).await;
    }
    let refused = api_json(
        &app,
        Method::POST,
        "/webhook_endpoints",
        &json!({"url": hook("51")}),
    )
    .await;
    assert_error(&refused, 409, "limit_reached");
}

/// The endpoint's deliveries through the API once `done` holds for them.
async fn deliveries_when(app: &TestApp, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = app
            .api_get(&format!("/webhook_endpoints/{id}/deliveries?limit=100"))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let deliveries = reply.body["data"].as_array().unwrap().clone();
        if done(&deliveries) {
            return deliveries;
        }
        assert!(Instant::now() < deadline, "deliveries: {deliveries:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn deliveries_are_listed_newest_first_and_a_failed_one_is_retried() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    receiver.answer_always(Answer::Status(500));
    let endpoint = create_endpoint(
        &app,
        json!({"url": receiver.url(), "events": ["dsync.user.created"]}),
    )
    .await;
    let id = id_of(&endpoint);

    let fresh = app
        .api_get(&format!("/webhook_endpoints/{id}/deliveries"))
        .await;
    assert_eq!(fresh.status, 200, "{:?}", fresh.body);
    assert_eq!(fresh.body["data"], json!([]));
    assert_eq!(fresh.body["list_metadata"]["after"], Value::Null);
    assert_error(
        &post(&app, "/deliveries/delivery_nope/retry").await,
        404,
        "entity_not_found",
    );
    assert_error(
        &post(&app, &format!("/deliveries/{}/retry", unknown_delivery())).await,
        404,
        "entity_not_found",
    );

    // The test schedule gives up after four attempts, about three seconds.
    app.create_user("ann@example.com").await;
    let failed = deliveries_when(&app, &id, |d| d.len() == 1 && d[0]["state"] == "failed").await;
    let delivery = &failed[0];
    assert_eq!(delivery["object"], "webhook_delivery");
    assert_eq!(delivery["endpoint_id"], id.as_str());
    assert_eq!(delivery["event"], "dsync.user.created");
    assert_eq!(delivery["last_status"], 500);
    assert_eq!(delivery["next_attempt_at"], Value::Null);
    let attempts = delivery["attempts"].as_u64().unwrap();
    assert!(attempts >= 2, "{delivery}");
    let events = app.events_after(None).await;
    assert!(events.iter().any(|e| e["id"] == delivery["event_id"]));

    let delivery_id = id_of(delivery);
    let retry = format!("/deliveries/{delivery_id}/retry");
    let (_, other_key) = other_environment(&app).await;
    assert_error(
        &read(api_as(&app, &other_key, Method::POST, &retry)).await,
        404,
        "entity_not_found",
    );

    // A retry while the endpoint is disabled would only be given up again.
    patch(&app, &id, json!({"status": "disabled"})).await;
    assert_error(&post(&app, &retry).await, 409, "conflict");
    patch(&app, &id, json!({"status": "enabled"})).await;

    receiver.answer_always(Answer::Status(204));
    let scheduled = post(&app, &retry).await;
    assert_eq!(scheduled.status, 202, "{:?}", scheduled.body);
    assert_eq!(scheduled.body["id"], delivery_id.as_str());
    assert_eq!(scheduled.body["state"], "pending");
    assert!(scheduled.body["next_attempt_at"].is_string());
    let done = deliveries_when(&app, &id, |d| d[0]["state"] == "succeeded").await;
    assert_eq!(done[0]["attempts"].as_u64(), Some(attempts + 1));
    assert_eq!(done[0]["last_status"], 204);
    assert_eq!(done[0]["last_error"], Value::Null);

    // Newer events first, paged with `after`.
    app.create_user("bob@example.com").await;
    app.create_user("cat@example.com").await;
    let all = deliveries_when(&app, &id, |d| {
        d.len() == 3 && d.iter().all(|d| d["state"] == "succeeded")
    })
    .await;
    assert_eq!(all[2]["id"], delivery_id.as_str(), "the oldest is last");
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/webhook_endpoints/{id}/deliveries?limit=2");
        if let Some(after) = &after {
            path.push_str(&format!("&after={after}"));
        }
        let page = app.api_get(&path).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        paged.extend(ids(&page.body));
        match page.body["list_metadata"]["after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    let all_ids: Vec<String> = all.iter().map(id_of).collect();
    assert_eq!(paged, all_ids);

    // Another endpoint's delivery is no cursor here.
    let other = id_of(&create_endpoint(&app, json!({"url": hook("other")})).await);
    let wrong = app
        .api_get(&format!(
            "/webhook_endpoints/{other}/deliveries?after={delivery_id}"
        ))
        .await;
    assert_error(&wrong, 400, "invalid_request");
}
