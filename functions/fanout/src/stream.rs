//! DynamoDB stream batches of the events table.
//!
//! Each new event becomes one delivery per subscribed endpoint, recorded before anything is
//! sent. Recording is idempotent (keyed by endpoint and event), so a redelivered batch finds
//! its deliveries already there and sends nothing again: what is still pending belongs to the
//! sweep. Only a failure to record fails the batch, from the first event not fully recorded.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use dsync_domain::ids::{DirectoryId, EnvironmentId, EventId};
use dsync_domain::webhooks::{Delivery, WebhookEndpoint};
use dsync_dynamo::{StoreError, StoredEvent};
use futures::stream::{self, StreamExt};
use serde_dynamo::AttributeValue;

use crate::deliver::{self, body_of, Health};
use crate::App;

pub async fn handle_batch(app: &App, batch: Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let events: Vec<(StoredEvent, EnvironmentId, Option<String>)> = batch
        .records
        .iter()
        .filter_map(|record| {
            let decoded = event_of(record);
            if decoded.is_none() && record.event_name == "INSERT" {
                // Only the event log writes this table; an item it cannot read is a bug to
                // see, not an event to invent.
                tracing::error!(sequence = ?record.change.sequence_number, "undecodable event record skipped");
            }
            let (event, environment) = decoded?;
            Some((event, environment, record.change.sequence_number.clone()))
        })
        .collect();
    let mut endpoints: HashMap<EnvironmentId, Vec<WebhookEndpoint>> = HashMap::new();
    let mut inline = Vec::new();
    for (event, environment, sequence) in &events {
        match record_event(app, &mut endpoints, event, environment).await {
            Ok(created) => inline.extend(created.into_iter().map(|(e, d)| (e, d, event))),
            Err(error) => {
                tracing::warn!(event_id = %event.id, %error, "recording deliveries failed; the batch resumes from this event");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = sequence.clone();
                response.batch_item_failures.push(failure);
                break;
            }
        }
    }
    attempt_inline(app, inline).await;
    response
}

/// Records the event's delivery to each subscribed endpoint; returns the new ones that should
/// be attempted now (those to endpoints that currently work).
async fn record_event(
    app: &App,
    cache: &mut HashMap<EnvironmentId, Vec<WebhookEndpoint>>,
    event: &StoredEvent,
    environment: &EnvironmentId,
) -> Result<Vec<(WebhookEndpoint, Delivery)>, StoreError> {
    if !cache.contains_key(environment) {
        let found = app.store.webhook_endpoints(environment).await?;
        cache.insert(*environment, found);
    }
    let now = app.now();
    let lease_until = now + app.config.lease().as_millis() as i64;
    // A failing endpoint gets no inline attempt: its delivery is due at once, for the sweep,
    // so it cannot slow this batch down.
    let planned: Vec<(WebhookEndpoint, Delivery)> = cache[environment]
        .iter()
        .filter(|e| e.subscribes(&event.name))
        .map(|endpoint| {
            let due = if endpoint.failing_since.is_some() {
                now
            } else {
                lease_until
            };
            let delivery =
                Delivery::new(endpoint.id, *environment, event.id, &event.name, now, due);
            (endpoint.clone(), delivery)
        })
        .collect();
    let store = &app.store;
    let recorded = stream::iter(planned)
        .map(|(endpoint, delivery)| async move {
            let created = store.record_delivery(&delivery).await?;
            let attempt_now = created && endpoint.failing_since.is_none();
            Ok::<_, StoreError>(attempt_now.then_some((endpoint, delivery)))
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let mut attempt_now = Vec::new();
    for result in recorded {
        attempt_now.extend(result?);
    }
    Ok(attempt_now)
}

/// First attempts, concurrently, each cut off at the inline budget. A cut-off attempt is not
/// counted: its delivery's lease runs out and the sweep sends it again; its endpoint is marked
/// failing so the next batches leave it to the sweep.
async fn attempt_inline(app: &App, deliveries: Vec<(WebhookEndpoint, Delivery, &StoredEvent)>) {
    let budget = app.config.inline_budget;
    let health = &Health::default();
    stream::iter(deliveries)
        .for_each_concurrent(app.config.concurrency, |(endpoint, delivery, event)| async move {
            let body = body_of(event);
            // The budget bounds the wait for the receiver; recording its answer always
            // completes, so an answered attempt is never sent again.
            let id = delivery.event_id.to_string();
            let sent = tokio::time::timeout(budget, deliver::send(app, &endpoint, &id, &body));
            let Ok(result) = sent.await else {
                return cut_off(app, health, &endpoint, &delivery, budget).await;
            };
            if let Err(error) = deliver::record(app, health, &endpoint, &delivery, &result).await {
                tracing::warn!(delivery_id = %delivery.id, %error, "recording an attempt failed; the sweep retries it");
            }
        })
        .await;
}

async fn cut_off(
    app: &App,
    health: &Health,
    endpoint: &WebhookEndpoint,
    delivery: &Delivery,
    budget: Duration,
) {
    tracing::warn!(delivery_id = %delivery.id, endpoint_id = %endpoint.id, budget_ms = budget.as_millis() as u64,
        "endpoint slower than the inline budget; the sweep takes over");
    if let Err(error) = health.record(app, endpoint, false, app.now()).await {
        tracing::warn!(endpoint_id = %endpoint.id, %error, "could not mark the endpoint failing");
    }
}

/// A newly inserted event item, or `None` for anything else (TTL removals included).
fn event_of(record: &EventRecord) -> Option<(StoredEvent, EnvironmentId)> {
    if record.event_name != "INSERT" {
        return None;
    }
    let image = &record.change.new_image;
    let text = |name: &str| match image.get(name) {
        Some(AttributeValue::S(value)) => Some(value.as_str()),
        _ => None,
    };
    let number = |name: &str| match image.get(name) {
        Some(AttributeValue::N(value)) => value.parse::<i64>().ok(),
        _ => None,
    };
    if text("type")? != "event" {
        return None;
    }
    let environment = EnvironmentId::parse(text("environment_id")?).ok()?;
    let event = StoredEvent {
        id: EventId::parse(text("id")?).ok()?,
        sequence: number("sequence")? as u64,
        name: text("event")?.to_owned(),
        data: serde_json::from_str(text("data")?).ok()?,
        created_at: number("created_at")?,
        directory_id: text("directory_id").and_then(|d| DirectoryId::parse(d).ok()),
        organization_id: text("organization_id").map(str::to_owned),
    };
    Some((event, environment))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event_name: &str, image: serde_json::Value) -> EventRecord {
        serde_json::from_value(serde_json::json!({
            "eventName": event_name,
            "awsRegion": "us-east-1",
            "eventID": "1",
            "eventSource": "aws:dynamodb",
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:0:table/events/stream/x",
            "dynamodb": {"NewImage": image, "SequenceNumber": "1", "SizeBytes": 100,
                         "StreamViewType": "NEW_IMAGE"},
        }))
        .unwrap()
    }

    fn event_image(environment: &EnvironmentId, id: &EventId) -> serde_json::Value {
        serde_json::json!({
            "type": {"S": "event"},
            "id": {"S": id.to_string()},
            "environment_id": {"S": environment.to_string()},
            "sequence": {"N": "7"},
            "event": {"S": "dsync.user.created"},
            "data": {"S": "{\"id\":\"directory_user_1\"}"},
            "created_at": {"N": "1700000000000"},
        })
    }

    #[test]
    fn a_new_event_item_decodes_into_the_event_and_its_environment() {
        let environment = EnvironmentId::generate();
        let id = EventId::for_sequence(7, 1_700_000_000_000);
        let (event, env) = event_of(&record("INSERT", event_image(&environment, &id))).unwrap();
        assert_eq!((env, event.id, event.sequence), (environment, id, 7));
        assert_eq!(event.name, "dsync.user.created");
        assert_eq!(event.envelope()["data"]["id"], "directory_user_1");
    }

    #[test]
    fn removals_and_other_items_are_not_events_to_deliver() {
        let environment = EnvironmentId::generate();
        let id = EventId::for_sequence(7, 0);
        // A TTL expiry is a REMOVE: it makes no delivery.
        assert!(event_of(&record("REMOVE", event_image(&environment, &id))).is_none());
        let mut other = event_image(&environment, &id);
        other["type"] = serde_json::json!({"S": "head"});
        assert!(event_of(&record("INSERT", other)).is_none());
        let mut broken = event_image(&environment, &id);
        broken["data"] = serde_json::json!({"S": "{not json"});
        assert!(event_of(&record("INSERT", broken)).is_none());
    }
}
