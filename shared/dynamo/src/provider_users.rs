//! Provider users: one item each, a `userName` guard item beside it, versioned writes.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use dsync_domain::ids::{DirectoryId, ProviderUserId};
use dsync_domain::model::ProviderUser;

use crate::error::{backend, is_conditional_failure};
use crate::item::{b, id_attr, n, s, Item, ItemExt};
use crate::keys::*;
use crate::record_counts::RecordKind;
use crate::{Store, StoreError};

/// One page of a directory's users in id (creation) order.
pub struct UserPage {
    pub users: Vec<ProviderUser>,
    /// Pass back as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

impl Store {
    /// Creates a user and claims its `userName`, both or neither, and counts it. Finding the
    /// id taken by exactly this record is success (a retried write); by another record it is
    /// `Conflict`: the caller re-reads and replaces under version.
    pub async fn create_user(&self, user: &ProviderUser) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            let put = Put::builder()
                .table_name(&self.tables.provider_records)
                .set_item(Some(encode_user(user)))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(build_error)?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put).build())
                .transact_items(self.put_user_name_guard_op(user)?)
                .transact_items(self.count_change(&user.directory_id, RecordKind::Users, 1)?)
                .send()
                .await;
            // The id is taken. Holding what this call writes, the item is this call's own
            // write, committed by an attempt whose answer was lost (the SDK retried it), or
            // an identical one: done. Holding anything else, it is another writer's (ids
            // derived from a provider's id, as HR and Google ones are, collide): the caller
            // re-reads and replaces under version.
            if let Some(existing) = condition_failed_item(&result, 0) {
                return match existing {
                    Some(existing) if *existing == encode_user(user) => Ok(()),
                    _ => Err(StoreError::Conflict),
                };
            }
            // A guard already taken means a duplicate; anything else cancelled is a
            // concurrent create on the same counter shard: again.
            match map_transaction(
                result,
                &[
                    StoreError::Conflict,
                    StoreError::Duplicate,
                    StoreError::Conflict,
                ],
            ) {
                Err(StoreError::Conflict) if attempt < 10 => {
                    attempt += 1;
                    contention_pause(attempt).await;
                }
                other => return other,
            }
        }
    }

    /// Replaces a user with `new`, whose `version` must be `previous.version + 1`. Fails with
    /// `Conflict` when another writer got there first, `Duplicate` when a changed `userName`
    /// is taken.
    pub async fn replace_user(
        &self,
        new: &ProviderUser,
        previous: &ProviderUser,
    ) -> Result<(), StoreError> {
        debug_assert_eq!(new.version, previous.version + 1);
        let condition = "version = :expected";
        let expected = Some(previous.version);
        if new.user_name.to_lowercase() == previous.user_name.to_lowercase() {
            let result = self
                .client
                .put_item()
                .table_name(&self.tables.provider_records)
                .set_item(Some(encode_user(new)))
                .condition_expression(condition)
                .expression_attribute_values(":expected", n(previous.version))
                .send()
                .await;
            return match result {
                Ok(_) => Ok(()),
                Err(e) if is_conditional_failure(&e) => Err(StoreError::Conflict),
                Err(e) => Err(backend(e)),
            };
        }
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put_user_op(new, condition, expected)?)
            .transact_items(self.delete_user_name_guard_op(previous)?)
            .transact_items(self.put_user_name_guard_op(new)?)
            .send()
            .await;
        map_transaction(
            result,
            &[
                StoreError::Conflict,
                StoreError::Conflict,
                StoreError::Duplicate,
            ],
        )
    }

    pub async fn get_user(
        &self,
        directory: &DirectoryId,
        id: &ProviderUserId,
    ) -> Result<ProviderUser, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.provider_records)
            .key(PK, s(provider_pk(directory)))
            .key(SK, s(user_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        decode_user(&output.item.ok_or(StoreError::NotFound)?)
    }

    /// The user holding this `userName` (case-insensitively), by its guard item: a key
    /// lookup, strongly consistent.
    pub async fn find_user_by_user_name(
        &self,
        directory: &DirectoryId,
        user_name: &str,
    ) -> Result<Option<ProviderUser>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.provider_records)
            .key(PK, s(provider_pk(directory)))
            .key(SK, s(user_name_sk(user_name)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let Some(guard) = output.item else {
            return Ok(None);
        };
        let id = id_attr(&guard, "user_id", ProviderUserId::parse)?;
        match self.get_user(directory, &id).await {
            Ok(user) => Ok(Some(user)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Users with this `externalId`, through GSI1.
    pub async fn find_users_by_external_id(
        &self,
        directory: &DirectoryId,
        external_id: &str,
    ) -> Result<Vec<ProviderUser>, StoreError> {
        let items = self
            .query_index_all("gsi1", GSI1PK, user_external_id(directory, external_id))
            .await?;
        items.iter().map(decode_user).collect()
    }

    /// A page of the directory's users, in id order, starting after the user id `after`.
    pub async fn list_users(
        &self,
        directory: &DirectoryId,
        after: Option<&str>,
        limit: i32,
    ) -> Result<UserPage, StoreError> {
        let pk = provider_pk(directory);
        let start = after.map(|id| format!("{USER_PREFIX}{id}"));
        let (items, last) = self
            .query_prefix_page(&pk, USER_PREFIX, start, limit)
            .await?;
        let users = items
            .iter()
            .map(decode_user)
            .collect::<Result<Vec<_>, _>>()?;
        let next = last.and_then(|sk| sk.strip_prefix(USER_PREFIX).map(str::to_owned));
        Ok(UserPage { users, next })
    }

    /// [`Store::list_users`] for the policy function: a stored user that does not decode is
    /// returned beside the page (its provider user id, from the key, and why) instead of
    /// failing the page, so reconciliation quarantines it and goes on with the rest.
    pub async fn list_users_tolerant(
        &self,
        directory: &DirectoryId,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(UserPage, Vec<(String, StoreError)>), StoreError> {
        let pk = provider_pk(directory);
        let start = after.map(|id| format!("{USER_PREFIX}{id}"));
        let (items, last) = self
            .query_prefix_page(&pk, USER_PREFIX, start, limit)
            .await?;
        let mut users = Vec::with_capacity(items.len());
        let mut undecodable = Vec::new();
        for item in &items {
            match decode_user(item) {
                Ok(user) => users.push(user),
                Err(error) => {
                    let id = item
                        .opt_str_attr(SK)
                        .and_then(|sk| sk.strip_prefix(USER_PREFIX))
                        .unwrap_or_default()
                        .to_owned();
                    undecodable.push((id, error));
                }
            }
        }
        let next = last.and_then(|sk| sk.strip_prefix(USER_PREFIX).map(str::to_owned));
        Ok((UserPage { users, next }, undecodable))
    }

    /// Deletes a user, its `userName` guard and its memberships. Idempotent: a retry after a
    /// partial failure finishes the job.
    pub async fn delete_user(&self, user: &ProviderUser) -> Result<(), StoreError> {
        let groups = self.groups_of_user(&user.directory_id, &user.id).await?;
        self.delete_memberships_of_user(&user.directory_id, &user.id, &groups)
            .await?;
        let delete_user = TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.tables.provider_records)
                    .key(PK, s(provider_pk(&user.directory_id)))
                    .key(SK, s(user_sk(&user.id)))
                    .condition_expression("version = :expected")
                    .expression_attribute_values(":expected", n(user.version))
                    .build()
                    .map_err(build_error)?,
            )
            .build();
        let result = self
            .client
            .transact_write_items()
            .transact_items(delete_user)
            .transact_items(self.delete_user_name_guard_op(user)?)
            .transact_items(self.count_change(&user.directory_id, RecordKind::Users, -1)?)
            .send()
            .await;
        map_transaction(
            result,
            &[
                StoreError::Conflict,
                StoreError::Conflict,
                StoreError::Conflict,
            ],
        )
    }

    fn user_put(
        &self,
        user: &ProviderUser,
        condition: &str,
        expected_version: Option<u64>,
    ) -> Result<Put, StoreError> {
        let mut builder = Put::builder()
            .table_name(&self.tables.provider_records)
            .set_item(Some(encode_user(user)))
            .condition_expression(condition);
        if let Some(version) = expected_version {
            builder = builder.expression_attribute_values(":expected", n(version));
        }
        builder.build().map_err(build_error)
    }

    fn put_user_op(
        &self,
        user: &ProviderUser,
        condition: &str,
        expected_version: Option<u64>,
    ) -> Result<TransactWriteItem, StoreError> {
        Ok(TransactWriteItem::builder()
            .put(self.user_put(user, condition, expected_version)?)
            .build())
    }

    fn put_user_name_guard_op(&self, user: &ProviderUser) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.tables.provider_records)
            .item(PK, s(provider_pk(&user.directory_id)))
            .item(SK, s(user_name_sk(&user.user_name)))
            .item("type", s("user_name_guard"))
            .item("user_id", s(user.id.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn delete_user_name_guard_op(
        &self,
        user: &ProviderUser,
    ) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.tables.provider_records)
            .key(PK, s(provider_pk(&user.directory_id)))
            .key(SK, s(user_name_sk(&user.user_name)))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

/// A short random wait before retrying a transaction that met a concurrent one.
pub(crate) async fn contention_pause(attempt: u32) {
    let ceiling = 4u64 << attempt.min(6);
    let millis = rand::random::<u64>() % ceiling + 1;
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

pub(crate) fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// When the condition of a transaction's item at `index` failed: the item as it was, if the
/// request asked for it (`ReturnValuesOnConditionCheckFailure::AllOld`) and it existed.
pub(crate) fn condition_failed_item<R>(
    result: &Result<
        R,
        SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>,
    >,
    index: usize,
) -> Option<Option<&Item>> {
    let Err(err) = result else {
        return None;
    };
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    else {
        return None;
    };
    let reason = cancelled.cancellation_reasons().get(index)?;
    (reason.code() == Some("ConditionalCheckFailed")).then_some(reason.item.as_ref())
}

/// Maps a cancelled transaction to the error its failing item stands for (`on_failure[i]`
/// for item `i`).
pub(crate) fn map_transaction<R: std::fmt::Debug>(
    result: Result<
        R,
        SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>,
    >,
    on_failure: &[StoreError],
) -> Result<(), StoreError> {
    let err = match result {
        Ok(_) => return Ok(()),
        Err(err) => err,
    };
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    {
        for (index, reason) in cancelled.cancellation_reasons().iter().enumerate() {
            if reason.code() == Some("ConditionalCheckFailed") {
                return Err(match on_failure.get(index) {
                    Some(StoreError::Duplicate) => StoreError::Duplicate,
                    Some(StoreError::NotFound) => StoreError::NotFound,
                    _ => StoreError::Conflict,
                });
            }
        }
        // Cancelled for a conflicting concurrent transaction: the caller may retry.
        return Err(StoreError::Conflict);
    }
    Err(backend(err))
}

fn encode_user(user: &ProviderUser) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), s(provider_pk(&user.directory_id)));
    item.insert(SK.into(), s(user_sk(&user.id)));
    item.insert("type".into(), s("user"));
    item.insert("id".into(), s(user.id.to_string()));
    item.insert("directory_id".into(), s(user.directory_id.to_string()));
    item.insert("version".into(), n(user.version));
    item.insert("user_name".into(), s(&user.user_name));
    item.insert("active".into(), b(user.active));
    item.insert("resource".into(), s(user.resource.to_string()));
    item.insert("created_at".into(), n(user.created_at));
    item.insert("updated_at".into(), n(user.updated_at));
    if let Some(since) = user.inactive_since {
        item.insert("inactive_since".into(), n(since));
    }
    if let Some(external_id) = &user.external_id {
        item.insert("external_id".into(), s(external_id));
        item.insert(
            GSI1PK.into(),
            s(user_external_id(&user.directory_id, external_id)),
        );
        item.insert(GSI1SK.into(), s(user.id.to_string()));
    }
    item
}

/// Decodes a user item, as read from the table or from a stream image.
pub fn decode_user(item: &Item) -> Result<ProviderUser, StoreError> {
    Ok(ProviderUser {
        id: id_attr(item, "id", ProviderUserId::parse)?,
        directory_id: id_attr(item, "directory_id", DirectoryId::parse)?,
        version: item.num_attr("version")?,
        user_name: item.str_attr("user_name")?.to_owned(),
        external_id: item.opt_str_attr("external_id").map(str::to_owned),
        active: item.bool_attr("active")?,
        inactive_since: item.opt_num_attr("inactive_since"),
        resource: item.json_attr("resource")?,
        created_at: item.num_attr("created_at")?,
        updated_at: item.num_attr("updated_at")?,
    })
}
