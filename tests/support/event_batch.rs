//! Stream batches of the events table, made up for driving the fan-out function directly:
//! what Lambda would hand it for newly committed events.

use dsync_domain::ids::{EnvironmentId, EventId};
use serde_json::{json, Value};

/// A batch of INSERT records, one per event, named `name`, with sequence numbers starting
/// at `first_sequence`.
pub fn stream_batch(
    environment: &EnvironmentId,
    first_sequence: u64,
    count: usize,
    name: &str,
) -> dsync_local::streams::Event {
    let now = dsync_domain::time::now_millis();
    let records: Vec<Value> = (0..count as u64)
        .map(|i| {
            let sequence = first_sequence + i;
            let id = EventId::for_sequence(sequence, now);
            let data = json!({"object": "directory_user", "id": format!("directory_user_{i}"),
                              "state": "active", "emails": []});
            json!({
                "eventID": format!("{sequence}"),
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "SequenceNumber": format!("{sequence:021}"),
                    "StreamViewType": "NEW_IMAGE",
                    "SizeBytes": 512,
                    "NewImage": {
                        "pk": {"S": format!("ENV#{environment}")},
                        "sk": {"S": format!("{sequence:020}")},
                        "type": {"S": "event"},
                        "id": {"S": id.to_string()},
                        "environment_id": {"S": environment.to_string()},
                        "sequence": {"N": sequence.to_string()},
                        "event": {"S": name},
                        "data": {"S": data.to_string()},
                        "created_at": {"N": now.to_string()},
                    }
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/events/stream/x",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("a stream event")
}

/// Commits `count` real events (through a directory creation each) and returns their stream
/// batch, as the events table's stream would deliver it.
pub async fn committed_events(
    store: &dsync_dynamo::Store,
    environment: &EnvironmentId,
    count: usize,
) -> dsync_local::streams::Event {
    use dsync_domain::directory::EventDraft;
    use dsync_domain::model::{Directory, ProviderKind};
    let head = store.event_head(environment).await.unwrap();
    for i in 0..count {
        let directory = Directory {
            id: dsync_domain::ids::DirectoryId::generate(),
            environment_id: *environment,
            name: format!("d{i}"),
            kind: ProviderKind::GenericScimV2,
            organization_id: None,
            token_hash: dsync_domain::secrets::generate("t_").hash,
            created_at: dsync_domain::time::now_millis(),
            mappings: Default::default(),
        };
        let draft = EventDraft {
            name: "dsync.activated",
            data: serde_json::json!({"object": "directory", "id": directory.id.to_string()}).into(),
        };
        store
            .create_directory_with_event(&directory, draft)
            .await
            .unwrap();
    }
    let mut events = store
        .events_by_id(
            environment,
            &(head + 1..=head + count as u64)
                .map(|seq| dsync_domain::ids::EventId::for_sequence(seq, 0))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    assert_eq!(events.len(), count);
    events.sort_by_key(|e| e.sequence);
    let mut batch = stream_batch(environment, head + 1, count, "dsync.activated");
    for (record, event) in batch.records.iter_mut().zip(&events) {
        record.change.new_image.insert(
            "id".into(),
            serde_dynamo::AttributeValue::S(event.id.to_string()),
        );
    }
    batch
}
