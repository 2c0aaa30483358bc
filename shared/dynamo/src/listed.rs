//! Checks a plan made from a listed page carries into its commit.
//!
//! Reconciliation lists a page of provider users and their memberships, then reads their
//! projection. Whatever changed on the provider side in between, and was projected by the
//! stream path before the projection was read, would be undone by a plan made from the
//! listing: the plan's commit is conditioned on the projection as read, which is already the
//! newer one. So such a commit also checks the provider state it relied on: the user record's
//! version, and for each membership it adds or removes, that the provider's membership is
//! still there or still absent, as listed. A mismatch cancels the commit (`Conflict`) and the
//! user is projected again from fresh reads.

use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};
use dsync_domain::ids::{DirectoryId, ProviderGroupId, ProviderUserId};

use crate::item::{n, s};
use crate::keys::*;
use crate::provider_users::build_error;
use crate::{Store, StoreError};

/// The provider state a plan was made from when it was read before the projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedUser {
    /// The provider user record's version.
    pub version: u64,
    /// The provider groups the user was a member of, in any order.
    pub groups: Vec<ProviderGroupId>,
}

/// What a user plan was made from, as its commit needs to know
/// ([`Store::commit_user_plan`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlannedFrom<'a> {
    /// Provider state read before the projection (a listed page), checked at commit.
    pub listed: Option<&'a ListedUser>,
    /// The plan's basis (`dsync_domain::directory::basis`), stored with the user.
    pub basis: Option<&'a str>,
}

impl ListedUser {
    fn member_of(&self, group: &ProviderGroupId) -> bool {
        self.groups.contains(group)
    }
}

impl Store {
    /// Holds while the provider user's record is at the listed version.
    pub(crate) fn listed_version_check(
        &self,
        directory: &DirectoryId,
        user: &ProviderUserId,
        listed: &ListedUser,
    ) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.tables.provider_records)
            .key(PK, s(provider_pk(directory)))
            .key(SK, s(user_sk(user)))
            .condition_expression("#version = :version")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":version", n(listed.version))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// Holds while the user's membership of `group` is on the provider side as listed:
    /// there if it was listed, absent if not, by the user-side membership item the listing
    /// read.
    pub(crate) fn listed_membership_check(
        &self,
        directory: &DirectoryId,
        user: &ProviderUserId,
        group: &ProviderGroupId,
        listed: &ListedUser,
    ) -> Result<TransactWriteItem, StoreError> {
        let condition = if listed.member_of(group) {
            "attribute_exists(pk)"
        } else {
            "attribute_not_exists(pk)"
        };
        let check = ConditionCheck::builder()
            .table_name(&self.tables.provider_records)
            .key(PK, s(provider_pk(directory)))
            .key(SK, s(member_of_sk(user, group)))
            .condition_expression(condition)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }
}
