//! DynamoDB stream batches of provider records.
//!
//! A record only says *what* changed (a user, a group, a membership); the projection reads
//! the current state fresh, so redelivered, duplicated or reordered records converge on the
//! same directory and never emit an event twice. Failures are reported per record, as
//! Lambda's `ReportBatchItemFailures` expects: the first failed sequence number, after which
//! everything is retried.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use dsync_domain::ids::{DirectoryId, ProviderGroupId, ProviderUserId};
use dsync_dynamo::{FailedRecordKey, StoreError};
use serde_dynamo::AttributeValue;

use futures::StreamExt;

use crate::project::{project_group, project_users, Contexts, DirectoryContext};
use crate::App;

/// What one stream record asks to re-project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    User(DirectoryId, ProviderUserId),
    Group(DirectoryId, ProviderGroupId),
}

/// Stream records per invocation at most: the template's `BatchSize` for the
/// provider-records stream, and the local runner's. A SCIM create makes about three records
/// (the user and its guard and count items), so a full batch holds ~160 users; their commits
/// share transactions (the store's group commit), and a bigger batch means fuller ones and
/// fewer round trips per user. Lambda also cuts a batch at 6 MB of records.
pub const BATCH_SIZE: usize = 500;

/// How many users reconciliation commits at once: each is a commit (and, when it lost a race,
/// a few reads) that waits for a shared transaction, so a hundred in flight keep a
/// transaction of 94 full. A stream batch's users and a group's member sweep, whose reads
/// are batched, all project at once (`project_users`).
pub const PROJECTION_CONCURRENCY: usize = 100;

/// How many groups of one reconciliation page are projected at once. A group that drifted
/// may sweep its members, each sweep projecting up to [`PROJECTION_CONCURRENCY`] users, so
/// fewer groups than users run side by side; an unchanged group is two reads.
pub const GROUP_CONCURRENCY: usize = 16;

/// Runs `projections` [`PROJECTION_CONCURRENCY`] at a time; their outputs in their order.
pub(crate) async fn at_most_concurrently<F: std::future::Future>(
    projections: Vec<F>,
) -> Vec<F::Output> {
    in_order_at_most(PROJECTION_CONCURRENCY, projections).await
}

/// Runs `futures` `limit` at a time; their outputs in their order.
pub(crate) async fn in_order_at_most<F: std::future::Future>(
    limit: usize,
    futures: Vec<F>,
) -> Vec<F::Output> {
    futures::stream::iter(futures)
        .buffered(limit.max(1))
        .collect()
        .await
}

pub async fn handle_batch(app: &App, event: Event) -> DynamoDbEventResponse {
    let targets: Vec<(Option<Target>, Option<String>)> = event
        .records
        .iter()
        .map(|record| (target_of(record), record.change.sequence_number.clone()))
        .collect();
    // Every projection re-reads the current state, so one per target and batch is enough.
    // A user is projected at its last record; a group at its first, so that a group being
    // deleted (its `deleting` mark comes first, its memberships' removals after) is
    // projected away before its members are, and `dsync.group.deleted` comes alone.
    let mut at: HashMap<Target, usize> = HashMap::new();
    for (index, target) in targets.iter().enumerate() {
        let Some(target) = target.0 else { continue };
        match (at.entry(target), target) {
            (Entry::Occupied(mut slot), Target::User(..)) => *slot.get_mut() = index,
            (Entry::Occupied(_), Target::Group(..)) => {}
            (Entry::Vacant(slot), _) => {
                slot.insert(index);
            }
        }
    }
    let mut chosen: Vec<(usize, Target)> = at.into_iter().map(|(t, i)| (i, t)).collect();
    chosen.sort_unstable_by_key(|&(index, _)| index);
    let mut contexts = Contexts::for_stream();
    let mut quarantined = Quarantined::default();
    let mut response = DynamoDbEventResponse::default();
    let mut rest = &chosen[..];
    while let Some(&(first, target)) = rest.first() {
        // A group projects alone (it may re-project its members); the users up to the next
        // group project together, each a different user.
        let run = match target {
            Target::Group(..) => 1,
            Target::User(..) => rest
                .iter()
                .take_while(|(_, t)| matches!(t, Target::User(..)))
                .count(),
        };
        let (this_run, after) = rest.split_at(run);
        rest = after;
        let failed = match project_run(app, &mut contexts, &mut quarantined, this_run).await {
            Ok(results) => settle(app, &mut quarantined, results).await,
            Err(_) => Some(first),
        };
        if let Some(index) = failed {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = targets[index].1.clone();
            response.batch_item_failures.push(failure);
            break;
        }
    }
    response
}

type RunResults = Vec<(usize, Target, Result<(), StoreError>)>;

/// Projects `run`'s targets concurrently, after reading the contexts of their directories
/// (an error there fails the whole run). The directories' sync failures, which only
/// `settle` needs, are read meanwhile.
async fn project_run(
    app: &App,
    contexts: &mut Contexts,
    quarantined: &mut Quarantined,
    run: &[(usize, Target)],
) -> Result<RunResults, StoreError> {
    let mut known = HashMap::new();
    for (_, target) in run {
        let directory = directory_of(*target);
        if let Entry::Vacant(slot) = known.entry(directory) {
            slot.insert(Box::pin(contexts.get(app, &directory)).await?);
        }
    }
    let directories: Vec<DirectoryId> = known.keys().copied().collect();
    let load_failures = async {
        for directory in directories {
            quarantined.load(app, directory).await;
        }
    };
    let ((), results) = tokio::join!(
        Box::pin(load_failures),
        Box::pin(project_known(app, &known, run))
    );
    Ok(results)
}

/// Projects `run` with its directories' contexts (a directory gone projects nothing). A run
/// is one group or users only; the users of each directory project together, their reads
/// batched.
async fn project_known(
    app: &App,
    known: &HashMap<DirectoryId, Option<DirectoryContext>>,
    run: &[(usize, Target)],
) -> RunResults {
    type Users<'a> = (&'a DirectoryContext, Vec<(usize, ProviderUserId)>);
    let mut users: HashMap<DirectoryId, Users> = HashMap::new();
    let mut results = RunResults::with_capacity(run.len());
    for &(index, target) in run {
        let Some(context) = known.get(&directory_of(target)).and_then(Option::as_ref) else {
            results.push((index, target, Ok(())));
            continue;
        };
        match target {
            Target::User(directory, user) => {
                let (_, of_directory) = users.entry(directory).or_insert((context, Vec::new()));
                of_directory.push((index, user));
            }
            Target::Group(_, group) => {
                let projected = project_group(app, context, &group).await;
                let result = projected.map(|done| log_projected(target, done.event_count()));
                results.push((index, target, result));
            }
        }
    }
    for (directory, (context, users)) in users {
        let ids: Vec<ProviderUserId> = users.iter().map(|&(_, user)| user).collect();
        let projected = project_users(app, context, &ids).await;
        for ((index, user), result) in users.into_iter().zip(projected) {
            let target = Target::User(directory, user);
            let result = result.map(|events| log_projected(target, events.len()));
            results.push((index, target, result));
        }
    }
    // `settle` goes through them in record order.
    results.sort_unstable_by_key(|&(index, ..)| index);
    results
}

fn log_projected(target: Target, events: usize) {
    if events > 0 {
        tracing::info!(?target, events, "projected");
    }
}

/// Goes through a run's results in record order: clears the sync failures of targets that
/// projected, quarantines those that never can, and returns the first record that failed
/// otherwise (the batch resumes there; the run's later targets project again, harmlessly).
async fn settle(app: &App, quarantined: &mut Quarantined, results: RunResults) -> Option<usize> {
    for (index, target, mut result) in results {
        if result.is_ok() {
            result = quarantined.clear(app, target).await;
        }
        let Err(error) = result else { continue };
        // A record that can never project (its stored state does not decode) is
        // quarantined and skipped; anything else may pass, so the batch is retried.
        if matches!(error, StoreError::Corrupt(_))
            && quarantine(app, target, &error.to_string(), "stream")
                .await
                .is_ok()
        {
            continue;
        }
        tracing::warn!(?target, %error, "projection failed; the batch resumes from this record");
        return Some(index);
    }
    None
}

fn directory_of(target: Target) -> DirectoryId {
    match target {
        Target::User(directory, _) | Target::Group(directory, _) => directory,
    }
}

/// The sync failures on file for the directories a batch touches, read once per directory
/// and batch (one Query), so that a record that projects again has its entry removed at
/// once, not only at the next reconciliation.
#[derive(Default)]
struct Quarantined {
    known: HashMap<DirectoryId, HashSet<FailedRecordKey>>,
}

impl Quarantined {
    /// The directory's sync failures on file, read on first use.
    async fn entries(
        &mut self,
        app: &App,
        directory: DirectoryId,
    ) -> Result<&mut HashSet<FailedRecordKey>, StoreError> {
        Ok(match self.known.entry(directory) {
            Entry::Occupied(entries) => entries.into_mut(),
            Entry::Vacant(slot) => {
                let on_file = app.store.sync_failures(&directory).await?;
                slot.insert(on_file.into_iter().map(|f| f.record).collect())
            }
        })
    }

    /// Reads a directory's sync failures ahead of `clear`. A failed read is not kept:
    /// `clear` reads again and reports it.
    async fn load(&mut self, app: &App, directory: DirectoryId) {
        let _ = self.entries(app, directory).await;
    }

    async fn clear(&mut self, app: &App, target: Target) -> Result<(), StoreError> {
        let (directory, record) = failed_record_key(target);
        if self.entries(app, directory).await?.remove(&record) {
            app.store.clear_sync_failure(&directory, &record).await?;
            tracing::info!(
                ?target,
                "quarantined record projected; its sync failure is cleared"
            );
        }
        Ok(())
    }
}

fn failed_record_key(target: Target) -> (DirectoryId, FailedRecordKey) {
    match target {
        Target::User(directory, user) => (directory, FailedRecordKey::User(user.to_string())),
        Target::Group(directory, group) => (directory, FailedRecordKey::Group(group.to_string())),
    }
}

/// Records a target as a sync failure (listed by the management API; the next
/// reconciliation retries it and clears the entry when it projects).
pub async fn quarantine(
    app: &App,
    target: Target,
    reason: &str,
    source: &str,
) -> Result<(), StoreError> {
    let (directory, record) = failed_record_key(target);
    tracing::warn!(?target, source, "record quarantined");
    app.store
        .record_sync_failure(&directory, &record, reason, source, app.now())
        .await
}

/// The dead-letter destination's side of quarantine: a record whose retries ran out is
/// listed with the other sync failures, so nothing is dropped silently.
pub async fn quarantine_dead_letter(
    app: &App,
    record: &EventRecord,
    reason: &str,
) -> Result<(), StoreError> {
    match target_of(record) {
        Some(target) => quarantine(app, target, reason, "dead_letter").await,
        None => Ok(()),
    }
}

/// The projection a record calls for, or `None` for records that change nothing visible:
/// guard and twin items, and TTL deletions (which never make events).
pub fn target_of(record: &EventRecord) -> Option<Target> {
    if is_ttl_removal(record) {
        return None;
    }
    let image = if record.change.new_image.is_empty() {
        &record.change.old_image
    } else {
        &record.change.new_image
    };
    let text = |name: &str| match image.get(name) {
        Some(AttributeValue::S(value)) => Some(value.as_str()),
        _ => None,
    };
    let directory = DirectoryId::parse(text("directory_id")?).ok()?;
    match text("type")? {
        "user" => Some(Target::User(
            directory,
            ProviderUserId::parse(text("id")?).ok()?,
        )),
        "membership" => Some(Target::User(
            directory,
            ProviderUserId::parse(text("user_id")?).ok()?,
        )),
        "group" => Some(Target::Group(
            directory,
            ProviderGroupId::parse(text("id")?).ok()?,
        )),
        // The next chunk of a group's member sweep (a mark's removal asks for nothing).
        dsync_dynamo::MEMBER_SWEEP_MARK_TYPE if !record.change.new_image.is_empty() => Some(
            Target::Group(directory, ProviderGroupId::parse(text("group_id")?).ok()?),
        ),
        _ => None,
    }
}

fn is_ttl_removal(record: &EventRecord) -> bool {
    record
        .user_identity
        .as_ref()
        .is_some_and(|who| who.type_ == "Service" && who.principal_id == "dynamodb.amazonaws.com")
}
