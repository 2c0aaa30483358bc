//! SCIM `startIndex` paging whose cost does not grow with the directory.
//!
//! Users and groups are listed in id order (ids are time-ordered, so new records go to the
//! end). After serving a full page at `startIndex = s` with `count = c`, the sort key of its
//! last record is saved as a *cursor* for position `s + c` (a small item in the directory
//! table, expiring after an hour). The next page, the way identity providers import
//! (1, 101, 201, …), finds that cursor with one Query and reads `c` records after it: O(c)
//! per page. A start without a cursor of its own starts from the nearest cursor before it
//! (or the beginning) and skips the difference reading keys only; only a random jump pays for
//! that skip. Records created or deleted between pages shift positions as with any offset
//! paging (RFC 7644 §3.4.2.4 promises no more).

use aws_sdk_dynamodb::types::AttributeValue;
use dsync_domain::ids::DirectoryId;
use dsync_domain::model::{ProviderGroup, ProviderUser};
use dsync_domain::time::now_millis;

use crate::error::backend;
use crate::item::{n, s, Item, ItemExt};
use crate::keys::{provider_pk, GROUP_PREFIX, PK, SK, USER_PREFIX};
use crate::record_counts::RecordKind;
use crate::{Store, StoreError};

/// How long a page cursor is kept: an import runs well within it.
const CURSOR_TTL_SECONDS: i64 = 3600;
/// Keys read per Query while skipping to a start without a cursor.
const SKIP_BATCH: u64 = 1000;

fn prefix(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Users => USER_PREFIX,
        RecordKind::Groups => GROUP_PREFIX,
    }
}

fn cursor_pk(directory: &DirectoryId, kind: RecordKind) -> String {
    let kind = match kind {
        RecordKind::Users => "USERS",
        RecordKind::Groups => "GROUPS",
    };
    format!("SCIMPAGE#{directory}#{kind}")
}

fn cursor_sk(position: u64) -> String {
    format!("{position:020}")
}

impl Store {
    /// The users at positions `start_index..start_index + count` (1-based) in id order.
    pub async fn users_at(
        &self,
        directory: &DirectoryId,
        start_index: u64,
        count: u64,
    ) -> Result<Vec<ProviderUser>, StoreError> {
        let items = self
            .records_at(directory, RecordKind::Users, start_index, count)
            .await?;
        items
            .iter()
            .map(crate::provider_users::decode_user)
            .collect()
    }

    /// The groups at positions `start_index..start_index + count`; a group being deleted
    /// keeps its position until its sweep ends but is not listed.
    pub async fn groups_at(
        &self,
        directory: &DirectoryId,
        start_index: u64,
        count: u64,
    ) -> Result<Vec<ProviderGroup>, StoreError> {
        let items = self
            .records_at(directory, RecordKind::Groups, start_index, count)
            .await?;
        items
            .iter()
            .filter(|item| !crate::provider_groups::is_deleting(item))
            .map(crate::provider_groups::decode_group)
            .collect()
    }

    async fn records_at(
        &self,
        directory: &DirectoryId,
        kind: RecordKind,
        start_index: u64,
        count: u64,
    ) -> Result<Vec<Item>, StoreError> {
        let pk = provider_pk(directory);
        let prefix = prefix(kind);
        let start_index = start_index.max(1);
        let (mut position, mut after) = self
            .nearest_cursor(directory, kind, start_index)
            .await?
            .unwrap_or((1, None));
        while position < start_index {
            let want = (start_index - position).min(SKIP_BATCH);
            let (skipped, last) = self.prefix_keys(&pk, prefix, after.take(), want).await?;
            position += skipped;
            match last {
                Some(last) => after = Some(last),
                None => return Ok(Vec::new()),
            }
        }
        let mut items = Vec::new();
        let mut next = after;
        while (items.len() as u64) < count {
            let want = (count - items.len() as u64) as i32;
            let (page, last) = self.query_prefix_page(&pk, prefix, next, want).await?;
            items.extend(page);
            match last {
                Some(last) => next = Some(last),
                None => return Ok(items),
            }
        }
        if let Some(last) = items.last().and_then(|item| item.opt_str_attr(SK)) {
            self.save_cursor(directory, kind, start_index + count, last)
                .await?;
        }
        Ok(items)
    }

    /// The cursor at or before `position`: (its position, the sort key it follows).
    async fn nearest_cursor(
        &self,
        directory: &DirectoryId,
        kind: RecordKind,
        position: u64,
    ) -> Result<Option<(u64, Option<String>)>, StoreError> {
        if position <= 1 {
            return Ok(None);
        }
        let output = self
            .client
            .query()
            .table_name(&self.tables.directory)
            .key_condition_expression("pk = :pk AND sk <= :sk")
            .expression_attribute_values(":pk", s(cursor_pk(directory, kind)))
            .expression_attribute_values(":sk", s(cursor_sk(position)))
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(backend)?;
        let Some(item) = output.items.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        // An expired cursor may still be there until TTL removes it: it is as good as new,
        // since it only names a position.
        let at = item
            .opt_str_attr(SK)
            .and_then(|sk| sk.parse::<u64>().ok())
            .ok_or_else(|| StoreError::corrupt("page cursor without a position"))?;
        Ok(Some((at, item.opt_str_attr("after").map(str::to_owned))))
    }

    async fn save_cursor(
        &self,
        directory: &DirectoryId,
        kind: RecordKind,
        position: u64,
        after: &str,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tables.directory)
            .item(PK, s(cursor_pk(directory, kind)))
            .item(SK, s(cursor_sk(position)))
            .item("type", s("scim_page_cursor"))
            .item("after", s(after))
            .item("expires_at", n(now_millis() / 1000 + CURSOR_TTL_SECONDS))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Up to `limit` sort keys after `after` (keys only): how many, and the last one, or
    /// `None` when the records ran out first.
    async fn prefix_keys(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<String>,
        limit: u64,
    ) -> Result<(u64, Option<String>), StoreError> {
        let start = after.map(|sk| Item::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))]));
        let output = self
            .client
            .query()
            .table_name(&self.tables.provider_records)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .projection_expression("sk")
            .set_exclusive_start_key(start)
            .limit(limit as i32)
            .send()
            .await
            .map_err(backend)?;
        let items = output.items.unwrap_or_default();
        let sk_of = |item: &Item| match item.get(SK) {
            Some(AttributeValue::S(sk)) => Some(sk.clone()),
            _ => None,
        };
        let read = items.len() as u64;
        match output.last_evaluated_key {
            // A short page with more to come (1 MB read): continue from where it stopped.
            Some(key) => Ok((read, sk_of(&key))),
            None if read < limit => Ok((read, None)),
            None => Ok((read, items.last().and_then(sk_of))),
        }
    }
}
