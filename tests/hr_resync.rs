//! The BambooHR re-sync (docs/hr-webhooks.md) against a local fake of BambooHR's employee
//! directory endpoint: a first sync, an incremental change, an employee who left (missing
//! from the listing) under both policies, and a refused API key; on the schedule: a missed
//! webhook's change landing by the schedule alone, an unchanged directory writing nothing, a
//! big directory finished across invocations, the lease, and backoff on 429 / 5xx.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use dsync_domain::ids::DirectoryId;
use dsync_domain::time::now_millis;
use dsync_dynamo::HrSyncReport;
use dsync_provider_webhooks::hr::resync::{
    resync, Backoff, ResyncConfig, ResyncEnd, ResyncError, Trigger,
};
use dsync_provider_webhooks::hr::schedule::resync_due;
use dsync_tests::{json, read, spawn_app, TestApp};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use reqwest::Method;
use serde_json::Value;

const API_KEY: &str = "bamboohr-api-key-for-tests";
const COMPANY: &str = "acme";

/// BambooHR's `GET /api/gateway.php/{company}/v1/employees/directory`: the listing it holds,
/// behind HTTP Basic with the API key as user name; 401 otherwise, 404 for other paths.
struct FakeBambooHr {
    addr: SocketAddr,
    listing: Arc<Mutex<Value>>,
    /// Statuses to answer the next authorized reads with (429, 503…) before the listing.
    failures: Arc<Mutex<VecDeque<u16>>>,
    /// Authorized reads answered, failures included.
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

/// What the fake answers with.
#[derive(Clone)]
struct FakeState {
    listing: Arc<Mutex<Value>>,
    failures: Arc<Mutex<VecDeque<u16>>>,
    hits: Arc<AtomicUsize>,
}

impl Drop for FakeBambooHr {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeBambooHr {
    async fn start(listing: Value) -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let state = FakeState {
            listing: Arc::new(Mutex::new(listing)),
            failures: Arc::default(),
            hits: Arc::default(),
        };
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(answer(&request, &state)) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            listing: state.listing,
            failures: state.failures,
            hits: state.hits,
            task,
        }
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set(&self, listing: Value) {
        *self.listing.lock().unwrap() = listing;
    }

    fn fail_next(&self, statuses: &[u16]) {
        self.failures.lock().unwrap().extend(statuses);
    }

    /// How a test's re-syncs run: against this fake, with short backoff.
    fn config(&self) -> ResyncConfig {
        let mut config = ResyncConfig::new(self.base_url());
        config.backoff = Backoff {
            first: Duration::from_millis(10),
            max: Duration::from_millis(50),
            attempts: 3,
        };
        config
    }
}

fn answer(request: &Request<Incoming>, state: &FakeState) -> Response<Full<Bytes>> {
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{API_KEY}:x"))
    );
    let authorized = request
        .headers()
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    let path_ok =
        request.uri().path() == format!("/api/gateway.php/{COMPANY}/v1/employees/directory");
    let (status, body) = match (path_ok, authorized) {
        (false, _) => (404, String::new()),
        (true, false) => (401, String::new()),
        (true, true) => {
            state.hits.fetch_add(1, Ordering::SeqCst);
            match state.failures.lock().unwrap().pop_front() {
                Some(status) => (status, String::new()),
                None => (200, state.listing.lock().unwrap().to_string()),
            }
        }
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        // A rate-limited answer names its wait, as BambooHR's may.
        .header("retry-after", "0")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn listing(employees: Value) -> Value {
    json!({"fields": [{"id": "displayName", "type": "text", "name": "Display name"}],
           "employees": employees})
}

fn jane(title: &str) -> Value {
    json!({"id": "1", "displayName": "Jane Doe", "firstName": "Jane", "lastName": "Doe",
           "jobTitle": title, "workEmail": "jane@acme.test", "department": "R&D"})
}

fn bob() -> Value {
    json!({"id": "2", "displayName": "Bob Roe", "firstName": "Bob", "lastName": "Roe",
           "jobTitle": "Rep", "workEmail": "bob@acme.test", "department": "Sales"})
}

async fn bamboohr_directory(app: &TestApp, api_key: &str) -> dsync_domain::model::Directory {
    let reply = read(app.api(Method::POST, "/directories").json(&json!({
        "name": "Acme HR", "type": "bamboohr", "webhook_secret": "k",
        "bamboohr_company": COMPANY, "bamboohr_api_key": api_key,
    })))
    .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let id = DirectoryId::parse(reply.body["id"].as_str().unwrap()).unwrap();
    app.store().get_directory(&id).await.unwrap()
}

/// An on-demand re-sync run to its end.
async fn run(
    store: &dsync_dynamo::Store,
    directory: &dsync_domain::model::Directory,
    credentials: &dsync_dynamo::HrCredentials,
    fake: &FakeBambooHr,
) -> Result<HrSyncReport, ResyncError> {
    let end = resync(
        store,
        directory,
        credentials,
        &fake.config(),
        Trigger::OnDemand,
        &now_millis,
        None,
    )
    .await?;
    match end {
        ResyncEnd::Finished(report) => Ok(report),
        other => panic!("the re-sync did not finish: {other:?}"),
    }
}

async fn mark(app: &TestApp) -> Option<String> {
    app.events_after(None)
        .await
        .last()
        .and_then(|e| e["id"].as_str())
        .map(str::to_owned)
}

async fn resync_flow(policy: &str) {
    let app = spawn_app().await;
    app.set_settings(json!({"inactive_user_policy": policy, "inactive_user_retention_days": null}))
        .await;
    let fake = FakeBambooHr::start(listing(json!([jane("Engineer"), bob()]))).await;
    let directory = bamboohr_directory(&app, API_KEY).await;
    let credentials = app
        .store()
        .hr_credentials(&directory.id, Some(&app.sealer()))
        .await
        .unwrap();
    let store = app.store();
    app.settle().await;

    // First sync.
    let at = mark(&app).await;
    let report = run(store, &directory, &credentials, &fake).await.unwrap();
    assert_eq!(
        (report.upserted, report.unchanged, report.removed),
        (2, 0, 0)
    );
    app.settle().await;
    let mut names = app.event_names_after(at.as_deref()).await;
    names.sort();
    assert_eq!(
        names,
        [
            "dsync.group.created",
            "dsync.group.created",
            "dsync.group.user_added",
            "dsync.group.user_added",
            "dsync.user.created",
            "dsync.user.created"
        ]
    );

    // Unchanged listing: nothing written, no event.
    let at = mark(&app).await;
    let report = run(store, &directory, &credentials, &fake).await.unwrap();
    assert_eq!((report.upserted, report.unchanged), (0, 2));
    app.settle().await;
    assert!(app.event_names_after(at.as_deref()).await.is_empty());

    // A change: one update.
    fake.set(listing(json!([jane("CTO"), bob()])));
    let at = mark(&app).await;
    run(store, &directory, &credentials, &fake).await.unwrap();
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "dsync.user.updated");
    assert_eq!(events[0]["data"]["job_title"], "CTO");

    // Bob left (no longer listed): inactive, so out of his group and deleted (secure) or
    // kept inactive (retain).
    fake.set(listing(json!([jane("CTO")])));
    let at = mark(&app).await;
    let report = run(store, &directory, &credentials, &fake).await.unwrap();
    assert_eq!(report.removed, 1);
    app.settle().await;
    let last = if policy == "retain" {
        "dsync.user.updated"
    } else {
        "dsync.user.deleted"
    };
    assert_eq!(
        app.event_names_after(at.as_deref()).await,
        ["dsync.group.user_removed", last]
    );
    // Run again: already inactive, nothing more.
    let report = run(store, &directory, &credentials, &fake).await.unwrap();
    assert_eq!(report.removed, 0);

    // The last sync is what the API shows.
    let sync = app
        .api_get(&format!("/directories/{}/sync", directory.id))
        .await;
    assert_eq!(sync.body["source"], "resync");
    assert_eq!(sync.body["counts"]["unchanged"], 1);
}

#[tokio::test]
async fn a_resync_follows_the_listing_under_the_secure_policy() {
    resync_flow("delete").await;
}

#[tokio::test]
async fn a_resync_follows_the_listing_under_the_retain_policy() {
    resync_flow("retain").await;
}

#[tokio::test]
async fn a_refused_api_key_is_reported_and_changes_nothing() {
    let app = spawn_app().await;
    let fake = FakeBambooHr::start(listing(json!([bob()]))).await;
    let directory = bamboohr_directory(&app, "a-wrong-key").await;
    let credentials = app
        .store()
        .hr_credentials(&directory.id, Some(&app.sealer()))
        .await
        .unwrap();
    let result = run(app.store(), &directory, &credentials, &fake).await;
    assert!(
        matches!(result, Err(ResyncError::Upstream(401))),
        "{result:?}"
    );
    let users = app
        .store()
        .list_users(&directory.id, None, 10)
        .await
        .unwrap();
    assert!(users.users.is_empty());
    let sync = app
        .api_get(&format!("/directories/{}/sync", directory.id))
        .await;
    assert_eq!(sync.body["error"], "BambooHR answered 401");
    assert!(!sync.body.to_string().contains("a-wrong-key"));

    // Through the API: a directory without BambooHR credentials is a 400 naming them.
    let bare = read(app.api(Method::POST, "/directories").json(&json!({
        "name": "No key", "type": "bamboohr", "webhook_secret": "k"})))
    .await;
    let id = bare.body["id"].as_str().unwrap();
    let reply = read(app.api(Method::POST, &format!("/directories/{id}/sync"))).await;
    assert_eq!(reply.status, 400, "{:?}", reply.body);
    assert!(reply.body.to_string().contains("bamboohr_api_key"));
}

/// The schedule's view of one directory: its outcome there.
async fn scheduled(
    app: &TestApp,
    config: &ResyncConfig,
    directory: &DirectoryId,
    clock: &(dyn Fn() -> i64 + Send + Sync),
) -> ResyncEnd {
    let done = resync_due(app.store(), Some(&app.sealer()), config, clock, None)
        .await
        .unwrap();
    let mine = done
        .into_iter()
        .find(|d| d.directory_id == *directory)
        .expect("the schedule took the BambooHR directory");
    mine.end.unwrap()
}

/// Every provider record of the directory with its version: what a write would change.
async fn record_versions(app: &TestApp, directory: &DirectoryId) -> Vec<(String, u64)> {
    let users = app.store().list_users(directory, None, 100).await.unwrap();
    users
        .users
        .iter()
        .map(|u| (u.id.to_string(), u.version))
        .collect()
}

#[tokio::test]
async fn a_missed_webhook_lands_by_the_schedule_alone_and_an_unchanged_directory_writes_nothing() {
    let app = spawn_app().await;
    let fake = FakeBambooHr::start(listing(json!([jane("Engineer"), bob()]))).await;
    let directory = bamboohr_directory(&app, API_KEY).await;
    let config = fake.config();
    let hours = |h: i64| move || now_millis() + h * 3_600_000;

    // The first scheduled run brings everyone.
    let end = scheduled(&app, &config, &directory.id, &hours(0)).await;
    assert!(
        matches!(&end, ResyncEnd::Finished(r) if r.upserted == 2),
        "{end:?}"
    );
    app.settle().await;

    // Jane is promoted in BambooHR and the webhook never arrives. Within the hour the
    // schedule leaves the directory alone; after it, the change lands.
    fake.set(listing(json!([jane("CTO"), bob()])));
    let at = mark(&app).await;
    assert_eq!(
        scheduled(&app, &config, &directory.id, &hours(0)).await,
        ResyncEnd::NotDue
    );
    let end = scheduled(&app, &config, &directory.id, &hours(2)).await;
    assert!(
        matches!(&end, ResyncEnd::Finished(r) if (r.upserted, r.unchanged) == (1, 1)),
        "{end:?}"
    );
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "dsync.user.updated");
    assert_eq!(events[0]["data"]["job_title"], "CTO");

    // Unchanged: the next run writes no provider record and makes no event.
    let before = record_versions(&app, &directory.id).await;
    let at = mark(&app).await;
    let end = scheduled(&app, &config, &directory.id, &hours(4)).await;
    assert!(
        matches!(&end, ResyncEnd::Finished(r) if (r.upserted, r.unchanged, r.removed) == (0, 2, 0)),
        "{end:?}"
    );
    app.settle().await;
    assert_eq!(record_versions(&app, &directory.id).await, before);
    assert!(app.event_names_after(at.as_deref()).await.is_empty());

    // The API shows the schedule's last run.
    let sync = app
        .api_get(&format!("/directories/{}/sync", directory.id))
        .await;
    assert_eq!(sync.body["source"], "schedule");
    assert_eq!(sync.body["state"], "idle");
    assert_eq!(sync.body["counts"]["unchanged"], 2);
    assert_eq!(sync.body["error"], Value::Null);
}

fn numbered(n: usize) -> Value {
    json!({"id": n.to_string(), "firstName": format!("E{n}"), "lastName": "Doe",
           "workEmail": format!("e{n}@acme.test")})
}

#[tokio::test]
async fn a_big_directory_is_resynced_across_invocations_under_one_lease() {
    let app = spawn_app().await;
    let fake = FakeBambooHr::start(listing(json!((1..=5).map(numbered).collect::<Vec<_>>()))).await;
    let directory = bamboohr_directory(&app, API_KEY).await;
    let mut config = fake.config();
    // Two employees per invocation stand in for an invocation's deadline.
    config.budget = Some(2);
    config.checkpoint_every = 1;
    let clock = now_millis;

    assert_eq!(
        scheduled(&app, &config, &directory.id, &clock).await,
        ResyncEnd::Paused
    );
    let users = app
        .store()
        .list_users(&directory.id, None, 10)
        .await
        .unwrap();
    assert_eq!(
        users.users.len(),
        2,
        "the first invocation did two employees"
    );
    let sync = app
        .api_get(&format!("/directories/{}/sync", directory.id))
        .await;
    assert_eq!(sync.body["state"], "running");

    // While another invocation holds the lease, neither the schedule nor the API runs it.
    let other = "another-invocation";
    let held = app
        .store()
        .claim_hr_resync(&directory.id, other, now_millis(), now_millis() + 60_000)
        .await
        .unwrap();
    assert!(held.is_some_and(|state| state.checkpoint.is_some()));
    assert_eq!(
        scheduled(&app, &config, &directory.id, &clock).await,
        ResyncEnd::Busy
    );
    let reply = read(app.api(Method::POST, &format!("/directories/{}/sync", directory.id))).await;
    assert_eq!(reply.status, 409, "{:?}", reply.body);
    app.store()
        .release_hr_resync(&directory.id, other)
        .await
        .unwrap();

    // The next invocations resume where the first stopped and finish, counting the run whole.
    assert_eq!(
        scheduled(&app, &config, &directory.id, &clock).await,
        ResyncEnd::Paused
    );
    let end = scheduled(&app, &config, &directory.id, &clock).await;
    assert!(
        matches!(&end, ResyncEnd::Finished(r) if (r.upserted, r.unchanged) == (5, 0)),
        "{end:?}"
    );
    let users = app
        .store()
        .list_users(&directory.id, None, 10)
        .await
        .unwrap();
    assert_eq!(users.users.len(), 5);
    assert_eq!(
        fake.hits.load(Ordering::SeqCst),
        3,
        "one read per invocation"
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_from_bamboohr_are_retried_with_backoff() {
    let app = spawn_app().await;
    let fake = FakeBambooHr::start(listing(json!([bob()]))).await;
    let directory = bamboohr_directory(&app, API_KEY).await;
    let credentials = app
        .store()
        .hr_credentials(&directory.id, Some(&app.sealer()))
        .await
        .unwrap();

    // A 429 and a 503, then the listing: the run goes through.
    fake.fail_next(&[429, 503]);
    let report = run(app.store(), &directory, &credentials, &fake)
        .await
        .unwrap();
    assert_eq!(report.upserted, 1);
    assert_eq!(fake.hits.load(Ordering::SeqCst), 3);

    // Still failing after the last attempt: the run ends with the error, nothing changed.
    fake.fail_next(&[503, 503, 503]);
    fake.set(listing(json!([])));
    let result = run(app.store(), &directory, &credentials, &fake).await;
    assert!(
        matches!(result, Err(ResyncError::Upstream(503))),
        "{result:?}"
    );
    assert_eq!(fake.hits.load(Ordering::SeqCst), 6);
    let users = app
        .store()
        .list_users(&directory.id, None, 10)
        .await
        .unwrap();
    assert!(users.users.iter().all(|u| u.active), "bob was not removed");
    let sync = app
        .api_get(&format!("/directories/{}/sync", directory.id))
        .await;
    assert_eq!(sync.body["error"], "BambooHR answered 503");
    assert_eq!(sync.body["state"], "idle");

    // A refused key is final at once: no retry.
    fake.fail_next(&[401]);
    let result = run(app.store(), &directory, &credentials, &fake).await;
    assert!(
        matches!(result, Err(ResyncError::Upstream(401))),
        "{result:?}"
    );
    assert_eq!(fake.hits.load(Ordering::SeqCst), 7);
}
