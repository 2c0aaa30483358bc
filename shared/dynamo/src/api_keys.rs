//! API keys: the hash that authenticates a request, and a listing entry per key so an
//! environment's keys can be listed and revoked without the secret.
//!
//! Two items per key, written and deleted together in one transaction:
//! - `APIKEY#<sha256 hex>` / `API_KEY`: the lookup every request makes (by hash);
//! - `ENV#<environment>` / `APIKEY#<key id>`: id, name, a hint of the key, the hash's hex
//!   (to find the lookup item when revoking) and `created_at`.
//!
//! Keys stored before listing entries existed authenticate but are not listed.

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use dsync_domain::ids::{ApiKeyId, EnvironmentId};
use dsync_domain::secrets::SecretHash;

use crate::item::{id_attr, n, s, Item, ItemExt};
use crate::keys::*;
use crate::provider_users::{build_error, map_transaction};
use crate::{Store, StoreError};

/// A key about to be stored; the plain key never reaches the store, only its hash and hint.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: ApiKeyId,
    pub environment_id: EnvironmentId,
    pub name: String,
    pub hash: SecretHash,
    pub obfuscated_value: String,
    pub created_at: i64,
}

impl NewApiKey {
    pub fn new(environment_id: EnvironmentId, name: &str, plain: &str, created_at: i64) -> Self {
        Self {
            id: ApiKeyId::generate(),
            environment_id,
            name: name.to_owned(),
            hash: SecretHash::of(plain),
            obfuscated_value: obfuscate(plain),
            created_at,
        }
    }
}

/// What a listing shows of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub environment_id: EnvironmentId,
    pub name: String,
    /// `sk_local_…Ab3d`: the readable prefix and the last 4 characters, enough to tell keys
    /// apart and nowhere near enough to guess one (the rest is 256 random bits).
    pub obfuscated_value: String,
    pub created_at: i64,
}

/// Characters of a generated key after its prefix (32 random bytes, base64url).
const RANDOM_CHARS: usize = 43;

/// The key's readable prefix and its last 4 characters. The random part may itself hold
/// `_`, so the prefix is whatever precedes the random part's fixed length.
pub fn obfuscate(plain: &str) -> String {
    let split = plain.len().saturating_sub(RANDOM_CHARS);
    let prefix = plain.get(..split).unwrap_or("");
    let tail = plain.get(plain.len().saturating_sub(4)..).unwrap_or("");
    format!("{prefix}…{tail}")
}

impl Store {
    /// Stores a key's hash and its listing entry together.
    pub async fn put_api_key(&self, key: NewApiKey) -> Result<ApiKey, StoreError> {
        let lookup = Item::from([
            (PK.to_owned(), s(api_key_pk(&key.hash.to_hex()))),
            (SK.to_owned(), s(API_KEY_SK)),
            ("type".to_owned(), s("api_key")),
            (
                "environment_id".to_owned(),
                s(key.environment_id.to_string()),
            ),
            ("key_id".to_owned(), s(key.id.to_string())),
            ("created_at".to_owned(), n(key.created_at)),
        ]);
        let listing = Item::from([
            (PK.to_owned(), s(environment_pk(&key.environment_id))),
            (SK.to_owned(), s(api_key_listing_sk(&key.id))),
            ("type".to_owned(), s("api_key_listing")),
            ("id".to_owned(), s(key.id.to_string())),
            (
                "environment_id".to_owned(),
                s(key.environment_id.to_string()),
            ),
            ("name".to_owned(), s(&key.name)),
            ("obfuscated_value".to_owned(), s(&key.obfuscated_value)),
            ("hash".to_owned(), s(key.hash.to_hex())),
            ("created_at".to_owned(), n(key.created_at)),
        ]);
        let put = |item: Item| -> Result<TransactWriteItem, StoreError> {
            let put = Put::builder()
                .table_name(&self.tables.directory)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build_error)?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(put(lookup)?)
            .transact_items(put(listing)?)
            .send()
            .await;
        map_transaction(result, &[StoreError::Duplicate, StoreError::Duplicate])?;
        Ok(ApiKey {
            id: key.id,
            environment_id: key.environment_id,
            name: key.name,
            obfuscated_value: key.obfuscated_value,
            created_at: key.created_at,
        })
    }

    /// Every listed key of an environment (a handful: read whole, paged by the caller).
    pub async fn list_api_keys(
        &self,
        environment: &EnvironmentId,
    ) -> Result<Vec<ApiKey>, StoreError> {
        let items = self
            .query_prefix_all(
                &self.tables.directory,
                &environment_pk(environment),
                API_KEY_LISTING_PREFIX,
            )
            .await?;
        items.iter().map(decode_listing).collect()
    }

    /// Revokes a key: its lookup item and listing entry go in one transaction, so the key
    /// stops authenticating at once. `NotFound` for a key of another environment.
    pub async fn delete_api_key(
        &self,
        environment: &EnvironmentId,
        id: &ApiKeyId,
    ) -> Result<(), StoreError> {
        let item = self
            .get_control_item(environment_pk(environment), &api_key_listing_sk(id))
            .await?;
        let hash = item.str_attr("hash")?.to_owned();
        let delete = |pk: String, sk: String| -> Result<TransactWriteItem, StoreError> {
            let delete = Delete::builder()
                .table_name(&self.tables.directory)
                .key(PK, s(pk))
                .key(SK, s(sk))
                .build()
                .map_err(build_error)?;
            Ok(TransactWriteItem::builder().delete(delete).build())
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(delete(api_key_pk(&hash), API_KEY_SK.to_owned())?)
            .transact_items(delete(environment_pk(environment), api_key_listing_sk(id))?)
            .send()
            .await;
        map_transaction(result, &[])
    }
}

fn decode_listing(item: &Item) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: id_attr(item, "id", ApiKeyId::parse)?,
        environment_id: id_attr(item, "environment_id", EnvironmentId::parse)?,
        name: item.str_attr("name")?.to_owned(),
        obfuscated_value: item.str_attr("obfuscated_value")?.to_owned(),
        created_at: item.num_attr("created_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::obfuscate;

    #[test]
    fn the_hint_keeps_the_prefix_and_four_last_characters() {
        let key = dsync_domain::secrets::generate("sk_local_").plain;
        let hint = obfuscate(&key);
        assert_eq!(hint, format!("sk_local_…{}", &key[key.len() - 4..]));
        let tricky = format!("sk_dsync_{}", "a_b".repeat(14) + "_");
        assert_eq!(obfuscate(&tricky), "sk_dsync_…a_b_");
        assert_eq!(obfuscate("ab"), "…ab");
    }
}
