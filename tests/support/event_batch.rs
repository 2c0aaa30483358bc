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
