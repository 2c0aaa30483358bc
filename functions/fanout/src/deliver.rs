//! One attempt: sign, send, and record what happened.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use dsync_domain::ids::WebhookEndpointId;
use dsync_domain::webhooks::attempt::parse_retry_after;
use dsync_domain::webhooks::{
    decide, sign, AttemptResult, Delivery, EndpointUrl, Next, WebhookEndpoint,
};
use dsync_dynamo::{StoreError, StoredEvent};

use crate::address::ForbiddenAddress;
use crate::App;

/// The body every receiver gets: the event envelope, as the Events API returns it.
pub fn body_of(event: &StoredEvent) -> Vec<u8> {
    serde_json::to_vec(&event.envelope()).unwrap_or_default()
}

/// Sends `body` as delivery `event_id` to `endpoint`, freshly signed.
pub async fn send(
    app: &App,
    endpoint: &WebhookEndpoint,
    event_id: &str,
    body: &[u8],
) -> AttemptResult {
    // Checked again at each attempt: the policy may have changed since the endpoint was
    // saved, and an IP-literal host never reaches the client's checking resolver.
    if let Err(error) = EndpointUrl::parse(&endpoint.url, &app.config.addresses) {
        return AttemptResult::Failed(error.to_string());
    }
    let now = app.now();
    let headers = match sign(event_id, body, now, &endpoint.signing_secrets(now)) {
        Ok(headers) => headers,
        Err(error) => return AttemptResult::Failed(error.to_string()),
    };
    let mut request = app
        .http
        .post(&endpoint.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    for (name, value) in headers.pairs() {
        request = request.header(name, value);
    }
    match request.body(body.to_vec()).send().await {
        Ok(response) => {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, app.now()));
            AttemptResult::Status {
                code: response.status().as_u16(),
                retry_after,
            }
        }
        Err(error) => failure_of(&error, app.config.timeout),
    }
}

/// What went wrong, in words that carry no URL (it may hold a customer's token).
fn failure_of(error: &reqwest::Error, timeout: Duration) -> AttemptResult {
    if error.is_timeout() {
        return AttemptResult::TimedOut(timeout);
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<ForbiddenAddress>() {
            return AttemptResult::Failed(ForbiddenAddress.to_string());
        }
        source = cause.source();
    }
    let reason = if error.is_connect() {
        "could not connect to the endpoint"
    } else if error.is_request() {
        "the request could not be sent"
    } else {
        "the connection failed before a response"
    };
    AttemptResult::Failed(reason.to_owned())
}

/// Attempts `delivery` (claimed by the caller) and [`record`]s the outcome.
pub async fn attempt(
    app: &App,
    health: &Health,
    endpoint: &WebhookEndpoint,
    delivery: &Delivery,
    body: &[u8],
) -> Result<Delivery, StoreError> {
    let result = send(app, endpoint, &delivery.event_id.to_string(), body).await;
    record(app, health, endpoint, delivery, &result).await
}

/// Records how an attempt of `delivery` ended: the delivery's new state, the endpoint
/// disabled on 410, its failing mark set or cleared. Returns the delivery as recorded.
pub async fn record(
    app: &App,
    health: &Health,
    endpoint: &WebhookEndpoint,
    delivery: &Delivery,
    result: &AttemptResult,
) -> Result<Delivery, StoreError> {
    let outcome = Outcome::of(app, delivery, result);
    app.store.update_delivery(delivery, &outcome.after).await?;
    outcome.settle(app, health, endpoint).await?;
    Ok(outcome.after)
}

/// What one attempt of a delivery leads to, decided but not yet recorded.
pub struct Outcome {
    pub after: Delivery,
    pub next: Next,
    status: Option<u16>,
}

impl Outcome {
    pub fn of(app: &App, delivery: &Delivery, result: &AttemptResult) -> Self {
        let now = app.now();
        let next = decide(
            result,
            delivery.attempts + 1,
            &app.config.schedule,
            now,
            rand::random::<f64>(),
        );
        Self {
            after: delivery.after_attempt(result, next, now),
            next,
            status: result.status(),
        }
    }

    /// What follows once the outcome is recorded: its log line, the endpoint disabled on
    /// 410, the endpoint's failing mark set or cleared.
    pub async fn settle(
        &self,
        app: &App,
        health: &Health,
        endpoint: &WebhookEndpoint,
    ) -> Result<(), StoreError> {
        let after = &self.after;
        let now = after.updated_at;
        let ids = (&after.id, &endpoint.id, &after.event_id);
        match self.next {
            Next::Delivered => {
                tracing::info!(delivery_id = %ids.0, endpoint_id = %ids.1, attempts = after.attempts, "delivered");
            }
            Next::RetryAt(at) => {
                tracing::warn!(delivery_id = %ids.0, endpoint_id = %ids.1, status = ?self.status,
                    attempts = after.attempts, retry_in_ms = at - now, "delivery attempt failed");
            }
            Next::Exhausted => {
                tracing::error!(delivery_id = %ids.0, endpoint_id = %ids.1, event_id = %ids.2,
                    attempts = after.attempts, "delivery failed permanently: retries exhausted");
            }
            Next::EndpointGone => {
                tracing::warn!(endpoint_id = %ids.1, "endpoint answered 410 Gone: disabled");
                app.store
                    .disable_webhook_endpoint(
                        &endpoint.environment_id,
                        &endpoint.id,
                        "gone (410)",
                        now,
                    )
                    .await?;
            }
        }
        health
            .record(app, endpoint, self.next == Next::Delivered, now)
            .await
    }
}

/// Each endpoint's failing mark as this invocation last read or wrote it, so that many
/// attempts to one endpoint write the mark once when it changes, not once per attempt; and
/// the endpoints that outlasted the inline budget in this invocation.
#[derive(Default)]
pub struct Health {
    marks: Mutex<HashMap<WebhookEndpointId, Option<i64>>>,
    slow: Mutex<HashSet<WebhookEndpointId>>,
}

impl Health {
    /// Remembers that an attempt to `endpoint` was cut off at the inline budget.
    pub fn mark_slow(&self, endpoint: &WebhookEndpointId) {
        self.slow
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(*endpoint);
    }

    /// Whether an attempt in this invocation outlasted the inline budget: the endpoint's next
    /// deliveries are left to the sweep instead of each waiting the budget out (a stream
    /// batch of pages can hold thousands of events).
    pub fn is_slow(&self, endpoint: &WebhookEndpointId) -> bool {
        self.slow
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(endpoint)
    }

    /// Keeps the endpoint's failing mark in step with its last attempt.
    pub async fn record(
        &self,
        app: &App,
        endpoint: &WebhookEndpoint,
        delivered: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        let change = {
            let mut marks = self
                .marks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let mark = marks.entry(endpoint.id).or_insert(endpoint.failing_since);
            match (delivered, *mark) {
                (true, Some(_)) => Some(None),
                (false, None) => Some(Some(now)),
                _ => None,
            }
            .inspect(|since| *mark = *since)
        };
        match change {
            Some(since) => {
                app.store
                    .set_webhook_endpoint_failing(&endpoint.environment_id, &endpoint.id, since)
                    .await
            }
            None => Ok(()),
        }
    }
}
