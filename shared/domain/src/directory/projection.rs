//! The projection rule: what the directory holds for one provider record under the
//! environment's policy, and the events that describe the difference from what it holds now.
//!
//! The stream path (one record changed) and reconciliation (every record) both call these
//! functions, so they cannot disagree. The functions are deterministic apart from the ids of
//! newly created users and groups, and they write nothing when nothing changed, which is what
//! makes re-projection (at-least-once delivery, reconciliation runs) free of effects.

use crate::ids::{DirectoryGroupId, DirectoryUserId, ProviderGroupId};
use crate::model::{
    DirectoryMappings, EnvironmentSettings, InactiveUserPolicy, ProviderGroup, ProviderUser,
};

use super::attributes::{group_from_provider, user_attributes};
use super::event_data::memberships;
use super::events::{EventData, EventDraft, GROUP_USER_ADDED};
use super::model::{DirectoryGroup, DirectoryUser, UserState};
use super::roles::user_roles;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, Copy)]
pub struct UserInput<'a> {
    /// `None`: hard-deleted, or gone from a pull.
    pub provider: Option<&'a ProviderUser>,
    pub settings: &'a EnvironmentSettings,
    /// The directory's role and attribute mappings.
    pub mappings: &'a DirectoryMappings,
    /// The directory user stored now, if any.
    pub current: Option<&'a DirectoryUser>,
    /// The directory groups the provider says this user belongs to (already projected).
    pub provider_groups: &'a [DirectoryGroup],
    /// The effective memberships stored now; ignored when there is no `current` user, since
    /// memberships belong to a directory user.
    pub current_groups: &'a [DirectoryGroup],
    pub organization_id: Option<&'a str>,
    /// Milliseconds; injected so the rule stays a pure function.
    pub now: i64,
}

// One value per projection, moved straight to storage: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum UserWrite {
    Unchanged,
    Put(DirectoryUser),
    Delete(DirectoryUserId),
}

impl UserWrite {
    /// The stored user after this write, given the one before.
    pub fn apply(&self, current: Option<&DirectoryUser>) -> Option<DirectoryUser> {
        match self {
            Self::Unchanged => current.cloned(),
            Self::Put(user) => Some(user.clone()),
            Self::Delete(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserOutcome {
    pub user: UserWrite,
    /// Memberships to drop, sorted by group id. They commit first: a user leaves its groups
    /// (described as it was) before it is deleted, deactivated or changed.
    pub removals: Vec<MembershipChange>,
    /// The event of the user's own write (`created`, `updated` or `deleted`), committed with
    /// it; `None` when the write changes nothing a consumer sees.
    pub own_event: Option<EventDraft>,
    /// Memberships to add, sorted by group id. They commit last: a user joins a group as it
    /// now is, and only once it exists.
    pub additions: Vec<MembershipChange>,
}

/// One membership a projection drops or adds, and the event that announces it. Storage
/// commits each with its event, so a consumer never sees one without the other.
#[derive(Debug, Clone, PartialEq)]
pub struct MembershipChange {
    pub group: DirectoryGroupId,
    /// The provider group the directory group projects (the membership item names it).
    pub provider_group: ProviderGroupId,
    pub event: EventDraft,
}

impl UserOutcome {
    /// Every event, in commit order: removals, the user's own event, additions.
    pub fn events(&self) -> Vec<&EventDraft> {
        let removals = self.removals.iter().map(|change| &change.event);
        let additions = self.additions.iter().map(|change| &change.event);
        removals
            .chain(self.own_event.as_ref())
            .chain(additions)
            .collect()
    }

    /// The groups the user leaves, sorted by id.
    pub fn remove_from(&self) -> Vec<DirectoryGroupId> {
        self.removals.iter().map(|change| change.group).collect()
    }

    /// The groups the user joins, sorted by id.
    pub fn add_to(&self) -> Vec<DirectoryGroupId> {
        self.additions.iter().map(|change| change.group).collect()
    }
}

/// Projects one provider user. Event order follows the rule that a user is created before it
/// joins a group and leaves its groups before it is deleted or deactivated; applying the same
/// order to attribute changes (leave with the old description, join with the new) keeps every
/// membership event consistent with the user events around it.
pub fn project_user(input: &UserInput) -> UserOutcome {
    let current = input.current;
    let org = input.organization_id;

    let held = match current {
        Some(_) => sorted_unique(input.current_groups),
        None => Vec::new(),
    };
    let active = input.provider.is_some_and(|p| p.active);
    let wanted = if active {
        sorted_unique(input.provider_groups)
    } else {
        Vec::new()
    };
    let next = desired_user(input, &wanted);
    let leaving: Vec<&DirectoryGroup> = held
        .iter()
        .copied()
        .filter(|g| wanted.binary_search_by_key(&g.id, |w| w.id).is_err())
        .collect();
    let joining: Vec<&DirectoryGroup> = wanted
        .iter()
        .copied()
        .filter(|g| held.binary_search_by_key(&g.id, |h| h.id).is_err())
        .collect();

    let removals = match current {
        Some(old) => changes(
            &leaving,
            EventDraft::users_removed(old, leaving.iter().copied(), org),
        ),
        None => Vec::new(),
    };
    let (user, own_event) = match (current, next) {
        (None, None) => (UserWrite::Unchanged, None),
        (Some(old), None) => (
            UserWrite::Delete(old.id),
            Some(EventDraft::user_deleted(old, org)),
        ),
        (None, Some(new)) => {
            let created = EventDraft::user_created(&new, org);
            (UserWrite::Put(new), Some(created))
        }
        (Some(old), Some(new)) if *old == new => (UserWrite::Unchanged, None),
        (Some(old), Some(new)) => {
            let updated = EventDraft::user_updated(old, &new, org);
            (UserWrite::Put(new), updated)
        }
    };
    let member = match &user {
        UserWrite::Unchanged => current,
        UserWrite::Put(new) => Some(new),
        UserWrite::Delete(_) => None,
    };
    let additions = match member.filter(|_| !joining.is_empty()) {
        Some(member) => {
            // A created user's event holds exactly the object its joining events carry:
            // they copy its text rather than write it again.
            let written;
            let object = match (current, &own_event) {
                (None, Some(created)) => &created.data,
                _ => {
                    written = EventData::user(member, org, None);
                    &written
                }
            };
            let events = memberships(GROUP_USER_ADDED, object, joining.iter().copied(), org);
            changes(&joining, events)
        }
        None => Vec::new(),
    };

    UserOutcome {
        user,
        removals,
        own_event,
        additions,
    }
}

/// Pairs each group with its event (built in the same order, one per group).
fn changes(groups: &[&DirectoryGroup], events: Vec<EventDraft>) -> Vec<MembershipChange> {
    debug_assert_eq!(groups.len(), events.len());
    groups
        .iter()
        .zip(events)
        .map(|(group, event)| MembershipChange {
            group: group.id,
            provider_group: group.provider_group_id,
            event,
        })
        .collect()
}

/// The directory user that should exist after this projection, if any. It keeps the current
/// id and `created_at` while it exists; a user coming into existence starts afresh. Its roles
/// come from the groups it will be a member of (`groups`), so leaving a group drops its role.
fn desired_user(input: &UserInput, groups: &[&DirectoryGroup]) -> Option<DirectoryUser> {
    let provider = input.provider?;
    let state = UserState::from_active(provider.active);
    let inactive_since = match state {
        UserState::Active => None,
        UserState::Inactive => {
            if input.settings.inactive_user_policy == InactiveUserPolicy::Delete {
                return None;
            }
            let since = inactive_since(input.current, provider, input.now);
            if retention_expired(input.settings, since, provider, input.now) {
                return None;
            }
            Some(since)
        }
    };
    let mut attributes = user_attributes(
        &provider.resource,
        &provider.id,
        input.mappings.custom_attributes.as_deref(),
    );
    (attributes.roles, attributes.role) = user_roles(
        &input.settings.roles,
        &input.mappings.roles,
        groups,
        &provider.resource,
    );
    let Some(current) = input.current else {
        return Some(DirectoryUser {
            id: DirectoryUserId::generate(),
            directory_id: provider.directory_id,
            provider_user_id: provider.id,
            state,
            attributes,
            inactive_since,
            created_at: input.now,
            updated_at: input.now,
        });
    };
    let mut next = DirectoryUser {
        id: current.id,
        directory_id: provider.directory_id,
        provider_user_id: provider.id,
        state,
        attributes,
        inactive_since,
        created_at: current.created_at,
        updated_at: current.updated_at,
    };
    if next != *current {
        next.updated_at = input.now;
    }
    Some(next)
}

/// When an inactive user became inactive: the instant the service first saw it inactive, as
/// its provider record carries it (kept through attribute changes while inactive, cleared on
/// reactivation), which no projection's delay moves. Only a record from before the service
/// kept the instant falls back: to the stored user's, else to its last write, the latest
/// moment the deactivation can have happened. The record wins over the stored user even when
/// later: a user reactivated and deactivated again between two projections (both writes in
/// one stream batch) was inactive only since the second, and an earlier stored instant would
/// have retention delete it early. Never in the future.
fn inactive_since(current: Option<&DirectoryUser>, provider: &ProviderUser, now: i64) -> i64 {
    let stored = current
        .filter(|user| user.state == UserState::Inactive)
        .and_then(|user| user.inactive_since);
    provider
        .inactive_since
        .or(stored)
        .unwrap_or(provider.updated_at)
        .min(now)
}

/// Whether retention has run out: more than N days since the user became inactive. Because
/// that instant lives on the provider record, a user deleted by retention stays deleted while
/// the provider keeps it inactive: every later projection, from the stream or from scratch,
/// finds it expired too. Only a record without the instant (written before the service kept
/// it) also waits for its last write to be N days old, since that write is all a from-scratch
/// projection would know.
fn retention_expired(
    settings: &EnvironmentSettings,
    since: i64,
    provider: &ProviderUser,
    now: i64,
) -> bool {
    let Some(days) = settings.inactive_user_retention_days else {
        return false;
    };
    let limit = i64::from(days).saturating_mul(DAY_MS);
    let expired = now.saturating_sub(since) > limit;
    match provider.inactive_since {
        Some(_) => expired,
        None => expired && now.saturating_sub(provider.updated_at) > limit,
    }
}

/// Sorted by id, each group once: the order of membership writes and events must not depend
/// on the order storage returned them in.
fn sorted_unique(groups: &[DirectoryGroup]) -> Vec<&DirectoryGroup> {
    let mut sorted: Vec<&DirectoryGroup> = groups.iter().collect();
    sorted.sort_by_key(|g| g.id);
    sorted.dedup_by_key(|g| g.id);
    sorted
}

#[derive(Debug, Clone, Copy)]
pub struct GroupInput<'a> {
    /// `None`: deleted, or gone from a pull.
    pub provider: Option<&'a ProviderGroup>,
    pub current: Option<&'a DirectoryGroup>,
    pub organization_id: Option<&'a str>,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GroupWrite {
    Unchanged,
    Put(DirectoryGroup),
    Delete(DirectoryGroupId),
}

impl GroupWrite {
    /// The stored group after this write, given the one before.
    pub fn apply(&self, current: Option<&DirectoryGroup>) -> Option<DirectoryGroup> {
        match self {
            Self::Unchanged => current.cloned(),
            Self::Put(group) => Some(group.clone()),
            Self::Delete(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupOutcome {
    pub group: GroupWrite,
    pub events: Vec<EventDraft>,
}

/// Projects one provider group. A deleted group's memberships are dropped by the caller
/// without events: `dsync.group.deleted` stands for them.
pub fn project_group(input: &GroupInput) -> GroupOutcome {
    let org = input.organization_id;
    let (group, events) = match (input.current, input.provider) {
        (None, None) => (GroupWrite::Unchanged, Vec::new()),
        (Some(old), None) => (
            GroupWrite::Delete(old.id),
            vec![EventDraft::group_deleted(old, org)],
        ),
        (None, Some(provider)) => {
            let new =
                group_from_provider(provider, DirectoryGroupId::generate(), input.now, input.now);
            let event = EventDraft::group_created(&new, org);
            (GroupWrite::Put(new), vec![event])
        }
        (Some(old), Some(provider)) => {
            let mut new = group_from_provider(provider, old.id, old.created_at, old.updated_at);
            if new == *old {
                (GroupWrite::Unchanged, Vec::new())
            } else {
                new.updated_at = input.now;
                let event = EventDraft::group_updated(old, &new, org);
                (GroupWrite::Put(new), event.into_iter().collect())
            }
        }
    };
    GroupOutcome { group, events }
}
