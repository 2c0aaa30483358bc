//! Event payloads as compact JSON text, written straight from the directory's records.
//!
//! A `serde_json::Value` tree costs an allocation for every key, string and nested object,
//! and a user's membership events would each carry a tree of their own: for a user joining
//! ten groups, allocation was most of a projection's CPU. Here each event is one string, the
//! user object is written once, and its text is spliced into every membership event of that
//! user. The text is exactly what serializing the `Value` payloads gave (keys in the same
//! sorted order: `serde_json`'s maps are sorted, so the views below declare their fields
//! sorted), and storage keeps `data` as text anyway.

use std::borrow::Cow;
use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::ids::{DirectoryGroupId, DirectoryId, DirectoryUserId};
use crate::time::{format_millis_into, MILLIS_TEXT_MAX};

use super::limits::capped_raw_attributes;
use super::model::{DirectoryGroup, DirectoryUser, Email, UserState};

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

    /// The payload parsed, for readers that look inside it (tests, previews).
    pub fn to_value(&self) -> Value {
        // Only valid JSON is ever held: every constructor serializes.
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }

    /// The Directory User object with its `raw_attributes` capped, and `previous_attributes`
    /// when given (`dsync.user.updated`).
    pub(crate) fn user(
        user: &DirectoryUser,
        organization_id: Option<&str>,
        previous: Option<&Map<String, Value>>,
    ) -> Self {
        let raw = capped_raw_attributes(&user.attributes.raw_attributes);
        let object = UserObject::new(user, organization_id, raw, previous);
        Self::written(&object, Vec::with_capacity(1024))
    }

    /// The Directory Group object with its `raw_attributes` capped.
    pub(crate) fn group(group: &DirectoryGroup, organization_id: Option<&str>) -> Self {
        let raw = capped_raw_attributes(&group.raw_attributes);
        let object = GroupObject::new(group, organization_id, raw);
        Self::written(&object, Vec::with_capacity(512))
    }

    /// `{"directory_id", "group", "user"}` of a membership event: the group's object (capped)
    /// written here, the user's object (see [`user`](Self::user)) copied in as text.
    pub(crate) fn membership(
        user_object: &EventData,
        group: &DirectoryGroup,
        organization_id: Option<&str>,
    ) -> Self {
        let raw = capped_raw_attributes(&group.raw_attributes);
        let object = GroupObject::new(group, organization_id, raw);
        let mut out = Vec::with_capacity(user_object.0.len() + 512);
        let written = write_membership(&mut out, &object, user_object);
        Self::text(written.map(|()| out))
    }

    fn written<T: Serialize>(value: &T, mut out: Vec<u8>) -> Self {
        Self::text(serde_json::to_writer(&mut out, value).map(|()| out))
    }

    /// Writing these views into memory cannot fail (every map key is a string) and writes
    /// UTF-8; were either ever untrue, the payload is `null` rather than a panic.
    fn text(written: serde_json::Result<Vec<u8>>) -> Self {
        let text = written.ok().and_then(|bytes| String::from_utf8(bytes).ok());
        Self(text.unwrap_or_else(|| "null".to_owned()))
    }
}

fn write_membership(
    out: &mut Vec<u8>,
    group: &GroupObject,
    user_object: &EventData,
) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"directory_id\":");
    serde_json::to_writer(&mut *out, &group.directory_id)?;
    out.extend_from_slice(b",\"group\":");
    serde_json::to_writer(&mut *out, group)?;
    out.extend_from_slice(b",\"user\":");
    out.extend_from_slice(user_object.0.as_bytes());
    out.push(b'}');
    Ok(())
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

/// A timestamp as the APIs print it ([`crate::time::format_millis`]), written in place.
#[derive(Clone, Copy)]
struct Millis(i64);

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(format_millis_into(self.0, &mut [0; MILLIS_TEXT_MAX]))
    }
}

/// The Directory User object, borrowing from the user. Fields in sorted key order (see the
/// module's documentation).
#[derive(Serialize)]
pub(crate) struct UserObject<'a> {
    created_at: Millis,
    custom_attributes: &'a Map<String, Value>,
    directory_id: DirectoryId,
    email: &'a Option<String>,
    emails: &'a [Email],
    first_name: &'a Option<String>,
    id: DirectoryUserId,
    idp_id: &'a str,
    job_title: &'a Option<String>,
    last_name: &'a Option<String>,
    name: &'a Option<String>,
    object: &'static str,
    organization_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_attributes: Option<&'a Map<String, Value>>,
    raw_attributes: Cow<'a, Value>,
    role: &'a Value,
    roles: &'a [Value],
    state: UserState,
    updated_at: Millis,
    username: &'a str,
}

impl<'a> UserObject<'a> {
    pub(crate) fn new(
        user: &'a DirectoryUser,
        organization_id: Option<&'a str>,
        raw_attributes: Cow<'a, Value>,
        previous_attributes: Option<&'a Map<String, Value>>,
    ) -> Self {
        let attributes = &user.attributes;
        Self {
            created_at: Millis(user.created_at),
            custom_attributes: &attributes.custom_attributes,
            directory_id: user.directory_id,
            email: &attributes.email,
            emails: &attributes.emails,
            first_name: &attributes.first_name,
            id: user.id,
            idp_id: &attributes.idp_id,
            job_title: &attributes.job_title,
            last_name: &attributes.last_name,
            name: &attributes.name,
            object: "directory_user",
            organization_id,
            previous_attributes,
            raw_attributes,
            role: attributes.role.as_ref().unwrap_or(&Value::Null),
            roles: &attributes.roles,
            state: user.state,
            updated_at: Millis(user.updated_at),
            username: &attributes.username,
        }
    }
}

/// The Directory Group object, borrowing from the group; fields in sorted key order.
#[derive(Serialize)]
pub(crate) struct GroupObject<'a> {
    created_at: Millis,
    directory_id: DirectoryId,
    id: DirectoryGroupId,
    idp_id: &'a str,
    name: &'a str,
    object: &'static str,
    organization_id: Option<&'a str>,
    raw_attributes: Cow<'a, Value>,
    updated_at: Millis,
}

impl<'a> GroupObject<'a> {
    pub(crate) fn new(
        group: &'a DirectoryGroup,
        organization_id: Option<&'a str>,
        raw_attributes: Cow<'a, Value>,
    ) -> Self {
        Self {
            created_at: Millis(group.created_at),
            directory_id: group.directory_id,
            id: group.id,
            idp_id: &group.idp_id,
            name: &group.name,
            object: "directory_group",
            organization_id,
            raw_attributes,
            updated_at: Millis(group.updated_at),
        }
    }
}
