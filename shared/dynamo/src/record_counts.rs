//! How many users and groups a directory has, kept exact by changing a counter in the same
//! transaction as every create and delete, so `totalResults` never needs a scan.
//!
//! A directory's counter is spread over [`SHARDS`] items (one picked at random per write), so
//! concurrent creates in one directory rarely contend for the same item; reading the count is
//! one BatchGetItem of the shards.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use dsync_domain::ids::DirectoryId;

use crate::item::{n, s, Item, ItemExt};
use crate::keys::{provider_pk, PK, SK};
use crate::provider_users::build_error;
use crate::{Store, StoreError};

/// Counter items per directory and kind.
pub(crate) const SHARDS: u32 = 8;

/// What a directory counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Users,
    Groups,
}

impl RecordKind {
    fn name(self) -> &'static str {
        match self {
            Self::Users => "USERS",
            Self::Groups => "GROUPS",
        }
    }
}

fn count_sk(kind: RecordKind, shard: u32) -> String {
    format!("COUNT#{}#{shard}", kind.name())
}

/// The counter's base item, written once by a backfill ([`crate::count_backfill`]).
pub(crate) const BASE_SHARD: &str = "BASE";

/// The sort keys of a counter's shards, and of its base.
pub(crate) fn count_keys(kind: RecordKind) -> (Vec<String>, String) {
    let shards = (0..SHARDS).map(|shard| count_sk(kind, shard)).collect();
    (shards, format!("COUNT#{}#{BASE_SHARD}", kind.name()))
}

impl Store {
    /// Adds `delta` to the directory's count of `kind`, as one item of a transaction.
    pub(crate) fn count_change(
        &self,
        directory: &DirectoryId,
        kind: RecordKind,
        delta: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let shard = rand::random::<u32>() % SHARDS;
        let update = Update::builder()
            .table_name(&self.tables.provider_records)
            .key(PK, s(provider_pk(directory)))
            .key(SK, s(count_sk(kind, shard)))
            // `type` names the item for stream readers, which skip it; `changes` lets a
            // backfill see that a count moved while it walked.
            .update_expression("ADD #n :delta, #changes :one SET #type = :type")
            .expression_attribute_names("#n", "n")
            .expression_attribute_names("#changes", crate::count_backfill::CHANGES)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":delta", n(delta))
            .expression_attribute_values(":type", s("record_count"))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The directory's number of `kind` records (consistent): the shards and the base.
    pub async fn record_count(
        &self,
        directory: &DirectoryId,
        kind: RecordKind,
    ) -> Result<u64, StoreError> {
        let pk = provider_pk(directory);
        let (mut sort_keys, base) = count_keys(kind);
        sort_keys.push(base);
        let keys = sort_keys
            .into_iter()
            .map(|sk| Item::from([(PK.to_owned(), s(&pk)), (SK.to_owned(), s(sk))]))
            .collect();
        let items = self
            .batch_get_items(&self.tables.provider_records, keys)
            .await?;
        let total: i64 = items
            .iter()
            .map(|item| item.opt_num_attr::<i64>("n").unwrap_or(0))
            .sum();
        Ok(total.max(0) as u64)
    }
}
