//! Removing a deleted directory's records: its projected users, groups and memberships, then
//! its provider records, silently (`dsync.deleted` already stands for all of them).
//!
//! The purge is idempotent and resumable. It runs in bounded pages against a deadline; the
//! marker written with the deletion stays until everything is gone, so a purge cut short (a
//! deadline, a crash, a storage error) is finished by a later [`Store::purge_directory`] or
//! [`Store::resume_directory_purges`] call. Until then the leftovers are unreachable: the API
//! answers 404 for anything whose directory no longer exists, SCIM authentication fails for a
//! missing directory, and the policy function skips records of a directory that is gone.

use std::time::Instant;

use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
use dsync_domain::ids::{DirectoryGroupId, DirectoryId};

use crate::error::backend;
use crate::item::{id_attr, s, Item, ItemExt};
use crate::keys::*;
use crate::provider_users::build_error;
use crate::{Store, StoreError};

/// Items read per page: small enough that one page's deletes finish well within a deadline.
const PURGE_PAGE: i32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeProgress {
    /// Everything is removed, the marker too.
    Finished,
    /// The deadline came first; the marker stays for a later call to finish.
    Interrupted,
}

impl Store {
    /// Removes what is left of a deleted directory, until `deadline`.
    pub async fn purge_directory(
        &self,
        directory: &DirectoryId,
        deadline: Instant,
    ) -> Result<PurgeProgress, StoreError> {
        let table = self.tables.directory.clone();
        // Users first, each with its whole partition (the user and its memberships).
        let users = directory_users(directory);
        if !self
            .drain_index(&table, users, deadline, Each::UserPartition)
            .await?
        {
            return Ok(PurgeProgress::Interrupted);
        }
        let groups = directory_groups(directory);
        if !self
            .drain_index(&table, groups, deadline, Each::Group)
            .await?
        {
            return Ok(PurgeProgress::Interrupted);
        }
        let failures = crate::sync_failures::sync_failures_pk(directory);
        if !self.drain_partition(&table, &failures, deadline).await? {
            return Ok(PurgeProgress::Interrupted);
        }
        let counts = crate::user_state_counts::user_counts_pk(directory);
        if !self.drain_partition(&table, &counts, deadline).await? {
            return Ok(PurgeProgress::Interrupted);
        }
        let hr_source = crate::hr_sources::hr_source_pk(directory);
        if !self.drain_partition(&table, &hr_source, deadline).await? {
            return Ok(PurgeProgress::Interrupted);
        }
        let records = self.tables.provider_records.clone();
        if !self
            .drain_partition(&records, &provider_pk(directory), deadline)
            .await?
        {
            return Ok(PurgeProgress::Interrupted);
        }
        self.batch_delete(
            &table,
            vec![key(directory_pk(directory), DIRECTORY_PURGE_SK)],
        )
        .await?;
        tracing::info!(directory_id = %directory, "deleted directory purged");
        Ok(PurgeProgress::Finished)
    }

    /// Deleted directories whose purge has not finished, across environments.
    pub async fn pending_directory_purges(&self) -> Result<Vec<DirectoryId>, StoreError> {
        let items = self
            .query_index_all_in(
                &self.tables.directory,
                "gsi1",
                GSI1PK,
                PENDING_DIRECTORY_PURGES.to_owned(),
            )
            .await?;
        items
            .iter()
            .map(|item| id_attr(item, "directory_id", DirectoryId::parse))
            .collect()
    }

    /// Finishes interrupted purges, oldest first, until `deadline`: for a scheduled job.
    pub async fn resume_directory_purges(
        &self,
        deadline: Instant,
    ) -> Result<PurgeProgress, StoreError> {
        for directory in self.pending_directory_purges().await? {
            if self.purge_directory(&directory, deadline).await? == PurgeProgress::Interrupted {
                return Ok(PurgeProgress::Interrupted);
            }
        }
        Ok(PurgeProgress::Finished)
    }

    /// Deletes a projected user's partition: the user and its effective memberships.
    async fn purge_user_partition(&self, user: Item) -> Result<(), StoreError> {
        let Some(pk) = user.opt_str_attr(PK) else {
            return Ok(());
        };
        let items = self.query_partition(&self.tables.directory, pk).await?;
        let keys = items.iter().filter_map(key_of).collect();
        self.batch_delete(&self.tables.directory, keys).await
    }

    /// Deletes a projected group and any membership still naming it.
    async fn purge_group(&self, group: Item) -> Result<(), StoreError> {
        let id = id_attr(&group, "id", DirectoryGroupId::parse)?;
        let members = self
            .query_index_all_in(
                &self.tables.directory,
                "gsi1",
                GSI1PK,
                directory_group_members(&id),
            )
            .await?;
        let mut keys: Vec<Item> = members.iter().filter_map(key_of).collect();
        keys.extend(key_of(&group));
        self.batch_delete(&self.tables.directory, keys).await
    }

    /// Purges what each item of a GSI1 partition stands for, page by page. `false` when the
    /// deadline stopped it.
    async fn drain_index(
        &self,
        table: &str,
        hash_value: String,
        deadline: Instant,
        each: Each,
    ) -> Result<bool, StoreError> {
        let mut start = None;
        loop {
            if Instant::now() >= deadline {
                return Ok(false);
            }
            let output = self
                .client
                .query()
                .table_name(table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :h")
                .expression_attribute_values(":h", s(&hash_value))
                .set_exclusive_start_key(start)
                .limit(PURGE_PAGE)
                .send()
                .await
                .map_err(backend)?;
            for item in output.items.unwrap_or_default() {
                match each {
                    Each::UserPartition => self.purge_user_partition(item).await?,
                    Each::Group => self.purge_group(item).await?,
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(true),
            }
        }
    }

    /// Deletes every item of partition `pk` of `table`, page by page. `false` when the
    /// deadline stopped it.
    pub(crate) async fn drain_partition(
        &self,
        table: &str,
        pk: &str,
        deadline: Instant,
    ) -> Result<bool, StoreError> {
        let mut start = None;
        loop {
            if Instant::now() >= deadline {
                return Ok(false);
            }
            let output = self
                .client
                .query()
                .table_name(table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk))
                .projection_expression("pk, sk")
                .set_exclusive_start_key(start)
                .limit(PURGE_PAGE)
                .consistent_read(true)
                .send()
                .await
                .map_err(backend)?;
            let keys = output
                .items
                .unwrap_or_default()
                .iter()
                .filter_map(key_of)
                .collect();
            self.batch_delete(table, keys).await?;
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(true),
            }
        }
    }

    /// Idempotent deletes in batches of 25, retrying what DynamoDB leaves unprocessed.
    async fn batch_delete(&self, table: &str, keys: Vec<Item>) -> Result<(), StoreError> {
        let requests = keys
            .into_iter()
            .map(|key| {
                let request = DeleteRequest::builder()
                    .set_key(Some(key))
                    .build()
                    .map_err(build_error)?;
                Ok(WriteRequest::builder().delete_request(request).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write_requests(table, requests).await
    }
}

/// What one item of an index partition stands for, when purging.
#[derive(Clone, Copy)]
enum Each {
    /// A projected user: its whole partition goes.
    UserPartition,
    /// A projected group: it and its memberships go.
    Group,
}

fn key(pk: String, sk: &str) -> Item {
    Item::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

fn key_of(item: &Item) -> Option<Item> {
    Some(key(
        item.opt_str_attr(PK)?.to_owned(),
        item.opt_str_attr(SK)?,
    ))
}
