//! Reconciliation runs: requested through the API or a schedule, executed by the policy
//! function, resumable from a checkpoint.

use dsync_domain::ids::{DirectoryId, EnvironmentId, ReconciliationId};
use serde::{Deserialize, Serialize};

use crate::api_reads::{KeyedList, ListWindow, Page};
use crate::error::{backend, is_conditional_failure};
use crate::item::{n, s, Item};
use crate::keys::*;
use crate::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconciliationState {
    Pending,
    Running,
    Completed,
    Failed,
}

impl ReconciliationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// Where a run resumes: the directory it was in, the phase and the last key it finished.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub directory_id: Option<DirectoryId>,
    pub phase: String,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationCounts {
    pub directories: u64,
    pub users: u64,
    pub groups: u64,
    pub events: u64,
    /// Records that could not be projected in this run: quarantined as sync failures and
    /// skipped (the next run retries them).
    #[serde(default)]
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconciliation {
    pub id: ReconciliationId,
    pub environment_id: EnvironmentId,
    /// `None`: every directory of the environment.
    pub directory_id: Option<DirectoryId>,
    pub state: ReconciliationState,
    pub counts: ReconciliationCounts,
    pub checkpoint: Option<Checkpoint>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Store {
    pub async fn create_reconciliation(
        &self,
        environment: EnvironmentId,
        directory: Option<DirectoryId>,
        now: i64,
    ) -> Result<Reconciliation, StoreError> {
        let run = Reconciliation {
            id: ReconciliationId::generate(),
            environment_id: environment,
            directory_id: directory,
            state: ReconciliationState::Pending,
            counts: ReconciliationCounts::default(),
            checkpoint: None,
            error: None,
            created_at: now,
            updated_at: now,
        };
        self.put_reconciliation(&run, None).await?;
        Ok(run)
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

    /// Saves progress; `expected_update` guards against two workers running one job.
    pub async fn save_reconciliation(
        &self,
        run: &Reconciliation,
        expected_update: i64,
    ) -> Result<(), StoreError> {
        self.put_reconciliation(run, Some(expected_update)).await
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

    async fn put_reconciliation(
        &self,
        run: &Reconciliation,
        expected_update: Option<i64>,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(run).map_err(|e| StoreError::corrupt(e.to_string()))?;
        let mut item = Item::from([
            (PK.to_owned(), s(environment_pk(&run.environment_id))),
            (SK.to_owned(), s(reconciliation_sk(&run.id))),
            ("type".to_owned(), s("reconciliation")),
            ("state".to_owned(), s(run.state.as_str())),
            ("updated_at".to_owned(), n(run.updated_at)),
            ("run".to_owned(), s(text)),
        ]);
        if matches!(
            run.state,
            ReconciliationState::Pending | ReconciliationState::Running
        ) {
            item.insert(GSI1PK.to_owned(), s(UNFINISHED_RECONCILIATIONS));
            item.insert(GSI1SK.to_owned(), s(run.id.to_string()));
        }
        let request = self
            .client
            .put_item()
            .table_name(&self.tables.directory)
            .set_item(Some(item));
        let request = match expected_update {
            None => request.condition_expression("attribute_not_exists(pk)"),
            Some(at) => request
                .condition_expression("updated_at = :at")
                .expression_attribute_values(":at", n(at)),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(backend(e)),
        }
    }
}
