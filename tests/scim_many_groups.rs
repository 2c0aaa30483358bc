//! A user in many groups through deactivation, reactivation and SCIM DELETE, under both
//! policies: every membership change is committed with its event, in as many transactions as
//! it takes (DynamoDB holds 100 items per transaction: 33, 48 and 49 groups sit at and around
//! the old and new chunk edges, 100 and 500 span several).

use dsync_tests::{json, spawn_app, TestApp};
use futures::stream::{self, StreamExt};
use serde_json::Value;

fn set_active(active: bool) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": active}}]
    })
}

/// `count` groups with `user` as their member: created empty, then joined by PATCH, eight
/// requests at a time. The membership records then reach the policy function in a few
/// stream batches, each projecting the user once, instead of one projection per group.
async fn groups_with_member(app: &TestApp, user: &str, count: usize) {
    let ids: Vec<String> = stream::iter(0..count)
        .map(|i| async move { app.create_group(&format!("Group {i:03}")).await })
        .buffer_unordered(8)
        .collect()
        .await;
    app.settle().await;
    stream::iter(ids)
        .for_each_concurrent(8, |group| async move {
            let body = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}]
            });
            let reply = app.patch(&format!("/Groups/{group}"), &body).await;
            assert_eq!(reply.status, 200, "{:?}", reply.body);
        })
        .await;
}

async fn last_event_id(app: &TestApp) -> Option<String> {
    app.events_after(None)
        .await
        .last()
        .and_then(|e| e["id"].as_str())
        .map(str::to_owned)
}

/// The directory's users as the management API lists them.
async fn directory_users(app: &TestApp) -> Vec<Value> {
    let directory = &app.running.bootstrap.directory_id;
    let reply = app
        .api_get(&format!("/directory_users?directory={directory}&limit=100"))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["data"].as_array().cloned().unwrap_or_default()
}

/// How many of the environment's groups list this directory user as a member.
async fn groups_of(app: &TestApp, directory_user: &str) -> usize {
    let mut count = 0;
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/directory_groups?user={directory_user}&limit=100");
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

/// Counts each event name, in the order names first appear.
fn tally(events: &[Value]) -> Vec<(String, usize)> {
    let mut tally: Vec<(String, usize)> = Vec::new();
    for event in events {
        let name = event["event"].as_str().unwrap_or_default();
        match tally.last_mut() {
            Some((last, n)) if last == name => *n += 1,
            _ => tally.push((name.to_owned(), 1)),
        }
    }
    tally
}

fn runs(expected: &[(&str, usize)]) -> Vec<(String, usize)> {
    expected
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| ((*name).to_owned(), *n))
        .collect()
}

async fn lifecycle(policy: &str, groups: usize) {
    let app = spawn_app().await;
    app.set_settings(json!({"inactive_user_policy": policy, "inactive_user_retention_days": null}))
        .await;
    let retain = policy == "retain";
    let clock = std::time::Instant::now();
    let user = app.create_user("many@example.com").await;
    groups_with_member(&app, &user, groups).await;
    app.settle().await;
    eprintln!(
        "{policy} {groups}: memberships projected at {:?}",
        clock.elapsed()
    );
    let users = directory_users(&app).await;
    assert_eq!(users.len(), 1);
    let first_id = users[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(groups_of(&app, &first_id).await, groups);

    // Deactivation: it leaves every group (each with its event), then is deleted or kept.
    let at = last_event_id(&app).await;
    let reply = app
        .patch(&format!("/Users/{user}"), &set_active(false))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    let own = if retain {
        "dsync.user.updated"
    } else {
        "dsync.user.deleted"
    };
    assert_eq!(
        tally(&events),
        runs(&[("dsync.group.user_removed", groups), (own, 1)])
    );
    assert!(events[..groups]
        .iter()
        .all(|e| e["data"]["user"]["id"] == first_id.as_str()));
    if retain {
        let users = directory_users(&app).await;
        assert_eq!(users[0]["state"], "inactive");
        assert_eq!(groups_of(&app, &first_id).await, 0);
    } else {
        assert!(directory_users(&app).await.is_empty());
    }

    eprintln!("{policy} {groups}: deactivated at {:?}", clock.elapsed());
    // Reactivation: it is back (a new user under the secure flow) and in every group again.
    let at = last_event_id(&app).await;
    let reply = app
        .patch(&format!("/Users/{user}"), &set_active(true))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    let own = if retain {
        "dsync.user.updated"
    } else {
        "dsync.user.created"
    };
    assert_eq!(
        tally(&events),
        runs(&[(own, 1), ("dsync.group.user_added", groups)])
    );
    let users = directory_users(&app).await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["state"], "active");
    let second_id = users[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(retain, second_id == first_id);
    assert_eq!(groups_of(&app, &second_id).await, groups);

    eprintln!("{policy} {groups}: reactivated at {:?}", clock.elapsed());
    // SCIM DELETE: every membership goes with its event, then the user.
    let at = last_event_id(&app).await;
    assert_eq!(app.delete(&format!("/Users/{user}")).await.status, 204);
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    assert_eq!(
        tally(&events),
        runs(&[
            ("dsync.group.user_removed", groups),
            ("dsync.user.deleted", 1)
        ])
    );
    assert!(directory_users(&app).await.is_empty());
    let reply = app.filter_users("userName eq \"many@example.com\"").await;
    assert_eq!(reply.body["totalResults"], 0);
    let reply = app
        .get("/Groups?filter=displayName%20eq%20%22Group%20000%22")
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let group = reply.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = app.get(&format!("/Groups/{group}")).await;
    assert_eq!(reply.body["members"], json!([]), "{:?}", reply.body);
}

#[tokio::test]
async fn user_in_33_groups_secure_flow() {
    lifecycle("delete", 33).await;
}

#[tokio::test]
async fn user_in_33_groups_retained() {
    lifecycle("retain", 33).await;
}

#[tokio::test]
async fn user_in_48_groups_secure_flow() {
    lifecycle("delete", 48).await;
}

#[tokio::test]
async fn user_in_48_groups_retained() {
    lifecycle("retain", 48).await;
}

#[tokio::test]
async fn user_in_49_groups_secure_flow() {
    lifecycle("delete", 49).await;
}

#[tokio::test]
async fn user_in_49_groups_retained() {
    lifecycle("retain", 49).await;
}

#[tokio::test]
async fn user_in_100_groups_secure_flow() {
    lifecycle("delete", 100).await;
}

#[tokio::test]
async fn user_in_100_groups_retained() {
    lifecycle("retain", 100).await;
}

#[tokio::test]
async fn user_in_500_groups_secure_flow() {
    lifecycle("delete", 500).await;
}

#[tokio::test]
async fn user_in_500_groups_retained() {
    lifecycle("retain", 500).await;
}

/// A user leaving 30 groups and joining 30 others seen by one projection: the removals share
/// the user's transaction, and the additions that no longer fit beside them (each with its
/// event) take one more. Every change commits with its event, removals first.
#[tokio::test]
async fn a_user_moving_from_30_groups_to_30_others_in_one_projection() {
    use dsync_domain::ids::{DirectoryId, ProviderGroupId, ProviderUserId};
    use dsync_policy::project::{project_group, project_user, Contexts};

    let app = dsync_tests::spawn_app_without_stream_processing().await;
    let policy = dsync_policy::App::new(app.store().clone());
    let directory = DirectoryId::parse(&app.running.bootstrap.directory_id).unwrap();
    let context = Contexts::default()
        .get(&policy, &directory)
        .await
        .unwrap()
        .expect("the bootstrap directory");
    let scim_id = app.create_user("mover@example.com").await;
    let user = ProviderUserId::parse(&scim_id).unwrap();
    let mut groups = Vec::new();
    for i in 0..60 {
        let members = if i < 30 { vec![&scim_id] } else { vec![] };
        let id = app
            .create_group_with_members(&format!("Mover {i:02}"), &members)
            .await;
        project_group(&policy, &context, &ProviderGroupId::parse(&id).unwrap())
            .await
            .unwrap();
        groups.push(id);
    }
    project_user(&policy, &context, &user).await.unwrap();
    let before = app.store().load_projected_user(&user).await.unwrap();
    assert_eq!(before.groups.len(), 30);

    for (i, group) in groups.iter().enumerate() {
        let operation = if i < 30 {
            json!({"op": "remove", "path": format!("members[value eq \"{scim_id}\"]")})
        } else {
            json!({"op": "add", "path": "members", "value": [{"value": scim_id}]})
        };
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [operation]
        });
        let reply = app.patch(&format!("/Groups/{group}"), &body).await;
        assert!(matches!(reply.status, 200 | 204), "{:?}", reply.body);
    }
    let events = project_user(&policy, &context, &user).await.unwrap();
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            vec!["dsync.group.user_removed"; 30],
            vec!["dsync.group.user_added"; 30]
        ]
        .concat()
    );
    let after = app.store().load_projected_user(&user).await.unwrap();
    let mut names_after: Vec<String> = after.groups.iter().map(|g| g.name.clone()).collect();
    names_after.sort();
    assert_eq!(
        names_after,
        (30..60)
            .map(|i| format!("Mover {i:02}"))
            .collect::<Vec<_>>()
    );
    // Nothing left to do: the stored member count matches what the projection reads.
    assert!(project_user(&policy, &context, &user)
        .await
        .unwrap()
        .is_empty());
}
