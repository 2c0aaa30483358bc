//! Management API: directory users and groups, listed by directory and by membership.

use crate::api_support;

use api_support::*;
use dsync_tests::{json, read, spawn_app, user_body};
use reqwest::Method;
use serde_json::Value;

/// A directory (with an organization) holding five users and a group of the first two.
async fn populated(app: &dsync_tests::TestApp) -> (Value, Vec<String>, String) {
    let directory = create_directory(
        app,
        json!({"name": "People", "organization_id": "org_people"}),
    )
    .await;
    let mut scim_ids = Vec::new();
    for i in 0..5 {
        let reply = read(
            scim_of(app, &directory, Method::POST, "/Users")
                .json(&user_body(&format!("u{i}@example.com"))),
        )
        .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        scim_ids.push(reply.body["id"].as_str().unwrap().to_owned());
    }
    let group = read(
        scim_of(app, &directory, Method::POST, "/Groups")
            .json(&group_body("Admins", &[&scim_ids[0], &scim_ids[1]])),
    )
    .await;
    assert_eq!(group.status, 201, "{:?}", group.body);
    app.settle().await;
    (
        directory,
        scim_ids,
        group.body["id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_directorys_users_and_groups_page_like_workos_lists() {
    let app = spawn_app().await;
    let (directory, _, _) = populated(&app).await;
    let id = directory["id"].as_str().unwrap();

    let all = app
        .api_get(&format!("/directory_users?directory={id}&limit=100"))
        .await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    let newest_first = ids(&all.body);
    assert_eq!(newest_first.len(), 5);
    let mut sorted = newest_first.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(newest_first, sorted, "newest first by default");
    let user = &all.body["data"][0];
    assert_eq!(user["object"], "directory_user");
    assert_eq!(user["directory_id"], id);
    assert_eq!(user["organization_id"], "org_people");
    assert!(user["username"].as_str().unwrap().ends_with("@example.com"));
    assert_eq!(user["state"], "active");

    // Page through two at a time: each user once, in order, then back with `before`.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let after = cursor
            .as_ref()
            .map(|c| format!("&after={c}"))
            .unwrap_or_default();
        let page = app
            .api_get(&format!("/directory_users?directory={id}&limit=2{after}"))
            .await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        seen.extend(ids(&page.body));
        match page.body["list_metadata"]["after"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, newest_first);
    let back = app
        .api_get(&format!(
            "/directory_users?directory={id}&limit=2&before={}",
            newest_first[4]
        ))
        .await;
    assert_eq!(ids(&back.body), newest_first[2..4]);
    assert_eq!(
        back.body["list_metadata"]["before"],
        newest_first[2].as_str()
    );
    assert_eq!(
        back.body["list_metadata"]["after"],
        newest_first[3].as_str()
    );
    let ascending = app
        .api_get(&format!(
            "/directory_users?directory={id}&order=asc&limit=3"
        ))
        .await;
    let oldest: Vec<String> = newest_first.iter().rev().take(3).cloned().collect();
    assert_eq!(ids(&ascending.body), oldest);

    let one = app
        .api_get(&format!("/directory_users/{}", newest_first[0]))
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(&one.body, user);

    let groups = app
        .api_get(&format!("/directory_groups?directory={id}"))
        .await;
    assert_eq!(groups.status, 200, "{:?}", groups.body);
    let group = &groups.body["data"][0];
    assert_eq!(group["object"], "directory_group");
    assert_eq!(group["name"], "Admins");
    assert_eq!(group["organization_id"], "org_people");
    let group_id = group["id"].as_str().unwrap();
    assert_eq!(
        &app.api_get(&format!("/directory_groups/{group_id}"))
            .await
            .body,
        group
    );
}

#[tokio::test]
async fn memberships_list_a_groups_active_users_and_a_users_groups() {
    let app = spawn_app().await;
    app.set_settings(
        json!({"inactive_user_policy": "retain", "inactive_user_retention_days": null}),
    )
    .await;
    let (directory, scim_ids, _) = populated(&app).await;
    let id = directory["id"].as_str().unwrap();
    let group = ids(&app
        .api_get(&format!("/directory_groups?directory={id}"))
        .await
        .body)
    .remove(0);

    let members = app
        .api_get(&format!("/directory_users?group={group}"))
        .await;
    assert_eq!(members.status, 200, "{:?}", members.body);
    let member_ids = ids(&members.body);
    assert!(member_ids[0] > member_ids[1], "newest first");
    let mut member_names: Vec<&str> = members.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    member_names.sort();
    assert_eq!(member_names, ["u0@example.com", "u1@example.com"]);
    let id_of = |list: &Value, username: &str| -> String {
        let found = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == username);
        found
            .and_then(|u| u["id"].as_str())
            .expect("listed")
            .to_owned()
    };
    let first_member = id_of(&members.body, "u0@example.com");
    let their_groups = app
        .api_get(&format!("/directory_groups?user={first_member}"))
        .await;
    assert_eq!(ids(&their_groups.body), vec![group.clone()]);
    let everyone = app
        .api_get(&format!("/directory_users?directory={id}"))
        .await
        .body;
    let outsider = id_of(&everyone, "u4@example.com");
    assert!(ids(&app
        .api_get(&format!("/directory_groups?user={outsider}"))
        .await
        .body)
    .is_empty());
    // `directory` beside the parent must agree with it.
    let mismatch = app
        .api_get(&format!(
            "/directory_users?group={group}&directory={}",
            app.running.bootstrap.directory_id
        ))
        .await;
    assert!(ids(&mismatch.body).is_empty());
    assert_eq!(
        ids(&app
            .api_get(&format!("/directory_users?group={group}&directory={id}"))
            .await
            .body)
        .len(),
        2
    );

    // Deactivated under `retain`: still a user, in no group.
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                      "Operations": [{"op": "replace", "value": {"active": false}}]});
    let patched = read(
        scim_of(
            &app,
            &directory,
            Method::PATCH,
            &format!("/Users/{}", scim_ids[0]),
        )
        .json(&body),
    )
    .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    app.settle().await;
    assert_eq!(
        app.api_get(&format!("/directory_users/{first_member}"))
            .await
            .body["state"],
        "inactive"
    );
    assert!(ids(&app
        .api_get(&format!("/directory_groups?user={first_member}"))
        .await
        .body)
    .is_empty());
    let members = app
        .api_get(&format!("/directory_users?group={group}"))
        .await;
    assert_eq!(ids(&members.body), [id_of(&members.body, "u1@example.com")]);
}

#[tokio::test]
async fn list_filters_are_required_and_checked() {
    let app = spawn_app().await;
    for (path, mentions) in [
        ("/directory_users", "directory or group"),
        ("/directory_groups", "directory or user"),
        ("/directory_users?directory=nope", "directory"),
        (
            "/directory_users?group=directory_user_01J00000000000000000000000",
            "group",
        ),
        ("/directory_groups?user=x", "user"),
        (
            "/directory_users?directory=directory_01J00000000000000000000000&limit=500",
            "limit",
        ),
    ] {
        let reply = app.api_get(path).await;
        assert_error(&reply, 400, "invalid_request");
        assert!(
            reply.body["message"].as_str().unwrap().contains(mentions),
            "{path}: {:?}",
            reply.body
        );
    }
    for path in [
        "/directory_users?directory=directory_01J00000000000000000000000",
        "/directory_users/directory_user_01J00000000000000000000000",
        "/directory_users/garbage",
        "/directory_groups/directory_group_01J00000000000000000000000",
        "/directory_users?group=directory_group_01J00000000000000000000000",
    ] {
        assert_error(&app.api_get(path).await, 404, "entity_not_found");
    }
}
