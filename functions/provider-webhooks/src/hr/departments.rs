//! Departments as groups: an employee is a member of one provider group per directory, the
//! group named after its department, so applications see departments as directory groups
//! (with `dsync.group.user_added` / `user_removed` when an employee moves). A group's id is
//! derived from the department's name, so every employee of a department finds the same
//! group with a key read. A department that loses its last employee stays, empty.

use dsync_domain::ids::ProviderGroupId;
use dsync_domain::model::{Directory, ProviderGroup, ProviderUser};
use dsync_domain::providers::employee::{department_group_id, department_of};
use dsync_domain::scim::schema::GROUP_SCHEMA;
use dsync_dynamo::{MembershipDiff, Store, StoreError};
use serde_json::json;

use super::apply::ChangeError;

/// Writes that lost a race are retried with jittered backoff: enough for dozens of deliveries
/// racing on one department.
const ATTEMPTS: u32 = 50;

/// Moves `user` into its department's group and out of any other.
pub async fn follow(
    store: &Store,
    directory: &Directory,
    user: &ProviderUser,
    now: i64,
) -> Result<(), ChangeError> {
    let department = department_of(&user.resource);
    let wanted = department.map(|d| department_group_id(&directory.id, d));
    let current = store.groups_of_user(&directory.id, &user.id).await?;
    for group in current.iter().filter(|g| Some(**g) != wanted) {
        let leave = MembershipDiff {
            remove: vec![user.id],
            ..MembershipDiff::default()
        };
        change_members(store, directory, *group, None, &leave, now).await?;
    }
    if let (Some(group), Some(name)) = (wanted, department) {
        if !current.contains(&group) {
            let join = MembershipDiff {
                add: vec![(user.id, None)],
                ..MembershipDiff::default()
            };
            change_members(store, directory, group, Some(name), &join, now).await?;
        }
    }
    Ok(())
}

/// Applies `diff` to a department group under its version, creating the group (named
/// `create_as`) when it does not exist yet.
async fn change_members(
    store: &Store,
    directory: &Directory,
    id: ProviderGroupId,
    create_as: Option<&str>,
    diff: &MembershipDiff,
    now: i64,
) -> Result<(), ChangeError> {
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            crate::retry::backoff(attempt).await;
        }
        let written = match store.get_group(&directory.id, &id).await {
            Ok(group) => {
                let next = ProviderGroup {
                    version: group.version + 1,
                    updated_at: now.max(group.updated_at),
                    ..group.clone()
                };
                store.replace_group(&next, &group, diff, now).await
            }
            Err(StoreError::NotFound) => match create_as {
                None => return Ok(()),
                Some(name) => {
                    let group = ProviderGroup {
                        id,
                        directory_id: directory.id,
                        version: 1,
                        display_name: name.to_owned(),
                        external_id: None,
                        resource: json!({"schemas": [GROUP_SCHEMA], "displayName": name}),
                        created_at: now,
                        updated_at: now,
                    };
                    // Another employee's delivery may create it first (its id is derived
                    // from the name): that is a `Conflict`, and the next attempt joins it.
                    store.create_group(&group, diff, now).await
                }
            },
            Err(e) => return Err(e.into()),
        };
        match written {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict | StoreError::Duplicate) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ChangeError::Contended(format!("department group {id}")))
}
