//! SCIM authentication reuses a directory read for a few seconds: a rotated token stops
//! working at once in the process that rotated it, and within the bound everywhere else.

use std::time::Duration;

use bytes::Bytes;
use dsync_dynamo::{client_from, sdk_config, ConnectOptions, Store};
use dsync_tests::spawn_app;
use reqwest::Method;

use crate::api_support::{create_directory, scim_of};

/// Another SCIM function instance (another Lambda process): its own store handle, so its
/// own copies of directories, on the same tables.
async fn another_instance(
    app: &dsync_tests::TestApp,
    bound: Duration,
) -> dsync_provider_webhooks::App {
    let aws = sdk_config(ConnectOptions {
        endpoint: Some(app.running.endpoint.clone()),
        region: None,
    })
    .await;
    let store = Store::new(client_from(&aws), app.store().tables().clone());
    let config = dsync_provider_webhooks::Config {
        directory_cache: bound,
        ..Default::default()
    };
    dsync_provider_webhooks::App::new(store, config)
}

async fn status_of(
    instance: &dsync_provider_webhooks::App,
    directory: &serde_json::Value,
    token: &str,
) -> u16 {
    let id = directory["id"].as_str().unwrap();
    let request = http::Request::builder()
        .method(http::Method::GET)
        .uri(format!("http://127.0.0.1/scim/v2/{id}/Users?count=1"))
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::new())
        .unwrap();
    dsync_provider_webhooks::handle(instance, request)
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_rotated_token_stops_working_everywhere_within_the_cache_bound() {
    let app = spawn_app().await;
    let created = create_directory(&app, serde_json::json!({"name": "Cached"})).await;
    let id = created["id"].as_str().unwrap();
    let old = created["scim_token"].as_str().unwrap();
    let bound = Duration::from_millis(1_500);
    let elsewhere = another_instance(&app, bound).await;
    assert_eq!(status_of(&elsewhere, &created, old).await, 200);
    // A cached directory still checks every token against its hash.
    assert_eq!(
        status_of(&elsewhere, &created, "dsync_scim_wrong").await,
        401
    );

    let rotated =
        dsync_tests::read(app.api(Method::POST, &format!("/directories/{id}/token"))).await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let new = rotated.body["scim_token"].as_str().unwrap();

    // The runner's own SCIM function shares the store that rotated: refused at once.
    assert_eq!(
        dsync_tests::read(scim_of(&app, &created, Method::GET, "/Users"))
            .await
            .status,
        401
    );
    // Another instance may still hold the old hash, but never past the bound.
    tokio::time::sleep(bound).await;
    assert_eq!(status_of(&elsewhere, &created, old).await, 401);
    assert_eq!(status_of(&elsewhere, &created, new).await, 200);

    // A deleted directory likewise.
    let deleted = dsync_tests::read(app.api(Method::DELETE, &format!("/directories/{id}"))).await;
    assert_eq!(deleted.status, 202, "{:?}", deleted.body);
    tokio::time::sleep(bound).await;
    assert_eq!(status_of(&elsewhere, &created, new).await, 401);
}
