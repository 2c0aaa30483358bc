//! Environment settings and the directory lifecycle as the management API drives it: each
//! directory write that developers hear about commits with its event.
//!
//! The directory item's layout is the one `control.rs` writes (plus `updated_at`), so the SCIM
//! function's `get_directory` reads directories made here unchanged.

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use dsync_domain::directory::EventDraft;
use dsync_domain::ids::{DirectoryId, EnvironmentId};
use dsync_domain::model::{Directory, EnvironmentSettings};
use dsync_domain::secrets::SecretHash;

use crate::error::{backend, is_conditional_failure};
use crate::event_log::{EventScope, StoredEvent};
use crate::item::{n, s, Item, ItemExt};
use crate::keys::*;
use crate::provider_users::build_error;
use crate::{Store, StoreError};

/// A directory with the time it last changed (the domain's `Directory` has no such field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDirectory {
    pub directory: Directory,
    pub updated_at: i64,
    /// What identifies its current SCIM token in token events; `None` for a directory whose
    /// token was issued before tokens had ids.
    pub token: Option<DirectoryToken>,
}

/// A SCIM token's public identity: an id and the token's last characters, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryToken {
    pub id: String,
    pub suffix: String,
    pub created_at: i64,
}

impl DirectoryToken {
    fn write_to(&self, item: &mut Item) {
        item.insert("token_id".to_owned(), s(&self.id));
        item.insert("token_suffix".to_owned(), s(&self.suffix));
        item.insert("token_created_at".to_owned(), n(self.created_at));
    }

    fn read_from(item: &Item) -> Option<Self> {
        Some(Self {
            id: item.opt_str_attr("token_id")?.to_owned(),
            suffix: item.opt_str_attr("token_suffix")?.to_owned(),
            created_at: item.opt_num_attr("token_created_at")?,
        })
    }
}

impl Store {
    /// Replaces an environment's inactive-user settings. `NotFound` when it does not exist.
    pub async fn update_environment_settings(
        &self,
        environment: &EnvironmentId,
        settings: &EnvironmentSettings,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut update =
            "SET inactive_user_policy = :policy, settings_updated_at = :now".to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.directory)
            .key(PK, s(environment_pk(environment)))
            .key(SK, s(ENVIRONMENT_SK))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":policy", s(settings.inactive_user_policy.as_str()))
            .expression_attribute_values(":now", n(now));
        match settings.inactive_user_retention_days {
            Some(days) => {
                update.push_str(", inactive_user_retention_days = :days");
                request = request.expression_attribute_values(":days", n(days));
            }
            None => update.push_str(" REMOVE inactive_user_retention_days"),
        }
        match request.update_expression(update).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::NotFound),
            Err(e) => Err(backend(e)),
        }
    }

    /// Every directory of an environment (a handful: listed whole, paged in memory).
    pub async fn list_directories(
        &self,
        environment: &EnvironmentId,
    ) -> Result<Vec<StoredDirectory>, StoreError> {
        let items = self
            .query_index_all_in(
                &self.tables.directory,
                "gsi1",
                GSI1PK,
                environment_directories(environment),
            )
            .await?;
        items.iter().map(decode_stored_directory).collect()
    }

    /// A directory with its `updated_at`, read consistently.
    pub async fn get_stored_directory(
        &self,
        id: &DirectoryId,
    ) -> Result<StoredDirectory, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.directory)
            .key(PK, s(directory_pk(id)))
            .key(SK, s(DIRECTORY_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        decode_stored_directory(&output.item.ok_or(StoreError::NotFound)?)
    }

    /// Creates `directory` and commits `activated` (`dsync.activated`) with it.
    pub async fn create_directory_with_event(
        &self,
        directory: &Directory,
        activated: EventDraft,
    ) -> Result<StoredEvent, StoreError> {
        self.create_directory_with_events(directory, None, &[activated])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::corrupt("no event was committed"))
    }

    /// Creates the directory, with its token's identity, and commits `events` with it
    /// (`dsync.activated`, `dsync.token.created`). `Duplicate` when the id is taken.
    pub async fn create_directory_with_events(
        &self,
        directory: &Directory,
        token: Option<&DirectoryToken>,
        events: &[EventDraft],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.create_directory_beside(directory, token, Vec::new(), events)
            .await
    }

    /// Creates the directory (with its token's identity, if any) together with `beside` (a
    /// provider's credentials) and `events`, in one transaction: all of them or none.
    /// `Duplicate` when the id is taken.
    pub(crate) async fn create_directory_beside(
        &self,
        directory: &Directory,
        token: Option<&DirectoryToken>,
        beside: Vec<TransactWriteItem>,
        events: &[EventDraft],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut item = encode_directory(directory, directory.created_at);
        if let Some(token) = token {
            token.write_to(&mut item);
        }
        let put = Put::builder()
            .table_name(&self.tables.directory)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let mut writes = vec![TransactWriteItem::builder().put(put).build()];
        writes.extend(self.counter_bases_of_new_directory(&directory.id)?);
        writes.extend(beside);
        self.commit_with_events(&scope_of(directory), writes, events, directory.created_at)
            .await
            .map_err(|e| match e {
                StoreError::Conflict => StoreError::Duplicate,
                e => e,
            })
    }

    /// Replaces a directory's SCIM token (hash and identity) and commits `events` with it
    /// (`dsync.token.revoked` for the old token, `dsync.token.created` for the new). The old
    /// token stops working at once. Conditioned on the token being the one `current` holds, so
    /// two concurrent rotations cannot both revoke it: the loser gets `Conflict`; `NotFound`
    /// when the directory is gone.
    pub async fn replace_directory_token(
        &self,
        current: &StoredDirectory,
        token_hash: &SecretHash,
        token: &DirectoryToken,
        events: &[EventDraft],
        now: i64,
    ) -> Result<StoredDirectory, StoreError> {
        let directory = &current.directory;
        let update = Update::builder()
            .table_name(&self.tables.directory)
            .key(PK, s(directory_pk(&directory.id)))
            .key(SK, s(DIRECTORY_SK))
            .update_expression(
                "SET token_hash = :hash, updated_at = :now, token_id = :tid, \
                 token_suffix = :suffix, token_created_at = :tat",
            )
            .condition_expression(
                "attribute_exists(pk) AND environment_id = :env AND token_hash = :old",
            )
            .expression_attribute_values(":hash", s(token_hash.to_hex()))
            .expression_attribute_values(":old", s(directory.token_hash.to_hex()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":tid", s(&token.id))
            .expression_attribute_values(":suffix", s(&token.suffix))
            .expression_attribute_values(":tat", n(token.created_at))
            .expression_attribute_values(":env", s(directory.environment_id.to_string()))
            .build()
            .map_err(build_error)?;
        let writes = vec![TransactWriteItem::builder().update(update).build()];
        match self
            .commit_with_events(&scope_of(directory), writes, events, now)
            .await
        {
            Ok(_) => {}
            Err(StoreError::Conflict) => {
                return match self.get_stored_directory(&directory.id).await {
                    Ok(_) => Err(StoreError::Conflict),
                    Err(e) => Err(e),
                }
            }
            Err(e) => return Err(e),
        }
        // This process's SCIM authentication stops accepting the old token now.
        self.directories.forget(&directory.id);
        let mut replaced = current.clone();
        replaced.directory.token_hash = token_hash.clone();
        replaced.updated_at = now;
        replaced.token = Some(token.clone());
        Ok(replaced)
    }

    /// Deletes the directory item and commits `deleted` (`dsync.deleted`) with it, leaving a
    /// purge marker in the same transaction; [`Store::purge_directory`] then removes the
    /// records. `NotFound` when the directory is not (or no longer) in this environment.
    pub async fn delete_directory_with_event(
        &self,
        directory: &Directory,
        deleted: EventDraft,
        now: i64,
    ) -> Result<StoredEvent, StoreError> {
        self.delete_directory_with_events(directory, &[deleted], now)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::corrupt("no event was committed"))
    }

    /// Deletes the directory (and so its SCIM token) and marks it for purging, committing
    /// `events` (`dsync.deleted`, and `dsync.token.revoked` for its token) in the same
    /// transaction.
    pub async fn delete_directory_with_events(
        &self,
        directory: &Directory,
        events: &[EventDraft],
        now: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.tables.directory)
            .key(PK, s(directory_pk(&directory.id)))
            .key(SK, s(DIRECTORY_SK))
            .condition_expression("attribute_exists(pk) AND environment_id = :env")
            .expression_attribute_values(":env", s(directory.environment_id.to_string()))
            .build()
            .map_err(build_error)?;
        let marker = Item::from([
            (PK.to_owned(), s(directory_pk(&directory.id))),
            (SK.to_owned(), s(DIRECTORY_PURGE_SK)),
            (GSI1PK.to_owned(), s(PENDING_DIRECTORY_PURGES)),
            (GSI1SK.to_owned(), s(directory.id.to_string())),
            ("type".to_owned(), s("directory_purge")),
            ("directory_id".to_owned(), s(directory.id.to_string())),
            (
                "environment_id".to_owned(),
                s(directory.environment_id.to_string()),
            ),
            ("created_at".to_owned(), n(now)),
        ]);
        let put = Put::builder()
            .table_name(&self.tables.directory)
            .set_item(Some(marker))
            .build()
            .map_err(build_error)?;
        let writes = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        let committed = self
            .commit_with_events(&scope_of(directory), writes, events, now)
            .await
            .map_err(|e| match e {
                // The condition on the directory failed: someone deleted it first.
                StoreError::Conflict => StoreError::NotFound,
                e => e,
            });
        self.directories.forget(&directory.id);
        committed
    }
}

pub(crate) fn scope_of(directory: &Directory) -> EventScope {
    EventScope {
        environment_id: directory.environment_id,
        directory_id: Some(directory.id),
        organization_id: directory.organization_id.clone(),
    }
}

/// The item `control.rs` writes for a directory, plus `updated_at`.
pub(crate) fn encode_directory(directory: &Directory, updated_at: i64) -> Item {
    let mut item = Item::from([
        (PK.to_owned(), s(directory_pk(&directory.id))),
        (SK.to_owned(), s(DIRECTORY_SK)),
        (
            GSI1PK.to_owned(),
            s(environment_directories(&directory.environment_id)),
        ),
        (GSI1SK.to_owned(), s(directory.id.to_string())),
        ("type".to_owned(), s("directory")),
        ("id".to_owned(), s(directory.id.to_string())),
        (
            "environment_id".to_owned(),
            s(directory.environment_id.to_string()),
        ),
        ("name".to_owned(), s(&directory.name)),
        ("kind".to_owned(), s(directory.kind.as_str())),
        ("token_hash".to_owned(), s(directory.token_hash.to_hex())),
        ("created_at".to_owned(), n(directory.created_at)),
        ("updated_at".to_owned(), n(updated_at)),
    ]);
    if let Some(organization) = &directory.organization_id {
        item.insert("organization_id".to_owned(), s(organization));
    }
    item
}

/// Mirrors `control.rs`'s decoding; directories written there have no `updated_at` and count
/// as unchanged since creation.
fn decode_stored_directory(item: &Item) -> Result<StoredDirectory, StoreError> {
    let directory = crate::control::decode_directory(item)?;
    let updated_at = item
        .opt_num_attr("updated_at")
        .unwrap_or(directory.created_at);
    Ok(StoredDirectory {
        directory,
        updated_at,
        token: DirectoryToken::read_from(item),
    })
}
