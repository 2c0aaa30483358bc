//! Provider groups and their memberships. A membership is an item of its own, so a group of
//! 50,000 members is 50,000 small items, never one growing item.

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, DeleteRequest, Put,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update, WriteRequest,
};
use std::collections::HashMap;

use dsync_domain::ids::{DirectoryId, ProviderGroupId, ProviderUserId};
use dsync_domain::model::ProviderGroup;

use crate::error::{backend, is_conditional_failure};
use crate::item::{id_attr, n, s, Item, ItemExt};
use crate::keys::*;
use crate::provider_users::{
    build_error, condition_failed_item, contention_pause, map_transaction,
};
use crate::query::put_request;
use crate::record_counts::RecordKind;
use crate::{Store, StoreError};

/// A DynamoDB transaction holds at most 100 items: the group, the directory's group count
/// (on create) and 98 membership items (a membership is two).
const MEMBERSHIP_ITEMS_PER_TRANSACTION: usize = 98;
/// Beside the guard on the group's version, a later chunk holds 99 membership items.
const MEMBERSHIP_ITEMS_PER_LATER_CHUNK: usize = 99;
/// A membership change larger than one transaction holds the group this long (milliseconds):
/// other writers wait for it to finish, or take over once it has plainly died.
pub const MEMBER_WRITE_LEASE_MS: i64 = 60_000;
/// Set on a group while its deletion sweeps the memberships: readers treat it as gone.
const DELETING: &str = "deleting";
/// Set on a group while a membership change spans several transactions.
const BUSY_UNTIL: &str = "members_busy_until";
/// A group's deletion mark, beside it in the directory's partition from the moment it is
/// marked `deleting` until its sweep ends: one Query finds every group a user's SCIM
/// `groups` must leave out, however many groups the user is in.
const DELETING_MARK_PREFIX: &str = "GDELETING#";

fn deleting_mark_sk(group: &ProviderGroupId) -> String {
    format!("{DELETING_MARK_PREFIX}{group}")
}
/// A random id a group create writes on the item, so that finding the id taken, the create
/// can tell its own committed write from another writer's group.
const CREATED_BY: &str = "created_by_write";

/// A group as a writer sees it: also whether a write is still in flight.
#[derive(Debug, Clone)]
pub struct GroupState {
    pub group: ProviderGroup,
    /// Milliseconds: a multi-transaction membership change holds the group until then.
    pub busy_until: Option<i64>,
    /// Deleted, its memberships still being swept.
    pub deleting: bool,
}

pub(crate) fn is_deleting(item: &Item) -> bool {
    item.contains_key(DELETING)
}

/// Members to add (with the display name the provider sent, if any) and to remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipDiff {
    pub add: Vec<(ProviderUserId, Option<String>)>,
    pub remove: Vec<ProviderUserId>,
}

impl MembershipDiff {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

pub struct MemberPage {
    pub members: Vec<(ProviderUserId, Option<String>)>,
    pub next: Option<String>,
}

enum MembershipOp {
    Put(Item),
    Delete(Item),
}

impl Store {
    /// Creates a group with its first members and counts it. The group and up to 98
    /// membership items commit in one transaction; larger member lists continue in further
    /// transactions, each guarded by the group's version (see [`Self::replace_group`]).
    pub async fn create_group(
        &self,
        group: &ProviderGroup,
        members: &MembershipDiff,
        now: i64,
    ) -> Result<(), StoreError> {
        let count = self.count_change(&group.directory_id, RecordKind::Groups, 1)?;
        self.write_group_with_members(group, None, Some(count), members, now)
            .await
    }

    /// Replaces a group (`new.version == previous.version + 1`) and applies a membership
    /// change. Up to 98 membership items commit with the group. A larger change marks the
    /// group busy for [`MEMBER_WRITE_LEASE_MS`] in that first transaction, commits the rest in
    /// transactions of 99 each guarded by `version = new.version`, and then clears the mark:
    /// a concurrent writer waits for the mark to clear (so no add or remove of the two is
    /// lost), and one that takes over an expired mark bumps the version, which stops the
    /// stalled writer's remaining chunks.
    pub async fn replace_group(
        &self,
        new: &ProviderGroup,
        previous: &ProviderGroup,
        members: &MembershipDiff,
        now: i64,
    ) -> Result<(), StoreError> {
        debug_assert_eq!(new.version, previous.version + 1);
        self.write_group_with_members(new, Some(previous.version), None, members, now)
            .await
    }

    async fn write_group_with_members(
        &self,
        group: &ProviderGroup,
        expected_version: Option<u64>,
        count: Option<TransactWriteItem>,
        members: &MembershipDiff,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut ops = self.membership_ops(group, members);
        let rest = ops.split_off(ops.len().min(MEMBERSHIP_ITEMS_PER_TRANSACTION));
        let busy_until = (!rest.is_empty()).then_some(now + MEMBER_WRITE_LEASE_MS);
        let condition = match expected_version {
            None => "attribute_not_exists(pk)",
            Some(_) => "version = :expected",
        };
        let mut item = encode_group(group);
        if let Some(until) = busy_until {
            item.insert(BUSY_UNTIL.into(), n(until));
        }
        let creating = expected_version.is_none();
        if creating {
            // Names this create, memberships included: the item is compared below.
            item.insert(CREATED_BY.into(), s(ulid::Ulid::new().to_string()));
        }
        let mut put = Put::builder()
            .table_name(&self.tables.provider_records)
            .set_item(Some(item.clone()))
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(version) = expected_version {
            put = put.expression_attribute_values(":expected", n(version));
        }
        let mut request = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .put(put.build().map_err(build_error)?)
                .build(),
        );
        if let Some(count) = count {
            request = request.transact_items(count);
        }
        for op in ops {
            request = request.transact_items(self.transact_op(op)?);
        }
        let mut attempt = 0;
        loop {
            let result = request.clone().send().await;
            // The id is taken. Holding this create's own item (its `created_by` included),
            // it is this call's write, committed by an attempt whose answer was lost (the SDK
            // retried it): done. Anything else is another writer's group (ids derived from a
            // provider's id collide; a department's group is created by each of its first
            // employees), which does not hold this call's members: the caller re-reads and
            // replaces under version.
            if creating {
                if let Some(existing) = condition_failed_item(&result, 0) {
                    match existing {
                        Some(existing) if *existing == item => break,
                        _ => return Err(StoreError::Conflict),
                    }
                }
            }
            match map_transaction(result, &[StoreError::Conflict]) {
                // A create cancelled for contention (the counter shard, a concurrent
                // transaction on its items) is tried again; a replace's conflict is the
                // caller's to judge (it re-reads).
                Err(StoreError::Conflict) if creating && attempt < 10 => {
                    attempt += 1;
                    contention_pause(attempt).await;
                }
                other => {
                    other?;
                    break;
                }
            }
        }
        if rest.is_empty() {
            return Ok(());
        }
        let mut rest = rest;
        while !rest.is_empty() {
            let later = rest.split_off(rest.len().min(MEMBERSHIP_ITEMS_PER_LATER_CHUNK));
            let chunk = std::mem::replace(&mut rest, later);
            let mut request = self
                .client
                .transact_write_items()
                .transact_items(self.group_version_check(group)?);
            for op in chunk {
                request = request.transact_items(self.transact_op(op)?);
            }
            map_transaction(request.send().await, &[StoreError::Conflict])?;
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.provider_records)
            .key(PK, s(provider_pk(&group.directory_id)))
            .key(SK, s(group_sk(&group.id)))
            .update_expression("REMOVE #busy")
            .condition_expression("version = :version")
            .expression_attribute_names("#busy", BUSY_UNTIL)
            .expression_attribute_values(":version", n(group.version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(backend(e)),
        }
    }

    fn group_version_check(&self, group: &ProviderGroup) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.tables.provider_records)
            .key(PK, s(provider_pk(&group.directory_id)))
            .key(SK, s(group_sk(&group.id)))
            .condition_expression("version = :version")
            .expression_attribute_values(":version", n(group.version))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// A group and whether a write or its deletion is in flight (consistent).
    pub async fn get_group_state(
        &self,
        directory: &DirectoryId,
        id: &ProviderGroupId,
    ) -> Result<GroupState, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.provider_records)
            .key(PK, s(provider_pk(directory)))
            .key(SK, s(group_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let item = output.item.ok_or(StoreError::NotFound)?;
        Ok(GroupState {
            group: decode_group(&item)?,
            busy_until: item.opt_num_attr(BUSY_UNTIL),
            deleting: is_deleting(&item),
        })
    }

    /// A group; one being deleted is `NotFound` already.
    pub async fn get_group(
        &self,
        directory: &DirectoryId,
        id: &ProviderGroupId,
    ) -> Result<ProviderGroup, StoreError> {
        match self.get_group_state(directory, id).await? {
            state if state.deleting => Err(StoreError::NotFound),
            state => Ok(state.group),
        }
    }

    /// Groups with this `displayName` (case-insensitively), through GSI2.
    pub async fn find_groups_by_display_name(
        &self,
        directory: &DirectoryId,
        display_name: &str,
    ) -> Result<Vec<ProviderGroup>, StoreError> {
        let items = self
            .query_index_all("gsi2", GSI2PK, group_display_name(directory, display_name))
            .await?;
        items
            .iter()
            .filter(|item| !is_deleting(item))
            .map(decode_group)
            .collect()
    }

    /// Groups with this `externalId`, through GSI1.
    pub async fn find_groups_by_external_id(
        &self,
        directory: &DirectoryId,
        external_id: &str,
    ) -> Result<Vec<ProviderGroup>, StoreError> {
        let items = self
            .query_index_all("gsi1", GSI1PK, group_external_id(directory, external_id))
            .await?;
        items
            .iter()
            .filter(|item| !is_deleting(item))
            .map(decode_group)
            .collect()
    }

    /// A page of the directory's groups, in id order, after the group id `after`.
    pub async fn list_groups(
        &self,
        directory: &DirectoryId,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<ProviderGroup>, Option<String>), StoreError> {
        let start = after.map(|id| format!("{GROUP_PREFIX}{id}"));
        let (items, last) = self
            .query_prefix_page(&provider_pk(directory), GROUP_PREFIX, start, limit)
            .await?;
        let groups = items
            .iter()
            .filter(|item| !is_deleting(item))
            .map(decode_group)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((
            groups,
            last.and_then(|sk| sk.strip_prefix(GROUP_PREFIX).map(str::to_owned)),
        ))
    }

    /// A page of a group's members, in user id order.
    pub async fn list_members(
        &self,
        directory: &DirectoryId,
        group: &ProviderGroupId,
        after: Option<String>,
        limit: i32,
    ) -> Result<MemberPage, StoreError> {
        let prefix = member_prefix(group);
        let start = after.map(|user| format!("{prefix}{user}"));
        let (items, last) = self
            .query_prefix_page(&provider_pk(directory), &prefix, start, limit)
            .await?;
        let members = items
            .iter()
            .map(|item| {
                let user = id_attr(item, "user_id", ProviderUserId::parse)?;
                Ok((user, item.opt_str_attr("display").map(str::to_owned)))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = last.and_then(|sk| sk.strip_prefix(&prefix).map(str::to_owned));
        Ok(MemberPage { members, next })
    }

    /// Every member of a group (all pages).
    pub async fn all_members(
        &self,
        directory: &DirectoryId,
        group: &ProviderGroupId,
    ) -> Result<Vec<(ProviderUserId, Option<String>)>, StoreError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self.list_members(directory, group, after, 1000).await?;
            all.extend(page.members);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// The groups a user belongs to (consistent).
    pub async fn groups_of_user(
        &self,
        directory: &DirectoryId,
        user: &ProviderUserId,
    ) -> Result<Vec<ProviderGroupId>, StoreError> {
        let mut groups = self.groups_of_users(directory, &[*user]).await?;
        Ok(groups.remove(user).unwrap_or_default())
    }

    /// The groups a user belongs to as SCIM shows them (consistent): a group being deleted
    /// is left out at once, though its membership items stay until its sweep removes them.
    /// For a user in any group that is one more Query, of the directory's deletion marks
    /// (one small item per group whose sweep is unfinished, usually none), whatever the
    /// number of groups.
    pub async fn live_groups_of_user(
        &self,
        directory: &DirectoryId,
        user: &ProviderUserId,
    ) -> Result<Vec<ProviderGroupId>, StoreError> {
        let groups = self.groups_of_user(directory, user).await?;
        if groups.is_empty() {
            return Ok(groups);
        }
        let marks = self
            .query_prefix_all(
                &self.tables.provider_records,
                &provider_pk(directory),
                DELETING_MARK_PREFIX,
            )
            .await?;
        let deleting: std::collections::HashSet<String> = marks
            .iter()
            .filter_map(|item| item.opt_str_attr("group_id").map(str::to_owned))
            .collect();
        Ok(groups
            .into_iter()
            .filter(|group| !deleting.contains(&group.to_string()))
            .collect())
    }

    /// The groups of each of `users` (consistent), with one ranged Query over the user-side
    /// membership items when the users are a contiguous page in id order.
    pub async fn groups_of_users(
        &self,
        directory: &DirectoryId,
        users: &[ProviderUserId],
    ) -> Result<HashMap<ProviderUserId, Vec<ProviderGroupId>>, StoreError> {
        let mut groups: HashMap<ProviderUserId, Vec<ProviderGroupId>> =
            users.iter().map(|user| (*user, Vec::new())).collect();
        let (Some(first), Some(last)) = (users.iter().min(), users.iter().max()) else {
            return Ok(groups);
        };
        let (items, _) = self.member_of_range(directory, first, last, None).await?;
        add_memberships(&items, &mut groups)?;
        Ok(groups)
    }

    /// The user-side membership items of the users from `first` to `last` in id order
    /// (consistent): all of them, or with `limit` the first `limit`; `true` when more remain.
    pub(crate) async fn member_of_range(
        &self,
        directory: &DirectoryId,
        first: &ProviderUserId,
        last: &ProviderUserId,
        limit: Option<i32>,
    ) -> Result<(Vec<Item>, bool), StoreError> {
        // '~' sorts after every character of an id, so the range covers all of `last`'s items.
        let low = member_of_prefix(first);
        let high = format!("{}~", member_of_prefix(last));
        self.query_range(&provider_pk(directory), (&low, &high), limit)
            .await
    }

    /// The memberships of `group` among `users`, with their stored display names.
    pub async fn memberships_among(
        &self,
        directory: &DirectoryId,
        group: &ProviderGroupId,
        users: &[ProviderUserId],
    ) -> Result<Vec<(ProviderUserId, Option<String>)>, StoreError> {
        let keys = users.iter().map(|user| member_sk(group, user)).collect();
        let items = self.batch_get(directory, keys).await?;
        items
            .iter()
            .map(|item| {
                let user = id_attr(item, "user_id", ProviderUserId::parse)?;
                Ok((user, item.opt_str_attr("display").map(str::to_owned)))
            })
            .collect()
    }

    /// Which of `ids` are users of this directory.
    pub async fn existing_users(
        &self,
        directory: &DirectoryId,
        ids: &[ProviderUserId],
    ) -> Result<Vec<ProviderUserId>, StoreError> {
        let keys = ids.iter().map(user_sk).collect();
        let items = self.batch_get(directory, keys).await?;
        items
            .iter()
            .map(|item| id_attr(item, "id", ProviderUserId::parse))
            .collect()
    }

    /// Which of these provider groups exist and are not being deleted, in one BatchGetItem
    /// per 100.
    pub async fn existing_groups(
        &self,
        directory: &DirectoryId,
        ids: &[ProviderGroupId],
    ) -> Result<Vec<ProviderGroupId>, StoreError> {
        let keys = ids.iter().map(group_sk).collect();
        let items = self.batch_get(directory, keys).await?;
        items
            .iter()
            .filter(|item| !is_deleting(item))
            .map(|item| id_attr(item, "id", ProviderGroupId::parse))
            .collect()
    }

    /// Consistent reads of the items with these sort keys in the directory's partition.
    async fn batch_get(
        &self,
        directory: &DirectoryId,
        sort_keys: Vec<String>,
    ) -> Result<Vec<Item>, StoreError> {
        let pk = provider_pk(directory);
        let keys = sort_keys
            .into_iter()
            .map(|sk| Item::from([(PK.to_owned(), s(&pk)), (SK.to_owned(), s(sk))]))
            .collect();
        self.batch_get_items(&self.tables.provider_records, keys)
            .await
    }

    /// Deletes a group resumably: first it is marked `deleting` (a new version, and the
    /// directory's count drops, in one transaction), from which moment every reader treats it
    /// as gone and the policy function projects `dsync.group.deleted` alone; then its
    /// memberships are swept; then the group item goes. If this stops half-way, another
    /// DELETE of the group (or the policy function, on the mark's stream record) finishes
    /// the sweep with [`Self::finish_group_deletion`].
    pub async fn delete_group(&self, group: &ProviderGroup) -> Result<(), StoreError> {
        let mark = Update::builder()
            .table_name(&self.tables.provider_records)
            .key(PK, s(provider_pk(&group.directory_id)))
            .key(SK, s(group_sk(&group.id)))
            .update_expression("SET #deleting = :true, version = :next REMOVE #busy")
            .condition_expression("version = :expected AND attribute_not_exists(#deleting)")
            .expression_attribute_names("#deleting", DELETING)
            .expression_attribute_names("#busy", BUSY_UNTIL)
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":next", n(group.version + 1))
            .expression_attribute_values(":expected", n(group.version))
            .build()
            .map_err(build_error)?;
        // `type` names the mark for stream readers, which skip it.
        let deletion_mark = Put::builder()
            .table_name(&self.tables.provider_records)
            .item(PK, s(provider_pk(&group.directory_id)))
            .item(SK, s(deleting_mark_sk(&group.id)))
            .item("type", s("group_deleting"))
            .item("group_id", s(group.id.to_string()))
            .build()
            .map_err(build_error)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(mark).build())
            .transact_items(self.count_change(&group.directory_id, RecordKind::Groups, -1)?)
            .transact_items(TransactWriteItem::builder().put(deletion_mark).build())
            .send()
            .await;
        map_transaction(result, &[StoreError::Conflict, StoreError::Conflict])?;
        self.finish_group_deletion(&group.directory_id, &group.id)
            .await
    }

    /// Sweeps the memberships of a group marked `deleting`, then removes it. Idempotent; a
    /// group that is not being deleted is left alone.
    pub async fn finish_group_deletion(
        &self,
        directory: &DirectoryId,
        group: &ProviderGroupId,
    ) -> Result<(), StoreError> {
        let state = match self.get_group_state(directory, group).await {
            Ok(state) if state.deleting => state,
            Ok(_) | Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e),
        };
        // Page by page, so memory stays bounded whatever the group's size.
        loop {
            let page = self.list_members(directory, group, None, 1000).await?;
            if page.members.is_empty() {
                break;
            }
            let diff = MembershipDiff {
                add: Vec::new(),
                remove: page.members.into_iter().map(|(user, _)| user).collect(),
            };
            self.batch_write(self.membership_ops(&state.group, &diff))
                .await?;
        }
        let remove_group = Delete::builder()
            .table_name(&self.tables.provider_records)
            .key(PK, s(provider_pk(directory)))
            .key(SK, s(group_sk(group)))
            .condition_expression("attribute_exists(#deleting)")
            .expression_attribute_names("#deleting", DELETING)
            .build()
            .map_err(build_error)?;
        let remove_mark = Delete::builder()
            .table_name(&self.tables.provider_records)
            .key(PK, s(provider_pk(directory)))
            .key(SK, s(deleting_mark_sk(group)))
            .build()
            .map_err(build_error)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(remove_group).build())
            .transact_items(TransactWriteItem::builder().delete(remove_mark).build())
            .send()
            .await;
        // The group already gone: a concurrent finisher removed both.
        if condition_failed_item(&result, 0).is_some() {
            return Ok(());
        }
        map_transaction(result, &[])
    }

    /// Removes a user's memberships of `groups` (both items of each), 12 per BatchWriteItem.
    pub(crate) async fn delete_memberships_of_user(
        &self,
        directory: &DirectoryId,
        user: &ProviderUserId,
        groups: &[ProviderGroupId],
    ) -> Result<(), StoreError> {
        let key = |sk: String| {
            Item::from([
                (PK.to_owned(), s(provider_pk(directory))),
                (SK.to_owned(), s(sk)),
            ])
        };
        let ops = groups
            .iter()
            .flat_map(|group| {
                [
                    MembershipOp::Delete(key(member_sk(group, user))),
                    MembershipOp::Delete(key(member_of_sk(user, group))),
                ]
            })
            .collect();
        self.batch_write(ops).await
    }

    /// Each membership is two items written together: the group-side item (whose stream
    /// record drives the policy function) and its user-side twin.
    fn membership_ops(&self, group: &ProviderGroup, diff: &MembershipDiff) -> Vec<MembershipOp> {
        let directory = &group.directory_id;
        let pk = || (PK.to_owned(), s(provider_pk(directory)));
        let mut ops = Vec::with_capacity(2 * (diff.add.len() + diff.remove.len()));
        for user in &diff.remove {
            ops.push(MembershipOp::Delete(Item::from([
                pk(),
                (SK.to_owned(), s(member_sk(&group.id, user))),
            ])));
            ops.push(MembershipOp::Delete(Item::from([
                pk(),
                (SK.to_owned(), s(member_of_sk(user, &group.id))),
            ])));
        }
        for (user, display) in &diff.add {
            let mut item = Item::from([
                pk(),
                (SK.to_owned(), s(member_sk(&group.id, user))),
                ("type".to_owned(), s("membership")),
                ("directory_id".to_owned(), s(directory.to_string())),
                ("group_id".to_owned(), s(group.id.to_string())),
                ("user_id".to_owned(), s(user.to_string())),
            ]);
            if let Some(display) = display {
                item.insert("display".to_owned(), s(display));
            }
            ops.push(MembershipOp::Put(item));
            ops.push(MembershipOp::Put(Item::from([
                pk(),
                (SK.to_owned(), s(member_of_sk(user, &group.id))),
                ("type".to_owned(), s("member_of")),
                ("group_id".to_owned(), s(group.id.to_string())),
                ("user_id".to_owned(), s(user.to_string())),
            ])));
        }
        ops
    }

    fn transact_op(&self, op: MembershipOp) -> Result<TransactWriteItem, StoreError> {
        let table = &self.tables.provider_records;
        Ok(match op {
            MembershipOp::Put(item) => TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(table)
                        .set_item(Some(item))
                        .build()
                        .map_err(build_error)?,
                )
                .build(),
            MembershipOp::Delete(key) => TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(table)
                        .set_key(Some(key))
                        .build()
                        .map_err(build_error)?,
                )
                .build(),
        })
    }

    /// Idempotent membership writes in batches, retrying what DynamoDB leaves unprocessed.
    async fn batch_write(&self, ops: Vec<MembershipOp>) -> Result<(), StoreError> {
        let table = &self.tables.provider_records;
        let mut requests = Vec::with_capacity(ops.len());
        for op in ops {
            requests.push(match op {
                MembershipOp::Put(item) => put_request(item)?,
                MembershipOp::Delete(key) => WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .set_key(Some(key))
                            .build()
                            .map_err(build_error)?,
                    )
                    .build(),
            });
        }
        self.batch_write_requests(table, requests).await
    }
}

/// Adds each user-side membership item's group to its user's list in `groups` (users not
/// in it are skipped); the user of the last item, if any.
pub(crate) fn add_memberships(
    items: &[Item],
    groups: &mut HashMap<ProviderUserId, Vec<ProviderGroupId>>,
) -> Result<Option<ProviderUserId>, StoreError> {
    let mut last = None;
    for item in items {
        let user = id_attr(item, "user_id", ProviderUserId::parse)?;
        if let Some(list) = groups.get_mut(&user) {
            list.push(id_attr(item, "group_id", ProviderGroupId::parse)?);
        }
        last = Some(user);
    }
    Ok(last)
}

fn encode_group(group: &ProviderGroup) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), s(provider_pk(&group.directory_id)));
    item.insert(SK.into(), s(group_sk(&group.id)));
    item.insert("type".into(), s("group"));
    item.insert("id".into(), s(group.id.to_string()));
    item.insert("directory_id".into(), s(group.directory_id.to_string()));
    item.insert("version".into(), n(group.version));
    item.insert("display_name".into(), s(&group.display_name));
    item.insert("resource".into(), s(group.resource.to_string()));
    item.insert("created_at".into(), n(group.created_at));
    item.insert("updated_at".into(), n(group.updated_at));
    item.insert(
        GSI2PK.into(),
        s(group_display_name(&group.directory_id, &group.display_name)),
    );
    item.insert(GSI2SK.into(), s(group.id.to_string()));
    if let Some(external_id) = &group.external_id {
        item.insert("external_id".into(), s(external_id));
        item.insert(
            GSI1PK.into(),
            s(group_external_id(&group.directory_id, external_id)),
        );
        item.insert(GSI1SK.into(), s(group.id.to_string()));
    }
    item
}

/// Decodes a group item, as read from the table or from a stream image.
pub fn decode_group(item: &Item) -> Result<ProviderGroup, StoreError> {
    Ok(ProviderGroup {
        id: id_attr(item, "id", ProviderGroupId::parse)?,
        directory_id: id_attr(item, "directory_id", DirectoryId::parse)?,
        version: item.num_attr("version")?,
        display_name: item.str_attr("display_name")?.to_owned(),
        external_id: item.opt_str_attr("external_id").map(str::to_owned),
        resource: item.json_attr("resource")?,
        created_at: item.num_attr("created_at")?,
        updated_at: item.num_attr("updated_at")?,
    })
}
