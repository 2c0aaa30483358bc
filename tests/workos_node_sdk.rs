//! The official WorkOS Node SDK (`@workos-inc/node` 8.x from npm, third-party code, pinned in
//! `node/package.json`) pointed at the local runner, unchanged but for host, port and key:
//! directories, users (with their `groups`), groups, events with `after` and filters,
//! `webhooks.constructEvent` on real deliveries, and `deleteDirectory`. Every object parses.

use std::time::Duration;

use dsync_tests::receiver::Receiver;
use dsync_tests::{json, node_package_available, read, run_node, spawn_app};
use reqwest::Method;

#[tokio::test]
async fn the_workos_node_sdk_reads_directories_users_groups_events_and_webhooks() {
    if !node_package_available("@workos-inc/node") {
        return;
    }
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let endpoint = read(app.api(Method::POST, "/webhook_endpoints").json(&json!({
        "endpoint_url": receiver.url(),
        "events": ["dsync.user.created", "dsync.group.user_added"],
    })))
    .await;
    assert_eq!(endpoint.status, 201, "{:?}", endpoint.body);
    let secret = endpoint.body["secret"].as_str().unwrap().to_owned();

    let ann = app.create_user("ann@example.com").await;
    let bob = app.create_user("bob@example.com").await;
    app.create_group_with_members("Engineering", &[&ann]).await;
    // Projected first, so the change below is an update rather than part of the creation.
    app.settle().await;
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                      "Operations": [{"op": "replace", "path": "title", "value": "Engineer"}]});
    assert_eq!(app.patch(&format!("/Users/{bob}"), &body).await.status, 200);
    app.settle().await;
    // Users carry roles (`role: {"slug"}`, `roles: [...]`) the SDK must parse too.
    crate::workos_roles::give_group_the_admin_role(&app, "Engineering").await;
    let doomed = read(
        app.api(Method::POST, "/directories")
            .json(&json!({"name": "Short-lived"})),
    )
    .await;
    assert_eq!(doomed.status, 201, "{:?}", doomed.body);
    let doomed = doomed.body["id"].as_str().unwrap().to_owned();

    // ann and bob created, ann added to Engineering.
    let received = receiver.wait_for(3, Duration::from_secs(15)).await;
    let deliveries: Vec<_> = received
        .iter()
        .map(|r| {
            json!({"signature": r.header("workos-signature"),
                   "body": String::from_utf8(r.body.to_vec()).unwrap()})
        })
        .collect();
    let file = std::env::temp_dir().join(format!("dsync-node-deliveries-{}.json", ann));
    std::fs::write(
        &file,
        json!({"secret": secret, "deliveries": deliveries}).to_string(),
    )
    .unwrap();

    let bootstrap = &app.running.bootstrap;
    let summary = run_node(
        "workos_compat.mjs",
        vec![
            ("DSYNC_API_BASE_URL", bootstrap.api_base_url.clone()),
            ("DSYNC_API_KEY", bootstrap.api_key.clone()),
            ("DSYNC_DIRECTORY_ID", bootstrap.directory_id.clone()),
            ("DSYNC_DELETE_DIRECTORY_ID", doomed.clone()),
            ("DSYNC_DELIVERIES_FILE", file.display().to_string()),
        ],
    )
    .await;
    let _ = std::fs::remove_file(&file);

    let directories = summary["directories"].as_array().unwrap();
    assert!(directories.contains(&json!(bootstrap.directory_id)));
    assert!(directories.contains(&json!(doomed)));
    // The SDK maps the REST API's `linked` to `active`, as it does for WorkOS.
    assert_eq!(summary["directory"]["state"], "active");
    assert_eq!(summary["directory"]["id"], bootstrap.directory_id.as_str());
    assert_eq!(
        summary["users"],
        json!(["ann@example.com", "bob@example.com"])
    );
    assert_eq!(summary["auto_paged_users"], 2);
    assert_eq!(
        summary["users_by_email"]["ann@example.com"]["groups"],
        json!(["Engineering"])
    );
    assert_eq!(
        summary["users_by_email"]["bob@example.com"]["groups"],
        json!([])
    );
    let ann_roles = &summary["users_by_email"]["ann@example.com"];
    assert_eq!(ann_roles["role"], json!({"slug": "admin"}));
    assert_eq!(ann_roles["roles"], json!([{"slug": "admin"}]));
    assert_eq!(
        summary["users_by_email"]["bob@example.com"]["role"],
        json!({"slug": "member"})
    );
    assert_eq!(summary["groups"], json!(["Engineering"]));
    assert_eq!(summary["group"]["name"], "Engineering");
    assert_eq!(summary["members"], json!(["ann@example.com"]));
    let events: Vec<&str> = summary["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    for expected in [
        "dsync.user.created",
        "dsync.group.created",
        "dsync.group.user_added",
        "dsync.user.updated",
    ] {
        assert!(events.contains(&expected), "{expected} in {events:?}");
    }
    assert_eq!(summary["after_first"].as_array().unwrap().len(), 1);
    assert_ne!(summary["after_first"][0], summary["first_event_id"]);
    let constructed = summary["constructed"].as_array().unwrap();
    assert_eq!(constructed.len(), received.len());
    for event in constructed {
        assert_eq!(event["directory_id"], bootstrap.directory_id.as_str());
    }
    assert!(constructed
        .iter()
        .any(|e| e["event"] == "dsync.group.user_added"));
    assert_eq!(summary["forged_rejected"], true);

    let gone = app.api_get(&format!("/directories/{doomed}")).await;
    assert_eq!(gone.status, 404, "deleteDirectory deleted it");
}
