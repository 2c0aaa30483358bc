//! HR directories end to end (docs/hr-webhooks.md): BambooHR's and the generic format's
//! signed deliveries become directory users and groups with the same events SCIM makes, under
//! both inactive-user policies; forged, stale and replayed deliveries are refused with
//! nothing stored; secrets are shown once.

use dsync_domain::providers::bamboohr;
use dsync_domain::time::now_millis;
use dsync_domain::webhooks::signing;
use dsync_tests::{json, read, spawn_app, TestApp};
use reqwest::Method;
use serde_json::Value;

const BAMBOO_KEY: &str = "bamboohr-private-key-for-tests";

/// Creates an HR directory through the API; returns its creation answer.
async fn create_directory(app: &TestApp, body: Value) -> Value {
    let reply = read(app.api(Method::POST, "/directories").json(&body)).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body
}

fn webhook_path(directory: &Value) -> String {
    let url = directory["webhook_url"].as_str().expect("a webhook_url");
    let at = url.find("/hr/").expect("an /hr/ path");
    url[at..].to_owned()
}

/// A BambooHR delivery of `body`, signed with `key` at `timestamp` (seconds).
async fn post_bamboohr(app: &TestApp, path: &str, body: &Value, key: &str, timestamp: i64) -> u16 {
    let body = body.to_string();
    let timestamp = timestamp.to_string();
    let signature = bamboohr::sign(key, body.as_bytes(), &timestamp);
    post_signed(
        app,
        path,
        body,
        &[
            ("X-BambooHR-Timestamp", &timestamp),
            ("X-BambooHR-Signature", &signature),
        ],
    )
    .await
}

async fn post_signed(app: &TestApp, path: &str, body: String, headers: &[(&str, &str)]) -> u16 {
    let mut request = app
        .http
        .post(format!("{}{}", app.base_url, path))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let reply = read(request).await;
    reply.status
}

/// A generic-format delivery of `body` as message `id`, signed with `secret` at `at_ms`.
async fn post_generic(
    app: &TestApp,
    path: &str,
    body: &Value,
    secret: &str,
    id: &str,
    at_ms: i64,
) -> u16 {
    let body = body.to_string();
    let signed = signing::sign(id, body.as_bytes(), at_ms, &[secret]).unwrap();
    post_signed(
        app,
        path,
        body,
        &[
            (signing::WEBHOOK_ID, &signed.webhook_id),
            (signing::WEBHOOK_TIMESTAMP, &signed.webhook_timestamp),
            (signing::WEBHOOK_SIGNATURE, &signed.webhook_signature),
        ],
    )
    .await
}

fn now_secs() -> i64 {
    now_millis() / 1000
}

fn employee(id: &str, fields: Value) -> Value {
    json!({"id": id, "action": "Updated", "changedFields": [], "fields": fields,
           "timestamp": "2026-01-31T18:42:00+0000"})
}

async fn mark(app: &TestApp) -> Option<String> {
    app.events_after(None)
        .await
        .last()
        .and_then(|e| e["id"].as_str())
        .map(str::to_owned)
}

/// The events after `at`, as names, sorted (a delivery of several employees may project
/// them in any order).
async fn names_after(app: &TestApp, at: Option<&str>) -> Vec<String> {
    let mut names = app.event_names_after(at).await;
    names.sort();
    names
}

async fn directory_users(app: &TestApp, directory: &str) -> Vec<Value> {
    let reply = app
        .api_get(&format!("/directory_users?directory={directory}&limit=100"))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["data"].as_array().cloned().unwrap_or_default()
}

async fn bamboohr_flow(policy: &str) {
    let app = spawn_app().await;
    app.set_settings(json!({"inactive_user_policy": policy, "inactive_user_retention_days": null}))
        .await;
    let retain = policy == "retain";
    let created = create_directory(
        &app,
        json!({"name": "Acme HR", "type": "bamboohr", "webhook_secret": BAMBOO_KEY}),
    )
    .await;
    assert_eq!(created["type"], "bamboohr");
    assert_eq!(created["webhook_secret_set"], true);
    assert!(
        created.get("webhook_secret").is_none(),
        "BambooHR's own key is never echoed"
    );
    let directory = created["id"].as_str().unwrap().to_owned();
    let path = webhook_path(&created);
    app.settle().await;

    // First sync: two employees, each in a department.
    let at = mark(&app).await;
    let first = json!({"employees": [
        employee("101", json!({"First Name": "Jane", "Last Name": "Doe",
            "Work Email": "jane@acme.test", "Employee #": "101", "Department": "R&D",
            "Job Title": "Engineer", "Status": "Active", "Employment Status": "Full-Time"})),
        employee("102", json!({"firstName": "Bob", "lastName": "Roe",
            "workEmail": "bob@acme.test", "department": "Sales", "jobTitle": "Rep",
            "status": "Active"})),
    ]});
    assert_eq!(
        post_bamboohr(&app, &path, &first, BAMBOO_KEY, now_secs()).await,
        200
    );
    app.settle().await;
    assert_eq!(
        names_after(&app, at.as_deref()).await,
        [
            "dsync.group.created",
            "dsync.group.created",
            "dsync.group.user_added",
            "dsync.group.user_added",
            "dsync.user.created",
            "dsync.user.created"
        ]
    );
    let users = directory_users(&app, &directory).await;
    let jane = users
        .iter()
        .find(|u| u["email"] == "jane@acme.test")
        .expect("Jane is a directory user");
    assert_eq!(jane["first_name"], "Jane");
    assert_eq!(jane["job_title"], "Engineer");
    assert_eq!(jane["idp_id"], "101");
    assert_eq!(jane["custom_attributes"]["department"], "R&D");
    assert_eq!(jane["custom_attributes"]["employee_number"], "101");
    let jane_id = jane["id"].as_str().unwrap().to_owned();

    // The same delivery again (a new one, same content): nothing changes.
    let at = mark(&app).await;
    assert_eq!(
        post_bamboohr(&app, &path, &first, BAMBOO_KEY, now_secs() + 1).await,
        200
    );
    app.settle().await;
    assert!(names_after(&app, at.as_deref()).await.is_empty());

    // Incremental: only the changed field is sent; the rest is kept.
    let at = mark(&app).await;
    let promoted = json!({"employees": [employee("101", json!({"Job Title": "Staff Engineer"}))]});
    assert_eq!(
        post_bamboohr(&app, &path, &promoted, BAMBOO_KEY, now_secs()).await,
        200
    );
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "dsync.user.updated");
    assert_eq!(events[0]["data"]["job_title"], "Staff Engineer");
    assert_eq!(events[0]["data"]["first_name"], "Jane");

    // Terminated: out of its group, then deleted (secure) or updated to inactive (retain),
    // as a SCIM deactivation.
    let at = mark(&app).await;
    let terminated =
        json!({"employees": [employee("101", json!({"Employment Status": "Terminated"}))]});
    assert_eq!(
        post_bamboohr(&app, &path, &terminated, BAMBOO_KEY, now_secs()).await,
        200
    );
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    let names: Vec<_> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let last = if retain {
        "dsync.user.updated"
    } else {
        "dsync.user.deleted"
    };
    assert_eq!(names, ["dsync.group.user_removed", last]);
    if retain {
        assert_eq!(events[1]["data"]["state"], "inactive");
        assert_eq!(events[1]["data"]["id"], jane_id.as_str());
    }
    assert_eq!(
        directory_users(&app, &directory).await.len(),
        if retain { 2 } else { 1 }
    );

    // Rehired: a new user with a new id (secure) or the same one active again, back in R&D.
    let at = mark(&app).await;
    let rehired =
        json!({"employees": [employee("101", json!({"Employment Status": "Full-Time"}))]});
    assert_eq!(
        post_bamboohr(&app, &path, &rehired, BAMBOO_KEY, now_secs()).await,
        200
    );
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    let names: Vec<_> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let first = if retain {
        "dsync.user.updated"
    } else {
        "dsync.user.created"
    };
    assert_eq!(names, [first, "dsync.group.user_added"]);
    let returned = events[0]["data"]["id"].as_str().unwrap();
    if retain {
        assert_eq!(returned, jane_id);
    } else {
        assert_ne!(returned, jane_id, "the secure flow makes a new user");
    }

    // Moved department: out of Sales, into R&D.
    let at = mark(&app).await;
    let moved = json!({"employees": [employee("102", json!({"Department": "R&D"}))]});
    assert_eq!(
        post_bamboohr(&app, &path, &moved, BAMBOO_KEY, now_secs()).await,
        200
    );
    app.settle().await;
    assert_eq!(
        names_after(&app, at.as_deref()).await,
        [
            "dsync.group.user_added",
            "dsync.group.user_removed",
            "dsync.user.updated"
        ]
    );

    // Deleted in BambooHR: removed, as a SCIM DELETE.
    let at = mark(&app).await;
    let deleted = json!({"employees": [{"id": "102", "action": "Deleted", "changedFields": [], "fields": {}}]});
    assert_eq!(
        post_bamboohr(&app, &path, &deleted, BAMBOO_KEY, now_secs()).await,
        200
    );
    app.settle().await;
    assert_eq!(
        app.event_names_after(at.as_deref()).await,
        ["dsync.group.user_removed", "dsync.user.deleted"]
    );

    // The last sync is reported.
    let sync = app.api_get(&format!("/directories/{directory}/sync")).await;
    assert_eq!(sync.status, 200, "{:?}", sync.body);
    assert_eq!(sync.body["source"], "webhook");
    assert_eq!(sync.body["counts"]["removed"], 1);
    assert!(sync.body["last_sync_at"].is_string());
}

#[tokio::test]
async fn bamboohr_employees_follow_the_scim_flow_under_the_secure_policy() {
    bamboohr_flow("delete").await;
}

#[tokio::test]
async fn bamboohr_employees_follow_the_scim_flow_under_the_retain_policy() {
    bamboohr_flow("retain").await;
}

async fn generic_flow(policy: &str) {
    let app = spawn_app().await;
    app.set_settings(json!({"inactive_user_policy": policy, "inactive_user_retention_days": null}))
        .await;
    let retain = policy == "retain";
    let created = create_directory(
        &app,
        json!({"name": "Workday via iPaaS", "type": "hr webhooks"}),
    )
    .await;
    assert_eq!(created["type"], "hr webhooks");
    let secret = created["webhook_secret"]
        .as_str()
        .expect("the secret, shown once")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    let path = webhook_path(&created);
    app.settle().await;

    let at = mark(&app).await;
    let upsert = json!({"type": "employee.upserted", "data": {"employee_id": "E-1",
        "email": "ann@acme.test", "first_name": "Ann", "last_name": "Lee",
        "job_title": "Designer", "status": "active"}});
    assert_eq!(
        post_generic(&app, &path, &upsert, &secret, "msg_1", now_millis()).await,
        200
    );
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "dsync.user.created");
    assert_eq!(events[0]["data"]["email"], "ann@acme.test");
    let ann_id = events[0]["data"]["id"].as_str().unwrap().to_owned();

    let at = mark(&app).await;
    let terminated = json!({"type": "employee.terminated", "data": {"employee_id": "E-1"}});
    assert_eq!(
        post_generic(&app, &path, &terminated, &secret, "msg_2", now_millis()).await,
        200
    );
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    assert_eq!(events.len(), 1, "{events:?}");
    if retain {
        assert_eq!(events[0]["event"], "dsync.user.updated");
        assert_eq!(events[0]["data"]["state"], "inactive");
    } else {
        assert_eq!(events[0]["event"], "dsync.user.deleted");
    }

    let at = mark(&app).await;
    assert_eq!(
        post_generic(&app, &path, &upsert, &secret, "msg_3", now_millis()).await,
        200
    );
    app.settle().await;
    let events = app.events_after(at.as_deref()).await;
    assert_eq!(events.len(), 1, "{events:?}");
    if retain {
        assert_eq!(events[0]["event"], "dsync.user.updated");
        assert_eq!(events[0]["data"]["id"], ann_id.as_str());
    } else {
        assert_eq!(events[0]["event"], "dsync.user.created");
        assert_ne!(events[0]["data"]["id"], ann_id.as_str());
    }

    let at = mark(&app).await;
    let deleted = json!({"type": "employee.deleted", "data": {"employee_id": "E-1"}});
    assert_eq!(
        post_generic(&app, &path, &deleted, &secret, "msg_4", now_millis()).await,
        200
    );
    app.settle().await;
    assert_eq!(
        app.event_names_after(at.as_deref()).await,
        ["dsync.user.deleted"]
    );
}

#[tokio::test]
async fn generic_hr_employees_follow_the_scim_flow_under_the_secure_policy() {
    generic_flow("delete").await;
}

#[tokio::test]
async fn generic_hr_employees_follow_the_scim_flow_under_the_retain_policy() {
    generic_flow("retain").await;
}

/// Provider users and events of the whole service: what a refused delivery must not change.
async fn footprint(app: &TestApp, directory: &str) -> (usize, usize) {
    let id = dsync_domain::ids::DirectoryId::parse(directory).unwrap();
    let users = app
        .store()
        .list_users(&id, None, 100)
        .await
        .unwrap()
        .users
        .len();
    (users, app.events_after(None).await.len())
}

#[tokio::test]
async fn forged_stale_and_replayed_deliveries_are_refused_with_nothing_stored() {
    let app = spawn_app().await;
    let bamboo = create_directory(
        &app,
        json!({"name": "Acme HR", "type": "bamboohr", "webhook_secret": BAMBOO_KEY}),
    )
    .await;
    let bamboo_id = bamboo["id"].as_str().unwrap().to_owned();
    let bamboo_path = webhook_path(&bamboo);
    let generic =
        create_directory(&app, json!({"name": "Generic HR", "type": "hr webhooks"})).await;
    let generic_id = generic["id"].as_str().unwrap().to_owned();
    let generic_path = webhook_path(&generic);
    let secret = generic["webhook_secret"].as_str().unwrap().to_owned();
    app.settle().await;
    let body = json!({"employees": [employee("7", json!({"Work Email": "x@acme.test"}))]});
    let before = footprint(&app, &bamboo_id).await;

    // BambooHR: a wrong key, a changed body, a stale or future timestamp, no headers.
    assert_eq!(
        post_bamboohr(&app, &bamboo_path, &body, "wrong-key", now_secs()).await,
        401
    );
    let text = body.to_string();
    let ts = now_secs().to_string();
    let signature = bamboohr::sign(BAMBOO_KEY, text.as_bytes(), &ts);
    let tampered = text.replace("x@acme.test", "y@acme.test");
    let headers = [
        ("X-BambooHR-Timestamp", ts.as_str()),
        ("X-BambooHR-Signature", signature.as_str()),
    ];
    assert_eq!(
        post_signed(&app, &bamboo_path, tampered, &headers).await,
        401
    );
    assert_eq!(
        post_bamboohr(&app, &bamboo_path, &body, BAMBOO_KEY, now_secs() - 310).await,
        401
    );
    assert_eq!(
        post_bamboohr(&app, &bamboo_path, &body, BAMBOO_KEY, now_secs() + 310).await,
        401
    );
    assert_eq!(
        post_signed(&app, &bamboo_path, text.clone(), &[]).await,
        401
    );
    // Signed for another directory's URL: an unknown or a SCIM directory is the same 401.
    let scim_directory = &app.running.bootstrap.directory_id;
    assert_eq!(
        post_bamboohr(
            &app,
            &format!("/hr/{scim_directory}"),
            &body,
            BAMBOO_KEY,
            now_secs()
        )
        .await,
        401
    );
    assert_eq!(
        post_bamboohr(
            &app,
            "/hr/directory_01ARZ3NDEKTSV4RRFFQ69G5FAV",
            &body,
            BAMBOO_KEY,
            now_secs()
        )
        .await,
        401
    );
    assert_eq!(footprint(&app, &bamboo_id).await, before, "nothing stored");

    // A valid delivery is taken once; the same bytes and headers again are a replay.
    assert_eq!(
        post_signed(&app, &bamboo_path, text.clone(), &headers).await,
        200
    );
    app.settle().await;
    let after_first = footprint(&app, &bamboo_id).await;
    assert_eq!(after_first.0, before.0 + 1);
    assert_eq!(post_signed(&app, &bamboo_path, text, &headers).await, 401);
    app.settle().await;
    assert_eq!(footprint(&app, &bamboo_id).await, after_first);

    // The generic format: a wrong secret, a stale timestamp, a replayed message id.
    let before = footprint(&app, &generic_id).await;
    let upsert = json!({"type": "employee.upserted", "data": {"employee_id": "E-9", "email": "z@acme.test"}});
    let other = dsync_domain::webhooks::endpoint::generate_secret();
    assert_eq!(
        post_generic(&app, &generic_path, &upsert, &other, "m1", now_millis()).await,
        401
    );
    assert_eq!(
        post_generic(
            &app,
            &generic_path,
            &upsert,
            &secret,
            "m1",
            now_millis() - 310_000
        )
        .await,
        401
    );
    assert_eq!(
        post_generic(
            &app,
            &generic_path,
            &upsert,
            &secret,
            "m1",
            now_millis() + 310_000
        )
        .await,
        401
    );
    // BambooHR's scheme does not open a generic directory.
    assert_eq!(
        post_bamboohr(&app, &generic_path, &upsert, &secret, now_secs()).await,
        401
    );
    assert_eq!(footprint(&app, &generic_id).await, before, "nothing stored");
    assert_eq!(
        post_generic(&app, &generic_path, &upsert, &secret, "m1", now_millis()).await,
        200
    );
    app.settle().await;
    let after_first = footprint(&app, &generic_id).await;
    assert_eq!(after_first.0, before.0 + 1);
    let changed = json!({"type": "employee.terminated", "data": {"employee_id": "E-9"}});
    assert_eq!(
        post_generic(&app, &generic_path, &changed, &secret, "m1", now_millis()).await,
        401
    );
    app.settle().await;
    assert_eq!(footprint(&app, &generic_id).await, after_first);

    // A signed but malformed body is a 400 naming the fault, and stores nothing.
    let bad = json!({"type": "employee.hired", "data": {"employee_id": "E-9"}});
    let status = post_generic(&app, &generic_path, &bad, &secret, "m2", now_millis()).await;
    assert_eq!(status, 400);
    assert_eq!(footprint(&app, &generic_id).await, after_first);
}

#[tokio::test]
async fn secrets_are_shown_once_and_rotation_retires_the_old_one() {
    let app = spawn_app().await;
    let generic =
        create_directory(&app, json!({"name": "Generic HR", "type": "hr webhooks"})).await;
    let id = generic["id"].as_str().unwrap().to_owned();
    let path = webhook_path(&generic);
    let first = generic["webhook_secret"].as_str().unwrap().to_owned();
    let bamboo = create_directory(
        &app,
        json!({"name": "Acme HR", "type": "bamboohr", "webhook_secret": BAMBOO_KEY,
               "bamboohr_company": "acme", "bamboohr_api_key": "bamboo-api-key-secret"}),
    )
    .await;
    let bamboo_id = bamboo["id"].as_str().unwrap().to_owned();
    assert_eq!(bamboo["bamboohr_api_key_set"], true);

    let rotated = read(app.api(Method::POST, &format!("/directories/{id}/credentials"))).await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let second = rotated.body["webhook_secret"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let upsert = json!({"type": "employee.upserted", "data": {"employee_id": "E-1"}});
    assert_eq!(
        post_generic(&app, &path, &upsert, &first, "a", now_millis()).await,
        401
    );
    assert_eq!(
        post_generic(&app, &path, &upsert, &second, "b", now_millis()).await,
        200
    );

    let new_key = "bamboohr-rotated-key";
    let replaced = read(
        app.api(
            Method::POST,
            &format!("/directories/{bamboo_id}/credentials"),
        )
        .json(&json!({"webhook_secret": new_key})),
    )
    .await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.body);
    assert_eq!(
        replaced.body["bamboohr_api_key_set"], true,
        "other fields kept"
    );
    let bamboo_path = webhook_path(&bamboo);
    let body = json!({"employees": [employee("1", json!({"Work Email": "a@acme.test"}))]});
    assert_eq!(
        post_bamboohr(&app, &bamboo_path, &body, BAMBOO_KEY, now_secs()).await,
        401
    );
    assert_eq!(
        post_bamboohr(&app, &bamboo_path, &body, new_key, now_secs()).await,
        200
    );

    // No later answer carries a secret.
    let secrets = [
        first.as_str(),
        second.as_str(),
        BAMBOO_KEY,
        new_key,
        "bamboo-api-key-secret",
    ];
    for route in [
        "/directories".to_owned(),
        format!("/directories/{id}"),
        format!("/directories/{bamboo_id}"),
        format!("/directories/{id}/sync"),
        format!("/directories/{bamboo_id}/sync"),
        "/events".to_owned(),
    ] {
        let reply = app.api_get(&route).await;
        assert_eq!(reply.status, 200, "{route}: {:?}", reply.body);
        let text = reply.body.to_string();
        for secret in secrets {
            assert!(!text.contains(secret), "{route} shows a secret");
        }
    }
    let text = replaced.body.to_string();
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "a BambooHR rotation echoes no secret"
        );
    }

    // HR directories have no SCIM endpoint or token; SCIM directories take no HR fields.
    let token = read(app.api(Method::POST, &format!("/directories/{id}/token"))).await;
    assert_eq!(token.status, 400);
    let mixed = read(
        app.api(Method::POST, "/directories")
            .json(&json!({"name": "x", "type": "okta scim v2.0", "webhook_secret": "s"})),
    )
    .await;
    assert_eq!(mixed.status, 400);
    let generic_with_secret = read(
        app.api(Method::POST, "/directories")
            .json(&json!({"name": "x", "type": "hr webhooks", "webhook_secret": "mine"})),
    )
    .await;
    assert_eq!(generic_with_secret.status, 400);
}

/// Employee and department ids are derived, not fresh: deliveries racing to create the same
/// employee or the same department must each land (none is taken for the other's retry).
#[tokio::test]
async fn concurrent_deliveries_into_a_new_department_all_land() {
    let app = spawn_app().await;
    let created =
        create_directory(&app, json!({"name": "Generic HR", "type": "hr webhooks"})).await;
    let directory = created["id"].as_str().unwrap().to_owned();
    let secret = created["webhook_secret"].as_str().unwrap().to_owned();
    let path = webhook_path(&created);
    let upsert = |n: usize| {
        json!({"type": "employee.upserted", "data": {"employee_id": format!("E-{n}"),
            "email": format!("e{n}@acme.test"), "department": "Ops"}})
    };
    let bodies: Vec<Value> = (0..6).map(upsert).collect();
    let ids: Vec<String> = (0..6).map(|n| format!("race_{n}")).collect();
    let posts = bodies
        .iter()
        .zip(&ids)
        .map(|(body, id)| post_generic(&app, &path, body, &secret, id, now_millis()));
    for status in futures::future::join_all(posts).await {
        assert_eq!(status, 200);
    }
    app.settle().await;
    let groups = app
        .api_get(&format!("/directory_groups?directory={directory}"))
        .await;
    let groups = groups.body["data"].as_array().unwrap().clone();
    assert_eq!(groups.len(), 1, "{groups:?}");
    let group = groups[0]["id"].as_str().unwrap();
    let members = app
        .api_get(&format!("/directory_users?group={group}&limit=100"))
        .await;
    assert_eq!(members.body["data"].as_array().unwrap().len(), 6);
}

/// The whole directory table, as text: what a reader of the table (a backup, a console) sees.
async fn directory_table_text(app: &TestApp) -> String {
    let scan = app
        .store()
        .client()
        .scan()
        .table_name(&app.store().tables().directory)
        .send()
        .await
        .unwrap();
    format!("{:?}", scan.items())
}

#[tokio::test]
async fn hr_secrets_are_sealed_at_rest_and_still_verify() {
    let app = spawn_app().await;
    let generic =
        create_directory(&app, json!({"name": "Generic HR", "type": "hr webhooks"})).await;
    let secret = generic["webhook_secret"].as_str().unwrap().to_owned();
    let bamboo = create_directory(
        &app,
        json!({"name": "Acme HR", "type": "bamboohr", "webhook_secret": BAMBOO_KEY,
               "bamboohr_company": "acme", "bamboohr_api_key": "bamboo-api-key-secret"}),
    )
    .await;
    let bamboo_id = bamboo["id"].as_str().unwrap().to_owned();
    let upsert = json!({"type": "employee.upserted", "data": {"employee_id": "E-1"}});
    let path = webhook_path(&generic);
    assert_eq!(
        post_generic(&app, &path, &upsert, &secret, "m1", now_millis()).await,
        200
    );
    let body = json!({"employees": [employee("1", json!({"Work Email": "a@acme.test"}))]});
    let bamboo_path = webhook_path(&bamboo);
    assert_eq!(
        post_bamboohr(&app, &bamboo_path, &body, BAMBOO_KEY, now_secs()).await,
        200
    );
    // The table holds neither secret nor the API key in any form a reader can use: the
    // generic secret's key bytes are base64 after `whsec_`, so look for that part too.
    let stored = directory_table_text(&app).await;
    let key_part = secret.trim_start_matches("whsec_");
    for plain in [
        secret.as_str(),
        key_part,
        BAMBOO_KEY,
        "bamboo-api-key-secret",
    ] {
        assert!(!stored.contains(plain), "{plain} is stored in clear");
    }
    assert!(stored.contains("acme"), "the company is not a secret");

    // A credentials item written before sealing (secrets in clear) still verifies, and the
    // next rotation seals it: the API key it held is kept, sealed.
    let directory = dsync_domain::ids::DirectoryId::parse(&bamboo_id).unwrap();
    let legacy_key = "legacy-plaintext-private-key";
    app.store()
        .client()
        .put_item()
        .table_name(&app.store().tables().directory)
        .item("pk", attr(&format!("HRSOURCE#{bamboo_id}")))
        .item("sk", attr("CREDENTIALS"))
        .item("type", attr("hr_credentials"))
        .item("webhook_secret", attr(legacy_key))
        .item("bamboohr_company", attr("acme"))
        .item("bamboohr_api_key", attr("legacy-plaintext-api-key"))
        .send()
        .await
        .unwrap();
    let body = json!({"employees": [employee("2", json!({"Work Email": "b@acme.test"}))]});
    assert_eq!(
        post_bamboohr(&app, &bamboo_path, &body, legacy_key, now_secs()).await,
        200
    );
    let rotated_key = "rotated-private-key";
    let rotated = read(
        app.api(
            Method::POST,
            &format!("/directories/{bamboo_id}/credentials"),
        )
        .json(&json!({"webhook_secret": rotated_key})),
    )
    .await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let stored = directory_table_text(&app).await;
    for plain in [legacy_key, "legacy-plaintext-api-key", rotated_key] {
        assert!(!stored.contains(plain), "{plain} is stored in clear");
    }
    let opened = app
        .store()
        .hr_credentials(&directory, Some(&app.sealer()))
        .await
        .unwrap();
    assert_eq!(
        opened.bamboohr_api_key.as_deref(),
        Some("legacy-plaintext-api-key")
    );
    let body = json!({"employees": [employee("3", json!({"Work Email": "c@acme.test"}))]});
    assert_eq!(
        post_bamboohr(&app, &bamboo_path, &body, legacy_key, now_secs()).await,
        401
    );
    assert_eq!(
        post_bamboohr(&app, &bamboo_path, &body, rotated_key, now_secs()).await,
        200
    );
}

fn attr(text: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(text.to_owned())
}

/// Ids derived from the provider's id collide: a create finding the id taken by another
/// record must say so, never count that record as its own write.
#[tokio::test]
async fn a_create_tells_its_own_earlier_write_from_another_record() {
    use dsync_domain::ids::ProviderGroupId;
    use dsync_domain::model::{ProviderGroup, ProviderUser};
    use dsync_dynamo::{MembershipDiff, StoreError};
    let app = spawn_app().await;
    let created =
        create_directory(&app, json!({"name": "Generic HR", "type": "hr webhooks"})).await;
    let directory = dsync_domain::ids::DirectoryId::parse(created["id"].as_str().unwrap()).unwrap();
    let store = app.store();
    let now = now_millis();
    let user = |title: &str| ProviderUser {
        id: dsync_domain::providers::employee::provider_user_id(&directory, "E-1"),
        directory_id: directory,
        version: 1,
        user_name: "e1@acme.test".into(),
        external_id: Some("E-1".into()),
        active: true,
        inactive_since: None,
        resource: json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "e1@acme.test", "externalId": "E-1", "active": true, "title": title}),
        created_at: now,
        updated_at: now,
    };
    let first = user("Engineer");
    store.create_user(&first).await.unwrap();
    // The same record again (a retry whose first answer was lost): done, nothing doubled.
    store.create_user(&first).await.unwrap();
    // Another record under the same id: a conflict, and the stored one is untouched.
    let other = user("Manager");
    assert!(matches!(
        store.create_user(&other).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.get_user(&directory, &first.id).await.unwrap(), first);

    // Groups: another create of the same id, even with identical fields, is another write
    // with other members.
    let group = ProviderGroup {
        id: ProviderGroupId::generate(),
        directory_id: directory,
        version: 1,
        display_name: "Ops".into(),
        external_id: None,
        resource: json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops"}),
        created_at: now,
        updated_at: now,
    };
    let joins = MembershipDiff {
        add: vec![(first.id, None)],
        ..MembershipDiff::default()
    };
    store.create_group(&group, &joins, now).await.unwrap();
    assert!(matches!(
        store
            .create_group(&group, &MembershipDiff::default(), now)
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.groups_of_user(&directory, &first.id).await.unwrap(),
        vec![group.id]
    );
}

/// Deliveries racing to create one new employee with different content: each lands as its
/// own version on top of the others (none is taken for another's write), and the employee
/// ends in the department its stored record names.
#[tokio::test]
async fn racing_deliveries_for_one_new_employee_each_land() {
    let app = spawn_app().await;
    let created =
        create_directory(&app, json!({"name": "Generic HR", "type": "hr webhooks"})).await;
    let directory = dsync_domain::ids::DirectoryId::parse(created["id"].as_str().unwrap()).unwrap();
    let secret = created["webhook_secret"].as_str().unwrap().to_owned();
    let path = webhook_path(&created);
    let bodies: Vec<Value> = (0..6)
        .map(|n| {
            json!({"type": "employee.upserted", "data": {"employee_id": "E-1",
                "email": "e1@acme.test", "job_title": format!("Title {n}"),
                "department": format!("Dept {n}")}})
        })
        .collect();
    let ids: Vec<String> = (0..6).map(|n| format!("same_employee_{n}")).collect();
    let posts = bodies
        .iter()
        .zip(&ids)
        .map(|(body, id)| post_generic(&app, &path, body, &secret, id, now_millis()));
    for status in futures::future::join_all(posts).await {
        assert_eq!(status, 200);
    }
    let id = dsync_domain::providers::employee::provider_user_id(&directory, "E-1");
    let stored = app.store().get_user(&directory, &id).await.unwrap();
    assert_eq!(stored.version, 6, "every delivery wrote its own version");
    let department = dsync_domain::providers::employee::department_of(&stored.resource)
        .expect("a department")
        .to_owned();
    assert_eq!(
        app.store().groups_of_user(&directory, &id).await.unwrap(),
        vec![dsync_domain::providers::employee::department_group_id(
            &directory,
            &department
        )]
    );
    app.settle().await;
}
