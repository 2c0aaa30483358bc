//! Directory users and groups as the API lists them, from the projection's keys (see
//! `directory_state.rs`): by id through GSI2, a directory's users or groups through GSI1, a
//! group's users through its membership index, a user's groups from its own partition.

use std::collections::HashMap;

use dsync_domain::directory::{DirectoryGroup, DirectoryUser, UserState};
use dsync_domain::ids::{
    DirectoryGroupId, DirectoryId, DirectoryUserId, ProviderGroupId, ProviderUserId,
};

use super::paging::{KeyedList, ListWindow, Page};
use crate::directory_state::decode_json;
use crate::error::backend;
use crate::item::{id_attr, s, Item, ItemExt};
use crate::keys::*;
use crate::{Store, StoreError};

/// Membership Queries a user list runs at once (a page holds up to 100 users).
const MEMBERSHIP_QUERIES_IN_FLIGHT: usize = 16;

impl Store {
    /// A directory user by its id. `NotFound` when no such user exists (any more).
    pub async fn get_directory_user(
        &self,
        id: &DirectoryUserId,
    ) -> Result<DirectoryUser, StoreError> {
        let item = self
            .by_own_id(by_directory_user_id(id), DIRECTORY_USER_SK)
            .await?;
        decode_json(&item, "user")
    }

    /// A directory group by its id. `NotFound` when no such group exists (any more).
    pub async fn get_directory_group(
        &self,
        id: &DirectoryGroupId,
    ) -> Result<DirectoryGroup, StoreError> {
        let item = self
            .by_own_id(by_directory_group_id(id), DIRECTORY_GROUP_SK)
            .await?;
        decode_json(&item, "group")
    }

    pub async fn list_directory_users(
        &self,
        directory: &DirectoryId,
        window: &ListWindow,
    ) -> Result<Page<DirectoryUser>, StoreError> {
        let list = self.index_list(directory_users(directory), DirectoryUserId::PREFIX);
        let page = self.query_window(&list.with_id_prefix(), window).await?;
        let users = page
            .items
            .iter()
            .map(|item| decode_json(item, "user"))
            .collect::<Result<_, _>>()?;
        Ok(page.map_items(users))
    }

    pub async fn list_directory_groups(
        &self,
        directory: &DirectoryId,
        window: &ListWindow,
    ) -> Result<Page<DirectoryGroup>, StoreError> {
        let list = self.index_list(directory_groups(directory), DirectoryGroupId::PREFIX);
        let page = self.query_window(&list.with_id_prefix(), window).await?;
        let groups = page
            .items
            .iter()
            .map(|item| decode_json(item, "group"))
            .collect::<Result<_, _>>()?;
        Ok(page.map_items(groups))
    }

    /// A group's effective members (active users only, by the projection rule).
    pub async fn list_group_users(
        &self,
        group: &DirectoryGroupId,
        window: &ListWindow,
    ) -> Result<Page<DirectoryUser>, StoreError> {
        let list = self.index_list(directory_group_members(group), DirectoryUserId::PREFIX);
        let page = self.query_window(&list.with_id_prefix(), window).await?;
        let mut wanted = Vec::with_capacity(page.items.len());
        for membership in &page.items {
            wanted.push((
                id_attr(membership, "directory_user_id", DirectoryUserId::parse)?,
                id_attr(membership, "provider_user_id", ProviderUserId::parse)?,
            ));
        }
        let keys = wanted
            .iter()
            .map(|(_, pu)| key(projected_user_pk(pu), DIRECTORY_USER_SK))
            .collect();
        let found: Vec<DirectoryUser> = self
            .batch_get_items(&self.tables.directory, keys)
            .await?
            .iter()
            .map(|item| decode_json(item, "user"))
            .collect::<Result<_, _>>()?;
        // Page order; a user deleted since its membership was read is simply left out.
        let users = wanted
            .iter()
            .filter_map(|(id, _)| found.iter().find(|user| user.id == *id).cloned())
            .collect();
        Ok(page.map_items(users))
    }

    /// A user's groups (none while it is inactive), from its partition, read consistently.
    pub async fn list_user_groups(
        &self,
        user: &DirectoryUser,
        window: &ListWindow,
    ) -> Result<Page<DirectoryGroup>, StoreError> {
        let id_prefix = format!("{}_", DirectoryGroupId::PREFIX);
        let list = KeyedList {
            table: &self.tables.directory,
            index: None,
            hash_attribute: PK,
            hash_value: projected_user_pk(&user.provider_user_id),
            range_attribute: SK,
            key_prefix: DIRECTORY_MEMBER_PREFIX,
            id_prefix: &id_prefix,
            consistent: true,
        };
        let page = self.query_window(&list, window).await?;
        let mut wanted = Vec::with_capacity(page.items.len());
        for membership in &page.items {
            // A membership of an earlier life of this provider user is not this user's.
            if membership.opt_str_attr("directory_user_id") != Some(user.id.to_string().as_str()) {
                continue;
            }
            wanted.push((
                id_attr(membership, "directory_group_id", DirectoryGroupId::parse)?,
                id_attr(membership, "provider_group_id", ProviderGroupId::parse)?,
            ));
        }
        let provider_groups: Vec<ProviderGroupId> = wanted.iter().map(|(_, pg)| *pg).collect();
        let found = self.load_projected_groups(&provider_groups).await?;
        let groups = wanted
            .iter()
            .filter_map(|(id, _)| found.iter().find(|group| group.id == *id).cloned())
            .collect();
        Ok(page.map_items(groups))
    }

    /// Each listed user's groups (the `groups` WorkOS puts on every listed or read user), keyed
    /// by user id. Inactive users have no memberships by the projection rule, so they cost
    /// nothing; each active user costs one Query of its own partition (run side by side), and
    /// the page's distinct groups one BatchGetItem.
    pub async fn listed_users_groups(
        &self,
        users: &[DirectoryUser],
    ) -> Result<HashMap<DirectoryUserId, Vec<DirectoryGroup>>, StoreError> {
        let active: Vec<&DirectoryUser> = users
            .iter()
            .filter(|u| u.state == UserState::Active)
            .collect();
        let mut memberships: Vec<Vec<(DirectoryGroupId, ProviderGroupId)>> =
            Vec::with_capacity(active.len());
        for chunk in active.chunks(MEMBERSHIP_QUERIES_IN_FLIGHT) {
            let mut reads = Vec::with_capacity(chunk.len());
            for user in chunk {
                reads.push(self.memberships_of(user));
            }
            memberships.extend(futures::future::try_join_all(reads).await?);
        }
        let mut provider_groups: Vec<ProviderGroupId> =
            memberships.iter().flatten().map(|(_, pg)| *pg).collect();
        provider_groups.sort();
        provider_groups.dedup();
        let found = self.load_projected_groups(&provider_groups).await?;
        let mut groups: HashMap<DirectoryUserId, Vec<DirectoryGroup>> =
            users.iter().map(|u| (u.id, Vec::new())).collect();
        for (user, member_of) in active.iter().zip(memberships) {
            let entry = groups.entry(user.id).or_default();
            entry.extend(
                member_of
                    .iter()
                    .filter_map(|(id, _)| found.iter().find(|g| g.id == *id).cloned()),
            );
        }
        Ok(groups)
    }

    /// A user's effective memberships, from its partition (eventually consistent: a list).
    async fn memberships_of(
        &self,
        user: &DirectoryUser,
    ) -> Result<Vec<(DirectoryGroupId, ProviderGroupId)>, StoreError> {
        let request = self
            .client
            .query()
            .table_name(&self.tables.directory)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(projected_user_pk(&user.provider_user_id)))
            .expression_attribute_values(":prefix", s(DIRECTORY_MEMBER_PREFIX));
        let own_id = user.id.to_string();
        let mut memberships = Vec::new();
        for item in self.query_all(request).await? {
            // A membership of an earlier life of this provider user is not this user's.
            if item.opt_str_attr("directory_user_id") != Some(own_id.as_str()) {
                continue;
            }
            memberships.push((
                id_attr(&item, "directory_group_id", DirectoryGroupId::parse)?,
                id_attr(&item, "provider_group_id", ProviderGroupId::parse)?,
            ));
        }
        Ok(memberships)
    }

    /// The item a GSI2 key names (users and groups are indexed by their own id there).
    async fn by_own_id(&self, hash_value: String, range_value: &str) -> Result<Item, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.tables.directory)
            .index_name("gsi2")
            .key_condition_expression("gsi2pk = :h AND gsi2sk = :r")
            .expression_attribute_values(":h", s(hash_value))
            .expression_attribute_values(":r", s(range_value))
            .limit(1)
            .send()
            .await
            .map_err(backend)?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .next()
            .ok_or(StoreError::NotFound)
    }

    fn index_list(&self, hash_value: String, id_kind: &'static str) -> IndexList<'_> {
        IndexList {
            table: &self.tables.directory,
            hash_value,
            id_prefix: format!("{id_kind}_"),
        }
    }
}

/// A GSI1 list of the directory table, whose sort keys are bare ids.
struct IndexList<'a> {
    table: &'a str,
    hash_value: String,
    id_prefix: String,
}

impl IndexList<'_> {
    fn with_id_prefix(&self) -> KeyedList<'_> {
        KeyedList {
            table: self.table,
            index: Some("gsi1"),
            hash_attribute: GSI1PK,
            hash_value: self.hash_value.clone(),
            range_attribute: GSI1SK,
            key_prefix: "",
            id_prefix: &self.id_prefix,
            // Indexes are eventually consistent: a change shows in lists within about a second.
            consistent: false,
        }
    }
}

fn key(pk: String, sk: &str) -> Item {
    Item::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}
