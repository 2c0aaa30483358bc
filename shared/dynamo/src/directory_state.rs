//! The projection as stored: directory users, groups and effective memberships, written
//! together with the events that describe each change.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem};
use dsync_domain::directory::{DirectoryGroup, DirectoryUser, GroupOutcome, GroupWrite};
use dsync_domain::ids::{DirectoryGroupId, DirectoryId, ProviderGroupId, ProviderUserId};

use crate::event_log::{EventScope, StoredEvent};
use crate::item::{id_attr, n, s, Item, ItemExt};
use crate::keys::*;
use crate::provider_users::build_error;
use crate::{Store, StoreError};

/// The directory user attribute holding its projection's basis.
pub(crate) const BASIS: &str = "basis";
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
    pub(crate) fn member_items(&self) -> i64 {
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
    pub(crate) fn directory_check(
        &self,
        scope: &EventScope,
    ) -> Result<TransactWriteItem, StoreError> {
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

    /// A put that succeeds only over the item (revision and identity) it was computed from.
    pub(crate) fn conditional_put(
        &self,
        item: Item,
        guard: &Guard,
    ) -> Result<TransactWriteItem, StoreError> {
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

    pub(crate) fn conditional_delete(
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

    pub(crate) fn delete_item(&self, pk: &str, sk: &str) -> Result<TransactWriteItem, StoreError> {
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
pub(crate) struct Guard {
    pub(crate) revision: u64,
    /// The directory user's or group's id as read; `None` only with revision 0 (absent).
    id: Option<String>,
}

impl Guard {
    pub(crate) const CONDITION: &'static str = "revision = :revision AND #id = :id";

    pub(crate) fn new(revision: u64, id: Option<String>) -> Self {
        Self { revision, id }
    }

    pub(crate) fn names(&self) -> HashMap<String, String> {
        HashMap::from([("#id".to_owned(), "id".to_owned())])
    }

    pub(crate) fn values(&self) -> HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
        HashMap::from([
            (":revision".to_owned(), n(self.revision)),
            (":id".to_owned(), s(self.id.clone().unwrap_or_default())),
        ])
    }
}

pub(crate) fn key_item(pk: String, sk: String) -> Item {
    Item::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

pub(crate) fn encode_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
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
}
