//! How long the handlers take per provisioning event, for the Lambda duration estimate in
//! docs/COST.md. Ignored by default: it means something only in release mode.
//!
//! ```sh
//! cargo test --release -p dsync-local --test handler_timing -- --ignored --nocapture
//! ```
//!
//! The functions are called directly, as Lambda calls them, with a DynamoDB client on the
//! embedded engine (over loopback HTTP): the SCIM function for Okta's lookup, `POST /Users`
//! and the deactivating `PATCH`, and the policy function's per-record work (the directory
//! context, read once per stream batch, and `project_user`). Sequential calls, one user at a
//! time, after a warm-up. The engine runs in the same process, so its time is included, but
//! the network latency to a real DynamoDB endpoint is not.

use std::time::{Duration, Instant};

use bytes::Bytes;
use dsync_domain::ids::{DirectoryId, EnvironmentId, ProviderUserId};
use dsync_domain::model::{Environment, EnvironmentSettings, ProviderKind};
use dsync_domain::secrets;
use dsync_domain::time::now_millis;
use dsync_dynamo::{connect, tables, ConnectOptions, NewDirectory, Store, TableNames};
use dsync_local::Engine;
use dsync_policy::project::{project_user, Contexts};
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};

const WARM_UP: usize = 20;
const USERS: usize = 300;

struct Setup {
    _engine: Engine,
    directory: DirectoryId,
    token: String,
    scim: dsync_provider_webhooks::App,
    policy: dsync_policy::App,
}

async fn setup() -> Setup {
    let engine = Engine::start(None).await.expect("the engine starts");
    let client = connect(ConnectOptions {
        endpoint: Some(engine.endpoint()),
        region: None,
    })
    .await;
    let names = TableNames::with_prefix("timing");
    tables::create_tables(&client, &names)
        .await
        .expect("tables");
    let store = Store::new(client, names);
    let environment = Environment {
        id: EnvironmentId::generate(),
        name: "timing".into(),
        settings: EnvironmentSettings::default(),
        created_at: now_millis(),
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
                name: "Okta".into(),
                kind: ProviderKind::OktaScimV2,
                organization_id: None,
                token_hash: token.hash,
            },
            now_millis(),
        )
        .await
        .expect("directory");
    Setup {
        _engine: engine,
        directory: directory.id,
        token: token.plain,
        scim: dsync_provider_webhooks::App::new(store.clone(), Default::default()),
        policy: dsync_policy::App::new(store),
    }
}

impl Setup {
    async fn scim(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(format!(
                "https://dsync.example.com/scim/v2/{}{path}",
                self.directory
            ))
            .header("host", "dsync.example.com")
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/scim+json")
            .body(body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())))
            .expect("a request");
        let response = dsync_provider_webhooks::handle(&self.scim, request).await;
        let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        (response.status(), body)
    }
}

fn okta_user(user_name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "displayName": "Jane Doe",
        "locale": "en-US",
        "externalId": "00u1abcdEFGH",
        "groups": [],
        "active": true
    })
}

/// Per-step samples of one user's creation and deactivation.
#[derive(Default)]
struct Samples {
    lookup: Vec<Duration>,
    create: Vec<Duration>,
    context: Vec<Duration>,
    project_create: Vec<Duration>,
    deactivate: Vec<Duration>,
    project_deactivate: Vec<Duration>,
}

async fn timed<T>(samples: &mut Vec<Duration>, work: impl std::future::Future<Output = T>) -> T {
    let start = Instant::now();
    let out = work.await;
    samples.push(start.elapsed());
    out
}

async fn one_user(setup: &Setup, n: usize, samples: &mut Samples) {
    let user_name = format!("user{n}@example.com");
    let filter = format!("?filter=userName%20eq%20%22{user_name}%22&startIndex=1&count=100");
    let (status, _) = timed(
        &mut samples.lookup,
        setup.scim(Method::GET, &format!("/Users{filter}"), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, created) = timed(
        &mut samples.create,
        setup.scim(Method::POST, "/Users", Some(okta_user(&user_name))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let user = ProviderUserId::parse(created["id"].as_str().expect("id")).expect("a user id");

    let context = timed(&mut samples.context, async {
        Contexts::default()
            .get(&setup.policy, &setup.directory)
            .await
            .expect("context read")
            .expect("the directory exists")
    })
    .await;
    timed(
        &mut samples.project_create,
        project_user(&setup.policy, &context, &user),
    )
    .await
    .expect("projected");

    let deactivation = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": false}}]
    });
    let (status, body) = timed(
        &mut samples.deactivate,
        setup.scim(Method::PATCH, &format!("/Users/{user}"), Some(deactivation)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    timed(
        &mut samples.project_deactivate,
        project_user(&setup.policy, &context, &user),
    )
    .await
    .expect("projected");
}

fn summary(name: &str, samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {name} | {:.2} | {:.2} | {:.2} |",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99))
    );
    at(0.5)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement; run in release mode with --ignored --nocapture"]
async fn handler_time_per_provisioning_event() {
    let setup = setup().await;
    let mut warm_up = Samples::default();
    for n in 0..WARM_UP {
        one_user(&setup, n, &mut warm_up).await;
    }
    let mut samples = Samples::default();
    for n in WARM_UP..WARM_UP + USERS {
        one_user(&setup, n, &mut samples).await;
    }
    println!("{USERS} users, milliseconds per call");
    println!("| step | median | p90 | p99 |");
    println!("| --- | ---: | ---: | ---: |");
    let lookup = summary(
        "SCIM lookup (`GET /Users?filter=userName eq …`)",
        &samples.lookup,
    );
    let create = summary("SCIM `POST /Users`", &samples.create);
    let context = summary("stream batch: directory context", &samples.context);
    let project = summary("projection of a creation", &samples.project_create);
    let deactivate = summary("SCIM `PATCH` active=false", &samples.deactivate);
    let project_off = summary("projection of a deactivation", &samples.project_deactivate);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "create, all steps (medians): {:.2} ms; deactivation: {:.2} ms",
        ms(lookup + create + context + project),
        ms(deactivate + context + project_off)
    );
}
