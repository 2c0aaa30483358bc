//! Management API: directories, their SCIM tokens and their deletion.

use crate::api_support;

use api_support::*;
use dsync_domain::ids::DirectoryId;
use dsync_tests::{json, read, spawn_app, user_body};
use reqwest::Method;

#[tokio::test]
async fn a_created_directory_is_shown_once_with_its_token_and_serves_scim() {
    let app = spawn_app().await;
    let created = create_directory(
        &app,
        json!({"name": "Acme Okta", "type": "okta-scim-v2", "organization_id": "org_1"}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("directory_"));
    assert_eq!(created["object"], "directory");
    assert_eq!(created["type"], "okta scim v2.0");
    assert_eq!(created["state"], "linked");
    assert_eq!(created["organization_id"], "org_1");
    assert_eq!(created["domain"], serde_json::Value::Null);
    assert_eq!(
        created["scim_base_url"],
        format!("{}/scim/v2/{id}", app.base_url)
    );
    assert!(created["scim_token"]
        .as_str()
        .unwrap()
        .starts_with("dsync_scim_"));

    let user =
        read(scim_of(&app, &created, Method::POST, "/Users").json(&user_body("ann@example.com")))
            .await;
    assert_eq!(user.status, 201, "{:?}", user.body);

    let shown = app.api_get(&format!("/directories/{id}")).await;
    assert_eq!(shown.status, 200);
    assert!(
        shown.body.get("scim_token").is_none(),
        "the token is shown once"
    );
    assert_eq!(shown.body["name"], "Acme Okta");
    assert_eq!(shown.body["created_at"], created["created_at"]);

    let activated = app.events_after(None).await;
    let activated: Vec<_> = activated
        .iter()
        .filter(|e| e["data"]["id"] == id.as_str())
        .collect();
    assert_eq!(activated.len(), 1);
    assert_eq!(activated[0]["event"], "dsync.activated");
    assert_eq!(activated[0]["data"]["type"], "okta scim v2.0");
    assert_eq!(activated[0]["data"]["organization_id"], "org_1");

    // Types by WorkOS name, the default, and refusals.
    let entra = create_directory(&app, json!({"name": "Entra", "type": "azure scim v2.0"})).await;
    assert_eq!(entra["type"], "azure scim v2.0");
    let generic = create_directory(&app, json!({"name": "Plain"})).await;
    assert_eq!(generic["type"], "generic scim v2.0");
    assert_eq!(generic["organization_id"], serde_json::Value::Null);
    for body in [
        json!({"name": "X", "type": "okta"}),
        json!({"type": "okta-scim-v2"}),
        json!({"name": "  "}),
        json!({"name": 7}),
    ] {
        assert_error(
            &api_json(&app, Method::POST, "/directories", &body).await,
            400,
            "invalid_request",
        );
    }
    for path in [
        "/directories/directory_nope",
        &format!("/directories/{}", DirectoryId::generate()),
    ] {
        assert_error(&app.api_get(path).await, 404, "entity_not_found");
    }
}

#[tokio::test]
async fn directories_list_newest_first_with_cursors_and_filters() {
    let app = spawn_app().await;
    let bootstrap = app.running.bootstrap.directory_id.clone();
    let mut made = Vec::new();
    for i in 0..4 {
        let org = if i % 2 == 0 { "org_even" } else { "org_odd" };
        made.push(
            create_directory(
                &app,
                json!({"name": format!("Dir {i}"), "organization_id": org}),
            )
            .await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut all_newest_first: Vec<String> = made.iter().rev().cloned().collect();
    all_newest_first.push(bootstrap);

    let first = app.api_get("/directories?limit=2").await;
    assert_eq!(first.body["object"], "list");
    assert_eq!(ids(&first.body), all_newest_first[..2]);
    assert_eq!(
        first.body["list_metadata"]["before"],
        serde_json::Value::Null
    );
    let after = first.body["list_metadata"]["after"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(after, all_newest_first[1]);
    let second = app
        .api_get(&format!("/directories?limit=2&after={after}"))
        .await;
    assert_eq!(ids(&second.body), all_newest_first[2..4]);
    let before = second.body["list_metadata"]["before"]
        .as_str()
        .unwrap()
        .to_owned();
    let back = app
        .api_get(&format!("/directories?limit=2&before={before}"))
        .await;
    assert_eq!(ids(&back.body), all_newest_first[..2]);
    let third = app
        .api_get(&format!(
            "/directories?limit=2&after={}",
            all_newest_first[3]
        ))
        .await;
    assert_eq!(ids(&third.body), all_newest_first[4..]);
    assert_eq!(
        third.body["list_metadata"]["after"],
        serde_json::Value::Null
    );

    let ascending = app.api_get("/directories?order=asc&limit=100").await;
    let mut oldest_first = all_newest_first.clone();
    oldest_first.reverse();
    assert_eq!(ids(&ascending.body), oldest_first);

    let even = app.api_get("/directories?organization_id=org_even").await;
    assert_eq!(ids(&even.body), [made[2].clone(), made[0].clone()]);
    let searched = app.api_get("/directories?search=dir%203").await;
    assert_eq!(ids(&searched.body), [made[3].clone()]);

    for query in [
        "limit=0",
        "limit=101",
        "order=newest",
        "after=directory_user_x",
        &format!("after={}&before={}", made[0], made[1]),
    ] {
        assert_error(
            &app.api_get(&format!("/directories?{query}")).await,
            400,
            "invalid_request",
        );
    }
}

#[tokio::test]
async fn rotating_the_token_stops_the_old_one_at_once() {
    let app = spawn_app().await;
    let created = create_directory(&app, json!({"name": "Rotating"})).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        read(scim_of(&app, &created, Method::GET, "/Users"))
            .await
            .status,
        200
    );

    let rotated = read(app.api(Method::POST, &format!("/directories/{id}/token"))).await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    assert_eq!(rotated.body["id"], id);
    assert_ne!(rotated.body["scim_token"], created["scim_token"]);
    assert_eq!(rotated.body["scim_base_url"], created["scim_base_url"]);
    assert_ne!(rotated.body["updated_at"], created["updated_at"]);

    assert_eq!(
        read(scim_of(&app, &created, Method::GET, "/Users"))
            .await
            .status,
        401
    );
    assert_eq!(
        read(scim_of(&app, &rotated.body, Method::GET, "/Users"))
            .await
            .status,
        200
    );
    // The environment's other directory is untouched.
    assert_eq!(app.get("/Users").await.status, 200);
}

#[tokio::test]
async fn deleting_a_directory_emits_dsync_deleted_alone_and_removes_its_records() {
    let app = spawn_app().await;
    let created =
        create_directory(&app, json!({"name": "Doomed", "organization_id": "org_9"})).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let mut members = Vec::new();
    for name in ["a@example.com", "b@example.com", "c@example.com"] {
        let reply =
            read(scim_of(&app, &created, Method::POST, "/Users").json(&user_body(name))).await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        members.push(reply.body["id"].as_str().unwrap().to_owned());
    }
    let member_refs: Vec<&str> = members.iter().map(String::as_str).collect();
    let group = read(
        scim_of(&app, &created, Method::POST, "/Groups").json(&group_body("Team", &member_refs)),
    )
    .await;
    assert_eq!(group.status, 201, "{:?}", group.body);
    app.settle().await;
    let users = app
        .api_get(&format!("/directory_users?directory={id}"))
        .await;
    let user_ids = ids(&users.body);
    assert_eq!(user_ids.len(), 3, "{:?}", users.body);
    let at = last_event_id(&app).await;

    let deleted = read(app.api(Method::DELETE, &format!("/directories/{id}"))).await;
    assert_eq!(deleted.status, 202, "{:?}", deleted.body);
    assert_eq!(deleted.body["state"], "deleting");
    app.settle().await;

    let events = app.events_after(at.as_deref()).await;
    // No event per user or group: `dsync.deleted` stands for them; its token is revoked.
    assert_eq!(
        names(&events),
        ["dsync.deleted", "dsync.token.revoked"],
        "{events:?}"
    );
    assert_eq!(events[1]["data"]["directory_id"], id.as_str());
    assert_eq!(
        events[1]["data"]["token_suffix"].as_str().map(str::len),
        Some(4)
    );
    assert_eq!(events[0]["data"]["id"], id.as_str());
    assert_eq!(events[0]["data"]["organization_id"], "org_9");
    let filtered = app
        .api_get(&format!("/events?events=dsync.deleted&directory_id={id}"))
        .await;
    assert_eq!(
        ids(&filtered.body),
        [events[0]["id"].as_str().unwrap().to_owned()]
    );

    assert_error(
        &app.api_get(&format!("/directories/{id}")).await,
        404,
        "entity_not_found",
    );
    assert_error(
        &app.api_get(&format!("/directory_users?directory={id}"))
            .await,
        404,
        "entity_not_found",
    );
    assert_error(
        &app.api_get(&format!("/directory_users/{}", user_ids[0]))
            .await,
        404,
        "entity_not_found",
    );
    assert_error(
        &read(app.api(Method::DELETE, &format!("/directories/{id}"))).await,
        404,
        "entity_not_found",
    );
    assert!(!ids(&app.api_get("/directories").await.body).contains(&id));
    assert_eq!(
        read(scim_of(&app, &created, Method::GET, "/Users"))
            .await
            .status,
        401
    );

    // The records are gone, the purge marker too.
    let directory = DirectoryId::parse(&id).unwrap();
    assert!(app
        .store()
        .list_users(&directory, None, 100)
        .await
        .unwrap()
        .users
        .is_empty());
    assert!(app
        .store()
        .list_groups(&directory, None, 100)
        .await
        .unwrap()
        .0
        .is_empty());
    assert!(app
        .store()
        .pending_directory_purges()
        .await
        .unwrap()
        .is_empty());
    for user in &user_ids {
        let user = dsync_domain::ids::DirectoryUserId::parse(user).unwrap();
        assert!(matches!(
            app.store().get_directory_user(&user).await,
            Err(dsync_dynamo::StoreError::NotFound)
        ));
    }
    // The bootstrap directory is untouched.
    assert_eq!(app.get("/Users").await.status, 200);
}

#[tokio::test]
async fn an_interrupted_purge_is_finished_later() {
    use dsync_domain::directory::EventDraft;
    use dsync_dynamo::PurgeProgress;
    use std::time::{Duration, Instant};

    let app = spawn_app().await;
    let created = create_directory(&app, json!({"name": "Slow"})).await;
    for name in ["a@example.com", "b@example.com"] {
        let reply =
            read(scim_of(&app, &created, Method::POST, "/Users").json(&user_body(name))).await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
    app.settle().await;
    let id = DirectoryId::parse(created["id"].as_str().unwrap()).unwrap();
    let store = app.store();
    let directory = store.get_directory(&id).await.unwrap();
    let draft = EventDraft {
        name: "dsync.deleted",
        data: json!({"id": id.to_string()}).into(),
    };
    store
        .delete_directory_with_event(&directory, draft, 0)
        .await
        .unwrap();

    // A deadline already past: nothing is removed, the marker stays.
    assert_eq!(
        store.purge_directory(&id, Instant::now()).await.unwrap(),
        PurgeProgress::Interrupted
    );
    assert_eq!(store.pending_directory_purges().await.unwrap(), [id]);
    assert_eq!(
        store.list_users(&id, None, 100).await.unwrap().users.len(),
        2
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    assert_eq!(
        store.resume_directory_purges(deadline).await.unwrap(),
        PurgeProgress::Finished
    );
    assert!(store.pending_directory_purges().await.unwrap().is_empty());
    assert!(store
        .list_users(&id, None, 100)
        .await
        .unwrap()
        .users
        .is_empty());
    assert_error(
        &app.api_get(&format!("/directory_users?directory={id}"))
            .await,
        404,
        "entity_not_found",
    );
    // Purging again is harmless.
    assert_eq!(
        store.purge_directory(&id, deadline).await.unwrap(),
        PurgeProgress::Finished
    );
}
