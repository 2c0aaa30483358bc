//! DynamoDB stream batches of the events table.
//!
//! Each new event becomes one delivery per subscribed endpoint, recorded before anything is
//! sent. Recording is idempotent (keyed by endpoint and event), so a redelivered batch finds
//! its deliveries already there and sends nothing again: what is still pending belongs to the
//! sweep. Only a failure to record fails the batch, from the first event not fully recorded.
//!
//! The deliveries of a whole batch go through at once, each recorded and then attempted
//! (a delivery's write, POST and outcome overlap with the others'), up to the configured
//! concurrency: a batch costs a few round trips of latency, not one per event.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_dynamodb::types::AttributeValue as SdkValue;
use dsync_domain::ids::EnvironmentId;
use dsync_domain::webhooks::{Delivery, WebhookEndpoint};
use dsync_dynamo::{StoreError, StoredEvent};
use futures::stream::{self, StreamExt};
use serde_dynamo::AttributeValue;

use crate::deliver::{self, body_of, Health};
use crate::App;

pub async fn handle_batch(app: &App, batch: Event) -> DynamoDbEventResponse {
    let events: Vec<(StoredEvent, EnvironmentId, Option<String>)> = batch
        .records
        .iter()
        .filter_map(|record| {
            let decoded = events_of(record);
            if decoded.is_none() && record.event_name == "INSERT" {
                // Only the event log writes this table; an item it cannot read is a bug to
                // see, not an event to invent.
                tracing::error!(sequence = ?record.change.sequence_number, "undecodable event record skipped");
            }
            let (events, environment) = decoded?;
            let sequence = &record.change.sequence_number;
            Some(
                events
                    .into_iter()
                    .map(move |event| (event, environment, sequence.clone())),
            )
        })
        .flatten()
        .collect();
    let endpoints = endpoints_of(app, events.iter().map(|(_, environment, _)| environment)).await;
    let mut not_recorded: Option<usize> = None;
    let mut planned = Vec::new();
    let now = app.now();
    for (index, (event, environment, _)) in events.iter().enumerate() {
        match &endpoints[environment] {
            Ok(subscribed) => {
                planned.extend(
                    deliveries_of(app, subscribed, event, environment, now)
                        .map(|(endpoint, delivery)| (index, endpoint, delivery)),
                );
            }
            Err(error) => {
                tracing::warn!(event_id = %event.id, %error, "reading the endpoints failed; the batch resumes from this event");
                not_recorded.get_or_insert(index);
            }
        }
    }
    let health = &Health::default();
    let events = &events;
    let failed = stream::iter(planned)
        .map(|(index, endpoint, mut delivery)| async move {
            let event = &events[index].0;
            let inline = endpoint.failing_since.is_none() && !health.is_slow(&endpoint.id);
            if !inline {
                // Due now, for the sweep, as for an endpoint marked failing before the batch.
                delivery.next_attempt_at = Some(now);
            }
            match app.store.record_delivery(&delivery).await {
                Ok(created) => {
                    if created && inline {
                        attempt_inline(app, health, &endpoint, &delivery, event).await;
                    }
                    None
                }
                Err(error) => {
                    tracing::warn!(event_id = %event.id, %error, "recording a delivery failed; the batch resumes from this event");
                    Some(index)
                }
            }
        })
        .buffer_unordered(app.config.concurrency.max(1))
        .filter_map(std::future::ready)
        .collect::<Vec<usize>>()
        .await;
    let first_failed = failed.into_iter().chain(not_recorded).min();
    let mut response = DynamoDbEventResponse::default();
    if let Some(index) = first_failed {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = events[index].2.clone();
        response.batch_item_failures.push(failure);
    }
    response
}

/// The enabled endpoints of each environment in the batch, read once per environment.
async fn endpoints_of<'a>(
    app: &App,
    environments: impl Iterator<Item = &'a EnvironmentId>,
) -> HashMap<EnvironmentId, Result<Vec<WebhookEndpoint>, StoreError>> {
    let mut endpoints = HashMap::new();
    for environment in environments {
        if !endpoints.contains_key(environment) {
            let found = app.store.webhook_endpoints(environment).await;
            endpoints.insert(*environment, found);
        }
    }
    endpoints
}

/// The event's delivery to each endpoint that subscribes to it. A failing endpoint's delivery
/// is due at once, for the sweep (it gets no inline attempt, so it cannot slow this batch
/// down); the others are leased for the inline attempt.
fn deliveries_of<'e>(
    app: &App,
    endpoints: &'e [WebhookEndpoint],
    event: &'e StoredEvent,
    environment: &'e EnvironmentId,
    now: i64,
) -> impl Iterator<Item = (WebhookEndpoint, Delivery)> + 'e {
    let lease_until = now + app.config.lease().as_millis() as i64;
    endpoints
        .iter()
        .filter(|e| e.subscribes(&event.name))
        .map(move |endpoint| {
            let due = if endpoint.failing_since.is_some() {
                now
            } else {
                lease_until
            };
            let delivery =
                Delivery::new(endpoint.id, *environment, event.id, &event.name, now, due);
            (endpoint.clone(), delivery)
        })
}

/// The first attempt of a delivery just recorded, cut off at the inline budget. A cut-off
/// attempt is not counted: its delivery's lease runs out and the sweep sends it again; its
/// endpoint is marked failing so the next batches leave it to the sweep.
async fn attempt_inline(
    app: &App,
    health: &Health,
    endpoint: &WebhookEndpoint,
    delivery: &Delivery,
    event: &StoredEvent,
) {
    let budget = app.config.inline_budget;
    let body = body_of(event);
    // The budget bounds the wait for the receiver; recording its answer always
    // completes, so an answered attempt is never sent again.
    let id = delivery.event_id.to_string();
    let sent = tokio::time::timeout(budget, deliver::send(app, endpoint, &id, &body));
    let Ok(result) = sent.await else {
        return cut_off(app, health, endpoint, delivery, budget).await;
    };
    if let Err(error) = deliver::record(app, health, endpoint, delivery, &result).await {
        tracing::warn!(delivery_id = %delivery.id, %error, "recording an attempt failed; the sweep retries it");
    }
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
    health.mark_slow(&endpoint.id);
    if let Err(error) = health.record(app, endpoint, false, app.now()).await {
        tracing::warn!(endpoint_id = %endpoint.id, %error, "could not mark the endpoint failing");
    }
}

/// The events of a newly inserted item of the events table (a page of them, or one event
/// written before pages), decoded as the event log's readers decode them; `None` for
/// anything else (TTL removals included).
fn events_of(record: &EventRecord) -> Option<(Vec<StoredEvent>, EnvironmentId)> {
    if record.event_name != "INSERT" {
        return None;
    }
    let image = &record.change.new_image;
    let environment = match image.get("environment_id") {
        Some(AttributeValue::S(id)) => EnvironmentId::parse(id).ok()?,
        _ => return None,
    };
    match image.get("type") {
        Some(AttributeValue::S(kind)) if kind == "events" || kind == "event" => {}
        _ => return None,
    }
    // One that does not decode is logged by the caller, with its stream position.
    let events = dsync_dynamo::decode_events(&item_of(image)).ok()?;
    Some((events, environment))
}

/// A stream image as the SDK's item. Event items hold strings, numbers and binaries only;
/// any other attribute is left out (the decoder names what it misses).
fn item_of(image: &HashMap<String, AttributeValue>) -> HashMap<String, SdkValue> {
    image
        .iter()
        .filter_map(|(name, value)| {
            let value = match value {
                AttributeValue::S(text) => SdkValue::S(text.clone()),
                AttributeValue::N(number) => SdkValue::N(number.clone()),
                AttributeValue::B(bytes) => SdkValue::B(bytes.clone().into()),
                _ => return None,
            };
            Some((name.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsync_domain::ids::EventId;

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
        let (events, env) = events_of(&record("INSERT", event_image(&environment, &id))).unwrap();
        let event = &events[0];
        assert_eq!((env, event.id, event.sequence), (environment, id, 7));
        assert_eq!(event.name, "dsync.user.created");
        assert_eq!(event.envelope()["data"]["id"], "directory_user_1");
    }

    #[test]
    fn an_event_whose_data_was_packed_decodes_the_same() {
        let environment = EnvironmentId::generate();
        let id = EventId::for_sequence(7, 1_700_000_000_000);
        let mut image = event_image(&environment, &id);
        let packed = dsync_dynamo::pack_document("{\"id\":\"directory_user_1\"}");
        image["data"] = serde_json::json!({ "B": base64_of(&packed) });
        let (events, _) = events_of(&record("INSERT", image)).unwrap();
        assert_eq!(events[0].envelope()["data"]["id"], "directory_user_1");
    }

    #[test]
    fn a_page_of_events_decodes_into_each_of_them_in_order() {
        let environment = EnvironmentId::generate();
        let directory = dsync_domain::ids::DirectoryId::generate();
        let entry = |sequence: u64| {
            let id = EventId::for_sequence(sequence, 1_700_000_000_000);
            format!(
                r#"{{"id":"{id}","sequence":{sequence},"event":"dsync.group.user_added","directory_id":"{directory}","data":{{"user":{{"id":"u{sequence}"}}}}}}"#
            )
        };
        let text = format!("[{},{}]", entry(8), entry(9));
        let image = serde_json::json!({
            "type": {"S": "events"},
            "environment_id": {"S": environment.to_string()},
            "first": {"N": "8"},
            "sequence": {"N": "9"},
            "events": {"B": base64_of(&dsync_dynamo::pack_document(&text))},
            "created_at": {"N": "1700000000000"},
        });
        let (events, env) = events_of(&record("INSERT", image)).unwrap();
        assert_eq!(env, environment);
        let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
        assert_eq!(sequences, vec![8, 9]);
        assert_eq!(events[1].envelope()["data"]["user"]["id"], "u9");
        assert_eq!(events[0].directory_id, Some(directory));
        assert_eq!(events[0].created_at, 1_700_000_000_000);
    }

    fn base64_of(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn removals_and_other_items_are_not_events_to_deliver() {
        let environment = EnvironmentId::generate();
        let id = EventId::for_sequence(7, 0);
        // A TTL expiry is a REMOVE: it makes no delivery.
        assert!(events_of(&record("REMOVE", event_image(&environment, &id))).is_none());
        let mut other = event_image(&environment, &id);
        other["type"] = serde_json::json!({"S": "head"});
        assert!(events_of(&record("INSERT", other)).is_none());
        let mut broken = event_image(&environment, &id);
        broken["data"] = serde_json::json!({"S": "{not json"});
        assert!(events_of(&record("INSERT", broken)).is_none());
    }
}
