//! Reconciliation runs: requested through the API or a schedule, executed by the policy
//! function, resumable from a checkpoint.
//!
//! - **One active run per environment.** Beside the runs, an `ACTIVE_RECONCILIATION` item
//!   names the run that is pending or running; a request creates a run only together with
//!   that item (one transaction), otherwise it gets the active run back. The run's final save
//!   removes the item in the same transaction.
//! - **A lease per run.** An invocation works on a run only after claiming it (`lease_owner`,
//!   `lease_until`, one conditional update); every save is conditioned on still holding it and
//!   renews it, and a suspended or finished run is saved without it. A holder that crashed
//!   stops renewing, its lease runs out, and the next invocation resumes from the checkpoint.

use dsync_domain::ids::{DirectoryId, EnvironmentId, ReconciliationId};
pub use dsync_domain::reconciliation::{
    Checkpoint, Reconciliation, ReconciliationCounts, ReconciliationState, RECONCILIATION_LEASE_MS,
};

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};

use crate::api_reads::{KeyedList, ListWindow, Page};
use crate::error::{backend, is_conditional_failure};
use crate::item::{n, s, Item};
use crate::keys::*;
use crate::{Store, StoreError};

/// What a save does with the saver's lease.
#[derive(Debug, Clone, Copy)]
pub enum LeaseAfterSave {
    /// Keep working: the lease is renewed until `now + RECONCILIATION_LEASE_MS`.
    Renew { now: i64 },
    /// Suspended or finished: any invocation may claim the run now.
    Release,
}

/// A request for a run: the run created, or the active one it coalesced into.
#[derive(Debug, Clone)]
pub struct RequestedRun {
    pub run: Reconciliation,
    /// `false`: a run of the environment was already pending or running, and this is it.
    pub created: bool,
}

impl Store {
    /// A run of the environment (of one directory, or all when `None`), unless one is
    /// already pending or running: then that one, whatever its scope. At most one run per
    /// environment is ever unfinished, so requests and schedules never pile runs up.
    pub async fn request_reconciliation(
        &self,
        environment: EnvironmentId,
        directory: Option<DirectoryId>,
        now: i64,
    ) -> Result<RequestedRun, StoreError> {
        let run = Reconciliation::pending(environment, directory, now);
        let mut replacing: Option<ReconciliationId> = None;
        for _ in 0..5 {
            let active = Item::from([
                (PK.to_owned(), s(environment_pk(&environment))),
                (SK.to_owned(), s(ACTIVE_RECONCILIATION_SK)),
                ("run_id".to_owned(), s(run.id.to_string())),
            ]);
            let claim = Put::builder()
                .table_name(&self.tables.directory)
                .set_item(Some(active));
            let claim = match &replacing {
                None => claim.condition_expression("attribute_not_exists(pk)"),
                Some(stale) => claim
                    .condition_expression("run_id = :stale")
                    .expression_attribute_values(":stale", s(stale.to_string())),
            };
            let writes = vec![
                self.run_put(&run, None, None)?,
                TransactWriteItem::builder()
                    .put(claim.build().map_err(crate::provider_users::build_error)?)
                    .build(),
            ];
            match self.transact(writes).await {
                Ok(()) => return Ok(RequestedRun { run, created: true }),
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
            let Some(active_id) = self.active_reconciliation_id(&environment).await? else {
                replacing = None;
                continue;
            };
            match self.get_reconciliation(&environment, &active_id).await {
                Ok(active) if active.is_unfinished() => {
                    return Ok(RequestedRun {
                        run: active,
                        created: false,
                    })
                }
                // A pointer left by a run that finished without removing it (say, one made
                // before runs removed it): replaced, under a condition on what it named.
                Ok(_) | Err(StoreError::NotFound) => replacing = Some(active_id),
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    /// [`Store::request_reconciliation`], for callers that only want the run.
    pub async fn create_reconciliation(
        &self,
        environment: EnvironmentId,
        directory: Option<DirectoryId>,
        now: i64,
    ) -> Result<Reconciliation, StoreError> {
        Ok(self
            .request_reconciliation(environment, directory, now)
            .await?
            .run)
    }

    async fn active_reconciliation_id(
        &self,
        environment: &EnvironmentId,
    ) -> Result<Option<ReconciliationId>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.directory)
            .key(PK, s(environment_pk(environment)))
            .key(SK, s(ACTIVE_RECONCILIATION_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let id = crate::item::id_attr(&item, "run_id", ReconciliationId::parse)?;
        Ok(Some(id))
    }

    /// Claims a run for `owner` until `now + RECONCILIATION_LEASE_MS`, if it is unfinished
    /// and nobody holds it (or its holder's lease ran out). Returns the run as stored, or
    /// `None` when another invocation holds it or it is finished.
    pub async fn claim_reconciliation(
        &self,
        environment: &EnvironmentId,
        id: &ReconciliationId,
        owner: &str,
        now: i64,
    ) -> Result<Option<Reconciliation>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.directory)
            .key(PK, s(environment_pk(environment)))
            .key(SK, s(reconciliation_sk(id)))
            .update_expression("SET lease_owner = :owner, lease_until = :until")
            .condition_expression(
                // Or already this owner's: a claim whose answer was lost is retried (by the
                // SDK or the caller) into its own lease, which would otherwise hold the run
                // for a whole lease with nobody working on it.
                "attribute_exists(#unfinished) AND (attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner)",
            )
            .expression_attribute_names("#unfinished", GSI1PK)
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(now + RECONCILIATION_LEASE_MS))
            .expression_attribute_values(":now", n(now))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                Ok(Some(crate::directory_state::decode_json(&item, "run")?))
            }
            Err(e) if is_conditional_failure(&e) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    pub async fn get_reconciliation(
        &self,
        environment: &EnvironmentId,
        id: &ReconciliationId,
    ) -> Result<Reconciliation, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.directory)
            .key(PK, s(environment_pk(environment)))
            .key(SK, s(reconciliation_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let item = output.item.ok_or(StoreError::NotFound)?;
        crate::directory_state::decode_json(&item, "run")
    }

    /// Gives a run's lease up (best effort, after a failure): the next invocation may claim it
    /// at once instead of waiting for the lease to run out.
    pub async fn release_reconciliation(
        &self,
        environment: &EnvironmentId,
        id: &ReconciliationId,
        owner: &str,
    ) -> Result<(), StoreError> {
        self.release_lease(environment_pk(environment), reconciliation_sk(id), owner)
            .await
    }

    /// Saves progress as the lease's `owner`; `expected_update` (the last save's
    /// `updated_at`) and the lease guard against two invocations working one run, and
    /// `Conflict` means this one no longer holds it. A finished run also stops being the
    /// environment's active run, in the same transaction.
    pub async fn save_reconciliation(
        &self,
        run: &Reconciliation,
        expected_update: i64,
        owner: &str,
        lease: LeaseAfterSave,
    ) -> Result<(), StoreError> {
        let held = Some((expected_update, owner));
        let until = match lease {
            LeaseAfterSave::Renew { now } => Some((owner, now + RECONCILIATION_LEASE_MS)),
            LeaseAfterSave::Release => None,
        };
        let mut writes = vec![self.run_put(run, held, until)?];
        if !run.is_unfinished() {
            let release = Delete::builder()
                .table_name(&self.tables.directory)
                .key(PK, s(environment_pk(&run.environment_id)))
                .key(SK, s(ACTIVE_RECONCILIATION_SK))
                .condition_expression("attribute_not_exists(pk) OR run_id = :id")
                .expression_attribute_values(":id", s(run.id.to_string()))
                .build()
                .map_err(crate::provider_users::build_error)?;
            writes.push(TransactWriteItem::builder().delete(release).build());
        }
        self.transact(writes).await
    }

    /// A window of an environment's runs in id (creation) order, read consistently.
    pub async fn list_reconciliations(
        &self,
        environment: &EnvironmentId,
        window: &ListWindow,
    ) -> Result<Page<Reconciliation>, StoreError> {
        let list = KeyedList {
            table: &self.tables.directory,
            index: None,
            hash_attribute: PK,
            hash_value: environment_pk(environment),
            range_attribute: SK,
            key_prefix: RECONCILIATION_PREFIX,
            id_prefix: "reconciliation_",
            consistent: true,
        };
        let page = self.query_window(&list, window).await?;
        let runs = page
            .items
            .iter()
            .map(|item| crate::directory_state::decode_json(item, "run"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page.map_items(runs))
    }

    /// Runs waiting to start or to resume, across environments.
    pub async fn unfinished_reconciliations(&self) -> Result<Vec<Reconciliation>, StoreError> {
        let items = self
            .query_index_all_in(
                &self.tables.directory,
                "gsi1",
                GSI1PK,
                UNFINISHED_RECONCILIATIONS.to_owned(),
            )
            .await?;
        items
            .iter()
            .map(|item| crate::directory_state::decode_json(item, "run"))
            .collect()
    }

    /// The run's item. `held`: the save is conditioned on the last save's `updated_at` and on
    /// the lease's owner; `lease`: the owner and expiry it keeps, or none (released).
    fn run_put(
        &self,
        run: &Reconciliation,
        held: Option<(i64, &str)>,
        lease: Option<(&str, i64)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let text = serde_json::to_string(run).map_err(|e| StoreError::corrupt(e.to_string()))?;
        let mut item = Item::from([
            (PK.to_owned(), s(environment_pk(&run.environment_id))),
            (SK.to_owned(), s(reconciliation_sk(&run.id))),
            ("type".to_owned(), s("reconciliation")),
            ("state".to_owned(), s(run.state.as_str())),
            ("updated_at".to_owned(), n(run.updated_at)),
            ("run".to_owned(), s(text)),
        ]);
        if run.is_unfinished() {
            item.insert(GSI1PK.to_owned(), s(UNFINISHED_RECONCILIATIONS));
            item.insert(GSI1SK.to_owned(), s(run.id.to_string()));
        }
        if let Some((owner, until)) = lease {
            item.insert("lease_owner".to_owned(), s(owner));
            item.insert("lease_until".to_owned(), n(until));
        }
        let put = Put::builder()
            .table_name(&self.tables.directory)
            .set_item(Some(item));
        let put = match held {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some((at, owner)) => put
                .condition_expression("updated_at = :at AND lease_owner = :owner")
                .expression_attribute_values(":at", n(at))
                .expression_attribute_values(":owner", s(owner)),
        };
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(crate::provider_users::build_error)?)
            .build())
    }
}
