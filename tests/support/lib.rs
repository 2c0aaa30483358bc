//! Test support: `spawn_app()` starts the whole local service on its own embedded DynamoDB
//! engine (or, with `DSYNC_TEST_DYNAMODB_ENDPOINT`, on fresh tables of another endpoint).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use dsync_domain::time::now_millis;

use dsync_domain::ids::EnvironmentId;
use dsync_domain::model::{Environment, EnvironmentSettings, ProviderKind};
use dsync_domain::secrets;
use dsync_dynamo::{NewDirectory, Store};
use reqwest::{Method, RequestBuilder};
use serde_json::Value;

pub use serde_json::json;

pub mod event_batch;
pub mod gate;
pub mod google_fake;
pub mod load;

/// A fresh embedded engine with the service's tables and a store on it: no pipeline, no
/// bootstrap, for tests and benchmarks that call the functions directly. The engine stops
/// when dropped.
pub async fn bare_store(prefix: &str) -> (dsync_local::Engine, Store) {
    let engine = dsync_local::Engine::start(None)
        .await
        .expect("the engine starts");
    let client = dsync_dynamo::connect(dsync_dynamo::ConnectOptions {
        endpoint: Some(engine.endpoint()),
        region: None,
    })
    .await;
    let names = dsync_dynamo::TableNames::with_prefix(prefix);
    dsync_dynamo::tables::create_tables(&client, &names)
        .await
        .expect("tables");
    (engine, Store::new(client, names))
}

/// The endpoint's deliveries (its newest 100), each asserted delivered after exactly
/// `attempts` attempts; returns how many there are.
pub async fn assert_each_delivered(
    store: &Store,
    endpoint: &dsync_domain::ids::WebhookEndpointId,
    attempts: u32,
) -> usize {
    let page = store
        .endpoint_deliveries(endpoint, None, 100)
        .await
        .unwrap();
    assert!(
        page.deliveries.iter().all(|d| {
            d.state == dsync_domain::webhooks::DeliveryState::Succeeded && d.attempts == attempts
        }),
        "{:?}",
        page.deliveries
    );
    page.deliveries.len()
}

/// An endpoint of a new environment, subscribed to every event and pointing at `receiver`,
/// saved straight to the store: the fan-out's own tests need no API.
pub async fn endpoint_for(
    store: &Store,
    receiver: &receiver::Receiver,
) -> dsync_domain::webhooks::WebhookEndpoint {
    let endpoint = dsync_domain::webhooks::WebhookEndpoint::new(
        EnvironmentId::generate(),
        receiver.url(),
        Vec::new(),
        now_millis(),
    );
    store.create_webhook_endpoint(&endpoint).await.unwrap();
    endpoint
}

/// Runs `tests/python/<script>` with `args` and `env`, off the test's runtime thread (the
/// service under test runs on it too), and returns the JSON summary it prints. Panics with
/// the script's output when it fails.
pub async fn run_python(
    script: &str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
) -> Value {
    let path = format!("{}/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(path)
            .args(args)
            .envs(env)
            .output()
            .expect("python3 runs")
    })
    .await
    .expect("the python task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("a JSON summary")
}

/// Whether `python3` can import `modules` (third-party packages some checks drive). Outside CI
/// a missing one skips the check, with a message; CI sets `DSYNC_REQUIRE_SDK_TESTS` and
/// installs `tests/python/requirements.txt`, so there a missing one fails the test.
pub fn python_modules_available(modules: &[&str]) -> bool {
    let available = std::process::Command::new("python3")
        .args(["-c", &format!("import {}", modules.join(", "))])
        .output()
        .is_ok_and(|out| out.status.success());
    if !available {
        assert!(
            std::env::var("DSYNC_REQUIRE_SDK_TESTS").is_err(),
            "python3 cannot import {modules:?}: pip install -r tests/python/requirements.txt"
        );
        eprintln!("skipped: pip install -r tests/python/requirements.txt to run this check");
    }
    available
}
/// Whether `node` can load `package` from `tests/node/node_modules` (the WorkOS Node SDK the
/// compatibility test drives). Outside CI a missing node or package skips the check, with a
/// message; CI sets `DSYNC_REQUIRE_SDK_TESTS` and runs `npm ci --prefix tests/node`, so there
/// a missing one fails the test.
pub fn node_package_available(package: &str) -> bool {
    let script = format!("import({package:?}).then(() => process.exit(0), () => process.exit(1))");
    let available = std::process::Command::new("node")
        .current_dir(node_dir())
        .args(["--input-type=module", "-e", &script])
        .output()
        .is_ok_and(|out| out.status.success());
    if !available {
        assert!(
            std::env::var("DSYNC_REQUIRE_SDK_TESTS").is_err(),
            "node cannot load {package}: npm ci --prefix tests/node"
        );
        eprintln!("skipped: install node and run npm ci --prefix tests/node to run this check");
    }
    available
}

/// Runs `tests/node/<script>` with `env`, off the test's runtime thread, and returns the JSON
/// summary it prints. Panics with the script's output when it fails.
pub async fn run_node(script: &str, env: Vec<(&'static str, String)>) -> Value {
    let script = script.to_owned();
    let output = tokio::task::spawn_blocking({
        let script = script.clone();
        move || {
            std::process::Command::new("node")
                .current_dir(node_dir())
                .arg(script)
                .envs(env)
                .output()
                .expect("node runs")
        }
    })
    .await
    .expect("the node task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("a JSON summary")
}

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node")
}

pub mod receiver;

pub struct TestApp {
    pub running: dsync_local::Running,
    pub http: reqwest::Client,
    pub base_url: String,
    pub scim_base: String,
    pub token: String,
    data_dir: PathBuf,
    /// Added to the policy function's clock: `advance_clock` moves time forward.
    clock_offset: Arc<AtomicI64>,
}

/// A fresh service with its own engine and its own bootstrap environment and directory.
pub async fn spawn_app() -> TestApp {
    spawn(true, fanout_config()).await
}

/// A fresh service whose fan-out function runs with `fanout` settings.
pub async fn spawn_app_with_fanout(fanout: dsync_fanout::Config) -> TestApp {
    spawn(true, fanout).await
}

/// Fan-out settings for tests: the retry schedule compressed to `1s,1s,1s`, a 2 s timeout, a
/// 1 s inline budget, and loopback receivers allowed.
pub fn fanout_config() -> dsync_fanout::Config {
    dsync_fanout::Config {
        schedule: dsync_domain::webhooks::RetrySchedule::parse("1s,1s,1s").unwrap(),
        timeout: std::time::Duration::from_secs(2),
        inline_budget: std::time::Duration::from_secs(1),
        addresses: dsync_domain::webhooks::AddressPolicy::local(),
        ..Default::default()
    }
}

/// The same, but nothing reads the provider-records stream: the test delivers batches.
pub async fn spawn_app_without_stream_processing() -> TestApp {
    spawn(false, fanout_config()).await
}

/// A fresh service whose Google Workspace pulls go to `google` (a local fake).
pub async fn spawn_app_with_google(google: dsync_google::Endpoints) -> TestApp {
    spawn_with(true, fanout_config(), google).await
}

async fn spawn(process_streams: bool, fanout: dsync_fanout::Config) -> TestApp {
    spawn_with(process_streams, fanout, Default::default()).await
}

async fn spawn_with(
    process_streams: bool,
    fanout: dsync_fanout::Config,
    google: dsync_google::Endpoints,
) -> TestApp {
    let unique = dsync_domain::ids::EventId::generate()
        .to_string()
        .to_lowercase();
    let data_dir = std::env::temp_dir().join(format!("dsync-test-{unique}"));
    let clock_offset = Arc::new(AtomicI64::new(0));
    let offset = clock_offset.clone();
    let endpoint = std::env::var("DSYNC_TEST_DYNAMODB_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty());
    let running = dsync_local::start(dsync_local::Options {
        data_dir: data_dir.clone(),
        in_memory: true,
        dynamodb_endpoint: endpoint,
        dynamodb_latency: std::time::Duration::ZERO,
        table_prefix: format!("t{}", &unique[unique.len() - 12..]),
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        reconcile_every: None,
        clock: Some(Arc::new(move || {
            now_millis() + offset.load(Ordering::SeqCst)
        })),
        process_streams,
        fanout,
        sweep_every: std::time::Duration::from_millis(100),
        google,
    })
    .await
    .expect("the local service starts");
    let base_url = format!("http://{}", running.addr);
    TestApp {
        http: reqwest::Client::new(),
        scim_base: running.bootstrap.scim_base_url.clone(),
        token: running.bootstrap.scim_token.clone(),
        base_url,
        running,
        data_dir,
        clock_offset,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// A response read whole: status, headers and JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn read(builder: RequestBuilder) -> Reply {
    let response = builder.send().await.expect("request is sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body is read");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Reply {
        status,
        headers,
        body,
    }
}

impl TestApp {
    /// Moves the policy function's clock forward (retention tests).
    pub fn advance_clock(&self, by: std::time::Duration) {
        self.clock_offset
            .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }

    pub fn store(&self) -> &Store {
        &self.running.store
    }

    /// The key the local runner seals provider secrets with (its key file).
    pub fn sealer(&self) -> dsync_dynamo::Sealer {
        dsync_dynamo::Sealer::local_key_file(&self.data_dir.join("google-credentials.key"))
            .expect("the runner's key file")
    }

    /// Waits until every provider-record change so far has been projected, as the policy
    /// function reading the table's stream would have done.
    pub async fn settle(&self) {
        self.running
            .settle()
            .await
            .expect("the stream is processed");
    }

    /// A management API request with the bootstrap API key.
    pub fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base_url, path))
            .bearer_auth(&self.running.bootstrap.api_key)
    }

    pub async fn api_get(&self, path: &str) -> Reply {
        read(self.api(Method::GET, path)).await
    }

    /// The bootstrap directory's projection context, as the policy function reads it.
    pub async fn policy_context(
        &self,
        policy: &dsync_policy::App,
    ) -> dsync_policy::project::DirectoryContext {
        let directory = dsync_domain::ids::DirectoryId::parse(&self.running.bootstrap.directory_id)
            .expect("the bootstrap directory id");
        dsync_policy::project::Contexts::default()
            .get(policy, &directory)
            .await
            .expect("the directory context")
            .expect("the bootstrap directory")
    }

    /// Sets the environment's inactive-user policy through the API.
    /// Delivers the provider-records stream to `handler` (a stand-in for the policy
    /// function), `batch_size` records at a time, as the runner's pump does, until nothing is
    /// left. No record may be dead-lettered.
    pub async fn deliver_provider_records(
        &self,
        batch_size: usize,
        handler: impl dsync_local::streams::StreamHandler,
    ) {
        use dsync_local::streams::{streams_client, StreamPump, StreamSource};
        let mut source = StreamSource::new(self.store().tables().provider_records.clone());
        source.batch_size = batch_size;
        let mut pump = StreamPump::new(
            streams_client(&self.running.endpoint),
            source,
            handler,
            |_| panic!("no record may be dead-lettered"),
        );
        pump.pump_until_idle()
            .await
            .expect("the stream is delivered");
    }

    pub async fn set_settings(&self, settings: Value) {
        let reply = read(
            self.api(Method::PUT, "/environment/settings")
                .json(&settings),
        )
        .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }

    /// Every event after `after` (all pages), oldest first, read through `GET /events`.
    pub async fn events_after(&self, after: Option<&str>) -> Vec<Value> {
        let mut events = Vec::new();
        let mut cursor = after.map(str::to_owned);
        loop {
            let mut request = self
                .api(Method::GET, "/events")
                .query(&[("limit", "100"), ("order", "asc")]);
            if let Some(after) = &cursor {
                request = request.query(&[("after", after)]);
            }
            let reply = read(request).await;
            assert_eq!(reply.status, 200, "{:?}", reply.body);
            let page = reply.body["data"].as_array().cloned().unwrap_or_default();
            if page.is_empty() {
                return events;
            }
            cursor = page
                .last()
                .and_then(|e| e["id"].as_str())
                .map(str::to_owned);
            events.extend(page);
        }
    }

    /// The names of the events after `after`.
    pub async fn event_names_after(&self, after: Option<&str>) -> Vec<String> {
        self.events_after(after)
            .await
            .iter()
            .map(|e| e["event"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// A SCIM request to `path` (relative to the directory's SCIM base) with the token.
    pub fn scim(&self, method: Method, path: &str) -> RequestBuilder {
        self.scim_with_token(method, path, &self.token)
    }

    pub fn scim_with_token(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.scim_base, path))
            .bearer_auth(token)
            .header("content-type", "application/scim+json")
    }

    pub async fn get(&self, path: &str) -> Reply {
        read(self.scim(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        read(self.scim(Method::POST, path).json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        read(self.scim(Method::PUT, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        read(self.scim(Method::PATCH, path).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        read(self.scim(Method::DELETE, path)).await
    }

    /// `GET /Users?filter=…` with the filter percent-encoded as a client would.
    pub async fn filter_users(&self, filter: &str) -> Reply {
        read(
            self.scim(Method::GET, "/Users")
                .query(&[("filter", filter)]),
        )
        .await
    }

    /// Creates a user and returns its SCIM id.
    pub async fn create_user(&self, user_name: &str) -> String {
        let reply = self.post("/Users", &user_body(user_name)).await;
        assert_eq!(reply.status, 201, "create {user_name}: {:?}", reply.body);
        reply.body["id"].as_str().expect("id").to_owned()
    }

    /// Creates a group with nobody in it and returns its SCIM id: setup for tests about
    /// what happens to a group after it exists, not about the POST.
    pub async fn create_group(&self, display_name: &str) -> String {
        self.create_group_with_members(display_name, &[] as &[&str])
            .await
    }

    /// Like [`Self::create_group`], but `members` (SCIM user ids) join in the POST itself
    /// rather than in a later PATCH, so the group's creation carries them.
    pub async fn create_group_with_members(
        &self,
        display_name: &str,
        members: &[impl AsRef<str>],
    ) -> String {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": display_name,
            "members": members
                .iter()
                .map(|id| json!({"value": id.as_ref()}))
                .collect::<Vec<_>>(),
        });
        let reply = self.post("/Groups", &body).await;
        assert_eq!(
            reply.status, 201,
            "create group {display_name}: {:?}",
            reply.body
        );
        reply.body["id"].as_str().expect("id").to_owned()
    }

    /// Another directory in another environment: its SCIM base URL and token.
    pub async fn other_directory(&self) -> (String, String) {
        let store = self.store();
        let (_, directory, token) =
            environment_with_directory(store, ("other", "Other"), ProviderKind::OktaScimV2, 0)
                .await;
        (format!("{}/scim/v2/{}", self.base_url, directory.id), token)
    }
}

/// A new environment with one directory in it, written straight to the store as the local
/// runner's bootstrap writes them; the directory's SCIM token is returned in plain.
pub async fn environment_with_directory(
    store: &Store,
    (environment_name, directory_name): (&str, &str),
    kind: ProviderKind,
    now: i64,
) -> (Environment, dsync_domain::model::Directory, String) {
    let environment = Environment {
        id: EnvironmentId::generate(),
        name: environment_name.into(),
        settings: EnvironmentSettings::default(),
        created_at: now,
    };
    store
        .put_environment(&environment)
        .await
        .expect("environment");
    let token = secrets::generate("dsync_scim_");
    let directory = store
        .create_directory(
            NewDirectory {
                environment_id: environment.id,
                name: directory_name.into(),
                kind,
                organization_id: None,
                token_hash: token.hash,
            },
            now,
        )
        .await
        .expect("directory");
    (environment, directory, token.plain)
}

/// A minimal valid user body.
pub fn user_body(user_name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true
    })
}

/// Every event of an environment's log, in log order, read with one consistent paged Query.
pub async fn read_log(
    store: &Store,
    environment: &impl std::fmt::Display,
) -> Vec<dsync_dynamo::StoredEvent> {
    let mut events = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .client()
            .query()
            .table_name(&store.tables().events)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(
                ":pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("ENV#{environment}")),
            )
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("the log");
        for item in page.items() {
            events.extend(dsync_dynamo::decode_events(item).expect("events"));
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return events;
        }
    }
}
