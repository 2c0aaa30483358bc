//! Webhook endpoints: `POST|GET /webhook_endpoints`, `GET|PATCH|DELETE /webhook_endpoints/{id}`
//! and `POST /webhook_endpoints/{id}/rotate_secret`.
//!
//! An endpoint's signing secret is shown when the endpoint is created and when the secret is
//! rotated, never otherwise. A URL is checked when it is saved (shape, scheme, and every
//! address its host resolves to, against the configured address policy); the fan-out function
//! checks the addresses again at each delivery, as DNS can change in between. Neither URLs nor
//! secrets are logged: a URL's query often carries the receiver's own token.

use std::time::Duration;

use bytes::Bytes;
use dsync_domain::directory::events::ALL as EVENT_NAMES;
use dsync_domain::ids::WebhookEndpointId;
use dsync_domain::webhooks::endpoint::DEFAULT_ROTATION_GRACE_SECONDS;
use dsync_domain::webhooks::{EndpointStatus, UrlError, WebhookEndpoint};
use dsync_dynamo::StoreError;
use http::{Method, Response, StatusCode};
use serde_json::{Map, Value};

use crate::error::{stored, ApiError};
use crate::query::cursors;
use crate::route::{Context, Route};
use crate::{body, objects, respond};

/// Every event is signed and sent to every subscribed endpoint of its environment, so the
/// number of endpoints bounds the fan-out work one event causes. A soft cap: two concurrent
/// creations at the limit may both succeed.
pub const MAX_ENDPOINTS: usize = 50;
/// What the domain's URL check allows; longer strings are refused before parsing.
const MAX_URL_BYTES: usize = 2048;
const MAX_GRACE_SECONDS: i64 = 7 * 24 * 3600;
/// A host name that does not resolve within this is refused rather than holding the request.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Read-modify-write rounds before a concurrent change becomes a 409.
const SAVE_ATTEMPTS: usize = 3;
const DISABLED_BY_REQUEST: &str = "disabled by request";
/// Unknown event names are echoed in the error, cut to this many characters.
const MAX_ECHOED_NAME: usize = 64;
const WHAT: &str = "webhook endpoint";

pub async fn serve(ctx: &Context<'_>, route: &Route) -> Result<Response<Bytes>, ApiError> {
    match (route, ctx.method()) {
        (Route::WebhookEndpoints, &Method::POST) => create(ctx).await,
        (Route::WebhookEndpoints, _) => list(ctx).await,
        (Route::WebhookEndpoint(id), &Method::PATCH) => update(ctx, id).await,
        (Route::WebhookEndpoint(id), &Method::DELETE) => delete(ctx, id).await,
        (Route::WebhookEndpoint(id), _) => Ok(respond::ok(&objects::webhook_endpoint(
            &load(ctx, id).await?,
        ))),
        (Route::WebhookEndpointSecret(id), _) => rotate_secret(ctx, id).await,
        _ => Err(ApiError::no_route(ctx.request.uri().path())),
    }
}

/// An endpoint of the request's environment, by its id as the client wrote it. Endpoints are
/// stored under their environment, so another environment's is simply absent: a 404, as is a
/// malformed id.
pub async fn load(ctx: &Context<'_>, id: &str) -> Result<WebhookEndpoint, ApiError> {
    let parsed = parse_id(id)?;
    stored(
        ctx.app
            .store
            .webhook_endpoint(&ctx.environment, &parsed)
            .await,
    )?
    .ok_or_else(|| ApiError::not_found(WHAT, id))
}

fn parse_id(id: &str) -> Result<WebhookEndpointId, ApiError> {
    WebhookEndpointId::parse(id).map_err(|_| ApiError::not_found(WHAT, id))
}

/// `{"url" | "endpoint_url", "events"?}` → 201 with the endpoint and its `secret`.
async fn create(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let map = body::object(ctx.body(), &["url", "endpoint_url", "events"])?;
    let url = url_field(&map)?.ok_or_else(|| ApiError::invalid("url is required"))?;
    let events = events_field(&map)?.unwrap_or_default();
    let existing = stored(ctx.app.store.webhook_endpoints(&ctx.environment).await)?;
    if existing.len() >= MAX_ENDPOINTS {
        return Err(ApiError::limit_reached(format!(
            "an environment has at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
        )));
    }
    let url = check_url(ctx, url).await?;
    let endpoint = WebhookEndpoint::new(ctx.environment, url, events, ctx.app.now());
    stored(ctx.app.store.create_webhook_endpoint(&endpoint).await)?;
    tracing::info!(webhook_endpoint_id = %endpoint.id, environment_id = %ctx.environment, "webhook endpoint created");
    Ok(respond::json(
        StatusCode::CREATED,
        &objects::webhook_endpoint_with_secret(&endpoint),
    ))
}

/// `GET /webhook_endpoints?limit=&before=&after=&order=`, newest first by default.
async fn list(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let window = ctx.query.window(WebhookEndpointId::parse)?;
    let endpoints = stored(ctx.app.store.webhook_endpoints(&ctx.environment).await)?;
    let page = window.select(endpoints, |e| e.id.to_string());
    let (before, after) = cursors(&page, |e| e.id.to_string());
    Ok(respond::list(
        page.items.iter().map(objects::webhook_endpoint).collect(),
        before,
        after,
    ))
}

/// What a `PATCH` asks for; absent fields stay as they are.
struct Changes {
    url: Option<String>,
    events: Option<Vec<String>>,
    status: Option<EndpointStatus>,
}

impl Changes {
    /// Applies the changes; `false` when they change nothing (then nothing is written).
    fn apply(&self, endpoint: &mut WebhookEndpoint, now: i64) -> bool {
        let before = endpoint.clone();
        if let Some(url) = &self.url {
            endpoint.url.clone_from(url);
        }
        if let Some(events) = &self.events {
            endpoint.events.clone_from(events);
        }
        match self.status {
            // Disabling an endpoint the receiver disabled (410) keeps that reason.
            Some(EndpointStatus::Disabled) if endpoint.status == EndpointStatus::Enabled => {
                endpoint.status = EndpointStatus::Disabled;
                endpoint.disabled_reason = Some(DISABLED_BY_REQUEST.to_owned());
            }
            // A re-enabled endpoint starts afresh: its first delivery is attempted inline.
            Some(EndpointStatus::Enabled) if endpoint.status == EndpointStatus::Disabled => {
                endpoint.status = EndpointStatus::Enabled;
                endpoint.disabled_reason = None;
                endpoint.failing_since = None;
            }
            _ => {}
        }
        let changed = *endpoint != before;
        if changed {
            endpoint.updated_at = now;
        }
        changed
    }
}

/// `{"url" | "endpoint_url"?, "events"?, "status" | "state"?}` → the endpoint.
async fn update(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ApiError> {
    let map = body::object(
        ctx.body(),
        &["url", "endpoint_url", "events", "status", "state"],
    )?;
    let events = events_field(&map)?;
    let status = status_field(&map)?;
    let url = match url_field(&map)? {
        Some(text) => Some(check_url(ctx, text).await?),
        None => None,
    };
    let changes = Changes {
        url,
        events,
        status,
    };
    let endpoint = modify(ctx, id, |endpoint, now| changes.apply(endpoint, now)).await?;
    tracing::info!(webhook_endpoint_id = %endpoint.id, status = endpoint.status.as_str(), "webhook endpoint updated");
    Ok(respond::ok(&objects::webhook_endpoint(&endpoint)))
}

/// `DELETE /webhook_endpoints/{id}` → 204. Its pending deliveries are given up by the sweep.
async fn delete(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ApiError> {
    let parsed = parse_id(id)?;
    let deleted = stored(
        ctx.app
            .store
            .delete_webhook_endpoint(&ctx.environment, &parsed)
            .await,
    )?;
    if !deleted {
        return Err(ApiError::not_found(WHAT, id));
    }
    tracing::info!(webhook_endpoint_id = %parsed, environment_id = %ctx.environment, "webhook endpoint deleted");
    Ok(respond::no_content())
}

/// `POST /webhook_endpoints/{id}/rotate_secret`, optional `{"grace_period_seconds": n}` (how
/// long the old secret keeps signing too) → the endpoint with its new `secret`.
async fn rotate_secret(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ApiError> {
    let map = body::optional_object(ctx.body(), &["grace_period_seconds"])?.unwrap_or_default();
    let grace = match map.get("grace_period_seconds") {
        None | Some(Value::Null) => DEFAULT_ROTATION_GRACE_SECONDS,
        Some(value) => value
            .as_i64()
            .filter(|seconds| (0..=MAX_GRACE_SECONDS).contains(seconds))
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "grace_period_seconds must be an integer from 0 to {MAX_GRACE_SECONDS}"
                ))
            })?,
    };
    let endpoint = modify(ctx, id, |endpoint, now| {
        endpoint.rotate_secret(now, grace);
        true
    })
    .await?;
    tracing::info!(webhook_endpoint_id = %endpoint.id, grace_period_seconds = grace, "webhook endpoint secret rotated");
    Ok(respond::ok(&objects::webhook_endpoint_with_secret(
        &endpoint,
    )))
}

/// Reads the endpoint, lets `change` edit it (it returns whether it did) and saves it under
/// the version read. When someone saved in between (the fan-out function disabling it on a
/// 410, another request), the change is made again on what they saved.
async fn modify(
    ctx: &Context<'_>,
    id: &str,
    mut change: impl FnMut(&mut WebhookEndpoint, i64) -> bool,
) -> Result<WebhookEndpoint, ApiError> {
    for _ in 0..SAVE_ATTEMPTS {
        let mut endpoint = load(ctx, id).await?;
        if !change(&mut endpoint, ctx.app.now()) {
            return Ok(endpoint);
        }
        endpoint.version += 1;
        match ctx.app.store.save_webhook_endpoint(&endpoint).await {
            Ok(()) => return Ok(endpoint),
            // Also what a deletion in between looks like: the next read answers 404.
            Err(StoreError::Conflict) => continue,
            Err(error) => return Err(ApiError::storage(error)),
        }
    }
    Err(ApiError::conflict(
        "the webhook endpoint kept changing while it was being updated; retry",
    ))
}

/// `url`, or `endpoint_url` as the WorkOS SDKs name it; both may be given if they agree.
fn url_field(map: &Map<String, Value>) -> Result<Option<&str>, ApiError> {
    let url = body::optional_string(map, "url", MAX_URL_BYTES)?;
    let endpoint_url = body::optional_string(map, "endpoint_url", MAX_URL_BYTES)?;
    match (url, endpoint_url) {
        (Some(a), Some(b)) if a != b => Err(ApiError::invalid(
            "url and endpoint_url differ; give one of them",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// The URL as it will be stored (normalised by the parser), or a 400 saying why not.
async fn check_url(ctx: &Context<'_>, text: &str) -> Result<String, ApiError> {
    let policy = &ctx.app.config.webhook_addresses;
    let checked = tokio::time::timeout(
        RESOLVE_TIMEOUT,
        crate::endpoint_check::check_endpoint_url(text, policy),
    )
    .await
    .unwrap_or(Err(UrlError::Unresolvable));
    checked
        .map(|url| url.as_str().to_owned())
        .map_err(|error| ApiError::invalid(error.to_string()))
}

/// `events`: names of our events, duplicates dropped; `[]` subscribes to every event, and
/// `null` or absence leaves the subscription as it is.
fn events_field(map: &Map<String, Value>) -> Result<Option<Vec<String>>, ApiError> {
    let not_a_list = || ApiError::invalid("events must be a list of event names");
    let items = match map.get("events") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(not_a_list()),
    };
    let mut events: Vec<String> = Vec::new();
    for item in items {
        let name = item.as_str().ok_or_else(not_a_list)?;
        if !EVENT_NAMES.contains(&name) {
            let shown: String = name.chars().take(MAX_ECHOED_NAME).collect();
            return Err(ApiError::invalid(format!(
                "events: unknown event {shown:?}; expected any of: {}",
                EVENT_NAMES.join(", ")
            )));
        }
        if !events.iter().any(|e| e == name) {
            events.push(name.to_owned());
        }
    }
    Ok(Some(events))
}

/// `status`, or `state` as our other objects name it; both may be given if they agree.
fn status_field(map: &Map<String, Value>) -> Result<Option<EndpointStatus>, ApiError> {
    let parse = |name: &str| -> Result<Option<EndpointStatus>, ApiError> {
        body::optional_string(map, name, 16)?
            .map(|text| {
                EndpointStatus::parse(text)
                    .ok_or_else(|| ApiError::invalid(format!("{name} must be enabled or disabled")))
            })
            .transpose()
    };
    match (parse("status")?, parse("state")?) {
        (Some(a), Some(b)) if a != b => Err(ApiError::invalid(
            "status and state differ; give one of them",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsync_domain::ids::EnvironmentId;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn events_are_known_names_without_duplicates() {
        let events = events_field(&map(json!({
            "events": ["dsync.user.created", "dsync.deleted", "dsync.user.created"]
        })));
        assert_eq!(
            events,
            Ok(Some(vec![
                "dsync.user.created".to_owned(),
                "dsync.deleted".to_owned()
            ]))
        );
        assert_eq!(events_field(&map(json!({"events": []}))), Ok(Some(vec![])));
        assert_eq!(events_field(&map(json!({"events": null}))), Ok(None));
        let unknown = events_field(&map(json!({"events": ["user.created"]}))).unwrap_err();
        assert!(unknown.message.contains("\"user.created\""), "{unknown:?}");
        assert!(unknown.message.contains("dsync.group.user_removed"));
        let long = "x".repeat(10_000);
        let echoed = events_field(&map(json!({ "events": [long] }))).unwrap_err();
        assert!(echoed.message.len() < 1_000);
        for bad in [json!({"events": "dsync.deleted"}), json!({"events": [1]})] {
            assert!(events_field(&map(bad)).is_err());
        }
    }

    #[test]
    fn url_and_status_take_either_name_but_not_two_different_values() {
        let same = map(json!({"url": "https://a.example", "endpoint_url": "https://a.example"}));
        assert_eq!(url_field(&same), Ok(Some("https://a.example")));
        let sdk = map(json!({"endpoint_url": "https://a.example"}));
        assert_eq!(url_field(&sdk), Ok(Some("https://a.example")));
        let differ = map(json!({"url": "https://a.example", "endpoint_url": "https://b.example"}));
        assert!(url_field(&differ).is_err());
        assert!(url_field(&map(json!({"url": 5}))).is_err());

        let state = map(json!({"state": "disabled"}));
        assert_eq!(status_field(&state), Ok(Some(EndpointStatus::Disabled)));
        let both = map(json!({"state": "disabled", "status": "enabled"}));
        assert!(status_field(&both).is_err());
        let bad = status_field(&map(json!({"status": "paused"}))).unwrap_err();
        assert_eq!(bad.message, "status must be enabled or disabled");
    }

    #[test]
    fn disabling_and_enabling_set_and_clear_the_reason() {
        let mut endpoint = WebhookEndpoint::new(
            EnvironmentId::generate(),
            "https://example.com/hook".into(),
            Vec::new(),
            0,
        );
        endpoint.failing_since = Some(5);
        let disable = Changes {
            url: None,
            events: None,
            status: Some(EndpointStatus::Disabled),
        };
        assert!(disable.apply(&mut endpoint, 10));
        assert_eq!(endpoint.status, EndpointStatus::Disabled);
        assert_eq!(
            endpoint.disabled_reason.as_deref(),
            Some(DISABLED_BY_REQUEST)
        );
        assert_eq!(endpoint.updated_at, 10);
        // Already disabled (say by a 410): the receiver's reason stays.
        endpoint.disabled_reason = Some("gone (410)".into());
        assert!(!disable.apply(&mut endpoint, 20));
        assert_eq!(endpoint.disabled_reason.as_deref(), Some("gone (410)"));
        assert_eq!(endpoint.updated_at, 10);

        let enable = Changes {
            url: None,
            events: None,
            status: Some(EndpointStatus::Enabled),
        };
        assert!(enable.apply(&mut endpoint, 30));
        assert_eq!(endpoint.status, EndpointStatus::Enabled);
        assert_eq!(
            (endpoint.disabled_reason.as_deref(), endpoint.failing_since),
            (None, None)
        );
        assert!(!enable.apply(&mut endpoint, 40));
    }
}
