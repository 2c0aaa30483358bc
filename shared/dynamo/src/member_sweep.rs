//! The wake-up of a group's member sweep. A group projected for the first time re-projects
//! its members, in chunks (so one invocation stays short whatever the group's size); the
//! progress is kept on the directory group, and this mark, in the provider records' table,
//! makes the stream record that starts the next chunk (the directory table has no stream).

use dsync_domain::ids::{DirectoryId, ProviderGroupId};

use crate::item::s;
use crate::keys::*;
use crate::{Store, StoreError};

/// Stream readers know the mark by its `type` and project `group_id` again.
pub const MEMBER_SWEEP_MARK_TYPE: &str = "group_members_pending";
const MEMBER_SWEEP_PREFIX: &str = "GSWEEP#";

fn mark_sk(group: &ProviderGroupId) -> String {
    format!("{MEMBER_SWEEP_PREFIX}{group}")
}

impl Store {
    /// Asks for the next chunk of `group`'s member sweep, which resumes after `after`.
    /// Carrying the position makes every wake-up a change, so each makes its own record.
    pub async fn wake_member_sweep(
        &self,
        directory: &DirectoryId,
        group: &ProviderGroupId,
        after: &str,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tables.provider_records)
            .item(PK, s(provider_pk(directory)))
            .item(SK, s(mark_sk(group)))
            .item("type", s(MEMBER_SWEEP_MARK_TYPE))
            .item("directory_id", s(directory.to_string()))
            .item("group_id", s(group.to_string()))
            .item("after", s(after))
            .send()
            .await
            .map_err(crate::error::backend)?;
        Ok(())
    }

    /// Removes the wake-up once the sweep is over (or its group is gone). Idempotent.
    pub async fn end_member_sweep(
        &self,
        directory: &DirectoryId,
        group: &ProviderGroupId,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.provider_records)
            .key(PK, s(provider_pk(directory)))
            .key(SK, s(mark_sk(group)))
            .send()
            .await
            .map_err(crate::error::backend)?;
        Ok(())
    }
}
