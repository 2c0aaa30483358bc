//! First start: a default environment with an API key and one demo directory, their secrets
//! written to `<data-dir>/bootstrap.json` (the only place the plain secrets exist).

use std::path::Path;

use dsync_domain::ids::EnvironmentId;
use dsync_domain::model::{Environment, EnvironmentSettings, ProviderKind};
use dsync_domain::secrets;
use dsync_domain::time::now_millis;
use dsync_dynamo::{NewDirectory, Store, StoreError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Bootstrap {
    pub environment_id: String,
    pub api_key: String,
    pub api_base_url: String,
    pub directory_id: String,
    pub scim_base_url: String,
    pub scim_token: String,
}

/// Reuses the bootstrap of an earlier start when its environment and directory still exist
/// in the store; otherwise makes new ones.
pub async fn ensure(store: &Store, data_dir: &Path, base_url: &str) -> anyhow::Result<Bootstrap> {
    let path = data_dir.join("bootstrap.json");
    let mut bootstrap = match read_existing(store, &path).await? {
        Some(existing) => existing,
        None => create(store).await?,
    };
    // The port may differ from the last start.
    bootstrap.api_base_url = base_url.to_owned();
    bootstrap.scim_base_url = format!("{base_url}/scim/v2/{}", bootstrap.directory_id);
    std::fs::write(&path, serde_json::to_string_pretty(&bootstrap)? + "\n")?;
    restrict_permissions(&path);
    Ok(bootstrap)
}

async fn read_existing(store: &Store, path: &Path) -> anyhow::Result<Option<Bootstrap>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    let Ok(existing) = serde_json::from_str::<Bootstrap>(&text) else {
        return Ok(None);
    };
    let (Ok(environment), Ok(directory)) = (
        EnvironmentId::parse(&existing.environment_id),
        dsync_domain::ids::DirectoryId::parse(&existing.directory_id),
    ) else {
        return Ok(None);
    };
    let found = async {
        store.get_environment(&environment).await?;
        store.get_directory(&directory).await
    };
    match found.await {
        Ok(directory) if directory.token_hash.verify(&existing.scim_token) => Ok(Some(existing)),
        Ok(_) | Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn create(store: &Store) -> anyhow::Result<Bootstrap> {
    let now = now_millis();
    let environment = Environment {
        id: EnvironmentId::generate(),
        name: "default".into(),
        settings: EnvironmentSettings::default(),
        created_at: now,
    };
    store.put_environment(&environment).await?;
    let api_key = secrets::generate("sk_local_");
    store
        .put_api_key(&environment.id, &api_key.hash, now)
        .await?;
    let token = secrets::generate("dsync_scim_");
    let directory = store
        .create_directory(
            NewDirectory {
                environment_id: environment.id,
                name: "Demo directory".into(),
                kind: ProviderKind::GenericScimV2,
                organization_id: None,
                token_hash: token.hash,
            },
            now,
        )
        .await?;
    Ok(Bootstrap {
        environment_id: environment.id.to_string(),
        api_key: api_key.plain,
        api_base_url: String::new(),
        directory_id: directory.id.to_string(),
        scim_base_url: String::new(),
        scim_token: token.plain,
    })
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) {}
