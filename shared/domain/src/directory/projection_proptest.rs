//! Reconciliation agrees with the incremental path: however a provider user got to its final
//! state (and its directory to its role mapping), projecting step by step ends where
//! projecting the final state from scratch does.

use proptest::prelude::*;

use crate::ids::{DirectoryId, ProviderUserId};
use crate::model::{DirectoryMappings, EnvironmentSettings, InactiveUserPolicy, ProviderUser};

use super::events::{GROUP_USER_ADDED, GROUP_USER_REMOVED, USER_CREATED, USER_DELETED};
use super::model::{DirectoryGroup, UserAttributes, UserState};
use super::projection::{UserOutcome, UserWrite};
use super::roles::{GroupRole, Role, RoleCatalog, RoleMappings};
use super::test_support::*;

const SETTINGS: [(InactiveUserPolicy, Option<u32>); 4] = [
    (InactiveUserPolicy::Delete, None),
    (InactiveUserPolicy::Retain, None),
    (InactiveUserPolicy::Retain, Some(1)),
    (InactiveUserPolicy::Retain, Some(3)),
];

#[derive(Debug, Clone)]
enum Op {
    Activate,
    Deactivate,
    Retitle(u8),
    Department(Option<u8>),
    /// SCIM DELETE, or gone from a pull.
    Delete,
    /// A new provider record after a delete (a new SCIM id).
    Recreate(bool),
    /// The provider's memberships, as a mask over three groups.
    Groups(u8),
    /// Nothing changes at the provider; reconciliation runs.
    Tick,
    /// The environment's policy changes; reconciliation runs.
    Switch(usize),
    /// The directory's group → role mapping changes; reconciliation runs.
    Remap(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Activate),
        Just(Op::Deactivate),
        (0u8..3).prop_map(Op::Retitle),
        proptest::option::of(0u8..2).prop_map(Op::Department),
        Just(Op::Delete),
        any::<bool>().prop_map(Op::Recreate),
        (0u8..8).prop_map(Op::Groups),
        Just(Op::Tick),
        (0..SETTINGS.len()).prop_map(Op::Switch),
        (0..MAPPINGS).prop_map(Op::Remap),
    ]
}

/// The provider's side of the story.
struct Provider {
    directory_id: DirectoryId,
    record: Option<Record>,
    groups_mask: u8,
}

/// A provider record as the SCIM endpoint keeps it: what it says, its last write, and when
/// it was first seen inactive.
struct Record {
    id: ProviderUserId,
    described: Described,
    updated_at: i64,
    inactive_since: Option<i64>,
}

impl Record {
    fn new(described: Described, now: i64) -> Self {
        Self {
            id: ProviderUserId::generate(),
            inactive_since: (!described.active).then_some(now),
            described,
            updated_at: now,
        }
    }
}

impl Provider {
    fn user(&self) -> Option<ProviderUser> {
        let record = self.record.as_ref()?;
        let mut user = provider_user(
            self.directory_id,
            record.id,
            &record.described,
            record.updated_at,
        );
        user.inactive_since = record.inactive_since;
        Some(user)
    }

    fn groups(&self, pool: &[DirectoryGroup]) -> Vec<DirectoryGroup> {
        // Reverse order: storage order must not matter.
        let mut groups: Vec<_> = pool
            .iter()
            .enumerate()
            .filter(|(i, _)| self.groups_mask & (1 << i) != 0)
            .map(|(_, g)| g.clone())
            .collect();
        groups.reverse();
        groups
    }

    /// Applies a provider write; every write moves the record's `updated_at`, as a full PUT
    /// does even when nothing in it changed.
    fn apply(&mut self, op: &Op, now: i64) {
        let write = |record: &mut Option<Record>, change: &dyn Fn(&mut Described)| {
            if let Some(record) = record {
                let was_active = record.described.active;
                change(&mut record.described);
                let active = record.described.active;
                record.inactive_since = match (active, was_active) {
                    (true, _) => None,
                    (false, true) => Some(now),
                    (false, false) => record.inactive_since,
                };
                record.updated_at = now;
            }
        };
        match op {
            Op::Activate => write(&mut self.record, &|d| d.active = true),
            Op::Deactivate => write(&mut self.record, &|d| d.active = false),
            Op::Retitle(n) => write(&mut self.record, &|d| d.title = format!("Title {n}")),
            Op::Department(n) => write(&mut self.record, &|d| {
                d.department = n.map(|n| format!("Dept {n}"))
            }),
            Op::Delete => self.record = None,
            Op::Recreate(active) => {
                if self.record.is_none() {
                    let mut described = Described::active("Engineer");
                    described.active = *active;
                    self.record = Some(Record::new(described, now));
                }
            }
            Op::Groups(mask) => self.groups_mask = *mask,
            Op::Tick | Op::Switch(_) | Op::Remap(_) => {}
        }
    }
}

fn settings_at(index: usize) -> EnvironmentSettings {
    let (policy, days) = SETTINGS[index % SETTINGS.len()];
    let role = |slug: &str| Role {
        slug: slug.into(),
        name: slug.into(),
        description: None,
    };
    EnvironmentSettings {
        roles: RoleCatalog {
            roles: vec![role("admin"), role("editor"), role("member")],
            default_role: Some("member".into()),
        },
        ..settings(policy, days)
    }
}

const MAPPINGS: usize = 4;

/// One of a few group → role mappings over the pool `a`, `b`, `c`.
fn mappings_at(index: usize, pool: &[DirectoryGroup]) -> DirectoryMappings {
    let table: [&[(usize, &str)]; MAPPINGS] = [
        &[],
        &[(0, "admin")],
        &[(0, "editor"), (1, "admin")],
        &[(2, "admin"), (1, "editor"), (0, "gone")],
    ];
    DirectoryMappings {
        roles: RoleMappings {
            groups: table[index % MAPPINGS]
                .iter()
                .filter_map(|(group, role)| {
                    Some(GroupRole {
                        group_id: pool.get(*group)?.id,
                        role: (*role).to_owned(),
                    })
                })
                .collect(),
            idp_roles: Vec::new(),
        },
        custom_attributes: None,
    }
}

/// What reconciliation compares: everything but ids and timestamps.
fn view(sim: &Sim) -> (Option<(UserState, UserAttributes)>, Vec<String>) {
    let user = sim.user.as_ref().map(|u| (u.state, u.attributes.clone()));
    let mut groups: Vec<String> = sim.groups.iter().map(|g| g.name.clone()).collect();
    groups.sort();
    (user, groups)
}

fn assert_event_order(outcome: &UserOutcome) -> Result<(), TestCaseError> {
    let names: Vec<&str> = outcome.events().iter().map(|e| e.name).collect();
    let first = |name: &str| names.iter().position(|n| *n == name);
    let last = |name: &str| names.iter().rposition(|n| *n == name);
    if let (Some(created), Some(added)) = (first(USER_CREATED), first(GROUP_USER_ADDED)) {
        prop_assert!(created < added, "{names:?}");
    }
    if let Some(removed) = last(GROUP_USER_REMOVED) {
        let user_event = names.iter().position(|n| !n.starts_with("dsync.group."));
        prop_assert!(user_event.is_none_or(|u| removed < u), "{names:?}");
        if let Some(added) = first(GROUP_USER_ADDED) {
            prop_assert!(removed < added, "{names:?}");
        }
    }
    if first(USER_DELETED).is_some() {
        prop_assert!(first(GROUP_USER_ADDED).is_none(), "{names:?}");
    }
    Ok(())
}

proptest! {
    // No regression files: they would land outside this module; a failure prints its input.
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn incremental_projection_agrees_with_reconciliation(
        initial in 0..SETTINGS.len(),
        steps in proptest::collection::vec((op(), 0i64..(2 * DAY_MS)), 1..40),
    ) {
        let directory_id = DirectoryId::generate();
        let pool: Vec<DirectoryGroup> = ["a", "b", "c"]
            .iter()
            .map(|name| directory_group(directory_id, name))
            .collect();
        let mut provider = Provider {
            directory_id,
            record: Some(Record::new(Described::active("Engineer"), T0)),
            groups_mask: 0b011,
        };
        let mut sim = Sim::new(settings_at(initial));
        sim.mappings = mappings_at(1, &pool);
        let mut now = T0;

        for (op, elapsed) in &steps {
            now += elapsed;
            provider.apply(op, now);
            if let Op::Switch(index) = op {
                sim.settings = settings_at(*index);
            }
            if let Op::Remap(index) = op {
                sim.mappings = mappings_at(*index, &pool);
            }
            let user = provider.user();
            let groups = provider.groups(&pool);
            let outcome = sim.step(user.as_ref(), &groups, now);

            assert_event_order(&outcome)?;
            let inactive = sim.user.as_ref().is_none_or(|u| u.state == UserState::Inactive);
            prop_assert!(!inactive || sim.groups.is_empty(), "an inactive user is in no group");
            let again = sim.project(user.as_ref(), &groups, now);
            prop_assert_eq!(&again.user, &UserWrite::Unchanged);
            prop_assert!(again.events().is_empty() && again.add_to().is_empty() && again.remove_from().is_empty());
        }

        let mut scratch = Sim::new(sim.settings.clone());
        scratch.mappings = sim.mappings.clone();
        scratch.step(provider.user().as_ref(), &provider.groups(&pool), now);
        prop_assert_eq!(view(&sim), view(&scratch));
    }
}
