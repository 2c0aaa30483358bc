//! Reconciliation: re-project every record of every directory in scope, page by page, in
//! memory that does not grow with the directory, resumable from a checkpoint when time runs
//! low. It applies retention expiry, policy changes and any drift; a second run over an
//! unchanged directory writes nothing, since the projection of unchanged state is unchanged.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use dsync_domain::ids::{DirectoryId, ProviderGroupId, ProviderUserId, ReconciliationId};
use dsync_domain::reconciliation::{ResumePoint, UserTally, PHASES};
use dsync_dynamo::{
    Checkpoint, FailedRecordKey, LeaseAfterSave, Reconciliation, ReconciliationState, StoreError,
    UserPage,
};

use crate::known_groups::KnownGroups;
use crate::project::{
    commit_plan, group_at_rest, plan_users_read, project_group, project_user, read_for_plans,
    Contexts, DirectoryContext, PlanReads,
};
use crate::stream::{at_most_concurrently, in_order_at_most, GROUP_CONCURRENCY};
use crate::App;

/// Progress is saved (and visible through the API) every this many pages.
const SAVE_EVERY_PAGES: u32 = 10;

/// How an invocation shares its time between environments' runs.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Records read per page of groups, and of directory users checked for a provider
    /// record that is gone (those pages may project every record on them one by one).
    pub page_size: i32,
    /// Provider users read per page of the users phase: their reads are batched (one ranged
    /// Query of memberships, BatchGetItems of 100 side by side), so a bigger page is fewer
    /// requests and round trips per user; at most three pages are held at once (read-ahead).
    pub users_page_size: i32,
    /// Pages a run advances in one turn before the invocation moves on to the next run: a
    /// big environment's run cannot starve the others, it only takes more rounds.
    pub pages_per_turn: u32,
    /// Stop after this many rounds (every unfinished run one turn each); `None`: until every
    /// run is done, held by another invocation, or the deadline comes.
    pub rounds: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            page_size: 100,
            users_page_size: 500,
            pages_per_turn: SAVE_EVERY_PAGES,
            rounds: None,
        }
    }
}

/// How a run ended this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    Completed,
    /// Its turn (or the invocation's time) is over: the checkpoint is saved, the lease
    /// released, and a later turn resumes.
    Suspended,
    Failed,
    /// Another invocation holds its lease (or lost it to one): left alone.
    Busy,
}

/// Runs every pending or unfinished reconciliation until done or `deadline`, round robin.
pub async fn run_unfinished(
    app: &App,
    deadline: Option<Instant>,
) -> Result<Vec<Reconciliation>, StoreError> {
    run_unfinished_with(app, deadline, Limits::default()).await
}

/// [`run_unfinished`] with explicit limits. Each round gives every unfinished run (one per
/// environment at most) a turn of `pages_per_turn` pages; runs held by another invocation
/// are skipped. Returns the runs this invocation worked on, as it left them.
pub async fn run_unfinished_with(
    app: &App,
    deadline: Option<Instant>,
    limits: Limits,
) -> Result<Vec<Reconciliation>, StoreError> {
    // Directory deletions cut short by the API's time budget are finished first: their
    // records must not be reconciled back into existence.
    let purge_deadline = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
    app.store.resume_directory_purges(purge_deadline).await?;
    let owner = invocation_token();
    let mut worked: BTreeMap<ReconciliationId, Reconciliation> = BTreeMap::new();
    let mut round = 0u32;
    loop {
        if limits.rounds.is_some_and(|rounds| round >= rounds) {
            break;
        }
        round += 1;
        let mut progressed = false;
        for run in app.store.unfinished_reconciliations().await? {
            if out_of_time(deadline) {
                return Ok(worked.into_values().collect());
            }
            let (run, end) = run_turn(app, run, &owner, deadline, &limits).await?;
            if end != RunEnd::Busy {
                progressed = true;
                worked.insert(run.id, run);
            }
        }
        if !progressed || out_of_time(deadline) {
            break;
        }
    }
    Ok(worked.into_values().collect())
}

/// The scheduled sweep: asks for a run of every environment (coalescing into the run already
/// pending or running, so runs never pile up), then runs them.
pub async fn reconcile_everything(
    app: &App,
    deadline: Option<Instant>,
) -> Result<Vec<Reconciliation>, StoreError> {
    for environment in app.store.environment_ids().await? {
        app.store
            .request_reconciliation(environment, None, app.now())
            .await?;
    }
    run_unfinished(app, deadline).await
}

/// Runs (or resumes) one reconciliation to its end, unless another invocation holds it.
pub async fn run_one(
    app: &App,
    run: Reconciliation,
    deadline: Option<Instant>,
) -> Result<(Reconciliation, RunEnd), StoreError> {
    let limits = Limits {
        pages_per_turn: u32::MAX,
        ..Limits::default()
    };
    run_turn(app, run, &invocation_token(), deadline, &limits).await
}

/// Claims a run's lease and advances it by one turn. Losing the lease to another
/// invocation midway (a save's condition fails) leaves the run to that one: `Busy`.
async fn run_turn(
    app: &App,
    run: Reconciliation,
    owner: &str,
    deadline: Option<Instant>,
    limits: &Limits,
) -> Result<(Reconciliation, RunEnd), StoreError> {
    let claimed = app
        .store
        .claim_reconciliation(&run.environment_id, &run.id, owner, app.now())
        .await?;
    let Some(run) = claimed else {
        tracing::info!(reconciliation_id = %run.id, "reconciliation held by another invocation");
        return Ok((run, RunEnd::Busy));
    };
    let (environment, id) = (run.environment_id, run.id);
    let result = run_claimed(app, run, owner, deadline, limits).await;
    if result.is_err() {
        // Failed while holding it (a storage error): let the next invocation resume it now
        // rather than after the lease; if this fails too, the lease runs out by itself.
        let _ = app
            .store
            .release_reconciliation(&environment, &id, owner)
            .await;
    }
    result
}

async fn run_claimed(
    app: &App,
    mut run: Reconciliation,
    owner: &str,
    deadline: Option<Instant>,
    limits: &Limits,
) -> Result<(Reconciliation, RunEnd), StoreError> {
    let mut saver = Saver {
        owner,
        saved_at: run.updated_at,
    };
    run.state = ReconciliationState::Running;
    match saver.save(app, &mut run, true).await {
        Err(StoreError::Conflict) => return Ok((run, RunEnd::Busy)),
        other => other?,
    }
    tracing::info!(reconciliation_id = %run.id, "reconciliation turn started");
    let end = match walk(app, &mut run, &mut saver, deadline, limits).await {
        Ok(end) => end,
        Err(StoreError::Conflict) => return Ok((run, RunEnd::Busy)),
        Err(error) => {
            tracing::error!(reconciliation_id = %run.id, %error, "reconciliation failed");
            run.error = Some(error.to_string());
            RunEnd::Failed
        }
    };
    run.state = match end {
        RunEnd::Completed => ReconciliationState::Completed,
        RunEnd::Suspended | RunEnd::Busy => ReconciliationState::Running,
        RunEnd::Failed => ReconciliationState::Failed,
    };
    if end == RunEnd::Completed {
        run.checkpoint = None;
    }
    match saver.save(app, &mut run, false).await {
        Err(StoreError::Conflict) => return Ok((run, RunEnd::Busy)),
        other => other?,
    }
    tracing::info!(reconciliation_id = %run.id, state = run.state.as_str(), users = run.counts.users,
        groups = run.counts.groups, events = run.counts.events, failed = run.counts.failed,
        "reconciliation turn ended");
    Ok((run, end))
}

fn out_of_time(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// A token naming this invocation as a lease holder (unique, never shown).
fn invocation_token() -> String {
    dsync_domain::ids::EventId::generate().to_string()
}

async fn walk(
    app: &App,
    run: &mut Reconciliation,
    saver: &mut Saver<'_>,
    deadline: Option<Instant>,
    limits: &Limits,
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
    directories.retain(|d| resume.still_to_walk(d));
    let mut contexts = Contexts::default();
    let mut pages = 0u32;
    for directory in directories {
        let Some(context) = contexts.get(app, &directory).await? else {
            continue;
        };
        if context.directory().environment_id != run.environment_id {
            continue;
        }
        let resumed = resume.resume_in(&directory);
        let resuming_here = resumed.is_some();
        let ResumePoint {
            phase: first_phase,
            after: mut resume_after,
            tally: resume_tally,
        } = resumed.unwrap_or(ResumePoint {
            phase: 0,
            after: None,
            tally: None,
        });
        if !resuming_here {
            run.counts.directories += 1;
            // A directory from before its counters existed is counted once; afterwards this
            // is one read. Failing it does not fail the projection walk.
            if let Err(error) = app.store.backfill_counts(&directory).await {
                tracing::warn!(directory_id = %directory, %error, "counter backfill failed; next run retries");
            }
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
            // Only the phase the run stopped in continues after a key.
            let mut after = if index == first_phase {
                resume_after.take()
            } else {
                None
            };
            let users_phase = *phase == "users";
            // Started afresh, the users phase tallies from the counters as they are now;
            // resumed, from where its checkpoint left the tally (if it kept one).
            let mut tally = match (users_phase, &after) {
                (false, _) => None,
                (true, None) => app
                    .store
                    .user_counts(&directory)
                    .await?
                    .map(UserTally::start),
                (true, Some(_)) => resume_tally,
            };
            let mut next_users = None;
            let mut known_groups = KnownGroups::default();
            loop {
                if out_of_time(deadline) || pages >= limits.pages_per_turn {
                    run.checkpoint = Some(Checkpoint {
                        directory_id: Some(directory),
                        phase: phase.to_string(),
                        after,
                        tally,
                    });
                    return Ok(RunEnd::Suspended);
                }
                let mut page = Page {
                    app,
                    page_size: if users_phase {
                        limits.users_page_size
                    } else {
                        limits.page_size
                    },
                    context: &context,
                    run: &mut *run,
                    quarantined: &mut quarantined,
                    failed: &mut failed,
                    tally: &mut tally,
                    next_users: &mut next_users,
                    known_groups: &mut known_groups,
                };
                let next = page.reconcile(phase, after.clone()).await?;
                pages += 1;
                if pages.is_multiple_of(SAVE_EVERY_PAGES) {
                    run.checkpoint = Some(Checkpoint {
                        directory_id: Some(directory),
                        phase: phase.to_string(),
                        after: next.clone(),
                        tally,
                    });
                    saver.save(app, run, true).await?;
                    tracing::info!(reconciliation_id = %run.id, users = run.counts.users, groups = run.counts.groups, "reconciliation progress");
                }
                match next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            if users_phase && none_gone(app, &directory, tally).await? {
                break;
            }
        }
        // Walked whole in this turn: an entry no phase met names a record that is neither at
        // the provider nor in the directory (deleted since it failed). Nothing will ever
        // project it, so its entry would otherwise stay listed forever. A directory walked
        // over several turns (its run resumed here) has only this turn's part met, so each
        // such entry is cleared only once its record is read and found gone.
        for record in quarantined.difference(&failed) {
            if !resuming_here || record_gone(app, &directory, record).await? {
                app.store.clear_sync_failure(&directory, record).await?;
            }
        }
    }
    Ok(RunEnd::Completed)
}

/// Whether the users phase just finished proved that no directory user is left without a
/// provider record: then the gone-users phase (a second walk of the whole directory, which
/// would find nothing) is skipped. See [`UserTally`].
async fn none_gone(
    app: &App,
    directory: &DirectoryId,
    tally: Option<UserTally>,
) -> Result<bool, StoreError> {
    let Some(tally) = tally else {
        return Ok(false);
    };
    Ok(app
        .store
        .user_counts(directory)
        .await?
        .is_some_and(|counts| tally.proves_none_gone(counts)))
}

/// Whether a quarantined record no longer exists, at the provider or in the directory.
async fn record_gone(
    app: &App,
    directory: &DirectoryId,
    record: &FailedRecordKey,
) -> Result<bool, StoreError> {
    match record {
        FailedRecordKey::User(id) => {
            let Ok(user) = ProviderUserId::parse(id) else {
                return Ok(true);
            };
            Ok(absent(&app.store.get_user(directory, &user).await)
                && matches!(app.store.load_projected_user(&user).await,
                    Ok(projected) if projected.user.as_ref().is_none_or(|u| u.directory_id != *directory)))
        }
        FailedRecordKey::Group(id) => {
            let Ok(group) = ProviderGroupId::parse(id) else {
                return Ok(true);
            };
            Ok(absent(&app.store.get_group(directory, &group).await)
                && matches!(app.store.load_projected_group(&group).await,
                    Ok(projected) if projected.group.is_none()))
        }
    }
}

/// Only a clean "not found" counts as absent: a record that fails to read (say it does not
/// decode) is still there.
fn absent<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::NotFound))
}

/// One page of one phase of one directory, with what it needs to count and quarantine.
struct Page<'a> {
    app: &'a App,
    page_size: i32,
    context: &'a DirectoryContext,
    run: &'a mut Reconciliation,
    /// The directory's records with a sync failure on file: cleared when they project.
    quarantined: &'a mut HashSet<FailedRecordKey>,
    /// The records that failed in this invocation.
    failed: &'a mut HashSet<FailedRecordKey>,
    /// The users phase's tally; `None` once it cannot prove anything (a record failed, or
    /// the page was projected user by user, so who has a directory user is not known).
    tally: &'a mut Option<UserTally>,
    /// The users page after this one, read while this one was planned and committed.
    next_users: &'a mut Option<PrefetchedUsers>,
    /// The directory groups this turn's users pages have read.
    known_groups: &'a mut KnownGroups,
}

/// A users page as listed: its decodable users, and the ones that did not decode.
type ListedUsers = (UserPage, Vec<(String, StoreError)>);

/// A users page read ahead: the key it starts after, and what the read gave (a failed read
/// ahead is not kept: the page is read again when its turn comes, and fails then).
struct PrefetchedUsers {
    after: String,
    listed: ListedUsers,
    /// Its plans' first reads; `None` if they failed (made again at its turn).
    reads: Option<PlanReads>,
    /// The page after it, listed while its reads were made.
    further: Option<(String, ListedUsers)>,
}

/// Reads ahead of the users page `current` while it is planned and committed: the next page
/// is listed (unless `listed` holds it already) and its plans' first reads are made, while
/// the page after that is listed. Listing is a chain (a page starts after the last key of the
/// one before); this keeps it moving while the rest of each page's reads and commits happen
/// beside it, so a page costs about one round trip in sequence, not three.
async fn read_ahead(
    app: &App,
    directory: &DirectoryId,
    page_size: i32,
    current: &UserPage,
    listed: Option<(String, ListedUsers)>,
) -> Option<PrefetchedUsers> {
    let store = &app.store;
    let after = current.next.clone()?;
    let listed = match listed {
        Some((key, listed)) if key == after => listed,
        _ => store
            .list_users_tolerant(directory, Some(&after), page_size)
            .await
            .ok()?,
    };
    let list_further = async {
        let further = listed.0.next.clone()?;
        let page = store
            .list_users_tolerant(directory, Some(&further), page_size)
            .await
            .ok()?;
        Some((further, page))
    };
    let (reads, further) = futures::join!(
        read_for_plans(app, directory, &listed.0.users),
        list_further
    );
    Some(PrefetchedUsers {
        after,
        listed,
        reads: reads.ok(),
        further,
    })
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
        let directory = &context.directory().id;
        let store = &app.store;
        let next = match phase {
            "groups" => {
                let (groups, next) = store
                    .list_groups(directory, after.as_deref(), self.page_size)
                    .await?;
                // One batched read tells which groups are already as their provider groups
                // make them (two reads each, one by one, otherwise); only the rest project.
                let ids: Vec<_> = groups.iter().map(|group| group.id).collect();
                let states = store.load_projected_group_states(&ids).await?;
                let mut changing = Vec::new();
                for group in &groups {
                    let before = states.get(&group.id).cloned().unwrap_or_default();
                    if group_at_rest(app, context, group, &before) {
                        self.settle(FailedRecordKey::Group(group.id.to_string()), Ok(0))
                            .await?;
                    } else {
                        changing.push(group.id);
                    }
                }
                self.project_groups(&changing).await?;
                self.run.counts.groups += groups.len() as u64;
                next
            }
            "gone_groups" => {
                let (groups, next) = store
                    .projected_groups_page(directory, after, self.page_size)
                    .await?;
                // Directory groups whose provider group is gone or being deleted; the
                // groups phase just projected every other one.
                let present = store.existing_groups(directory, &groups).await?;
                let gone: Vec<_> = groups
                    .into_iter()
                    .filter(|group| !present.contains(group))
                    .collect();
                self.project_groups(&gone).await?;
                next
            }
            "users" => {
                let (listed, reads, listed_further) = match self.next_users.take() {
                    Some(ahead) if after.as_deref() == Some(ahead.after.as_str()) => {
                        (ahead.listed, ahead.reads, ahead.further)
                    }
                    _ => {
                        let listed = store
                            .list_users_tolerant(directory, after.as_deref(), self.page_size)
                            .await?;
                        (listed, None, None)
                    }
                };
                let (page, undecodable) = listed;
                // Boxed: both futures are large; inline, they overflow a 2 MiB thread stack
                // in a debug build.
                let read_ahead = Box::pin(read_ahead(
                    app,
                    directory,
                    self.page_size,
                    &page,
                    listed_further,
                ));
                let commits = Box::pin(self.reconcile_users(&page, undecodable, reads));
                let (ahead, committed) = futures::join!(read_ahead, commits);
                committed?;
                *self.next_users = ahead;
                page.next
            }
            _ => {
                let (users, next) = store
                    .projected_users_page(directory, after, self.page_size)
                    .await?;
                // Directory users whose provider record is gone: deleted under every policy.
                let present = store.existing_users(directory, &users).await?;
                for user in users.iter().filter(|u| !present.contains(u)) {
                    let result = project_user(app, context, user)
                        .await
                        .map(|events| events.len());
                    self.settle(FailedRecordKey::User(user.to_string()), result)
                        .await?;
                }
                next
            }
        };
        Ok(next)
    }

    /// Plans and commits one users page, counting and settling in page order.
    async fn reconcile_users(
        &mut self,
        page: &UserPage,
        undecodable: Vec<(String, StoreError)>,
        reads: Option<PlanReads>,
    ) -> Result<(), StoreError> {
        let (app, context) = (self.app, self.context);
        let directory = &context.directory().id;
        // A provider record that does not decode is quarantined, not the page.
        for (user, error) in undecodable {
            *self.tally = None;
            self.run.counts.users += 1;
            self.settle(FailedRecordKey::User(user), Err(error)).await?;
        }
        // A page not read ahead (the first of a turn) is read now; either way its groups
        // join the turn's known ones.
        let known_groups = &mut *self.known_groups;
        let plans = async {
            let reads = match reads {
                Some(reads) => reads,
                None => read_for_plans(app, directory, &page.users).await?,
            };
            plan_users_read(app, context, &page.users, reads, known_groups).await
        }
        .await;
        match plans {
            Ok(plans) => {
                // Committed concurrently, so a page's changes share transactions
                // (group commit); counted and settled in page order.
                let commits: Vec<_> = plans
                    .into_iter()
                    .map(|(user, plan)| async move {
                        let result = commit_plan(app, context, &user, &plan).await;
                        (user, plan, result.map(|events| events.len()))
                    })
                    .collect();
                let results = at_most_concurrently(commits).await;
                for (user, plan, result) in results {
                    // A commit that lost a race re-projected from fresh state, which
                    // may differ from the plan; it then moved the counters' `changes`
                    // if it created or deleted the user, so the tally cannot lie.
                    if let (Some(tally), Ok(_)) = (self.tally.as_mut(), &result) {
                        tally.matched += u64::from(plan.leaves_user_in(directory));
                    }
                    self.settle(FailedRecordKey::User(user.to_string()), result)
                        .await?;
                }
            }
            // One unreadable user spoils the batched read: project the page one
            // user at a time, so only that user is quarantined.
            Err(error) => {
                tracing::warn!(reconciliation_id = %self.run.id, %error,
                    "batched planning failed; projecting the page user by user");
                *self.tally = None;
                for user in &page.users {
                    let result = project_user(app, context, &user.id)
                        .await
                        .map(|events| events.len());
                    self.settle(FailedRecordKey::User(user.id.to_string()), result)
                        .await?;
                }
            }
        }
        self.run.counts.users += page.users.len() as u64;
        Ok(())
    }

    /// Projects a page's groups, [`GROUP_CONCURRENCY`] at a time (they are independent: a
    /// commit that races another's on a shared member re-plans), settled in page order.
    async fn project_groups(&mut self, groups: &[ProviderGroupId]) -> Result<(), StoreError> {
        let (app, context) = (self.app, self.context);
        let projections = groups
            .iter()
            .map(|group| async move {
                project_group(app, context, group)
                    .await
                    .map(|p| p.event_count())
            })
            .collect();
        let results = in_order_at_most(GROUP_CONCURRENCY, projections).await;
        for (group, result) in groups.iter().zip(results) {
            self.settle(FailedRecordKey::Group(group.to_string()), result)
                .await?;
        }
        Ok(())
    }

    /// Counts one record's outcome: its events, clearing an entry on file; or, when it
    /// failed, a sync failure recorded with its reason.
    async fn settle(
        &mut self,
        record: FailedRecordKey,
        result: Result<usize, StoreError>,
    ) -> Result<(), StoreError> {
        let store = &self.app.store;
        let directory = &self.context.directory().id;
        match result {
            Ok(events) => {
                self.run.counts.events += events as u64;
                if self.quarantined.remove(&record) {
                    store.clear_sync_failure(directory, &record).await?;
                }
            }
            Err(error) => {
                *self.tally = None;
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

/// Saves a run as the lease's holder, each save conditioned on the one before.
struct Saver<'a> {
    owner: &'a str,
    saved_at: i64,
}

impl Saver<'_> {
    /// `keep`: renew the lease and go on; otherwise release it (suspended or finished).
    async fn save(
        &mut self,
        app: &App,
        run: &mut Reconciliation,
        keep: bool,
    ) -> Result<(), StoreError> {
        let expected = self.saved_at;
        let now = app.now();
        run.updated_at = now.max(expected + 1);
        let lease = if keep {
            LeaseAfterSave::Renew { now }
        } else {
            LeaseAfterSave::Release
        };
        app.store
            .save_reconciliation(run, expected, self.owner, lease)
            .await?;
        self.saved_at = run.updated_at;
        Ok(())
    }
}
