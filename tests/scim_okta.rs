//! Okta's provisioning sequence, as Okta sends it.

use dsync_tests::{json, spawn_app, user_body};

#[tokio::test]
async fn okta_user_lifecycle() {
    let app = spawn_app().await;

    // Existence check before create: 200, an empty list.
    let check = app
        .filter_users(r#"userName eq "jane.doe@example.com""#)
        .await;
    assert_eq!(check.status, 200);
    assert_eq!(check.body["totalResults"], 0);
    assert_eq!(check.body["Resources"], json!([]));
    assert_eq!(
        check.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );

    let created = app
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "jane.doe@example.com",
                "name": {"givenName": "Jane", "familyName": "Doe"},
                "emails": [{"primary": true, "value": "jane.doe@example.com", "type": "work"}],
                "displayName": "Jane Doe",
                "locale": "en-US",
                "externalId": "00u1abcdEFGH",
                "groups": [],
                "password": "Secret#1",
                "active": true
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("provider_user_"));
    assert_eq!(created.body["meta"]["resourceType"], "User");
    assert_eq!(created.body["meta"]["version"], "W/\"1\"");
    assert_eq!(created.header("etag"), Some("W/\"1\""));
    assert!(created
        .header("location")
        .unwrap()
        .ends_with(&format!("/Users/{id}")));
    assert!(
        created.body.get("password").is_none(),
        "password is never returned"
    );

    // The filter finds the user again, in any case.
    let found = app
        .filter_users(r#"userName eq "JANE.DOE@example.com""#)
        .await;
    assert_eq!(found.body["totalResults"], 1);
    assert_eq!(found.body["Resources"][0]["id"], id.as_str());

    // Duplicate and case-variant duplicate: 409 uniqueness.
    for user_name in ["jane.doe@example.com", "Jane.Doe@Example.com"] {
        let dup = app.post("/Users", &user_body(user_name)).await;
        assert_eq!(dup.status, 409, "{user_name}");
        assert_eq!(dup.body["scimType"], "uniqueness");
        assert_eq!(dup.body["status"], "409");
    }

    // Okta updates with a full PUT.
    let put = app
        .put(
            &format!("/Users/{id}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": id,
                "userName": "jane.doe@example.com",
                "name": {"givenName": "Janet", "familyName": "Doe"},
                "emails": [{"primary": true, "value": "jane.doe@example.com", "type": "work"}],
                "displayName": "Janet Doe",
                "active": true
            }),
        )
        .await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    assert_eq!(put.body["name"]["givenName"], "Janet");
    assert_eq!(put.body["meta"]["version"], "W/\"2\"");
    assert!(
        put.body.get("locale").is_none(),
        "PUT replaces: attributes left out are gone"
    );

    // Deactivation: a path-less replace.
    let deactivate = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": false}}]
    });
    let patched = app.patch(&format!("/Users/{id}"), &deactivate).await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["active"], false);
    let stored = app.get(&format!("/Users/{id}")).await;
    assert_eq!(stored.body["active"], false);
    assert_eq!(
        stored.body["name"]["givenName"], "Janet",
        "PATCH keeps other attributes"
    );

    // Reactivation.
    let reactivate = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": true}}]
    });
    let patched = app.patch(&format!("/Users/{id}"), &reactivate).await;
    assert_eq!(patched.body["active"], true);
}

#[tokio::test]
async fn okta_group_push_rename_and_member_remove_in_one_patch() {
    let app = spawn_app().await;
    let alice = app.create_user("alice@example.com").await;
    let bob = app.create_user("bob@example.com").await;

    let check = app
        .get("/Groups?filter=displayName%20eq%20%22Engineering%22&startIndex=1&count=100")
        .await;
    assert_eq!(check.status, 200);
    assert_eq!(check.body["totalResults"], 0);

    let created = app
        .post(
            "/Groups",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Engineering",
                "members": [{"value": alice, "display": "alice@example.com"}, {"value": bob}]
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let group = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.body["members"].as_array().unwrap().len(), 2);

    let found = app
        .get("/Groups?filter=displayName%20eq%20%22engineering%22")
        .await;
    assert_eq!(found.body["totalResults"], 1);
    assert_eq!(found.body["Resources"][0]["id"], group.as_str());

    // The user's groups attribute shows the membership.
    let alice_view = app.get(&format!("/Users/{alice}")).await;
    assert_eq!(alice_view.body["groups"][0]["value"], group.as_str());

    let patched = app
        .patch(
            &format!("/Groups/{group}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "replace", "value": {"id": group, "displayName": "Platform Engineering"}},
                    {"op": "remove", "path": format!("members[value eq \"{bob}\"]")}
                ]
            }),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["displayName"], "Platform Engineering");
    let members: Vec<_> = patched.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].clone())
        .collect();
    assert_eq!(members, vec![json!(alice)]);

    let bob_view = app.get(&format!("/Users/{bob}")).await;
    assert_eq!(bob_view.body["groups"], json!([]));

    // Rename is visible through the displayName lookup; the old name finds nothing.
    let old = app
        .get("/Groups?filter=displayName%20eq%20%22Engineering%22")
        .await;
    assert_eq!(old.body["totalResults"], 0);
    let new = app
        .get("/Groups?filter=displayName%20eq%20%22Platform%20Engineering%22")
        .await;
    assert_eq!(new.body["totalResults"], 1);

    // Okta's group delete: 204, then 404.
    assert_eq!(app.delete(&format!("/Groups/{group}")).await.status, 204);
    assert_eq!(app.get(&format!("/Groups/{group}")).await.status, 404);
    let alice_view = app.get(&format!("/Users/{alice}")).await;
    assert_eq!(alice_view.body["groups"], json!([]));
}
