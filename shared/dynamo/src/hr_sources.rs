//! What an HR-fed directory keeps beside the directory item, in one partition of the
//! directory table (`HRSOURCE#<directory_id>`), removed with the directory by the purge:
//!
//! | `sk` | what |
//! | --- | --- |
//! | `CREDENTIALS` | the webhook signing secret and, for BambooHR, the company and API key the re-sync uses |
//! | `SYNC` | the last sync: when, from which path, counts, error |
//! | `SEEN#<replay key>` | a delivery already accepted (TTL `expires_at`): a replay finds it |
//!
//! Secrets must be readable to verify signatures and call BambooHR, so they are sealed
//! (AES-256-GCM, [`dsync_seal`], the key Google credentials are sealed with) rather than
//! hashed: the `CREDENTIALS` item holds the company in clear and the webhook secret and API
//! key only inside `sealed`, bound to the directory. Items written before sealing hold them
//! in clear: they are still read, and the next `put_hr_credentials` (a rotation) replaces them
//! with a sealed item.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use dsync_domain::directory::EventDraft;
use dsync_domain::ids::DirectoryId;
use dsync_domain::model::Directory;
use dsync_domain::providers::replay::REMEMBER_SECS;
use dsync_seal::Sealer;
use serde::{Deserialize, Serialize};

use crate::error::{backend, is_conditional_failure};
use crate::item::{n, s, Item, ItemExt};
use crate::keys::{PK, SK};
use crate::provider_users::build_error;
use crate::{Store, StoreError};

const CREDENTIALS_SK: &str = "CREDENTIALS";
const SYNC_SK: &str = "SYNC";

pub(crate) fn hr_source_pk(directory: &DirectoryId) -> String {
    format!("HRSOURCE#{directory}")
}

fn seen_sk(replay_key: &str) -> String {
    format!("SEEN#{replay_key}")
}

/// An HR directory's secrets. `Debug` names which are set, never their values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HrCredentials {
    /// BambooHR's private key for the webhook, or the generic format's `whsec_` secret.
    pub webhook_secret: Option<String>,
    /// The BambooHR company subdomain (`acme` of `acme.bamboohr.com`), for the re-sync.
    pub bamboohr_company: Option<String>,
    /// A BambooHR API key with read access to the employee directory, for the re-sync.
    pub bamboohr_api_key: Option<String>,
}

impl std::fmt::Debug for HrCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HrCredentials")
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "…"))
            .field("bamboohr_company", &self.bamboohr_company)
            .field(
                "bamboohr_api_key",
                &self.bamboohr_api_key.as_ref().map(|_| "…"),
            )
            .finish()
    }
}

/// What the last sync of an HR directory did (a webhook delivery or a re-sync).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HrSyncReport {
    /// Milliseconds.
    pub at: i64,
    /// `webhook` or `resync`.
    pub source: String,
    /// Employees created or changed.
    pub upserted: u64,
    /// Employees whose record already said the same.
    pub unchanged: u64,
    /// Employees removed (deleted in the HR system, or missing from a re-sync's listing).
    pub removed: u64,
    /// Changes naming no field of an employee not seen before: nothing to create yet.
    pub skipped: u64,
    /// Employees whose change could not be stored (the `error` says why for the first).
    pub failed: u64,
    pub error: Option<String>,
}

impl Store {
    /// Creates an HR directory, its credentials and `events` in one transaction.
    pub async fn create_hr_directory_with_events(
        &self,
        directory: &Directory,
        credentials: &HrCredentials,
        sealer: &Sealer,
        events: &[EventDraft],
    ) -> Result<(), StoreError> {
        let credentials_put = Put::builder()
            .table_name(&self.tables.directory)
            .set_item(Some(encode_credentials(
                &directory.id,
                credentials,
                sealer,
            )?))
            .build()
            .map_err(build_error)?;
        let credentials = vec![TransactWriteItem::builder().put(credentials_put).build()];
        self.create_directory_beside(directory, None, credentials, events)
            .await
            .map(|_| ())
    }

    /// The directory's HR credentials; all `None` when it has none. Sealed secrets need the
    /// `sealer` (`None`: none configured, and then only an item from before sealing opens).
    pub async fn hr_credentials(
        &self,
        directory: &DirectoryId,
        sealer: Option<&Sealer>,
    ) -> Result<HrCredentials, StoreError> {
        match self
            .get_control_item(hr_source_pk(directory), CREDENTIALS_SK)
            .await
        {
            Ok(item) => decode_credentials(directory, &item, sealer),
            Err(StoreError::NotFound) => Ok(HrCredentials::default()),
            Err(e) => Err(e),
        }
    }

    /// Replaces the directory's credentials whole (a rotation): the old secret stops
    /// verifying at once, and an item from before sealing is sealed from now on.
    pub async fn put_hr_credentials(
        &self,
        directory: &DirectoryId,
        credentials: &HrCredentials,
        sealer: &Sealer,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tables.directory)
            .set_item(Some(encode_credentials(directory, credentials, sealer)?))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Takes a delivery's replay key at `now_secs`, for [`REMEMBER_SECS`]: `false` when it
    /// was taken already (a replay).
    pub async fn claim_hr_delivery(
        &self,
        directory: &DirectoryId,
        replay_key: &str,
        now_secs: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.directory)
            .item(PK, s(hr_source_pk(directory)))
            .item(SK, s(seen_sk(replay_key)))
            .item("type", s("hr_delivery_seen"))
            .item("expires_at", n(now_secs + REMEMBER_SECS))
            // An expired key TTL has not removed yet is free again.
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", n(now_secs))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    /// Gives a replay key back, after a delivery could not be stored, so the sender's retry
    /// is accepted.
    pub async fn release_hr_delivery(
        &self,
        directory: &DirectoryId,
        replay_key: &str,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.directory)
            .key(PK, s(hr_source_pk(directory)))
            .key(SK, s(seen_sk(replay_key)))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    pub async fn record_hr_sync(
        &self,
        directory: &DirectoryId,
        report: &HrSyncReport,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tables.directory)
            .set_item(Some(encode_report(directory, report)))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// The last sync, if there has been one.
    pub async fn last_hr_sync(
        &self,
        directory: &DirectoryId,
    ) -> Result<Option<HrSyncReport>, StoreError> {
        let item = match self
            .get_control_item(hr_source_pk(directory), SYNC_SK)
            .await
        {
            Ok(item) => item,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(HrSyncReport {
            at: item.num_attr("at")?,
            source: item.str_attr("source")?.to_owned(),
            upserted: item.num_attr("upserted")?,
            unchanged: item.num_attr("unchanged")?,
            removed: item.num_attr("removed")?,
            skipped: item.num_attr("skipped")?,
            failed: item.num_attr("failed")?,
            error: item.opt_str_attr("error").map(str::to_owned),
        }))
    }
}

/// What is sealed: the two secrets (the company is not one).
#[derive(Serialize, Deserialize)]
struct SealedSecrets {
    webhook_secret: Option<String>,
    bamboohr_api_key: Option<String>,
}

/// The context sealed HR secrets are bound to: the directory, and what they are (a Google
/// credentials blob of the same directory does not open as HR secrets).
fn seal_context(directory: &DirectoryId) -> String {
    format!("hr-credentials:{directory}")
}

pub(crate) fn encode_report(directory: &DirectoryId, report: &HrSyncReport) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), s(hr_source_pk(directory)));
    item.insert(SK.into(), s(SYNC_SK));
    item.insert("type".into(), s("hr_sync"));
    item.insert("at".into(), n(report.at));
    item.insert("source".into(), s(&report.source));
    item.insert("upserted".into(), n(report.upserted));
    item.insert("unchanged".into(), n(report.unchanged));
    item.insert("removed".into(), n(report.removed));
    item.insert("skipped".into(), n(report.skipped));
    item.insert("failed".into(), n(report.failed));
    if let Some(error) = &report.error {
        item.insert("error".into(), s(error));
    }
    item
}

fn encode_credentials(
    directory: &DirectoryId,
    credentials: &HrCredentials,
    sealer: &Sealer,
) -> Result<Item, StoreError> {
    let mut item = Item::new();
    item.insert(PK.into(), s(hr_source_pk(directory)));
    item.insert(SK.into(), s(CREDENTIALS_SK));
    item.insert("type".into(), s("hr_credentials"));
    if let Some(company) = &credentials.bamboohr_company {
        item.insert("bamboohr_company".into(), s(company));
    }
    let secrets = SealedSecrets {
        webhook_secret: credentials.webhook_secret.clone(),
        bamboohr_api_key: credentials.bamboohr_api_key.clone(),
    };
    let plain = serde_json::to_vec(&secrets).map_err(|e| StoreError::corrupt(e.to_string()))?;
    let sealed = sealer
        .seal(&seal_context(directory), &plain)
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    item.insert("sealed".into(), AttributeValue::B(Blob::new(sealed)));
    Ok(item)
}

fn decode_credentials(
    directory: &DirectoryId,
    item: &Item,
    sealer: Option<&Sealer>,
) -> Result<HrCredentials, StoreError> {
    let bamboohr_company = item.opt_str_attr("bamboohr_company").map(str::to_owned);
    let Some(sealed) = item.get("sealed") else {
        // Written before secrets were sealed: in clear until the next rotation.
        return Ok(HrCredentials {
            webhook_secret: item.opt_str_attr("webhook_secret").map(str::to_owned),
            bamboohr_company,
            bamboohr_api_key: item.opt_str_attr("bamboohr_api_key").map(str::to_owned),
        });
    };
    let AttributeValue::B(blob) = sealed else {
        return Err(StoreError::corrupt("sealed HR credentials are not binary"));
    };
    let sealer = sealer.ok_or_else(|| {
        StoreError::Backend(format!(
            "HR credentials are sealed and no sealing key is configured ({})",
            dsync_seal::SEALING_KEY_VARIABLE
        ))
    })?;
    let plain = sealer
        .open(&seal_context(directory), blob.as_ref())
        .map_err(|e| StoreError::corrupt(format!("HR credentials: {e}")))?;
    let secrets: SealedSecrets = serde_json::from_slice(&plain)
        .map_err(|_| StoreError::corrupt("HR credentials: not the sealed shape"))?;
    Ok(HrCredentials {
        webhook_secret: secrets.webhook_secret,
        bamboohr_company,
        bamboohr_api_key: secrets.bamboohr_api_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_which_secrets_are_set_never_their_values() {
        let credentials = HrCredentials {
            webhook_secret: Some("whsec_secret-value".into()),
            bamboohr_company: Some("acme".into()),
            bamboohr_api_key: Some("api-key-value".into()),
        };
        let printed = format!("{credentials:?}");
        assert!(!printed.contains("secret-value"), "{printed}");
        assert!(!printed.contains("api-key-value"), "{printed}");
        assert!(printed.contains("acme"));
    }

    #[test]
    fn the_stored_item_holds_the_secrets_only_sealed() {
        let id = DirectoryId::generate();
        let directory = || id;
        let sealer = Sealer::from_key(&[3; 32]).unwrap();
        let credentials = HrCredentials {
            webhook_secret: Some("whsec_secret-value".into()),
            bamboohr_company: Some("acme".into()),
            bamboohr_api_key: Some("api-key-value".into()),
        };
        let item = encode_credentials(&directory(), &credentials, &sealer).unwrap();
        let printed = format!("{item:?}");
        assert!(!printed.contains("secret-value"), "{printed}");
        assert!(!printed.contains("api-key-value"), "{printed}");
        assert_eq!(
            decode_credentials(&directory(), &item, Some(&sealer)).unwrap(),
            credentials
        );
        // Another key, no key, or another directory's item: not opened.
        let other = Sealer::from_key(&[4; 32]).unwrap();
        assert!(decode_credentials(&directory(), &item, Some(&other)).is_err());
        assert!(decode_credentials(&directory(), &item, None).is_err());
        let elsewhere = DirectoryId::generate();
        assert!(decode_credentials(&elsewhere, &item, Some(&sealer)).is_err());
    }

    #[test]
    fn an_item_from_before_sealing_is_read_in_clear() {
        let directory = DirectoryId::generate;
        let mut item = Item::new();
        item.insert("webhook_secret".into(), s("legacy-secret"));
        item.insert("bamboohr_company".into(), s("acme"));
        let read = decode_credentials(&directory(), &item, None).unwrap();
        assert_eq!(read.webhook_secret.as_deref(), Some("legacy-secret"));
        assert_eq!(read.bamboohr_api_key, None);
    }
}
