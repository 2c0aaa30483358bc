//! Event payloads as compact JSON text, written straight from the directory's records.
//!
//! A `serde_json::Value` tree costs an allocation for every key, string and nested object,
//! and a user's membership events would each carry a tree of their own: for a user joining
//! ten groups, allocation was most of a projection's CPU. Here each event is one string, the
//! user object is written once, and its text is spliced into every membership event of that
//! user. Objects are written by hand rather than through `Serialize`: their keys are constant
//! text, and ids and timestamps never need escaping, which the serializer would check byte by
//! byte; only provider-given strings and values go through `serde_json`.
//!
//! The text is exactly what serializing the `Value` payloads gave, keys in the same sorted
//! order (`serde_json`'s maps are sorted); tests hold it to payloads built as before.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::ids::ID_TEXT_MAX;
use crate::time::{format_millis_into, MILLIS_TEXT_MAX};

use super::events::EventDraft;
use super::limits::write_capped_raw;
use super::model::{DirectoryGroup, DirectoryUser, Email};

/// An event's `data`: one JSON object as compact text.
#[derive(Clone, PartialEq, Eq)]
pub struct EventData(String);

impl EventData {
    /// The payload of a value built by hand (directory and token events).
    pub fn from_value(value: &Value) -> Self {
        Self(value.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The payload parsed, for readers that look inside it.
    pub fn to_value(&self) -> Value {
        // Only valid JSON is ever held: see `finish`.
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }

    /// The Directory User object with its `raw_attributes` capped, and `previous_attributes`
    /// when given (`dsync.user.updated`).
    pub(crate) fn user(
        user: &DirectoryUser,
        organization_id: Option<&str>,
        previous: Option<&Map<String, Value>>,
    ) -> Self {
        let mut out = Vec::with_capacity(1024);
        let written = write_user(&mut out, user, organization_id, previous, Raw::Capped);
        Self::finish(written.map(|()| out))
    }

    /// The Directory Group object with its `raw_attributes` capped.
    pub(crate) fn group(group: &DirectoryGroup, organization_id: Option<&str>) -> Self {
        let mut out = Vec::with_capacity(512);
        let written = write_group(&mut out, group, organization_id, Raw::Capped);
        Self::finish(written.map(|()| out))
    }

    /// Only text that `serde_json` or this module wrote is kept: writing into memory cannot
    /// fail and is UTF-8, but were either ever untrue, the payload is `null` (the event
    /// still commits, and says nothing wrong) rather than a panic.
    fn finish(written: serde_json::Result<Vec<u8>>) -> Self {
        match written.ok().and_then(|bytes| String::from_utf8(bytes).ok()) {
            Some(text) => Self(text),
            None => Self::unwritable(),
        }
    }

    fn unwritable() -> Self {
        Self("null".to_owned())
    }
}

impl From<Value> for EventData {
    fn from(value: Value) -> Self {
        Self::from_value(&value)
    }
}

impl fmt::Debug for EventData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Membership events of one user, one per group, in order: `{"directory_id", "group",
/// "user"}`, each group's object (capped) written into a buffer the events share and the
/// user's object ([`EventData::user`], written once) copied in as text.
pub(crate) fn memberships<'a>(
    name: &'static str,
    user_object: &EventData,
    groups: impl IntoIterator<Item = &'a DirectoryGroup>,
    organization_id: Option<&str>,
) -> Vec<EventDraft> {
    let groups = groups.into_iter();
    let mut events = Vec::with_capacity(groups.size_hint().0);
    let mut scratch = Vec::with_capacity(512);
    for group in groups {
        events.push(membership_event(
            name,
            user_object,
            group,
            organization_id,
            &mut scratch,
        ));
    }
    events
}

/// One membership event; `scratch` holds the group's object while it is written.
pub(crate) fn membership_event(
    name: &'static str,
    user_object: &EventData,
    group: &DirectoryGroup,
    organization_id: Option<&str>,
    scratch: &mut Vec<u8>,
) -> EventDraft {
    scratch.clear();
    let written = write_group(scratch, group, organization_id, Raw::Capped);
    let data = match written
        .ok()
        .and_then(|()| std::str::from_utf8(scratch).ok())
    {
        Some(group_text) => membership(user_object.as_str(), group, group_text),
        None => EventData::unwritable(),
    };
    EventDraft { name, data }
}

fn membership(user: &str, group: &DirectoryGroup, group_text: &str) -> EventData {
    let mut text = String::with_capacity(user.len() + group_text.len() + 96);
    text.push_str("{\"directory_id\":\"");
    text.push_str(group.directory_id.text(&mut [0; ID_TEXT_MAX]));
    text.push_str("\",\"group\":");
    text.push_str(group_text);
    text.push_str(",\"user\":");
    text.push_str(user);
    text.push('}');
    EventData(text)
}

/// Whether an object's `raw_attributes` are capped as events carry them, or whole (the
/// directory's read API).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Raw {
    Capped,
    Whole,
}

fn json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> serde_json::Result<()> {
    serde_json::to_writer(out, value)
}

/// A JSON string. Text with nothing to escape (no control character, `"` or `\`: what
/// `serde_json` escapes), nearly every name and address, is copied in one piece instead of
/// through the serializer's byte-by-byte escaping and several small writes.
fn string(out: &mut Vec<u8>, text: &str) -> serde_json::Result<()> {
    if !text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        return json(out, text);
    }
    out.reserve(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
    Ok(())
}

fn optional(out: &mut Vec<u8>, value: Option<&str>) -> serde_json::Result<()> {
    match value {
        Some(text) => string(out, text),
        None => {
            out.extend_from_slice(b"null");
            Ok(())
        }
    }
}

fn millis(out: &mut Vec<u8>, millis: i64) {
    out.push(b'"');
    out.extend_from_slice(format_millis_into(millis, &mut [0; MILLIS_TEXT_MAX]).as_bytes());
    out.push(b'"');
}

macro_rules! id {
    ($out:expr, $id:expr) => {{
        $out.push(b'"');
        $out.extend_from_slice($id.text(&mut [0; ID_TEXT_MAX]).as_bytes());
        $out.push(b'"');
    }};
}

/// The Directory User object; keys in sorted order.
pub(crate) fn write_user(
    out: &mut Vec<u8>,
    user: &DirectoryUser,
    organization_id: Option<&str>,
    previous: Option<&Map<String, Value>>,
    raw: Raw,
) -> serde_json::Result<()> {
    let a = &user.attributes;
    out.extend_from_slice(b"{\"created_at\":");
    millis(out, user.created_at);
    out.extend_from_slice(b",\"custom_attributes\":");
    json(out, &a.custom_attributes)?;
    out.extend_from_slice(b",\"directory_id\":");
    id!(out, user.directory_id);
    out.extend_from_slice(b",\"email\":");
    optional(out, a.email.as_deref())?;
    out.extend_from_slice(b",\"emails\":[");
    for (i, email) in a.emails.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_email(out, email)?;
    }
    out.extend_from_slice(b"],\"first_name\":");
    optional(out, a.first_name.as_deref())?;
    out.extend_from_slice(b",\"id\":");
    id!(out, user.id);
    out.extend_from_slice(b",\"idp_id\":");
    string(out, &a.idp_id)?;
    out.extend_from_slice(b",\"job_title\":");
    optional(out, a.job_title.as_deref())?;
    out.extend_from_slice(b",\"last_name\":");
    optional(out, a.last_name.as_deref())?;
    out.extend_from_slice(b",\"name\":");
    optional(out, a.name.as_deref())?;
    out.extend_from_slice(b",\"object\":\"directory_user\",\"organization_id\":");
    optional(out, organization_id)?;
    if let Some(previous) = previous {
        out.extend_from_slice(b",\"previous_attributes\":");
        json(out, previous)?;
    }
    out.extend_from_slice(b",\"raw_attributes\":");
    write_raw(out, &a.raw_attributes, raw)?;
    out.extend_from_slice(b",\"role\":");
    json(out, a.role.as_ref().unwrap_or(&Value::Null))?;
    out.extend_from_slice(b",\"roles\":");
    json(out, &a.roles)?;
    out.extend_from_slice(b",\"state\":\"");
    out.extend_from_slice(user.state.as_str().as_bytes());
    out.extend_from_slice(b"\",\"updated_at\":");
    millis(out, user.updated_at);
    out.extend_from_slice(b",\"username\":");
    string(out, &a.username)?;
    out.push(b'}');
    Ok(())
}

fn write_email(out: &mut Vec<u8>, email: &Email) -> serde_json::Result<()> {
    out.extend_from_slice(if email.primary {
        b"{\"primary\":true,\"type\":"
    } else {
        b"{\"primary\":false,\"type\":"
    });
    optional(out, email.r#type.as_deref())?;
    out.extend_from_slice(b",\"value\":");
    string(out, &email.value)?;
    out.push(b'}');
    Ok(())
}

/// The Directory Group object; keys in sorted order.
pub(crate) fn write_group(
    out: &mut Vec<u8>,
    group: &DirectoryGroup,
    organization_id: Option<&str>,
    raw: Raw,
) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"created_at\":");
    millis(out, group.created_at);
    out.extend_from_slice(b",\"directory_id\":");
    id!(out, group.directory_id);
    out.extend_from_slice(b",\"id\":");
    id!(out, group.id);
    out.extend_from_slice(b",\"idp_id\":");
    string(out, &group.idp_id)?;
    out.extend_from_slice(b",\"name\":");
    string(out, &group.name)?;
    out.extend_from_slice(b",\"object\":\"directory_group\",\"organization_id\":");
    optional(out, organization_id)?;
    out.extend_from_slice(b",\"raw_attributes\":");
    write_raw(out, &group.raw_attributes, raw)?;
    out.extend_from_slice(b",\"updated_at\":");
    millis(out, group.updated_at);
    out.push(b'}');
    Ok(())
}

fn write_raw(out: &mut Vec<u8>, raw: &Value, how: Raw) -> serde_json::Result<()> {
    match how {
        Raw::Capped => write_capped_raw(out, raw),
        Raw::Whole => json(out, raw),
    }
}

/// An object written here, parsed: the directory's read API serves the same objects.
pub(crate) fn parsed(write: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>) -> Value {
    let mut out = Vec::with_capacity(1024);
    write(&mut out)
        .and_then(|()| serde_json::from_slice(&out))
        .unwrap_or(Value::Null)
}
