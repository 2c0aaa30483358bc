//! DynamoDB stream batches of the events table.
//!
//! Each new event becomes one delivery per subscribed endpoint, recorded before anything is
//! sent. A batch's deliveries go through together, in four steps whose requests each carry
//! many deliveries (a batch costs a few round trips, not one or two per delivery):
//!
//! 1. one consistent read of their keys (100 to a request) finds those already recorded: the
//!    stream batch was delivered again, and what is still pending of them belongs to the sweep;
//! 2. the others are written, 25 to a `BatchWriteItem`, leased for their inline attempt (due
//!    at once, for the sweep, when their endpoint is failing);
//! 3. they are sent, up to the configured concurrency, a chunk's as soon as it is recorded
//!    (not when the last one is), unless recording took so long that the attempt could
//!    outlast the lease: those wait for its end and the sweep;
//! 4. each attempt's outcome is written, 25 to a `BatchWriteItem`, as attempts end.
//!
//! Only a failure to record (steps 1 and 2) fails the batch, from the first event not fully
//! recorded; nothing of it was sent. A lost outcome (step 4) leaves the lease to run out, and
//! the sweep sends that delivery again: at least once, as before. The writes are
//! unconditional: step 1 keeps step 2 off recorded deliveries (Lambda runs one batch of a
//! shard at a time), and step 4 lands within the lease, before the sweep may claim it.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_dynamodb::types::AttributeValue as SdkValue;
use dsync_domain::ids::EnvironmentId;
use dsync_domain::webhooks::{Delivery, WebhookEndpoint};
use dsync_dynamo::{StoreError, StoredEvent};
use futures::stream::{self, Stream, StreamExt};
use serde_dynamo::AttributeValue;

use crate::deliver::{self, body_of, Health, Outcome};
use crate::App;

/// Deliveries to one `BatchWriteItem`: DynamoDB's most.
const WRITE_CHUNK: usize = 25;
/// `BatchWriteItem`s in flight at once: a batch's 100 new deliveries are recorded in one
/// round trip, and outcomes keep up with attempts.
const WRITES_IN_FLIGHT: usize = 8;

/// Time left in a lease for an attempt's outcome to be written after the attempt.
const OUTCOME_MARGIN: Duration = Duration::from_secs(1);

/// One delivery of the batch: the event's index in it, the endpoint, and whether it gets an
/// attempt here (or is left to the sweep, due at once).
struct Planned {
    index: usize,
    endpoint: WebhookEndpoint,
    delivery: Delivery,
    inline: bool,
}

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
    let mut not_recorded: Vec<usize> = Vec::new();
    let mut planned = Vec::new();
    let mut seen = HashSet::new();
    let now = app.now();
    for (index, (event, environment, _)) in events.iter().enumerate() {
        match &endpoints[environment] {
            Ok(subscribed) => {
                planned.extend(
                    deliveries_of(app, subscribed, (index, event), environment, now)
                        // One BatchWriteItem refuses a key twice; an event is delivered once.
                        .filter(|p| seen.insert(p.delivery.id)),
                );
            }
            Err(error) => {
                tracing::warn!(event_id = %event.id, %error, "reading the endpoints failed; the batch resumes from this event");
                not_recorded.push(index);
            }
        }
    }
    let health = &Health::default();
    let failed = Mutex::new(Vec::new());
    match new_deliveries(app, planned).await {
        Ok(chunks) => {
            // A chunk's attempts start as soon as it is recorded, beside the others' writes.
            attempt_all(app, health, record(app, chunks, &failed), &events).await;
        }
        Err(first) => not_recorded.extend(first),
    }
    not_recorded.extend(failed.into_inner().unwrap_or_else(|p| p.into_inner()));
    let mut response = DynamoDbEventResponse::default();
    if let Some(index) = not_recorded.into_iter().min() {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = events[index].2.clone();
        response.batch_item_failures.push(failure);
    }
    response
}

/// Step 1: the deliveries not recorded before, in chunks of one `BatchWriteItem`; `Err`
/// with the batch's first event when they could not be read.
async fn new_deliveries(
    app: &App,
    mut planned: Vec<Planned>,
) -> Result<Vec<Vec<Planned>>, Option<usize>> {
    if planned.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<_> = planned.iter().map(|p| p.delivery.id).collect();
    let before = app.store.recorded_deliveries(&ids).await.map_err(|error| {
        tracing::warn!(%error, "reading the batch's deliveries failed; the batch resumes from its first event");
        planned.iter().map(|p| p.index).min()
    })?;
    planned.retain(|p| !before.contains(&p.delivery.id));
    let mut chunks = Vec::new();
    while !planned.is_empty() {
        let rest = planned.split_off(planned.len().min(WRITE_CHUNK));
        chunks.push(std::mem::replace(&mut planned, rest));
    }
    Ok(chunks)
}

/// Step 2: records the chunks, several at once, and yields each chunk's deliveries once it
/// is recorded. The first event of a chunk that could not be recorded goes to `failed`.
fn record<'a>(
    app: &'a App,
    chunks: Vec<Vec<Planned>>,
    failed: &'a Mutex<Vec<usize>>,
) -> impl Stream<Item = Planned> + 'a {
    stream::iter(chunks)
        .map(move |chunk| async move {
            let deliveries: Vec<Delivery> = chunk.iter().map(|p| p.delivery.clone()).collect();
            let result = app.store.put_deliveries(&deliveries).await;
            (chunk, result)
        })
        .buffer_unordered(WRITES_IN_FLIGHT)
        .flat_map(move |(chunk, result)| {
            let recorded = match result {
                Ok(()) => chunk,
                Err(error) => {
                    tracing::warn!(%error, deliveries = chunk.len(), "recording deliveries failed; the batch resumes from their first event");
                    let first = chunk.iter().map(|p| p.index).min();
                    failed
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .extend(first);
                    Vec::new()
                }
            };
            stream::iter(recorded)
        })
}

/// Steps 3 and 4: the inline attempts of the deliveries as they are recorded, their outcomes
/// written as they come.
async fn attempt_all(
    app: &App,
    health: &Health,
    recorded: impl Stream<Item = Planned>,
    events: &[(StoredEvent, EnvironmentId, Option<String>)],
) {
    let now = app.now();
    // The longest an attempt and its outcome's write can take from its start.
    let longest =
        (app.config.inline_budget.min(app.config.timeout) + OUTCOME_MARGIN).as_millis() as i64;
    recorded
        .filter(|p| std::future::ready(p.inline))
        .map(|p| async move {
            if app.now() + longest >= p.delivery.next_attempt_at? {
                // Recording took most of the lease (writes throttled and retried): an attempt
                // now could end after it, when the sweep may send it as well. The lease's
                // end brings it back.
                return None;
            }
            if health.is_slow(&p.endpoint.id) {
                // Cut off earlier in this batch: due at once, for the sweep, unattempted.
                let mut due = p.delivery.clone();
                due.next_attempt_at = Some(now);
                return Some((p, Err(due)));
            }
            let outcome =
                attempt(app, health, &p.endpoint, &p.delivery, &events[p.index].0).await?;
            Some((p, Ok(outcome)))
        })
        .buffer_unordered(app.config.concurrency.max(1))
        .filter_map(std::future::ready)
        .ready_chunks(WRITE_CHUNK)
        .map(|chunk| write_outcomes(app, health, chunk))
        .buffer_unordered(WRITES_IN_FLIGHT)
        .collect::<()>()
        .await;
}

/// Writes a chunk of outcomes (or deliveries left due at once) and settles each outcome.
async fn write_outcomes(
    app: &App,
    health: &Health,
    chunk: Vec<(Planned, Result<Outcome, Delivery>)>,
) {
    let states: Vec<Delivery> = chunk
        .iter()
        .map(|(_, outcome)| match outcome {
            Ok(outcome) => outcome.after.clone(),
            Err(due) => due.clone(),
        })
        .collect();
    if let Err(error) = app.store.put_deliveries(&states).await {
        tracing::warn!(%error, deliveries = states.len(), "recording attempts failed; the sweep retries them when their leases run out");
        return;
    }
    for (planned, outcome) in &chunk {
        if let Ok(outcome) = outcome {
            if let Err(error) = outcome.settle(app, health, &planned.endpoint).await {
                tracing::warn!(endpoint_id = %planned.endpoint.id, %error, "updating the endpoint after an attempt failed");
            }
        }
    }
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
/// down); the others are leased for the inline attempt. `index` is the event's in the batch.
fn deliveries_of<'e>(
    app: &App,
    endpoints: &'e [WebhookEndpoint],
    (index, event): (usize, &'e StoredEvent),
    environment: &'e EnvironmentId,
    now: i64,
) -> impl Iterator<Item = Planned> + 'e {
    let lease_until = now + app.config.lease().as_millis() as i64;
    endpoints
        .iter()
        .filter(|e| e.subscribes(&event.name))
        .map(move |endpoint| {
            let inline = endpoint.failing_since.is_none();
            let due = if inline { lease_until } else { now };
            let delivery =
                Delivery::new(endpoint.id, *environment, event.id, &event.name, now, due);
            Planned {
                index,
                endpoint: endpoint.clone(),
                delivery,
                inline,
            }
        })
}

/// The first attempt of a delivery just recorded, cut off at the inline budget; `None` when
/// cut off. A cut-off attempt is not counted: its delivery's lease runs out and the sweep
/// sends it again; its endpoint is marked failing so the next batches leave it to the sweep.
async fn attempt(
    app: &App,
    health: &Health,
    endpoint: &WebhookEndpoint,
    delivery: &Delivery,
    event: &StoredEvent,
) -> Option<Outcome> {
    let budget = app.config.inline_budget;
    let body = body_of(event);
    let id = delivery.event_id.to_string();
    let sent = tokio::time::timeout(budget, deliver::send(app, endpoint, &id, &body));
    match sent.await {
        Ok(result) => Some(Outcome::of(app, delivery, &result)),
        Err(_) => {
            cut_off(app, health, endpoint, delivery, budget).await;
            None
        }
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
