//! First start: a default environment with an API key and one demo directory, their secrets
//! written to a bootstrap file in the data directory (the only place the plain secrets exist).
//!
//! Each kind of store has its own file, so a throwaway run (`--in-memory`) or a run against
//! another endpoint never overwrites the secrets of the persistent embedded store.

use std::path::{Path, PathBuf};

use dsync_domain::ids::{DirectoryId, EnvironmentId};
use dsync_domain::model::{Environment, EnvironmentSettings, ProviderKind};
use dsync_domain::secrets::{self, SecretHash};
use dsync_domain::time::now_millis;
use dsync_dynamo::{NewApiKey, NewDirectory, Store, StoreError};
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

/// Which store a run uses decides which bootstrap file holds its secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded engine's data file: `bootstrap.json`, the file the docs point at.
    Embedded,
    /// A throwaway embedded engine: `bootstrap.in-memory.json`.
    InMemory,
    /// `--dynamodb-endpoint`: `bootstrap.endpoint.json`.
    Endpoint,
}

impl StoreKind {
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Embedded => "bootstrap.json",
            Self::InMemory => "bootstrap.in-memory.json",
            Self::Endpoint => "bootstrap.endpoint.json",
        }
    }
}

pub fn path(data_dir: &Path, kind: StoreKind) -> PathBuf {
    data_dir.join(kind.file_name())
}

/// Reuses the bootstrap of an earlier start when its environment and API key still exist in
/// the store. A demo directory that is gone, or whose token was rotated, is replaced by a new
/// one in the same environment, so the API key a user already has keeps working and stays
/// in the file. Only when the key itself is unknown to the store is everything made anew.
pub async fn ensure(store: &Store, path: &Path, base_url: &str) -> anyhow::Result<Bootstrap> {
    let mut bootstrap = match read_file(path) {
        Some(existing) => match check(store, &existing).await? {
            Reuse::Whole => existing,
            Reuse::Environment(environment) => {
                tracing::info!(
                    environment_id = %environment,
                    "the demo directory was deleted or its token rotated; made a new one"
                );
                let (directory_id, scim_token) = create_directory(store, environment).await?;
                Bootstrap {
                    directory_id,
                    scim_token,
                    ..existing
                }
            }
            Reuse::Nothing => create(store).await?,
        },
        None => create(store).await?,
    };
    // The port may differ from the last start.
    bootstrap.api_base_url = base_url.to_owned();
    bootstrap.scim_base_url = format!("{base_url}/scim/v2/{}", bootstrap.directory_id);
    std::fs::write(path, serde_json::to_string_pretty(&bootstrap)? + "\n")?;
    restrict_permissions(path);
    Ok(bootstrap)
}

fn read_file(path: &Path) -> Option<Bootstrap> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

enum Reuse {
    Whole,
    Environment(EnvironmentId),
    Nothing,
}

async fn check(store: &Store, existing: &Bootstrap) -> anyhow::Result<Reuse> {
    let Ok(environment) = EnvironmentId::parse(&existing.environment_id) else {
        return Ok(Reuse::Nothing);
    };
    match store
        .environment_for_api_key(&SecretHash::of(&existing.api_key))
        .await
    {
        Ok(owner) if owner == environment => {}
        Ok(_) | Err(StoreError::NotFound) => return Ok(Reuse::Nothing),
        Err(e) => return Err(e.into()),
    }
    let Ok(directory) = DirectoryId::parse(&existing.directory_id) else {
        return Ok(Reuse::Environment(environment));
    };
    match store.get_directory(&directory).await {
        Ok(found)
            if found.environment_id == environment
                && found.token_hash.verify(&existing.scim_token) =>
        {
            Ok(Reuse::Whole)
        }
        Ok(_) | Err(StoreError::NotFound) => Ok(Reuse::Environment(environment)),
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
        .put_api_key(NewApiKey::new(
            environment.id,
            "bootstrap",
            &api_key.plain,
            now,
        ))
        .await?;
    let (directory_id, scim_token) = create_directory(store, environment.id).await?;
    Ok(Bootstrap {
        environment_id: environment.id.to_string(),
        api_key: api_key.plain,
        api_base_url: String::new(),
        directory_id,
        scim_base_url: String::new(),
        scim_token,
    })
}

async fn create_directory(
    store: &Store,
    environment_id: EnvironmentId,
) -> anyhow::Result<(String, String)> {
    let token = secrets::generate("dsync_scim_");
    let directory = store
        .create_directory(
            NewDirectory {
                environment_id,
                name: "Demo directory".into(),
                kind: ProviderKind::GenericScimV2,
                organization_id: None,
                token_hash: token.hash,
            },
            now_millis(),
        )
        .await?;
    Ok((directory.id.to_string(), token.plain))
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) {}
