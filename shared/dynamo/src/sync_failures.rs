//! Sync failures: provider records the policy function could not project. A record that
//! fails is recorded here with its reason and skipped, so one bad record never stops a
//! stream batch or a reconciliation; the next reconciliation retries it and, when it
//! projects, removes its entry. The management API lists a directory's entries.
//!
//! One partition per directory in the directory table: `SYNCFAIL#<directory_id>` /
//! `USER#<provider_user_id>` or `GROUP#<provider_group_id>`, so listing is one Query and an
//! unchanged failure is one item however often it is retried.

use dsync_domain::ids::DirectoryId;

use crate::error::backend;
use crate::item::{n, s, Item, ItemExt};
use crate::keys::{PK, SK};
use crate::{Store, StoreError};

/// Which record failed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailedRecordKey {
    /// A provider user id.
    User(String),
    /// A provider group id.
    Group(String),
}

impl FailedRecordKey {
    fn sk(&self) -> String {
        match self {
            Self::User(id) => format!("USER#{id}"),
            Self::Group(id) => format!("GROUP#{id}"),
        }
    }

    fn from_sk(sk: &str) -> Option<Self> {
        if let Some(id) = sk.strip_prefix("USER#") {
            return Some(Self::User(id.to_owned()));
        }
        sk.strip_prefix("GROUP#")
            .map(|id| Self::Group(id.to_owned()))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Group(_) => "group",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Self::User(id) | Self::Group(id) => id,
        }
    }
}

/// One quarantined record.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncFailure {
    pub directory_id: DirectoryId,
    pub record: FailedRecordKey,
    /// The last failure's reason, as the store described it (ids and kinds, no record data).
    pub reason: String,
    /// Where it last failed: `stream`, `reconciliation` or `dead_letter`.
    pub source: String,
    pub attempts: u64,
    pub first_failed_at: i64,
    pub last_failed_at: i64,
}

pub(crate) fn sync_failures_pk(directory: &DirectoryId) -> String {
    format!("SYNCFAIL#{directory}")
}

impl Store {
    /// Records (or updates) a record's failure: one item per record, attempts counted.
    pub async fn record_sync_failure(
        &self,
        directory: &DirectoryId,
        record: &FailedRecordKey,
        reason: &str,
        source: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.tables.directory)
            .key(PK, s(sync_failures_pk(directory)))
            .key(SK, s(record.sk()))
            .update_expression(
                "SET #type = :type, directory_id = :dir, reason = :reason, #source = :source, \
                 last_failed_at = :now, first_failed_at = if_not_exists(first_failed_at, :now) \
                 ADD attempts :one",
            )
            .expression_attribute_names("#type", "type")
            .expression_attribute_names("#source", "source")
            .expression_attribute_values(":type", s("sync_failure"))
            .expression_attribute_values(":dir", s(directory.to_string()))
            .expression_attribute_values(":reason", s(truncate(reason, 1000)))
            .expression_attribute_values(":source", s(source))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Removes a record's entry once it projected (idempotent).
    pub async fn clear_sync_failure(
        &self,
        directory: &DirectoryId,
        record: &FailedRecordKey,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.directory)
            .key(PK, s(sync_failures_pk(directory)))
            .key(SK, s(record.sk()))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Every entry of a directory, in record order (kind, then id). The list stays small:
    /// an entry exists only while its record keeps failing.
    pub async fn sync_failures(
        &self,
        directory: &DirectoryId,
    ) -> Result<Vec<SyncFailure>, StoreError> {
        let items = self
            .query_partition(&self.tables.directory, &sync_failures_pk(directory))
            .await?;
        items.iter().map(|item| decode(directory, item)).collect()
    }
}

fn decode(directory: &DirectoryId, item: &Item) -> Result<SyncFailure, StoreError> {
    let sk = item.str_attr(SK)?;
    let record = FailedRecordKey::from_sk(sk)
        .ok_or_else(|| StoreError::corrupt(format!("sync failure key {sk}")))?;
    Ok(SyncFailure {
        directory_id: *directory,
        record,
        reason: item.str_attr("reason")?.to_owned(),
        source: item.str_attr("source")?.to_owned(),
        attempts: item.num_attr("attempts")?,
        first_failed_at: item.num_attr("first_failed_at")?,
        last_failed_at: item.num_attr("last_failed_at")?,
    })
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}
