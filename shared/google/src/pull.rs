//! The pull: Google's users, groups and members written as provider records, where they
//! differ from what is stored, and records Google no longer lists removed.
//!
//! Phases, in order: `users` (list 500 a page, write changed users, remember the page's ids),
//! `gone_users` (stored users no listing page named are removed), `groups` (list, and for
//! each group its members; write changed groups and membership differences), `gone_groups`.
//! The checkpoint (phase, Google's page token, counts) is saved after every page, so a pull
//! that runs out of time resumes in the next invocation; a page token Google no longer
//! accepts restarts that listing from its first page. Memory holds one page, one group's
//! member ids, and 16 bytes per listed user (the ids the `groups` and `gone_*` phases
//! check against).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use dsync_domain::ids::{DirectoryId, ProviderUserId};
use dsync_domain::model::ProviderUser;
use dsync_domain::providers::google::{
    group_record, provider_group_id, provider_user_id, user_record, GoogleGroup, GoogleUser,
    PullCheckpoint, PullCounts, PullPhase, SyncStatus,
};
use dsync_dynamo::{MembershipDiff, PullLease, Store, StoreError};

use crate::api::{open_session, ApiError, Session};
use crate::Google;

/// Stored records examined per page in the `gone_*` phases.
const STORED_PAGE: i32 = 100;
/// A listing whose page token keeps expiring gives up after this many restarts in one pull.
const MAX_RESTARTS: u32 = 3;
/// Writes of one record retried after losing a race.
const WRITE_ATTEMPTS: u32 = 3;

/// How a pull invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullEnd {
    Completed,
    /// Out of time: the checkpoint is saved and the next invocation resumes.
    Suspended,
    /// Google refused or kept failing; the error is in the sync status, the checkpoint kept.
    Failed,
    /// The directory is gone or has no credentials.
    NotConnected,
    /// Another pull holds the directory's lease (the schedule and an on-demand sync, say):
    /// that one does the work and this one did nothing.
    AlreadyRunning,
}

/// How long a pull's lease lasts without renewal. Every saved page renews it; a pull that
/// crashed holds the directory this long at most, then the next pull resumes its checkpoint.
/// Longer than any page takes, retries included (6 attempts, 32 s apart at most).
pub const LEASE_MS: i64 = 5 * 60 * 1000;

/// The clock a pull stamps records with (injectable: tests move time).
pub type Clock<'a> = &'a (dyn Fn() -> i64 + Send + Sync);

/// Why a pull stopped early.
enum Stop {
    Api(ApiError),
    Store(StoreError),
    /// The directory was deleted while the pull ran.
    Gone,
    /// A save found the lease in other hands: this pull ran past its lease and another
    /// took over.
    LeaseLost,
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Pulls every connected directory in turn until done or `deadline`.
pub async fn pull_all(
    google: &Google,
    store: &Store,
    clock: Clock<'_>,
    deadline: Option<Instant>,
) -> Result<Vec<(DirectoryId, PullEnd)>, StoreError> {
    let mut ends = Vec::new();
    for directory in store.google_directories().await? {
        let end = pull_directory(google, store, &directory, clock, deadline).await?;
        ends.push((directory, end));
        if end == PullEnd::Suspended {
            break;
        }
    }
    Ok(ends)
}

/// Pulls (or resumes pulling) one directory, under its lease: a concurrent pull of the same
/// directory answers [`PullEnd::AlreadyRunning`] and touches nothing.
pub async fn pull_directory(
    google: &Google,
    store: &Store,
    directory: &DirectoryId,
    clock: Clock<'_>,
    deadline: Option<Instant>,
) -> Result<PullEnd, StoreError> {
    if !directory_exists(store, directory).await? {
        return gone(google, store, directory).await;
    }
    let sealed = match store.google_credentials(directory).await {
        Ok(sealed) => sealed,
        Err(StoreError::NotFound) => return Ok(PullEnd::NotConnected),
        Err(e) => return Err(e),
    };
    let owner = ulid::Ulid::new().to_string();
    let now = clock();
    if !store
        .take_google_lease(directory, &owner, now, now + LEASE_MS)
        .await?
    {
        tracing::info!(directory_id = %directory, "google pull already running; this one stands down");
        return Ok(PullEnd::AlreadyRunning);
    }
    let end = leased(google, store, directory, &sealed, owner, clock, deadline).await;
    // Every record this pull wrote was written before this read. A deletion that committed
    // meanwhile is seen here, and what the pull wrote after the deletion's purge went by is
    // purged now: no provider record outlives its directory.
    if !directory_exists(store, directory).await? {
        return gone(google, store, directory).await;
    }
    end
}

async fn directory_exists(store: &Store, directory: &DirectoryId) -> Result<bool, StoreError> {
    match store.get_directory(directory).await {
        Ok(_) => Ok(true),
        Err(StoreError::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The directory is deleted: its channels stopped (best effort), its connection (the
/// credentials first of all) removed, and whatever records a pull wrote purged.
async fn gone(
    google: &Google,
    store: &Store,
    directory: &DirectoryId,
) -> Result<PullEnd, StoreError> {
    crate::push::stop_channels(google, store, directory).await;
    store.delete_google_connection(directory).await?;
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    store.purge_directory(directory, deadline).await?;
    Ok(PullEnd::NotConnected)
}

/// The pull proper, holding the lease `owner` took.
async fn leased(
    google: &Google,
    store: &Store,
    directory: &DirectoryId,
    sealed: &[u8],
    owner: String,
    clock: Clock<'_>,
    deadline: Option<Instant>,
) -> Result<PullEnd, StoreError> {
    let release = PullLease {
        owner: owner.clone(),
        until: None,
    };
    let (mut status, saved) = store.google_sync(directory).await?;
    let mut checkpoint =
        saved.unwrap_or_else(|| PullCheckpoint::start(ulid::Ulid::new().to_string(), clock()));
    status.state = "running".into();
    status.last_started_at = Some(checkpoint.started_at);
    let credentials = match google.open(directory, sealed) {
        Ok(credentials) => credentials,
        Err(error) => {
            tracing::error!(directory_id = %directory, "google credentials do not open");
            return fail(
                store,
                directory,
                status,
                &checkpoint,
                error.to_string(),
                &release,
            )
            .await;
        }
    };
    let outcome = async {
        let session = open_session(
            &google.http,
            &google.endpoints,
            google.backoff,
            &credentials,
            clock() / 1000,
            deadline,
        )
        .await?;
        let mut pull = Pull {
            store,
            directory: *directory,
            session,
            clock,
            deadline,
            checkpoint: &mut checkpoint,
            status: &mut status,
            seen_cache: None,
            owner: &owner,
        };
        let completed = pull.run().await?;
        if completed {
            // Push channels are kept up after each completed pull; their failure never
            // fails the pull (the schedule still pulls), it shows in the status.
            if let Some(push) =
                crate::push::maintain_channels(google, store, directory, &pull.session, clock).await
            {
                pull.status.push = Some(push);
            }
        }
        Ok::<bool, Stop>(completed)
    }
    .await;
    match outcome {
        Ok(true) => {
            status.state = "completed".into();
            status.last_completed_at = Some(clock());
            status.counts = checkpoint.counts;
            status.error = None;
            match store
                .save_google_sync(directory, &status, None, &release)
                .await
            {
                Err(StoreError::Conflict) => return Ok(PullEnd::AlreadyRunning),
                other => other?,
            }
            store
                .forget_google_seen(directory, &checkpoint.pull_id, None)
                .await?;
            tracing::info!(directory_id = %directory, users = checkpoint.counts.users_listed,
                groups = checkpoint.counts.groups_listed, written = checkpoint.counts.users_written,
                removed = checkpoint.counts.users_removed, failed = checkpoint.counts.failed,
                "google pull completed");
            Ok(PullEnd::Completed)
        }
        Ok(false) => {
            status.counts = checkpoint.counts;
            match store
                .save_google_sync(directory, &status, Some(&checkpoint), &release)
                .await
            {
                Err(StoreError::Conflict) => return Ok(PullEnd::AlreadyRunning),
                other => other?,
            }
            tracing::info!(directory_id = %directory, phase = checkpoint.phase.as_str(), "google pull suspended");
            Ok(PullEnd::Suspended)
        }
        Err(Stop::Gone) => Ok(PullEnd::NotConnected),
        Err(Stop::LeaseLost) => {
            tracing::warn!(directory_id = %directory, "google pull lost its lease; another pull continues");
            Ok(PullEnd::AlreadyRunning)
        }
        Err(Stop::Api(error)) => {
            tracing::warn!(directory_id = %directory, %error, "google pull failed");
            fail(
                store,
                directory,
                status,
                &checkpoint,
                error.to_string(),
                &release,
            )
            .await
        }
        Err(Stop::Store(error)) => {
            tracing::error!(directory_id = %directory, %error, "google pull stopped on storage");
            status.counts = checkpoint.counts;
            // Best effort: the storage error is what the caller must see.
            let _ = store
                .save_google_sync(directory, &status, Some(&checkpoint), &release)
                .await;
            Err(error)
        }
    }
}

async fn fail(
    store: &Store,
    directory: &DirectoryId,
    mut status: SyncStatus,
    checkpoint: &PullCheckpoint,
    error: String,
    release: &PullLease,
) -> Result<PullEnd, StoreError> {
    status.state = "failed".into();
    status.error = Some(error);
    status.counts = checkpoint.counts;
    match store
        .save_google_sync(directory, &status, Some(checkpoint), release)
        .await
    {
        Ok(()) => Ok(PullEnd::Failed),
        Err(StoreError::Conflict) => Ok(PullEnd::AlreadyRunning),
        Err(e) => Err(e),
    }
}

struct Pull<'a, 'b> {
    store: &'a Store,
    directory: DirectoryId,
    session: Session<'a>,
    clock: Clock<'a>,
    deadline: Option<Instant>,
    checkpoint: &'b mut PullCheckpoint,
    status: &'b mut SyncStatus,
    /// The ids a finished listing phase saw, read once per invocation: every page of the
    /// phases after it consults the same set.
    seen_cache: Option<(PullPhase, Arc<HashSet<u128>>)>,
    /// The lease this pull holds; every save renews it.
    owner: &'a str,
}

impl Pull<'_, '_> {
    /// `true` when the pull completed, `false` when time ran out first.
    async fn run(&mut self) -> Result<bool, Stop> {
        loop {
            // Before each page's writes: a directory deleted meanwhile gets no more records.
            if !directory_exists(self.store, &self.directory).await? {
                return Err(Stop::Gone);
            }
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            match self.checkpoint.phase {
                PullPhase::Users => self.users_page().await?,
                PullPhase::GoneUsers => self.gone_users_page().await?,
                PullPhase::Groups => self.groups_page().await?,
                PullPhase::GoneGroups => {
                    if self.gone_groups_page().await? {
                        return Ok(true);
                    }
                }
            }
            self.save().await?;
        }
    }

    /// Saves the checkpoint and renews the lease.
    async fn save(&mut self) -> Result<(), Stop> {
        self.status.counts = self.checkpoint.counts;
        let lease = PullLease {
            owner: self.owner.to_owned(),
            until: Some((self.clock)() + LEASE_MS),
        };
        match self
            .store
            .save_google_sync(&self.directory, self.status, Some(self.checkpoint), &lease)
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict) => Err(Stop::LeaseLost),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts the current listing again from its first page, forgetting what it saw.
    async fn restart_listing(&mut self) -> Result<(), Stop> {
        if self.checkpoint.restarts >= MAX_RESTARTS {
            return Err(Stop::Api(ApiError::PageTokenExpired));
        }
        tracing::warn!(directory_id = %self.directory, phase = self.checkpoint.phase.as_str(),
            "google page token expired; the listing restarts");
        self.store
            .forget_google_seen(
                &self.directory,
                &self.checkpoint.pull_id,
                Some(self.checkpoint.phase),
            )
            .await?;
        self.checkpoint.restarts += 1;
        self.checkpoint.page_token = None;
        self.checkpoint.pages = 0;
        match self.checkpoint.phase {
            PullPhase::Users => self.checkpoint.counts.users_listed = 0,
            _ => self.checkpoint.counts.groups_listed = 0,
        }
        Ok(())
    }

    async fn users_page(&mut self) -> Result<(), Stop> {
        let page = match self
            .session
            .users(self.checkpoint.page_token.as_deref())
            .await
        {
            Ok(page) => page,
            Err(ApiError::PageTokenExpired) => return self.restart_listing().await,
            Err(e) => return Err(e.into()),
        };
        let listed: Vec<(ProviderUserId, &GoogleUser)> = page
            .items
            .iter()
            .filter(|u| !u.id.is_empty())
            .map(|u| (provider_user_id(&self.directory, &u.id), u))
            .collect();
        let ids: Vec<ProviderUserId> = listed.iter().map(|(id, _)| *id).collect();
        let mut stored = self
            .store
            .provider_users_by_id(&self.directory, &ids)
            .await?;
        let mut seen = Vec::with_capacity(listed.len());
        for (id, user) in listed {
            seen.push(id.ulid().0);
            let now = (self.clock)();
            let previous = stored.remove(&id);
            let counts = &mut self.checkpoint.counts;
            write_user(self.store, &self.directory, user, previous, now, counts).await?;
        }
        self.checkpoint.counts.users_listed += seen.len() as u64;
        self.store
            .save_google_seen(&self.directory, self.checkpoint, &seen, (self.clock)())
            .await?;
        self.checkpoint.pages += 1;
        match page.next {
            Some(token) => self.checkpoint.page_token = Some(token),
            None => self.checkpoint.advance(PullPhase::GoneUsers),
        }
        Ok(())
    }

    async fn gone_users_page(&mut self) -> Result<(), Stop> {
        let seen = self.seen(PullPhase::Users).await?;
        let page = self
            .store
            .list_users(
                &self.directory,
                self.checkpoint.after.as_deref(),
                STORED_PAGE,
            )
            .await?;
        // A Workspace always has its admin: an empty listing is a scoping problem, never
        // a reason to remove every user.
        if !seen.is_empty() {
            for user in page.users.iter().filter(|u| !seen.contains(&u.id.ulid().0)) {
                match self.store.delete_user(user).await {
                    Ok(()) => self.checkpoint.counts.users_removed += 1,
                    // Changed meanwhile: the next pull looks again.
                    Err(StoreError::Conflict | StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        match page.next {
            Some(after) => self.checkpoint.after = Some(after),
            None => self.checkpoint.advance(PullPhase::Groups),
        }
        Ok(())
    }

    async fn groups_page(&mut self) -> Result<(), Stop> {
        let page = match self
            .session
            .groups(self.checkpoint.page_token.as_deref())
            .await
        {
            Ok(page) => page,
            Err(ApiError::PageTokenExpired) => return self.restart_listing().await,
            Err(e) => return Err(e.into()),
        };
        let users = self.seen(PullPhase::Users).await?;
        let mut seen = Vec::with_capacity(page.items.len());
        for group in page.items.iter().filter(|g| !g.id.is_empty()) {
            seen.push(provider_group_id(&self.directory, &group.id).ulid().0);
            let members = self.members(group, &users).await?;
            let now = (self.clock)();
            write_group(
                self.store,
                &self.directory,
                group,
                members,
                now,
                &mut self.checkpoint.counts,
            )
            .await?;
        }
        self.checkpoint.counts.groups_listed += seen.len() as u64;
        self.store
            .save_google_seen(&self.directory, self.checkpoint, &seen, (self.clock)())
            .await?;
        self.checkpoint.pages += 1;
        match page.next {
            Some(token) => self.checkpoint.page_token = Some(token),
            None => self.checkpoint.advance(PullPhase::GoneGroups),
        }
        Ok(())
    }

    /// A group's user members that this pull listed (external members are not users of the
    /// directory). An expired page token restarts the group's member listing once.
    async fn members(
        &self,
        group: &GoogleGroup,
        users: &HashSet<u128>,
    ) -> Result<HashSet<ProviderUserId>, Stop> {
        let mut members = HashSet::new();
        let mut token: Option<String> = None;
        let mut restarted = false;
        loop {
            match self.session.members(&group.id, token.as_deref()).await {
                Ok(page) => {
                    for member in page.items.iter().filter(|m| m.is_user()) {
                        let id = provider_user_id(&self.directory, &member.id);
                        if users.contains(&id.ulid().0) {
                            members.insert(id);
                        }
                    }
                    match page.next {
                        Some(next) => token = Some(next),
                        None => return Ok(members),
                    }
                }
                Err(ApiError::PageTokenExpired) if !restarted => {
                    restarted = true;
                    members.clear();
                    token = None;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `true` when the last stored group was examined.
    async fn gone_groups_page(&mut self) -> Result<bool, Stop> {
        let seen = self.seen(PullPhase::Groups).await?;
        let (groups, next) = self
            .store
            .list_groups(
                &self.directory,
                self.checkpoint.after.as_deref(),
                STORED_PAGE,
            )
            .await?;
        for group in groups.iter().filter(|g| !seen.contains(&g.id.ulid().0)) {
            match self.store.delete_group(group).await {
                Ok(()) => self.checkpoint.counts.groups_removed += 1,
                Err(StoreError::Conflict | StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match next {
            Some(after) => {
                self.checkpoint.after = Some(after);
                Ok(false)
            }
            None => Ok(true),
        }
    }

    /// What the finished listing `phase` saw. It no longer changes once its phase is over
    /// (a restart only clears the phase being listed), so it is cached.
    async fn seen(&mut self, phase: PullPhase) -> Result<Arc<HashSet<u128>>, StoreError> {
        if let Some((cached, seen)) = &self.seen_cache {
            if *cached == phase {
                return Ok(Arc::clone(seen));
            }
        }
        let seen = Arc::new(
            self.store
                .google_seen(&self.directory, &self.checkpoint.pull_id, phase)
                .await?,
        );
        self.seen_cache = Some((phase, Arc::clone(&seen)));
        Ok(seen)
    }
}

/// Writes one user if it changed. A primary email another stored user still holds (two
/// users swapped addresses) is counted as failed and tried again by the next pull.
/// `stored` is the user as the page's batched read found it; after a lost race it is read
/// again.
async fn write_user(
    store: &Store,
    directory: &DirectoryId,
    user: &GoogleUser,
    stored: Option<ProviderUser>,
    now: i64,
    counts: &mut PullCounts,
) -> Result<(), StoreError> {
    let id = provider_user_id(directory, &user.id);
    let mut read = Some(stored);
    for _ in 0..WRITE_ATTEMPTS {
        let previous = match read.take() {
            Some(stored) => stored,
            None => match store.get_user(directory, &id).await {
                Ok(previous) => Some(previous),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e),
            },
        };
        let Some(record) = user_record(directory, previous.as_ref(), user, now) else {
            return Ok(());
        };
        let result = match &previous {
            None => store.create_user(&record).await,
            Some(previous) => store.replace_user(&record, previous).await,
        };
        match result {
            Ok(()) => {
                counts.users_written += 1;
                return Ok(());
            }
            Err(StoreError::Conflict) => continue,
            Err(StoreError::Duplicate) => break,
            Err(e) => return Err(e),
        }
    }
    tracing::warn!(directory_id = %directory, provider_user_id = %id,
        "google user not written (its primary email is held by another user); the next pull retries");
    counts.failed += 1;
    Ok(())
}

/// Writes one group and its membership difference, if either changed.
async fn write_group(
    store: &Store,
    directory: &DirectoryId,
    group: &GoogleGroup,
    members: HashSet<ProviderUserId>,
    now: i64,
    counts: &mut PullCounts,
) -> Result<(), StoreError> {
    let id = provider_group_id(directory, &group.id);
    for _ in 0..WRITE_ATTEMPTS {
        let previous = match store.get_group_state(directory, &id).await {
            Ok(state) if state.deleting => {
                // A removal by an earlier pull that stopped half-way: finish it first.
                store.finish_group_deletion(directory, &id).await?;
                continue;
            }
            Ok(state) => Some(state.group),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e),
        };
        let stored: HashSet<ProviderUserId> = match &previous {
            Some(previous) => store
                .all_members(directory, &previous.id)
                .await?
                .into_iter()
                .map(|(user, _)| user)
                .collect(),
            None => HashSet::new(),
        };
        let diff = MembershipDiff {
            add: members.difference(&stored).map(|u| (*u, None)).collect(),
            remove: stored.difference(&members).copied().collect(),
        };
        let result = match (previous, group_record(directory, None, group, now)) {
            (None, Some(new)) => store.create_group(&new, &diff, now).await,
            (None, None) => return Ok(()),
            (Some(previous), _) => {
                let changed = group_record(directory, Some(&previous), group, now);
                if changed.is_none() && diff.is_empty() {
                    return Ok(());
                }
                let mut new = changed.unwrap_or_else(|| previous.clone());
                new.version = previous.version + 1;
                new.updated_at = now;
                store.replace_group(&new, &previous, &diff, now).await
            }
        };
        match result {
            Ok(()) => {
                counts.groups_written += 1;
                return Ok(());
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
    counts.failed += 1;
    Ok(())
}
