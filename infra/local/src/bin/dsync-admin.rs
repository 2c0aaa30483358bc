//! `dsync-admin`: the first environment and its API key on a deployed stack, where there is no
//! local runner to bootstrap them.
//!
//! ```sh
//! AWS_PROFILE=… AWS_REGION=eu-west-1 dsync-admin --table-prefix dsync create-environment
//! dsync-admin --dynamodb-endpoint http://127.0.0.1:8000 create-api-key --environment environment_01K…
//! ```
//!
//! It writes to the directory table directly, with the caller's AWS credentials (the default
//! chain: environment, profile, SSO, instance role), exactly as the local runner's first start
//! does: the environment item, and the API key's SHA-256 only. The key itself is printed once,
//! as JSON on stdout, and exists nowhere else.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use dsync_domain::ids::EnvironmentId;
use dsync_domain::model::{Environment, EnvironmentSettings, InactiveUserPolicy};
use dsync_domain::secrets;
use dsync_domain::time::now_millis;
use dsync_dynamo::{
    connect, default_region, ConnectOptions, NewApiKey, Store, StoreError, TableNames,
};
use serde_json::json;

/// Keys made here are told apart from the local runner's `sk_local_` ones by their prefix.
const API_KEY_PREFIX: &str = "sk_dsync_";

#[derive(Parser, Debug)]
#[command(
    name = "dsync-admin",
    about = "Creates environments and API keys in a dsync deployment's tables"
)]
struct Args {
    /// The stack's TablePrefix parameter: the tables are {prefix}-directory, ….
    #[arg(long, default_value = "dsync", env = "DSYNC_TABLE_PREFIX")]
    table_prefix: String,
    /// A DynamoDB-compatible endpoint (DynamoDB Local, the local runner's engine) instead of
    /// AWS; no AWS credentials are used then.
    #[arg(long, env = "DSYNC_DYNAMODB_ENDPOINT")]
    dynamodb_endpoint: Option<String>,
    /// The stack's region; otherwise the standard chain's (AWS_DEFAULT_REGION, the profile).
    /// Without an endpoint one is required, so that a missing setting cannot silently write
    /// to another region's tables.
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// A new environment and an API key for it. Prints {"environment_id", "api_key"}.
    CreateEnvironment {
        #[arg(long, default_value = "default")]
        name: String,
        /// What a user the provider deactivates becomes: `delete` (the secure flow: deleted,
        /// re-created with a new id if reactivated) or `retain` (kept, `state: inactive`).
        /// Changeable later with `PUT /environment/settings`.
        #[arg(long, default_value = "delete", value_parser = parse_policy)]
        inactive_user_policy: InactiveUserPolicy,
        /// With `retain`: delete users inactive for more than this many days.
        #[arg(long)]
        inactive_user_retention_days: Option<u32>,
    },
    /// Another API key for an existing environment (e.g. to replace a lost one). Prints
    /// {"environment_id", "api_key"}.
    CreateApiKey {
        #[arg(long)]
        environment: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let region = match args.region.filter(|r| !r.is_empty()) {
        Some(region) => Some(region),
        None if args.dynamodb_endpoint.is_none() => default_region().await,
        None => None,
    };
    if args.dynamodb_endpoint.is_none() && region.is_none() {
        bail!("set the stack's region with --region, AWS_REGION or the profile's region");
    }
    let client = connect(ConnectOptions {
        endpoint: args.dynamodb_endpoint,
        region,
    })
    .await;
    let tables = TableNames::with_prefix(&args.table_prefix);
    let table = tables.directory.clone();
    let store = Store::new(client, tables);
    // Wrong prefix or region is the likely mistake; say where the write went.
    let hint = || format!("writing to table {table} (check --table-prefix and the region)");

    let (environment_id, api_key) = match args.command {
        Command::CreateEnvironment {
            name,
            inactive_user_policy,
            inactive_user_retention_days,
        } => {
            if inactive_user_retention_days.is_some()
                && inactive_user_policy != InactiveUserPolicy::Retain
            {
                bail!("--inactive-user-retention-days applies only with --inactive-user-policy retain");
            }
            let environment = Environment {
                id: EnvironmentId::generate(),
                name,
                settings: EnvironmentSettings {
                    inactive_user_policy,
                    inactive_user_retention_days,
                    ..EnvironmentSettings::default()
                },
                created_at: now_millis(),
            };
            store
                .put_environment(&environment)
                .await
                .with_context(hint)?;
            let key = create_api_key(&store, &environment.id)
                .await
                .with_context(hint)?;
            (environment.id, key)
        }
        Command::CreateApiKey { environment } => {
            let id = EnvironmentId::parse(&environment)
                .map_err(|_| anyhow::anyhow!("{environment:?} is not an environment id"))?;
            match store.get_environment(&id).await {
                Ok(_) => {}
                Err(StoreError::NotFound) => bail!("there is no environment {id} in {table}"),
                Err(e) => return Err(e).with_context(hint),
            }
            let key = create_api_key(&store, &id).await.with_context(hint)?;
            (id, key)
        }
    };
    let output = json!({
        "environment_id": environment_id.to_string(),
        "api_key": api_key,
    });
    println!("{}", serde_json::to_string_pretty(&output)?);
    eprintln!("Keep the api_key now: only its hash is stored, it cannot be shown again.");
    Ok(())
}

fn parse_policy(text: &str) -> Result<InactiveUserPolicy, String> {
    InactiveUserPolicy::parse(text).ok_or_else(|| format!("{text:?} is not delete or retain"))
}

/// Stores a new key's hash for `environment` and returns the key.
async fn create_api_key(store: &Store, environment: &EnvironmentId) -> Result<String, StoreError> {
    let key = secrets::generate(API_KEY_PREFIX);
    store
        .put_api_key(NewApiKey::new(
            *environment,
            "dsync-admin",
            &key.plain,
            now_millis(),
        ))
        .await?;
    Ok(key.plain)
}
