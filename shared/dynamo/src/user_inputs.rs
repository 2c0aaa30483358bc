//! Everything projecting one provider user reads, in as few requests as its state allows.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::KeysAndAttributes;
use dsync_domain::directory::DirectoryGroup;
use dsync_domain::ids::{DirectoryId, ProviderGroupId, ProviderUserId};
use dsync_domain::model::ProviderUser;
use futures::{StreamExt, TryStreamExt};

use crate::directory_state::{ProjectedUser, UserPartition};
use crate::error::backend;
use crate::item::{s, Item, ItemExt};
use crate::keys::*;
use crate::provider_groups::add_memberships;
use crate::provider_users::{build_error, decode_user};
use crate::{Store, StoreError};

/// A provider user and what the directory holds for it, read for one projection.
#[derive(Debug, Clone, Default)]
pub struct UserInputs {
    pub provider: Option<ProviderUser>,
    /// The directory groups of the provider's memberships (those projected so far).
    pub groups: Vec<DirectoryGroup>,
    /// The provider's memberships as read (none when the provider user is gone).
    pub provider_groups: Vec<ProviderGroupId>,
    pub before: ProjectedUser,
}

impl Store {
    /// Reads consistently, in order: the provider user and its directory user item together
    /// (one BatchGetItem over both tables); the provider's memberships (a Query, only if the
    /// provider user exists); the directory user's memberships (a Query of its partition,
    /// only if its item counts any); and every group either names (one BatchGetItem). A new
    /// user is three requests fewer than reading each part on its own would be.
    ///
    /// Each part is as fresh as its read: the projection's commit is guarded by the
    /// directory user's revision, so a change projected after the directory user was read
    /// fails the commit and the projection starts over. The provider's memberships are read
    /// beside it and may be the older read: a caller whose plan changes memberships must
    /// read them again (`groups_of_user`) and plan again if they moved.
    pub async fn load_user_inputs(
        &self,
        directory: &DirectoryId,
        user: &ProviderUserId,
    ) -> Result<UserInputs, StoreError> {
        // Both reads at once: one round trip less per projection, for a Query that is wasted
        // only when the provider user is gone.
        // Boxed: two SDK calls side by side would double this future's size, and callers
        // that hold it on a thread's stack (a test's main future) run out of it.
        let (items, groups) = tokio::join!(
            Box::pin(self.provider_and_directory_user(directory, user)),
            Box::pin(self.groups_of_user(directory, user))
        );
        let (provider_item, user_item) = items?;
        self.finish_user_inputs(user, provider_item, user_item, groups)
            .await
    }

    /// [`Store::load_user_inputs`] for many users of one directory at once (a stream
    /// batch's): their provider and directory user items in BatchGetItems of 50 users (100
    /// keys, DynamoDB's most), side by side with their memberships in one ranged Query when
    /// they are neighbours (`groups_of_neighbours`), then the rest per user as its state
    /// needs it, and the groups any of them names in one BatchGetItem. A batch of 160 users
    /// created together is 5 requests, where reading each alone is 320.
    pub async fn load_users_inputs(
        &self,
        directory: &DirectoryId,
        users: &[ProviderUserId],
    ) -> Result<HashMap<ProviderUserId, UserInputs>, StoreError> {
        let mut users = users.to_vec();
        users.sort();
        users.dedup();
        // Futures made up front, not by a closure of the stream: a closure over borrowed
        // ids makes the future not provably `Send` to the runtime.
        let item_reads: Vec<_> = users
            .chunks(USERS_PER_BATCH_GET)
            .map(|chunk| self.provider_and_directory_users(directory, chunk))
            .collect();
        let items = futures::stream::iter(item_reads)
            .buffer_unordered(READS_IN_FLIGHT)
            .try_fold(HashMap::new(), |mut all, some| async move {
                all.extend(some);
                Ok(all)
            });
        let memberships = self.groups_of_neighbours(directory, &users);
        let (items, memberships) = tokio::join!(Box::pin(items), Box::pin(memberships));
        let mut items: HashMap<ProviderUserId, (Option<Item>, Option<Item>)> = items?;
        let sides_reads: Vec<_> = memberships?
            .into_iter()
            .map(|(user, groups)| {
                let (provider_item, user_item) = items.remove(&user).unwrap_or_default();
                async move {
                    let sides = self.user_sides(&user, provider_item, user_item, Ok(groups));
                    Ok::<_, StoreError>((user, sides.await?))
                }
            })
            .collect();
        let sides: Vec<(ProviderUserId, UserSides)> = futures::stream::iter(sides_reads)
            .buffer_unordered(READS_IN_FLIGHT)
            .try_collect()
            .await?;
        // The groups every user's sides name, read once for all of them.
        let mut wanted: Vec<ProviderGroupId> = sides
            .iter()
            .flat_map(|(_, sides)| sides.wanted_groups())
            .collect();
        wanted.sort();
        wanted.dedup();
        let loaded = self.load_projected_groups(&wanted).await?;
        Ok(sides
            .into_iter()
            .map(|(user, sides)| (user, sides.resolve(&loaded)))
            .collect())
    }

    /// The rest of a user's inputs once its items and the provider's memberships are read:
    /// its directory memberships and the groups either side names.
    async fn finish_user_inputs(
        &self,
        user: &ProviderUserId,
        provider_item: Option<Item>,
        user_item: Option<Item>,
        groups: Result<Vec<ProviderGroupId>, StoreError>,
    ) -> Result<UserInputs, StoreError> {
        let sides = self
            .user_sides(user, provider_item, user_item, groups)
            .await?;
        let loaded = self.load_projected_groups(&sides.wanted_groups()).await?;
        Ok(sides.resolve(&loaded))
    }

    /// A user's provider side and its directory partition (read here when its item counts
    /// memberships), before the groups they name are read.
    async fn user_sides(
        &self,
        user: &ProviderUserId,
        provider_item: Option<Item>,
        user_item: Option<Item>,
        groups: Result<Vec<ProviderGroupId>, StoreError>,
    ) -> Result<UserSides, StoreError> {
        let provider = provider_item.as_ref().map(decode_user).transpose()?;
        let provider_groups = match provider {
            Some(_) => groups?,
            None => Vec::new(),
        };
        let items = match &user_item {
            // No membership without a counted one; an item from before the count was kept
            // is read with its partition.
            Some(item) if item.opt_num_attr::<i64>("member_count") != Some(0) => {
                self.query_partition(&self.tables.directory, &projected_user_pk(user))
                    .await?
            }
            Some(item) => vec![item.clone()],
            None => Vec::new(),
        };
        Ok(UserSides {
            provider,
            provider_groups,
            partition: UserPartition::decode(&items)?,
        })
    }

    /// The provider's memberships of each of `users`, who are likely
    /// neighbours in id order: ids are ULIDs, so the users of a stream batch created
    /// together (an initial sync, a bulk import) are close. One ranged Query of at most
    /// [`RANGE_ITEMS`] user-side membership items from the first user's to the last's;
    /// when the range holds more (users far apart, or in many groups), the users it did
    /// not reach are read with a Query each. Consistent, as `groups_of_user`.
    pub async fn groups_of_neighbours(
        &self,
        directory: &DirectoryId,
        users: &[ProviderUserId],
    ) -> Result<HashMap<ProviderUserId, Vec<ProviderGroupId>>, StoreError> {
        let mut users = users.to_vec();
        users.sort();
        users.dedup();
        let users = users.as_slice();
        let mut groups: HashMap<ProviderUserId, Vec<ProviderGroupId>> =
            users.iter().map(|user| (*user, Vec::new())).collect();
        let (Some(first), Some(last)) = (users.first(), users.last()) else {
            return Ok(groups);
        };
        let (items, more) = self
            .member_of_range(directory, first, last, Some(RANGE_ITEMS))
            .await?;
        let reached = add_memberships(&items, &mut groups)?;
        if !more {
            return Ok(groups);
        }
        // Cut short: the last user reached may have more items, and those after it none read.
        let rest: Vec<ProviderUserId> = users
            .iter()
            .filter(|user| reached.is_none_or(|reached| **user >= reached))
            .copied()
            .collect();
        let reads: Vec<_> = rest
            .iter()
            .map(|user| async move {
                Ok::<_, StoreError>((*user, self.groups_of_user(directory, user).await?))
            })
            .collect();
        let read: Vec<(ProviderUserId, Vec<ProviderGroupId>)> = futures::stream::iter(reads)
            .buffer_unordered(READS_IN_FLIGHT)
            .try_collect()
            .await?;
        groups.extend(read);
        Ok(groups)
    }

    /// The provider user's item and its directory user item, in one BatchGetItem.
    async fn provider_and_directory_user(
        &self,
        directory: &DirectoryId,
        user: &ProviderUserId,
    ) -> Result<(Option<Item>, Option<Item>), StoreError> {
        let mut items = self
            .provider_and_directory_users(directory, &[*user])
            .await?;
        Ok(items.remove(user).unwrap_or_default())
    }

    /// Each user's provider item and directory user item, in one BatchGetItem over both
    /// tables (at most [`USERS_PER_BATCH_GET`] users), retrying what DynamoDB leaves
    /// unprocessed.
    async fn provider_and_directory_users(
        &self,
        directory: &DirectoryId,
        users: &[ProviderUserId],
    ) -> Result<HashMap<ProviderUserId, (Option<Item>, Option<Item>)>, StoreError> {
        // Items are matched to their users by the key they were asked by.
        let mut provider_keys = HashMap::new();
        let mut user_keys = HashMap::new();
        for user in users {
            provider_keys.insert(user_sk(user), *user);
            user_keys.insert(projected_user_pk(user), *user);
        }
        let keys = |keys: Vec<Item>| {
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(build_error)
        };
        let records = &self.tables.provider_records;
        let state = &self.tables.directory;
        let provider_pk = provider_pk(directory);
        let provider_items = provider_keys
            .keys()
            .map(|sk| Item::from([(PK.to_owned(), s(&provider_pk)), (SK.to_owned(), s(sk))]))
            .collect();
        let user_items = user_keys
            .keys()
            .map(|pk| {
                Item::from([
                    (PK.to_owned(), s(pk)),
                    (SK.to_owned(), s(DIRECTORY_USER_SK)),
                ])
            })
            .collect();
        let mut pending = Some(HashMap::from([
            (records.clone(), keys(provider_items)?),
            (state.clone(), keys(user_items)?),
        ]));
        let mut found: HashMap<ProviderUserId, (Option<Item>, Option<Item>)> = HashMap::new();
        while let Some(request) = pending.take().filter(|r| !r.is_empty()) {
            let output = self
                .client
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await
                .map_err(backend)?;
            for (table, items) in output.responses.unwrap_or_default() {
                for item in items {
                    if table == *records {
                        let user = item.opt_str_attr(SK).and_then(|sk| provider_keys.get(sk));
                        if let Some(user) = user {
                            found.entry(*user).or_default().0 = Some(item);
                        }
                    } else if table == *state {
                        let user = item.opt_str_attr(PK).and_then(|pk| user_keys.get(pk));
                        if let Some(user) = user {
                            found.entry(*user).or_default().1 = Some(item);
                        }
                    }
                }
            }
            pending = output.unprocessed_keys;
        }
        Ok(found)
    }
}

/// Users whose two items one BatchGetItem reads: 100 keys, DynamoDB's most.
const USERS_PER_BATCH_GET: usize = 50;

/// Membership items one ranged read of a batch's users' memberships reads at most (about
/// 150 bytes each: 300 KB, 75 read units consistent), before the users it did not reach are
/// read one by one. A batch of 160 users in 12 groups each fits.
const RANGE_ITEMS: i32 = 2000;

/// Requests one batched read keeps in flight.
const READS_IN_FLIGHT: usize = 100;

/// What a projection reads of a user before the groups: the provider user and its
/// memberships, and the directory user's partition.
struct UserSides {
    provider: Option<ProviderUser>,
    provider_groups: Vec<ProviderGroupId>,
    partition: UserPartition,
}

impl UserSides {
    /// The groups either side names.
    fn wanted_groups(&self) -> Vec<ProviderGroupId> {
        let mut wanted: Vec<ProviderGroupId> = self.provider_groups.clone();
        wanted.extend(self.partition.provider_groups());
        wanted.sort();
        wanted.dedup();
        wanted
    }

    /// The inputs, given the directory groups read (`loaded` may hold more than these
    /// sides name).
    fn resolve(self, loaded: &[DirectoryGroup]) -> UserInputs {
        let groups = loaded
            .iter()
            .filter(|g| self.provider_groups.contains(&g.provider_group_id))
            .cloned()
            .collect();
        UserInputs {
            before: self.partition.resolve(loaded),
            provider: self.provider,
            groups,
            provider_groups: self.provider_groups,
        }
    }
}
