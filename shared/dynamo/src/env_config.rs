//! The functions' AWS settings, from the environment Lambda gives every function: the region
//! (`AWS_REGION`) and the execution role's credentials (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), valid for the life of the sandbox. That is
//! all the standard chain would find there, so the functions do without `aws-config` and the
//! clients it links for profiles, SSO, web identity and instance metadata.
//!
//! Nothing here does I/O: it runs before the function's first request to the Runtime API.

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::Client;

use crate::client::{https_client, is_local_endpoint, local_config, SdkConfig};

/// A DynamoDB endpoint to use instead of AWS's (`http://127.0.0.1:8000` for a local engine).
pub const ENDPOINT_VARIABLE: &str = "DSYNC_DYNAMODB_ENDPOINT";

/// Why the environment does not name a usable AWS set-up. The function stops at start-up with
/// this message rather than failing every request later.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvConfigError {
    #[error("{0} is not set: the functions read their region and credentials from the environment Lambda provides (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)")]
    Missing(&'static str),
}

/// The settings `env` names (`std::env::var` in a function; a map in tests): a loopback
/// endpoint gets the static `local` credentials, as [`crate::ConnectOptions`] does; anything
/// else (AWS itself, or another endpoint) needs the region and the credentials.
pub fn env_config(env: impl Fn(&str) -> Option<String>) -> Result<SdkConfig, EnvConfigError> {
    // Lambda's console leaves a cleared variable as an empty string.
    let var = |name: &str| env(name).filter(|value| !value.trim().is_empty());
    let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"));
    let endpoint = var(ENDPOINT_VARIABLE).map(|endpoint| endpoint.trim().to_owned());
    if let Some(endpoint) = &endpoint {
        if is_local_endpoint(endpoint) {
            return Ok(local_config(endpoint.clone(), region));
        }
    }
    let region = region.ok_or(EnvConfigError::Missing("AWS_REGION"))?;
    let access_key =
        var("AWS_ACCESS_KEY_ID").ok_or(EnvConfigError::Missing("AWS_ACCESS_KEY_ID"))?;
    let secret =
        var("AWS_SECRET_ACCESS_KEY").ok_or(EnvConfigError::Missing("AWS_SECRET_ACCESS_KEY"))?;
    // No expiry: the role's session outlives the sandbox, and nothing could renew it anyway.
    let credentials = Credentials::new(
        access_key,
        secret,
        var("AWS_SESSION_TOKEN"),
        None,
        "Environment",
    );
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials));
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    Ok(builder.build())
}

/// The DynamoDB client of a function, from the process environment.
pub fn connect_from_env() -> Result<Client, EnvConfigError> {
    Ok(Client::new(&env_config(|name| std::env::var(name).ok())?))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_credential_types::provider::ProvideCredentials;

    use super::*;

    fn config_of(vars: &[(&str, &str)]) -> Result<SdkConfig, EnvConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        env_config(|name| vars.get(name).cloned())
    }

    async fn credentials_of(config: &SdkConfig) -> Credentials {
        config
            .credentials_provider()
            .expect("a credentials provider")
            .provide_credentials()
            .await
            .expect("credentials")
    }

    const LAMBDA: &[(&str, &str)] = &[
        ("AWS_REGION", "eu-west-3"),
        ("AWS_DEFAULT_REGION", "us-west-2"),
        ("AWS_ACCESS_KEY_ID", "ASIADSYNCTEST"),
        ("AWS_SECRET_ACCESS_KEY", "dsync-test-secret"),
        ("AWS_SESSION_TOKEN", "dsync-test-token"),
    ];

    #[tokio::test]
    async fn lambdas_environment_gives_the_region_and_the_roles_credentials() {
        let config = config_of(LAMBDA).expect("a config");
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-3"));
        assert_eq!(config.endpoint_url(), None);
        let credentials = credentials_of(&config).await;
        assert_eq!(credentials.access_key_id(), "ASIADSYNCTEST");
        assert_eq!(credentials.secret_access_key(), "dsync-test-secret");
        assert_eq!(credentials.session_token(), Some("dsync-test-token"));
    }

    #[tokio::test]
    async fn a_remote_endpoint_is_used_with_the_environments_credentials() {
        let mut vars = LAMBDA.to_vec();
        vars.push((ENDPOINT_VARIABLE, " https://dynamodb.example.com:8443 "));
        let config = config_of(&vars).expect("a config");
        assert_eq!(
            config.endpoint_url(),
            Some("https://dynamodb.example.com:8443")
        );
        assert_eq!(
            credentials_of(&config).await.access_key_id(),
            "ASIADSYNCTEST"
        );
    }

    #[tokio::test]
    async fn a_loopback_endpoint_gets_local_credentials_and_needs_nothing_else() {
        let config = config_of(&[(ENDPOINT_VARIABLE, "http://127.0.0.1:8000")]).expect("a config");
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:8000"));
        assert_eq!(config.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(credentials_of(&config).await.access_key_id(), "local");
        // The role's credentials stay out of a local engine's logs.
        let mut vars = LAMBDA.to_vec();
        vars.push((ENDPOINT_VARIABLE, "http://localhost:8000"));
        let config = config_of(&vars).expect("a config");
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-3"));
        assert_eq!(credentials_of(&config).await.access_key_id(), "local");
    }

    #[test]
    fn the_default_region_variable_is_the_fallback() {
        let vars: Vec<_> = LAMBDA
            .iter()
            .filter(|(n, _)| *n != "AWS_REGION")
            .copied()
            .collect();
        let config = config_of(&vars).expect("a config");
        assert_eq!(config.region().map(|r| r.as_ref()), Some("us-west-2"));
    }

    #[tokio::test]
    async fn the_session_token_is_optional() {
        let vars: Vec<_> = LAMBDA
            .iter()
            .filter(|(n, _)| *n != "AWS_SESSION_TOKEN")
            .copied()
            .collect();
        let config = config_of(&vars).expect("a config");
        assert_eq!(credentials_of(&config).await.session_token(), None);
    }

    #[test]
    fn missing_or_empty_settings_are_named_in_the_error() {
        for (absent, named) in [
            (&["AWS_REGION", "AWS_DEFAULT_REGION"][..], "AWS_REGION"),
            (&["AWS_ACCESS_KEY_ID"][..], "AWS_ACCESS_KEY_ID"),
            (&["AWS_SECRET_ACCESS_KEY"][..], "AWS_SECRET_ACCESS_KEY"),
        ] {
            let vars: Vec<_> = LAMBDA
                .iter()
                .filter(|(n, _)| !absent.contains(n))
                .copied()
                .collect();
            let error = config_of(&vars).expect_err("incomplete");
            assert_eq!(error, EnvConfigError::Missing(named));
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("{named} is not set")),
                "{error}"
            );
            // Empty counts as unset.
            let mut emptied = LAMBDA.to_vec();
            for name in absent {
                emptied.retain(|(n, _)| n != name);
                emptied.push((name, "  "));
            }
            assert_eq!(
                config_of(&emptied).expect_err("empty"),
                EnvConfigError::Missing(named)
            );
        }
        // A remote endpoint needs them as much as AWS does.
        let error = config_of(&[(ENDPOINT_VARIABLE, "http://10.0.0.5:8000")]).expect_err("none");
        assert_eq!(error, EnvConfigError::Missing("AWS_REGION"));
    }

    #[test]
    fn no_secret_is_in_the_config_debug_output() {
        let config = config_of(LAMBDA).expect("a config");
        let printed = format!("{config:?}");
        assert!(!printed.contains("dsync-test-secret"), "{printed}");
        assert!(!printed.contains("dsync-test-token"), "{printed}");
    }
}
