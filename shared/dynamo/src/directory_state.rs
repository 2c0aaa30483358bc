//! The projection as stored: directory users, groups and effective memberships, written
//! together with the events that describe each change.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem, Update};
use dsync_domain::directory::{
    DirectoryGroup, DirectoryUser, GroupOutcome, GroupWrite, MembershipChange, UserOutcome,
    UserWrite,
};
use dsync_domain::ids::{DirectoryGroupId, DirectoryId, ProviderGroupId, ProviderUserId};

use crate::event_log::{EventScope, StoredEvent, MAX_TRANSACTION_ITEMS};
use crate::group_commit::{Commit, CountChange};
use crate::item::{id_attr, n, s, Item, ItemExt};
use crate::keys::*;
use crate::listed::PlannedFrom;
use crate::provider_users::build_error;
use crate::user_state_counts::state_delta;
use crate::{Store, StoreError};

/// The directory user attribute holding its projection's basis.
const BASIS: &str = "basis";
/// The directory group attribute that marks its members' projection as unfinished.
const MEMBERS_PENDING: &str = "members_pending";
/// The last provider user id whose projection a pending group's member sweep finished: the
/// sweep goes in chunks, in member order, and resumes after it.
const MEMBERS_AFTER: &str = "members_after";

/// What the directory holds now for one provider user, read consistently in one Query.
#[derive(Debug, Clone, Default)]
pub struct ProjectedUser {
    pub user: Option<DirectoryUser>,
    /// Its effective memberships, as groups.
    pub groups: Vec<DirectoryGroup>,
    /// Bumped on every write: the condition that keeps concurrent projections from mixing.
    pub(crate) revision: u64,
    /// Memberships whose group no longer exists: dropped silently on the next write.
    pub(crate) orphans: Vec<DirectoryGroupId>,
    /// The basis of the projection that wrote the user (`dsync_domain::directory::basis`).
    pub(crate) basis: Option<String>,
}

/// Many provider users' directory user items, read before their memberships are checked
/// (see [`Store::complete_projected_users`]).
#[derive(Debug, Default)]
pub struct ProjectedUserItems {
    /// Users known in full already: no directory user, or one in no group.
    projected: HashMap<ProviderUserId, ProjectedUser>,
    /// Users in groups, with how many memberships their item counts.
    members: Vec<(ProviderUserId, ProjectedUser, i64)>,
}

impl ProjectedUser {
    /// How many membership items the user has (kept on the user item, so that a user in no
    /// group is read with one GetItem).
    fn member_items(&self) -> i64 {
        (self.groups.len() + self.orphans.len()) as i64
    }
}

#[derive(Debug, Clone, Default)]
pub struct ProjectedGroup {
    pub group: Option<DirectoryGroup>,
    revision: u64,
    /// Set when the group was created and its members may not all be projected yet: the
    /// creation and the members' projections are separate commits, so a crash between them
    /// leaves this for the retry (which would otherwise see the group and skip them).
    members_pending: bool,
    /// Where the pending members' sweep resumes (`None`: from the first member).
    members_after: Option<String>,
}

fn decode_projected_group(item: &Item) -> Result<ProjectedGroup, StoreError> {
    Ok(ProjectedGroup {
        group: Some(decode_json(item, "group")?),
        revision: item.num_attr("revision")?,
        members_pending: item.bool_attr(MEMBERS_PENDING).unwrap_or(false),
        members_after: item.opt_str_attr(MEMBERS_AFTER).map(str::to_owned),
    })
}

impl ProjectedGroup {
    pub fn members_pending(&self) -> bool {
        self.members_pending
    }

    /// The member after which the pending sweep resumes, if an earlier chunk got that far.
    pub fn members_after(&self) -> Option<&str> {
        self.members_after.as_deref()
    }
}

impl Store {
    pub async fn load_projected_user(
        &self,
        provider_user: &ProviderUserId,
    ) -> Result<ProjectedUser, StoreError> {
        let pk = projected_user_pk(provider_user);
        let items = self.query_partition(&self.tables.directory, &pk).await?;
        let partition = UserPartition::decode(&items)?;
        let provider_groups: Vec<_> = partition.provider_groups().collect();
        let groups = self.load_projected_groups(&provider_groups).await?;
        Ok(partition.resolve(&groups))
    }

    /// The projections of many provider users: one BatchGetItem for the user items, and a
    /// Query only for users that have memberships.
    pub async fn load_projected_users(
        &self,
        provider_users: &[ProviderUserId],
    ) -> Result<HashMap<ProviderUserId, ProjectedUser>, StoreError> {
        self.load_projected_users_expecting(provider_users, &HashMap::new())
            .await
    }

    /// The projections of many provider users when the caller knows which groups each is
    /// expected in (the provider's memberships, as directory groups): one BatchGetItem for
    /// the user items and one (per 100 keys) for the expected membership items. A user whose
    /// `member_count` equals the expected memberships found has no other membership, so its
    /// projection is complete without a Query; only a user whose memberships differ from
    /// the expected ones (a change to project, a deleted group) is read with its own Query.
    /// In a steady directory a page of users therefore costs a few calls, however many of
    /// them belong to groups.
    pub async fn load_projected_users_expecting(
        &self,
        provider_users: &[ProviderUserId],
        expected: &HashMap<ProviderUserId, Vec<DirectoryGroup>>,
    ) -> Result<HashMap<ProviderUserId, ProjectedUser>, StoreError> {
        let items = self.load_projected_user_items(provider_users).await?;
        self.complete_projected_users(items, expected).await
    }

    /// The first half of [`Store::load_projected_users_expecting`]: the user items alone,
    /// which need no knowledge of the groups, so a caller can read them while it finds out
    /// which groups to expect.
    pub async fn load_projected_user_items(
        &self,
        provider_users: &[ProviderUserId],
    ) -> Result<ProjectedUserItems, StoreError> {
        let keys = provider_users
            .iter()
            .map(|pu| key_item(projected_user_pk(pu), DIRECTORY_USER_SK.to_owned()))
            .collect();
        let items = self.batch_get_items(&self.tables.directory, keys).await?;
        let mut projected: HashMap<ProviderUserId, ProjectedUser> = provider_users
            .iter()
            .map(|pu| (*pu, ProjectedUser::default()))
            .collect();
        let mut members: Vec<(ProviderUserId, ProjectedUser, i64)> = Vec::new();
        for item in &items {
            let provider_user = id_attr(item, "provider_user_id", ProviderUserId::parse)?;
            let entry = ProjectedUser {
                user: Some(decode_json(item, "user")?),
                revision: item.num_attr("revision")?,
                basis: item.opt_str_attr(BASIS).map(str::to_owned),
                ..ProjectedUser::default()
            };
            match item.opt_num_attr::<i64>("member_count") {
                Some(0) => {
                    projected.insert(provider_user, entry);
                }
                Some(count) => members.push((provider_user, entry, count)),
                // Written before the count was kept: only its partition tells.
                None => {
                    let entry = self.load_projected_user(&provider_user).await?;
                    projected.insert(provider_user, entry);
                }
            }
        }
        Ok(ProjectedUserItems { projected, members })
    }

    /// The second half of [`Store::load_projected_users_expecting`]: each user's memberships
    /// checked against the groups it is expected in.
    pub async fn complete_projected_users(
        &self,
        items: ProjectedUserItems,
        expected: &HashMap<ProviderUserId, Vec<DirectoryGroup>>,
    ) -> Result<HashMap<ProviderUserId, ProjectedUser>, StoreError> {
        let ProjectedUserItems {
            mut projected,
            members,
        } = items;
        let wanted = members
            .iter()
            .flat_map(|(pu, _, _)| {
                expected.get(pu).into_iter().flatten().map(move |group| {
                    key_item(projected_user_pk(pu), directory_member_sk(&group.id))
                })
            })
            .collect::<Vec<_>>();
        let found = if wanted.is_empty() {
            Vec::new()
        } else {
            self.batch_get_items(&self.tables.directory, wanted).await?
        };
        let mut found_of: HashMap<ProviderUserId, Vec<DirectoryGroupId>> = HashMap::new();
        for item in &found {
            found_of
                .entry(id_attr(item, "provider_user_id", ProviderUserId::parse)?)
                .or_default()
                .push(id_attr(
                    item,
                    "directory_group_id",
                    DirectoryGroupId::parse,
                )?);
        }
        for (provider_user, mut entry, count) in members {
            let held = found_of.remove(&provider_user).unwrap_or_default();
            if held.len() as i64 != count {
                let entry = self.load_projected_user(&provider_user).await?;
                projected.insert(provider_user, entry);
                continue;
            }
            let mut groups: Vec<DirectoryGroup> = expected
                .get(&provider_user)
                .into_iter()
                .flatten()
                .filter(|group| held.contains(&group.id))
                .cloned()
                .collect();
            groups.sort_by_key(|g| g.id);
            entry.groups = groups;
            projected.insert(provider_user, entry);
        }
        Ok(projected)
    }

    /// The directory groups projected from these provider groups (absent ones are skipped).
    pub async fn load_projected_groups(
        &self,
        provider_groups: &[ProviderGroupId],
    ) -> Result<Vec<DirectoryGroup>, StoreError> {
        let keys = provider_groups
            .iter()
            .map(|pg| {
                Item::from([
                    (PK.to_owned(), s(projected_group_pk(pg))),
                    (SK.to_owned(), s(DIRECTORY_GROUP_SK)),
                ])
            })
            .collect();
        let items = self.batch_get_items(&self.tables.directory, keys).await?;
        let mut groups: Vec<DirectoryGroup> = items
            .iter()
            .map(|item| decode_json(item, "group"))
            .collect::<Result<_, _>>()?;
        groups.sort_by_key(|g| g.id);
        Ok(groups)
    }

    pub async fn load_projected_group(
        &self,
        provider_group: &ProviderGroupId,
    ) -> Result<ProjectedGroup, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.directory)
            .key(PK, s(projected_group_pk(provider_group)))
            .key(SK, s(DIRECTORY_GROUP_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(crate::error::backend)?;
        match output.item {
            None => Ok(ProjectedGroup::default()),
            Some(item) => decode_projected_group(&item),
        }
    }

    /// [`Store::load_projected_group`] for many groups, in one BatchGetItem per 100; a group
    /// with no directory group is absent from the map.
    pub async fn load_projected_group_states(
        &self,
        provider_groups: &[ProviderGroupId],
    ) -> Result<HashMap<ProviderGroupId, ProjectedGroup>, StoreError> {
        let keys = provider_groups
            .iter()
            .map(|pg| key_item(projected_group_pk(pg), DIRECTORY_GROUP_SK.to_owned()))
            .collect();
        let items = self.batch_get_items(&self.tables.directory, keys).await?;
        items
            .iter()
            .map(|item| {
                let projected = decode_projected_group(item)?;
                let id = projected
                    .group
                    .as_ref()
                    .map(|group| group.provider_group_id)
                    .ok_or_else(|| {
                        StoreError::corrupt("a directory group item without its group")
                    })?;
                Ok((id, projected))
            })
            .collect()
    }

    /// A page of the provider users that have a directory user in `directory`, in directory
    /// user id order (reconciliation's sweep for users whose provider record is gone).
    pub async fn projected_users_page(
        &self,
        directory: &DirectoryId,
        after: Option<String>,
        limit: i32,
    ) -> Result<(Vec<ProviderUserId>, Option<String>), StoreError> {
        let (items, next) = self
            .query_index_page(
                &self.tables.directory,
                "gsi1",
                (GSI1PK, GSI1SK),
                directory_users(directory),
                after,
                limit,
            )
            .await?;
        let ids = items
            .iter()
            .map(|item| id_attr(item, "provider_user_id", ProviderUserId::parse))
            .collect::<Result<_, _>>()?;
        Ok((ids, next))
    }

    /// A page of the provider groups that have a directory group in `directory`.
    pub async fn projected_groups_page(
        &self,
        directory: &DirectoryId,
        after: Option<String>,
        limit: i32,
    ) -> Result<(Vec<ProviderGroupId>, Option<String>), StoreError> {
        let (items, next) = self
            .query_index_page(
                &self.tables.directory,
                "gsi1",
                (GSI1PK, GSI1SK),
                directory_groups(directory),
                after,
                limit,
            )
            .await?;
        let ids = items
            .iter()
            .map(|item| Ok(decode_json::<DirectoryGroup>(item, "group")?.provider_group_id))
            .collect::<Result<_, StoreError>>()?;
        Ok((ids, next))
    }

    /// Commits a user's projection and its events, as the outcome structures them: removals,
    /// the user's own write and additions commit in that order, each transaction whole with
    /// its events; usually all in one transaction, but a user leaving or joining more groups
    /// than one transaction holds takes several, each guarded by the user's revision.
    /// `Conflict` means another writer changed this user: re-read and re-project.
    pub async fn commit_user_projection(
        &self,
        scope: &EventScope,
        provider_user: &ProviderUserId,
        before: &ProjectedUser,
        outcome: &UserOutcome,
        now: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let from = PlannedFrom::default();
        self.commit_user_plan(scope, provider_user, before, outcome, now, from)
            .await
    }

    /// [`Store::commit_user_projection`] of a plan with what it was made `from`:
    ///
    /// - `listed`: provider state read before the projection was (reconciliation's listed
    ///   pages). The commit also checks that the user's record and each membership it adds or
    ///   removes are still as listed (`crate::listed`); otherwise a change projected between
    ///   the listing and the projection's read would be undone by the older listing's plan (a
    ///   deactivated user brought back, a new membership taken away). Provider state changed
    ///   since answers `Conflict`. A listed plan that changes nothing but whose basis differs
    ///   from the stored one writes the basis alone.
    /// - `basis`: stored on the user by the commit's last transaction (and removed by the
    ///   ones before it, so a commit cut short never looks finished).
    pub async fn commit_user_plan(
        &self,
        scope: &EventScope,
        provider_user: &ProviderUserId,
        before: &ProjectedUser,
        outcome: &UserOutcome,
        now: i64,
        from: PlannedFrom<'_>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let PlannedFrom { listed, basis } = from;
        let directory = scope_directory(scope)?;
        let pk = projected_user_pk(provider_user);
        let mut committed = Vec::new();
        let mut member_items = before.member_items();
        let mut user_id = before.user.as_ref().map(|u| u.id);
        // The stored user's identity, guarded beside its revision: a user deleted and
        // re-created since `before` was read restarts at revision 1 under a new id, and a
        // plan made from the old one must not land on it (ABA).
        let mut guard = Guard::new(before.revision, user_id.map(|id| id.to_string()));

        let removals = &outcome.removals;
        let own_event = outcome.own_event.as_ref();
        // A user created, deleted, activated or deactivated moves the directory's counts in
        // the same transaction as its own write.
        let after = outcome.user.apply(before.user.as_ref());
        let (active, inactive) = state_delta(before.user.as_ref(), after.as_ref());
        let counts = ((active, inactive) != (0, 0)).then_some(CountChange {
            directory,
            active,
            inactive,
        });
        let own_fixed = 1
            + usize::from(own_event.is_some())
            + usize::from(counts.is_some())
            + usize::from(listed.is_some());
        // A membership change is its write and its event, and a check of the provider's
        // membership when the plan was listed.
        let per_change = 2 + usize::from(listed.is_some());
        let membership_check = |group: &ProviderGroupId| {
            listed
                .map(|listed| {
                    self.listed_membership_check(&directory, provider_user, group, listed)
                })
                .transpose()
        };
        // Removals and orphan deletes ride in the user's own transaction when they fit: one
        // head read and one head write fewer, and the user item (with its index entries) is
        // written once instead of once more per removal chunk.
        let left = (removals.len() + before.orphans.len()) as i64;
        let merged = 2 + own_fixed + per_change * removals.len() + before.orphans.len()
            <= MAX_TRANSACTION_ITEMS;
        let mut leave_writes = Vec::new();
        let mut leave_events = Vec::new();
        if merged {
            for removal in removals {
                leave_writes.push(self.delete_item(&pk, &directory_member_sk(&removal.group))?);
                leave_writes.extend(membership_check(&removal.provider_group)?);
                leave_events.push(removal.event.clone());
            }
            for orphan in &before.orphans {
                leave_writes.push(self.delete_item(&pk, &directory_member_sk(orphan))?);
            }
            member_items -= left;
        } else {
            // Too many to commit at once: leave groups first, a chunk per transaction, each
            // guarded by the unchanged user, then the orphans.
            // A listed plan's chunks check the user's record too: a stale listing's removals
            // must not commit ahead of the main transaction that would then fail.
            let chunk_fixed = 1 + usize::from(listed.is_some());
            for chunk in removals.chunks(chunk_size(chunk_fixed, per_change)) {
                let mut writes = vec![
                    self.directory_check(scope)?,
                    self.user_touch(&pk, &mut guard, -(chunk.len() as i64), None)?,
                ];
                if let Some(listed) = listed {
                    writes.push(self.listed_version_check(&directory, provider_user, listed)?);
                }
                member_items -= chunk.len() as i64;
                let mut events = Vec::new();
                for removal in chunk {
                    writes.push(self.delete_item(&pk, &directory_member_sk(&removal.group))?);
                    writes.extend(membership_check(&removal.provider_group)?);
                    events.push(removal.event.clone());
                }
                committed.extend(self.commit_with_events(scope, writes, &events, now).await?);
            }

            // Memberships of groups that no longer exist go silently, a chunk at a time: a
            // user can hold any number of them (say after many group deletions).
            for chunk in before.orphans.chunks(MAX_TRANSACTION_ITEMS - 2) {
                let mut writes = vec![
                    self.directory_check(scope)?,
                    self.user_touch(&pk, &mut guard, -(chunk.len() as i64), None)?,
                ];
                member_items -= chunk.len() as i64;
                for orphan in chunk {
                    writes.push(self.delete_item(&pk, &directory_member_sk(orphan))?);
                }
                self.transact(writes).await?;
            }
        }

        // The user's own write, its event and the first additions.
        let user_ref = UserRef {
            pk: &pk,
            provider_user,
            directory: &directory,
        };
        let additions = &outcome.additions;
        // Merged removals take two or three items each (the delete, its check, its event),
        // orphans one.
        let room = chunk_size(
            own_fixed + leave_writes.len() + leave_events.len(),
            per_change,
        )
        .min(additions.len());
        let (first, later) = additions.split_at(room);
        // The basis goes with the commit's last transaction.
        let main_basis = basis.filter(|_| later.is_empty());
        // The stored count moves by what this transaction adds and, merged, what it removes.
        let delta = first.len() as i64 - if merged { left } else { 0 };
        let mut writes = vec![self.directory_check(scope)?];
        if let Some(listed) = listed {
            writes.push(self.listed_version_check(&directory, provider_user, listed)?);
        }
        match &outcome.user {
            UserWrite::Unchanged => {
                writes.push(self.user_touch(&pk, &mut guard, delta, main_basis)?)
            }
            UserWrite::Put(user) => {
                writes.push(self.put_directory_user(
                    user_ref,
                    user,
                    &guard,
                    member_items + first.len() as i64,
                    main_basis,
                )?);
                guard = Guard::new(guard.revision + 1, Some(user.id.to_string()));
                user_id = Some(user.id);
            }
            UserWrite::Delete(_) => {
                writes.push(self.conditional_delete(&pk, DIRECTORY_USER_SK, &guard)?);
                user_id = None;
            }
        }
        writes.extend(leave_writes);
        let mut events = leave_events;
        events.extend(own_event.cloned());
        for addition in first {
            writes.push(self.put_membership(user_ref, user_id, addition)?);
            writes.extend(membership_check(&addition.provider_group)?);
            events.push(addition.event.clone());
        }
        // Orphans merged here are deletes without events: they alone are worth a commit.
        let orphans_here = merged && !before.orphans.is_empty();
        let changes = !matches!(outcome.user, UserWrite::Unchanged) || !events.is_empty();
        if changes || orphans_here {
            let commit = Commit {
                scope: scope.clone(),
                writes,
                counts,
                events,
                not_before: now,
            };
            committed.extend(self.commit(commit).await?);
        } else if listed.is_some() && basis.is_some() && basis != before.basis.as_deref() {
            // Under the guard as read: the touch built above moved `guard`, unsent.
            if let (Some(basis), Some(user)) = (basis, &before.user) {
                let read = Guard::new(before.revision, Some(user.id.to_string()));
                self.write_basis(&pk, &read, basis).await?;
            }
        }

        let chunks = later.chunks(chunk_size(1, per_change));
        let last = chunks.len();
        for (index, chunk) in chunks.enumerate() {
            let chunk_basis = basis.filter(|_| index + 1 == last);
            let mut writes = vec![
                self.directory_check(scope)?,
                self.user_touch(&pk, &mut guard, chunk.len() as i64, chunk_basis)?,
            ];
            let mut events = Vec::new();
            for addition in chunk {
                writes.push(self.put_membership(user_ref, user_id, addition)?);
                writes.extend(membership_check(&addition.provider_group)?);
                events.push(addition.event.clone());
            }
            committed.extend(self.commit_with_events(scope, writes, &events, now).await?);
        }
        Ok(committed)
    }

    /// Stores a user's basis alone, under the revision and id it was read at (a plan that
    /// found the user as its inputs make it, under a basis it did not store yet). Not a
    /// revision of its own: it changes nothing the user shows. `Conflict` if the user changed.
    async fn write_basis(&self, pk: &str, guard: &Guard, basis: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.directory)
            .key(PK, s(pk))
            .key(SK, s(DIRECTORY_USER_SK))
            .update_expression(format!("SET {BASIS} = :basis"))
            .condition_expression(Guard::CONDITION)
            .set_expression_attribute_names(Some(guard.names()))
            .set_expression_attribute_values(Some(guard.values()))
            .expression_attribute_values(":basis", s(basis))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if crate::error::is_conditional_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(crate::error::backend(e)),
        }
    }

    /// The basis stored on each of `provider_users`' directory user items, read alone (a
    /// BatchGetItem projecting the key and the basis): whether a user is as its inputs make
    /// it, without its document or its memberships. Users without an item are absent; an
    /// item without a basis is `None`.
    pub async fn load_user_bases(
        &self,
        provider_users: &[ProviderUserId],
    ) -> Result<HashMap<ProviderUserId, Option<String>>, StoreError> {
        let keys = provider_users
            .iter()
            .map(|pu| key_item(projected_user_pk(pu), DIRECTORY_USER_SK.to_owned()))
            .collect();
        let items = self
            .batch_get_attributes(&self.tables.directory, keys, &["provider_user_id", BASIS])
            .await?;
        let mut bases = HashMap::with_capacity(items.len());
        for item in &items {
            let user = id_attr(item, "provider_user_id", ProviderUserId::parse)?;
            bases.insert(user, item.opt_str_attr(BASIS).map(str::to_owned));
        }
        Ok(bases)
    }

    /// Commits a group's projection and its event. A deleted group's memberships are then
    /// removed silently: `dsync.group.deleted` comes alone.
    pub async fn commit_group_projection(
        &self,
        scope: &EventScope,
        provider_group: &ProviderGroupId,
        before: &ProjectedGroup,
        outcome: &GroupOutcome,
        now: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let pk = projected_group_pk(provider_group);
        let guard = Guard::new(
            before.revision,
            before.group.as_ref().map(|g| g.id.to_string()),
        );
        let write = match &outcome.group {
            GroupWrite::Unchanged => return Ok(Vec::new()),
            GroupWrite::Put(group) => {
                let members_pending = before.group.is_none() || before.members_pending;
                let mut item = Item::from([
                    (PK.to_owned(), s(&pk)),
                    (SK.to_owned(), s(DIRECTORY_GROUP_SK)),
                    ("type".to_owned(), s("directory_group")),
                    ("id".to_owned(), s(group.id.to_string())),
                    ("directory_id".to_owned(), s(group.directory_id.to_string())),
                    ("revision".to_owned(), n(before.revision + 1)),
                    ("group".to_owned(), s(encode_json(group)?)),
                ]);
                item.insert(GSI1PK.to_owned(), s(directory_groups(&group.directory_id)));
                item.insert(GSI1SK.to_owned(), s(group.id.to_string()));
                item.insert(GSI2PK.to_owned(), s(by_directory_group_id(&group.id)));
                item.insert(GSI2SK.to_owned(), s(DIRECTORY_GROUP_SK));
                if members_pending {
                    item.insert(MEMBERS_PENDING.to_owned(), crate::item::b(true));
                    // A rewrite of the group mid-sweep keeps the sweep's progress.
                    if let Some(after) = &before.members_after {
                        item.insert(MEMBERS_AFTER.to_owned(), s(after));
                    }
                }
                self.conditional_put(item, &guard)?
            }
            GroupWrite::Delete(_) => self.conditional_delete(&pk, DIRECTORY_GROUP_SK, &guard)?,
        };
        let writes = vec![self.directory_check(scope)?, write];
        let events = self
            .commit_with_events(scope, writes, &outcome.events, now)
            .await?;
        if let (GroupWrite::Delete(_), Some(group)) = (&outcome.group, &before.group) {
            self.drop_group_memberships(&group.id).await?;
        }
        Ok(events)
    }

    /// Clears a group's [`ProjectedGroup::members_pending`] once all its members are
    /// projected. A writer that read the mark before this keeps it on its own write, which
    /// only costs its members one more (idempotent) projection.
    pub async fn clear_group_members_pending(
        &self,
        provider_group: &ProviderGroupId,
        group: &DirectoryGroupId,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.directory)
            .key(PK, s(projected_group_pk(provider_group)))
            .key(SK, s(DIRECTORY_GROUP_SK))
            .update_expression("REMOVE #pending, #after")
            .condition_expression("attribute_exists(pk) AND #id = :id")
            .expression_attribute_names("#pending", MEMBERS_PENDING)
            .expression_attribute_names("#after", MEMBERS_AFTER)
            .expression_attribute_names("#id", "id")
            .expression_attribute_values(":id", s(group.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Deleted or re-created meanwhile: nothing of this group is left to finish.
            Err(e) if crate::error::is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(crate::error::backend(e)),
        }
    }

    /// Records that a pending group's members up to `to` are projected, if the sweep is
    /// still where this writer found it (`from`). `false`: another writer moved it first (a
    /// concurrent sweep of the same chunk, which carries on from there), or the group was
    /// finished, deleted or re-created meanwhile.
    pub async fn advance_group_members_pending(
        &self,
        provider_group: &ProviderGroupId,
        group: &DirectoryGroupId,
        from: Option<&str>,
        to: &str,
    ) -> Result<bool, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.tables.directory)
            .key(PK, s(projected_group_pk(provider_group)))
            .key(SK, s(DIRECTORY_GROUP_SK))
            .update_expression("SET #after = :to")
            .expression_attribute_names("#pending", MEMBERS_PENDING)
            .expression_attribute_names("#after", MEMBERS_AFTER)
            .expression_attribute_names("#id", "id")
            .expression_attribute_values(":id", s(group.to_string()))
            .expression_attribute_values(":true", crate::item::b(true))
            .expression_attribute_values(":to", s(to));
        update = match from {
            None => update.condition_expression(
                "#id = :id AND #pending = :true AND attribute_not_exists(#after)",
            ),
            Some(from) => update
                .condition_expression("#id = :id AND #pending = :true AND #after = :from")
                .expression_attribute_values(":from", s(from)),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if crate::error::is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(crate::error::backend(e)),
        }
    }

    /// Fails a projection's transaction once its directory is deleted: `dsync.deleted` and
    /// the directory item's removal commit together, and the purge that follows only removes
    /// what exists then, so nothing may be written for the directory after that.
    fn directory_check(&self, scope: &EventScope) -> Result<TransactWriteItem, StoreError> {
        let directory = scope
            .directory_id
            .ok_or_else(|| StoreError::corrupt("a projection is always of one directory"))?;
        let check = ConditionCheck::builder()
            .table_name(&self.tables.directory)
            .key(PK, s(directory_pk(&directory)))
            .key(SK, s(DIRECTORY_SK))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    async fn drop_group_memberships(&self, group: &DirectoryGroupId) -> Result<(), StoreError> {
        let items = self
            .query_index_all_in(
                &self.tables.directory,
                "gsi1",
                GSI1PK,
                directory_group_members(group),
            )
            .await?;
        for item in items {
            let (Some(pk), Some(sk)) = (item.opt_str_attr(PK), item.opt_str_attr(SK)) else {
                continue;
            };
            self.transact(vec![self.delete_item(pk, sk)?]).await?;
        }
        Ok(())
    }

    /// Guards a transaction on the user's revision and moves its membership count. Without
    /// a user item there can be no membership, so only its absence is checked.
    fn user_touch(
        &self,
        pk: &str,
        guard: &mut Guard,
        member_delta: i64,
        basis: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        if guard.revision == 0 {
            let check = ConditionCheck::builder()
                .table_name(&self.tables.directory)
                .key(PK, s(pk))
                .key(SK, s(DIRECTORY_USER_SK))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build_error)?;
            return Ok(TransactWriteItem::builder().condition_check(check).build());
        }
        let set =
            "SET revision = :next, member_count = if_not_exists(member_count, :zero) + :delta";
        let update = Update::builder()
            .table_name(&self.tables.directory)
            .key(PK, s(pk))
            .key(SK, s(DIRECTORY_USER_SK))
            .condition_expression(Guard::CONDITION)
            .set_expression_attribute_names(Some(guard.names()))
            .set_expression_attribute_values(Some(guard.values()))
            .expression_attribute_values(":next", n(guard.revision + 1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":delta", n(member_delta));
        let update = match basis {
            Some(basis) => update
                .update_expression(format!("{set}, {BASIS} = :basis"))
                .expression_attribute_values(":basis", s(basis)),
            None => update.update_expression(format!("{set} REMOVE {BASIS}")),
        }
        .build()
        .map_err(build_error)?;
        guard.revision += 1;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn put_directory_user(
        &self,
        at: UserRef<'_>,
        user: &DirectoryUser,
        guard: &Guard,
        member_count: i64,
        basis: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = Item::from([
            (PK.to_owned(), s(at.pk)),
            (SK.to_owned(), s(DIRECTORY_USER_SK)),
            ("type".to_owned(), s("directory_user")),
            ("id".to_owned(), s(user.id.to_string())),
            ("directory_id".to_owned(), s(user.directory_id.to_string())),
            (
                "provider_user_id".to_owned(),
                s(at.provider_user.to_string()),
            ),
            ("state".to_owned(), s(user.state.as_str())),
            ("revision".to_owned(), n(guard.revision + 1)),
            ("member_count".to_owned(), n(member_count.max(0))),
            (
                "user".to_owned(),
                crate::packed::document(&encode_json(user)?),
            ),
            (GSI1PK.to_owned(), s(directory_users(&user.directory_id))),
            (GSI1SK.to_owned(), s(user.id.to_string())),
            (GSI2PK.to_owned(), s(by_directory_user_id(&user.id))),
            (GSI2SK.to_owned(), s(DIRECTORY_USER_SK)),
        ]);
        if let Some(basis) = basis {
            item.insert(BASIS.to_owned(), s(basis));
        }
        self.conditional_put(item, guard)
    }

    fn put_membership(
        &self,
        at: UserRef<'_>,
        user: Option<dsync_domain::ids::DirectoryUserId>,
        addition: &MembershipChange,
    ) -> Result<TransactWriteItem, StoreError> {
        let user =
            user.ok_or_else(|| StoreError::corrupt("a membership needs a directory user"))?;
        let item = Item::from([
            (PK.to_owned(), s(at.pk)),
            (SK.to_owned(), s(directory_member_sk(&addition.group))),
            ("type".to_owned(), s("directory_membership")),
            ("directory_id".to_owned(), s(at.directory.to_string())),
            ("directory_user_id".to_owned(), s(user.to_string())),
            (
                "directory_group_id".to_owned(),
                s(addition.group.to_string()),
            ),
            (
                "provider_group_id".to_owned(),
                s(addition.provider_group.to_string()),
            ),
            (
                "provider_user_id".to_owned(),
                s(at.provider_user.to_string()),
            ),
            (
                GSI1PK.to_owned(),
                s(directory_group_members(&addition.group)),
            ),
            (GSI1SK.to_owned(), s(user.to_string())),
        ]);
        let put = Put::builder()
            .table_name(&self.tables.directory)
            .set_item(Some(item))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A put that succeeds only over the item (revision and identity) it was computed from.
    fn conditional_put(&self, item: Item, guard: &Guard) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.tables.directory)
            .set_item(Some(item));
        let put = if guard.revision == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression(Guard::CONDITION)
                .set_expression_attribute_names(Some(guard.names()))
                .set_expression_attribute_values(Some(guard.values()))
        };
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(build_error)?)
            .build())
    }

    fn conditional_delete(
        &self,
        pk: &str,
        sk: &str,
        guard: &Guard,
    ) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.tables.directory)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .condition_expression(Guard::CONDITION)
            .set_expression_attribute_names(Some(guard.names()))
            .set_expression_attribute_values(Some(guard.values()))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    fn delete_item(&self, pk: &str, sk: &str) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.tables.directory)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

/// A directory user's partition as read: its user item and the memberships it holds, whose
/// groups are still to be looked up.
pub(crate) struct UserPartition {
    projected: ProjectedUser,
    /// Each membership's directory group and the provider group it projects.
    member_of: Vec<(DirectoryGroupId, ProviderGroupId)>,
}

impl UserPartition {
    /// Decodes the partition's items (in any order; other kinds of item are ignored).
    pub(crate) fn decode(items: &[Item]) -> Result<Self, StoreError> {
        let mut projected = ProjectedUser::default();
        let mut member_of = Vec::new();
        for item in items {
            match item.opt_str_attr(SK) {
                Some(DIRECTORY_USER_SK) => {
                    projected.user = Some(decode_json(item, "user")?);
                    projected.revision = item.num_attr("revision")?;
                    projected.basis = item.opt_str_attr(BASIS).map(str::to_owned);
                }
                Some(sk) if sk.starts_with(DIRECTORY_MEMBER_PREFIX) => member_of.push((
                    id_attr(item, "directory_group_id", DirectoryGroupId::parse)?,
                    id_attr(item, "provider_group_id", ProviderGroupId::parse)?,
                )),
                _ => {}
            }
        }
        Ok(Self {
            projected,
            member_of,
        })
    }

    /// The provider groups its memberships name: whose directory groups to load.
    pub(crate) fn provider_groups(&self) -> impl Iterator<Item = ProviderGroupId> + '_ {
        self.member_of
            .iter()
            .map(|(_, provider_group)| *provider_group)
    }

    /// The projection, each membership resolved among `groups` (the directory groups
    /// loaded); a membership whose group is not among them is an orphan, dropped on the next
    /// write.
    pub(crate) fn resolve(self, groups: &[DirectoryGroup]) -> ProjectedUser {
        let mut projected = self.projected;
        for (group_id, _) in self.member_of {
            match groups.iter().find(|g| g.id == group_id) {
                Some(group) => projected.groups.push(group.clone()),
                None => projected.orphans.push(group_id),
            }
        }
        projected.groups.sort_by_key(|g| g.id);
        projected
    }
}

/// What a projection read of a stored user or group: the condition its writes commit under.
/// The revision alone is not enough: a deleted item's key can be written again (a user
/// deleted by the policy and re-created on reactivation), and its revision restarts at 1.
struct Guard {
    revision: u64,
    /// The directory user's or group's id as read; `None` only with revision 0 (absent).
    id: Option<String>,
}

impl Guard {
    const CONDITION: &'static str = "revision = :revision AND #id = :id";

    fn new(revision: u64, id: Option<String>) -> Self {
        Self { revision, id }
    }

    fn names(&self) -> HashMap<String, String> {
        HashMap::from([("#id".to_owned(), "id".to_owned())])
    }

    fn values(&self) -> HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
        HashMap::from([
            (":revision".to_owned(), n(self.revision)),
            (":id".to_owned(), s(self.id.clone().unwrap_or_default())),
        ])
    }
}

fn key_item(pk: String, sk: String) -> Item {
    Item::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

#[derive(Clone, Copy)]
struct UserRef<'a> {
    pk: &'a str,
    provider_user: &'a ProviderUserId,
    /// The directory the projection commits in: its groups' and its memberships'.
    directory: &'a DirectoryId,
}

/// How many membership changes (`per_change` items each: a write, an event and, for a
/// listed plan, a check) fit in a transaction beside the log head, the directory check and
/// `fixed` other items: `2 + fixed + per_change * chunk ≤ 100`. A chunk of its own (`fixed` at
/// most the user's write, its own event, the user counter and the record check: four) is
/// never empty; beside removals merged into the user's transaction it may be, and the
/// additions then take transactions of their own.
fn chunk_size(fixed: usize, per_change: usize) -> usize {
    (MAX_TRANSACTION_ITEMS - 2 - fixed) / per_change
}

/// The directory a user projection commits in (its events' scope always names one).
fn scope_directory(scope: &EventScope) -> Result<dsync_domain::ids::DirectoryId, StoreError> {
    scope
        .directory_id
        .ok_or_else(|| StoreError::corrupt("a user projection without a directory"))
}

fn encode_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::corrupt(e.to_string()))
}

pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    item: &Item,
    name: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(&crate::item::document_attr(item, name)?)
        .map_err(|e| StoreError::corrupt(format!("attribute {name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str) -> DirectoryGroup {
        DirectoryGroup {
            id: DirectoryGroupId::generate(),
            directory_id: DirectoryId::generate(),
            provider_group_id: ProviderGroupId::generate(),
            name: name.to_owned(),
            idp_id: name.to_owned(),
            raw_attributes: serde_json::Value::Null,
            created_at: 1,
            updated_at: 1,
        }
    }

    fn membership(group: &DirectoryGroup) -> Item {
        Item::from([
            (SK.to_owned(), s(directory_member_sk(&group.id))),
            ("directory_group_id".to_owned(), s(group.id.to_string())),
            (
                "provider_group_id".to_owned(),
                s(group.provider_group_id.to_string()),
            ),
        ])
    }

    /// Both readers of a user's partition (the stream path's inputs and a lone projection
    /// read) decode it here: a membership whose group is gone must come back as an orphan,
    /// or the user's next write would never delete its item.
    #[test]
    fn a_partition_resolves_memberships_and_finds_orphans() {
        let (kept, other, gone) = (group("kept"), group("other"), group("gone"));
        let items = [
            membership(&other),
            membership(&gone),
            membership(&kept),
            Item::from([(SK.to_owned(), s("SOMETHING#ELSE"))]),
        ];
        let partition = UserPartition::decode(&items).unwrap();
        let mut named: Vec<_> = partition.provider_groups().collect();
        named.sort();
        let mut expected = vec![
            kept.provider_group_id,
            other.provider_group_id,
            gone.provider_group_id,
        ];
        expected.sort();
        assert_eq!(named, expected);

        let projected = partition.resolve(&[other.clone(), kept.clone()]);
        let mut both = vec![kept.id, other.id];
        both.sort();
        assert_eq!(
            projected.groups.iter().map(|g| g.id).collect::<Vec<_>>(),
            both,
            "sorted by id"
        );
        assert_eq!(projected.orphans, [gone.id]);
        assert!(projected.user.is_none() && projected.revision == 0);
    }

    #[test]
    fn every_membership_chunk_fits_one_transaction_with_the_log_head() {
        for per_change in [2, 3] {
            for fixed in 0..=4 {
                let chunk = chunk_size(fixed, per_change);
                assert!(chunk >= 1);
                // The log head and the directory check beside them.
                assert!(
                    2 + fixed + per_change * chunk <= MAX_TRANSACTION_ITEMS,
                    "fixed {fixed}, {per_change} items per change"
                );
                // And it is the largest that fits: no transaction is split needlessly.
                assert!(2 + fixed + per_change * (chunk + 1) > MAX_TRANSACTION_ITEMS);
            }
        }
    }
}
