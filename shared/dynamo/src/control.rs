//! Environments, API keys and directories: the control plane every function reads.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use dsync_domain::directory::attribute_mapping::AttributeMapping;
use dsync_domain::directory::roles::{RoleCatalog, RoleMappings};
use dsync_domain::ids::{DirectoryId, EnvironmentId};
use dsync_domain::model::{
    Directory, DirectoryMappings, Environment, EnvironmentSettings, InactiveUserPolicy,
    ProviderKind,
};
use dsync_domain::secrets::SecretHash;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{backend, is_conditional_failure};
use crate::item::{id_attr, n, s, Item, ItemExt};
use crate::keys::*;
use crate::provider_users::build_error;
use crate::{Store, StoreError};

/// What creating a directory needs; the token's plain text never reaches the store.
pub struct NewDirectory {
    pub environment_id: EnvironmentId,
    pub name: String,
    pub kind: ProviderKind,
    pub organization_id: Option<String>,
    pub token_hash: SecretHash,
}

impl Store {
    /// Creates the environment unless one with this id exists.
    pub async fn put_environment(&self, env: &Environment) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert(PK.into(), s(environment_pk(&env.id)));
        item.insert(SK.into(), s(ENVIRONMENT_SK));
        item.insert("type".into(), s("environment"));
        item.insert("id".into(), s(env.id.to_string()));
        item.insert("name".into(), s(&env.name));
        item.insert(
            "inactive_user_policy".into(),
            s(env.settings.inactive_user_policy.as_str()),
        );
        if let Some(days) = env.settings.inactive_user_retention_days {
            item.insert("inactive_user_retention_days".into(), n(days));
        }
        if env.settings.roles != RoleCatalog::default() {
            item.insert(ROLES.into(), s(to_json(&env.settings.roles)?));
        }
        item.insert("created_at".into(), n(env.created_at));
        item.insert(GSI1PK.into(), s(ALL_ENVIRONMENTS));
        item.insert(GSI1SK.into(), s(env.id.to_string()));
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.directory)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::Duplicate),
            Err(e) => Err(backend(e)),
        }
    }

    pub async fn get_environment(&self, id: &EnvironmentId) -> Result<Environment, StoreError> {
        let item = self
            .get_control_item(environment_pk(id), ENVIRONMENT_SK)
            .await?;
        let policy = InactiveUserPolicy::parse(item.str_attr("inactive_user_policy")?)
            .ok_or_else(|| StoreError::corrupt("unknown inactive_user_policy"))?;
        Ok(Environment {
            id: id_attr(&item, "id", EnvironmentId::parse)?,
            name: item.str_attr("name")?.to_owned(),
            settings: EnvironmentSettings {
                inactive_user_policy: policy,
                inactive_user_retention_days: item.opt_num_attr("inactive_user_retention_days"),
                roles: from_json(&item, ROLES)?.unwrap_or_default(),
            },
            created_at: item.num_attr("created_at")?,
        })
    }

    /// The environment an API key belongs to. The lookup is by the key's hash, so equality
    /// of hashes (not of secrets) is what the key-value store compares.
    pub async fn environment_for_api_key(
        &self,
        hash: &SecretHash,
    ) -> Result<EnvironmentId, StoreError> {
        let item = self
            .get_control_item(api_key_pk(&hash.to_hex()), API_KEY_SK)
            .await?;
        id_attr(&item, "environment_id", EnvironmentId::parse)
    }

    pub async fn create_directory(
        &self,
        new: NewDirectory,
        now: i64,
    ) -> Result<Directory, StoreError> {
        let directory = Directory {
            id: DirectoryId::generate(),
            environment_id: new.environment_id,
            name: new.name,
            kind: new.kind,
            organization_id: new.organization_id,
            token_hash: new.token_hash,
            created_at: now,
            mappings: DirectoryMappings::default(),
        };
        let mut item = Item::new();
        item.insert(PK.into(), s(directory_pk(&directory.id)));
        item.insert(SK.into(), s(DIRECTORY_SK));
        item.insert(
            GSI1PK.into(),
            s(environment_directories(&directory.environment_id)),
        );
        item.insert(GSI1SK.into(), s(directory.id.to_string()));
        item.insert("type".into(), s("directory"));
        item.insert("id".into(), s(directory.id.to_string()));
        item.insert(
            "environment_id".into(),
            s(directory.environment_id.to_string()),
        );
        item.insert("name".into(), s(&directory.name));
        item.insert("kind".into(), s(directory.kind.as_str()));
        if let Some(org) = &directory.organization_id {
            item.insert("organization_id".into(), s(org));
        }
        item.insert("token_hash".into(), s(directory.token_hash.to_hex()));
        item.insert("created_at".into(), n(now));
        let put = Put::builder()
            .table_name(&self.tables.directory)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let mut writes = vec![TransactWriteItem::builder().put(put).build()];
        writes.extend(self.counter_bases_of_new_directory(&directory.id)?);
        self.transact(writes).await?;
        Ok(directory)
    }

    pub async fn get_directory(&self, id: &DirectoryId) -> Result<Directory, StoreError> {
        let item = self
            .get_control_item(directory_pk(id), DIRECTORY_SK)
            .await?;
        decode_directory(&item)
    }

    /// Every directory of an environment.
    pub async fn directories_of(
        &self,
        environment: &EnvironmentId,
    ) -> Result<Vec<Directory>, StoreError> {
        let stored = self.list_directories(environment).await?;
        Ok(stored.into_iter().map(|d| d.directory).collect())
    }

    /// Every environment's id (the scheduled reconciliation walks them all).
    pub async fn environment_ids(&self) -> Result<Vec<EnvironmentId>, StoreError> {
        let items = self
            .query_index_all_in(
                &self.tables.directory,
                "gsi1",
                GSI1PK,
                ALL_ENVIRONMENTS.to_owned(),
            )
            .await?;
        items
            .iter()
            .map(|item| id_attr(item, "id", EnvironmentId::parse))
            .collect()
    }

    pub(crate) async fn get_control_item(&self, pk: String, sk: &str) -> Result<Item, StoreError> {
        self.client
            .get_item()
            .table_name(&self.tables.directory)
            .key(PK, AttributeValue::S(pk))
            .key(SK, s(sk))
            // A rotated token or a changed setting must take effect at once.
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?
            .item
            .ok_or(StoreError::NotFound)
    }
}

pub(crate) fn decode_directory(item: &Item) -> Result<Directory, StoreError> {
    Ok(Directory {
        id: id_attr(item, "id", DirectoryId::parse)?,
        environment_id: id_attr(item, "environment_id", EnvironmentId::parse)?,
        name: item.str_attr("name")?.to_owned(),
        kind: ProviderKind::parse(item.str_attr("kind")?)
            .ok_or_else(|| StoreError::corrupt("unknown directory kind"))?,
        organization_id: item.opt_str_attr("organization_id").map(str::to_owned),
        token_hash: SecretHash::from_hex(item.str_attr("token_hash")?)
            .ok_or_else(|| StoreError::corrupt("token_hash is not a SHA-256"))?,
        created_at: item.num_attr("created_at")?,
        mappings: DirectoryMappings {
            roles: from_json(item, ROLE_MAPPINGS)?.unwrap_or_default(),
            custom_attributes: from_json(item, ATTRIBUTE_MAPPINGS)?,
        },
    })
}

/// Environment attribute: the role catalog as JSON text.
const ROLES: &str = "roles";
/// Directory attributes: the role mapping, and the custom attribute mapping (absent: the
/// defaults), as JSON text.
const ROLE_MAPPINGS: &str = "role_mappings";
const ATTRIBUTE_MAPPINGS: &str = "attribute_mappings";

fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::corrupt(format!("encoding: {e}")))
}

fn from_json<T: DeserializeOwned>(item: &Item, name: &str) -> Result<Option<T>, StoreError> {
    item.opt_str_attr(name)
        .map(|text| {
            serde_json::from_str(text)
                .map_err(|_| StoreError::corrupt(format!("{name} is not valid")))
        })
        .transpose()
}

impl Store {
    /// Replaces the environment's role catalog.
    pub async fn put_role_catalog(
        &self,
        environment: &EnvironmentId,
        catalog: &RoleCatalog,
        now: i64,
    ) -> Result<(), StoreError> {
        self.set_json_attribute(
            environment_pk(environment),
            ENVIRONMENT_SK,
            ROLES,
            Some(to_json(catalog)?),
            now,
        )
        .await
    }

    /// Replaces a directory's role mapping.
    pub async fn put_role_mappings(
        &self,
        directory: &DirectoryId,
        mappings: &RoleMappings,
        now: i64,
    ) -> Result<(), StoreError> {
        self.set_json_attribute(
            directory_pk(directory),
            DIRECTORY_SK,
            ROLE_MAPPINGS,
            Some(to_json(mappings)?),
            now,
        )
        .await
    }

    /// Replaces a directory's custom attribute mapping; `None` goes back to the defaults.
    pub async fn put_attribute_mappings(
        &self,
        directory: &DirectoryId,
        mappings: Option<&[AttributeMapping]>,
        now: i64,
    ) -> Result<(), StoreError> {
        let text = mappings.map(to_json).transpose()?;
        self.set_json_attribute(
            directory_pk(directory),
            DIRECTORY_SK,
            ATTRIBUTE_MAPPINGS,
            text,
            now,
        )
        .await
    }

    /// Sets (or, with `None`, removes) one attribute of an existing control item; `NotFound`
    /// when the item is gone.
    async fn set_json_attribute(
        &self,
        pk: String,
        sk: &str,
        name: &str,
        text: Option<String>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.tables.directory)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#a", name)
            .expression_attribute_values(":now", n(now));
        request = match text {
            Some(text) => request
                .update_expression("SET #a = :v, mappings_updated_at = :now")
                .expression_attribute_values(":v", s(text)),
            None => request.update_expression("SET mappings_updated_at = :now REMOVE #a"),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::NotFound),
            Err(e) => Err(backend(e)),
        }
    }
}
