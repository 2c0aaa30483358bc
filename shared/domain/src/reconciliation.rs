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
}

/// Where the walk of the directory a run stopped in starts again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumePoint {
    /// Index in [`PHASES`]: earlier phases are done.
    pub phase: usize,
    /// The last key that phase finished; `None`: from its start.
    pub after: Option<String>,
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
        };
        assert!(!checkpoint.still_to_walk(&dirs[0]));
        assert!(checkpoint.still_to_walk(&dirs[1]) && checkpoint.still_to_walk(&dirs[2]));
        assert_eq!(
            checkpoint.resume_in(&dirs[1]),
            Some(ResumePoint {
                phase: 2,
                after: Some("user_42".to_owned())
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
        };
        assert_eq!(checkpoint.resume_in(&directory).map(|at| at.phase), Some(0));
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
