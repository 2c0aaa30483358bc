//! Events as the log holds them: what each carries besides its payload, the envelope the
//! Events API and webhooks deliver it in, and the Events API's filter. Storage numbers and
//! stores them; which events a reader gets is decided here.

use serde_json::{json, Value};

use crate::ids::{DirectoryId, EnvironmentId, EventId};
use crate::time::format_millis;

/// An event as committed to the log.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: EventId,
    pub sequence: u64,
    pub name: String,
    pub data: Value,
    pub created_at: i64,
    pub directory_id: Option<DirectoryId>,
    pub organization_id: Option<String>,
}

impl StoredEvent {
    /// `{"object":"event","id","event","data","created_at"}`, as the Events API and webhooks
    /// deliver it (the WorkOS event object: SDKs written against it read it unchanged).
    pub fn envelope(&self) -> Value {
        json!({
            "object": "event",
            "id": self.id.to_string(),
            "event": self.name,
            "data": self.data,
            "created_at": format_millis(self.created_at),
        })
    }
}

/// Where a batch of events comes from: stamped on each event for filtering.
#[derive(Debug, Clone)]
pub struct EventScope {
    pub environment_id: EnvironmentId,
    pub directory_id: Option<DirectoryId>,
    pub organization_id: Option<String>,
}

/// Which events of an environment's log a reader asked for. Every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Event names; empty means every name.
    pub names: Vec<String>,
    pub directory_id: Option<DirectoryId>,
    pub organization_id: Option<String>,
    /// Milliseconds, inclusive.
    pub range_start: Option<i64>,
    pub range_end: Option<i64>,
}

impl EventFilter {
    pub fn matches(&self, event: &StoredEvent) -> bool {
        (self.names.is_empty() || self.names.contains(&event.name))
            && self
                .directory_id
                .is_none_or(|d| event.directory_id == Some(d))
            && self
                .organization_id
                .as_ref()
                .is_none_or(|o| event.organization_id.as_ref() == Some(o))
            && self.range_start.is_none_or(|t| event.created_at >= t)
            && self.range_end.is_none_or(|t| event.created_at <= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::events::{USER_CREATED, USER_DELETED};

    const AT: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    fn event(
        name: &str,
        directory: Option<DirectoryId>,
        organization: Option<&str>,
    ) -> StoredEvent {
        StoredEvent {
            id: EventId::for_sequence(7, AT),
            sequence: 7,
            name: name.to_owned(),
            data: json!({"object": "directory_user", "id": "directory_user_1"}),
            created_at: AT,
            directory_id: directory,
            organization_id: organization.map(str::to_owned),
        }
    }

    #[test]
    fn the_envelope_is_the_workos_event_object() {
        let stored = event(USER_CREATED, None, None);
        assert_eq!(
            stored.envelope(),
            json!({
                "object": "event",
                "id": stored.id.to_string(),
                "event": "dsync.user.created",
                "data": {"object": "directory_user", "id": "directory_user_1"},
                "created_at": "2026-01-01T00:00:00Z",
            })
        );
    }

    #[test]
    fn an_empty_filter_matches_every_event() {
        assert!(EventFilter::default().matches(&event(USER_DELETED, None, None)));
    }

    #[test]
    fn names_select_any_of_them() {
        let filter = EventFilter {
            names: vec![USER_CREATED.to_owned(), "dsync.group.created".to_owned()],
            ..EventFilter::default()
        };
        assert!(filter.matches(&event(USER_CREATED, None, None)));
        assert!(!filter.matches(&event(USER_DELETED, None, None)));
    }

    #[test]
    fn directory_and_organization_must_be_the_events_own() {
        let (mine, other) = (DirectoryId::generate(), DirectoryId::generate());
        let by_directory = EventFilter {
            directory_id: Some(mine),
            ..EventFilter::default()
        };
        assert!(by_directory.matches(&event(USER_CREATED, Some(mine), None)));
        assert!(!by_directory.matches(&event(USER_CREATED, Some(other), None)));
        // An environment-wide event (say a token's) belongs to no directory.
        assert!(!by_directory.matches(&event(USER_CREATED, None, None)));

        let by_organization = EventFilter {
            organization_id: Some("org_1".to_owned()),
            ..EventFilter::default()
        };
        assert!(by_organization.matches(&event(USER_CREATED, Some(mine), Some("org_1"))));
        assert!(!by_organization.matches(&event(USER_CREATED, Some(mine), Some("org_2"))));
        assert!(!by_organization.matches(&event(USER_CREATED, Some(mine), None)));
    }

    #[test]
    fn the_time_range_includes_both_bounds() {
        let at = event(USER_CREATED, None, None);
        let range = |start: i64, end: i64| EventFilter {
            range_start: Some(start),
            range_end: Some(end),
            ..EventFilter::default()
        };
        assert!(range(AT, AT).matches(&at));
        assert!(!range(AT + 1, AT + 10).matches(&at));
        assert!(!range(AT - 10, AT - 1).matches(&at));
        let open_ended = EventFilter {
            range_start: Some(AT - 1),
            ..EventFilter::default()
        };
        assert!(open_ended.matches(&at));
    }
}
