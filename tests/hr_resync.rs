//! The BambooHR re-sync (docs/hr-webhooks.md) against a local fake of BambooHR's employee
//! directory endpoint: a first sync, an incremental change, an employee who left (missing
//! from the listing) under both policies, and a refused API key.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use dsync_domain::ids::DirectoryId;
use dsync_domain::time::now_millis;
use dsync_provider_webhooks::hr::resync::{resync, ResyncError};
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
    task: tokio::task::JoinHandle<()>,
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
        let listing = Arc::new(Mutex::new(listing));
        let shared = listing.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let listing = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let listing = listing.clone();
                        async move { Ok::<_, Infallible>(answer(&request, &listing)) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            listing,
            task,
        }
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set(&self, listing: Value) {
        *self.listing.lock().unwrap() = listing;
    }
}

fn answer(request: &Request<Incoming>, listing: &Mutex<Value>) -> Response<Full<Bytes>> {
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
        (true, true) => (200, listing.lock().unwrap().to_string()),
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
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
    let report = resync(
        store,
        &directory,
        &credentials,
        &fake.base_url(),
        now_millis(),
    )
    .await
    .unwrap();
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
    let report = resync(
        store,
        &directory,
        &credentials,
        &fake.base_url(),
        now_millis(),
    )
    .await
    .unwrap();
    assert_eq!((report.upserted, report.unchanged), (0, 2));
    app.settle().await;
    assert!(app.event_names_after(at.as_deref()).await.is_empty());

    // A change: one update.
    fake.set(listing(json!([jane("CTO"), bob()])));
    let at = mark(&app).await;
    resync(
        store,
        &directory,
        &credentials,
        &fake.base_url(),
        now_millis(),
    )
    .await
    .unwrap();
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "dsync.user.updated");
    assert_eq!(events[0]["data"]["job_title"], "CTO");

    // Bob left (no longer listed): inactive, so out of his group and deleted (secure) or
    // kept inactive (retain).
    fake.set(listing(json!([jane("CTO")])));
    let at = mark(&app).await;
    let report = resync(
        store,
        &directory,
        &credentials,
        &fake.base_url(),
        now_millis(),
    )
    .await
    .unwrap();
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
    let report = resync(
        store,
        &directory,
        &credentials,
        &fake.base_url(),
        now_millis(),
    )
    .await
    .unwrap();
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
    let result = resync(
        app.store(),
        &directory,
        &credentials,
        &fake.base_url(),
        now_millis(),
    )
    .await;
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
