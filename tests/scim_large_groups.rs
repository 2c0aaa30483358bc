//! Groups whose member changes span several transactions, member ids the directory has not
//! seen, and group deletions that sweep their memberships resumably.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;
use dsync_domain::ids::{DirectoryId, ProviderUserId};
use dsync_domain::model::ProviderUser;
use dsync_domain::time::now_millis;
use dsync_tests::{json, spawn_app, user_body, TestApp};
use futures::stream::{self, StreamExt};
use serde_json::Value;

fn members_patch(op: &str, ids: &[String]) -> Value {
    let value: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let operation = match op {
        "remove" => {
            let filter = ids
                .iter()
                .map(|id| format!("value eq \"{id}\""))
                .collect::<Vec<_>>()
                .join(" or ");
            json!({"op": "remove", "path": format!("members[{filter}]")})
        }
        _ => json!({"op": op, "path": "members", "value": value}),
    };
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [operation]
    })
}

async fn many_users(app: &TestApp, count: usize) -> Vec<String> {
    stream::iter(0..count)
        .map(|i| async move { app.create_user(&format!("member{i:04}@example.com")).await })
        .buffered(8)
        .collect()
        .await
}

async fn scim_members(app: &TestApp, group: &str) -> BTreeSet<String> {
    let reply = app.get(&format!("/Groups/{group}")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect()
}

/// How many directory users the projected group has.
async fn projected_members(app: &TestApp, group_name: &str) -> usize {
    let directory = &app.running.bootstrap.directory_id;
    let reply = app
        .api_get(&format!(
            "/directory_groups?directory={directory}&limit=100"
        ))
        .await;
    let group = reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == group_name)
        .map(|g| g["id"].as_str().unwrap().to_owned());
    let Some(group) = group else { return 0 };
    let mut count = 0;
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/directory_users?group={group}&limit=100");
        if let Some(after) = &after {
            path.push_str(&format!("&after={after}"));
        }
        let reply = app.api_get(&path).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let page = reply.body["data"].as_array().cloned().unwrap_or_default();
        count += page.len();
        match reply.body["list_metadata"]["after"].as_str() {
            Some(next) if !page.is_empty() => after = Some(next.to_owned()),
            _ => return count,
        }
    }
}

#[tokio::test]
async fn member_changes_in_several_transactions_are_all_projected() {
    let app = spawn_app().await;
    let users = many_users(&app, 200).await;
    let group = app.create_group("Everyone").await;
    // Two PATCHes of 100 members: 200 membership items each, three transactions each.
    for chunk in users.chunks(100) {
        let reply = app
            .patch(&format!("/Groups/{group}"), &members_patch("add", chunk))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body["detail"]);
    }
    assert_eq!(scim_members(&app, &group).await.len(), 200);
    app.settle().await;
    assert_eq!(projected_members(&app, "Everyone").await, 200);
    let added = app
        .event_names_after(None)
        .await
        .iter()
        .filter(|name| *name == "dsync.group.user_added")
        .count();
    assert_eq!(added, 200);
}

#[tokio::test]
async fn concurrent_multi_transaction_patches_lose_no_add_or_remove() {
    let app = spawn_app().await;
    let users = many_users(&app, 200).await;
    let group = app.create_group("Race").await;
    let path = format!("/Groups/{group}");
    // A adds 0..100; B removes 60..100 and adds 100..200. Serially, A then B leaves
    // 0..60 ∪ 100..200, and B then A leaves 0..200; anything else lost a change.
    let first = members_patch("add", &users[..100]);
    let a = app.patch(&path, &first);
    let b = async {
        let removed = app
            .patch(&path, &members_patch("remove", &users[60..100]))
            .await;
        let added = app.patch(&path, &members_patch("add", &users[100..])).await;
        (removed, added)
    };
    let (a, (removed, added)) = futures::join!(a, b);
    assert_eq!(a.status, 200, "{:?}", a.body["detail"]);
    assert_eq!(removed.status, 200, "{:?}", removed.body["detail"]);
    assert_eq!(added.status, 200, "{:?}", added.body["detail"]);
    let members = scim_members(&app, &group).await;
    let all: BTreeSet<String> = users.iter().cloned().collect();
    let a_then_b: BTreeSet<String> = users[..60].iter().chain(&users[100..]).cloned().collect();
    assert!(
        members == all || members == a_then_b,
        "{} members",
        members.len()
    );
    app.settle().await;
    assert_eq!(projected_members(&app, "Race").await, members.len());
}

#[tokio::test]
async fn unknown_member_ids_are_kept_and_take_effect_when_the_user_exists() {
    let app = spawn_app().await;
    let group = app.create_group("Early").await;
    let known = app.create_user("known@example.com").await;
    let unseen = ProviderUserId::generate();
    let reply = app
        .patch(
            &format!("/Groups/{group}"),
            &members_patch(
                "add",
                &[known.clone(), unseen.to_string(), "not-a-user-id".into()],
            ),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let members = scim_members(&app, &group).await;
    assert_eq!(
        members,
        BTreeSet::from([known.clone(), unseen.to_string()]),
        "the unseen id is stored, the non-id skipped"
    );
    app.settle().await;
    assert_eq!(projected_members(&app, "Early").await, 1);

    // The user with that id arrives (as a record written by another path would): the stored
    // membership takes effect with its event.
    let directory = DirectoryId::parse(&app.running.bootstrap.directory_id).unwrap();
    let now = now_millis();
    let mut resource = user_body("late@example.com");
    resource["id"] = json!(unseen.to_string());
    app.store()
        .create_user(&ProviderUser {
            id: unseen,
            directory_id: directory,
            version: 1,
            user_name: "late@example.com".into(),
            external_id: None,
            active: true,
            inactive_since: None,
            resource,
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    app.settle().await;
    assert_eq!(projected_members(&app, "Early").await, 2);
    let reply = app.get(&format!("/Users/{unseen}")).await;
    assert_eq!(reply.body["groups"][0]["value"], group.as_str());

    // Deleting that user cleans its reference.
    assert_eq!(app.delete(&format!("/Users/{unseen}")).await.status, 204);
    assert_eq!(scim_members(&app, &group).await, BTreeSet::from([known]));
}

#[tokio::test]
async fn a_group_delete_sweeps_memberships_and_announces_only_the_group() {
    let app = spawn_app().await;
    let users = many_users(&app, 60).await;
    let group = app.create_group("Doomed").await;
    let reply = app
        .patch(&format!("/Groups/{group}"), &members_patch("add", &users))
        .await;
    assert_eq!(reply.status, 200);
    app.settle().await;
    let at = app
        .events_after(None)
        .await
        .last()
        .and_then(|e| e["id"].as_str())
        .map(str::to_owned);

    assert_eq!(app.delete(&format!("/Groups/{group}")).await.status, 204);
    assert_eq!(app.get(&format!("/Groups/{group}")).await.status, 404);
    let reply = app.get(&format!("/Users/{}", users[0])).await;
    assert!(reply.body.get("groups").is_none_or(|g| g == &json!([])));
    app.settle().await;
    assert_eq!(
        app.event_names_after(at.as_deref()).await,
        ["dsync.group.deleted"]
    );
    assert_eq!(app.get("/Groups").await.body["totalResults"], 0);
}

#[tokio::test]
async fn a_group_deletion_stopped_half_way_is_finished_by_the_policy_function() {
    let app = spawn_app().await;
    let users = many_users(&app, 30).await;
    let group = app.create_group("Half").await;
    let reply = app
        .patch(&format!("/Groups/{group}"), &members_patch("add", &users))
        .await;
    assert_eq!(reply.status, 200);
    app.settle().await;

    // The state a crash right after the deletion mark leaves: the group marked, every
    // membership still there.
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
    assert_eq!(app.get(&format!("/Groups/{group}")).await.status, 404);
    app.settle().await;

    let reply = app.get(&format!("/Users/{}", users[0])).await;
    assert!(
        reply.body.get("groups").is_none_or(|g| g == &json!([])),
        "{:?}",
        reply.body["groups"]
    );
    let names = app.event_names_after(None).await;
    assert_eq!(
        names.iter().filter(|n| *n == "dsync.group.deleted").count(),
        1
    );
    assert!(!names.iter().any(|n| n == "dsync.group.user_removed"));
    // A later DELETE finds nothing left to do.
    assert_eq!(app.delete(&format!("/Groups/{group}")).await.status, 404);
}
