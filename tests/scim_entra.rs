//! Microsoft Entra ID's provisioning requests, as Entra sends them.

use dsync_tests::{json, spawn_app};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[tokio::test]
async fn entra_test_connection_filters_on_a_random_guid() {
    let app = spawn_app().await;
    let reply = app
        .filter_users(r#"userName eq "5e5c0b3c-1f4b-4a0e-9f4e-1b1f1c1d1e1f""#)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["totalResults"], 0);
    assert_eq!(reply.body["Resources"], json!([]));
    let reply = app
        .filter_users(r#"externalId eq "0d0d3b9c-8f6e-4ed8-a7ab-2c1d5d4e7f00""#)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["totalResults"], 0);
}

#[tokio::test]
async fn entra_user_provisioning() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
                "active": true,
                "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
                "meta": {"resourceType": "User"},
                "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
                "roles": [],
                ENTERPRISE: {"employeeNumber": "1234", "department": "Sales"}
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();

    let by_external = app
        .filter_users(r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#)
        .await;
    assert_eq!(by_external.body["totalResults"], 1);
    assert_eq!(by_external.body["Resources"][0]["id"], id.as_str());
    // externalId is case-exact data: another case is another value.
    let other_case = app
        .filter_users(r#"externalId eq "0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF""#)
        .await;
    assert_eq!(other_case.body["totalResults"], 0);

    // Separate ops per attribute, capitalized, with a value path, an extension attribute,
    // a bare-string manager and the string "False".
    let patched = app
        .patch(
            &format!("/Users/{id}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updated@testuser.com"},
                    {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
                    {"op": "Add", "path": format!("{ENTERPRISE}:department"), "value": "Engineering"},
                    {"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": "mgr-0001"},
                    {"op": "Replace", "path": "active", "value": "False"}
                ]
            }),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let user = app.get(&format!("/Users/{id}")).await.body;
    assert_eq!(user["emails"][0]["value"], "updated@testuser.com");
    assert_eq!(user["name"]["familyName"], "updatedFamilyName");
    assert_eq!(user["name"]["givenName"], "givenName");
    assert_eq!(user[ENTERPRISE]["department"], "Engineering");
    assert_eq!(user[ENTERPRISE]["employeeNumber"], "1234");
    assert_eq!(user[ENTERPRISE]["manager"]["value"], "mgr-0001");
    assert_eq!(user["active"], false, "the string \"False\" deactivates");

    // A filter on the extension attribute and on a value path find the user.
    let by_department = app
        .filter_users(&format!(r#"{ENTERPRISE}:department eq "engineering""#))
        .await;
    assert_eq!(by_department.body["totalResults"], 1);
    let by_email = app
        .filter_users(r#"emails[type eq "work" and value co "updated@"]"#)
        .await;
    assert_eq!(by_email.body["totalResults"], 1);
}

#[tokio::test]
async fn entra_group_members_removed_by_value_list_and_members_excluded() {
    let app = spawn_app().await;
    let a = app.create_user("a@example.com").await;
    let b = app.create_user("b@example.com").await;
    let c = app.create_user("c@example.com").await;
    let created = app
        .post(
            "/Groups",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "Group1DisplayName",
                "members": []
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let group = created.body["id"].as_str().unwrap().to_owned();

    let add = app
        .patch(
            &format!("/Groups/{group}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Add", "path": "members", "value": [{"value": a}, {"value": b}, {"value": c}]}]
            }),
        )
        .await;
    assert_eq!(add.status, 200, "{:?}", add.body);

    let remove = app
        .patch(
            &format!("/Groups/{group}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Remove", "path": "members", "value": [{"value": a}, {"value": c}]}]
            }),
        )
        .await;
    assert_eq!(remove.status, 200, "{:?}", remove.body);
    let members: Vec<_> = remove.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].clone())
        .collect();
    assert_eq!(
        members,
        vec![json!(b)],
        "only the listed members are removed"
    );

    // Entra reads groups without their members.
    let reply = app
        .get(&format!("/Groups/{group}?excludedAttributes=members"))
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.get("members").is_none());
    assert_eq!(reply.body["displayName"], "Group1DisplayName");
    let listed = app
        .get("/Groups?excludedAttributes=members&filter=externalId%20eq%20%228aa1a0c0-c4c3-4bc0-b4a5-2ef676900159%22")
        .await;
    assert_eq!(listed.body["totalResults"], 1);
    assert!(listed.body["Resources"][0].get("members").is_none());
}
