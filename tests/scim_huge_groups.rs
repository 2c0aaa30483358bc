//! What SCIM answers for a group past the member listing limit, and for a group whose
//! deletion has not finished sweeping its memberships (docs/limits.md, "Large groups").

use aws_sdk_dynamodb::types::AttributeValue;
use dsync_domain::ids::ProviderUserId;
use dsync_tests::{json, read, spawn_app_without_stream_processing, TestApp};
use reqwest::Method;
use serde_json::Value;

/// The most members `GET /Groups/{id}` lists (`MAX_LISTED_MEMBERS` in the SCIM function).
const LISTED: usize = 5_000;

fn add_members(members: &[(String, String)]) -> Value {
    let value: Vec<Value> = members
        .iter()
        .map(|(id, display)| json!({"value": id, "display": display}))
        .collect();
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": value}]
    })
}

/// `GET` with the raw body size, as an IdP's HTTP client receives it.
async fn get_sized(app: &TestApp, path: &str) -> (u16, usize, Value) {
    let response = app
        .scim(Method::GET, path)
        .send()
        .await
        .expect("a response");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("a body");
    let body = serde_json::from_slice(&bytes).expect("JSON");
    (status, bytes.len(), body)
}

#[tokio::test]
async fn a_huge_group_is_read_without_members_and_within_the_size_bound() {
    let app = spawn_app_without_stream_processing().await;
    let group = app.create_group("Everyone").await;

    // Member ids the directory has not seen are stored as references and listed, so the
    // group can be filled without creating 5,001 users. Displays of the longest kept size
    // (256 bytes) make the listed response as large as it gets.
    let members: Vec<(String, String)> = (0..=LISTED)
        .map(|i| {
            let display = format!("{i:06}{}", "x".repeat(250));
            (ProviderUserId::generate().to_string(), display)
        })
        .collect();
    for chunk in members[..LISTED].chunks(1_000) {
        // Entra's way: PATCH chunks, asking for no members back.
        let reply = app
            .patch(
                &format!("/Groups/{group}?excludedAttributes=members"),
                &add_members(chunk),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert!(reply.body.get("members").is_none());
    }

    // At the limit every member is listed, in a response well under Lambda's 6 MB.
    let (status, size, body) = get_sized(&app, &format!("/Groups/{group}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["members"].as_array().map(Vec::len), Some(LISTED));
    assert!(size < 3_000_000, "{size} bytes for {LISTED} members");

    let reply = app
        .patch(
            &format!("/Groups/{group}"),
            &add_members(&members[LISTED..]),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert!(
        reply.body.get("members").is_none(),
        "a PATCH answer of a huge group leaves members out too"
    );

    // One past it: the group without `members`, as with `excludedAttributes=members`.
    let (status, size, body) = get_sized(&app, &format!("/Groups/{group}")).await;
    assert_eq!(status, 200);
    assert!(body.get("members").is_none(), "{body}");
    assert_eq!(body["displayName"], "Everyone");
    assert_eq!(body["id"], group.as_str());
    assert!(size < 10_000, "{size} bytes without members");
    let (_, _, excluded) =
        get_sized(&app, &format!("/Groups/{group}?excludedAttributes=members")).await;
    assert_eq!(excluded, body);

    // Every membership is stored even though the read leaves them out.
    let stored = app
        .store()
        .all_members(
            &app.running.bootstrap.directory_id.parse().unwrap(),
            &group.parse().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(stored.len(), LISTED + 1);

    // Removing one member brings the listing back.
    let remove = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "remove", "path": format!("members[value eq \"{}\"]", members[0].0)}]
    });
    assert_eq!(
        app.patch(&format!("/Groups/{group}"), &remove).await.status,
        200
    );
    let (_, _, body) = get_sized(&app, &format!("/Groups/{group}")).await;
    assert_eq!(body["members"].as_array().map(Vec::len), Some(LISTED));
}

/// Marks a group deleted the way `DELETE /Groups/{id}`'s first transaction does, as if the
/// request then stopped before sweeping any membership (and no policy function ran to
/// finish it).
async fn mark_deleted_without_sweep(app: &TestApp, group: &str) {
    let store = app.store();
    let directory = &app.running.bootstrap.directory_id;
    store
        .client()
        .update_item()
        .table_name(&store.tables().provider_records)
        .key("pk", AttributeValue::S(format!("DIR#{directory}")))
        .key("sk", AttributeValue::S(format!("GROUP#{group}")))
        .update_expression("SET deleting = :t, version = version + :one")
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    // The mark the same transaction puts beside it.
    store
        .client()
        .put_item()
        .table_name(&store.tables().provider_records)
        .item("pk", AttributeValue::S(format!("DIR#{directory}")))
        .item("sk", AttributeValue::S(format!("GDELETING#{group}")))
        .item("type", AttributeValue::S("group_deleting".into()))
        .item("group_id", AttributeValue::S(group.into()))
        .send()
        .await
        .unwrap();
}

fn ids_of(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn group_ids_of_user(user: &Value) -> Vec<String> {
    user["groups"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|g| g["value"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_deleted_group_is_gone_from_every_scim_read_while_its_sweep_is_unfinished() {
    let app = spawn_app_without_stream_processing().await;
    let user = app.create_user("ada@example.com").await;
    let mut groups = Vec::new();
    for name in ["Doomed", "Kept"] {
        groups.push(app.create_group_with_members(name, &[&user]).await);
    }
    let (doomed, kept) = (groups[0].clone(), groups[1].clone());
    mark_deleted_without_sweep(&app, &doomed).await;

    // Its memberships are still stored...
    let directory = app.running.bootstrap.directory_id.parse().unwrap();
    let stored = app
        .store()
        .groups_of_user(&directory, &user.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.len(), 2, "the sweep has not run");

    // ...but no SCIM read shows the group.
    assert_eq!(app.get(&format!("/Groups/{doomed}")).await.status, 404);
    assert_eq!(ids_of(&app.get("/Groups").await.body), [kept.as_str()]);
    let by_name = read(
        app.scim(Method::GET, "/Groups")
            .query(&[("filter", "displayName eq \"Doomed\"")]),
    )
    .await;
    assert_eq!(by_name.status, 200);
    assert_eq!(by_name.body["totalResults"], 0);
    let walked = read(
        app.scim(Method::GET, "/Groups")
            .query(&[("filter", "displayName sw \"Do\"")]),
    )
    .await;
    assert_eq!(ids_of(&walked.body), Vec::<String>::new());
    let searched = app
        .post(
            "/Groups/.search",
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "displayName eq \"Doomed\""
            }),
        )
        .await;
    assert_eq!(searched.body["totalResults"], 0, "{:?}", searched.body);
    let reply = app.get(&format!("/Users/{user}")).await;
    assert_eq!(group_ids_of_user(&reply.body), [kept.as_str()]);

    // A user write's answer shows the same.
    let deactivate = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": false}}]
    });
    let reply = app.patch(&format!("/Users/{user}"), &deactivate).await;
    assert_eq!(reply.status, 200);
    assert_eq!(group_ids_of_user(&reply.body), [kept.as_str()]);

    // Another DELETE finishes the sweep; then the memberships are gone too.
    assert_eq!(app.delete(&format!("/Groups/{doomed}")).await.status, 204);
    let stored = app
        .store()
        .groups_of_user(&directory, &user.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored, [kept.parse().unwrap()]);
    assert_eq!(app.delete(&format!("/Groups/{doomed}")).await.status, 404);
    // The deletion mark went with the group.
    let store = app.store();
    let marks = store
        .client()
        .query()
        .table_name(&store.tables().provider_records)
        .key_condition_expression("pk = :pk AND begins_with(sk, :mark)")
        .expression_attribute_values(":pk", AttributeValue::S(format!("DIR#{directory}")))
        .expression_attribute_values(":mark", AttributeValue::S("GDELETING#".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(marks.count(), 0);
}
