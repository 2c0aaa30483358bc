//! Management API: authentication, environment scoping, settings, routing and size limits.

use crate::api_support;

use api_support::*;
use dsync_tests::{json, read, spawn_app, user_body};
use reqwest::Method;

#[tokio::test]
async fn requests_without_a_valid_api_key_are_401() {
    let app = spawn_app().await;
    for path in [
        "/environment/settings",
        "/directories",
        "/events",
        "/no/such/path",
    ] {
        let url = format!("{}{path}", app.base_url);
        let reply = read(app.http.get(&url)).await;
        assert_error(&reply, 401, "unauthorized");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        assert_error(
            &read(app.http.get(&url).bearer_auth("sk_local_wrong")).await,
            401,
            "unauthorized",
        );
        // The SCIM token is not an API key.
        assert_error(
            &read(app.http.get(&url).bearer_auth(&app.token)).await,
            401,
            "unauthorized",
        );
        assert_error(
            &read(app.http.get(&url).basic_auth("sk", Some("x"))).await,
            401,
            "unauthorized",
        );
    }
    let key = &app.running.bootstrap.api_key;
    let huge = format!("{key}{}", "x".repeat(10_000));
    assert_error(
        &read(
            app.http
                .get(format!("{}/events", app.base_url))
                .bearer_auth(huge),
        )
        .await,
        401,
        "unauthorized",
    );
    assert_eq!(app.api_get("/environment/settings").await.status, 200);
}

#[tokio::test]
async fn another_environments_objects_are_404() {
    let app = spawn_app().await;
    let (_, other_key) = other_environment(&app).await;
    let theirs = read(
        api_as(&app, &other_key, Method::POST, "/directories").json(&json!({"name": "Theirs"})),
    )
    .await;
    assert_eq!(theirs.status, 201, "{:?}", theirs.body);
    let directory = theirs.body["id"].as_str().unwrap().to_owned();
    let user = read(
        scim_of(&app, &theirs.body, Method::POST, "/Users").json(&user_body("eve@example.com")),
    )
    .await;
    assert_eq!(user.status, 201, "{:?}", user.body);
    app.settle().await;
    let their_users = read(api_as(
        &app,
        &other_key,
        Method::GET,
        &format!("/directory_users?directory={directory}"),
    ))
    .await;
    assert_eq!(their_users.status, 200, "{:?}", their_users.body);
    let their_user = ids(&their_users.body)
        .pop()
        .expect("their user is projected");
    let run = read(api_as(&app, &other_key, Method::POST, "/reconciliations")).await;
    assert_eq!(run.status, 202, "{:?}", run.body);
    let run = run.body["id"].as_str().unwrap().to_owned();

    // With our key, none of it exists.
    for path in [
        format!("/directories/{directory}"),
        format!("/directory_users?directory={directory}"),
        format!("/directory_groups?directory={directory}"),
        format!("/directory_users/{their_user}"),
        format!("/directory_groups?user={their_user}"),
        format!("/reconciliations/{run}"),
    ] {
        assert_error(&app.api_get(&path).await, 404, "entity_not_found");
    }
    assert_error(
        &read(app.api(Method::DELETE, &format!("/directories/{directory}"))).await,
        404,
        "entity_not_found",
    );
    assert_error(
        &read(app.api(Method::POST, &format!("/directories/{directory}/token"))).await,
        404,
        "entity_not_found",
    );
    let reconcile_theirs = api_json(
        &app,
        Method::POST,
        "/reconciliations",
        &json!({"directory_id": directory}),
    )
    .await;
    assert_error(&reconcile_theirs, 404, "entity_not_found");
    assert!(!ids(&app.api_get("/directories?limit=100").await.body).contains(&directory));
    let our_events = app.events_after(None).await;
    assert!(
        our_events
            .iter()
            .all(|e| e["data"]["id"] != directory.as_str()),
        "{our_events:?}"
    );

    // Their directory survived our attempts, and their key sees it.
    let still = read(api_as(
        &app,
        &other_key,
        Method::GET,
        &format!("/directories/{directory}"),
    ))
    .await;
    assert_eq!(still.status, 200, "{:?}", still.body);
}

#[tokio::test]
async fn settings_round_trip_and_invalid_values_are_rejected() {
    let app = spawn_app().await;
    let environment = app.running.bootstrap.environment_id.clone();
    let current = app.api_get("/environment/settings").await;
    assert_eq!(current.status, 200);
    assert_eq!(
        current.body,
        json!({"object": "environment_settings", "environment_id": environment,
               "inactive_user_policy": "delete", "inactive_user_retention_days": null})
    );

    let retain = json!({"inactive_user_policy": "retain", "inactive_user_retention_days": 30});
    let reply = api_json(&app, Method::PUT, "/environment/settings", &retain).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["inactive_user_retention_days"], 30);
    assert_eq!(app.api_get("/environment/settings").await.body, reply.body);

    for (body, status, code) in [
        (
            json!({"inactive_user_policy": "delete", "inactive_user_retention_days": 7}),
            422,
            "invalid_settings",
        ),
        (
            json!({"inactive_user_policy": "retain", "inactive_user_retention_days": 0}),
            422,
            "invalid_settings",
        ),
        (
            json!({"inactive_user_policy": "retain", "inactive_user_retention_days": -3}),
            422,
            "invalid_settings",
        ),
        (
            json!({"inactive_user_policy": "archive"}),
            422,
            "invalid_settings",
        ),
        (
            json!({"inactive_user_retention_days": 7}),
            400,
            "invalid_request",
        ),
        (
            json!({"inactive_user_policy": "retain", "retention": 7}),
            400,
            "invalid_request",
        ),
        (json!(["retain"]), 400, "invalid_request"),
    ] {
        let reply = api_json(&app, Method::PUT, "/environment/settings", &body).await;
        assert_error(&reply, status, code);
    }
    let malformed = read(
        app.api(Method::PUT, "/environment/settings")
            .body("{\"inactive_user_policy\":"),
    )
    .await;
    assert_error(&malformed, 400, "invalid_request");
    // Nothing was changed by the refused requests.
    assert_eq!(
        app.api_get("/environment/settings").await.body["inactive_user_retention_days"],
        30
    );

    let preview = api_json(
        &app,
        Method::POST,
        "/environment/settings/preview",
        &json!({"inactive_user_policy": "nope"}),
    )
    .await;
    assert_error(&preview, 422, "invalid_settings");
    let preview = api_json(
        &app,
        Method::POST,
        "/environment/settings/preview",
        &json!({"inactive_user_policy": "delete"}),
    )
    .await;
    assert_eq!(preview.status, 200, "{:?}", preview.body);
    assert_eq!(preview.body["object"], "settings_preview");
    assert_eq!(preview.body["current"]["inactive_user_policy"], "retain");
    assert_eq!(preview.body["proposed"]["inactive_user_policy"], "delete");
    assert_eq!(
        preview.body["users_deleted"],
        json!({"count": 0, "data": [], "truncated": false})
    );
    // A preview changes nothing.
    assert_eq!(
        app.api_get("/environment/settings").await.body["inactive_user_policy"],
        "retain"
    );
}

#[tokio::test]
async fn unknown_paths_wrong_methods_and_large_bodies_are_refused_precisely() {
    let app = spawn_app().await;
    assert_error(
        &app.api_get("/organizations").await,
        404,
        "entity_not_found",
    );
    let reply = read(app.api(Method::DELETE, "/environment/settings")).await;
    assert_error(&reply, 405, "method_not_allowed");
    assert_eq!(reply.header("allow"), Some("GET, PUT"));
    assert_error(
        &read(app.api(Method::PATCH, "/events")).await,
        405,
        "method_not_allowed",
    );

    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(1024 * 1024 + 1));
    let reply = read(
        app.api(Method::POST, "/directories")
            .header("content-type", "application/json")
            .body(big),
    )
    .await;
    assert_error(&reply, 413, "payload_too_large");
    let long_name = api_json(
        &app,
        Method::POST,
        "/directories",
        &json!({"name": "x".repeat(300)}),
    )
    .await;
    assert_error(&long_name, 400, "invalid_request");
}
