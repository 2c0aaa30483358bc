//! Everything projecting one provider user reads, in as few requests as its state allows.

use aws_sdk_dynamodb::types::KeysAndAttributes;
use dsync_domain::directory::DirectoryGroup;
use dsync_domain::ids::{DirectoryId, ProviderGroupId, ProviderUserId};
use dsync_domain::model::ProviderUser;

use crate::directory_state::{ProjectedUser, UserPartition};
use crate::error::backend;
use crate::item::{s, Item, ItemExt};
use crate::keys::*;
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
        let partition = UserPartition::decode(&items)?;

        let mut wanted: Vec<ProviderGroupId> = provider_groups.clone();
        wanted.extend(partition.provider_groups());
        wanted.sort();
        wanted.dedup();
        let loaded = self.load_projected_groups(&wanted).await?;
        let groups = loaded
            .iter()
            .filter(|g| provider_groups.contains(&g.provider_group_id))
            .cloned()
            .collect();
        let before = partition.resolve(&loaded);
        Ok(UserInputs {
            provider,
            groups,
            provider_groups,
            before,
        })
    }

    /// The provider user's item and its directory user item, in one BatchGetItem.
    async fn provider_and_directory_user(
        &self,
        directory: &DirectoryId,
        user: &ProviderUserId,
    ) -> Result<(Option<Item>, Option<Item>), StoreError> {
        let provider_key = Item::from([
            (PK.to_owned(), s(provider_pk(directory))),
            (SK.to_owned(), s(user_sk(user))),
        ]);
        let user_key = Item::from([
            (PK.to_owned(), s(projected_user_pk(user))),
            (SK.to_owned(), s(DIRECTORY_USER_SK)),
        ]);
        let one = |key: Item| {
            KeysAndAttributes::builder()
                .keys(key)
                .consistent_read(true)
                .build()
                .map_err(build_error)
        };
        let records = &self.tables.provider_records;
        let state = &self.tables.directory;
        let mut pending = Some(std::collections::HashMap::from([
            (records.clone(), one(provider_key)?),
            (state.clone(), one(user_key)?),
        ]));
        let (mut provider_item, mut user_item) = (None, None);
        while let Some(request) = pending.take().filter(|r| !r.is_empty()) {
            let output = self
                .client
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await
                .map_err(backend)?;
            for (table, items) in output.responses.unwrap_or_default() {
                let item = items.into_iter().next();
                if table == *records {
                    provider_item = provider_item.or(item);
                } else if table == *state {
                    user_item = user_item.or(item);
                }
            }
            pending = output.unprocessed_keys;
        }
        Ok((provider_item, user_item))
    }
}
