//! Each environment's event log: totally ordered and gap-free.
//!
//! The sequence number is allocated inside the transaction that commits the events (and the
//! state change they describe): the environment's head item is updated under a condition on
//! its previous value. Two writers cannot both commit the same numbers, and a number is only
//! ever visible once its transaction committed, so a reader paging with `after` never skips
//! an event that commits later with a smaller number.
//!
//! The number a commit is made after comes from a consistent read of the head, or, when this
//! process committed or read it last and nobody else was seen committing lately, from memory
//! (event_heads.rs). Either way it is only the expected value in that condition.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use dsync_domain::directory::EventDraft;
pub use dsync_domain::directory::{EventScope, StoredEvent};
use dsync_domain::ids::{EnvironmentId, EventId};
use dsync_domain::time::now_millis;

use crate::commit_turns::{wait_for_turn, TURN_ATTRIBUTES};
use crate::error::backend;
use crate::event_heads::Head;
use crate::event_pages::{entry_bytes, entry_json, page_item, page_lengths};
use crate::group_commit::{merged_counts, Commit, CommitQueues, GroupedItems, Waiting};
use crate::item::{n, s, Item, ItemExt};
use crate::item_size::MAX_TRANSACTION_BYTES;
use crate::keys::*;
use crate::provider_users::build_error;
use crate::{Store, StoreError};

/// Events are kept at least this long (DynamoDB's TTL removes them some time after).
pub const EVENT_RETENTION_DAYS: i64 = 30;

/// A transaction holds at most 100 items.
pub(crate) const MAX_TRANSACTION_ITEMS: usize = 100;

impl Store {
    /// Commits `writes` and `events` in one transaction, the events numbered after the
    /// environment's current head. A lost race on the head alone is retried here (the writes
    /// are still valid); a failed condition on any of `writes` is `Conflict`, for the caller
    /// to re-read and re-project.
    ///
    /// The events' time (`created_at` and the time inside their ids) is taken at commit,
    /// after the head is read, never earlier than `not_before` (the caller's clock) nor than
    /// the time of the event before them, which the head carries: `created_at` never
    /// decreases in log order, even when a plan made earlier commits after a newer one or
    /// two writers' clocks disagree.
    pub(crate) async fn commit_with_events(
        &self,
        scope: &EventScope,
        writes: Vec<TransactWriteItem>,
        events: &[EventDraft],
        not_before: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.commit(Commit {
            scope: scope.clone(),
            writes,
            counts: None,
            events: events.to_vec(),
            not_before,
        })
        .await
    }

    /// [`Store::commit_with_events`] for a commit that may also move its directory's user
    /// counts; concurrent commits of the environment share transactions (group_commit.rs).
    pub(crate) async fn commit(&self, commit: Commit) -> Result<Vec<StoredEvent>, StoreError> {
        // The log head and the commit's items: callers chunk so this always holds; a plan
        // that breaks it is refused whole rather than half-committed.
        let items = 1 + commit.items();
        if items > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Backend(format!(
                "a transaction of {items} items exceeds DynamoDB's {MAX_TRANSACTION_ITEMS}"
            )));
        }
        let bytes = commit.bytes();
        if bytes > MAX_TRANSACTION_BYTES {
            return Err(StoreError::Backend(format!(
                "a transaction of {bytes} bytes exceeds DynamoDB's {MAX_TRANSACTION_BYTES}"
            )));
        }
        if commit.events.is_empty() {
            let mut writes = commit.writes;
            if let Some(change) = commit.counts {
                writes.push(self.user_state_change(&change, 1)?);
            }
            if !writes.is_empty() {
                self.transact(writes).await?;
            }
            return Ok(Vec::new());
        }
        let environment = commit.scope.environment_id;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let waiting = Waiting {
            commit,
            attempts: 0,
            reply,
        };
        if self.commit_queues.push(&environment, waiting) {
            // The drain runs apart from every caller, so a caller that gives up (its future
            // dropped) strands nobody else's commit.
            let store = self.clone();
            tokio::spawn(async move { store.drain_commits(&environment).await });
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Backend(
                "the commit's transaction was abandoned".to_owned(),
            ))
        })
    }

    async fn drain_commits(&self, environment: &EnvironmentId) {
        let mut guard = DrainGuard {
            queues: &self.commit_queues,
            environment,
            finished: false,
        };
        let mut refused = 0;
        // A turn this drain was granted and its transaction has not ended.
        let mut holding_turn = false;
        loop {
            if self.commit_queues.end_if_empty(environment) {
                break;
            }
            // This process's last known head saves a consistent read; a stale one fails the
            // head's condition and is replaced (see event_heads.rs).
            let guessed = self.event_heads.guess(environment);
            let head = match guessed {
                Some(head) => Ok(head),
                None if self.commit_turns && self.event_heads.contended(environment) => {
                    match self.take_commit_turn(environment).await {
                        Ok(Some(head)) => {
                            refused = 0;
                            holding_turn = true;
                            Ok(head)
                        }
                        Ok(None) => {
                            wait_for_turn(refused).await;
                            refused += 1;
                            continue;
                        }
                        Err(error) => Err(error),
                    }
                }
                None => self.read_event_head(environment).await,
            };
            // Taken after the head is read, so commits that queued meanwhile ride along.
            let group = self.commit_queues.take(environment);
            if group.is_empty() {
                break;
            }
            match head {
                Ok(head) => {
                    if self.commit_group(environment, group, head, guessed).await {
                        holding_turn = false;
                    }
                }
                Err(error) => answer_all(group, &error),
            }
        }
        if holding_turn {
            // Nothing committed on it (every commit conflicted, or failed): end it now rather
            // than hold the environment's other writers up until it lapses.
            self.release_commit_turn(environment).await;
        }
        guard.finished = true;
    }

    /// Sends one transaction for `group` after `head` and answers each commit in it, or
    /// queues it again. `true` when the transaction committed (and so moved the head and
    /// ended any turn).
    async fn commit_group(
        &self,
        environment: &EnvironmentId,
        mut group: Vec<Waiting>,
        head: Head,
        guessed: Option<Head>,
    ) -> bool {
        let now = group
            .iter()
            .map(|w| w.commit.not_before)
            .fold(now_millis(), i64::max)
            .max(head.created_at);
        let (grouped, stored, next) = match self.group_items(environment, &group, head, now) {
            Ok(built) => built,
            Err(error) => {
                answer_all(group, &error);
                return false;
            }
        };
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(grouped.items.clone()))
            .send()
            .await;
        let e = match result {
            Ok(_) => {
                let committed = Head {
                    sequence: next,
                    created_at: now,
                };
                self.event_heads.remember(environment, committed);
                for (waiting, events) in group.into_iter().zip(stored) {
                    let _ = waiting.reply.send(Ok(events));
                }
                return true;
            }
            Err(e) => e,
        };
        let failed = failed_items(&e);
        let head_failed = failed.first() == Some(&0);
        match (head_failed, guessed) {
            // Numbered after a remembered head that was not the head.
            (true, Some(guessed)) => self.event_heads.missed(environment, guessed),
            // Numbered after a head just read: another process committed since.
            (true, None) => self.event_heads.lost_race(environment),
            // The head is unknown: the answer was lost.
            (false, _) if failed.is_empty() => self.event_heads.forget(environment),
            // The head held; another item's condition failed.
            (false, _) => {}
        }
        if !is_cancelled(&e) {
            answer_all(group, &backend(e));
            return false;
        }
        // The commits whose own conditions failed answer Conflict; the rest try again.
        let conflicted = grouped.owners_of(&failed);
        let lost_head = conflicted.is_empty();
        let mut again = Vec::new();
        for (index, mut waiting) in group.drain(..).enumerate() {
            if conflicted.contains(&index) || (lost_head && waiting.attempts >= 50) {
                let _ = waiting.reply.send(Err(StoreError::Conflict));
                continue;
            }
            if lost_head {
                waiting.attempts += 1;
            }
            again.push(waiting);
        }
        let attempt = again.iter().map(|w| w.attempts).max().unwrap_or(0);
        self.commit_queues.requeue(environment, again);
        if lost_head {
            // Another writer took these numbers: take the next ones, after a pause.
            backoff(attempt).await;
        }
        false
    }

    /// The transaction for `group` after `head`: the head update, each commit's writes (a
    /// condition check asked for twice sent once), one counter `ADD` per directory, then the
    /// events numbered in queue order. Returns the items, each commit's stored events and
    /// the new head.
    fn group_items(
        &self,
        environment: &EnvironmentId,
        group: &[Waiting],
        head: Head,
        now: i64,
    ) -> Result<(GroupedItems, Vec<Vec<StoredEvent>>, u64), StoreError> {
        let total: usize = group.iter().map(|w| w.commit.events.len()).sum();
        let next = head.sequence + total as u64;
        let mut grouped =
            GroupedItems::new(self.head_update(environment, head.sequence, next, now)?);
        for (owner, waiting) in group.iter().enumerate() {
            grouped.add_writes(owner, &waiting.commit.writes);
        }
        let commits: Vec<&Commit> = group.iter().map(|w| &w.commit).collect();
        for (change, changes, owners) in merged_counts(&commits) {
            grouped.push(owners, self.user_state_change(&change, changes)?);
        }
        grouped.start_events();
        let mut sequence = head.sequence;
        let mut stored = Vec::with_capacity(group.len());
        // Every event in queue order: its owner, its JSON in a page, and the size its page
        // was planned with (group_commit.rs plans with the same estimate).
        let mut entries: Vec<(usize, String, usize)> = Vec::with_capacity(total);
        for (owner, commit) in commits.iter().enumerate() {
            let organization = commit.scope.organization_id.as_deref();
            let mut events = Vec::with_capacity(commit.events.len());
            for draft in &commit.events {
                sequence += 1;
                let event = StoredEvent {
                    id: EventId::for_sequence(sequence, now),
                    sequence,
                    name: draft.name.to_owned(),
                    data: draft.data.to_value(),
                    created_at: now,
                    directory_id: commit.scope.directory_id,
                    organization_id: commit.scope.organization_id.clone(),
                };
                let planned = entry_bytes(draft.name, draft.data.as_str(), organization);
                entries.push((owner, entry_json(&event, draft.data.as_str()), planned));
                events.push(event);
            }
            stored.push(events);
        }
        let mut first = head.sequence + 1;
        let mut rest = entries.as_slice();
        for length in page_lengths(entries.iter().map(|(_, _, planned)| *planned)) {
            let (page, after) = rest.split_at(length);
            rest = after;
            let mut owners: Vec<usize> = page.iter().map(|(owner, ..)| *owner).collect();
            owners.dedup();
            let texts: Vec<&str> = page.iter().map(|(_, text, _)| text.as_str()).collect();
            let last = first + length as u64 - 1;
            grouped.push(
                owners,
                self.page_put(page_item(environment, first, last, now, &texts))?,
            );
            first = last + 1;
        }
        Ok((grouped, stored, next))
    }

    /// The item of the log holding `sequence`, or the first after it when that event has
    /// expired: the first page keyed at or after it (pages are keyed by their last event).
    /// `range_only` reads just its sequence range and time.
    pub(crate) async fn page_holding(
        &self,
        environment: &EnvironmentId,
        sequence: u64,
        range_only: bool,
    ) -> Result<Option<Item>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.tables.events)
            .key_condition_expression("pk = :pk AND sk >= :seq")
            .expression_attribute_values(":pk", s(environment_pk(environment)))
            .expression_attribute_values(":seq", s(event_sk(sequence)))
            .limit(1)
            .consistent_read(true);
        if range_only {
            query = query
                .projection_expression("#seq, #first, created_at")
                .expression_attribute_names("#seq", "sequence")
                .expression_attribute_names("#first", "first");
        }
        let output = query.send().await.map_err(backend)?;
        Ok(output.items.unwrap_or_default().into_iter().next())
    }

    /// The environment's last sequence number (0 before its first event), read now.
    pub async fn event_head(&self, environment: &EnvironmentId) -> Result<u64, StoreError> {
        Ok(self.read_event_head(environment).await?.sequence)
    }

    /// The last sequence number and the time of the last event (0 when unknown: a head
    /// written before it kept the time), read consistently and remembered.
    async fn read_event_head(&self, environment: &EnvironmentId) -> Result<Head, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.directory)
            .key(PK, s(environment_pk(environment)))
            .key(SK, s(EVENT_HEAD_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(self.remember_head_item(environment, &output.item.unwrap_or_default()))
    }

    /// The head a head item (as read, or as an update returned it) holds, remembered: 0 and
    /// 0 for a head not written yet, or written before it kept the time.
    pub(crate) fn remember_head_item(&self, environment: &EnvironmentId, item: &Item) -> Head {
        let head = Head {
            sequence: item.opt_num_attr("sequence").unwrap_or(0),
            created_at: item.opt_num_attr("created_at").unwrap_or(0),
        };
        self.event_heads.remember(environment, head);
        head
    }

    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_cancelled(&e) => Err(StoreError::Conflict),
            Err(e) => Err(backend(e)),
        }
    }

    fn head_update(
        &self,
        environment: &EnvironmentId,
        previous: u64,
        next: u64,
        created_at: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.tables.directory)
            .key(PK, s(environment_pk(environment)))
            .key(SK, s(EVENT_HEAD_SK))
            .update_expression(format!(
                "SET #seq = :next, created_at = :at REMOVE {TURN_ATTRIBUTES}"
            ))
            .expression_attribute_names("#seq", "sequence")
            .expression_attribute_values(":next", n(next))
            .expression_attribute_values(":at", n(created_at));
        update = if previous == 0 {
            update.condition_expression("attribute_not_exists(#seq)")
        } else {
            update
                .condition_expression("#seq = :previous")
                .expression_attribute_values(":previous", n(previous))
        };
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(build_error)?)
            .build())
    }

    fn page_put(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.tables.events)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

type TransactError =
    SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>;

fn is_cancelled(e: &TransactError) -> bool {
    matches!(
        e.as_service_error(),
        Some(TransactWriteItemsError::TransactionCanceledException(_))
    )
}

/// The indices of the items whose conditions failed, in order, as far as the engine says.
fn failed_items(e: &TransactError) -> Vec<usize> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .enumerate()
            .filter(|(_, reason)| reason.code() == Some("ConditionalCheckFailed"))
            .map(|(index, _)| index)
            .collect(),
        _ => Vec::new(),
    }
}

/// Abandons the queue of a drain that did not finish (see `CommitQueues::abandon`).
struct DrainGuard<'a> {
    queues: &'a CommitQueues,
    environment: &'a EnvironmentId,
    finished: bool,
}

impl Drop for DrainGuard<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.queues.abandon(self.environment);
        }
    }
}

/// Answers every commit of a group with the same failure.
fn answer_all(group: Vec<Waiting>, error: &StoreError) {
    for waiting in group {
        let _ = waiting.reply.send(Err(error.clone()));
    }
}

async fn backoff(attempt: u32) {
    let ceiling = 2u64 << attempt.min(6);
    let millis = rand::random::<u64>() % ceiling + 1;
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}
