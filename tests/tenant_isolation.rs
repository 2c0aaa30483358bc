//! Tenant isolation, as a matrix: two environments, each with a directory holding a user and a
//! group, a webhook endpoint with deliveries, a reconciliation run and a sync failure. Every
//! management and SCIM route is called with each tenant's own credentials, the other
//! environment's API key, another directory's SCIM token, no token and malformed tokens.
//! Own credentials see only their own data; the other tenant's ids get exactly the error an
//! unknown id of the same kind gets (status and body, the id itself aside), so nothing
//! reveals that they exist; and no refused request changes anything.

use crate::api_support;

use std::time::{Duration, Instant};

use api_support::*;
use dsync_domain::ids::{
    ApiKeyId, DeliveryId, DirectoryGroupId, DirectoryId, DirectoryUserId, EventId, ProviderGroupId,
    ProviderUserId, ReconciliationId, WebhookEndpointId,
};
use dsync_dynamo::FailedRecordKey;
use dsync_tests::{json, read, spawn_app, user_body, Reply, TestApp};
use reqwest::{Method, RequestBuilder};
use serde_json::Value;

/// Everything one environment owns, by id, and the credentials to reach it.
struct Tenant {
    name: &'static str,
    api_key: String,
    api_key_id: String,
    directory: Value,
    directory_id: String,
    organization: String,
    user_name: String,
    scim_user: String,
    scim_group: String,
    user: String,
    group: String,
    endpoint: String,
    delivery: String,
    reconciliation: String,
    failed_record: String,
}

impl Tenant {
    /// Every id of this tenant's, and its organization: none may appear in a response to the
    /// other tenant.
    fn ids(&self) -> Vec<&str> {
        vec![
            &self.api_key_id,
            &self.directory_id,
            &self.organization,
            &self.user_name,
            &self.scim_user,
            &self.scim_group,
            &self.user,
            &self.group,
            &self.endpoint,
            &self.delivery,
            &self.reconciliation,
            &self.failed_record,
        ]
    }

    fn scim_token(&self) -> &str {
        self.directory["scim_token"].as_str().unwrap()
    }

    fn scim_base(&self) -> &str {
        self.directory["scim_base_url"].as_str().unwrap()
    }
}

/// A loopback address nothing listens on: deliveries are recorded and fail, which is all
/// the matrix needs of them.
fn hook(name: &str) -> String {
    format!("http://127.0.0.1:9/hooks/{name}")
}

async fn as_key(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let request = api_as(app, key, method, path);
    read(match body {
        Some(body) => request.json(&body),
        None => request,
    })
    .await
}

async fn ok(app: &TestApp, key: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let reply = as_key(app, key, method, path, body).await;
    assert!(
        (200..300).contains(&reply.status),
        "{path}: {} {:?}",
        reply.status,
        reply.body
    );
    reply.body
}

/// Polls `path` until `ready` holds on its body (the fan-out and reconciliation run beside
/// the test). The bound only keeps a broken build from hanging; it decides nothing.
async fn wait_for(app: &TestApp, key: &str, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = ok(app, key, Method::GET, path, None).await;
        if ready(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never got ready: {body:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn only_id(list: &Value, what: &str) -> String {
    let found = ids(list);
    assert_eq!(found.len(), 1, "{what}: {list:?}");
    found[0].clone()
}

async fn tenant(app: &TestApp, name: &'static str, api_key: String) -> Tenant {
    let organization = format!("org_{name}");
    let directory = ok(
        app,
        &api_key,
        Method::POST,
        "/directories",
        Some(json!({"name": name, "organization_id": organization})),
    )
    .await;
    let directory_id = directory["id"].as_str().unwrap().to_owned();
    let endpoint = ok(
        app,
        &api_key,
        Method::POST,
        "/webhook_endpoints",
        Some(json!({"url": hook(name)})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user_name = format!("{name}.person@{name}.example.com");
    let user =
        read(scim_of(app, &directory, Method::POST, "/Users").json(&user_body(&user_name))).await;
    assert_eq!(user.status, 201, "{:?}", user.body);
    let scim_user = user.body["id"].as_str().unwrap().to_owned();
    let group = read(
        scim_of(app, &directory, Method::POST, "/Groups")
            .json(&group_body(&format!("{name} staff"), &[&scim_user])),
    )
    .await;
    assert_eq!(group.status, 201, "{:?}", group.body);
    let scim_group = group.body["id"].as_str().unwrap().to_owned();
    app.settle().await;

    let users = ok(
        app,
        &api_key,
        Method::GET,
        &format!("/directory_users?directory={directory_id}"),
        None,
    )
    .await;
    let groups = ok(
        app,
        &api_key,
        Method::GET,
        &format!("/directory_groups?directory={directory_id}"),
        None,
    )
    .await;
    let run = ok(
        app,
        &api_key,
        Method::POST,
        "/reconciliations",
        Some(json!({"directory_id": directory_id})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(app, &api_key, &format!("/reconciliations/{run}"), |r| {
        r["state"] == "completed"
    })
    .await;
    // Recorded after the run finished, so no run clears it while the matrix reads it.
    let failed_record = ProviderUserId::generate().to_string();
    app.store()
        .record_sync_failure(
            &DirectoryId::parse(&directory_id).unwrap(),
            &FailedRecordKey::User(failed_record.clone()),
            "test: a record that cannot be projected",
            "stream",
            0,
        )
        .await
        .expect("sync failure");
    let deliveries = wait_for(
        app,
        &api_key,
        &format!("/webhook_endpoints/{endpoint}/deliveries"),
        |list| !ids(list).is_empty(),
    )
    .await;
    let keys = ok(app, &api_key, Method::GET, "/api_keys", None).await;
    Tenant {
        name,
        api_key_id: only_id(&keys, "api keys"),
        api_key,
        directory,
        directory_id,
        organization,
        user_name,
        scim_user,
        scim_group,
        user: only_id(&users, "users"),
        group: only_id(&groups, "groups"),
        endpoint,
        delivery: ids(&deliveries)[0].clone(),
        reconciliation: run,
        failed_record,
    }
}

/// A reply's status and body with `id` written as `<id>`: two of them are equal when they
/// are the same error about different ids.
fn shape(reply: &Reply, id: &str) -> (u16, String) {
    (reply.status, reply.body.to_string().replace(id, "<id>"))
}

fn assert_reveals_nothing_of(body: &Value, other: &Tenant, what: &str) {
    let text = body.to_string();
    for id in other.ids() {
        assert!(
            !text.contains(id),
            "{what} shows {}'s {id}: {text}",
            other.name
        );
    }
}

/// Every management route read with `me`'s key: 200, `me`'s objects, none of `other`'s.
async fn own_reads_see_only_own_data(app: &TestApp, me: &Tenant, other: &Tenant) {
    let d = &me.directory_id;
    let lists: Vec<(String, Vec<&str>)> = vec![
        ("/directories".into(), vec![d]),
        (format!("/directory_users?directory={d}"), vec![&me.user]),
        (
            format!("/directory_users?group={}", me.group),
            vec![&me.user],
        ),
        (format!("/directory_groups?directory={d}"), vec![&me.group]),
        (
            format!("/directory_groups?user={}", me.user),
            vec![&me.group],
        ),
        ("/webhook_endpoints".into(), vec![&me.endpoint]),
        (
            format!("/webhook_endpoints/{}/deliveries", me.endpoint),
            vec![&me.delivery],
        ),
        ("/reconciliations".into(), vec![&me.reconciliation]),
        ("/api_keys".into(), vec![&me.api_key_id]),
    ];
    for (path, expected) in lists {
        let body = ok(app, &me.api_key, Method::GET, &path, None).await;
        let found = ids(&body);
        for id in expected {
            assert!(found.iter().any(|f| f == id), "{path} lacks {id}: {body:?}");
        }
        assert_reveals_nothing_of(&body, other, &path);
    }
    for path in [
        format!("/directories/{d}"),
        format!("/directory_users/{}", me.user),
        format!("/directory_groups/{}", me.group),
        format!("/webhook_endpoints/{}", me.endpoint),
        format!("/reconciliations/{}", me.reconciliation),
        "/environment/settings".to_owned(),
    ] {
        let body = ok(app, &me.api_key, Method::GET, &path, None).await;
        assert_reveals_nothing_of(&body, other, &path);
    }
    let failures = ok(
        app,
        &me.api_key,
        Method::GET,
        &format!("/directories/{d}/sync_failures"),
        None,
    )
    .await;
    assert_eq!(failures["data"][0]["record_id"], me.failed_record.as_str());
    assert_eq!(failures["data"].as_array().unwrap().len(), 1);
    let preview = ok(
        app,
        &me.api_key,
        Method::POST,
        "/environment/settings/preview",
        Some(json!({"inactive_user_policy": "retain", "inactive_user_retention_days": null})),
    )
    .await;
    assert_reveals_nothing_of(&preview, other, "the settings preview");

    // The event log: all of it, and filtered by own directory and organization.
    for query in [
        String::new(),
        format!("&directory_id={d}"),
        format!("&organization_id={}", me.organization),
    ] {
        let path = format!("/events?limit=100{query}");
        let body = ok(app, &me.api_key, Method::GET, &path, None).await;
        let names = names(body["data"].as_array().unwrap());
        for expected in [
            "dsync.activated",
            "dsync.user.created",
            "dsync.group.created",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{path} lacks {expected}: {names:?}"
            );
        }
        assert_reveals_nothing_of(&body, other, &path);
    }
}

/// Each route that names an object, given the other tenant's id and an unknown id of the
/// same kind: the same 404 (or, for filters, the same empty list).
async fn foreign_ids_look_unknown(app: &TestApp, me: &Tenant, other: &Tenant) {
    let unknown_delivery =
        DeliveryId::new(WebhookEndpointId::generate(), &EventId::for_sequence(1, 0));
    let kinds: Vec<(&str, String, String)> = vec![
        (
            "directory",
            other.directory_id.clone(),
            DirectoryId::generate().to_string(),
        ),
        (
            "user",
            other.user.clone(),
            DirectoryUserId::generate().to_string(),
        ),
        (
            "group",
            other.group.clone(),
            DirectoryGroupId::generate().to_string(),
        ),
        (
            "endpoint",
            other.endpoint.clone(),
            WebhookEndpointId::generate().to_string(),
        ),
        (
            "delivery",
            other.delivery.clone(),
            unknown_delivery.to_string(),
        ),
        (
            "run",
            other.reconciliation.clone(),
            ReconciliationId::generate().to_string(),
        ),
        (
            "key",
            other.api_key_id.clone(),
            ApiKeyId::generate().to_string(),
        ),
        ("org", other.organization.clone(), "org_nobody".to_owned()),
    ];
    // A deliveries cursor that is not one of the endpoint's own is a 400, whoever's it is.
    let own_deliveries_after =
        format!("/webhook_endpoints/{}/deliveries?after={{id}}", me.endpoint);
    let routes: Vec<(&str, Method, &str, Option<Value>, u16)> = vec![
        ("directory", Method::GET, "/directories/{id}", None, 404),
        ("directory", Method::DELETE, "/directories/{id}", None, 404),
        (
            "directory",
            Method::POST,
            "/directories/{id}/token",
            None,
            404,
        ),
        (
            "directory",
            Method::GET,
            "/directories/{id}/sync_failures",
            None,
            404,
        ),
        (
            "directory",
            Method::POST,
            "/directories/{id}/credentials",
            None,
            404,
        ),
        (
            "directory",
            Method::GET,
            "/directories/{id}/sync",
            None,
            404,
        ),
        (
            "directory",
            Method::POST,
            "/directories/{id}/sync",
            None,
            404,
        ),
        (
            "directory",
            Method::PUT,
            "/directories/{id}/credentials",
            Some(json!({"service_account_key": {}, "admin_email": "a@b.test"})),
            404,
        ),
        (
            "directory",
            Method::GET,
            "/directories/{id}/role_mappings",
            None,
            404,
        ),
        (
            "directory",
            Method::PUT,
            "/directories/{id}/role_mappings",
            Some(json!({"groups": []})),
            404,
        ),
        (
            "directory",
            Method::POST,
            "/directories/{id}/role_mappings/preview",
            Some(json!({"groups": []})),
            404,
        ),
        (
            "directory",
            Method::GET,
            "/directories/{id}/attribute_mappings",
            None,
            404,
        ),
        (
            "directory",
            Method::PUT,
            "/directories/{id}/attribute_mappings",
            Some(json!({"custom_attributes": null})),
            404,
        ),
        (
            "directory",
            Method::POST,
            "/directories/{id}/attribute_mappings/preview",
            Some(json!({"custom_attributes": null})),
            404,
        ),
        (
            "directory",
            Method::GET,
            "/directory_users?directory={id}",
            None,
            404,
        ),
        (
            "directory",
            Method::GET,
            "/directory_groups?directory={id}",
            None,
            404,
        ),
        (
            "directory",
            Method::POST,
            "/reconciliations",
            Some(json!({"directory_id": "{id}"})),
            404,
        ),
        (
            "directory",
            Method::GET,
            "/events?directory_id={id}",
            None,
            200,
        ),
        (
            "org",
            Method::GET,
            "/events?organization_id={id}",
            None,
            200,
        ),
        ("user", Method::GET, "/directory_users/{id}", None, 404),
        (
            "user",
            Method::GET,
            "/directory_groups?user={id}",
            None,
            404,
        ),
        ("group", Method::GET, "/directory_groups/{id}", None, 404),
        (
            "group",
            Method::GET,
            "/directory_users?group={id}",
            None,
            404,
        ),
        (
            "endpoint",
            Method::GET,
            "/webhook_endpoints/{id}",
            None,
            404,
        ),
        (
            "endpoint",
            Method::PATCH,
            "/webhook_endpoints/{id}",
            Some(json!({"status": "disabled"})),
            404,
        ),
        (
            "endpoint",
            Method::DELETE,
            "/webhook_endpoints/{id}",
            None,
            404,
        ),
        (
            "endpoint",
            Method::POST,
            "/webhook_endpoints/{id}/rotate_secret",
            None,
            404,
        ),
        (
            "endpoint",
            Method::GET,
            "/webhook_endpoints/{id}/deliveries",
            None,
            404,
        ),
        (
            "delivery",
            Method::POST,
            "/deliveries/{id}/retry",
            None,
            404,
        ),
        ("delivery", Method::GET, &own_deliveries_after, None, 400),
        ("run", Method::GET, "/reconciliations/{id}", None, 404),
        ("key", Method::DELETE, "/api_keys/{id}", None, 404),
    ];
    for (kind, method, template, body, status) in routes {
        let (_, foreign, unknown) = kinds.iter().find(|(k, _, _)| *k == kind).unwrap();
        let call = |id: &str| {
            let path = template.replace("{id}", id);
            let body = body.as_ref().map(|b| {
                serde_json::from_str::<Value>(&b.to_string().replace("{id}", id)).unwrap()
            });
            let request = api_as(app, &me.api_key, method.clone(), &path);
            match body {
                Some(body) => request.json(&body),
                None => request,
            }
        };
        let foreign_reply = read(call(foreign)).await;
        let unknown_reply = read(call(unknown)).await;
        let what = format!("{method} {template} as {}", me.name);
        assert_eq!(
            foreign_reply.status, status,
            "{what}: {:?}",
            foreign_reply.body
        );
        if status == 404 {
            assert_eq!(foreign_reply.body["code"], "entity_not_found", "{what}");
        }
        if status == 200 {
            assert_eq!(foreign_reply.body["data"], json!([]), "{what}");
        }
        assert_eq!(
            shape(&foreign_reply, foreign),
            shape(&unknown_reply, unknown),
            "{what}"
        );
    }
    // A parent of one's own with the other's directory beside it: an empty list, not theirs.
    for path in [
        format!(
            "/directory_users?group={}&directory={}",
            me.group, other.directory_id
        ),
        format!(
            "/directory_groups?user={}&directory={}",
            me.user, other.directory_id
        ),
    ] {
        let body = ok(app, &me.api_key, Method::GET, &path, None).await;
        assert_eq!(body["data"], json!([]), "{path}");
    }
}

/// What a request presents instead of a valid credential of its own. (The other
/// environment's API key is a valid key to the management API, for that environment's
/// objects: [`foreign_ids_look_unknown`] covers it there.)
fn bad_credentials(
    me: &Tenant,
    other: &Tenant,
    sibling_token: &str,
) -> Vec<(String, Option<String>)> {
    let bearer = |token: &str| Some(format!("Bearer {token}"));
    vec![
        ("no token".into(), None),
        ("an empty bearer".into(), Some("Bearer ".into())),
        ("a malformed token".into(), bearer("not a token!")),
        ("basic credentials".into(), Some("Basic c2s6eA==".into())),
        ("an oversized token".into(), bearer(&"x".repeat(4_000))),
        (
            "the other environment's SCIM token".into(),
            bearer(other.scim_token()),
        ),
        (
            "another directory's SCIM token".into(),
            bearer(sibling_token),
        ),
        (
            "its own SCIM token as an API key".into(),
            bearer(me.scim_token()),
        ),
    ]
}

fn with_authorization(request: RequestBuilder, authorization: &Option<String>) -> RequestBuilder {
    match authorization {
        Some(value) => request.header("authorization", value),
        None => request,
    }
}

/// Every management route with anything but an API key: the same 401, whatever is asked.
async fn management_refuses_bad_credentials(
    app: &TestApp,
    me: &Tenant,
    other: &Tenant,
    sibling_token: &str,
) {
    let d = &me.directory_id;
    let routes = [
        (Method::GET, "/environment/settings".to_owned()),
        (Method::PUT, "/environment/settings".to_owned()),
        (Method::POST, "/environment/settings/preview".to_owned()),
        (Method::GET, "/directories".to_owned()),
        (Method::POST, "/directories".to_owned()),
        (Method::GET, format!("/directories/{d}")),
        (Method::DELETE, format!("/directories/{d}")),
        (Method::POST, format!("/directories/{d}/token")),
        (Method::GET, format!("/directories/{d}/sync_failures")),
        (Method::GET, "/authorization/roles".to_owned()),
        (Method::PUT, "/authorization/roles".to_owned()),
        (Method::POST, "/authorization/roles/preview".to_owned()),
        (Method::GET, format!("/directories/{d}/role_mappings")),
        (Method::PUT, format!("/directories/{d}/role_mappings")),
        (
            Method::POST,
            format!("/directories/{d}/role_mappings/preview"),
        ),
        (Method::GET, format!("/directories/{d}/attribute_mappings")),
        (Method::PUT, format!("/directories/{d}/attribute_mappings")),
        (
            Method::POST,
            format!("/directories/{d}/attribute_mappings/preview"),
        ),
        (Method::POST, format!("/directories/{d}/credentials")),
        (Method::GET, format!("/directories/{d}/sync")),
        (Method::POST, format!("/directories/{d}/sync")),
        (Method::PUT, format!("/directories/{d}/credentials")),
        (Method::GET, format!("/directory_users?directory={d}")),
        (Method::GET, format!("/directory_users?group={}", me.group)),
        (Method::GET, format!("/directory_users/{}", me.user)),
        (Method::GET, format!("/directory_groups?directory={d}")),
        (Method::GET, format!("/directory_groups/{}", me.group)),
        (Method::GET, format!("/events?directory_id={d}")),
        (
            Method::GET,
            format!("/events?organization_id={}", me.organization),
        ),
        (Method::GET, "/webhook_endpoints".to_owned()),
        (Method::POST, "/webhook_endpoints".to_owned()),
        (Method::GET, format!("/webhook_endpoints/{}", me.endpoint)),
        (Method::PATCH, format!("/webhook_endpoints/{}", me.endpoint)),
        (
            Method::DELETE,
            format!("/webhook_endpoints/{}", me.endpoint),
        ),
        (
            Method::POST,
            format!("/webhook_endpoints/{}/rotate_secret", me.endpoint),
        ),
        (
            Method::GET,
            format!("/webhook_endpoints/{}/deliveries", me.endpoint),
        ),
        (Method::POST, format!("/deliveries/{}/retry", me.delivery)),
        (Method::GET, "/reconciliations".to_owned()),
        (Method::POST, "/reconciliations".to_owned()),
        (
            Method::GET,
            format!("/reconciliations/{}", me.reconciliation),
        ),
        (Method::GET, "/api_keys".to_owned()),
        (Method::POST, "/api_keys".to_owned()),
        (Method::DELETE, format!("/api_keys/{}", me.api_key_id)),
    ];
    let refusal = read(app.http.get(format!("{}/directories", app.base_url))).await;
    assert_error(&refusal, 401, "unauthorized");
    for (method, path) in routes {
        for (what, authorization) in bad_credentials(me, other, sibling_token) {
            let request = app
                .http
                .request(method.clone(), format!("{}{path}", app.base_url))
                .json(&json!({"name": "x", "url": hook("x"), "directory_id": d}));
            let reply = read(with_authorization(request, &authorization)).await;
            assert_eq!(
                (reply.status, &reply.body),
                (refusal.status, &refusal.body),
                "{method} {path} with {what}"
            );
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        }
    }
}

async fn scim(
    app: &TestApp,
    base: &str,
    authorization: &Option<String>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Reply {
    let request = app
        .http
        .request(method, format!("{base}{path}"))
        .header("content-type", "application/scim+json");
    let request = with_authorization(request, authorization);
    read(match body {
        Some(body) => request.json(body),
        None => request,
    })
    .await
}

fn rename(path: &str, value: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": path, "value": value}],
    })
}

fn add_member(user: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}],
    })
}

/// Every SCIM route of `me`'s directory: refused alike for every credential but its token;
/// with its token, the other directory's users and groups are unknown ids and never listed.
async fn scim_sees_only_its_directory(
    app: &TestApp,
    me: &Tenant,
    other: &Tenant,
    sibling_token: &str,
) {
    let base = me.scim_base();
    let own = Some(format!("Bearer {}", me.scim_token()));
    let user_routes = |id: &str, user_name: &str| {
        vec![
            (Method::GET, format!("/Users/{id}"), None),
            (
                Method::PATCH,
                format!("/Users/{id}"),
                Some(rename("displayName", "Renamed")),
            ),
            (
                Method::PUT,
                format!("/Users/{id}"),
                Some(user_body(user_name)),
            ),
            (Method::DELETE, format!("/Users/{id}"), None),
        ]
    };
    let group_routes = |id: &str, name: &str| {
        vec![
            (Method::GET, format!("/Groups/{id}"), None),
            (
                Method::PATCH,
                format!("/Groups/{id}"),
                Some(rename("displayName", "Renamed")),
            ),
            (
                Method::PUT,
                format!("/Groups/{id}"),
                Some(group_body(name, &[])),
            ),
            (Method::DELETE, format!("/Groups/{id}"), None),
        ]
    };

    // Anything but the directory's own token: the same 401, and nothing changes.
    let refusal = scim(app, base, &None, Method::GET, "/Users", None).await;
    assert_eq!(refusal.status, 401, "{:?}", refusal.body);
    let mut every_route = vec![
        (Method::GET, "/Users".to_owned(), None),
        (
            Method::POST,
            "/Users".to_owned(),
            Some(user_body("intruder@example.com")),
        ),
        (Method::GET, "/Groups".to_owned(), None),
        (
            Method::POST,
            "/Groups".to_owned(),
            Some(group_body("Intruders", &[])),
        ),
    ];
    every_route.extend(user_routes(&me.scim_user, &me.user_name));
    every_route.extend(group_routes(&me.scim_group, "Intruders"));
    let mut credentials = bad_credentials(me, other, sibling_token);
    credentials.retain(|(what, _)| !what.starts_with("its own"));
    credentials.push((
        "the other environment's API key".into(),
        Some(format!("Bearer {}", other.api_key)),
    ));
    credentials.push((
        "its environment's API key".into(),
        Some(format!("Bearer {}", me.api_key)),
    ));
    for (method, path, body) in &every_route {
        for (what, authorization) in &credentials {
            let reply = scim(
                app,
                base,
                authorization,
                method.clone(),
                path,
                body.as_ref(),
            )
            .await;
            assert_eq!(
                (reply.status, &reply.body),
                (refusal.status, &refusal.body),
                "SCIM {method} {path} of {} with {what}",
                me.name
            );
        }
    }

    // Own token, the other directory's ids: exactly what an unknown id gets.
    let unknown_user = ProviderUserId::generate().to_string();
    let unknown_group = ProviderGroupId::generate().to_string();
    let pairs = user_routes(&other.scim_user, &other.user_name)
        .into_iter()
        .zip(user_routes(&unknown_user, &other.user_name))
        .map(|(f, u)| (f, u, other.scim_user.as_str(), unknown_user.as_str()))
        .chain(
            group_routes(&other.scim_group, "Renamed")
                .into_iter()
                .zip(group_routes(&unknown_group, "Renamed"))
                .map(|(f, u)| (f, u, other.scim_group.as_str(), unknown_group.as_str())),
        );
    for ((method, foreign_path, body), (_, unknown_path, _), foreign, unknown) in pairs {
        let foreign_reply = scim(
            app,
            base,
            &own,
            method.clone(),
            &foreign_path,
            body.as_ref(),
        )
        .await;
        let unknown_reply = scim(
            app,
            base,
            &own,
            method.clone(),
            &unknown_path,
            body.as_ref(),
        )
        .await;
        assert_eq!(
            foreign_reply.status, 404,
            "SCIM {method} {foreign_path}: {:?}",
            foreign_reply.body
        );
        assert_eq!(
            shape(&foreign_reply, foreign),
            shape(&unknown_reply, unknown),
            "SCIM {method} {foreign_path}"
        );
    }
    // The other directory's user as a member of one's own group: an unknown user.
    let group_path = format!("/Groups/{}", me.scim_group);
    let foreign_member = scim(
        app,
        base,
        &own,
        Method::PATCH,
        &group_path,
        Some(&add_member(&other.scim_user)),
    )
    .await;
    let unknown_member = scim(
        app,
        base,
        &own,
        Method::PATCH,
        &group_path,
        Some(&add_member(&unknown_user)),
    )
    .await;
    // Member ids not seen yet are kept for a user created later (docs/scim.md), so both are
    // accepted alike; the other directory's user never becomes a member here.
    assert_eq!(foreign_member.status, 200, "{:?}", foreign_member.body);
    assert_eq!(unknown_member.status, 200, "{:?}", unknown_member.body);
    app.settle().await;
    let members = ok(
        app,
        &me.api_key,
        Method::GET,
        &format!("/directory_users?group={}", me.group),
        None,
    )
    .await;
    assert_eq!(ids(&members), vec![me.user.clone()]);
    assert_reveals_nothing_of(&members, other, "the group's members");

    // Lists and filters show the directory's own resources only.
    for path in ["/Users", "/Groups"] {
        let list = scim(app, base, &own, Method::GET, path, None).await;
        assert_eq!(list.status, 200, "{:?}", list.body);
        assert_eq!(list.body["totalResults"], 1, "{path}: {:?}", list.body);
        assert_reveals_nothing_of(&list.body, other, path);
    }
    for (path, filter) in [
        ("/Users", format!("userName eq \"{}\"", other.user_name)),
        (
            "/Groups",
            format!("displayName eq \"{} staff\"", other.name),
        ),
    ] {
        let request = app
            .http
            .get(format!("{base}{path}"))
            .query(&[("filter", filter.as_str())])
            .bearer_auth(me.scim_token());
        let found = read(request).await;
        assert_eq!(found.status, 200, "{:?}", found.body);
        assert_eq!(found.body["totalResults"], 0, "{filter}: {:?}", found.body);
    }

    // Its own token still does everything to its own resources.
    let own_user = format!("/Users/{}", me.scim_user);
    let renamed = scim(
        app,
        base,
        &own,
        Method::PATCH,
        &own_user,
        Some(&rename("displayName", "Renamed")),
    )
    .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    let replaced = scim(
        app,
        base,
        &own,
        Method::PUT,
        &own_user,
        Some(&user_body(&me.user_name)),
    )
    .await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.body);
    let kept = group_body(&format!("{} staff", me.name), &[&me.scim_user]);
    let group = scim(app, base, &own, Method::PUT, &group_path, Some(&kept)).await;
    assert_eq!(group.status, 200, "{:?}", group.body);
    let temporary = user_body(&format!("temporary@{}.example.com", me.name));
    let created = scim(app, base, &own, Method::POST, "/Users", Some(&temporary)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let temporary_path = format!("/Users/{}", created.body["id"].as_str().unwrap());
    let deleted = scim(app, base, &own, Method::DELETE, &temporary_path, None).await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
}

/// After every refused attempt: the tenant's objects are all there, as they were.
async fn still_intact(app: &TestApp, tenant: &Tenant, settings: &Value) {
    let key = &tenant.api_key;
    ok(
        app,
        key,
        Method::GET,
        &format!("/directories/{}", tenant.directory_id),
        None,
    )
    .await;
    let endpoint = ok(
        app,
        key,
        Method::GET,
        &format!("/webhook_endpoints/{}", tenant.endpoint),
        None,
    )
    .await;
    assert_eq!(endpoint["status"], "enabled", "{endpoint:?}");
    let members = ok(
        app,
        key,
        Method::GET,
        &format!("/directory_users?group={}", tenant.group),
        None,
    )
    .await;
    assert_eq!(ids(&members), vec![tenant.user.clone()]);
    assert_eq!(
        &ok(app, key, Method::GET, "/environment/settings", None).await,
        settings
    );
    let own = Some(format!("Bearer {}", tenant.scim_token()));
    let group = scim(
        app,
        tenant.scim_base(),
        &own,
        Method::GET,
        &format!("/Groups/{}", tenant.scim_group),
        None,
    )
    .await;
    assert_eq!(group.status, 200, "{:?}", group.body);
    assert_eq!(group.body["members"][0]["value"], tenant.scim_user.as_str());
    assert_eq!(group.body["displayName"], format!("{} staff", tenant.name));
}

#[tokio::test]
async fn every_route_shows_each_environment_only_its_own_data() {
    let app = spawn_app().await;
    let (_, beta_key) = other_environment(&app).await;
    let alpha = tenant(&app, "alpha", app.running.bootstrap.api_key.clone()).await;
    let beta = tenant(&app, "beta", beta_key).await;
    // A second directory of alpha's environment (the bootstrap one), and one made for beta:
    // a directory's token opens no other directory, in its environment or another.
    let beta_sibling = ok(
        &app,
        &beta.api_key,
        Method::POST,
        "/directories",
        Some(json!({"name": "beta 2"})),
    )
    .await;
    let siblings = [
        (&alpha, &beta, app.token.clone()),
        (
            &beta,
            &alpha,
            beta_sibling["scim_token"].as_str().unwrap().to_owned(),
        ),
    ];

    // Each environment changes its own settings; the other's stay as they were.
    let alpha_settings = ok(
        &app,
        &alpha.api_key,
        Method::PUT,
        "/environment/settings",
        Some(json!({"inactive_user_policy": "retain"})),
    )
    .await;
    let beta_settings = ok(
        &app,
        &beta.api_key,
        Method::GET,
        "/environment/settings",
        None,
    )
    .await;
    assert_eq!(
        beta_settings["inactive_user_policy"], "delete",
        "{beta_settings:?}"
    );
    assert_ne!(
        alpha_settings["environment_id"],
        beta_settings["environment_id"]
    );

    for (me, other, sibling_token) in &siblings {
        own_reads_see_only_own_data(&app, me, other).await;
        foreign_ids_look_unknown(&app, me, other).await;
        management_refuses_bad_credentials(&app, me, other, sibling_token).await;
        scim_sees_only_its_directory(&app, me, other, sibling_token).await;
        app.settle().await;
        still_intact(
            &app,
            other,
            if other.name == "alpha" {
                &alpha_settings
            } else {
                &beta_settings
            },
        )
        .await;
    }
    own_reads_see_only_own_data(&app, &alpha, &beta).await;
    own_reads_see_only_own_data(&app, &beta, &alpha).await;
}
