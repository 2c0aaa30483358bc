//! The event-log heads this process last committed or read, so that a commit can skip the
//! consistent read of its environment's head.
//!
//! The remembered head is only a guess: every commit still updates the head under the
//! condition that it holds the number the commit was numbered after, inside the transaction
//! that writes the events. A wrong guess therefore cannot commit; it fails that condition,
//! and the commit reads the head and tries again, as it does after losing a race. The log's
//! guarantees (gap-free, each number once, `created_at` never decreasing) rest on that
//! condition, not on this cache.
//!
//! A wrong guess is not free, though: DynamoDB bills a cancelled transaction. A guess is wrong
//! when another process (another Lambda instance, the management API, a reconciliation)
//! committed to the environment since. After one such miss (or a race lost with a head just
//! read) the environment's heads are read again for [`DISTRUST_FOR`], with a turn
//! (commit_turns.rs), so under steady contention a process pays about one cancelled
//! transaction per environment per that period, and otherwise one read per commit, as before.
//! A miss caused by this process's own concurrent commit (the head moved here since it was
//! taken) is retried from the newer head without a read and without distrust.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dsync_domain::ids::EnvironmentId;

/// How long the heads of an environment are read again after another process was seen
/// committing to it.
pub(crate) const DISTRUST_FOR: Duration = Duration::from_secs(60);

/// Past this many environments the cache starts over (a process serves a few).
const MAX_ENTRIES: usize = 10_000;

/// A head: the last sequence number and the time of its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) sequence: u64,
    pub(crate) created_at: i64,
}

#[derive(Debug, Default)]
struct Entry {
    head: Option<Head>,
    distrusted_until: Option<Instant>,
}

impl Entry {
    /// Another process commits to the environment: forget the head, and read it for a while.
    fn distrust(&mut self) {
        self.head = None;
        self.distrusted_until = Some(Instant::now() + DISTRUST_FOR);
    }
}

#[derive(Clone)]
pub(crate) struct EventHeads {
    entries: Arc<Mutex<HashMap<EnvironmentId, Entry>>>,
    /// This process, as the holder of a turn at a head (commit_turns.rs).
    owner: Arc<str>,
}

impl Default for EventHeads {
    fn default() -> Self {
        Self {
            entries: Default::default(),
            owner: format!("{:016x}", rand::random::<u64>()).into(),
        }
    }
}

impl std::fmt::Debug for EventHeads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHeads").finish_non_exhaustive()
    }
}

impl EventHeads {
    fn lock(&self) -> MutexGuard<'_, HashMap<EnvironmentId, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The head to number a commit after, if one is remembered and trusted.
    pub(crate) fn guess(&self, environment: &EnvironmentId) -> Option<Head> {
        let entries = self.lock();
        let entry = entries.get(environment)?;
        if entry
            .distrusted_until
            .is_some_and(|until| Instant::now() < until)
        {
            return None;
        }
        entry.head
    }

    /// Whether another process was seen committing to the environment lately: its heads
    /// are read, and with a turn (commit_turns.rs).
    pub(crate) fn contended(&self, environment: &EnvironmentId) -> bool {
        self.lock().get(environment).is_some_and(|entry| {
            entry
                .distrusted_until
                .is_some_and(|until| Instant::now() < until)
        })
    }

    pub(crate) fn owner(&self) -> &str {
        &self.owner
    }

    /// A head read or committed. Heads only grow, so an older one never replaces a newer.
    pub(crate) fn remember(&self, environment: &EnvironmentId, head: Head) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(environment) {
            entries.clear();
        }
        let entry = entries.entry(*environment).or_default();
        if entry
            .head
            .is_none_or(|known| known.sequence < head.sequence)
        {
            entry.head = Some(head);
        }
    }

    /// A commit numbered after `guessed` found the head elsewhere. If this process moved the
    /// head since, the newer head is the next guess; otherwise another process did, and the
    /// environment's heads are read for a while.
    pub(crate) fn missed(&self, environment: &EnvironmentId, guessed: Head) {
        let mut entries = self.lock();
        let entry = entries.entry(*environment).or_default();
        if entry
            .head
            .is_some_and(|known| known.sequence > guessed.sequence)
        {
            return;
        }
        entry.distrust();
    }

    /// A commit numbered after a head read just before lost it to another process: the
    /// environment's heads are read for a while, with turns.
    pub(crate) fn lost_race(&self, environment: &EnvironmentId) {
        let mut entries = self.lock();
        entries.entry(*environment).or_default().distrust();
    }

    /// A commit's outcome is unknown (its answer was lost): the head may have moved.
    pub(crate) fn forget(&self, environment: &EnvironmentId) {
        if let Some(entry) = self.lock().get_mut(environment) {
            entry.head = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(sequence: u64) -> Head {
        Head {
            sequence,
            created_at: sequence as i64 * 10,
        }
    }

    #[test]
    fn a_remembered_head_is_the_guess_and_never_goes_back() {
        let heads = EventHeads::default();
        let env = EnvironmentId::generate();
        assert_eq!(heads.guess(&env), None);
        heads.remember(&env, head(5));
        heads.remember(&env, head(3));
        assert_eq!(heads.guess(&env), Some(head(5)));
    }

    #[test]
    fn a_miss_caused_elsewhere_stops_guessing_for_a_while() {
        let heads = EventHeads::default();
        let env = EnvironmentId::generate();
        heads.remember(&env, head(5));
        assert!(!heads.contended(&env));
        heads.missed(&env, head(5));
        assert_eq!(heads.guess(&env), None);
        assert!(heads.contended(&env), "its commits take turns");
        // Committed meanwhile from a fresh read: still not guessed until the period ends.
        heads.remember(&env, head(9));
        assert_eq!(heads.guess(&env), None);
    }

    #[test]
    fn a_miss_caused_here_guesses_the_newer_head() {
        let heads = EventHeads::default();
        let env = EnvironmentId::generate();
        heads.remember(&env, head(5));
        // Two commits of this process guessed 5; one committed 6.
        heads.remember(&env, head(6));
        heads.missed(&env, head(5));
        assert_eq!(heads.guess(&env), Some(head(6)));
    }

    #[test]
    fn a_race_lost_after_a_read_contends_for_a_while() {
        let heads = EventHeads::default();
        let env = EnvironmentId::generate();
        heads.remember(&env, head(5));
        heads.lost_race(&env);
        assert_eq!(heads.guess(&env), None);
        assert!(heads.contended(&env));
    }

    #[test]
    fn a_lost_answer_forgets_the_head() {
        let heads = EventHeads::default();
        let env = EnvironmentId::generate();
        heads.remember(&env, head(5));
        heads.forget(&env);
        assert_eq!(heads.guess(&env), None);
        assert!(!heads.contended(&env), "nobody else was seen");
    }
}
