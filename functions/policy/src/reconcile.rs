//! Reconciliation: re-project every record of every directory in scope, page by page, in
//! memory that does not grow with the directory, resumable from a checkpoint when time runs
//! low. It applies retention expiry, policy changes and any drift; a second run over an
//! unchanged directory writes nothing, since the projection of unchanged state is unchanged.

use std::time::{Duration, Instant};

use dsync_domain::ids::DirectoryId;
use dsync_dynamo::{Checkpoint, Reconciliation, ReconciliationState, StoreError};

use crate::project::{commit_plan, plan_users, project_group, project_user, Contexts};
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
        groups = run.counts.groups, events = run.counts.events, "reconciliation stopped");
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
                let next = reconcile_page(app, &context, run, phase, after.clone()).await?;
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
    }
    Ok(RunEnd::Completed)
}

/// Re-projects one page of one phase; returns where the next page starts.
async fn reconcile_page(
    app: &App,
    context: &crate::project::DirectoryContext,
    run: &mut Reconciliation,
    phase: &str,
    after: Option<String>,
) -> Result<Option<String>, StoreError> {
    let directory = &context.directory.id;
    let store = &app.store;
    let mut events = 0;
    let next = match phase {
        "groups" => {
            let (groups, next) = store
                .list_groups(directory, after.as_deref(), PAGE_SIZE)
                .await?;
            for group in &groups {
                events += project_group(app, context, &group.id).await?.len();
            }
            run.counts.groups += groups.len() as u64;
            next
        }
        "gone_groups" => {
            let (groups, next) = store
                .projected_groups_page(directory, after, PAGE_SIZE)
                .await?;
            for group in &groups {
                events += project_group(app, context, group).await?.len();
            }
            next
        }
        "users" => {
            let page = store
                .list_users(directory, after.as_deref(), PAGE_SIZE)
                .await?;
            for (user, plan) in plan_users(app, context, &page.users).await? {
                events += commit_plan(app, context, &user, &plan).await?.len();
            }
            run.counts.users += page.users.len() as u64;
            page.next
        }
        _ => {
            let (users, next) = store
                .projected_users_page(directory, after, PAGE_SIZE)
                .await?;
            // Directory users whose provider record is gone: deleted under every policy.
            let present = store.existing_users(directory, &users).await?;
            for user in users.iter().filter(|u| !present.contains(u)) {
                events += project_user(app, context, user).await?.len();
            }
            next
        }
    };
    run.counts.events += events as u64;
    Ok(next)
}

async fn save(app: &App, run: &mut Reconciliation, saved_at: &mut i64) -> Result<(), StoreError> {
    let expected = *saved_at;
    run.updated_at = app.now().max(expected + 1);
    app.store.save_reconciliation(run, expected).await?;
    *saved_at = run.updated_at;
    Ok(())
}
