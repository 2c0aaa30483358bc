//! A BambooHR re-sync in progress: `HRSOURCE#<directory_id>` / `RESYNC` holds its checkpoint
//! (so a big directory is re-synced across several invocations), the lease of the invocation
//! working on it (so the schedule and an on-demand sync never run one directory together),
//! and when the last run started and finished (so the schedule knows when one is due).

use aws_sdk_dynamodb::types::{ReturnValue, TransactWriteItem, Update};
use dsync_domain::ids::DirectoryId;
pub use dsync_domain::providers::resync::ResyncCheckpoint;

use crate::error::{backend, is_conditional_failure};
use crate::hr_sources::{encode_report, hr_source_pk};
use crate::item::{n, s, Item, ItemExt};
use crate::keys::{PK, SK};
use crate::provider_users::{build_error, map_transaction};
use crate::{HrSyncReport, Store, StoreError};

const RESYNC_SK: &str = "RESYNC";

/// The re-sync item as a claim finds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResyncState {
    /// An unfinished run to resume.
    pub checkpoint: Option<ResyncCheckpoint>,
    /// When the last finished run started (milliseconds): the schedule's next one is due
    /// an interval later.
    pub last_started_at: Option<i64>,
}

impl Store {
    /// Claims the directory's re-sync for `owner` until `lease_until`, unless another
    /// invocation holds it (`None`). A claim whose answer was lost is retried into its own
    /// lease.
    pub async fn claim_hr_resync(
        &self,
        directory: &DirectoryId,
        owner: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<ResyncState>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.directory)
            .key(PK, s(hr_source_pk(directory)))
            .key(SK, s(RESYNC_SK))
            .update_expression("SET #type = :type, lease_owner = :owner, lease_until = :until")
            .condition_expression(
                "attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner",
            )
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":type", s("hr_resync"))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(lease_until))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => decode_state(&output.attributes.unwrap_or_default()).map(Some),
            Err(e) if is_conditional_failure(&e) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    /// Saves progress and renews the lease; `Conflict` when `owner` no longer holds it.
    pub async fn save_hr_resync(
        &self,
        directory: &DirectoryId,
        owner: &str,
        checkpoint: &ResyncCheckpoint,
        lease_until: i64,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.directory)
            .key(PK, s(hr_source_pk(directory)))
            .key(SK, s(RESYNC_SK))
            .update_expression("SET checkpoint = :checkpoint, lease_until = :until")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":checkpoint", s(encode_checkpoint(checkpoint)?))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(lease_until))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(backend(e)),
        }
    }

    /// Gives the lease up (the checkpoint stays): the next invocation resumes at once.
    pub async fn release_hr_resync(
        &self,
        directory: &DirectoryId,
        owner: &str,
    ) -> Result<(), StoreError> {
        self.release_lease(hr_source_pk(directory), RESYNC_SK.to_owned(), owner)
            .await
    }

    /// Ends a run: the checkpoint and lease go, the run's start is kept for the schedule,
    /// and `report` becomes the last sync, in one transaction; `Conflict` when `owner` no
    /// longer holds the lease (the other holder finishes it).
    pub async fn finish_hr_resync(
        &self,
        directory: &DirectoryId,
        owner: &str,
        started_at: i64,
        report: &HrSyncReport,
    ) -> Result<(), StoreError> {
        let update = Update::builder()
            .table_name(&self.tables.directory)
            .key(PK, s(hr_source_pk(directory)))
            .key(SK, s(RESYNC_SK))
            .update_expression(
                "SET last_started_at = :started REMOVE checkpoint, lease_owner, lease_until",
            )
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":started", n(started_at))
            .expression_attribute_values(":owner", s(owner))
            .build()
            .map_err(build_error)?;
        let report = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.tables.directory)
            .set_item(Some(encode_report(directory, report)))
            .build()
            .map_err(build_error)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().put(report).build())
            .send()
            .await;
        map_transaction(result, &[StoreError::Conflict, StoreError::Conflict])
    }

    /// The re-sync item without claiming it (`GET /directories/{id}/sync`).
    pub async fn hr_resync_state(
        &self,
        directory: &DirectoryId,
    ) -> Result<ResyncState, StoreError> {
        match self
            .get_control_item(hr_source_pk(directory), RESYNC_SK)
            .await
        {
            Ok(item) => decode_state(&item),
            Err(StoreError::NotFound) => Ok(ResyncState::default()),
            Err(e) => Err(e),
        }
    }
}

fn encode_checkpoint(checkpoint: &ResyncCheckpoint) -> Result<String, StoreError> {
    serde_json::to_string(checkpoint).map_err(|e| StoreError::corrupt(e.to_string()))
}

fn decode_state(item: &Item) -> Result<ResyncState, StoreError> {
    let checkpoint = match item.opt_str_attr("checkpoint") {
        Some(text) => Some(
            serde_json::from_str(text)
                .map_err(|e| StoreError::corrupt(format!("re-sync checkpoint: {e}")))?,
        ),
        None => None,
    };
    Ok(ResyncState {
        checkpoint,
        last_started_at: item.opt_num_attr("last_started_at"),
    })
}
