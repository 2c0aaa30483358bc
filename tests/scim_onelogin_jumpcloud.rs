//! OneLogin's and JumpCloud's request shapes.

use dsync_tests::{json, spawn_app, user_body};

fn patch_op(operations: serde_json::Value) -> serde_json::Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

#[tokio::test]
async fn onelogin_path_less_replace_of_several_attributes() {
    let app = spawn_app().await;
    let id = app.create_user("sam@example.com").await;
    let reply = app
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{
                "op": "replace",
                "value": {
                    "name": {"givenName": "Samantha", "familyName": "Smith"},
                    "title": "Manager",
                    "emails": [{"value": "sam@example.com", "type": "work", "primary": true}],
                    "active": true
                }
            }])),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let user = app.get(&format!("/Users/{id}")).await.body;
    assert_eq!(user["name"]["givenName"], "Samantha");
    assert_eq!(user["title"], "Manager");
    assert_eq!(user["emails"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn onelogin_replaces_group_members() {
    let app = spawn_app().await;
    let a = app.create_user("a@example.com").await;
    let b = app.create_user("b@example.com").await;
    let group = app.create_group_with_members("Sales", &[&a]).await;
    let reply = app
        .patch(
            &format!("/Groups/{group}"),
            &patch_op(json!([{"op": "replace", "path": "members", "value": [{"value": b}]}])),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let members: Vec<_> = reply.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].clone())
        .collect();
    assert_eq!(members, vec![json!(b)]);
}

#[tokio::test]
async fn jumpcloud_group_rename_and_membership() {
    let app = spawn_app().await;
    let a = app.create_user("a@example.com").await;
    let created = app.post("/Groups", &json!({"displayName": "Design"})).await;
    let group = created.body["id"].as_str().unwrap().to_owned();
    assert!(created.body["members"]
        .as_array()
        .is_none_or(|m| m.is_empty()));

    let renamed = app
        .patch(
            &format!("/Groups/{group}"),
            &patch_op(
                json!([{"op": "replace", "value": {"id": group, "displayName": "Product Design"}}]),
            ),
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(renamed.body["displayName"], "Product Design");

    let added = app
        .patch(
            &format!("/Groups/{group}"),
            &patch_op(json!([{"op": "add", "path": "members", "value": [{"value": a, "display": "a@example.com"}]}])),
        )
        .await;
    assert_eq!(added.body["members"][0]["value"], a.as_str());
    // Adding the same member again changes nothing.
    let again = app
        .patch(
            &format!("/Groups/{group}"),
            &patch_op(json!([{"op": "add", "path": "members", "value": [{"value": a, "display": "a@example.com"}]}])),
        )
        .await;
    assert_eq!(again.body["members"].as_array().unwrap().len(), 1);
    assert_eq!(again.body["meta"]["version"], added.body["meta"]["version"]);

    let removed = app
        .patch(
            &format!("/Groups/{group}"),
            &patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}])),
        )
        .await;
    assert_eq!(removed.body["members"], json!([]));
}

#[tokio::test]
async fn jumpcloud_deactivates_with_a_full_put() {
    let app = spawn_app().await;
    let id = app.create_user("kim@example.com").await;
    let mut body = user_body("kim@example.com");
    body["active"] = json!(false);
    let reply = app.put(&format!("/Users/{id}"), &body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["active"], false);
    let inactive = app.filter_users("active eq false").await;
    assert_eq!(inactive.body["totalResults"], 1);
}
