//! Bad input gets the precise SCIM 4xx, never a 500 or a panic.

use dsync_tests::{json, read, spawn_app, user_body, Reply};
use reqwest::Method;

fn assert_scim_error(reply: &Reply, status: u16, scim_type: Option<&str>) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(
        reply.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(reply.body["status"], status.to_string());
    match scim_type {
        Some(t) => assert_eq!(reply.body["scimType"], t),
        None => assert!(reply.body.get("scimType").is_none()),
    }
}

#[tokio::test]
async fn malformed_json_is_invalid_syntax() {
    let app = spawn_app().await;
    let reply = read(app.scim(Method::POST, "/Users").body("{\"userName\": ")).await;
    assert_scim_error(&reply, 400, Some("invalidSyntax"));
    let reply = read(app.scim(Method::POST, "/Users").body("")).await;
    assert_scim_error(&reply, 400, Some("invalidSyntax"));
    let deep = "[".repeat(5000);
    let reply = read(app.scim(Method::POST, "/Users").body(deep)).await;
    assert_scim_error(&reply, 400, Some("invalidSyntax"));
}

#[tokio::test]
async fn invalid_values_are_invalid_value() {
    let app = spawn_app().await;
    let reply = app
        .post("/Users", &json!({"name": {"givenName": "No user name"}}))
        .await;
    assert_scim_error(&reply, 400, Some("invalidValue"));
    let reply = app.post("/Users", &json!({"userName": 42})).await;
    assert_scim_error(&reply, 400, Some("invalidValue"));
    let reply = app
        .post(
            "/Users",
            &json!({"userName": "x@example.com", "active": "maybe"}),
        )
        .await;
    assert_scim_error(&reply, 400, Some("invalidValue"));
    let reply = app
        .post("/Users", &json!({"userName": "x".repeat(600)}))
        .await;
    assert_scim_error(&reply, 400, Some("invalidValue"));
    // A member value that is not a user id never fails the request (issue 9): it is skipped.
    let reply = app
        .post(
            "/Groups",
            &json!({"displayName": "G", "members": [{"value": "not-a-user"}]}),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.body["members"], json!([]));
}

#[tokio::test]
async fn bad_patches_name_the_problem() {
    let app = spawn_app().await;
    let id = app.create_user("p@example.com").await;
    let path = format!("/Users/{id}");
    let patch = |ops: serde_json::Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});

    let reply = app
        .patch(
            &path,
            &patch(json!([{"op": "explode", "path": "title", "value": "x"}])),
        )
        .await;
    assert_scim_error(&reply, 400, Some("invalidSyntax"));
    let reply = app
        .patch(
            &path,
            &patch(json!([{"op": "replace", "path": "emails[type eq", "value": "x"}])),
        )
        .await;
    assert_scim_error(&reply, 400, Some("invalidPath"));
    let reply = app.patch(&path, &patch(json!([{"op": "remove"}]))).await;
    assert_scim_error(&reply, 400, Some("noTarget"));
    let reply = app
        .patch(
            &path,
            &patch(json!([{"op": "replace", "path": "id", "value": "other"}])),
        )
        .await;
    assert_scim_error(&reply, 400, Some("mutability"));
    let many: Vec<_> = (0..1001)
        .map(|i| json!({"op": "replace", "path": "title", "value": i.to_string()}))
        .collect();
    let reply = app.patch(&path, &patch(json!(many))).await;
    assert_scim_error(&reply, 400, Some("tooMany"));
    // Nothing was applied by any failed PATCH.
    let user = app.get(&path).await;
    assert_eq!(user.body["meta"]["version"], "W/\"1\"");
}

#[tokio::test]
async fn bad_filters_are_invalid_filter() {
    let app = spawn_app().await;
    for filter in [
        "userName eq",
        "userName xx \"a\"",
        "userName eq \"unterminated",
        "(userName eq \"a\"",
        "emails[type eq \"work\"",
    ] {
        let reply = app.filter_users(filter).await;
        assert_scim_error(&reply, 400, Some("invalidFilter"));
    }
    let deep = format!("{}userName eq \"a\"{}", "(".repeat(2000), ")".repeat(2000));
    let reply = app.filter_users(&deep).await;
    assert_scim_error(&reply, 400, Some("invalidFilter"));
    let reply = app.get("/Users?count=ten").await;
    assert_scim_error(&reply, 400, Some("invalidValue"));
}

#[tokio::test]
async fn oversized_body_is_413() {
    let app = spawn_app().await;
    let mut body = user_body("big@example.com");
    body["title"] = json!("x".repeat(3 * 1024 * 1024));
    let reply = app.post("/Users", &body).await;
    assert_scim_error(&reply, 413, None);
}

#[tokio::test]
async fn unknown_paths_and_ids_are_404() {
    let app = spawn_app().await;
    assert_scim_error(&app.get("/Nope").await, 404, None);
    assert_scim_error(
        &app.get("/Users/provider_user_01J00000000000000000000000")
            .await,
        404,
        None,
    );
    assert_scim_error(&app.get("/Users/not-an-id").await, 404, None);
    assert_scim_error(&app.delete("/Groups/not-an-id").await, 404, None);
    let id = app.create_user("gone@example.com").await;
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    assert_scim_error(&app.delete(&format!("/Users/{id}")).await, 404, None);
    assert_scim_error(&app.get(&format!("/Users/{id}")).await, 404, None);
}

#[tokio::test]
async fn tokens_are_checked() {
    let app = spawn_app().await;
    let id = app.create_user("t@example.com").await;
    for token in ["wrong", ""] {
        let reply = read(app.scim_with_token(Method::GET, "/Users", token)).await;
        assert_scim_error(&reply, 401, None);
    }
    let reply = read(app.http.get(format!("{}/Users", app.scim_base))).await;
    assert_scim_error(&reply, 401, None);

    // Another directory's token reaches nothing of this directory, and vice versa.
    let (other_base, other_token) = app.other_directory().await;
    let reply = read(
        app.http
            .get(format!("{}/Users/{id}", app.scim_base))
            .bearer_auth(&other_token),
    )
    .await;
    assert_scim_error(&reply, 401, None);
    let reply = read(
        app.http
            .get(format!("{other_base}/Users/{id}"))
            .bearer_auth(&other_token),
    )
    .await;
    assert_scim_error(&reply, 404, None);
    let reply = read(
        app.http
            .get(format!("{other_base}/Users"))
            .bearer_auth(&app.token),
    )
    .await;
    assert_scim_error(&reply, 401, None);
}

#[tokio::test]
async fn stale_if_match_is_412() {
    let app = spawn_app().await;
    let id = app.create_user("e@example.com").await;
    let path = format!("/Users/{id}");
    let replace_title = |title: &str| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "replace", "path": "title", "value": title}]})
    };
    let ok = read(
        app.scim(Method::PATCH, &path)
            .header("if-match", "W/\"1\"")
            .json(&replace_title("A")),
    )
    .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.header("etag"), Some("W/\"2\""));
    let stale = read(
        app.scim(Method::PATCH, &path)
            .header("if-match", "W/\"1\"")
            .json(&replace_title("B")),
    )
    .await;
    assert_scim_error(&stale, 412, None);
    let stale = read(
        app.scim(Method::DELETE, &path)
            .header("if-match", "W/\"1\""),
    )
    .await;
    assert_scim_error(&stale, 412, None);
    assert_eq!(app.get(&path).await.body["title"], "A");
}
