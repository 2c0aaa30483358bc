//! Projecting one provider user or group from freshly read state. The stream path and
//! reconciliation both come here, so they can never disagree.

use std::collections::{HashMap, HashSet};

use dsync_domain::directory::basis::{at_rest, user_basis, AtRest, ContextDigest};
use dsync_domain::directory::{self, GroupInput, GroupWrite, UserInput};
use dsync_domain::ids::{DirectoryGroupId, DirectoryId, ProviderGroupId, ProviderUserId};
use dsync_domain::model::{
    Directory, DirectoryMappings, EnvironmentSettings, ProviderGroup, ProviderUser,
};
use dsync_dynamo::{EventScope, ProjectedGroup, StoreError, StoredEvent};

use crate::known_groups::KnownGroups;
use crate::App;

/// A lost race with another writer is retried from a fresh read this many times.
const MAX_ATTEMPTS: u32 = 20;

/// What projecting a directory's records needs besides the records: the directory (with its
/// role and attribute mappings) and the environment's settings (with its roles), read once.
#[derive(Debug, Clone)]
pub struct DirectoryContext {
    directory: Directory,
    settings: EnvironmentSettings,
    /// What every user's basis shares, computed once per context rather than per user;
    /// private so that nothing changes the directory or settings without it.
    digest: ContextDigest,
}

impl DirectoryContext {
    pub fn new(directory: Directory, settings: EnvironmentSettings) -> Self {
        let digest = ContextDigest::new(&directory, &settings);
        Self {
            directory,
            settings,
            digest,
        }
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn settings(&self) -> &EnvironmentSettings {
        &self.settings
    }

    pub(crate) fn digest(&self) -> &ContextDigest {
        &self.digest
    }

    /// Projects under `settings` instead (a preview).
    pub fn set_settings(&mut self, settings: EnvironmentSettings) {
        self.settings = settings;
        self.digest = ContextDigest::new(&self.directory, &self.settings);
    }

    /// Projects with `mappings` instead (a preview).
    pub fn set_mappings(&mut self, mappings: DirectoryMappings) {
        self.directory.mappings = mappings;
        self.digest = ContextDigest::new(&self.directory, &self.settings);
    }

    fn scope(&self) -> EventScope {
        EventScope {
            environment_id: self.directory.environment_id,
            directory_id: Some(self.directory.id),
            organization_id: self.directory.organization_id.clone(),
        }
    }
}

/// Directory contexts read once per batch or run. `None`: the directory was deleted, and its
/// records project to nothing (its deletion already said `dsync.deleted`).
#[derive(Default)]
pub struct Contexts {
    known: HashMap<DirectoryId, Option<DirectoryContext>>,
    /// Also take contexts this process read up to [`App::context_max_age`] ago (stream
    /// batches; see context_cache.rs).
    shared: bool,
}

impl Contexts {
    /// Contexts for one stream batch: those the process read lately are reused.
    pub fn for_stream() -> Self {
        Self {
            shared: true,
            ..Self::default()
        }
    }

    pub async fn get(
        &mut self,
        app: &App,
        directory: &DirectoryId,
    ) -> Result<Option<DirectoryContext>, StoreError> {
        if let Some(known) = self.known.get(directory) {
            return Ok(known.clone());
        }
        let shared = self.shared && !app.context_max_age.is_zero();
        if shared {
            if let Some(context) = app.contexts.get(directory, app.context_max_age) {
                self.known.insert(*directory, Some(context.clone()));
                return Ok(Some(context));
            }
        }
        let read_at = std::time::Instant::now();
        let context = match app.store.get_directory(directory).await {
            Ok(directory) => {
                let environment = app.store.get_environment(&directory.environment_id).await?;
                Some(DirectoryContext::new(directory, environment.settings))
            }
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        };
        // A missing directory is not remembered across batches: it is looked up again.
        if let (true, Some(context)) = (shared, &context) {
            app.contexts.put(context.clone(), read_at);
        }
        self.known.insert(*directory, context.clone());
        Ok(context)
    }

    /// Projects under these settings instead of the stored ones (a preview).
    pub fn override_settings(&mut self, settings: &EnvironmentSettings) {
        for context in self.known.values_mut().flatten() {
            context.set_settings(settings.clone());
        }
    }
}

/// Re-projects a provider user and commits the difference with its events.
pub async fn project_user(
    app: &App,
    context: &DirectoryContext,
    user: &ProviderUserId,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut attempt = 0;
    loop {
        let plan = plan_user(app, context, user).await?;
        match commit_once(app, context, user, &plan).await {
            Err(StoreError::Conflict) if directory_gone(app, context).await? => {
                return Ok(Vec::new())
            }
            Err(StoreError::Conflict) if attempt < MAX_ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

/// Re-projects many provider users of one directory (a stream batch's, a group's member
/// sweep), as [`project_user`] does each, with their reads batched: their inputs together
/// (`Store::load_users_inputs`), and the second read of memberships that [`plan_user`]
/// makes for a plan that changes them, for all such plans in one ranged read. A user whose
/// plan cannot stand (its memberships moved, a read failed) or whose commit loses a race is
/// projected alone. Each result in `users`' order.
pub async fn project_users(
    app: &App,
    context: &DirectoryContext,
    users: &[ProviderUserId],
) -> Vec<Result<Vec<StoredEvent>, StoreError>> {
    let mut plans = plan_users_together(app, context, users).await;
    let projections = users
        .iter()
        .map(|user| {
            let plan = plans.remove(user);
            async move {
                match plan {
                    Some(plan) => commit_plan(app, context, user, &plan).await,
                    None => project_user(app, context, user).await,
                }
            }
        })
        .collect();
    // All at once: their reads are made, and the sooner every commit is queued, the fewer
    // transactions they share (a run is at most a stream batch's users, a sweep's chunk).
    crate::stream::in_order_at_most(users.len(), projections).await
}

/// The plans [`project_users`] commits: those it could make and check from batched reads.
async fn plan_users_together(
    app: &App,
    context: &DirectoryContext,
    users: &[ProviderUserId],
) -> HashMap<ProviderUserId, UserPlan> {
    let directory = &context.directory.id;
    // A failed batched read costs only the batching: each user then projects alone, and
    // reports its own error if that fails too.
    let mut read = match app.store.load_users_inputs(directory, users).await {
        Ok(read) => read,
        Err(error) => {
            tracing::warn!(%error, users = users.len(), "batched read failed; each user reads alone");
            return HashMap::new();
        }
    };
    let now = app.now();
    let mut plans = HashMap::new();
    let mut to_check = HashMap::new();
    for user in users {
        let Some(inputs) = read.remove(user) else {
            continue;
        };
        let memberships = memberships_read(&inputs);
        let plan = plan_from_inputs(context, inputs, now);
        if let Some(memberships) = memberships.filter(|_| changes_memberships(&plan)) {
            to_check.insert(*user, memberships);
        }
        plans.insert(*user, plan);
    }
    if to_check.is_empty() {
        return plans;
    }
    // As `plan_user` does, after the projection was read: a plan whose memberships moved
    // is dropped, and its user projects alone.
    let ids: Vec<ProviderUserId> = to_check.keys().copied().collect();
    match app.store.groups_of_neighbours(directory, &ids).await {
        Ok(mut again) => {
            for (user, memberships) in to_check {
                if !same_groups(memberships, again.remove(&user).unwrap_or_default()) {
                    plans.remove(&user);
                }
            }
        }
        Err(_) => plans.retain(|user, _| !to_check.contains_key(user)),
    }
    plans
}

/// The projection of one provider user, computed but not committed.
pub struct UserPlan {
    pub before: dsync_dynamo::ProjectedUser,
    pub outcome: directory::UserOutcome,
    pub now: i64,
    /// The provider state the plan was made from, when it was read before the projection
    /// (a listed page): its commit then checks that it is still so.
    pub listed: Option<dsync_dynamo::ListedUser>,
    /// The basis of the plan's inputs, stored with the user when it commits.
    pub basis: Option<String>,
    /// The stored user carries this plan's basis: it is as its inputs make it, so the plan
    /// is nothing to do (and `before` and `outcome` were not read or computed).
    pub at_rest: bool,
}

pub async fn plan_user(
    app: &App,
    context: &DirectoryContext,
    user: &ProviderUserId,
) -> Result<UserPlan, StoreError> {
    let directory = &context.directory.id;
    let mut attempt = 0;
    loop {
        // Boxed, as the reads' futures are large and a test's main future holds this one on
        // a thread's stack.
        let inputs = Box::pin(app.store.load_user_inputs(directory, user)).await?;
        let read = memberships_read(&inputs);
        let plan = plan_from_inputs(context, inputs, app.now());
        // The provider's memberships are read side by side with the projection, so they may
        // be the older read: a membership change projected between the two would be undone
        // by this plan, whose commit is guarded by the newer projection. A plan that changes
        // memberships reads them again, now after the projection, and is made again if they
        // moved.
        let Some(read) = read.filter(|_| changes_memberships(&plan)) else {
            return Ok(plan);
        };
        let again = Box::pin(app.store.groups_of_user(directory, user)).await?;
        if same_groups(read, again) {
            return Ok(plan);
        }
        if attempt == MAX_ATTEMPTS {
            return Err(StoreError::Conflict);
        }
        attempt += 1;
    }
}

/// The provider's memberships a plan from `inputs` is made from; none for a gone provider
/// user (its memberships go with it, so its plan needs no second read).
fn memberships_read(inputs: &dsync_dynamo::UserInputs) -> Option<Vec<ProviderGroupId>> {
    inputs
        .provider
        .as_ref()
        .map(|_| inputs.provider_groups.clone())
}

fn changes_memberships(plan: &UserPlan) -> bool {
    !plan.outcome.removals.is_empty() || !plan.outcome.additions.is_empty()
}

fn same_groups(mut a: Vec<ProviderGroupId>, mut b: Vec<ProviderGroupId>) -> bool {
    a.sort();
    b.sort();
    a == b
}

fn plan_from_inputs(
    context: &DirectoryContext,
    inputs: dsync_dynamo::UserInputs,
    now: i64,
) -> UserPlan {
    let dsync_dynamo::UserInputs {
        provider,
        groups,
        mut before,
        ..
    } = inputs;
    let digest = context.digest();
    let basis = provider
        .as_ref()
        .and_then(|provider| user_basis(provider, &groups, digest));
    // Directory users are keyed by provider user id alone. A record of this directory can
    // name another directory's user (a group member id the SCIM client made up, kept until
    // such a user is created here): that user is not this directory's to change, and to
    // this directory it does not exist.
    if before
        .user
        .as_ref()
        .is_some_and(|u| u.directory_id != context.directory.id)
    {
        before = dsync_dynamo::ProjectedUser::default();
    }
    let outcome = directory::project_user(&UserInput {
        provider: provider.as_ref(),
        settings: &context.settings,
        mappings: &context.directory.mappings,
        current: before.user.as_ref(),
        provider_groups: &groups,
        current_groups: &before.groups,
        organization_id: context.directory.organization_id.as_deref(),
        now,
    });
    // The record is read with the projection in one request, so the window a listed page
    // opens (see `UserPlan::listed`) is not there; the stream path also projects a user's
    // records in order.
    UserPlan {
        before,
        outcome,
        now,
        listed: None,
        basis,
        at_rest: false,
    }
}

impl UserPlan {
    /// Whether a directory user of `directory` stands once this plan is committed.
    pub fn leaves_user_in(&self, directory: &DirectoryId) -> bool {
        // At rest with a basis: its user stands (the basis covers the directory); without
        // one: it has no directory user.
        if self.at_rest {
            return self.basis.is_some();
        }
        match &self.outcome.user {
            directory::UserWrite::Unchanged => self
                .before
                .user
                .as_ref()
                .is_some_and(|u| u.directory_id == *directory),
            directory::UserWrite::Put(user) => user.directory_id == *directory,
            directory::UserWrite::Delete(_) => false,
        }
    }
}

/// Plans a page of provider users (in id order, as listed) with batched reads: one ranged
/// Query for their memberships and one BatchGetItem for their directory users side by side,
/// then one for the groups. Reconciliation and the preview use this; each plan is the same
/// projection rule.
pub async fn plan_users(
    app: &App,
    context: &DirectoryContext,
    users: &[ProviderUser],
) -> Result<Vec<(ProviderUserId, UserPlan)>, StoreError> {
    let reads = read_for_plans(app, &context.directory.id, users).await?;
    plan_users_read(app, context, users, reads, &mut KnownGroups::default()).await
}

/// What planning a page of users reads before it knows which groups to expect: their
/// memberships and the bases their directory users carry, read side by side. A reader may
/// take these ahead of time (reconciliation reads the next page's while it commits this one):
/// a projection read stale loses its commit's race and is planned again from fresh state.
pub struct PlanReads {
    memberships: HashMap<ProviderUserId, Vec<ProviderGroupId>>,
    /// Each directory user's stored basis; users without a directory user are absent.
    bases: HashMap<ProviderUserId, Option<String>>,
}

impl PlanReads {
    /// Reads made separately: `memberships` from [`dsync_dynamo::Store::groups_of_users`],
    /// `bases` from [`dsync_dynamo::Store::load_user_bases`].
    pub fn new(
        memberships: HashMap<ProviderUserId, Vec<ProviderGroupId>>,
        bases: HashMap<ProviderUserId, Option<String>>,
    ) -> Self {
        Self { memberships, bases }
    }
}

pub async fn read_for_plans(
    app: &App,
    directory: &DirectoryId,
    users: &[ProviderUser],
) -> Result<PlanReads, StoreError> {
    let ids: Vec<ProviderUserId> = users.iter().map(|u| u.id).collect();
    let (memberships, bases) = futures::try_join!(
        app.store.groups_of_users(directory, &ids),
        app.store.load_user_bases(&ids)
    )?;
    Ok(PlanReads::new(memberships, bases))
}

/// [`plan_users`] from reads already made for these users. A user whose stored basis is the
/// basis of its inputs is at rest, planned without reading its projection; the others'
/// directory users and memberships are read then (two batched reads for the page).
pub async fn plan_users_read(
    app: &App,
    context: &DirectoryContext,
    users: &[ProviderUser],
    reads: PlanReads,
    known: &mut KnownGroups,
) -> Result<Vec<(ProviderUserId, UserPlan)>, StoreError> {
    let PlanReads {
        mut memberships,
        bases,
    } = reads;
    let mut wanted: Vec<ProviderGroupId> = memberships.values().flatten().copied().collect();
    wanted.sort();
    wanted.dedup();
    let read_now = known.read(app, &wanted).await?;
    // The directory groups each user should be in: what its basis is made from and its
    // memberships are checked against.
    let mut joined_by_user = known.joined_by_user(users.iter().map(|u| &u.id), &memberships);
    let digest = context.digest();
    let expect = |user: &ProviderUser, joined: &HashMap<_, Vec<_>>| {
        let groups = joined.get(&user.id).map_or(&[][..], Vec::as_slice);
        at_rest(user, groups, digest)
    };
    let mut expected: HashMap<ProviderUserId, AtRest> = users
        .iter()
        .map(|user| (user.id, expect(user, &joined_by_user)))
        .collect();
    let resting: HashSet<ProviderUserId> = users
        .iter()
        .map(|user| user.id)
        .filter(|user| found_at_rest(&expected[user], bases.get(user)))
        .collect();
    let changing: Vec<&ProviderUser> = users
        .iter()
        .filter(|user| !resting.contains(&user.id))
        .collect();
    // A user planned in full is planned with its groups as they are now.
    let mut stale: Vec<ProviderGroupId> = changing
        .iter()
        .flat_map(|user| memberships.get(&user.id).into_iter().flatten())
        .filter(|group| !read_now.contains(group))
        .copied()
        .collect();
    stale.sort();
    stale.dedup();
    if !stale.is_empty() {
        known.refresh(app, &stale).await?;
        let fresh = known.joined_by_user(changing.iter().map(|u| &u.id), &memberships);
        joined_by_user.extend(fresh);
        for user in &changing {
            expected.insert(user.id, expect(user, &joined_by_user));
        }
    }
    let mut projected = if changing.is_empty() {
        HashMap::new()
    } else {
        let ids: Vec<ProviderUserId> = changing.iter().map(|user| user.id).collect();
        let items = app.store.load_projected_user_items(&ids).await?;
        app.store
            .complete_projected_users(items, &joined_by_user)
            .await?
    };
    let now = app.now();
    let mut plans = Vec::with_capacity(users.len());
    for user in users {
        let basis = match expected.remove(&user.id) {
            Some(AtRest::Basis(basis)) => Some(basis),
            _ => None,
        };
        if resting.contains(&user.id) {
            plans.push((user.id, UserPlan::at_rest(basis, now)));
            continue;
        }
        let joined = joined_by_user.get(&user.id).map_or(&[][..], Vec::as_slice);
        let before = projected.remove(&user.id).unwrap_or_default();
        let outcome = directory::project_user(&UserInput {
            provider: Some(user),
            settings: &context.settings,
            mappings: &context.directory.mappings,
            current: before.user.as_ref(),
            provider_groups: joined,
            current_groups: &before.groups,
            organization_id: context.directory.organization_id.as_deref(),
            now,
        });
        plans.push((
            user.id,
            UserPlan {
                before,
                outcome,
                now,
                listed: Some(dsync_dynamo::ListedUser {
                    version: user.version,
                    groups: memberships.remove(&user.id).unwrap_or_default(),
                }),
                basis,
                at_rest: false,
            },
        ));
    }
    Ok(plans)
}

/// Whether a user expected to look like `expected` does, by its stored basis (`stored`:
/// `None` without a directory user, `Some(None)` with one that carries no basis).
fn found_at_rest(expected: &AtRest, stored: Option<&Option<String>>) -> bool {
    match expected {
        AtRest::Basis(basis) => stored.is_some_and(|s| s.as_deref() == Some(basis.as_str())),
        AtRest::NoUser => stored.is_none(),
        AtRest::Unknown => false,
    }
}

impl UserPlan {
    fn at_rest(basis: Option<String>, now: i64) -> Self {
        Self {
            before: dsync_dynamo::ProjectedUser::default(),
            outcome: directory::UserOutcome {
                user: directory::UserWrite::Unchanged,
                removals: Vec::new(),
                own_event: None,
                additions: Vec::new(),
            },
            now,
            listed: None,
            basis,
            at_rest: true,
        }
    }
}

/// Every projection commit checks that its directory still exists. When one fails because
/// the directory was deleted meanwhile, its records project to nothing (`dsync.deleted`
/// already stands for them), and the purge removes what was there.
async fn directory_gone(app: &App, context: &DirectoryContext) -> Result<bool, StoreError> {
    match app.store.get_directory(&context.directory.id).await {
        Ok(_) => Ok(false),
        Err(StoreError::NotFound) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Commits a plan; if another writer got there first, re-projects from fresh state.
pub async fn commit_plan(
    app: &App,
    context: &DirectoryContext,
    user: &ProviderUserId,
    plan: &UserPlan,
) -> Result<Vec<StoredEvent>, StoreError> {
    match commit_once(app, context, user, plan).await {
        Err(StoreError::Conflict) => project_user(app, context, user).await,
        other => other,
    }
}

async fn commit_once(
    app: &App,
    context: &DirectoryContext,
    user: &ProviderUserId,
    plan: &UserPlan,
) -> Result<Vec<StoredEvent>, StoreError> {
    if plan.at_rest {
        return Ok(Vec::new());
    }
    let from = dsync_dynamo::PlannedFrom {
        listed: plan.listed.as_ref(),
        basis: plan.basis.as_deref(),
    };
    app.store
        .commit_user_plan(
            &context.scope(),
            user,
            &plan.before,
            &plan.outcome,
            plan.now,
            from,
        )
        .await
}

/// How many members one projection of a group re-projects at most. A group's first
/// projection re-projects its members (their memberships may have been projected before the
/// group was); a chunk of this size is about 600 DynamoDB calls (its members read together,
/// as a stream batch's users), well inside one Lambda invocation, whatever the group's size,
/// and its memory is one chunk's ids.
pub const MEMBER_SWEEP_CHUNK: i32 = 500;

/// What one projection of a group did.
#[derive(Debug, Default)]
pub struct GroupProjection {
    /// The group's own events.
    pub events: Vec<StoredEvent>,
    /// How many events the members it re-projected made (counted, not kept).
    pub member_events: usize,
    /// Members are left to re-project: a wake-up record continues the sweep.
    pub sweep_unfinished: bool,
}

impl GroupProjection {
    pub fn event_count(&self) -> usize {
        self.events.len() + self.member_events
    }
}

/// Whether projecting `provider` would do nothing: the directory group is as the provider
/// group makes it and no member sweep is unfinished. Reconciliation plans a page of groups
/// from batched reads with this, and projects only the others; a group that changes between
/// the read and a later projection is the stream path's to project.
pub fn group_at_rest(
    app: &App,
    context: &DirectoryContext,
    provider: &ProviderGroup,
    before: &ProjectedGroup,
) -> bool {
    let outcome = directory::project_group(&GroupInput {
        provider: Some(provider),
        current: before.group.as_ref(),
        organization_id: context.directory.organization_id.as_deref(),
        now: app.now(),
    });
    matches!(outcome.group, GroupWrite::Unchanged)
        && outcome.events.is_empty()
        && !before.members_pending()
        && before.members_after().is_none()
}

/// Re-projects a provider group. A group that has just come into existence also re-projects
/// its members, a chunk per call ([`App::member_sweep_chunk`]). The group is stored marked until
/// that is done, with the position reached, so a retry after a crash resumes the sweep
/// instead of finding the group and skipping its members; an unfinished sweep puts a
/// wake-up mark whose stream record projects the group again, for the next chunk.
pub async fn project_group(
    app: &App,
    context: &DirectoryContext,
    group: &ProviderGroupId,
) -> Result<GroupProjection, StoreError> {
    let directory = &context.directory.id;
    let mut attempt = 0;
    let (events, members_pending, swept_to, gone) = loop {
        let provider = match app.store.get_group(directory, group).await {
            Ok(provider) => Some(provider),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        };
        let before = app.store.load_projected_group(group).await?;
        let now = app.now();
        let outcome = directory::project_group(&GroupInput {
            provider: provider.as_ref(),
            current: before.group.as_ref(),
            organization_id: context.directory.organization_id.as_deref(),
            now,
        });
        let members_pending = match &outcome.group {
            GroupWrite::Put(written) => {
                (before.group.is_none() || before.members_pending()).then_some(written.id)
            }
            GroupWrite::Unchanged if before.members_pending() => {
                before.group.as_ref().map(|g| g.id)
            }
            _ => None,
        };
        let swept_to = before.members_after().map(str::to_owned);
        match app
            .store
            .commit_group_projection(&context.scope(), group, &before, &outcome, now)
            .await
        {
            Ok(events) => break (events, members_pending, swept_to, provider.is_none()),
            Err(StoreError::Conflict) if directory_gone(app, context).await? => {
                return Ok(GroupProjection::default())
            }
            Err(StoreError::Conflict) if attempt < MAX_ATTEMPTS => attempt += 1,
            Err(e) => return Err(e),
        }
    };
    let mut done = GroupProjection {
        events,
        ..GroupProjection::default()
    };
    // A group whose deletion stopped half-way is finished here: its mark's stream record is
    // retried until this succeeds, so no membership of a deleted group stays behind.
    if gone {
        app.store.finish_group_deletion(directory, group).await?;
    }
    match members_pending {
        Some(directory_group) => {
            sweep_members(app, context, group, &directory_group, swept_to, &mut done).await?
        }
        // Deleted mid-sweep: its wake-up goes too.
        None if swept_to.is_some() => app.store.end_member_sweep(directory, group).await?,
        None => {}
    }
    Ok(done)
}

/// Re-projects the next chunk of a pending group's members, then records how far it got and
/// wakes the next chunk, or clears the mark when none is left.
async fn sweep_members(
    app: &App,
    context: &DirectoryContext,
    group: &ProviderGroupId,
    directory_group: &DirectoryGroupId,
    after: Option<String>,
    done: &mut GroupProjection,
) -> Result<(), StoreError> {
    let directory = &context.directory.id;
    let page = app
        .store
        .list_members(directory, group, after.clone(), app.member_sweep_chunk)
        .await?;
    // Together, as a stream batch's users: their reads batched, their commits sharing
    // transactions (group commit).
    let members: Vec<ProviderUserId> = page.members.iter().map(|(member, _)| *member).collect();
    for events in project_users(app, context, &members).await {
        done.member_events += events?.len();
    }
    let Some(next) = page.next else {
        app.store
            .clear_group_members_pending(group, directory_group)
            .await?;
        // Only a sweep that went past its first chunk ever put a wake-up.
        if after.is_some() {
            app.store.end_member_sweep(directory, group).await?;
        }
        return Ok(());
    };
    // Not advanced: another projection of the group moved the sweep on first, and wakes
    // the chunk after it.
    if app
        .store
        .advance_group_members_pending(group, directory_group, after.as_deref(), &next)
        .await?
    {
        app.store.wake_member_sweep(directory, group, &next).await?;
        done.sweep_unfinished = true;
    }
    Ok(())
}
