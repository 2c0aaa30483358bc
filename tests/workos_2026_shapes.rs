//! WorkOS's 2026 API shapes: directory `state: linked`, users' `name`, `roles` and `groups`,
//! the `email` / `idp_id` filters on `/directory_users`, and `dsync.token.created` /
//! `dsync.token.revoked` on directory creation and token rotation (token suffix only).

use dsync_tests::{json, read, spawn_app};
use reqwest::Method;
use serde_json::Value;

fn only<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

#[tokio::test]
async fn creating_and_rotating_a_token_emits_token_events_with_the_suffix_only() {
    let app = spawn_app().await;
    let created = read(
        app.api(Method::POST, "/directories")
            .json(&json!({"name": "Acme", "organization_id": "org_1"})),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["state"], "linked");
    let id = created.body["id"].as_str().unwrap().to_owned();
    let first_token = created.body["scim_token"].as_str().unwrap().to_owned();

    let rotated = read(app.api(Method::POST, &format!("/directories/{id}/token"))).await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let second_token = rotated.body["scim_token"].as_str().unwrap().to_owned();

    let events = app.events_after(None).await;
    let mine: Vec<Value> = events
        .into_iter()
        .filter(|e| e["data"]["directory_id"] == id.as_str() || e["data"]["id"] == id.as_str())
        .collect();
    let names: Vec<&str> = mine.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "dsync.activated",
            "dsync.token.created",
            "dsync.token.revoked",
            "dsync.token.created"
        ]
    );
    let created_events = only(&mine, "dsync.token.created");
    let revoked = only(&mine, "dsync.token.revoked");
    let (first, second) = (&created_events[0]["data"], &created_events[1]["data"]);
    assert_eq!(first["object"], "directory_token");
    assert_eq!(first["organization_id"], "org_1");
    assert!(first["id"]
        .as_str()
        .unwrap()
        .starts_with("directory_token_"));
    assert_eq!(first["token_suffix"], &first_token[first_token.len() - 4..]);
    assert_eq!(
        second["token_suffix"],
        &second_token[second_token.len() - 4..]
    );
    assert_ne!(first["id"], second["id"]);
    // The revocation names the first token, by id and suffix.
    assert_eq!(revoked[0]["data"]["id"], first["id"]);
    assert_eq!(revoked[0]["data"]["token_suffix"], first["token_suffix"]);
    let text = serde_json::to_string(&mine).unwrap();
    for token in [&first_token, &second_token] {
        assert!(!text.contains(token.as_str()), "no event carries a token");
    }
    // The event filter knows the new names.
    let filtered = app
        .api_get("/events?events=dsync.token.revoked&order=asc")
        .await;
    assert_eq!(filtered.status, 200, "{:?}", filtered.body);
    assert_eq!(filtered.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn users_have_name_roles_and_groups_and_can_be_found_by_email_or_idp_id() {
    let app = spawn_app().await;
    let mut body = dsync_tests::user_body("ann@example.com");
    body["externalId"] = json!("00u-ann");
    body["name"] = json!({"givenName": "Ann", "familyName": "Lee"});
    let ann = app.post("/Users", &body).await;
    assert_eq!(ann.status, 201);
    let ann = ann.body["id"].as_str().unwrap().to_owned();
    app.create_user("bob@example.com").await;
    app.create_group_with_members("Engineering", &[&ann]).await;
    app.settle().await;
    let directory = &app.running.bootstrap.directory_id;

    let by_email = app
        .api_get(&format!(
            "/directory_users?directory={directory}&email=ANN@example.com"
        ))
        .await;
    assert_eq!(by_email.status, 200, "{:?}", by_email.body);
    let found = by_email.body["data"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let user = &found[0];
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["name"], "Ann Lee");
    assert_eq!(user["roles"], json!([]));
    assert_eq!(user["groups"][0]["name"], "Engineering");
    assert_eq!(user["groups"][0]["object"], "directory_group");

    let by_idp = app
        .api_get(&format!(
            "/directory_users?directory={directory}&idp_id=00u-ann"
        ))
        .await;
    assert_eq!(by_idp.body["data"][0]["id"], user["id"]);
    let nobody = app
        .api_get(&format!(
            "/directory_users?directory={directory}&email=carol@example.com"
        ))
        .await;
    assert_eq!(nobody.status, 200);
    assert_eq!(nobody.body["data"], json!([]));

    let fetched = app
        .api_get(&format!(
            "/directory_users/{}",
            user["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(fetched.body["groups"], user["groups"]);
    let all = app
        .api_get(&format!("/directory_users?directory={directory}"))
        .await;
    let bob = all.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "bob@example.com")
        .expect("bob listed")
        .clone();
    assert_eq!(bob["groups"], json!([]), "every listed user has groups");
}
