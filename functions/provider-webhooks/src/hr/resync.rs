//! The BambooHR re-sync: webhooks can be missed, so the employee directory is read whole and
//! compared with the provider records, on the reconciliation schedule ([`super::schedule`])
//! and on demand (`POST /directories/{id}/sync`).
//!
//! Every listed employee is upserted with the listing as its whole state (unchanged ones
//! write nothing). The listing names current employees only, so an employee with a record
//! here who is missing from it has left: it is marked inactive, exactly as a termination
//! webhook would, and the environment's inactive-user policy decides what that means
//! (deleted from the directory under the secure flow, kept inactive under `retain`).
//!
//! A run is resumable: employees are applied in employee-id order, then the directory's
//! users are paged for leavers, and the position is checkpointed (every
//! [`ResyncConfig::checkpoint_every`] employees, every page, and when the deadline comes),
//! so a big directory is finished by the next invocations. The listing is read again by each
//! invocation (BambooHR has no cursor for it); applying an employee twice writes nothing.
//! An invocation holds the directory's lease while it works: the schedule and an on-demand
//! sync never run one directory together.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use dsync_domain::model::Directory;
use dsync_domain::providers::bamboohr::parse_directory;
use dsync_domain::providers::employee::{provider_user_id, EmployeeChange, EmployeeFields};
use dsync_domain::providers::resync::{ResyncCheckpoint, EMPLOYEES, LEAVERS};
use dsync_dynamo::{HrCredentials, HrSyncReport, Store, StoreError};

use super::apply::{self, ChangeError, Outcome};
use super::bamboohr_api::{self, FetchError};
pub use super::bamboohr_api::{Backoff, DEFAULT_BASE_URL};

/// Users read per page while looking for employees the listing no longer names.
const PAGE: i32 = 100;

/// How re-syncs run; one per process.
#[derive(Debug, Clone)]
pub struct ResyncConfig {
    /// BambooHR's origin ([`DEFAULT_BASE_URL`]).
    pub base_url: String,
    pub backoff: Backoff,
    /// How long a claim holds a directory; renewed at every checkpoint.
    pub lease: Duration,
    /// Progress is saved after this many employees.
    pub checkpoint_every: usize,
    /// At most this many employees and users per invocation (`None`: until the deadline).
    pub budget: Option<usize>,
    /// The schedule starts a directory's next run this long after its last one started.
    pub every: Duration,
    pub http: dsync_dynamo::Outbound,
}

impl ResyncConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            backoff: Backoff::default(),
            lease: Duration::from_secs(120),
            checkpoint_every: 100,
            budget: None,
            every: Duration::from_secs(3600),
            http: bamboohr_api::client(),
        }
    }
}

impl Default for ResyncConfig {
    fn default() -> Self {
        Self::new(DEFAULT_BASE_URL)
    }
}

/// Who asked for the re-sync: named in the report's `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The reconciliation schedule: a run starts only when one is due.
    Schedule,
    /// `POST /directories/{id}/sync`: a run starts now.
    OnDemand,
}

impl Trigger {
    fn source(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::OnDemand => "resync",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResyncEnd {
    /// The run finished; its report is the directory's last sync.
    Finished(HrSyncReport),
    /// The deadline (or budget) came first: the checkpoint is saved, the next invocation
    /// resumes it.
    Paused,
    /// Another invocation holds the directory's re-sync.
    Busy,
    /// The schedule's next run is not due yet.
    NotDue,
}

#[derive(Debug, thiserror::Error)]
pub enum ResyncError {
    #[error("the directory has no bamboohr_company and bamboohr_api_key to read BambooHR with")]
    NotConfigured,
    #[error("BambooHR answered {0}")]
    Upstream(u16),
    #[error("BambooHR could not be reached")]
    Unreachable,
    #[error("BambooHR's employee directory is not in the documented shape: {0}")]
    BadListing(String),
    #[error(transparent)]
    Change(#[from] ChangeError),
}

impl From<FetchError> for ResyncError {
    fn from(error: FetchError) -> Self {
        match error {
            FetchError::Upstream(status) => Self::Upstream(status),
            FetchError::Unreachable => Self::Unreachable,
        }
    }
}

impl From<StoreError> for ResyncError {
    fn from(error: StoreError) -> Self {
        Self::Change(error.into())
    }
}

/// Runs (or resumes) the directory's re-sync until it finishes or `deadline` comes. A read
/// of BambooHR that fails ends the run: the error is kept as the last sync's `error`, and
/// nothing more is changed.
pub async fn resync(
    store: &Store,
    directory: &Directory,
    credentials: &HrCredentials,
    config: &ResyncConfig,
    trigger: Trigger,
    clock: &(dyn Fn() -> i64 + Send + Sync),
    deadline: Option<Instant>,
) -> Result<ResyncEnd, ResyncError> {
    let (Some(company), Some(api_key)) =
        (&credentials.bamboohr_company, &credentials.bamboohr_api_key)
    else {
        return Err(ResyncError::NotConfigured);
    };
    let run = Run {
        store,
        directory,
        config,
        trigger,
        clock,
        deadline,
        owner: ulid::Ulid::new().to_string(),
    };
    let now = clock();
    let Some(state) = store
        .claim_hr_resync(&directory.id, &run.owner, now, run.lease_until())
        .await?
    else {
        return Ok(ResyncEnd::Busy);
    };
    let checkpoint = match state.checkpoint {
        Some(checkpoint) => checkpoint,
        None if trigger == Trigger::Schedule
            && state
                .last_started_at
                .is_some_and(|at| now < at + config.every.as_millis() as i64) =>
        {
            run.release().await;
            return Ok(ResyncEnd::NotDue);
        }
        None => ResyncCheckpoint {
            run_id: ulid::Ulid::new().to_string(),
            started_at: now,
            phase: EMPLOYEES.into(),
            after: None,
            upserted: 0,
            unchanged: 0,
            removed: 0,
            skipped: 0,
            failed: 0,
            error: None,
        },
    };
    let result = run.advance(checkpoint, company, api_key).await;
    match &result {
        Ok(ResyncEnd::Finished(report)) => tracing::info!(
            directory_id = %directory.id,
            upserted = report.upserted,
            unchanged = report.unchanged,
            removed = report.removed,
            failed = report.failed,
            "bamboohr re-sync finished"
        ),
        Ok(end) => {
            tracing::info!(directory_id = %directory.id, ?end, "bamboohr re-sync stopped");
            run.release().await;
        }
        Err(error) => {
            tracing::warn!(directory_id = %directory.id, %error, "bamboohr re-sync failed");
            run.release().await;
        }
    }
    result
}

struct Run<'a> {
    store: &'a Store,
    directory: &'a Directory,
    config: &'a ResyncConfig,
    trigger: Trigger,
    clock: &'a (dyn Fn() -> i64 + Send + Sync),
    deadline: Option<Instant>,
    owner: String,
}

impl Run<'_> {
    fn lease_until(&self) -> i64 {
        (self.clock)() + self.config.lease.as_millis() as i64
    }

    fn must_stop(&self, done: usize) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
            || self.config.budget.is_some_and(|budget| done >= budget)
    }

    async fn release(&self) {
        if let Err(error) = self
            .store
            .release_hr_resync(&self.directory.id, &self.owner)
            .await
        {
            tracing::warn!(directory_id = %self.directory.id, %error, "re-sync lease not released");
        }
    }

    /// Saves progress; `false` when another invocation took the lease over.
    async fn save(&self, checkpoint: &ResyncCheckpoint) -> Result<bool, ResyncError> {
        match self
            .store
            .save_hr_resync(
                &self.directory.id,
                &self.owner,
                checkpoint,
                self.lease_until(),
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn pause(&self, checkpoint: &ResyncCheckpoint) -> Result<ResyncEnd, ResyncError> {
        Ok(match self.save(checkpoint).await? {
            true => ResyncEnd::Paused,
            false => ResyncEnd::Busy,
        })
    }

    async fn advance(
        &self,
        mut checkpoint: ResyncCheckpoint,
        company: &str,
        api_key: &str,
    ) -> Result<ResyncEnd, ResyncError> {
        let listing = bamboohr_api::fetch_directory(
            &self.config.http,
            &self.config.base_url,
            company,
            api_key,
            self.config.backoff,
            self.deadline,
        )
        .await
        .map_err(ResyncError::from);
        let employees = listing.and_then(|body| {
            parse_directory(&body).map_err(|e| ResyncError::BadListing(e.to_string()))
        });
        let mut employees = match employees {
            Ok(employees) => employees,
            Err(error) => {
                checkpoint.error = Some(error.to_string());
                self.finish(&checkpoint).await?;
                return Err(error);
            }
        };
        employees.sort_by(|a, b| a.0.cmp(&b.0));
        let mut done = 0;
        if checkpoint.phase == EMPLOYEES {
            let start = checkpoint.after.as_ref().map_or(0, |after| {
                employees.partition_point(|(id, _)| id.as_str() <= after.as_str())
            });
            for (employee_id, fields) in employees.iter().skip(start) {
                if self.must_stop(done) {
                    return self.pause(&checkpoint).await;
                }
                let change = EmployeeChange::Upsert {
                    employee_id: employee_id.clone(),
                    fields: fields.clone(),
                };
                match apply::apply(self.store, self.directory, &change, (self.clock)()).await {
                    Ok(outcome) => count(&mut checkpoint, outcome),
                    Err(error) if error.is_retryable() => return Err(error.into()),
                    Err(error) => {
                        checkpoint.failed += 1;
                        checkpoint.error.get_or_insert_with(|| error.to_string());
                    }
                }
                checkpoint.after = Some(employee_id.clone());
                done += 1;
                if done % self.config.checkpoint_every.max(1) == 0
                    && !self.save(&checkpoint).await?
                {
                    return Ok(ResyncEnd::Busy);
                }
            }
            checkpoint.phase = LEAVERS.into();
            checkpoint.after = None;
        }
        let listed: HashSet<_> = employees
            .iter()
            .map(|(id, _)| provider_user_id(&self.directory.id, id))
            .collect();
        drop(employees);
        loop {
            if self.must_stop(done) {
                return self.pause(&checkpoint).await;
            }
            let page = self
                .store
                .list_users(&self.directory.id, checkpoint.after.as_deref(), PAGE)
                .await?;
            done += page.users.len();
            for user in page
                .users
                .iter()
                .filter(|u| u.active && !listed.contains(&u.id))
            {
                let Some(employee_id) = &user.external_id else {
                    continue;
                };
                let left = EmployeeChange::Upsert {
                    employee_id: employee_id.clone(),
                    fields: EmployeeFields {
                        active: Some(false),
                        ..EmployeeFields::default()
                    },
                };
                if apply::apply(self.store, self.directory, &left, (self.clock)()).await?
                    == Outcome::Upserted
                {
                    checkpoint.removed += 1;
                }
            }
            checkpoint.after = page.next;
            if checkpoint.after.is_none() {
                break;
            }
            if !self.save(&checkpoint).await? {
                return Ok(ResyncEnd::Busy);
            }
        }
        let report = self.finish(&checkpoint).await?;
        Ok(report.map_or(ResyncEnd::Busy, ResyncEnd::Finished))
    }

    /// Ends the run with the checkpoint's counts as the last sync; `None` when another
    /// invocation took the lease over (that one ends it).
    async fn finish(
        &self,
        checkpoint: &ResyncCheckpoint,
    ) -> Result<Option<HrSyncReport>, ResyncError> {
        let report = HrSyncReport {
            at: (self.clock)(),
            source: self.trigger.source().into(),
            upserted: checkpoint.upserted,
            unchanged: checkpoint.unchanged,
            removed: checkpoint.removed,
            skipped: checkpoint.skipped,
            failed: checkpoint.failed,
            error: checkpoint.error.clone(),
        };
        match self
            .store
            .finish_hr_resync(
                &self.directory.id,
                &self.owner,
                checkpoint.started_at,
                &report,
            )
            .await
        {
            Ok(()) => Ok(Some(report)),
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

fn count(checkpoint: &mut ResyncCheckpoint, outcome: Outcome) {
    match outcome {
        Outcome::Upserted => checkpoint.upserted += 1,
        Outcome::Unchanged => checkpoint.unchanged += 1,
        Outcome::Removed => checkpoint.removed += 1,
        Outcome::Skipped => checkpoint.skipped += 1,
    }
}
