//! Committing a user's projection: its outcome packed into transactions with its events
//! (removals, the user's own write, additions, in that order), each guarded by the user as
//! read, with the checks a listed plan carries and the basis its last transaction stores.

use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem, Update};
use dsync_domain::directory::{DirectoryUser, MembershipChange, UserOutcome, UserWrite};
use dsync_domain::ids::{DirectoryId, ProviderGroupId, ProviderUserId};

use crate::directory_state::{encode_json, Guard, ProjectedUser, BASIS};
use crate::event_log::{EventScope, StoredEvent, MAX_TRANSACTION_ITEMS};
use crate::group_commit::{Commit, CountChange};
use crate::item::{n, s, Item};
use crate::keys::*;
use crate::listed::PlannedFrom;
use crate::provider_users::build_error;
use crate::user_state_counts::state_delta;
use crate::{Store, StoreError};

impl Store {
    /// Commits a user's projection and its events, as the outcome structures them: removals,
    /// the user's own write and additions commit in that order, each transaction whole with
    /// its events; usually all in one transaction, but a user leaving or joining more groups
    /// than one transaction holds takes several, each guarded by the user's revision.
    /// `Conflict` means another writer changed this user: re-read and re-project. What the
    /// plan was made `from` (both may be `None`, [`PlannedFrom::default`]):
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

#[cfg(test)]
mod tests {
    use super::*;

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
