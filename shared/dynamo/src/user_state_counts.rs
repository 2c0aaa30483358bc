//! How many directory users of a directory are active and inactive, for the directory's
//! `metadata`: kept exact by an `ADD` in the same transaction as every projection commit that
//! creates, deletes, activates or deactivates a directory user, spread over [`SHARDS`] items
//! (one picked at random per write) so a busy directory does not contend on one item; read
//! with one BatchGetItem. The counters live in their own partition of the directory table,
//! `DUSERCOUNT#<directory>`, which the directory's purge removes.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use dsync_domain::directory::{DirectoryUser, UserState};
use dsync_domain::ids::DirectoryId;
use dsync_domain::reconciliation::UserCounts;

use crate::group_commit::CountChange;
use crate::item::{n, s, Item, ItemExt};
use crate::keys::{PK, SK};
use crate::provider_users::build_error;
use crate::record_counts::{RecordKind, SHARDS};
use crate::{Store, StoreError};

pub(crate) fn user_counts_pk(directory: &DirectoryId) -> String {
    format!("DUSERCOUNT#{directory}")
}

fn shard_sk(shard: u32) -> String {
    format!("SHARD#{shard}")
}

/// The base item a backfill writes ([`crate::count_backfill`]).
pub(crate) const USER_COUNTS_BASE: &str = "SHARD#BASE";

/// The sort keys of the shards.
pub(crate) fn user_counts_keys() -> Vec<String> {
    (0..SHARDS).map(shard_sk).collect()
}

/// A directory's counts, as WorkOS's directory `metadata` shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectoryMetadata {
    pub active_users: u64,
    pub inactive_users: u64,
    pub groups: u64,
}

/// How the active and inactive counts move when `before` becomes `after`.
pub(crate) fn state_delta(
    before: Option<&DirectoryUser>,
    after: Option<&DirectoryUser>,
) -> (i64, i64) {
    let count = |user: Option<&DirectoryUser>| match user.map(|u| u.state) {
        Some(UserState::Active) => (1, 0),
        Some(UserState::Inactive) => (0, 1),
        None => (0, 0),
    };
    let (before, after) = (count(before), count(after));
    (after.0 - before.0, after.1 - before.1)
}

impl Store {
    /// The transaction item that moves the counts by `change`, made by `changes` commits.
    pub(crate) fn user_state_change(
        &self,
        change: &CountChange,
        changes: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let CountChange {
            directory,
            active,
            inactive,
        } = change;
        let shard = rand::random::<u32>() % SHARDS;
        let update = Update::builder()
            .table_name(&self.tables.directory)
            .key(PK, s(user_counts_pk(directory)))
            .key(SK, s(shard_sk(shard)))
            .update_expression("ADD active :a, inactive :i, #changes :one SET #type = :type")
            .expression_attribute_names("#type", "type")
            .expression_attribute_names("#changes", crate::count_backfill::CHANGES)
            .expression_attribute_values(":one", n(changes))
            .expression_attribute_values(":a", n(active))
            .expression_attribute_values(":i", n(inactive))
            .expression_attribute_values(":type", s("user_state_count"))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The directory's user counters as one consistent read (one BatchGetItem): how many
    /// counted commits there have been, and how many directory users there are. `None` while
    /// the counters are incomplete (no base yet): their sum then proves nothing.
    pub async fn user_counts(
        &self,
        directory: &DirectoryId,
    ) -> Result<Option<UserCounts>, StoreError> {
        let items = self.user_count_items(directory).await?;
        if !items
            .iter()
            .any(|item| item.opt_str_attr(SK) == Some(USER_COUNTS_BASE))
        {
            return Ok(None);
        }
        let sum = |name: &str| sum_over_shards(&items, name);
        Ok(Some(UserCounts {
            changes: sum(crate::count_backfill::CHANGES),
            users: sum("active") + sum("inactive"),
        }))
    }

    async fn user_count_items(&self, directory: &DirectoryId) -> Result<Vec<Item>, StoreError> {
        let pk = user_counts_pk(directory);
        let keys = user_counts_keys()
            .into_iter()
            .chain([USER_COUNTS_BASE.to_owned()])
            .map(|sk| Item::from([(PK.to_owned(), s(&pk)), (SK.to_owned(), s(sk))]))
            .collect();
        self.batch_get_items(&self.tables.directory, keys).await
    }

    /// Active and inactive directory users (one BatchGetItem of the shards and the base) and groups (the provider group
    /// count, one more): no scan, whatever the directory's size.
    pub async fn directory_metadata(
        &self,
        directory: &DirectoryId,
    ) -> Result<DirectoryMetadata, StoreError> {
        let items = self.user_count_items(directory).await?;
        let sum = |name: &str| sum_over_shards(&items, name);
        Ok(DirectoryMetadata {
            active_users: sum("active"),
            inactive_users: sum("inactive"),
            groups: self.record_count(directory, RecordKind::Groups).await?,
        })
    }
}

/// One attribute summed over a directory's counter items (shards and base); a sum below
/// zero (a decrement whose increment is in another shard) reads as zero.
fn sum_over_shards(items: &[Item], name: &str) -> u64 {
    let total: i64 = items
        .iter()
        .map(|item| item.opt_num_attr::<i64>(name).unwrap_or(0))
        .sum();
    total.max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_state_transitions_move_the_counts() {
        let user = |state| DirectoryUser {
            id: dsync_domain::ids::DirectoryUserId::generate(),
            directory_id: DirectoryId::generate(),
            provider_user_id: dsync_domain::ids::ProviderUserId::generate(),
            state,
            attributes: dsync_domain::directory::user_attributes(
                &serde_json::json!({}),
                &dsync_domain::ids::ProviderUserId::generate(),
                None,
            ),
            inactive_since: None,
            created_at: 0,
            updated_at: 0,
        };
        let (active, inactive) = (user(UserState::Active), user(UserState::Inactive));
        assert_eq!(state_delta(None, Some(&active)), (1, 0));
        assert_eq!(state_delta(Some(&active), Some(&inactive)), (-1, 1));
        assert_eq!(state_delta(Some(&inactive), None), (0, -1));
        assert_eq!(state_delta(Some(&active), Some(&active)), (0, 0));
        assert_eq!(state_delta(None, None), (0, 0));
    }
}
