//! Roles and custom attributes through the projection rule: computed from the user's groups,
//! the directory's mappings and the environment's catalog, announced as attribute changes.

use serde_json::{json, Value};

use crate::ids::{DirectoryId, ProviderUserId};
use crate::model::{DirectoryMappings, InactiveUserPolicy};

use super::attribute_mapping::AttributeMapping;
use super::events::{GROUP_USER_REMOVED, USER_CREATED, USER_UPDATED};
use super::roles::{GroupRole, Role, RoleCatalog, RoleMappings};
use super::test_support::*;

const T1: i64 = T0 + 60_000;

fn catalog() -> RoleCatalog {
    let role = |slug: &str| Role {
        slug: slug.into(),
        name: slug.into(),
        description: None,
    };
    RoleCatalog {
        roles: vec![role("admin"), role("editor"), role("member")],
        default_role: Some("member".into()),
    }
}

fn user_data(outcome: &super::projection::UserOutcome, name: &str) -> Value {
    outcome
        .events()
        .iter()
        .find(|e| e.name == name)
        .map(|e| e.data.to_value())
        .unwrap_or(Value::Null)
}

#[test]
fn a_user_gets_the_highest_priority_role_of_its_groups_and_loses_it_with_the_group() {
    let directory = DirectoryId::generate();
    let user = ProviderUserId::generate();
    let editors = directory_group(directory, "Editors");
    let admins = directory_group(directory, "Admins");
    let mut sim = Sim::new(settings(InactiveUserPolicy::Delete, None));
    sim.settings.roles = catalog();
    sim.mappings.roles = RoleMappings {
        groups: vec![
            GroupRole {
                group_id: editors.id,
                role: "editor".into(),
            },
            GroupRole {
                group_id: admins.id,
                role: "admin".into(),
            },
        ],
        idp_roles: vec![],
    };
    let jane = provider_user(directory, user, &Described::active("Engineer"), T0);

    let created = sim.step(Some(&jane), &[editors.clone(), admins.clone()], T0);
    let data = user_data(&created, USER_CREATED);
    assert_eq!(data["role"], json!({"slug": "admin"}));
    assert_eq!(
        data["roles"],
        json!([{"slug": "admin"}, {"slug": "editor"}])
    );

    // Leaving the group that gave the primary role: the next one takes over.
    let left = sim.step(Some(&jane), std::slice::from_ref(&editors), T1);
    assert_eq!(names(&left), [GROUP_USER_REMOVED, USER_UPDATED]);
    let updated = user_data(&left, USER_UPDATED);
    assert_eq!(updated["role"], json!({"slug": "editor"}));
    assert_eq!(updated["roles"], json!([{"slug": "editor"}]));
    assert_eq!(
        updated["previous_attributes"],
        json!({"role": {"slug": "admin"}, "roles": [{"slug": "admin"}, {"slug": "editor"}]})
    );

    // No mapped group left: the default role, and no roles.
    let none = sim.step(Some(&jane), &[], T1 + 1);
    let updated = user_data(&none, USER_UPDATED);
    assert_eq!(updated["role"], json!({"slug": "member"}));
    assert_eq!(updated["roles"], json!([]));

    // Projected again, nothing changes and nothing is announced.
    assert!(sim.step(Some(&jane), &[], T1 + 2).events().is_empty());
}

#[test]
fn a_mapping_change_is_a_user_update_with_previous_roles() {
    let directory = DirectoryId::generate();
    let staff = directory_group(directory, "Staff");
    let mut sim = Sim::new(settings(InactiveUserPolicy::Delete, None));
    sim.settings.roles = catalog();
    let jane = provider_user(
        directory,
        ProviderUserId::generate(),
        &Described::active("Engineer"),
        T0,
    );
    sim.step(Some(&jane), std::slice::from_ref(&staff), T0);
    assert_eq!(
        sim.user.as_ref().unwrap().attributes.role,
        Some(json!({"slug": "member"}))
    );

    sim.mappings = DirectoryMappings {
        roles: RoleMappings {
            groups: vec![GroupRole {
                group_id: staff.id,
                role: "editor".into(),
            }],
            idp_roles: vec![],
        },
        custom_attributes: None,
    };
    let outcome = sim.step(Some(&jane), std::slice::from_ref(&staff), T1);
    assert_eq!(names(&outcome), [USER_UPDATED]);
    assert_eq!(
        previous(&outcome, USER_UPDATED),
        json!({"role": {"slug": "member"}, "roles": []})
    );
}

#[test]
fn a_custom_attribute_mapping_change_announces_only_changed_values() {
    let directory = DirectoryId::generate();
    let mut sim = Sim::new(settings(InactiveUserPolicy::Delete, None));
    let mut described = Described::active("Engineer");
    described.department = Some("R&D".into());
    let jane = provider_user(directory, ProviderUserId::generate(), &described, T0);
    sim.step(Some(&jane), &[], T0);
    assert_eq!(
        Value::Object(
            sim.user
                .as_ref()
                .unwrap()
                .attributes
                .custom_attributes
                .clone()
        ),
        json!({"department": "R&D"})
    );

    sim.mappings.custom_attributes = Some(vec![
        AttributeMapping {
            name: "department".into(),
            path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department".into(),
        },
        AttributeMapping {
            name: "job_title".into(),
            path: "title".into(),
        },
    ]);
    let outcome = sim.step(Some(&jane), &[], T1);
    assert_eq!(names(&outcome), [USER_UPDATED]);
    assert_eq!(
        previous(&outcome, USER_UPDATED),
        json!({"custom_attributes": {"job_title": null}})
    );
    // The same mapping again changes nothing.
    assert!(sim.step(Some(&jane), &[], T1 + 1).events().is_empty());
}
