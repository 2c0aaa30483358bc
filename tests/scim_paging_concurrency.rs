//! Paging visits every user once; concurrent writers lose nothing; discovery documents.

use std::collections::BTreeSet;

use dsync_tests::{json, spawn_app};

#[tokio::test]
async fn paging_a_filtered_list_visits_every_user_once() {
    let app = spawn_app().await;
    let mut expected = BTreeSet::new();
    for i in 0..57 {
        let id = app.create_user(&format!("user{i:02}@example.com")).await;
        if i % 3 != 0 {
            expected.insert(id);
        }
    }
    // Every third user is deactivated, then filtered out.
    let all = app.get("/Users?count=100").await;
    assert_eq!(all.body["totalResults"], 57);
    for (i, user) in all.body["Resources"].as_array().unwrap().iter().enumerate() {
        if i % 3 == 0 {
            let id = user["id"].as_str().unwrap();
            let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                              "Operations": [{"op": "replace", "value": {"active": false}}]});
            assert_eq!(app.patch(&format!("/Users/{id}"), &body).await.status, 200);
        }
    }

    let mut seen = Vec::new();
    let mut start = 1;
    loop {
        let page = app
            .get(&format!(
                "/Users?filter=active%20eq%20true&startIndex={start}&count=7"
            ))
            .await;
        assert_eq!(page.status, 200);
        assert_eq!(page.body["totalResults"], 38);
        assert_eq!(page.body["startIndex"], start);
        let resources = page.body["Resources"].as_array().unwrap();
        assert_eq!(page.body["itemsPerPage"], resources.len());
        if resources.is_empty() {
            break;
        }
        seen.extend(
            resources
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
        start += resources.len();
    }
    assert_eq!(seen.len(), 38, "no user twice");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), expected);

    let totals_only = app.get("/Users?filter=active%20eq%20false&count=0").await;
    assert_eq!(totals_only.body["totalResults"], 19);
    assert_eq!(totals_only.body["Resources"], json!([]));
}

#[tokio::test]
async fn fifty_concurrent_patches_to_one_user_lose_nothing() {
    let app = spawn_app().await;
    let id = app.create_user("busy@example.com").await;
    let path = format!("/Users/{id}");
    let patches = (0..50).map(|i| {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "emails",
                            "value": [{"value": format!("alias{i}@example.com"), "type": "other"}]}]
        });
        let app = &app;
        let path = path.clone();
        async move { app.patch(&path, &body).await.status }
    });
    let statuses = futures::future::join_all(patches).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let user = app.get(&path).await.body;
    let emails = user["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 51, "the original email and all 50 aliases");
    assert_eq!(user["meta"]["version"], "W/\"51\"");
}

#[tokio::test]
async fn discovery_documents() {
    let app = spawn_app().await;
    let config = app.get("/ServiceProviderConfig").await;
    assert_eq!(config.status, 200);
    assert_eq!(config.body["patch"]["supported"], true);
    assert_eq!(config.body["etag"]["supported"], true);
    assert_eq!(config.body["filter"]["supported"], true);
    let types = app.get("/ResourceTypes").await;
    assert_eq!(types.status, 200);
    let text = types.body.to_string();
    assert!(text.contains("\"User\"") && text.contains("\"Group\""));
    let schemas = app.get("/Schemas").await;
    assert!(schemas
        .body
        .to_string()
        .contains("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
    let user_schema = app
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await;
    assert_eq!(user_schema.status, 200);
    assert_eq!(
        user_schema.body["id"],
        "urn:ietf:params:scim:schemas:core:2.0:User"
    );
}
