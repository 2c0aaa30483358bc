//! The official `workos` Python SDK (from PyPI, third-party code) pointed at the local
//! runner: list_directories, list_users, get_user, list_groups, list_events; every model parses.

use dsync_tests::{json, python_modules_available, run_python, spawn_app};

#[tokio::test]
async fn the_workos_python_sdk_reads_directories_users_groups_and_events() {
    if !python_modules_available(&["workos"]) {
        return;
    }
    let app = spawn_app().await;
    let ann = app.create_user("ann@example.com").await;
    let bob = app.create_user("bob@example.com").await;
    app.create_group_with_members("Engineering", &[&ann, &bob])
        .await;
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                      "Operations": [{"op": "replace", "path": "title", "value": "Engineer"}]});
    assert_eq!(app.patch(&format!("/Users/{ann}"), &body).await.status, 200);
    app.settle().await;
    // Users carry roles (`role: {"slug"}`, `roles: [...]`) every model must still parse with.
    crate::workos_roles::give_group_the_admin_role(&app, "Engineering").await;

    let bootstrap = &app.running.bootstrap;
    let summary = run_python(
        "workos_compat.py",
        Vec::new(),
        vec![
            ("DSYNC_API_BASE_URL", bootstrap.api_base_url.clone()),
            ("DSYNC_API_KEY", bootstrap.api_key.clone()),
            ("DSYNC_DIRECTORY_ID", bootstrap.directory_id.clone()),
        ],
    )
    .await;
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
