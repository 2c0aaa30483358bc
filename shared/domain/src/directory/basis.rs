//! A user projection's basis: a digest of everything an active user's projection is made
//! from. A directory user stores the basis of the projection that last wrote it; while the
//! inputs give the same basis, projecting them again changes nothing (the projection is
//! idempotent), so reconciliation can tell an unchanged user from a small read of the
//! basis alone instead of reading and comparing its whole projection.
//!
//! The inputs: the provider record (its id, `version`, and its `created_at` and `updated_at`,
//! so that a record deleted and written again at version 1 is not the one before), the
//! directory groups the user should be in, the directory's context (its id, organization,
//! mappings and the environment's settings), and [`PROJECTION_RULES`]. Under the secure
//! flow an inactive user has no directory user, so no basis: its expected state is that
//! absence. Under the custom flow with retention, an inactive user's projection depends on
//! the time, so it has no basis and is always projected in full.

use sha2::{Digest, Sha256};

use crate::directory::DirectoryGroup;
use crate::model::{Directory, EnvironmentSettings, InactiveUserPolicy, ProviderUser};

/// Bumped whenever a change to the projection rule can change the projection of unchanged
/// inputs: every stored basis then differs, and the next reconciliation projects every user
/// in full under the new rule.
pub const PROJECTION_RULES: u32 = 1;

/// The part of a basis that every user of a directory shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextDigest {
    digest: [u8; 32],
    policy: InactiveUserPolicy,
    /// Whether an inactive user's projection depends on the time.
    retention: bool,
}

/// What a user at rest looks like in storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtRest {
    /// Its directory user carries this basis.
    Basis(String),
    /// It has no directory user (inactive under the secure flow).
    NoUser,
    /// Nothing tells: it must be projected in full.
    Unknown,
}

impl ContextDigest {
    pub fn new(directory: &Directory, settings: &EnvironmentSettings) -> Self {
        let mut hash = Sha256::new();
        hash.update(PROJECTION_RULES.to_be_bytes());
        hash.update(directory.id.to_string());
        field(
            &mut hash,
            directory.organization_id.as_deref().unwrap_or(""),
        );
        // Serialized as JSON: both hold only structs, vectors and options, so their text is
        // the same for the same value.
        field(
            &mut hash,
            &serde_json::to_string(&directory.mappings).unwrap_or_default(),
        );
        field(
            &mut hash,
            &serde_json::to_string(settings).unwrap_or_default(),
        );
        Self {
            digest: hash.finalize().into(),
            policy: settings.inactive_user_policy,
            retention: settings.inactive_user_retention_days.is_some(),
        }
    }
}

/// How `provider`, projected into `joined` under `context`, is found at rest.
pub fn at_rest(
    provider: &ProviderUser,
    joined: &[DirectoryGroup],
    context: &ContextDigest,
) -> AtRest {
    match (provider.active, context.policy) {
        (false, InactiveUserPolicy::Delete) => AtRest::NoUser,
        _ => user_basis(provider, joined, context).map_or(AtRest::Unknown, AtRest::Basis),
    }
}

/// The basis of projecting `provider` into `joined` (the directory groups it should be in)
/// under `context`; `None` for an inactive user whose projection has none (see the module).
pub fn user_basis(
    provider: &ProviderUser,
    joined: &[DirectoryGroup],
    context: &ContextDigest,
) -> Option<String> {
    if !provider.active && (context.policy == InactiveUserPolicy::Delete || context.retention) {
        return None;
    }
    let mut hash = Sha256::new();
    hash.update(context.digest);
    hash.update([u8::from(provider.active)]);
    hash.update(provider.id.to_string());
    hash.update(provider.version.to_be_bytes());
    hash.update(provider.created_at.to_be_bytes());
    hash.update(provider.updated_at.to_be_bytes());
    let mut groups: Vec<String> = joined.iter().map(|group| group.id.to_string()).collect();
    groups.sort_unstable();
    groups.dedup();
    for group in &groups {
        field(&mut hash, group);
    }
    // 128 bits: a collision would leave one user unreconciled, never anything worse.
    Some(hex::encode(&hash.finalize()[..16]))
}

/// Length-prefixed, so that no two sequences of fields hash alike.
fn field(hash: &mut Sha256, text: &str) {
    hash.update((text.len() as u64).to_be_bytes());
    hash.update(text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::test_support::{directory_group, provider_user, Described, T0};
    use crate::ids::{DirectoryId, EnvironmentId, ProviderUserId};
    use crate::model::ProviderKind;
    use crate::secrets::SecretHash;

    fn directory() -> Directory {
        Directory {
            id: DirectoryId::parse("directory_01J0000000000000000000000A").unwrap(),
            environment_id: EnvironmentId::generate(),
            name: "Acme".into(),
            kind: ProviderKind::OktaScimV2,
            organization_id: None,
            token_hash: SecretHash::of("token"),
            created_at: T0,
            mappings: Default::default(),
        }
    }

    fn user(active: bool) -> ProviderUser {
        let described = if active {
            Described::active("Engineer")
        } else {
            Described::inactive("Engineer")
        };
        provider_user(directory().id, ProviderUserId::generate(), &described, T0)
    }

    fn context() -> ContextDigest {
        ContextDigest::new(&directory(), &EnvironmentSettings::default())
    }

    #[test]
    fn the_same_inputs_give_the_same_basis_whatever_the_group_order() {
        let user = user(true);
        let (a, b) = (
            directory_group(directory().id, "a"),
            directory_group(directory().id, "b"),
        );
        let one = user_basis(&user, &[a.clone(), b.clone()], &context());
        assert!(one.is_some());
        assert_eq!(one, user_basis(&user, &[b, a], &context()));
    }

    #[test]
    fn every_input_moves_the_basis() {
        let user = user(true);
        let groups = [directory_group(directory().id, "a")];
        let base = user_basis(&user, &groups, &context()).unwrap();
        let differs = |other: Option<String>| assert_ne!(Some(&base), other.as_ref());

        let mut written = user.clone();
        written.version += 1;
        written.updated_at += 1;
        differs(user_basis(&written, &groups, &context()));
        let mut recreated = user.clone();
        recreated.created_at += 1;
        differs(user_basis(&recreated, &groups, &context()));
        differs(user_basis(&user, &[], &context()));
        let other_group = [directory_group(directory().id, "a")];
        differs(user_basis(&user, &other_group, &context()));

        let settings = EnvironmentSettings {
            inactive_user_retention_days: Some(30),
            ..EnvironmentSettings::default()
        };
        differs(user_basis(
            &user,
            &groups,
            &ContextDigest::new(&directory(), &settings),
        ));
        let mut organized = directory();
        organized.organization_id = Some("org_1".into());
        let settings = EnvironmentSettings::default();
        differs(user_basis(
            &user,
            &groups,
            &ContextDigest::new(&organized, &settings),
        ));
    }

    /// A tripwire for [`PROJECTION_RULES`]: what fixed inputs project to, as consumers see it
    /// (the user object and each event's name and payload), digested. If this fails, the
    /// projection rule now projects unchanged inputs differently, and users at rest would
    /// keep the old projection: bump `PROJECTION_RULES`, then put the new digest here.
    #[test]
    fn the_projection_of_fixed_inputs_is_what_projection_rules_was_set_for() {
        use crate::directory::projection::{project_user, UserInput, UserWrite};
        use crate::directory::DirectoryUser;
        use crate::ids::{DirectoryGroupId, DirectoryUserId, ProviderGroupId};

        let group = |n: char| DirectoryGroup {
            id: DirectoryGroupId::parse(&format!("directory_group_01J000000000000000000000G{n}"))
                .unwrap(),
            directory_id: directory().id,
            provider_group_id: ProviderGroupId::parse(&format!(
                "provider_group_01J000000000000000000000P{n}"
            ))
            .unwrap(),
            name: format!("Group {n}"),
            idp_id: format!("group-{n}"),
            raw_attributes: serde_json::json!({"displayName": format!("Group {n}")}),
            created_at: T0,
            updated_at: T0,
        };
        let groups = [group('1'), group('2')];
        let id = ProviderUserId::parse("provider_user_01J000000000000000000000V1").unwrap();
        let settings = EnvironmentSettings::default();
        let mappings = crate::model::DirectoryMappings::default();
        fn input<'a>(
            provider: &'a ProviderUser,
            current: Option<&'a DirectoryUser>,
            groups: &'a [DirectoryGroup],
            settings: &'a EnvironmentSettings,
            mappings: &'a crate::model::DirectoryMappings,
        ) -> UserInput<'a> {
            UserInput {
                provider: Some(provider),
                settings,
                mappings,
                current,
                provider_groups: groups,
                current_groups: &[],
                organization_id: Some("org_tripwire"),
                now: T0,
            }
        }
        let engineer = provider_user(directory().id, id, &Described::active("Engineer"), T0);
        let UserWrite::Put(mut current) =
            project_user(&input(&engineer, None, &groups, &settings, &mappings)).user
        else {
            panic!("a new user is put");
        };
        current.id = DirectoryUserId::parse("directory_user_01J000000000000000000000D1").unwrap();
        let manager = provider_user(directory().id, id, &Described::active("Manager"), T0 + 1);
        let outcome = project_user(&input(
            &manager,
            Some(&current),
            &groups,
            &settings,
            &mappings,
        ));

        let mut hash = Sha256::new();
        if let UserWrite::Put(user) = &outcome.user {
            hash.update(serde_json::to_string(user).unwrap());
        }
        for event in outcome.events() {
            field(&mut hash, event.name);
            field(&mut hash, event.data.as_str());
        }
        let digest = hex::encode(&hash.finalize()[..8]);
        assert_eq!(
            (PROJECTION_RULES, digest.as_str()),
            (1, "05af274d0f1b2ab1"),
            "the projection of unchanged inputs changed: bump PROJECTION_RULES"
        );
    }

    #[test]
    fn an_inactive_user_is_at_rest_without_a_user_unless_retention_makes_time_matter() {
        let inactive = user(false);
        assert_eq!(user_basis(&inactive, &[], &context()), None);
        assert_eq!(at_rest(&inactive, &[], &context()), AtRest::NoUser);

        let retain = |days| EnvironmentSettings {
            inactive_user_policy: InactiveUserPolicy::Retain,
            inactive_user_retention_days: days,
            ..EnvironmentSettings::default()
        };
        let kept = ContextDigest::new(&directory(), &retain(None));
        let basis = user_basis(&inactive, &[], &kept).expect("kept, not expiring");
        assert_eq!(at_rest(&inactive, &[], &kept), AtRest::Basis(basis.clone()));
        let mut reactivated = inactive.clone();
        reactivated.active = true;
        assert_ne!(user_basis(&reactivated, &[], &kept), Some(basis));

        let expiring = ContextDigest::new(&directory(), &retain(Some(30)));
        assert_eq!(user_basis(&inactive, &[], &expiring), None);
        assert_eq!(at_rest(&inactive, &[], &expiring), AtRest::Unknown);
    }
}
