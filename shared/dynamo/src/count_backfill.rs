//! Counters for directories that hold records from before their counters existed (or whose
//! counter items were lost): the record counts behind SCIM `totalResults` and the
//! directory-user state counts behind a directory's `metadata`.
//!
//! Each counter is a set of sharded items summed on read ([`crate::record_counts`],
//! [`crate::user_state_counts`]). A backfill adds one more item to the set, the *base*,
//! holding `counted − Σ shards`, so that the sum becomes what a walk of the directory
//! counted. Creates and deletes keep committing their `ADD` on a shard meanwhile; every such
//! `ADD` also adds 1 to the shard's `changes`. So the backfill
//!
//! 1. reads every shard (consistent), remembering each one's `changes`,
//! 2. walks the records, counting (consistent Query pages, keys and one attribute only),
//! 3. puts the base in one transaction with a `ConditionCheck` per shard that its `changes`
//!    (or its absence) is still what step 1 read, and with `attribute_not_exists` on the base.
//!
//! If any create or delete committed between steps 1 and 3 the transaction is refused and
//! the backfill starts over, so no concurrent change is lost or counted twice. A directory
//! that never stops changing for the length of a walk stays uncounted this time
//! ([`Backfill::Contended`]) and is tried again by the next reconciliation. The base's
//! existence marks the counter as complete; the directory-user base is written last, so one
//! read of it tells a reconciliation that nothing is left to do.
//!
//! The directory-user walk reads the directory's user index (gsi1), which in DynamoDB is
//! eventually consistent: a state change committed in the moment before step 1 and not yet
//! in the index would be missed (the shard check cannot see it, since it happened before
//! the snapshot). Index propagation takes well under a second, so the backfill waits
//! [`INDEX_SETTLE`] after reading the shards before walking the index.

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use dsync_domain::ids::DirectoryId;

use crate::error::backend;
use crate::item::{n, s, Item, ItemExt};
use crate::keys::{directory_users, provider_pk, GROUP_PREFIX, GSI1PK, PK, SK, USER_PREFIX};
use crate::provider_users::{build_error, condition_failed_item, map_transaction};
use crate::record_counts::{count_keys, RecordKind};
use crate::user_state_counts::{user_counts_keys, user_counts_pk, USER_COUNTS_BASE};
use crate::{Store, StoreError};

/// Whole attempts (snapshot, walk, conditional put) before giving up for this time.
const ATTEMPTS: u32 = 5;
/// Time for the directory-user index to catch up with commits made before the snapshot.
const INDEX_SETTLE: Duration = Duration::from_millis(1_500);
/// Set on a shard by every counted write: how many changes it has taken.
pub(crate) const CHANGES: &str = "changes";

/// What a backfill did for a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backfill {
    /// Every counter already had its base: nothing read but the marker.
    AlreadyCounted,
    /// At least one counter was counted and its base written.
    Counted,
    /// The directory kept changing during every walk; the next run tries again.
    Contended,
}

/// One counter: its shard items (and base) in one partition, and what it sums.
struct Counter {
    table: String,
    pk: String,
    shards: Vec<String>,
    base: String,
    attributes: &'static [&'static str],
    type_name: &'static str,
}

impl Counter {
    /// The put of this counter's base, one value per attribute, if it has none yet.
    fn base_put(&self, values: impl Iterator<Item = i64>) -> Result<TransactWriteItem, StoreError> {
        let mut base = Item::from([
            (PK.to_owned(), s(&self.pk)),
            (SK.to_owned(), s(&self.base)),
            ("type".to_owned(), s(self.type_name)),
        ]);
        for (attribute, value) in self.attributes.iter().zip(values) {
            base.insert((*attribute).to_owned(), n(value));
        }
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(base))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

enum Walk {
    Users,
    Groups,
    DirectoryUsers,
}

impl Store {
    /// Makes the directory's counters exact if they never were (see the module docs).
    /// Cheap when already done: one consistent GetItem.
    pub async fn backfill_counts(&self, directory: &DirectoryId) -> Result<Backfill, StoreError> {
        let user_states = self.user_states_counter(directory);
        if self.base_exists(&user_states).await? {
            return Ok(Backfill::AlreadyCounted);
        }
        let counters = [
            (
                self.record_counter(directory, RecordKind::Users),
                Walk::Users,
            ),
            (
                self.record_counter(directory, RecordKind::Groups),
                Walk::Groups,
            ),
            (user_states, Walk::DirectoryUsers),
        ];
        for (counter, walk) in &counters {
            if !self.backfill_counter(directory, counter, walk).await? {
                tracing::info!(directory_id = %directory, "counter backfill contended; next run retries");
                return Ok(Backfill::Contended);
            }
        }
        tracing::info!(directory_id = %directory, "counters backfilled");
        Ok(Backfill::Counted)
    }

    /// The bases of a directory created now, all zero, to write with it: every record and
    /// directory user it will ever hold is counted on a shard as it is written, so its
    /// counters are complete from the start and no reconciliation walks it to count (nor
    /// waits [`INDEX_SETTLE`] for that).
    pub(crate) fn counter_bases_of_new_directory(
        &self,
        directory: &DirectoryId,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        [
            self.record_counter(directory, RecordKind::Users),
            self.record_counter(directory, RecordKind::Groups),
            self.user_states_counter(directory),
        ]
        .iter()
        .map(|counter| counter.base_put(counter.attributes.iter().map(|_| 0)))
        .collect()
    }

    fn record_counter(&self, directory: &DirectoryId, kind: RecordKind) -> Counter {
        let (shards, base) = count_keys(kind);
        Counter {
            table: self.tables.provider_records.clone(),
            pk: provider_pk(directory),
            shards,
            base,
            attributes: &["n"],
            type_name: "record_count",
        }
    }

    fn user_states_counter(&self, directory: &DirectoryId) -> Counter {
        Counter {
            table: self.tables.directory.clone(),
            pk: user_counts_pk(directory),
            shards: user_counts_keys(),
            base: USER_COUNTS_BASE.to_owned(),
            attributes: &["active", "inactive"],
            type_name: "user_state_count",
        }
    }

    async fn base_exists(&self, counter: &Counter) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&counter.table)
            .key(PK, s(&counter.pk))
            .key(SK, s(&counter.base))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(output.item.is_some())
    }

    /// `true` once the counter has its base (written here or found), `false` when every
    /// attempt met a concurrent change.
    async fn backfill_counter(
        &self,
        directory: &DirectoryId,
        counter: &Counter,
        walk: &Walk,
    ) -> Result<bool, StoreError> {
        for _ in 0..ATTEMPTS {
            if self.base_exists(counter).await? {
                return Ok(true);
            }
            let keys = counter
                .shards
                .iter()
                .map(|sk| Item::from([(PK.to_owned(), s(&counter.pk)), (SK.to_owned(), s(sk))]))
                .collect();
            let snapshot = self.batch_get_items(&counter.table, keys).await?;
            let counted = match walk {
                Walk::Users => vec![self.count_records(directory, USER_PREFIX).await?],
                Walk::Groups => vec![self.count_records(directory, GROUP_PREFIX).await?],
                Walk::DirectoryUsers => {
                    tokio::time::sleep(INDEX_SETTLE).await;
                    self.count_directory_users(directory).await?
                }
            };
            let request = self.base_transaction(counter, &snapshot, &counted)?;
            let result = request.send().await;
            // Index 0 is the base: another backfill wrote it first, which is as good.
            if condition_failed_item(&result, 0).is_some() {
                return Ok(true);
            }
            match map_transaction(result, &[]) {
                Ok(()) => return Ok(true),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    fn base_transaction(
        &self,
        counter: &Counter,
        snapshot: &[Item],
        counted: &[i64],
    ) -> Result<aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder, StoreError>{
        let values = counter
            .attributes
            .iter()
            .zip(counted)
            .map(|(attribute, counted)| {
                let in_shards: i64 = snapshot
                    .iter()
                    .map(|item| item.opt_num_attr::<i64>(attribute).unwrap_or(0))
                    .sum();
                counted - in_shards
            });
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(counter.base_put(values)?);
        for sk in &counter.shards {
            let read = snapshot
                .iter()
                .find(|item| item.opt_str_attr(SK) == Some(sk.as_str()));
            let check = ConditionCheck::builder()
                .table_name(&counter.table)
                .key(PK, s(&counter.pk))
                .key(SK, s(sk))
                .expression_attribute_names("#changes", CHANGES);
            let check = match read.and_then(|item| item.opt_num_attr::<i64>(CHANGES)) {
                Some(changes) => check
                    .condition_expression("#changes = :changes")
                    .expression_attribute_values(":changes", n(changes)),
                // No shard, or one from before `changes` was kept: any counted write since
                // would have added the attribute.
                None => check.condition_expression("attribute_not_exists(#changes)"),
            };
            request = request.transact_items(
                TransactWriteItem::builder()
                    .condition_check(check.build().map_err(build_error)?)
                    .build(),
            );
        }
        Ok(request)
    }

    /// Records of one kind in the directory's partition (consistent, keys only; a group
    /// being deleted is no longer counted).
    async fn count_records(
        &self,
        directory: &DirectoryId,
        prefix: &str,
    ) -> Result<i64, StoreError> {
        let mut count = 0;
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.tables.provider_records)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(provider_pk(directory)))
                .expression_attribute_values(":prefix", s(prefix))
                .projection_expression("sk, deleting")
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            count += output
                .items()
                .iter()
                .filter(|item| !crate::provider_groups::is_deleting(item))
                .count() as i64;
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(count),
            }
        }
    }

    /// The directory's directory users by state: `[active, inactive]`.
    async fn count_directory_users(&self, directory: &DirectoryId) -> Result<Vec<i64>, StoreError> {
        let (mut active, mut inactive) = (0, 0);
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.tables.directory)
                .index_name("gsi1")
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", GSI1PK)
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":pk", s(directory_users(directory)))
                .projection_expression("#state")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            for item in output.items() {
                match item.get("state") {
                    Some(AttributeValue::S(state)) if state == "active" => active += 1,
                    Some(AttributeValue::S(state)) if state == "inactive" => inactive += 1,
                    _ => {}
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(vec![active, inactive]),
            }
        }
    }
}
