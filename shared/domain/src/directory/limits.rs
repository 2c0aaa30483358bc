//! Size limits that make every accepted record storable and projectable.
//!
//! DynamoDB holds at most 400 KB per item and 4 MB per transaction. A provider record is one
//! item (its SCIM resource plus a few keys); its directory user is one item (the resource
//! again as `raw_attributes`, plus the attributes dsync exposes); a membership change commits
//! up to 49 events beside the user. So:
//!
//! - a SCIM resource is at most [`MAX_RESOURCE_BYTES`] as compact JSON;
//! - the exposed attributes (everything in the Directory User object but `raw_attributes`) are
//!   at most [`MAX_EXPOSED_BYTES`];
//! - an event carries `raw_attributes` only up to [`MAX_EVENT_RAW_BYTES`]: a top-level entry
//!   larger than [`MAX_EVENT_RAW_VALUE_BYTES`] is replaced by the marker
//!   `{"dsync_truncated": {"bytes": <its size>}}`, and if the rest is still too large the
//!   whole of `raw_attributes` is. The full record stays readable by id through the API.
//!
//! Bounds, so every transaction fits by construction: a directory user item ≤ 340 + 32 KB +
//! keys < 400 KB; a membership event (user and group objects) ≤ 2 × (32 + 8) KB ≈ 50 KB with
//! group names and ids under 512 bytes; `dsync.user.updated` (new object and previous values)
//! ≤ 40 + 32 KB. A membership chunk (49 events) ≤ 2.5 MB; the user's own transaction (its
//! item, its event and 48 membership events) ≤ 372 KB + 72 KB + 2.4 MB ≈ 2.9 MB; DynamoDB
//! allows 4 MB.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::event_data::{write_user, Raw};
use super::model::{DirectoryUser, UserState};
use super::user_attributes;
use crate::ids::{DirectoryId, DirectoryUserId, ProviderUserId};

/// The largest SCIM resource (user or group, members excluded) stored, as compact JSON.
pub const MAX_RESOURCE_BYTES: usize = 340 * 1024;
/// The largest Directory User object without `raw_attributes`.
pub const MAX_EXPOSED_BYTES: usize = 32 * 1024;
/// The largest `raw_attributes` an event carries.
pub const MAX_EVENT_RAW_BYTES: usize = 8 * 1024;
/// A top-level `raw_attributes` entry larger than this is replaced by a marker in events.
pub const MAX_EVENT_RAW_VALUE_BYTES: usize = 1024;
/// The key of the marker that stands for a value left out of an event.
pub const TRUNCATED_MARKER: &str = "dsync_truncated";

/// A record too large to store, with what was measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge {
    pub what: &'static str,
    pub bytes: usize,
    pub limit: usize,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is {} bytes; at most {} are accepted",
            self.what, self.bytes, self.limit
        )
    }
}

/// The size of `value` as compact JSON, counted as it is written rather than by building
/// the text: every event measures its `raw_attributes` this way.
fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    let mut counter = ByteCounter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Checks a group resource (members are stored apart and never counted here).
pub fn check_group_resource(resource: &Value) -> Result<(), TooLarge> {
    check_resource(resource)
}

fn check_resource(resource: &Value) -> Result<(), TooLarge> {
    let bytes = json_len(resource);
    if bytes > MAX_RESOURCE_BYTES {
        return Err(TooLarge {
            what: "the SCIM resource",
            bytes,
            limit: MAX_RESOURCE_BYTES,
        });
    }
    Ok(())
}

/// Checks that a user resource, and the directory user projected from it, fit their items
/// and events. The projection is a function of the resource, so a record that passes here is
/// always projectable.
pub fn check_user_resource(resource: &Value, id: &ProviderUserId) -> Result<(), TooLarge> {
    check_resource(resource)?;
    let mut attributes = user_attributes(resource, id, None);
    attributes.raw_attributes = Value::Null;
    let user = DirectoryUser {
        id: DirectoryUserId::generate(),
        directory_id: DirectoryId::generate(),
        provider_user_id: *id,
        state: UserState::Active,
        attributes,
        inactive_since: None,
        created_at: 0,
        updated_at: 0,
    };
    let mut object = Vec::new();
    let bytes = match write_user(&mut object, &user, None, None, Raw::Whole) {
        Ok(()) => object.len(),
        Err(_) => usize::MAX,
    };
    if bytes > MAX_EXPOSED_BYTES {
        return Err(TooLarge {
            what: "the user's names, emails, title and enterprise attributes",
            bytes,
            limit: MAX_EXPOSED_BYTES,
        });
    }
    Ok(())
}

/// Bounds an event's `data`: every `raw_attributes` in it (of the object, or of the user and
/// group of a membership event) is capped.
pub fn cap_event_data(data: &mut Value) {
    cap_raw_in(data);
    for nested in ["user", "group"] {
        if let Some(object) = data.get_mut(nested) {
            cap_raw_in(object);
        }
    }
}

fn cap_raw_in(object: &mut Value) {
    if let Some(raw) = object.get_mut("raw_attributes") {
        cap_raw_attributes(raw);
    }
}

fn marker(bytes: usize) -> Value {
    json!({ TRUNCATED_MARKER: { "bytes": bytes } })
}

/// Writes `raw` as an event carries it: measured as it is written, so the usual small one
/// is written once and never copied; one over [`MAX_EVENT_RAW_BYTES`] is written again,
/// capped (see [`cap_raw_attributes`]).
pub(crate) fn write_capped_raw(out: &mut Vec<u8>, raw: &Value) -> serde_json::Result<()> {
    let start = out.len();
    serde_json::to_writer(&mut *out, raw)?;
    if out.len() - start <= MAX_EVENT_RAW_BYTES {
        return Ok(());
    }
    out.truncate(start);
    let mut capped = raw.clone();
    cap_raw_attributes(&mut capped);
    serde_json::to_writer(out, &capped)
}

/// Large top-level entries become markers; if the rest is still too large, so does the whole.
pub fn cap_raw_attributes(raw: &mut Value) {
    let total = json_len(raw);
    if total <= MAX_EVENT_RAW_BYTES {
        return;
    }
    if let Value::Object(map) = raw {
        let capped: Map<String, Value> = std::mem::take(map)
            .into_iter()
            .map(|(key, value)| {
                let bytes = json_len(&value);
                if bytes > MAX_EVENT_RAW_VALUE_BYTES {
                    (key, marker(bytes))
                } else {
                    (key, value)
                }
            })
            .collect();
        *map = capped;
    }
    if json_len(raw) > MAX_EVENT_RAW_BYTES {
        *raw = marker(total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_resource(extra: Value) -> Value {
        let mut resource = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ann@example.com",
            "active": true
        });
        if let (Value::Object(map), Value::Object(extra)) = (&mut resource, extra) {
            map.extend(extra);
        }
        resource
    }

    #[test]
    fn small_raw_attributes_are_untouched() {
        let mut raw = json!({"userName": "ann", "photos": [{"value": "x"}]});
        let before = raw.clone();
        cap_raw_attributes(&mut raw);
        assert_eq!(raw, before);
    }

    #[test]
    fn a_large_entry_becomes_a_marker_and_the_rest_stays() {
        let big = "x".repeat(20_000);
        let mut raw = json!({"userName": "ann", "x509Certificates": [{"value": big}]});
        cap_raw_attributes(&mut raw);
        assert_eq!(raw["userName"], "ann");
        let bytes = raw["x509Certificates"][TRUNCATED_MARKER]["bytes"]
            .as_u64()
            .unwrap();
        assert!(bytes > 20_000);
        assert!(json_len(&raw) <= MAX_EVENT_RAW_BYTES);
    }

    #[test]
    fn many_small_entries_over_the_cap_become_one_marker() {
        let map: Map<String, Value> = (0..200)
            .map(|i| (format!("attribute{i}"), json!("y".repeat(500))))
            .collect();
        let mut raw = Value::Object(map);
        cap_raw_attributes(&mut raw);
        assert!(raw[TRUNCATED_MARKER]["bytes"].as_u64().unwrap() > 100_000);
    }

    #[test]
    fn membership_event_data_is_capped_in_user_and_group() {
        let big = json!({"blob": "z".repeat(50_000)});
        let mut data = json!({"user": {"raw_attributes": big}, "group": {"raw_attributes": big}});
        cap_event_data(&mut data);
        assert!(json_len(&data) < 2 * MAX_EVENT_RAW_BYTES);
    }

    #[test]
    fn a_resource_at_the_limit_passes_and_one_byte_more_fails() {
        let id = ProviderUserId::generate();
        let base = json_len(&user_resource(json!({"photos": [{"value": ""}]})));
        let fill = MAX_RESOURCE_BYTES - base;
        let at = user_resource(json!({"photos": [{"value": "p".repeat(fill)}]}));
        assert_eq!(json_len(&at), MAX_RESOURCE_BYTES);
        assert_eq!(check_user_resource(&at, &id), Ok(()));
        let over = user_resource(json!({"photos": [{"value": "p".repeat(fill + 1)}]}));
        assert_eq!(
            check_user_resource(&over, &id).unwrap_err().bytes,
            MAX_RESOURCE_BYTES + 1
        );
    }

    #[test]
    fn exposed_attributes_are_bounded_apart_from_raw_ones() {
        let id = ProviderUserId::generate();
        let title = user_resource(json!({"title": "t".repeat(MAX_EXPOSED_BYTES)}));
        let error = check_user_resource(&title, &id).unwrap_err();
        assert_eq!(error.limit, MAX_EXPOSED_BYTES);
    }
}
