//! Reconciliation: re-project every record of every directory in scope, page by page, in
//! memory that does not grow with the directory, resumable from a checkpoint when time runs
//! low. It applies retention expiry, policy changes and any drift; a second run over an
//! unchanged directory writes nothing, since the projection of unchanged state is unchanged.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use dsync_domain::ids::DirectoryId;
use dsync_dynamo::{
    Checkpoint, FailedRecordKey, Reconciliation, ReconciliationState, StoreError, StoredEvent,
};

use crate::project::{
    commit_plan, plan_users, project_group, project_user, Contexts, DirectoryContext,
};
use crate::App;

const PAGE_SIZE: i32 = 100;
/// Progress is saved (and visible through the API) every this many pages.
const SAVE_EVERY_PAGES: u32 = 10;

/// The phases, in order: groups before users, so users join groups that exist.
const PHASES: [&str; 4] = ["groups", "gone_groups", "users", "gone_users"];

/// How a run ended this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    Completed,
    /// Out of time: the checkpoint is saved and the next invocation resumes.
    Suspended,
    Failed,
}

/// Runs every pending or unfinished reconciliation until done or `deadline`.
pub async fn run_unfinished(
    app: &App,
    deadline: Option<Instant>,
) -> Result<Vec<Reconciliation>, StoreError> {
    // Directory deletions cut short by the API's time budget are finished first: their
    // records must not be reconciled back into existence.
    let purge_deadline = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
    app.store.resume_directory_purges(purge_deadline).await?;
    let mut finished = Vec::new();
    for run in app.store.unfinished_reconciliations().await? {
        let (run, end) = run_one(app, run, deadline).await?;
        finished.push(run);
        if end == RunEnd::Suspended {
            break;
        }
    }
    Ok(finished)
}

/// The scheduled sweep: one run per environment, then runs them.
pub async fn reconcile_everything(
    app: &App,
    deadline: Option<Instant>,
) -> Result<Vec<Reconciliation>, StoreError> {
    for environment in app.store.environment_ids().await? {
        app.store
            .create_reconciliation(environment, None, app.now())
            .await?;
    }
    run_unfinished(app, deadline).await
}

/// Runs (or resumes) one reconciliation.
pub async fn run_one(
    app: &App,
    mut run: Reconciliation,
    deadline: Option<Instant>,
) -> Result<(Reconciliation, RunEnd), StoreError> {
    let mut saved_at = run.updated_at;
    run.state = ReconciliationState::Running;
    save(app, &mut run, &mut saved_at).await?;
    tracing::info!(reconciliation_id = %run.id, "reconciliation started");
    let end = match walk(app, &mut run, &mut saved_at, deadline).await {
        Ok(end) => end,
        Err(StoreError::Conflict) => return Err(StoreError::Conflict),
        Err(error) => {
            tracing::error!(reconciliation_id = %run.id, %error, "reconciliation failed");
            run.error = Some(error.to_string());
            RunEnd::Failed
        }
    };
    run.state = match end {
        RunEnd::Completed => ReconciliationState::Completed,
        RunEnd::Suspended => ReconciliationState::Running,
        RunEnd::Failed => ReconciliationState::Failed,
    };
    if end == RunEnd::Completed {
        run.checkpoint = None;
    }
    save(app, &mut run, &mut saved_at).await?;
    tracing::info!(reconciliation_id = %run.id, state = run.state.as_str(), users = run.counts.users,
        groups = run.counts.groups, events = run.counts.events, failed = run.counts.failed,
        "reconciliation stopped");
    Ok((run, end))
}

async fn walk(
    app: &App,
    run: &mut Reconciliation,
    saved_at: &mut i64,
    deadline: Option<Instant>,
) -> Result<RunEnd, StoreError> {
    let mut directories: Vec<DirectoryId> = match run.directory_id {
        Some(directory) => vec![directory],
        None => app
            .store
            .directories_of(&run.environment_id)
            .await?
            .into_iter()
            .map(|d| d.id)
            .collect(),
    };
    directories.sort();
    let resume = run.checkpoint.clone().unwrap_or_default();
    if let Some(at) = resume.directory_id {
        directories.retain(|d| *d >= at);
    }
    let mut contexts = Contexts::default();
    let mut pages = 0u32;
    for directory in directories {
        let Some(context) = contexts.get(app, &directory).await? else {
            continue;
        };
        if context.directory.environment_id != run.environment_id {
            continue;
        }
        let resuming_here = resume.directory_id == Some(directory);
        let first_phase = if resuming_here {
            PHASES.iter().position(|p| *p == resume.phase).unwrap_or(0)
        } else {
            0
        };
        if !resuming_here {
            run.counts.directories += 1;
        }
        let mut quarantined: HashSet<FailedRecordKey> = app
            .store
            .sync_failures(&directory)
            .await?
            .into_iter()
            .map(|failure| failure.record)
            .collect();
        // Records that failed again in this invocation; every other entry left in
        // `quarantined` after a whole walk names a record no phase met.
        let mut failed: HashSet<FailedRecordKey> = HashSet::new();
        for (index, phase) in PHASES.iter().enumerate().skip(first_phase) {
            let mut after = if resuming_here && index == first_phase {
                resume.after.clone()
            } else {
                None
            };
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    run.checkpoint = Some(Checkpoint {
                        directory_id: Some(directory),
                        phase: phase.to_string(),
                        after,
                    });
                    return Ok(RunEnd::Suspended);
                }
                let mut page = Page {
                    app,
                    context: &context,
                    run: &mut *run,
                    quarantined: &mut quarantined,
                    failed: &mut failed,
                };
                let next = page.reconcile(phase, after.clone()).await?;
                pages += 1;
                if pages.is_multiple_of(SAVE_EVERY_PAGES) {
                    run.checkpoint = Some(Checkpoint {
                        directory_id: Some(directory),
                        phase: phase.to_string(),
                        after: next.clone(),
                    });
                    save(app, run, saved_at).await?;
                    tracing::info!(reconciliation_id = %run.id, users = run.counts.users, groups = run.counts.groups, "reconciliation progress");
                }
                match next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        // Walked whole in this invocation: an entry no phase met names a record that is
        // neither at the provider nor in the directory (deleted since it failed). Nothing
        // will ever project it, so its entry would otherwise stay listed forever.
        if !resuming_here {
            for record in quarantined.difference(&failed) {
                app.store.clear_sync_failure(&directory, record).await?;
            }
        }
    }
    Ok(RunEnd::Completed)
}

/// One page of one phase of one directory, with what it needs to count and quarantine.
struct Page<'a> {
    app: &'a App,
    context: &'a DirectoryContext,
    run: &'a mut Reconciliation,
    /// The directory's records with a sync failure on file: cleared when they project.
    quarantined: &'a mut HashSet<FailedRecordKey>,
    /// The records that failed in this invocation.
    failed: &'a mut HashSet<FailedRecordKey>,
}

impl Page<'_> {
    /// Re-projects one page of one phase; returns where the next page starts. A record that
    /// fails is quarantined and skipped; only failing to read the page itself (or to record a
    /// failure) stops the run.
    async fn reconcile(
        &mut self,
        phase: &str,
        after: Option<String>,
    ) -> Result<Option<String>, StoreError> {
        let (app, context) = (self.app, self.context);
        let directory = &context.directory.id;
        let store = &app.store;
        let next = match phase {
            "groups" => {
                let (groups, next) = store
                    .list_groups(directory, after.as_deref(), PAGE_SIZE)
                    .await?;
                for group in &groups {
                    let result = project_group(app, context, &group.id).await;
                    self.settle(FailedRecordKey::Group(group.id.to_string()), result)
                        .await?;
                }
                self.run.counts.groups += groups.len() as u64;
                next
            }
            "gone_groups" => {
                let (groups, next) = store
                    .projected_groups_page(directory, after, PAGE_SIZE)
                    .await?;
                for group in &groups {
                    let result = project_group(app, context, group).await;
                    self.settle(FailedRecordKey::Group(group.to_string()), result)
                        .await?;
                }
                next
            }
            "users" => {
                let page = store
                    .list_users(directory, after.as_deref(), PAGE_SIZE)
                    .await?;
                match plan_users(app, context, &page.users).await {
                    Ok(plans) => {
                        for (user, plan) in plans {
                            let result = commit_plan(app, context, &user, &plan).await;
                            self.settle(FailedRecordKey::User(user.to_string()), result)
                                .await?;
                        }
                    }
                    // One unreadable user spoils the batched read: project the page one
                    // user at a time, so only that user is quarantined.
                    Err(error) => {
                        tracing::warn!(reconciliation_id = %self.run.id, %error,
                            "batched planning failed; projecting the page user by user");
                        for user in &page.users {
                            let result = project_user(app, context, &user.id).await;
                            self.settle(FailedRecordKey::User(user.id.to_string()), result)
                                .await?;
                        }
                    }
                }
                self.run.counts.users += page.users.len() as u64;
                page.next
            }
            _ => {
                let (users, next) = store
                    .projected_users_page(directory, after, PAGE_SIZE)
                    .await?;
                // Directory users whose provider record is gone: deleted under every policy.
                let present = store.existing_users(directory, &users).await?;
                for user in users.iter().filter(|u| !present.contains(u)) {
                    let result = project_user(app, context, user).await;
                    self.settle(FailedRecordKey::User(user.to_string()), result)
                        .await?;
                }
                next
            }
        };
        Ok(next)
    }

    /// Counts one record's outcome: its events, clearing an entry on file; or, when it
    /// failed, a sync failure recorded with its reason.
    async fn settle(
        &mut self,
        record: FailedRecordKey,
        result: Result<Vec<StoredEvent>, StoreError>,
    ) -> Result<(), StoreError> {
        let store = &self.app.store;
        let directory = &self.context.directory.id;
        match result {
            Ok(events) => {
                self.run.counts.events += events.len() as u64;
                if self.quarantined.remove(&record) {
                    store.clear_sync_failure(directory, &record).await?;
                }
            }
            Err(error) => {
                tracing::warn!(reconciliation_id = %self.run.id, record_type = record.kind(),
                    record_id = record.id(), %error, "record quarantined");
                let reason = error.to_string();
                let now = self.app.now();
                store
                    .record_sync_failure(directory, &record, &reason, "reconciliation", now)
                    .await?;
                self.run.counts.failed += 1;
                self.failed.insert(record.clone());
                self.quarantined.insert(record);
            }
        }
        Ok(())
    }
}

async fn save(app: &App, run: &mut Reconciliation, saved_at: &mut i64) -> Result<(), StoreError> {
    let expected = *saved_at;
    run.updated_at = app.now().max(expected + 1);
    app.store.save_reconciliation(run, expected).await?;
    *saved_at = run.updated_at;
    Ok(())
}
