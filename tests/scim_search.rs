//! `POST .search` (RFC 7644 §3.4.3) answers as the GET list does, and list pages read by
//! position carry an exact `totalResults` from the directory's counters.

use dsync_tests::{json, spawn_app, TestApp};
use serde_json::Value;

const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

async fn search(app: &TestApp, path: &str, body: &Value) -> dsync_tests::Reply {
    app.post(path, body).await
}

fn ids(reply: &dsync_tests::Reply) -> Vec<String> {
    reply.body["Resources"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn users(app: &TestApp, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(app.create_user(&format!("user{i:02}@example.com")).await);
    }
    ids
}

#[tokio::test]
async fn users_search_matches_the_get_list() {
    let app = spawn_app().await;
    let created = users(&app, 5).await;

    let reply = search(
        &app,
        "/Users/.search",
        &json!({
            "schemas": [SEARCH],
            "filter": "userName eq \"user03@example.com\"",
            "attributes": ["userName"]
        }),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["schemas"], json!([LIST]));
    assert_eq!(reply.body["totalResults"], 1);
    assert_eq!(ids(&reply), [created[3].clone()]);
    let resource = &reply.body["Resources"][0];
    assert_eq!(resource["userName"], "user03@example.com");
    assert!(resource.get("emails").is_none(), "attributes applied");

    let paged = search(
        &app,
        "/Users/.search",
        &json!({"schemas": [SEARCH], "startIndex": 2, "count": 2}),
    )
    .await;
    let get = app.get("/Users?startIndex=2&count=2").await;
    assert_eq!(paged.body, get.body);
    assert_eq!(paged.body["totalResults"], 5);
    assert_eq!(ids(&paged), created[1..3].to_vec());

    let scan = search(
        &app,
        "/Users/.search",
        &json!({"schemas": [SEARCH], "filter": "name.givenName eq \"Test\"", "count": 3}),
    )
    .await;
    assert_eq!(scan.body["totalResults"], 5);
    assert_eq!(ids(&scan), created[..3].to_vec());
}

#[tokio::test]
async fn groups_and_root_search() {
    let app = spawn_app().await;
    let user = app.create_user("ann@example.com").await;
    let group = app.create_group_with_members("Admins", &[&user]).await;

    let reply = search(
        &app,
        "/Groups/.search",
        &json!({"schemas": [SEARCH], "filter": "displayName eq \"admins\""}),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(ids(&reply), std::slice::from_ref(&group));

    let reply = search(&app, "/.search", &json!({"schemas": [SEARCH]})).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["totalResults"], 2);
    assert_eq!(ids(&reply), [user.clone(), group.clone()]);

    let reply = search(
        &app,
        "/.search",
        &json!({"schemas": [SEARCH], "startIndex": 2, "count": 1}),
    )
    .await;
    assert_eq!(ids(&reply), [group]);
}

#[tokio::test]
async fn search_refuses_what_a_get_list_would_and_only_post() {
    let app = spawn_app().await;
    let reply = search(
        &app,
        "/Users/.search",
        &json!({"schemas": [SEARCH], "filter": "userName zz \"x\""}),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["scimType"], "invalidFilter");

    let reply = search(&app, "/Users/.search", &json!({"schemas": ["urn:other"]})).await;
    assert_eq!(reply.status, 400);

    let reply = app.get("/Users/.search").await;
    assert_eq!(reply.status, 405, "{:?}", reply.body);
}

#[tokio::test]
async fn sequential_pages_cover_every_user_once_with_an_exact_total() {
    let app = spawn_app().await;
    let created = users(&app, 23).await;
    let mut seen = Vec::new();
    let mut start = 1;
    loop {
        let reply = app.get(&format!("/Users?startIndex={start}&count=5")).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.body["totalResults"], 23);
        assert_eq!(reply.body["startIndex"], start);
        let page = ids(&reply);
        if page.is_empty() {
            break;
        }
        seen.extend(page);
        start += 5;
    }
    assert_eq!(seen, created);

    // A jump with no cursor of its own skips from the nearest one.
    let reply = app.get("/Users?startIndex=18&count=3").await;
    assert_eq!(ids(&reply), created[17..20].to_vec());
    // Deletes are counted in the same transaction.
    assert_eq!(
        app.delete(&format!("/Users/{}", created[0])).await.status,
        204
    );
    let reply = app.get("/Users?count=0").await;
    assert_eq!(reply.body["totalResults"], 22);
    assert!(reply.body["Resources"].as_array().is_none_or(Vec::is_empty));
}
