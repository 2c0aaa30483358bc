//! Event names and payloads, in the shapes of the public WorkOS Directory Sync reference, so
//! applications and SDKs written against that API read them unchanged.
//!
//! Only the `data` is built here: the event id, sequence number and `created_at` are assigned
//! by the event log when the event commits.

use serde_json::{json, Map, Value};

use crate::time::format_millis;

pub use super::event_data::EventData;
use super::event_data::{membership_event, memberships, parsed, write_group, write_user, Raw};
use super::model::{DirectoryGroup, DirectoryUser, Email};

pub const DIRECTORY_ACTIVATED: &str = "dsync.activated";
pub const DIRECTORY_DELETED: &str = "dsync.deleted";
pub const USER_CREATED: &str = "dsync.user.created";
pub const USER_UPDATED: &str = "dsync.user.updated";
pub const USER_DELETED: &str = "dsync.user.deleted";
pub const GROUP_CREATED: &str = "dsync.group.created";
pub const GROUP_UPDATED: &str = "dsync.group.updated";
pub const GROUP_DELETED: &str = "dsync.group.deleted";
pub const GROUP_USER_ADDED: &str = "dsync.group.user_added";
pub const GROUP_USER_REMOVED: &str = "dsync.group.user_removed";
pub const TOKEN_CREATED: &str = "dsync.token.created";
pub const TOKEN_REVOKED: &str = "dsync.token.revoked";

/// How many trailing characters of a SCIM token its events show.
pub const TOKEN_SUFFIX_CHARS: usize = 4;

/// Every event name, e.g. to validate an `events[]` filter.
pub const ALL: [&str; 12] = [
    DIRECTORY_ACTIVATED,
    DIRECTORY_DELETED,
    USER_CREATED,
    USER_UPDATED,
    USER_DELETED,
    GROUP_CREATED,
    GROUP_UPDATED,
    GROUP_DELETED,
    GROUP_USER_ADDED,
    GROUP_USER_REMOVED,
    TOKEN_CREATED,
    TOKEN_REVOKED,
];

/// Payload attributes that never appear in `previous_attributes`: identity and bookkeeping
/// cannot change within one object's life, and `raw_attributes` would repeat every change.
const NOT_DIFFED: [&str; 5] = ["object", "id", "created_at", "updated_at", "raw_attributes"];

/// An event before the log numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    pub name: &'static str,
    pub data: EventData,
}

impl EventDraft {
    pub fn user_created(user: &DirectoryUser, organization_id: Option<&str>) -> Self {
        Self::user_event(USER_CREATED, user, organization_id)
    }

    /// `None` when no visible attribute changed: a change only in `raw_attributes` (say an
    /// unmapped extension attribute) is stored but not announced.
    pub fn user_updated(
        old: &DirectoryUser,
        new: &DirectoryUser,
        organization_id: Option<&str>,
    ) -> Option<Self> {
        let previous = previous_user_attributes(old, new);
        if previous.is_empty() {
            return None;
        }
        Some(Self {
            name: USER_UPDATED,
            data: EventData::user(new, organization_id, Some(&previous)),
        })
    }

    pub fn user_deleted(user: &DirectoryUser, organization_id: Option<&str>) -> Self {
        Self::user_event(USER_DELETED, user, organization_id)
    }

    pub fn group_created(group: &DirectoryGroup, organization_id: Option<&str>) -> Self {
        Self::group_event(GROUP_CREATED, group, organization_id)
    }

    /// `None` when no visible attribute changed, as for users.
    pub fn group_updated(
        old: &DirectoryGroup,
        new: &DirectoryGroup,
        organization_id: Option<&str>,
    ) -> Option<Self> {
        let data = group_payload(new, organization_id);
        let before = group_payload(old, organization_id);
        let previous = previous_attributes(&before, &data);
        with_previous(GROUP_UPDATED, previous, data)
    }

    pub fn group_deleted(group: &DirectoryGroup, organization_id: Option<&str>) -> Self {
        Self::group_event(GROUP_DELETED, group, organization_id)
    }

    pub fn user_added(
        user: &DirectoryUser,
        group: &DirectoryGroup,
        organization_id: Option<&str>,
    ) -> Self {
        let user_object = EventData::user(user, organization_id, None);
        membership_event(
            GROUP_USER_ADDED,
            &user_object,
            group,
            organization_id,
            &mut Vec::new(),
        )
    }

    pub fn user_removed(
        user: &DirectoryUser,
        group: &DirectoryGroup,
        organization_id: Option<&str>,
    ) -> Self {
        let user_object = EventData::user(user, organization_id, None);
        membership_event(
            GROUP_USER_REMOVED,
            &user_object,
            group,
            organization_id,
            &mut Vec::new(),
        )
    }

    /// `dsync.group.user_added` for each of `groups`, in order. The user's object is written
    /// (and capped) once and its text copied into every event: the same events as
    /// [`user_added`](Self::user_added) one by one, for a fraction of the work when a user
    /// joins many groups.
    pub fn users_added<'a>(
        user: &DirectoryUser,
        groups: impl IntoIterator<Item = &'a DirectoryGroup>,
        organization_id: Option<&str>,
    ) -> Vec<Self> {
        memberships_of(GROUP_USER_ADDED, user, groups, organization_id)
    }

    /// `dsync.group.user_removed` for each of `groups`, in order; see
    /// [`users_added`](Self::users_added).
    pub fn users_removed<'a>(
        user: &DirectoryUser,
        groups: impl IntoIterator<Item = &'a DirectoryGroup>,
        organization_id: Option<&str>,
    ) -> Vec<Self> {
        memberships_of(GROUP_USER_REMOVED, user, groups, organization_id)
    }

    /// A payload built as a value (a group's update), capped like every event's (see
    /// [`super::limits`]): the log's items and transactions stay bounded whatever the
    /// provider sent.
    fn new(name: &'static str, mut data: Value) -> Self {
        super::limits::cap_event_data(&mut data);
        Self {
            name,
            data: EventData::from_value(&data),
        }
    }

    fn user_event(name: &'static str, user: &DirectoryUser, organization_id: Option<&str>) -> Self {
        Self {
            name,
            data: EventData::user(user, organization_id, None),
        }
    }

    fn group_event(
        name: &'static str,
        group: &DirectoryGroup,
        organization_id: Option<&str>,
    ) -> Self {
        Self {
            name,
            data: EventData::group(group, organization_id),
        }
    }
}

/// [`memberships`], writing the user's object only when there is a group to put it in.
fn memberships_of<'a>(
    name: &'static str,
    user: &DirectoryUser,
    groups: impl IntoIterator<Item = &'a DirectoryGroup>,
    organization_id: Option<&str>,
) -> Vec<EventDraft> {
    let mut groups = groups.into_iter().peekable();
    if groups.peek().is_none() {
        return Vec::new();
    }
    let user_object = EventData::user(user, organization_id, None);
    memberships(name, &user_object, groups, organization_id)
}

/// The Directory User object (with `raw_attributes` uncapped), for readers of the directory.
pub fn user_payload(user: &DirectoryUser, organization_id: Option<&str>) -> Value {
    parsed(|out| write_user(out, user, organization_id, None, Raw::Whole))
}

/// For each visible attribute of the Directory User object that differs between `old` and
/// `new`, its old value (see [`previous_attributes`], whose result this equals for the two
/// users' objects), compared on the users themselves: no object is built for either side.
/// `organization_id` is left out: both objects carry the directory's.
fn previous_user_attributes(old: &DirectoryUser, new: &DirectoryUser) -> Map<String, Value> {
    let (before, after) = (&old.attributes, &new.attributes);
    let mut previous = Map::new();
    let mut changed = |key: &str, differs: bool, value: &dyn Fn() -> Value| {
        if differs {
            previous.insert(key.to_owned(), value());
        }
    };
    changed(
        "directory_id",
        old.directory_id != new.directory_id,
        &|| Value::String(old.directory_id.into()),
    );
    changed("idp_id", before.idp_id != after.idp_id, &|| {
        Value::String(before.idp_id.clone())
    });
    changed("username", before.username != after.username, &|| {
        Value::String(before.username.clone())
    });
    changed("state", old.state != new.state, &|| {
        Value::from(old.state.as_str())
    });
    changed("email", before.email != after.email, &|| {
        text(&before.email)
    });
    changed("first_name", before.first_name != after.first_name, &|| {
        text(&before.first_name)
    });
    changed("last_name", before.last_name != after.last_name, &|| {
        text(&before.last_name)
    });
    changed("name", before.name != after.name, &|| text(&before.name));
    changed("job_title", before.job_title != after.job_title, &|| {
        text(&before.job_title)
    });
    changed("emails", before.emails != after.emails, &|| {
        Value::Array(before.emails.iter().map(email_payload).collect())
    });
    changed(
        "custom_attributes",
        before.custom_attributes != after.custom_attributes,
        &|| {
            Value::Object(previous_custom(
                &before.custom_attributes,
                &after.custom_attributes,
            ))
        },
    );
    // The object shows a missing role as `null`.
    let role = |user: &DirectoryUser| user.attributes.role.clone().unwrap_or(Value::Null);
    let roles_differ =
        before.role.as_ref().unwrap_or(&Value::Null) != after.role.as_ref().unwrap_or(&Value::Null);
    changed("role", roles_differ, &|| role(old));
    changed("roles", before.roles != after.roles, &|| {
        Value::Array(before.roles.clone())
    });
    previous
}

/// A JSON object of owned values, inserted one by one (collecting them into the map gathers
/// and sorts them in a vector first).
fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    let mut object = Map::new();
    for (key, value) in entries {
        object.insert(key.to_owned(), value);
    }
    Value::Object(object)
}

fn text(value: &Option<String>) -> Value {
    value.clone().map_or(Value::Null, Value::String)
}

/// The Directory Group object (with `raw_attributes` uncapped).
pub fn group_payload(group: &DirectoryGroup, organization_id: Option<&str>) -> Value {
    parsed(|out| write_group(out, group, organization_id, Raw::Whole))
}

/// The data of `dsync.token.created` and `dsync.token.revoked`: the token's id and last
/// characters (see [`token_suffix`]), never the token.
pub fn token_payload(
    token_id: &str,
    directory_id: &str,
    organization_id: Option<&str>,
    suffix: &str,
    created_at: i64,
) -> Value {
    json!({
        "object": "directory_token",
        "id": token_id,
        "directory_id": directory_id,
        "organization_id": organization_id,
        "token_suffix": suffix,
        "created_at": format_millis(created_at),
    })
}

/// The last [`TOKEN_SUFFIX_CHARS`] characters of a token, enough to tell tokens apart.
pub fn token_suffix(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    chars[chars.len().saturating_sub(TOKEN_SUFFIX_CHARS)..]
        .iter()
        .collect()
}

/// The data of `dsync.group.user_added` and `dsync.group.user_removed`.
pub fn membership_payload(
    user: &DirectoryUser,
    group: &DirectoryGroup,
    organization_id: Option<&str>,
) -> Value {
    membership_data(user_payload(user, organization_id), group, organization_id)
}

fn membership_data(
    user_object: Value,
    group: &DirectoryGroup,
    organization_id: Option<&str>,
) -> Value {
    object([
        ("directory_id", Value::String(group.directory_id.into())),
        ("user", user_object),
        ("group", group_payload(group, organization_id)),
    ])
}

/// For each changed top-level attribute its old value, and under `custom_attributes` the old
/// value of each changed custom attribute (`null` where it did not exist). Empty when nothing
/// visible changed.
pub fn previous_attributes(old: &Value, new: &Value) -> Map<String, Value> {
    let empty = Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let mut previous = Map::new();
    for (key, value) in new {
        let before = old.get(key).unwrap_or(&Value::Null);
        if NOT_DIFFED.contains(&key.as_str()) || before == value {
            continue;
        }
        let entry = if key == "custom_attributes" {
            let (before, value) = (before.as_object(), value.as_object());
            Value::Object(previous_custom(
                before.unwrap_or(&empty),
                value.unwrap_or(&empty),
            ))
        } else {
            before.clone()
        };
        previous.insert(key.clone(), entry);
    }
    previous
}

fn previous_custom(old: &Map<String, Value>, new: &Map<String, Value>) -> Map<String, Value> {
    let removed = old.keys().filter(|key| !new.contains_key(*key));
    new.keys()
        .chain(removed)
        .filter(|key| old.get(*key) != new.get(*key))
        .map(|key| (key.clone(), old.get(key).cloned().unwrap_or(Value::Null)))
        .collect()
}

fn with_previous(
    name: &'static str,
    previous: Map<String, Value>,
    mut data: Value,
) -> Option<EventDraft> {
    if previous.is_empty() {
        return None;
    }
    if let Value::Object(map) = &mut data {
        map.insert("previous_attributes".to_owned(), Value::Object(previous));
    }
    Some(EventDraft::new(name, data))
}

fn email_payload(email: &Email) -> Value {
    object([
        ("primary", Value::Bool(email.primary)),
        ("type", text(&email.r#type)),
        ("value", Value::String(email.value.clone())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{UserAttributes, UserState};
    use crate::ids::{DirectoryId, DirectoryUserId, ProviderUserId};

    #[test]
    fn previous_attributes_lists_changed_and_missing_values() {
        let old = json!({
            "id": "a", "updated_at": "t1", "raw_attributes": {"x": 1},
            "first_name": "Jane", "job_title": null, "state": "active",
            "custom_attributes": {"department": "R&D", "division": "Core"}
        });
        let new = json!({
            "id": "a", "updated_at": "t2", "raw_attributes": {"x": 2},
            "first_name": "Janet", "job_title": "CTO", "state": "active",
            "custom_attributes": {"department": "Sales", "cost_center": "CC-1"}
        });
        let previous = Value::Object(previous_attributes(&old, &new));
        assert_eq!(
            previous,
            json!({
                "first_name": "Jane",
                "job_title": null,
                "custom_attributes": {"department": "R&D", "cost_center": null, "division": "Core"}
            })
        );
    }

    fn user(attributes: UserAttributes) -> DirectoryUser {
        DirectoryUser {
            id: DirectoryUserId::generate(),
            directory_id: DirectoryId::generate(),
            provider_user_id: ProviderUserId::generate(),
            state: UserState::Active,
            attributes,
            inactive_since: None,
            created_at: 1,
            updated_at: 2,
        }
    }

    /// `user_updated` computes the old side field by field; it must say exactly what diffing
    /// the two whole objects says.
    #[test]
    fn an_update_lists_what_diffing_the_whole_objects_lists() {
        let old = user(UserAttributes {
            idp_id: "00u1".into(),
            username: "jane".into(),
            email: Some("jane@acme.test".into()),
            emails: vec![Email {
                primary: true,
                r#type: Some("work".into()),
                value: "jane@acme.test".into(),
            }],
            first_name: Some("Jane".into()),
            last_name: None,
            job_title: Some("Engineer".into()),
            custom_attributes: json!({"department": "R&D", "division": "Core"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            raw_attributes: json!({"x": 1}),
            role: None,
            roles: Vec::new(),
            name: Some("Jane".into()),
        });
        let mut new = old.clone();
        new.updated_at = 3;
        new.state = UserState::Inactive;
        new.attributes.username = "janet".into();
        new.attributes.email = None;
        new.attributes.emails.clear();
        new.attributes.last_name = Some("Doe".into());
        new.attributes.custom_attributes.remove("division");
        new.attributes
            .custom_attributes
            .insert("cost_center".into(), json!("CC-1"));
        new.attributes.raw_attributes = json!({"x": 2});
        new.attributes.role = Some(Value::Null);
        new.attributes.roles = vec![json!({"slug": "admin"})];
        let expected = previous_attributes(
            &user_payload(&old, Some("org_1")),
            &user_payload(&new, Some("org_1")),
        );
        let event = EventDraft::user_updated(&old, &new, Some("org_1")).expect("an update");
        assert_eq!(
            event.data.to_value()["previous_attributes"],
            Value::Object(expected)
        );
        assert_eq!(
            event.data.to_value()["previous_attributes"]["username"],
            "jane"
        );
        assert!(event.data.to_value()["previous_attributes"]
            .get("role")
            .is_none());

        let mut same = old.clone();
        same.updated_at = 9;
        same.attributes.raw_attributes = json!({"x": 3});
        assert_eq!(EventDraft::user_updated(&old, &same, None), None);
    }

    #[test]
    fn nothing_visible_changed_means_no_previous_attributes() {
        let old = json!({"id": "a", "updated_at": "t1", "raw_attributes": {"x": 1}, "name": "G"});
        let new = json!({"id": "a", "updated_at": "t2", "raw_attributes": {"x": 2}, "name": "G"});
        assert!(previous_attributes(&old, &new).is_empty());
    }

    #[test]
    fn a_token_event_shows_only_the_suffix() {
        let token = "dsync_scim_abcdefghijklmnopWXYZ";
        let suffix = token_suffix(token);
        assert_eq!(suffix, "WXYZ");
        let data = token_payload("directory_token_1", "directory_1", None, &suffix, 0);
        assert_eq!(data["token_suffix"], "WXYZ");
        assert!(!data.to_string().contains("abcdefgh"));
        assert_eq!(token_suffix("ab"), "ab");
    }

    #[test]
    fn names_are_the_public_ones() {
        assert!(ALL.iter().all(|name| name.starts_with("dsync.")));
        assert!(ALL.contains(&"dsync.group.user_removed"));
    }
}
