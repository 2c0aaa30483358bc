//! Google Workspace connections: the sealed credentials, the last pull's status and the
//! checkpoint a pull resumes from, and the ids each pull saw (to find what Google no longer
//! lists). All in the directory table, partition `GOOGLE#<directory_id>`, apart from the
//! provider records, whose stream would otherwise carry every checkpoint.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use dsync_domain::directory::EventDraft;
use dsync_domain::ids::{DirectoryId, ProviderUserId};
use dsync_domain::model::{Directory, ProviderUser};
use dsync_domain::providers::google::{PullCheckpoint, PullPhase, SyncStatus};

use crate::error::{backend, is_conditional_failure};
use crate::item::{id_attr, n, s, Item, ItemExt};
use crate::keys::{provider_pk, user_sk, GSI1PK, GSI1SK, PK, SK};
use crate::provider_users::{build_error, decode_user};
use crate::{Store, StoreError};

/// Every connection's credentials item is in this gsi1 partition: the schedule lists them.
const CONNECTIONS: &str = "GOOGLE#CONNECTIONS";
const CREDENTIALS_SK: &str = "CREDENTIALS";
const SYNC_SK: &str = "SYNC";
const SEEN_PREFIX: &str = "SEEN#";
/// A pull's seen-id lists outlive any pull (a pull that stops for good leaves them behind).
const SEEN_TTL_SECONDS: i64 = 7 * 24 * 3600;

/// Which pull holds a directory's sync state, and until when (milliseconds). Every save of
/// the state is conditioned on the owner, so a pull whose lease another took stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullLease {
    pub owner: String,
    /// `Some`: the save renews the lease until then; `None`: the save releases it.
    pub until: Option<i64>,
}

pub(crate) fn connection_pk(directory: &DirectoryId) -> String {
    format!("GOOGLE#{directory}")
}

fn seen_prefix(pull_id: &str, phase: PullPhase) -> String {
    format!("{SEEN_PREFIX}{pull_id}#{}#", phase.as_str())
}

fn credentials_item(directory: &DirectoryId, sealed: &[u8], now: i64) -> Item {
    Item::from([
        (PK.to_owned(), s(connection_pk(directory))),
        (SK.to_owned(), s(CREDENTIALS_SK)),
        (GSI1PK.to_owned(), s(CONNECTIONS)),
        (GSI1SK.to_owned(), s(directory.to_string())),
        ("type".to_owned(), s("google_credentials")),
        ("directory_id".to_owned(), s(directory.to_string())),
        (
            "sealed".to_owned(),
            AttributeValue::B(Blob::new(sealed.to_vec())),
        ),
        ("updated_at".to_owned(), n(now)),
    ])
}

impl Store {
    /// Creates a Google Workspace directory, its sealed credentials (and so its entry in the
    /// schedule's connection list) and `events` in one transaction: a crash leaves either
    /// all of them or none. `Duplicate` when the id is taken (nothing is written then).
    pub async fn create_google_directory_with_events(
        &self,
        directory: &Directory,
        sealed: &[u8],
        events: &[EventDraft],
    ) -> Result<(), StoreError> {
        let credentials_put = Put::builder()
            .table_name(&self.tables.directory)
            .set_item(Some(credentials_item(
                &directory.id,
                sealed,
                directory.created_at,
            )))
            .build()
            .map_err(build_error)?;
        let credentials = vec![TransactWriteItem::builder().put(credentials_put).build()];
        self.create_directory_beside(directory, None, credentials, events)
            .await
            .map(|_| ())
    }

    /// Replaces a directory's sealed credentials (a rotation): ciphertext only, never the
    /// key. Conditioned on the credentials existing, so a rotation racing the directory's
    /// deletion cannot leave credentials behind (`NotFound`).
    pub async fn put_google_credentials(
        &self,
        directory: &DirectoryId,
        sealed: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.directory)
            .set_item(Some(credentials_item(directory, sealed, now)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::NotFound),
            Err(e) => Err(backend(e)),
        }
    }

    /// Takes the pull lease of a directory until `until` (milliseconds) when no other pull
    /// holds it (none ever did, it ran out before `now`, or `owner` holds it already).
    /// `false` when another pull holds it.
    pub async fn take_google_lease(
        &self,
        directory: &DirectoryId,
        owner: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.directory)
            .key(PK, s(connection_pk(directory)))
            .key(SK, s(SYNC_SK))
            .update_expression("SET lease_owner = :owner, lease_until = :until, #type = :type")
            .condition_expression(
                "attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner",
            )
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":type", s("google_sync"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    /// The sealed credentials; `NotFound` when the directory has none.
    pub async fn google_credentials(&self, directory: &DirectoryId) -> Result<Vec<u8>, StoreError> {
        let item = self.connection_item(directory, CREDENTIALS_SK).await?;
        match item.and_then(|item| item.get("sealed").cloned()) {
            Some(AttributeValue::B(blob)) => Ok(blob.into_inner()),
            Some(_) => Err(StoreError::corrupt("sealed credentials are not binary")),
            None => Err(StoreError::NotFound),
        }
    }

    /// Every directory with Google credentials (eventually consistent: the schedule's list).
    pub async fn google_directories(&self) -> Result<Vec<DirectoryId>, StoreError> {
        let items = self
            .query_index_all_in(&self.tables.directory, "gsi1", GSI1PK, CONNECTIONS.into())
            .await?;
        items
            .iter()
            .map(|item| id_attr(item, "directory_id", DirectoryId::parse))
            .collect()
    }

    /// The last pull's status and, while one is unfinished, its checkpoint.
    pub async fn google_sync(
        &self,
        directory: &DirectoryId,
    ) -> Result<(SyncStatus, Option<PullCheckpoint>), StoreError> {
        let Some(item) = self.connection_item(directory, SYNC_SK).await? else {
            return Ok((SyncStatus::default(), None));
        };
        // A first pull's lease is taken before it saved any status.
        let status = match item.opt_str_attr("status") {
            Some(_) => serde_json::from_value(item.json_attr("status")?)
                .map_err(|e| StoreError::corrupt(format!("google sync status: {e}")))?,
            None => SyncStatus::default(),
        };
        let checkpoint = match item.opt_str_attr("checkpoint") {
            Some(text) => Some(
                serde_json::from_str(text)
                    .map_err(|e| StoreError::corrupt(format!("google checkpoint: {e}")))?,
            ),
            None => None,
        };
        Ok((status, checkpoint))
    }

    /// Saves the status and checkpoint of the pull holding `lease`, renewing or releasing
    /// the lease in the same write. `Conflict` when the lease is no longer this pull's
    /// (another took it after it ran out, or the directory's connection was removed).
    pub async fn save_google_sync(
        &self,
        directory: &DirectoryId,
        status: &SyncStatus,
        checkpoint: Option<&PullCheckpoint>,
        lease: &PullLease,
    ) -> Result<(), StoreError> {
        let encode = |e: serde_json::Error| StoreError::corrupt(e.to_string());
        let mut request = self
            .client
            .put_item()
            .table_name(&self.tables.directory)
            .item(PK, s(connection_pk(directory)))
            .item(SK, s(SYNC_SK))
            .item("type", s("google_sync"))
            .item("status", s(serde_json::to_string(status).map_err(encode)?))
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(&lease.owner));
        if let Some(checkpoint) = checkpoint {
            request = request.item(
                "checkpoint",
                s(serde_json::to_string(checkpoint).map_err(encode)?),
            );
        }
        if let Some(until) = lease.until {
            request = request
                .item("lease_owner", s(&lease.owner))
                .item("lease_until", n(until));
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(backend(e)),
        }
    }

    /// Records the Google ids one page of a listing held, as 16-byte derived ids: one small
    /// item per page, so a pull resumed in another invocation still knows what it saw.
    pub async fn save_google_seen(
        &self,
        directory: &DirectoryId,
        checkpoint: &PullCheckpoint,
        ids: &[u128],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut bytes = Vec::with_capacity(ids.len() * 16);
        for id in ids {
            bytes.extend_from_slice(&id.to_be_bytes());
        }
        let sk = format!(
            "{}{:06}",
            seen_prefix(&checkpoint.pull_id, checkpoint.phase),
            checkpoint.pages
        );
        self.client
            .put_item()
            .table_name(&self.tables.directory)
            .item(PK, s(connection_pk(directory)))
            .item(SK, s(sk))
            .item("type", s("google_seen"))
            .item("ids", AttributeValue::B(Blob::new(bytes)))
            .item("expires_at", n(now_ms / 1000 + SEEN_TTL_SECONDS))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Every id a pull's listing of `phase` saw (16 bytes per listed record in memory).
    pub async fn google_seen(
        &self,
        directory: &DirectoryId,
        pull_id: &str,
        phase: PullPhase,
    ) -> Result<HashSet<u128>, StoreError> {
        let items = self
            .query_prefix_all(
                &self.tables.directory,
                &connection_pk(directory),
                &seen_prefix(pull_id, phase),
            )
            .await?;
        let mut seen = HashSet::new();
        for item in &items {
            let Some(AttributeValue::B(blob)) = item.get("ids") else {
                return Err(StoreError::corrupt("seen ids are not binary"));
            };
            for chunk in blob.as_ref().chunks_exact(16) {
                let mut id = [0u8; 16];
                id.copy_from_slice(chunk);
                seen.insert(u128::from_be_bytes(id));
            }
        }
        Ok(seen)
    }

    /// Forgets a pull's seen ids: of one listing (it restarted after Google refused its page
    /// token), or all of them (the pull finished).
    pub async fn forget_google_seen(
        &self,
        directory: &DirectoryId,
        pull_id: &str,
        phase: Option<PullPhase>,
    ) -> Result<(), StoreError> {
        let prefix = match phase {
            Some(phase) => seen_prefix(pull_id, phase),
            None => format!("{SEEN_PREFIX}{pull_id}#"),
        };
        let items = self
            .query_prefix_all(&self.tables.directory, &connection_pk(directory), &prefix)
            .await?;
        for item in items {
            let (Some(pk), Some(sk)) = (item.get(PK), item.get(SK)) else {
                continue;
            };
            self.client
                .delete_item()
                .table_name(&self.tables.directory)
                .key(PK, pk.clone())
                .key(SK, sk.clone())
                .send()
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    /// The stored provider users among `ids`, with consistent batched reads (100 a request):
    /// a pull compares a page of 500 Google users with what is stored in 5 requests.
    pub async fn provider_users_by_id(
        &self,
        directory: &DirectoryId,
        ids: &[ProviderUserId],
    ) -> Result<HashMap<ProviderUserId, ProviderUser>, StoreError> {
        let pk = provider_pk(directory);
        let keys = ids
            .iter()
            .map(|id| Item::from([(PK.to_owned(), s(&pk)), (SK.to_owned(), s(user_sk(id)))]))
            .collect();
        let items = self
            .batch_get_items(&self.tables.provider_records, keys)
            .await?;
        items
            .iter()
            .map(|item| decode_user(item).map(|user| (user.id, user)))
            .collect()
    }

    /// Removes a directory's connection: credentials, status, checkpoint, seen ids, push
    /// channels and a pending pull request.
    pub async fn delete_google_connection(
        &self,
        directory: &DirectoryId,
    ) -> Result<(), StoreError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let table = self.tables.directory.clone();
        self.drain_partition(&table, &connection_pk(directory), deadline)
            .await?;
        let requested = crate::google_push::pull_request_pk(directory);
        self.drain_partition(&table, &requested, deadline).await?;
        Ok(())
    }

    async fn connection_item(
        &self,
        directory: &DirectoryId,
        sk: &str,
    ) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tables.directory)
            .key(PK, s(connection_pk(directory)))
            .key(SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(output.item)
    }
}
