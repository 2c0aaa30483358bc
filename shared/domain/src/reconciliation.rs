//! Reconciliation runs: what a run is, what its checkpoint means and where a resumed run
//! starts again. Storage keeps runs and their leases; the policy function walks them.
//!
//! A run walks its directories in id order and each directory in [`PHASES`] order, page by
//! page. Its checkpoint names the directory, the phase and the last key finished, so a run
//! resumed by another invocation skips what is done and repeats at most the page it was on
//! (re-projection is idempotent).

use serde::{Deserialize, Serialize};

use crate::ids::{DirectoryId, EnvironmentId, ReconciliationId};

/// The phases of a directory's walk, in order: groups before users, so users join groups
/// that exist, and each kind's vanished records after the present ones.
pub const PHASES: [&str; 4] = ["groups", "gone_groups", "users", "gone_users"];

/// How long a claim on a run holds without a save: longer than one Lambda invocation (15
/// minutes), so a live holder never loses it; saves renew it.
pub const RECONCILIATION_LEASE_MS: i64 = 16 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconciliationState {
    Pending,
    Running,
    Completed,
    Failed,
}

impl ReconciliationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// Where a run resumes: the directory it was in, the phase and the last key it finished.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub directory_id: Option<DirectoryId>,
    pub phase: String,
    pub after: Option<String>,
    /// In the users phase: what it has tallied so far, so a resumed walk can still skip the
    /// gone-users phase. Absent (a run saved before tallies, or one that lost certainty):
    /// the gone-users phase runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tally: Option<UserTally>,
}

/// Where the walk of the directory a run stopped in starts again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumePoint {
    /// Index in [`PHASES`]: earlier phases are done.
    pub phase: usize,
    /// The last key that phase finished; `None`: from its start.
    pub after: Option<String>,
    pub tally: Option<UserTally>,
}

/// The users phase's proof that the gone-users phase would find nothing, so an unchanged
/// directory is walked once instead of twice. The directory's user counters move in the
/// same transaction as every commit that creates or deletes a directory user, and count
/// every such commit in `changes`. If `changes` is the same after the walk as before it, the
/// set of directory users did not change meanwhile; if their number then equals the provider
/// users walked that have one, every directory user has a provider record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserTally {
    /// The counters' `changes` when the phase started.
    pub changes: u64,
    /// Provider users walked so far whose directory user (of this directory) exists.
    pub matched: u64,
}

/// The directory's user counters as read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserCounts {
    /// Every counted commit so far.
    pub changes: u64,
    /// Directory users, active and inactive.
    pub users: u64,
}

impl UserTally {
    pub fn start(counts: UserCounts) -> Self {
        Self {
            changes: counts.changes,
            matched: 0,
        }
    }

    /// Whether the directory, with these counts after the walk, has no directory user
    /// without a provider record.
    pub fn proves_none_gone(&self, after: UserCounts) -> bool {
        after.changes == self.changes && after.users == self.matched
    }
}

impl Checkpoint {
    /// Whether a run resumed from here still walks `directory`: directories before the one
    /// it stopped in are done.
    pub fn still_to_walk(&self, directory: &DirectoryId) -> bool {
        self.directory_id.is_none_or(|at| *directory >= at)
    }

    /// Where the walk of `directory` resumes, if the run stopped in it (`None`: it is walked
    /// whole). A phase this version does not know restarts the directory's walk.
    pub fn resume_in(&self, directory: &DirectoryId) -> Option<ResumePoint> {
        (self.directory_id == Some(*directory)).then(|| ResumePoint {
            phase: PHASES.iter().position(|p| *p == self.phase).unwrap_or(0),
            after: self.after.clone(),
            tally: self.tally,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationCounts {
    pub directories: u64,
    pub users: u64,
    pub groups: u64,
    pub events: u64,
    /// Records that could not be projected in this run: quarantined as sync failures and
    /// skipped (the next run retries them).
    #[serde(default)]
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconciliation {
    pub id: ReconciliationId,
    pub environment_id: EnvironmentId,
    /// `None`: every directory of the environment.
    pub directory_id: Option<DirectoryId>,
    pub state: ReconciliationState,
    pub counts: ReconciliationCounts,
    pub checkpoint: Option<Checkpoint>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Reconciliation {
    /// A new run, waiting for an invocation to start it.
    pub fn pending(environment: EnvironmentId, directory: Option<DirectoryId>, now: i64) -> Self {
        Self {
            id: ReconciliationId::generate(),
            environment_id: environment,
            directory_id: directory,
            state: ReconciliationState::Pending,
            counts: ReconciliationCounts::default(),
            checkpoint: None,
            error: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Pending or running: the environment's one active run, which requests coalesce into
    /// and invocations advance.
    pub fn is_unfinished(&self) -> bool {
        matches!(
            self.state,
            ReconciliationState::Pending | ReconciliationState::Running
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted_directories(n: usize) -> Vec<DirectoryId> {
        let mut ids: Vec<DirectoryId> = (0..n).map(|_| DirectoryId::generate()).collect();
        ids.sort();
        ids
    }

    #[test]
    fn a_run_without_a_checkpoint_walks_every_directory_whole() {
        let fresh = Checkpoint::default();
        for directory in sorted_directories(3) {
            assert!(fresh.still_to_walk(&directory));
            assert_eq!(fresh.resume_in(&directory), None);
        }
    }

    #[test]
    fn a_resumed_run_skips_directories_before_its_own_and_continues_after_its_key() {
        let dirs = sorted_directories(3);
        let checkpoint = Checkpoint {
            directory_id: Some(dirs[1]),
            phase: "users".to_owned(),
            after: Some("user_42".to_owned()),
            tally: None,
        };
        assert!(!checkpoint.still_to_walk(&dirs[0]));
        assert!(checkpoint.still_to_walk(&dirs[1]) && checkpoint.still_to_walk(&dirs[2]));
        assert_eq!(
            checkpoint.resume_in(&dirs[1]),
            Some(ResumePoint {
                phase: 2,
                after: Some("user_42".to_owned()),
                tally: None,
            })
        );
        assert_eq!(PHASES[2], "users");
        // The directories after it have not been started: walked whole.
        assert_eq!(checkpoint.resume_in(&dirs[2]), None);
    }

    #[test]
    fn an_unknown_phase_restarts_the_directory() {
        let directory = DirectoryId::generate();
        let checkpoint = Checkpoint {
            directory_id: Some(directory),
            phase: "renamed".to_owned(),
            after: None,
            tally: None,
        };
        assert_eq!(checkpoint.resume_in(&directory).map(|at| at.phase), Some(0));
    }

    /// The skip of the gone-users walk rests on this: any counted commit during the walk, or
    /// one directory user more than the walk matched, and the gone-users phase runs.
    #[test]
    fn a_tally_proves_nothing_gone_only_when_nothing_moved_and_every_user_matched() {
        let before = UserCounts {
            changes: 7,
            users: 3,
        };
        let mut tally = UserTally::start(before);
        tally.matched = 3;
        assert!(tally.proves_none_gone(before));
        let one_more = UserCounts { users: 4, ..before };
        assert!(!tally.proves_none_gone(one_more), "a user no page matched");
        // A delete and a create meanwhile leave the number as it was, not `changes`.
        let moved = UserCounts {
            changes: 9,
            ..before
        };
        assert!(!tally.proves_none_gone(moved));
    }

    #[test]
    fn a_checkpoint_saved_before_tallies_still_reads() {
        let checkpoint: Checkpoint =
            serde_json::from_str(r#"{"directory_id":null,"phase":"users","after":"x"}"#).unwrap();
        assert_eq!(checkpoint.tally, None);
    }

    #[test]
    fn only_pending_and_running_runs_are_unfinished() {
        let mut run = Reconciliation::pending(EnvironmentId::generate(), None, 1);
        assert!(run.is_unfinished());
        run.state = ReconciliationState::Running;
        assert!(run.is_unfinished());
        for done in [ReconciliationState::Completed, ReconciliationState::Failed] {
            run.state = done;
            assert!(!run.is_unfinished());
        }
    }

    #[test]
    fn a_run_stored_before_failures_were_counted_still_reads() {
        let counts: ReconciliationCounts =
            serde_json::from_str(r#"{"directories":1,"users":2,"groups":3,"events":4}"#).unwrap();
        assert_eq!(counts.failed, 0);
    }
}
