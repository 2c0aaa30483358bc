//! Directory groups a reconciliation turn has read, kept for the pages after.

use std::collections::{HashMap, HashSet};

use dsync_domain::directory::DirectoryGroup;
use dsync_domain::ids::{ProviderGroupId, ProviderUserId};
use dsync_dynamo::StoreError;

use crate::App;

/// Beyond this many, the groups known are forgotten before more are read: memory stays
/// bounded whatever the directory.
const MAX_KNOWN: usize = 10_000;

/// The directory groups of provider groups read so far (`None`: not projected). Each page of
/// users needs the groups of its users' memberships to tell which users are at rest; in a
/// directory whose users share groups, every page names about the same ones, so a turn
/// reads them once instead of once per page. They are only used for that check: a user
/// planned in full has its groups read afresh ([`KnownGroups::refresh`]). A group projected
/// or deleted since it was read can only make a user look changed (it is then planned in
/// full, and finds nothing to do) or at rest while the member sweep of a newly projected
/// group has yet to reach it, which that sweep does.
#[derive(Debug, Default)]
pub struct KnownGroups {
    groups: HashMap<ProviderGroupId, Option<DirectoryGroup>>,
}

impl KnownGroups {
    /// Reads the groups of `wanted` not known yet; returns the ones read now.
    pub async fn read(
        &mut self,
        app: &App,
        wanted: &[ProviderGroupId],
    ) -> Result<HashSet<ProviderGroupId>, StoreError> {
        let unknown: Vec<ProviderGroupId> = wanted
            .iter()
            .filter(|group| !self.groups.contains_key(group))
            .copied()
            .collect();
        self.refresh(app, &unknown).await?;
        Ok(unknown.into_iter().collect())
    }

    /// Reads `groups` again, whether known or not.
    pub async fn refresh(
        &mut self,
        app: &App,
        groups: &[ProviderGroupId],
    ) -> Result<(), StoreError> {
        if groups.is_empty() {
            return Ok(());
        }
        if self.groups.len() + groups.len() > MAX_KNOWN {
            self.groups.clear();
        }
        let loaded = app.store.load_projected_groups(groups).await?;
        for group in groups {
            self.groups.insert(*group, None);
        }
        for group in loaded {
            self.groups.insert(group.provider_group_id, Some(group));
        }
        Ok(())
    }

    /// The directory groups of `memberships` (provider groups), sorted by id.
    pub fn joined(&self, memberships: &[ProviderGroupId]) -> Vec<DirectoryGroup> {
        let mut joined: Vec<DirectoryGroup> = memberships
            .iter()
            .filter_map(|group| self.groups.get(group).cloned().flatten())
            .collect();
        joined.sort_by_key(|group| group.id);
        joined
    }

    /// [`KnownGroups::joined`] for each of `users`.
    pub fn joined_by_user<'a>(
        &self,
        users: impl Iterator<Item = &'a ProviderUserId>,
        memberships: &HashMap<ProviderUserId, Vec<ProviderGroupId>>,
    ) -> HashMap<ProviderUserId, Vec<DirectoryGroup>> {
        users
            .map(|user| {
                let groups = memberships.get(user).map_or(&[][..], Vec::as_slice);
                (*user, self.joined(groups))
            })
            .collect()
    }
}
