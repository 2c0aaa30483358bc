//! `dsync-admin` against an embedded engine: the environment and API key it prints work with
//! the management API, the key is stored only as its hash, and a directory created with it
//! accepts its SCIM token — the whole first-start path of a deployed stack.

use std::process::Command;

use bytes::Bytes;
use dsync_dynamo::{connect, tables, ConnectOptions, Store, TableNames};
use dsync_local::Engine;
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};

const PREFIX: &str = "admin";

struct Deployment {
    /// Kept alive: the engine serves on a background task.
    _engine: Engine,
    endpoint: String,
    store: Store,
}

async fn deployment() -> Deployment {
    let engine = Engine::start(None).await.expect("the engine starts");
    let endpoint = engine.endpoint();
    let client = connect(ConnectOptions {
        endpoint: Some(endpoint.clone()),
        region: None,
    })
    .await;
    let names = TableNames::with_prefix(PREFIX);
    tables::create_tables(&client, &names)
        .await
        .expect("tables are created");
    Deployment {
        _engine: engine,
        endpoint,
        store: Store::new(client, names),
    }
}

/// Runs the binary (off the runtime's threads: the engine answers it from this process).
async fn admin(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_dsync-admin"))
            .args(args)
            .env_remove("DSYNC_TABLE_PREFIX")
            .env_remove("DSYNC_DYNAMODB_ENDPOINT")
            // Nor a profile's region, nor instance metadata.
            .env("AWS_CONFIG_FILE", "/nonexistent/dsync-test-config")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("dsync-admin runs")
    })
    .await
    .expect("the runner thread finishes")
}

async fn admin_ok(deployment: &Deployment, command: &[&str]) -> Value {
    let mut args = vec![
        "--dynamodb-endpoint".to_owned(),
        deployment.endpoint.clone(),
        "--table-prefix".to_owned(),
        PREFIX.to_owned(),
    ];
    args.extend(command.iter().map(|s| s.to_string()));
    let output = admin(args).await;
    assert!(
        output.status.success(),
        "dsync-admin {command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

/// One management API request through the API function's handler, as Lambda calls it.
async fn api(
    store: &Store,
    method: Method,
    path: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Value) {
    let app = dsync_api::App::new(store.clone(), dsync_api::Config::default());
    let request = Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{path}"))
        .header("host", "api.example.com")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Bytes::from(if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        }))
        .expect("a valid request");
    let response = dsync_api::handle(&app, request).await;
    let status = response.status();
    let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_created_environment_s_key_works_with_the_api_and_is_stored_only_hashed() {
    let deployment = deployment().await;
    let created = admin_ok(
        &deployment,
        &["create-environment", "--name", "acme-production"],
    )
    .await;
    let environment_id = created["environment_id"].as_str().expect("environment_id");
    let key = created["api_key"].as_str().expect("api_key");
    assert!(environment_id.starts_with("environment_"), "{created}");
    assert!(key.starts_with("sk_dsync_"), "{created}");
    let store = &deployment.store;

    // The key authenticates, and the environment has the default (secure) policy.
    let (status, settings) = api(
        store,
        Method::GET,
        "/environment/settings",
        key,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(settings["inactive_user_policy"], "delete");
    let (status, _) = api(
        store,
        Method::GET,
        "/environment/settings",
        "sk_dsync_wrong",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // With it, a directory is created, and its SCIM token works against the SCIM function.
    let (status, directory) = api(
        store,
        Method::POST,
        "/directories",
        key,
        json!({"name": "Okta", "type": "okta-scim-v2"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{directory}");
    let scim_base_url = directory["scim_base_url"].as_str().expect("scim_base_url");
    let token = directory["scim_token"].as_str().expect("scim_token");
    let scim = dsync_provider_webhooks::App::new(store.clone(), Default::default());
    let request = Request::builder()
        .uri(format!("{scim_base_url}/Users?count=1"))
        .header("host", "api.example.com")
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::new())
        .expect("a valid request");
    let response = dsync_provider_webhooks::handle(&scim, request).await;
    assert_eq!(response.status(), StatusCode::OK);

    // Stored: the environment and the key's SHA-256; the key's text is nowhere in the table.
    let items = store
        .client()
        .scan()
        .table_name(&store.tables().directory)
        .send()
        .await
        .expect("the table is scanned")
        .items
        .unwrap_or_default();
    let text = format!("{items:?}");
    assert!(!text.contains(key), "the plain API key is stored");
    let hash = dsync_domain::secrets::SecretHash::of(key).to_hex();
    assert!(
        text.contains(&format!("APIKEY#{hash}")),
        "no item for the key's hash"
    );
    assert!(text.contains(environment_id));
}

#[tokio::test(flavor = "multi_thread")]
async fn environments_are_separate_and_a_lost_key_is_replaced() {
    let deployment = deployment().await;
    let store = &deployment.store;
    let first = admin_ok(&deployment, &["create-environment"]).await;
    let second = admin_ok(&deployment, &["create-environment"]).await;
    assert_ne!(first["environment_id"], second["environment_id"]);
    let first_key = first["api_key"].as_str().unwrap();
    let second_key = second["api_key"].as_str().unwrap();

    let (status, directory) = api(
        store,
        Method::POST,
        "/directories",
        first_key,
        json!({"name": "Entra"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{directory}");
    let path = format!("/directories/{}", directory["id"].as_str().unwrap());
    let (status, _) = api(store, Method::GET, &path, second_key, Value::Null).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another environment's directory"
    );

    // A new key for the first environment reaches its directory; the old one still works.
    let environment = first["environment_id"].as_str().unwrap();
    let replaced = admin_ok(
        &deployment,
        &["create-api-key", "--environment", environment],
    )
    .await;
    assert_eq!(replaced["environment_id"], first["environment_id"]);
    let new_key = replaced["api_key"].as_str().unwrap();
    assert_ne!(new_key, first_key);
    for key in [new_key, first_key] {
        let (status, body) = api(store, Method::GET, &path, key, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mistakes_fail_without_printing_a_key() {
    let deployment = deployment().await;
    let endpoint = deployment.endpoint.clone();
    let run = |args: &[&str]| admin(args.iter().map(|s| s.to_string()).collect());

    // A key for an environment that does not exist.
    let unknown = dsync_domain::ids::EnvironmentId::generate().to_string();
    let output = run(&[
        "--dynamodb-endpoint",
        &endpoint,
        "--table-prefix",
        PREFIX,
        "create-api-key",
        "--environment",
        &unknown,
    ])
    .await;
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no environment"));

    // The wrong table prefix: the error names the table it tried.
    let output = run(&[
        "--dynamodb-endpoint",
        &endpoint,
        "--table-prefix",
        "nosuch",
        "create-environment",
    ])
    .await;
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nosuch-directory"));

    // No endpoint and no region: refused before anything is sent anywhere.
    let output = tokio::task::spawn_blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_dsync-admin"))
            .arg("create-environment")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("DSYNC_DYNAMODB_ENDPOINT")
            // Nor a profile's region, nor instance metadata.
            .env("AWS_CONFIG_FILE", "/nonexistent/dsync-test-config")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("dsync-admin runs")
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("region"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_environment_can_start_under_the_custom_management_flow() {
    let deployment = deployment().await;
    let created = admin_ok(
        &deployment,
        &[
            "create-environment",
            "--inactive-user-policy",
            "retain",
            "--inactive-user-retention-days",
            "30",
        ],
    )
    .await;
    let key = created["api_key"].as_str().expect("api_key");
    let (status, settings) = api(
        &deployment.store,
        Method::GET,
        "/environment/settings",
        key,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(settings["inactive_user_policy"], "retain");
    assert_eq!(settings["inactive_user_retention_days"], 30);

    // Retention days mean nothing under the secure flow: refused, and nothing is written.
    let mut args = vec![
        "--dynamodb-endpoint".to_owned(),
        deployment.endpoint.clone(),
        "--table-prefix".to_owned(),
        PREFIX.to_owned(),
    ];
    args.extend(["create-environment", "--inactive-user-retention-days", "30"].map(str::to_owned));
    let output = admin(args).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("retain"));
}
