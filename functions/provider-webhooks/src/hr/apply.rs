//! Employee changes → provider records, through the same store calls the SCIM endpoint
//! makes, so the policy function projects them (and emits the same events) unchanged.
//!
//! Each employee's record has an id derived from its employee id, so a change is a
//! consistent key read and a versioned write; a lost race reads again and re-applies.
//! A change that repeats what is stored writes nothing.

use dsync_domain::model::{inactive_since_after_write, Directory, ProviderUser};
use dsync_domain::providers::employee::{
    apply_fields, new_resource, provider_user_id, EmployeeChange, EmployeeFields,
};
use dsync_domain::scim::resource::{normalize, user_summary};
use dsync_domain::scim::schema::ResourceKind;
use dsync_dynamo::{HrSyncReport, Store, StoreError};

use super::departments;

/// Writes that lost a race are re-read and re-applied, with jittered backoff, up to this many
/// times: enough for dozens of deliveries racing on one employee.
const ATTEMPTS: u32 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Upserted,
    Unchanged,
    Removed,
    Skipped,
}

/// Why one employee's change was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// Another employee of the directory has this work email (a `userName` is unique).
    #[error("employee {0}: its work email is another employee's")]
    EmailTaken(String),
    #[error("employee {0}: the record is not a valid user: {1}")]
    Invalid(String, String),
    #[error("employee {0}: the record kept changing under concurrent writes")]
    Contended(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

impl ChangeError {
    /// A storage failure: the sender should retry the whole delivery.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Store(_) | Self::Contended(_))
    }
}

/// Applies `changes` in order and reports the counts. A change that fails for the
/// employee's own data is counted and skipped; a storage failure stops the run (`Err`), so
/// the caller can have the sender retry.
pub async fn apply_all(
    store: &Store,
    directory: &Directory,
    changes: &[EmployeeChange],
    now: i64,
    source: &str,
) -> Result<HrSyncReport, ChangeError> {
    let mut report = HrSyncReport {
        at: now,
        source: source.to_owned(),
        ..HrSyncReport::default()
    };
    for change in changes {
        match apply(store, directory, change, now).await {
            Ok(Outcome::Upserted) => report.upserted += 1,
            Ok(Outcome::Unchanged) => report.unchanged += 1,
            Ok(Outcome::Removed) => report.removed += 1,
            Ok(Outcome::Skipped) => report.skipped += 1,
            Err(error) if error.is_retryable() => return Err(error),
            Err(error) => {
                report.failed += 1;
                report.error.get_or_insert_with(|| error.to_string());
            }
        }
    }
    Ok(report)
}

pub async fn apply(
    store: &Store,
    directory: &Directory,
    change: &EmployeeChange,
    now: i64,
) -> Result<Outcome, ChangeError> {
    match change {
        EmployeeChange::Upsert {
            employee_id,
            fields,
        } => upsert(store, directory, employee_id, fields, now).await,
        EmployeeChange::Remove { employee_id } => remove(store, directory, employee_id).await,
    }
}

async fn upsert(
    store: &Store,
    directory: &Directory,
    employee_id: &str,
    fields: &EmployeeFields,
    now: i64,
) -> Result<Outcome, ChangeError> {
    let id = provider_user_id(&directory.id, employee_id);
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            crate::retry::backoff(attempt).await;
        }
        let current = match store.get_user(&directory.id, &id).await {
            Ok(user) => Some(user),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        // A change known only by name (no values) cannot create anyone.
        if current.is_none() && fields.is_empty() {
            return Ok(Outcome::Skipped);
        }
        let base = current
            .as_ref()
            .map_or_else(|| new_resource(employee_id), |u| u.resource.clone());
        let resource = normalize(ResourceKind::User, apply_fields(&base, employee_id, fields))
            .map_err(|e| ChangeError::Invalid(employee_id.to_owned(), e.detail.clone()))?
            .resource;
        let outcome = match &current {
            Some(user) if user.resource == resource => Outcome::Unchanged,
            _ => Outcome::Upserted,
        };
        if outcome == Outcome::Upserted {
            let next = record(directory, id, resource, current.as_ref(), now);
            let written = match &current {
                None => store.create_user(&next).await,
                Some(previous) => store.replace_user(&next, previous).await,
            };
            match written {
                Ok(()) => {}
                // Another delivery wrote first (an employee's id is derived, so a create can
                // find it taken by a different record): read again and apply on top.
                Err(StoreError::Conflict) => continue,
                Err(StoreError::Duplicate) => {
                    return Err(ChangeError::EmailTaken(employee_id.to_owned()))
                }
                Err(e) => return Err(e.into()),
            }
            follow_latest(store, directory, next, now).await?;
        }
        return Ok(outcome);
    }
    Err(ChangeError::Contended(employee_id.to_owned()))
}

/// Puts the employee in its department's group. A concurrent delivery may have written a
/// newer record (another department) and followed it before this one follows its own: so
/// after following, the record is read again and, if it changed, its department followed.
/// The writer of the newest record always checks last, so the memberships end as it says.
async fn follow_latest(
    store: &Store,
    directory: &Directory,
    written: ProviderUser,
    now: i64,
) -> Result<(), ChangeError> {
    let mut followed = written;
    for _ in 0..ATTEMPTS {
        departments::follow(store, directory, &followed, now).await?;
        match store.get_user(&directory.id, &followed.id).await {
            Ok(current) if current.version != followed.version => followed = current,
            Ok(_) | Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ChangeError::Contended(format!(
        "department of {}",
        followed.id
    )))
}

async fn remove(
    store: &Store,
    directory: &Directory,
    employee_id: &str,
) -> Result<Outcome, ChangeError> {
    let id = provider_user_id(&directory.id, employee_id);
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            crate::retry::backoff(attempt).await;
        }
        let user = match store.get_user(&directory.id, &id).await {
            Ok(user) => user,
            Err(StoreError::NotFound) => return Ok(Outcome::Unchanged),
            Err(e) => return Err(e.into()),
        };
        match store.delete_user(&user).await {
            Ok(()) => return Ok(Outcome::Removed),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ChangeError::Contended(employee_id.to_owned()))
}

fn record(
    directory: &Directory,
    id: dsync_domain::ids::ProviderUserId,
    resource: serde_json::Value,
    previous: Option<&ProviderUser>,
    now: i64,
) -> ProviderUser {
    let summary = user_summary(&resource);
    let updated_at = previous.map_or(now, |p| now.max(p.updated_at));
    ProviderUser {
        id,
        directory_id: directory.id,
        version: previous.map_or(1, |p| p.version + 1),
        user_name: summary.user_name,
        external_id: summary.external_id,
        active: summary.active,
        inactive_since: inactive_since_after_write(previous, summary.active, updated_at),
        resource,
        created_at: previous.map_or(now, |p| p.created_at),
        updated_at,
    }
}
