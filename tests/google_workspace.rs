//! Google Workspace directories end to end, against the local fake of Google's token endpoint
//! and Directory API: created with credentials through the management API, pulled on demand
//! (`POST /directories/{id}/sync`), projected by the policy function like SCIM records.

use std::sync::{Arc, Mutex};

use dsync_tests::google_fake::{
    google_group, google_member, google_user, service_account_key, GoogleFake, ADMIN_EMAIL,
    CLIENT_EMAIL,
};
use dsync_tests::{json, read, spawn_app_with_google, TestApp};
use reqwest::Method;
use serde_json::Value;

pub(crate) async fn connected() -> (TestApp, GoogleFake, String) {
    let fake = GoogleFake::start().await;
    let app = spawn_app_with_google(fake.endpoints()).await;
    let reply = read(app.api(Method::POST, "/directories").json(&json!({
        "name": "Acme Workspace",
        "type": "google workspace",
        "google_workspace": {"service_account_key": service_account_key(), "admin_email": ADMIN_EMAIL},
    })))
    .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.body["type"], "gsuite directory");
    assert_eq!(
        reply.body["google_workspace"]["service_account_email"],
        CLIENT_EMAIL
    );
    assert!(reply.body.get("scim_token").is_none());
    let id = reply.body["id"].as_str().unwrap().to_owned();
    (app, fake, id)
}

pub(crate) fn three_users(fake: &GoogleFake) {
    fake.set_users(vec![
        google_user("101", "ann@acme.test", "Ann", "Archer"),
        google_user("102", "bob@acme.test", "Bob", "Baker"),
        google_user("103", "cat@acme.test", "Cat", "Cooper"),
    ]);
}

pub(crate) async fn sync(app: &TestApp, id: &str) -> Value {
    let reply = read(app.api(Method::POST, &format!("/directories/{id}/sync"))).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    app.settle().await;
    reply.body
}

pub(crate) async fn last_event_id(app: &TestApp) -> Option<String> {
    app.events_after(None)
        .await
        .last()
        .and_then(|e| e["id"].as_str())
        .map(str::to_owned)
}

pub(crate) async fn users_of(app: &TestApp, id: &str) -> Vec<Value> {
    let reply = app
        .api_get(&format!("/directory_users?directory={id}&limit=100"))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["data"].as_array().cloned().unwrap_or_default()
}

/// Every stored provider record's id and version (users, then groups).
async fn provider_versions(app: &TestApp, id: &str) -> Vec<(String, u64)> {
    let directory = dsync_domain::ids::DirectoryId::parse(id).unwrap();
    let users = app
        .store()
        .list_users(&directory, None, 1000)
        .await
        .unwrap();
    let (groups, _) = app
        .store()
        .list_groups(&directory, None, 1000)
        .await
        .unwrap();
    let mut versions: Vec<(String, u64)> = users
        .users
        .iter()
        .map(|u| (u.id.to_string(), u.version))
        .collect();
    versions.extend(groups.iter().map(|g| (g.id.to_string(), g.version)));
    assert!(!versions.is_empty());
    versions
}

pub(crate) fn user_by_email<'a>(users: &'a [Value], email: &str) -> Option<&'a Value> {
    users.iter().find(|u| u["email"] == email)
}

#[tokio::test]
async fn first_sync_projects_users_and_groups_and_an_unchanged_directory_writes_nothing() {
    let (app, fake, id) = connected().await;
    three_users(&fake);
    fake.set_page_size(2);
    fake.set_groups(vec![google_group("g1", "eng@acme.test", "Engineering")]);
    fake.set_members(
        "g1",
        vec![
            google_member("101", "USER"),
            google_member("102", "USER"),
            // Someone outside the domain, and a nested group: not users of this directory.
            google_member("999", "USER"),
            google_member("g2", "GROUP"),
        ],
    );
    let before = last_event_id(&app).await;
    let status = sync(&app, &id).await;
    assert_eq!(status["state"], "completed", "{status}");
    assert_eq!(status["counts"]["users_listed"], 3);
    assert_eq!(status["counts"]["groups_listed"], 1);
    assert_eq!(status["counts"]["users_written"], 3);
    assert!(status["last_completed_at"].is_string());

    let mut names = app.event_names_after(before.as_deref()).await;
    names.sort();
    assert_eq!(
        names,
        [
            "dsync.group.created",
            "dsync.group.user_added",
            "dsync.group.user_added",
            "dsync.user.created",
            "dsync.user.created",
            "dsync.user.created"
        ]
    );
    let users = users_of(&app, &id).await;
    let ann = user_by_email(&users, "ann@acme.test").expect("ann");
    assert_eq!(ann["first_name"], "Ann");
    assert_eq!(ann["idp_id"], "101");
    assert_eq!(ann["state"], "active");

    // What Google was asked: the documented parameters, pages of 500, the admin's token.
    let log = fake.log();
    let users_calls: Vec<_> = log
        .iter()
        .filter(|l| l.path == "/admin/directory/v1/users")
        .collect();
    assert_eq!(users_calls.len(), 2, "three users in pages of two");
    assert!(users_calls
        .iter()
        .all(|l| l.query["customer"] == "my_customer" && l.query["maxResults"] == "500"));
    assert!(log
        .iter()
        .any(|l| l.path == "/admin/directory/v1/groups/g1/members"
            && l.query["includeDerivedMembership"] == "true"));

    // Nothing changed at Google: nothing is written (every stored version stays), no event.
    let versions_before = provider_versions(&app, &id).await;
    let before = last_event_id(&app).await;
    let status = sync(&app, &id).await;
    assert_eq!(provider_versions(&app, &id).await, versions_before);
    assert_eq!(status["state"], "completed");
    assert_eq!(status["counts"]["users_written"], 0);
    assert_eq!(status["counts"]["groups_written"], 0);
    assert_eq!(status["counts"]["users_removed"], 0);
    assert!(app.event_names_after(before.as_deref()).await.is_empty());

    // One attribute changes: one update.
    fake.edit_user("102", |u| u["name"]["familyName"] = json!("Brewer"));
    fake.edit_user("103", |u| {
        u["lastLoginTime"] = json!("2026-02-02T00:00:00.000Z")
    });
    let before = last_event_id(&app).await;
    let status = sync(&app, &id).await;
    assert_eq!(
        status["counts"]["users_written"], 1,
        "a login is not a change"
    );
    let events = app.events_after(before.as_deref()).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "dsync.user.updated");
    assert_eq!(events[0]["data"]["last_name"], "Brewer");

    // A membership change alone.
    fake.set_members("g1", vec![google_member("101", "USER")]);
    let before = last_event_id(&app).await;
    sync(&app, &id).await;
    assert_eq!(
        app.event_names_after(before.as_deref()).await,
        ["dsync.group.user_removed"]
    );
}

#[tokio::test]
async fn suspension_under_the_secure_flow_deletes_and_reactivation_creates_a_new_user() {
    let (app, fake, id) = connected().await;
    three_users(&fake);
    fake.set_groups(vec![google_group("g1", "eng@acme.test", "Engineering")]);
    fake.set_members("g1", vec![google_member("101", "USER")]);
    sync(&app, &id).await;
    let users = users_of(&app, &id).await;
    let first_id = user_by_email(&users, "ann@acme.test").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    fake.edit_user("101", |u| u["suspended"] = json!(true));
    let before = last_event_id(&app).await;
    sync(&app, &id).await;
    assert_eq!(
        app.event_names_after(before.as_deref()).await,
        ["dsync.group.user_removed", "dsync.user.deleted"]
    );
    assert!(user_by_email(&users_of(&app, &id).await, "ann@acme.test").is_none());

    fake.edit_user("101", |u| u["suspended"] = json!(false));
    let before = last_event_id(&app).await;
    sync(&app, &id).await;
    let events = app.events_after(before.as_deref()).await;
    let names: Vec<_> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dsync.user.created", "dsync.group.user_added"]);
    assert_ne!(events[0]["data"]["id"], first_id.as_str(), "a new id");
}

#[tokio::test]
async fn archival_under_retain_keeps_the_user_inactive_with_the_same_id() {
    let (app, fake, id) = connected().await;
    app.set_settings(json!({"inactive_user_policy": "retain"}))
        .await;
    three_users(&fake);
    fake.set_groups(vec![google_group("g1", "eng@acme.test", "Engineering")]);
    fake.set_members("g1", vec![google_member("103", "USER")]);
    sync(&app, &id).await;
    let cat_id = user_by_email(&users_of(&app, &id).await, "cat@acme.test").unwrap()["id"].clone();

    fake.edit_user("103", |u| u["archived"] = json!(true));
    let before = last_event_id(&app).await;
    sync(&app, &id).await;
    let events = app.events_after(before.as_deref()).await;
    let names: Vec<_> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dsync.group.user_removed", "dsync.user.updated"]);
    assert_eq!(events[1]["data"]["state"], "inactive");
    assert_eq!(events[1]["data"]["id"], cat_id);

    fake.edit_user("103", |u| u["archived"] = json!(false));
    let before = last_event_id(&app).await;
    sync(&app, &id).await;
    let events = app.events_after(before.as_deref()).await;
    assert_eq!(events[0]["event"], "dsync.user.updated");
    assert_eq!(events[0]["data"]["state"], "active");
    assert_eq!(events[0]["data"]["id"], cat_id);
}

#[tokio::test]
async fn users_and_groups_no_longer_listed_are_removed() {
    let (app, fake, id) = connected().await;
    three_users(&fake);
    fake.set_groups(vec![google_group("g1", "eng@acme.test", "Engineering")]);
    fake.set_members("g1", vec![google_member("102", "USER")]);
    sync(&app, &id).await;

    fake.remove_user("102");
    fake.set_groups(vec![]);
    let before = last_event_id(&app).await;
    let status = sync(&app, &id).await;
    assert_eq!(status["counts"]["users_removed"], 1);
    assert_eq!(status["counts"]["groups_removed"], 1);
    let mut names = app.event_names_after(before.as_deref()).await;
    names.sort();
    assert!(
        names.contains(&"dsync.user.deleted".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"dsync.group.deleted".to_owned()),
        "{names:?}"
    );
    let users = users_of(&app, &id).await;
    assert_eq!(users.len(), 2);
    assert!(user_by_email(&users, "bob@acme.test").is_none());
}

#[tokio::test]
async fn rate_limits_are_waited_out_and_an_expired_page_token_restarts_the_listing() {
    let (app, fake, id) = connected().await;
    three_users(&fake);
    fake.set_page_size(1);
    fake.fail_next([
        (403, "userRateLimitExceeded"),
        (429, "rateLimitExceeded"),
        (503, "backendError"),
    ]);
    // Page tokens expire after the first page: the second request is refused once.
    fake.expire_page_tokens_after(1);
    let status = sync(&app, &id).await;
    assert_eq!(status["state"], "completed", "{status}");
    assert_eq!(status["counts"]["users_listed"], 3, "not counted twice");
    assert_eq!(users_of(&app, &id).await.len(), 3);
    let statuses: Vec<u16> = fake
        .log()
        .iter()
        .filter(|l| l.path == "/admin/directory/v1/users")
        .map(|l| l.status)
        .collect();
    assert_eq!(&statuses[..3], [403, 429, 503]);
    assert!(
        statuses.contains(&400),
        "the expired token was refused: {statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        4,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_pull_that_stops_resumes_from_its_page_token() {
    let (app, fake, id) = connected().await;
    three_users(&fake);
    fake.set_page_size(1);
    // The first page is answered; then Google keeps failing past every retry.
    fake.fail_after(1, [(503, "backendError"); 6]);
    let status = sync(&app, &id).await;
    assert_eq!(status["state"], "failed", "{status}");
    assert!(
        status["error"].as_str().unwrap().contains("503"),
        "{status}"
    );
    assert_eq!(status["counts"]["users_listed"], 1);
    assert_eq!(users_of(&app, &id).await.len(), 1);

    let answered = fake.log().len();
    let status = sync(&app, &id).await;
    assert_eq!(status["state"], "completed", "{status}");
    assert_eq!(
        status["counts"]["users_listed"], 3,
        "counted across invocations"
    );
    let resumed = fake.log()[answered..]
        .iter()
        .find(|l| l.path == "/admin/directory/v1/users")
        .cloned()
        .expect("a users request");
    assert_eq!(
        resumed.query.get("pageToken").map(String::as_str),
        Some("g0-1")
    );
    assert_eq!(users_of(&app, &id).await.len(), 3);
}

#[tokio::test]
async fn refused_credentials_are_reported_and_nothing_is_written() {
    let (app, fake, id) = connected().await;
    three_users(&fake);
    // Another admin: the fake's token endpoint refuses the grant (no delegation for them).
    let reply = read(
        app.api(Method::PUT, &format!("/directories/{id}/credentials"))
            .json(&json!({"service_account_key": service_account_key(), "admin_email": "someone@acme.test"})),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let status = sync(&app, &id).await;
    assert_eq!(status["state"], "failed");
    assert!(
        status["error"].as_str().unwrap().contains("invalid_grant"),
        "{status}"
    );
    assert!(users_of(&app, &id).await.is_empty());
    let status = app.api_get(&format!("/directories/{id}/sync")).await;
    assert_eq!(status.body["state"], "failed");
}

#[tokio::test]
async fn bad_credentials_are_refused_with_a_precise_400() {
    let fake = GoogleFake::start().await;
    let app = spawn_app_with_google(fake.endpoints()).await;
    let cases = [
        (
            json!({"name": "x", "type": "google workspace"}),
            "google_workspace is required",
        ),
        (
            json!({"name": "x", "type": "google workspace", "google_workspace": {"admin_email": ADMIN_EMAIL}}),
            "service_account_key is required",
        ),
        (
            json!({"name": "x", "type": "google workspace", "google_workspace": {"service_account_key": {"type": "authorized_user"}, "admin_email": ADMIN_EMAIL}}),
            "service account JSON key",
        ),
        (
            json!({"name": "x", "type": "google workspace", "google_workspace": {"service_account_key": service_account_key(), "admin_email": "nobody"}}),
            "admin_email",
        ),
        (
            json!({"name": "x", "type": "okta scim v2.0", "google_workspace": {}}),
            "only for type google workspace",
        ),
    ];
    for (body, message) in cases {
        let reply = read(app.api(Method::POST, "/directories").json(&body)).await;
        assert_eq!(reply.status, 400, "{body}: {:?}", reply.body);
        assert!(
            reply.body["message"]
                .as_str()
                .unwrap_or_default()
                .contains(message),
            "{body}: {:?}",
            reply.body
        );
    }
}

/// Every log line the test binary writes once [`capture_logs`] ran. A global subscriber, not
/// a scoped one: tracing caches callsite interest across threads, so a thread-local
/// subscriber misses events when tests run in parallel.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter("info,dsync_google=debug,dsync_api=debug")
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
            captured
        })
        .clone()
}

#[tokio::test]
async fn credentials_never_appear_in_api_responses_logs_or_storage() {
    let captured = capture_logs();
    let (app, fake, id) = connected().await;
    three_users(&fake);
    sync(&app, &id).await;
    let key_line = dsync_tests::google_fake::TEST_KEY_PEM
        .lines()
        .nth(1)
        .unwrap();
    let secrets = [ADMIN_EMAIL, key_line, "0123456789abcdef", "ya29.fake"];

    let mut seen = Vec::new();
    for path in [
        format!("/directories/{id}"),
        "/directories".to_owned(),
        format!("/directories/{id}/sync"),
    ] {
        seen.push(app.api_get(&path).await.body.to_string());
    }
    let rotated = read(
        app.api(Method::PUT, &format!("/directories/{id}/credentials"))
            .json(
                &json!({"service_account_key": service_account_key(), "admin_email": ADMIN_EMAIL}),
            ),
    )
    .await;
    assert_eq!(rotated.status, 200);
    seen.push(rotated.body.to_string());
    // Stored: only ciphertext (the whole directory table, scanned).
    let scan = app
        .store()
        .client()
        .scan()
        .table_name(&app.store().tables().directory)
        .send()
        .await
        .unwrap();
    seen.push(format!("{:?}", scan.items()));
    seen.push(String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned());
    let logs = seen.last().unwrap();
    assert!(
        logs.lines()
            .any(|l| l.contains("google pull completed") && l.contains(&id)),
        "this pull's logs were captured"
    );
    for text in &seen {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} leaked in {text:.300}");
        }
    }
}
