//! Roles from groups and custom attribute mapping, end to end: the environment's roles, a
//! directory's group → role mapping previewed then applied through reconciliation, a user
//! leaving the group that gave its role, and attribute paths (extension URNs, value paths).

use crate::api_support;

use std::time::Duration;

use api_support::*;
use dsync_tests::{json, read, spawn_app, TestApp};
use reqwest::Method;
use serde_json::Value;

async fn until_finished(app: &TestApp, id: &str) -> Value {
    for _ in 0..600 {
        let run = app.api_get(&format!("/reconciliations/{id}")).await;
        if matches!(run.body["state"].as_str(), Some("completed" | "failed")) {
            return run.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("reconciliation {id} did not finish");
}

async fn user_by_email(app: &TestApp, email: &str) -> Value {
    let directory = &app.running.bootstrap.directory_id;
    let reply = app
        .api_get(&format!(
            "/directory_users?directory={directory}&email={email}"
        ))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["data"][0].clone()
}

async fn group_id(app: &TestApp, name: &str) -> String {
    let directory = &app.running.bootstrap.directory_id;
    let groups = app
        .api_get(&format!("/directory_groups?directory={directory}"))
        .await;
    groups.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name)
        .and_then(|g| g["id"].as_str())
        .expect("the group is projected")
        .to_owned()
}

/// Defines admin > editor > member (the default) and maps the bootstrap directory's group
/// `group` to admin, waiting for the re-projection: the SDK tests read users with roles.
pub async fn give_group_the_admin_role(app: &TestApp, group: &str) {
    put_roles(app).await;
    let directory = app.running.bootstrap.directory_id.clone();
    let mapping = json!({"groups": [{"group_id": group_id(app, group).await, "role": "admin"}]});
    let reply = api_json(
        app,
        Method::PUT,
        &format!("/directories/{directory}/role_mappings"),
        &mapping,
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    until_finished(app, reply.body["reconciliation_id"].as_str().unwrap()).await;
}

async fn put_roles(app: &TestApp) {
    let reply = api_json(
        app,
        Method::PUT,
        "/authorization/roles",
        &json!({
            "roles": [
                {"slug": "admin", "name": "Admin"},
                {"slug": "editor", "name": "Editor", "description": "Edits"},
                {"slug": "member", "name": "Member"}
            ],
            "default_role": "member"
        }),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    until_finished(app, reply.body["reconciliation_id"].as_str().unwrap()).await;
}

fn updates_of<'a>(events: &'a [Value], user_id: &Value) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event"] == "dsync.user.updated" && e["data"]["id"] == *user_id)
        .collect()
}

#[tokio::test]
async fn group_roles_previewed_applied_and_lost_with_the_group() {
    let app = spawn_app().await;
    put_roles(&app).await;
    let roles = app.api_get("/authorization/roles").await;
    assert_eq!(roles.status, 200);
    assert_eq!(roles.body["object"], "list");
    assert_eq!(roles.body["data"][0]["slug"], "admin");
    assert_eq!(roles.body["data"][0]["priority"], 1);
    assert_eq!(roles.body["data"][2]["default"], true);

    let ann = app.create_user("ann@example.com").await;
    let bob = app.create_user("bob@example.com").await;
    let admins_scim = app.create_group_with_members("Admins", &[&ann]).await;
    app.create_group_with_members("Editors", &[&ann, &bob])
        .await;
    app.settle().await;
    let before = user_by_email(&app, "ann@example.com").await;
    assert_eq!(
        before["role"],
        json!({"slug": "member"}),
        "the default role"
    );
    assert_eq!(before["roles"], json!([]));

    let directory = app.running.bootstrap.directory_id.clone();
    let mapping = json!({"groups": [
        {"group_id": group_id(&app, "Editors").await, "role": "editor"},
        {"group_id": group_id(&app, "Admins").await, "role": "admin"}
    ]});
    let preview = api_json(
        &app,
        Method::POST,
        &format!("/directories/{directory}/role_mappings/preview"),
        &mapping,
    )
    .await;
    assert_eq!(preview.status, 200, "{:?}", preview.body);
    assert_eq!(preview.body["users_updated"]["count"], 2);
    let previewed = preview.body["users_updated"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == before["id"])
        .expect("ann is previewed")
        .clone();
    assert_eq!(previewed["role"], json!({"slug": "admin"}));
    assert_eq!(
        previewed["roles"],
        json!([{"slug": "admin"}, {"slug": "editor"}])
    );
    assert_eq!(
        previewed["previous_attributes"],
        json!({"role": {"slug": "member"}, "roles": []})
    );
    // A preview writes nothing.
    assert_eq!(
        user_by_email(&app, "ann@example.com").await["role"],
        json!({"slug": "member"})
    );
    let mark = last_event_id(&app).await;

    let applied = api_json(
        &app,
        Method::PUT,
        &format!("/directories/{directory}/role_mappings"),
        &mapping,
    )
    .await;
    assert_eq!(applied.status, 200, "{:?}", applied.body);
    let run = until_finished(&app, applied.body["reconciliation_id"].as_str().unwrap()).await;
    assert_eq!(run["state"], "completed", "{run}");
    let stored = app
        .api_get(&format!("/directories/{directory}/role_mappings"))
        .await;
    assert_eq!(stored.body["groups"], mapping["groups"]);

    let ann_after = user_by_email(&app, "ann@example.com").await;
    assert_eq!(ann_after["role"], json!({"slug": "admin"}));
    assert_eq!(
        ann_after["roles"],
        json!([{"slug": "admin"}, {"slug": "editor"}])
    );
    let bob_after = user_by_email(&app, "bob@example.com").await;
    assert_eq!(bob_after["role"], json!({"slug": "editor"}));
    let events = app.events_after(mark.as_deref()).await;
    let ann_updates = updates_of(&events, &before["id"]);
    assert_eq!(ann_updates.len(), 1, "{events:?}");
    assert_eq!(
        ann_updates[0]["data"]["previous_attributes"],
        json!({"role": {"slug": "member"}, "roles": []})
    );

    // Ann leaves the group that made her an admin: the stream path re-projects her roles.
    let mark = last_event_id(&app).await;
    let removal = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "remove", "path": format!("members[value eq \"{ann}\"]")}]
    });
    let patched = app.patch(&format!("/Groups/{admins_scim}"), &removal).await;
    assert!(matches!(patched.status, 200 | 204), "{:?}", patched.body);
    app.settle().await;
    let ann_left = user_by_email(&app, "ann@example.com").await;
    assert_eq!(ann_left["role"], json!({"slug": "editor"}));
    assert_eq!(ann_left["roles"], json!([{"slug": "editor"}]));
    let events = app.events_after(mark.as_deref()).await;
    assert_eq!(
        names(&events),
        ["dsync.group.user_removed", "dsync.user.updated"]
    );
    assert_eq!(
        events[1]["data"]["previous_attributes"]["role"],
        json!({"slug": "admin"})
    );
}

#[tokio::test]
async fn role_and_mapping_input_is_checked() {
    let app = spawn_app().await;
    put_roles(&app).await;
    let directory = app.running.bootstrap.directory_id.clone();
    let path = format!("/directories/{directory}/role_mappings");
    for (body, status) in [
        (
            json!({"groups": [{"group_id": "nope", "role": "admin"}]}),
            400,
        ),
        (json!({"groups": {}}), 400),
        (json!({"group": []}), 400),
        (json!({"idp_roles": [{"value": "x", "role": "owner"}]}), 422),
    ] {
        let reply = api_json(&app, Method::PUT, &path, &body).await;
        assert_eq!(reply.status, status, "{body}: {:?}", reply.body);
    }
    let bad_path =
        json!({"custom_attributes": [{"name": "a", "path": "addresses[type eq ].country"}]});
    let reply = api_json(
        &app,
        Method::PUT,
        &format!("/directories/{directory}/attribute_mappings"),
        &bad_path,
    )
    .await;
    assert_eq!(reply.status, 422, "{:?}", reply.body);
    let unknown = read(app.api(
        Method::GET,
        "/directories/directory_01HZZZZZZZZZZZZZZZZZZZZZZZ/role_mappings",
    ))
    .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn custom_attribute_mapping_reads_extension_and_value_paths() {
    let app = spawn_app().await;
    let mut ann = dsync_tests::user_body("ann@example.com");
    ann["schemas"] = json!([
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    ]);
    ann["addresses"] = json!([
        {"type": "home", "country": "FR"},
        {"type": "work", "country": "DE"}
    ]);
    ann["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
        json!({"department": "R&D", "costCenter": "CC-7"});
    assert_eq!(app.post("/Users", &ann).await.status, 201);
    app.create_user("bob@example.com").await;
    app.settle().await;
    let before = user_by_email(&app, "ann@example.com").await;
    assert_eq!(
        before["custom_attributes"],
        json!({"department": "R&D", "cost_center": "CC-7"}),
        "the defaults"
    );

    let directory = app.running.bootstrap.directory_id.clone();
    let defaults = app
        .api_get(&format!("/directories/{directory}/attribute_mappings"))
        .await;
    assert_eq!(defaults.body["defaults"], true);
    let mapping = json!({"custom_attributes": [
        {"name": "department", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
        {"name": "work_country", "path": "addresses[type eq \"work\"].country"}
    ]});
    let preview = api_json(
        &app,
        Method::POST,
        &format!("/directories/{directory}/attribute_mappings/preview"),
        &mapping,
    )
    .await;
    assert_eq!(preview.status, 200, "{:?}", preview.body);
    assert_eq!(
        preview.body["users_updated"]["count"], 1,
        "bob has no mapped value"
    );
    let mark = last_event_id(&app).await;
    let applied = api_json(
        &app,
        Method::PUT,
        &format!("/directories/{directory}/attribute_mappings"),
        &mapping,
    )
    .await;
    assert_eq!(applied.status, 200, "{:?}", applied.body);
    assert_eq!(applied.body["defaults"], false);
    until_finished(&app, applied.body["reconciliation_id"].as_str().unwrap()).await;

    let after = user_by_email(&app, "ann@example.com").await;
    assert_eq!(
        after["custom_attributes"],
        json!({"department": "R&D", "work_country": "DE"})
    );
    let events = app.events_after(mark.as_deref()).await;
    assert_eq!(names(&events), ["dsync.user.updated"], "only ann changed");
    assert_eq!(
        events[0]["data"]["previous_attributes"],
        json!({"custom_attributes": {"work_country": null, "cost_center": "CC-7"}})
    );

    // Back to the defaults.
    let reset = api_json(
        &app,
        Method::PUT,
        &format!("/directories/{directory}/attribute_mappings"),
        &json!({"custom_attributes": null}),
    )
    .await;
    assert_eq!(reset.body["defaults"], true);
    until_finished(&app, reset.body["reconciliation_id"].as_str().unwrap()).await;
    assert_eq!(
        user_by_email(&app, "ann@example.com").await["custom_attributes"],
        before["custom_attributes"]
    );
}

#[tokio::test]
async fn directory_metadata_counts_users_by_state_and_groups() {
    let app = spawn_app().await;
    app.set_settings(json!({"inactive_user_policy": "retain"}))
        .await;
    let ann = app.create_user("ann@example.com").await;
    let bob = app.create_user("bob@example.com").await;
    let carol = app.create_user("carol@example.com").await;
    app.create_group_with_members("Eng", &[&ann]).await;
    let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                            "Operations": [{"op": "replace", "path": "active", "value": false}]});
    assert_eq!(
        app.patch(&format!("/Users/{carol}"), &deactivate)
            .await
            .status,
        200
    );
    assert_eq!(app.delete(&format!("/Users/{bob}")).await.status, 204);
    app.settle().await;

    let directory = app.running.bootstrap.directory_id.clone();
    let fetched = app.api_get(&format!("/directories/{directory}")).await;
    assert_eq!(fetched.status, 200, "{:?}", fetched.body);
    assert_eq!(
        fetched.body["metadata"],
        json!({"users": {"active": 1, "inactive": 1}, "groups": 1})
    );
    let listed = app.api_get("/directories").await;
    let mine = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == directory.as_str())
        .expect("listed")
        .clone();
    assert_eq!(mine["metadata"], fetched.body["metadata"]);

    // Re-projecting everything (a reconciliation) changes no count.
    let run = read(app.api(Method::POST, "/reconciliations")).await;
    until_finished(&app, run.body["id"].as_str().unwrap()).await;
    let again = app.api_get(&format!("/directories/{directory}")).await;
    assert_eq!(again.body["metadata"], fetched.body["metadata"]);

    // Reactivated, carol counts as active again.
    let reactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                            "Operations": [{"op": "replace", "path": "active", "value": true}]});
    assert_eq!(
        app.patch(&format!("/Users/{carol}"), &reactivate)
            .await
            .status,
        200
    );
    app.settle().await;
    let after = app.api_get(&format!("/directories/{directory}")).await;
    assert_eq!(
        after.body["metadata"],
        json!({"users": {"active": 2, "inactive": 0}, "groups": 1})
    );
}

#[tokio::test]
async fn a_role_value_the_provider_sends_maps_to_a_role() {
    let app = spawn_app().await;
    put_roles(&app).await;
    let directory = app.running.bootstrap.directory_id.clone();
    let mapping = json!({"idp_roles": [{"value": "App.Editor", "role": "editor"}]});
    let reply = api_json(
        &app,
        Method::PUT,
        &format!("/directories/{directory}/role_mappings"),
        &mapping,
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    until_finished(&app, reply.body["reconciliation_id"].as_str().unwrap()).await;

    // As Entra ID sends an app role assignment.
    let mut ann = dsync_tests::user_body("ann@example.com");
    ann["roles"] = json!([{"value": "App.Editor", "type": "WindowsAzureActiveDirectoryRole", "primary": "False"}]);
    assert_eq!(app.post("/Users", &ann).await.status, 201);
    app.create_user("bob@example.com").await;
    app.settle().await;
    let ann = user_by_email(&app, "ann@example.com").await;
    assert_eq!(ann["role"], json!({"slug": "editor"}));
    assert_eq!(ann["roles"], json!([{"slug": "editor"}]));
    let bob = user_by_email(&app, "bob@example.com").await;
    assert_eq!(bob["role"], json!({"slug": "member"}));
}
