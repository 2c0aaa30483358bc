//! The official `workos` Python SDK (from PyPI, third-party code) managing webhook endpoints
//! through the local runner: create_webhook_endpoint, list_webhook_endpoints (auto-paging),
//! update_webhook_endpoint, delete_webhook_endpoint; every model parses.

use dsync_tests::{json, python_modules_available, run_python, spawn_app};

#[tokio::test]
async fn the_workos_python_sdk_manages_webhook_endpoints() {
    if !python_modules_available(&["workos"]) {
        return;
    }
    let app = spawn_app().await;
    let bootstrap = &app.running.bootstrap;
    // Loopback URLs nothing listens on: no event happens while the endpoints exist.
    let (url_a, url_b) = (
        "http://127.0.0.1:9/hooks/a".to_owned(),
        "http://127.0.0.1:9/hooks/b".to_owned(),
    );
    let summary = run_python(
        "workos_webhook_endpoints.py",
        Vec::new(),
        vec![
            ("DSYNC_API_BASE_URL", bootstrap.api_base_url.clone()),
            ("DSYNC_API_KEY", bootstrap.api_key.clone()),
            ("DSYNC_WEBHOOK_URL_A", url_a.clone()),
            ("DSYNC_WEBHOOK_URL_B", url_b.clone()),
        ],
    )
    .await;
    let created = &summary["created"];
    let id = created["id"].as_str().expect("an id");
    assert!(id.starts_with("we_"), "{id}");
    assert_eq!(created["object"], "webhook_endpoint");
    assert_eq!(created["endpoint_url"], url_a.as_str());
    assert_eq!(created["status"], "enabled");
    assert_eq!(
        created["events"],
        json!(["dsync.user.created", "dsync.group.created"])
    );
    assert_eq!(created["secret_shown"], true);
    assert_eq!(summary["second_events"], json!([]));
    let paged = summary["paged"].as_array().expect("ids");
    assert_eq!(paged.len(), 2, "auto-paging reached both: {paged:?}");
    assert_eq!(paged[1], id, "newest first");
    assert_eq!(
        summary["disabled"],
        json!({"status": "disabled", "secret": null})
    );
    assert_eq!(
        summary["moved"],
        json!({"status": "enabled", "endpoint_url": url_b, "events": ["dsync.deleted"]})
    );
    assert_eq!(summary["timestamps_parse"], true);
    assert_eq!(summary["left"], json!([]));
}
