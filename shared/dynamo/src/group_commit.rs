//! Group commit: the commits one process makes to an environment's log at the same time
//! share a transaction.
//!
//! Every commit numbers its events after the environment's head, which it updates under a
//! condition inside its transaction (event_log.rs), so the commits of an environment follow
//! one another, one transaction per round trip. When this process has several ready at once
//! (the users of a stream batch, projected concurrently), the first one to arrive starts a
//! drain task and the others queue behind it: each transaction the task sends carries as
//! many queued commits as fit in DynamoDB's 100 items, with one head update for all of them,
//! their events numbered in queue order, one `ConditionCheck` where several commits ask for
//! the same one (the directory's), and one `ADD` per directory for their user-count changes.
//!
//! Each commit stays whole, and its outcome is its own: a cancelled transaction names the
//! items whose conditions failed; the commits that own them answer `Conflict` (to re-read and
//! re-plan, as alone), and the others go back to the front of the queue. Commits that are
//! queued together were all waiting at once, so any order among them is an order they could
//! have committed in; a commit that must follow another (the same user's next chunk) is only
//! made after the first one answered.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use dsync_domain::directory::{EventDraft, EventScope, StoredEvent};
use dsync_domain::ids::{DirectoryId, EnvironmentId};
use tokio::sync::oneshot;

use crate::event_log::MAX_TRANSACTION_ITEMS;
use crate::event_pages::{entry_bytes, page_lengths, PAGE_ITEM_OVERHEAD};
use crate::item_size::{transaction_item_bytes, MAX_TRANSACTION_BYTES};
use crate::keys::{PK, SK};
use crate::StoreError;

/// One commit: writes that must land together with `events`, and the move of a directory's
/// user counts they make.
#[derive(Debug, Clone)]
pub(crate) struct Commit {
    pub(crate) scope: EventScope,
    pub(crate) writes: Vec<TransactWriteItem>,
    pub(crate) counts: Option<CountChange>,
    pub(crate) events: Vec<EventDraft>,
    /// The committer's clock: the events are not dated earlier.
    pub(crate) not_before: i64,
}

impl Commit {
    /// Items it takes in a transaction of its own (beside the head update).
    pub(crate) fn items(&self) -> usize {
        self.writes.len()
            + usize::from(self.counts.is_some())
            + page_lengths(self.entry_sizes()).len()
    }

    /// The planned size of each of its events in a page (event_pages.rs).
    pub(crate) fn entry_sizes(&self) -> impl Iterator<Item = usize> + '_ {
        let organization = self.scope.organization_id.as_deref();
        self.events
            .iter()
            .map(move |event| entry_bytes(event.name, event.data.as_str(), organization))
    }

    /// What its items add to a transaction's size (item_size.rs), its events' pages
    /// estimated from their text.
    pub(crate) fn bytes(&self) -> usize {
        let writes: usize = self.writes.iter().map(transaction_item_bytes).sum();
        writes + events_bytes(self.entry_sizes()) + if self.counts.is_some() { 256 } else { 0 }
    }
}

/// What pages of events of these entry sizes add to a transaction (stored packed, never
/// larger than their text).
fn events_bytes(sizes: impl Iterator<Item = usize>) -> usize {
    let sizes: Vec<usize> = sizes.collect();
    sizes.iter().map(|size| size + 1).sum::<usize>()
        + page_lengths(sizes.iter().copied()).len() * PAGE_ITEM_OVERHEAD
}

/// The bytes a shared transaction is filled to. DynamoDB's limit is 4 MB; a megabyte is left
/// because its documentation does not say how it sizes an update (the key and values, as
/// counted here, or the whole item after it), and a transaction it refuses fails every
/// commit in it. A commit alone is bounded below 3 MB by construction (dsync_domain's
/// `directory::limits`), so it never waits for room.
const SHARED_TRANSACTION_BYTES: usize = MAX_TRANSACTION_BYTES - 1024 * 1024;

/// How a commit moves its directory's active and inactive user counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CountChange {
    pub(crate) directory: DirectoryId,
    pub(crate) active: i64,
    pub(crate) inactive: i64,
}

pub(crate) type Reply = oneshot::Sender<Result<Vec<StoredEvent>, StoreError>>;

pub(crate) struct Waiting {
    pub(crate) commit: Commit,
    /// Transactions lost to another writer of the head so far.
    pub(crate) attempts: u32,
    pub(crate) reply: Reply,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    draining: bool,
}

/// The queues of one client's commits, per environment. A store over another client (a
/// metered or faulty one, in tests) has its own, so its commits go over its own client.
#[derive(Clone, Default)]
pub(crate) struct CommitQueues(Arc<Mutex<HashMap<EnvironmentId, Queue>>>);

impl std::fmt::Debug for CommitQueues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommitQueues")
    }
}

impl CommitQueues {
    fn lock(&self) -> MutexGuard<'_, HashMap<EnvironmentId, Queue>> {
        // A panic while holding the lock leaves the map consistent (every change is one
        // statement), so a poisoned lock is still usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a commit; `true` when nobody drains the environment's queue yet, and the
    /// caller must start the drain.
    pub(crate) fn push(&self, environment: &EnvironmentId, waiting: Waiting) -> bool {
        let mut queues = self.lock();
        let queue = queues.entry(*environment).or_default();
        queue.waiting.push_back(waiting);
        !std::mem::replace(&mut queue.draining, true)
    }

    /// Ends a drain that stopped without emptying its queue (its task was cancelled or
    /// panicked): the waiting commits are dropped, so their callers answer an error instead of
    /// waiting for a drain that will never come, and the next commit starts a new one.
    pub(crate) fn abandon(&self, environment: &EnvironmentId) {
        let abandoned = self.lock().remove(environment);
        drop(abandoned);
    }

    /// Ends the environment's drain if no commit waits (`true`); the next commit starts a
    /// new one.
    pub(crate) fn end_if_empty(&self, environment: &EnvironmentId) -> bool {
        let mut queues = self.lock();
        let empty = queues
            .get(environment)
            .is_none_or(|queue| queue.waiting.is_empty());
        if empty {
            queues.remove(environment);
        }
        empty
    }

    /// Puts commits back at the front, in their order, for the next transaction.
    pub(crate) fn requeue(&self, environment: &EnvironmentId, commits: Vec<Waiting>) {
        let mut queues = self.lock();
        let queue = queues.entry(*environment).or_default();
        for waiting in commits.into_iter().rev() {
            queue.waiting.push_front(waiting);
        }
    }

    /// The commits the next transaction carries: the longest prefix of the queue that fits.
    /// Empty when the queue is, and the drain then ends (the next commit starts another).
    pub(crate) fn take(&self, environment: &EnvironmentId) -> Vec<Waiting> {
        let mut queues = self.lock();
        let Entry::Occupied(mut slot) = queues.entry(*environment) else {
            return Vec::new();
        };
        let queue = slot.get_mut();
        let mut plan = Plan::default();
        let mut taken = Vec::new();
        while let Some(next) = queue.waiting.front() {
            if !plan.try_add(&next.commit) {
                break;
            }
            taken.extend(queue.waiting.pop_front());
        }
        if taken.is_empty() {
            slot.remove();
        }
        taken
    }
}

/// Who owns each item of a grouped transaction, so a failed condition is answered to the
/// commits it belongs to.
pub(crate) struct GroupedItems {
    pub(crate) items: Vec<TransactWriteItem>,
    /// For each item, the indices (in the group) of the commits it belongs to; empty for the
    /// head update.
    pub(crate) owners: Vec<Vec<usize>>,
    events_from: Option<usize>,
}

impl GroupedItems {
    pub(crate) fn new(head_update: TransactWriteItem) -> Self {
        Self {
            items: vec![head_update],
            owners: vec![Vec::new()],
            events_from: None,
        }
    }

    /// Adds commit `owner`'s writes, sharing a condition check another commit already asks for.
    pub(crate) fn add_writes(&mut self, owner: usize, writes: &[TransactWriteItem]) {
        for write in writes {
            let shared = write
                .condition_check
                .as_ref()
                .and_then(|_| self.items.iter().position(|item| item == write));
            match shared {
                Some(index) => self.owners[index].push(owner),
                None => self.push(vec![owner], write.clone()),
            }
        }
    }

    pub(crate) fn push(&mut self, owners: Vec<usize>, item: TransactWriteItem) {
        self.items.push(item);
        self.owners.push(owners);
    }

    /// Where the event puts begin: everything from here on is an event.
    pub(crate) fn start_events(&mut self) {
        self.events_from = Some(self.items.len());
    }

    /// The commits whose own conditions failed at `failed` (indices of cancellation
    /// reasons). When the head's condition failed (`failed` holds 0), the numbers after
    /// it were taken too, and the event puts' conditions failing says nothing of their
    /// commits: only the writes count then.
    pub(crate) fn owners_of(&self, failed: &[usize]) -> Vec<usize> {
        let head_failed = failed.first() == Some(&0);
        let events_from = self.events_from.unwrap_or(self.items.len());
        let mut owners: Vec<usize> = failed
            .iter()
            .filter(|&&index| !(head_failed && index >= events_from))
            .filter_map(|&index| self.owners.get(index))
            .flatten()
            .copied()
            .collect();
        owners.sort_unstable();
        owners.dedup();
        owners
    }
}

/// The user-count changes of a group, one `ADD` per directory: how much each count moves and
/// how many commits moved them (the counters' `changes`).
pub(crate) fn merged_counts(commits: &[&Commit]) -> Vec<(CountChange, i64, Vec<usize>)> {
    let mut merged: Vec<(CountChange, i64, Vec<usize>)> = Vec::new();
    for (owner, change) in commits
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.counts.map(|change| (i, change)))
    {
        match merged
            .iter_mut()
            .find(|(total, ..)| total.directory == change.directory)
        {
            Some((total, changes, owners)) => {
                total.active += change.active;
                total.inactive += change.inactive;
                *changes += 1;
                owners.push(owner);
            }
            None => merged.push((change, 1, vec![owner])),
        }
    }
    merged
}

/// What a transaction being filled holds so far: its item count, size and the keys it writes.
#[derive(Default)]
struct Plan {
    /// Items besides the head update and the event pages.
    items: usize,
    bytes: usize,
    /// The planned size of every event so far, in order: they are paged together.
    entry_sizes: Vec<usize>,
    /// Table and key of each write; condition checks with the exact item they check.
    keys: HashMap<(String, String, String), Option<TransactWriteItem>>,
    count_directories: Vec<DirectoryId>,
}

impl Plan {
    /// Adds `commit` when it can join: the transaction stays within 100 items and
    /// [`SHARED_TRANSACTION_BYTES`] and touches no item twice (DynamoDB refuses that),
    /// identical condition checks aside. A commit alone always fits (`Store::commit` refuses
    /// bigger ones before they queue).
    fn try_add(&mut self, commit: &Commit) -> bool {
        let bytes = commit.bytes();
        let first = self.items == 0 && self.entry_sizes.is_empty();
        if !first && self.bytes + bytes > SHARED_TRANSACTION_BYTES {
            return false;
        }
        let mut new_keys = Vec::new();
        for write in &commit.writes {
            let key = write_key(write);
            match self.keys.get(&key) {
                None => new_keys.push((key, write)),
                Some(Some(check)) if check == write => {}
                Some(_) => return false,
            }
        }
        let new_counter = commit
            .counts
            .is_some_and(|change| !self.count_directories.contains(&change.directory));
        let extra = new_keys.len() + usize::from(new_counter);
        let mut entry_sizes = self.entry_sizes.clone();
        entry_sizes.extend(commit.entry_sizes());
        let pages = page_lengths(entry_sizes.iter().copied()).len();
        if 1 + self.items + extra + pages > MAX_TRANSACTION_ITEMS {
            return false;
        }
        self.items += extra;
        self.entry_sizes = entry_sizes;
        self.bytes += bytes;
        for (key, write) in new_keys {
            let check = write.condition_check.is_some().then(|| write.clone());
            self.keys.insert(key, check);
        }
        if let (true, Some(change)) = (new_counter, &commit.counts) {
            self.count_directories.push(change.directory);
        }
        true
    }
}

/// The table and primary key a transaction item touches.
fn write_key(item: &TransactWriteItem) -> (String, String, String) {
    let (table, key) = if let Some(put) = &item.put {
        (put.table_name(), Some(put.item()))
    } else if let Some(update) = &item.update {
        (update.table_name(), Some(update.key()))
    } else if let Some(delete) = &item.delete {
        (delete.table_name(), Some(delete.key()))
    } else if let Some(check) = &item.condition_check {
        (check.table_name(), Some(check.key()))
    } else {
        ("", None)
    };
    let text = |name: &str| match key.and_then(|key| key.get(name)) {
        Some(AttributeValue::S(value)) => value.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    (table.to_owned(), text(PK), text(SK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::{ConditionCheck, Put};

    thread_local! {
        static ENVIRONMENT: EnvironmentId = EnvironmentId::generate();
        static DIRECTORY: DirectoryId = DirectoryId::generate();
    }

    fn key_item(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PK.to_owned(), AttributeValue::S(pk.to_owned())),
            (SK.to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    }

    fn put(pk: &str) -> TransactWriteItem {
        let put = Put::builder()
            .table_name("t")
            .set_item(Some(key_item(pk, "X")))
            .build()
            .unwrap();
        TransactWriteItem::builder().put(put).build()
    }

    fn check(pk: &str) -> TransactWriteItem {
        let check = ConditionCheck::builder()
            .table_name("t")
            .set_key(Some(key_item(pk, "D")))
            .condition_expression("attribute_exists(pk)")
            .build()
            .unwrap();
        TransactWriteItem::builder().condition_check(check).build()
    }

    fn commit(writes: Vec<TransactWriteItem>, events: usize, counts: bool) -> Commit {
        let draft = EventDraft {
            name: "dsync.user.created",
            data: dsync_domain::directory::EventData::from_value(&serde_json::json!({})),
        };
        Commit {
            scope: EventScope {
                environment_id: ENVIRONMENT.with(|e| *e),
                directory_id: None,
                organization_id: None,
            },
            writes,
            counts: counts.then_some(CountChange {
                directory: DIRECTORY.with(|d| *d),
                active: 1,
                inactive: 0,
            }),
            events: vec![draft; events],
            not_before: 0,
        }
    }

    type Answer = oneshot::Receiver<Result<Vec<StoredEvent>, StoreError>>;

    fn queue_of(commits: Vec<Commit>) -> (CommitQueues, EnvironmentId, Vec<Answer>) {
        let queues = CommitQueues::default();
        let environment = commits[0].scope.environment_id;
        let mut answers = Vec::new();
        for commit in commits {
            let (reply, answer) = oneshot::channel();
            queues.push(
                &environment,
                Waiting {
                    commit,
                    attempts: 0,
                    reply,
                },
            );
            answers.push(answer);
        }
        (queues, environment, answers)
    }

    #[test]
    fn a_transaction_takes_commits_until_the_hundredth_item_sharing_checks_counters_and_pages() {
        // Each commit: the directory check (shared), its user (own), a counter (shared), an
        // event (in pages of 32). 1 head + 1 check + 1 counter + 3 pages + 1 per commit: 94
        // commits make 100 items.
        let commits = (0..120)
            .map(|i| commit(vec![check("DIR"), put(&format!("U{i}"))], 1, true))
            .collect();
        let (queues, environment, _answers) = queue_of(commits);
        assert_eq!(queues.take(&environment).len(), 94);
        assert_eq!(queues.take(&environment).len(), 26);
        assert!(queues.take(&environment).is_empty());
    }

    fn large_put(pk: &str, bytes: usize) -> TransactWriteItem {
        let mut item = key_item(pk, "X");
        item.insert(
            "doc".to_owned(),
            AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(vec![7; bytes])),
        );
        let put = Put::builder()
            .table_name("t")
            .set_item(Some(item))
            .build()
            .unwrap();
        TransactWriteItem::builder().put(put).build()
    }

    #[test]
    fn a_transaction_takes_commits_until_its_bytes_would_pass_the_shared_limit() {
        // 300 KB each: ten make 3 MB, the eleventh would pass it.
        let commits = (0..25)
            .map(|i| commit(vec![large_put(&format!("U{i}"), 300 * 1024)], 1, false))
            .collect();
        let (queues, environment, _answers) = queue_of(commits);
        assert_eq!(queues.take(&environment).len(), 10);
        assert_eq!(queues.take(&environment).len(), 10);
        assert_eq!(queues.take(&environment).len(), 5);
        // One commit alone is never held back by the limit.
        let alone = vec![commit(vec![large_put("BIG", 3_500_000)], 1, false)];
        let (queues, environment, _answers) = queue_of(alone);
        assert_eq!(queues.take(&environment).len(), 1);
    }

    #[test]
    fn a_commit_writing_an_item_already_in_the_transaction_waits_for_the_next() {
        let commits = vec![
            commit(vec![put("U1")], 1, false),
            commit(vec![put("U1")], 1, false),
            commit(vec![put("U2")], 1, false),
        ];
        let (queues, environment, _answers) = queue_of(commits);
        // Queue order is kept: the third does not jump ahead of the second.
        assert_eq!(queues.take(&environment).len(), 1);
        assert_eq!(queues.take(&environment).len(), 2);
    }

    #[test]
    fn a_failed_shared_check_is_answered_to_every_commit_that_asked_for_it() {
        let mut grouped = GroupedItems::new(put("HEAD"));
        grouped.add_writes(0, &[check("DIR"), put("U1")]);
        grouped.add_writes(1, &[check("DIR"), put("U2")]);
        assert_eq!(grouped.items.len(), 4);
        assert_eq!(grouped.owners_of(&[1]), vec![0, 1]);
        assert_eq!(grouped.owners_of(&[3]), vec![1]);
        assert!(grouped.owners_of(&[0]).is_empty());
    }

    #[test]
    fn events_numbered_after_a_stale_head_are_no_conflict_of_their_commits() {
        let mut grouped = GroupedItems::new(put("HEAD"));
        grouped.add_writes(0, &[put("U1")]);
        grouped.add_writes(1, &[put("U2")]);
        grouped.start_events();
        grouped.push(vec![0], put("E1"));
        grouped.push(vec![1], put("E2"));
        // The head lost: its numbers are taken, so the events fail too.
        assert!(grouped.owners_of(&[0, 3, 4]).is_empty());
        // ... but a write of its own still fails its commit.
        assert_eq!(grouped.owners_of(&[0, 2, 3, 4]), vec![1]);
        // The head held and an event put failed: its commit answers.
        assert_eq!(grouped.owners_of(&[4]), vec![1]);
    }

    #[test]
    fn count_changes_of_one_directory_merge_into_one_add() {
        let a = commit(vec![], 1, true);
        let b = commit(vec![], 1, false);
        let c = commit(vec![], 1, true);
        let merged = merged_counts(&[&a, &b, &c]);
        assert_eq!(merged.len(), 1);
        let (total, changes, owners) = &merged[0];
        assert_eq!((total.active, *changes), (2, 2));
        assert_eq!(owners, &vec![0, 2]);
    }
}
