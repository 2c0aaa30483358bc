//! The official `workos` Python SDK (from PyPI, third-party code) pointed at the local
//! runner: list_directories, list_users, get_user, list_groups, list_events; every model parses.

use std::process::Command;

use dsync_tests::{json, python_modules_available, spawn_app};

#[tokio::test]
async fn the_workos_python_sdk_reads_directories_users_groups_and_events() {
    if !python_modules_available(&["workos"]) {
        return;
    }
    let app = spawn_app().await;
    let ann = app.create_user("ann@example.com").await;
    let bob = app.create_user("bob@example.com").await;
    let group = app
        .post(
            "/Groups",
            &json!({"displayName": "Engineering", "members": [{"value": ann}, {"value": bob}]}),
        )
        .await;
    assert_eq!(group.status, 201);
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                      "Operations": [{"op": "replace", "path": "title", "value": "Engineer"}]});
    assert_eq!(app.patch(&format!("/Users/{ann}"), &body).await.status, 200);
    app.settle().await;

    let bootstrap = &app.running.bootstrap;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/workos_compat.py");
    let output = tokio::task::spawn_blocking({
        let (base, key, directory) = (
            bootstrap.api_base_url.clone(),
            bootstrap.api_key.clone(),
            bootstrap.directory_id.clone(),
        );
        move || {
            Command::new("python3")
                .arg(script)
                .env("DSYNC_API_BASE_URL", base)
                .env("DSYNC_API_KEY", key)
                .env("DSYNC_DIRECTORY_ID", directory)
                .output()
                .expect("python3 runs")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the SDK failed:\n{}\n{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("summary JSON");
    assert_eq!(summary["directory"], bootstrap.directory_id.as_str());
    assert_eq!(
        summary["users"],
        json!(["ann@example.com", "bob@example.com"])
    );
    assert_eq!(summary["groups"], json!(["Engineering"]));
    assert_eq!(summary["members"], 2);
    assert_eq!(summary["groups_of_user"], 1);
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
}
