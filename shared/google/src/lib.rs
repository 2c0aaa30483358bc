//! Google Workspace directories: credentials sealed at rest ([`seal`], [`credentials`]) and
//! the pull through the Admin SDK Directory API ([`api`], [`pull`]) that writes the same
//! provider records the SCIM endpoint writes, so the policy function, the events and the
//! fan-out work for Google directories unchanged.

pub mod api;
pub mod credentials;
pub mod jwt;
pub mod pull;
pub mod push;
/// Sealing moved to `dsync-seal` (HR secrets use it too); the format is unchanged.
pub mod seal {
    pub use dsync_seal::{SealError, Sealer};
}

/// A throwaway RSA key (PKCS#8 PEM) that grants nothing anywhere: tests sign with it and the
/// fake of Google's token endpoint checks signatures with its public half.
#[cfg(feature = "test-support")]
pub const TEST_KEY_PEM: &str = include_str!("../testdata/test-service-account-key.pem");

use std::sync::Arc;

pub use api::Backoff;
pub use credentials::{Credentials, CredentialsError};
pub use pull::{pull_all, pull_directory, PullEnd};
pub use push::{pull_requested, stop_channels};
pub use seal::{SealError, Sealer};

/// Where Google is: configurable so tests (and air-gapped setups) use a local fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `https://admin.googleapis.com`: the Admin SDK Directory API's origin.
    pub directory_api: String,
    /// `https://oauth2.googleapis.com/token`: the OAuth token endpoint (the assertion's `aud`).
    /// The key file's own `token_uri` is ignored, so a key cannot point the service elsewhere.
    pub token_url: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            directory_api: "https://admin.googleapis.com".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
        }
    }
}

impl Endpoints {
    /// From `DSYNC_GOOGLE_DIRECTORY_API` and `DSYNC_GOOGLE_TOKEN_URL`, else Google's.
    pub fn from_env() -> Self {
        let mut endpoints = Self::default();
        if let Ok(url) = std::env::var("DSYNC_GOOGLE_DIRECTORY_API") {
            if !url.is_empty() {
                endpoints.directory_api = url.trim_end_matches('/').to_owned();
            }
        }
        if let Ok(url) = std::env::var("DSYNC_GOOGLE_TOKEN_URL") {
            if !url.is_empty() {
                endpoints.token_url = url;
            }
        }
        endpoints
    }
}

/// The sealing key on AWS (see [`dsync_seal::SEALING_KEY_VARIABLE`]): the template passes
/// it as a function environment variable encrypted with its own KMS key (the functions'
/// `KmsKeyArn`), which only the functions that seal or open secrets may decrypt.
pub const SEALING_KEY_VARIABLE: &str = dsync_seal::SEALING_KEY_VARIABLE;

/// From the environment: `None` when no sealing key is set (Google Workspace directories are
/// then refused), an error when one is set but is not 32 bytes of base64.
pub fn from_env() -> Result<Option<Google>, String> {
    Ok(Sealer::from_env()?.map(|sealer| {
        let mut google = Google::new(Endpoints::from_env(), sealer);
        google.push_base_url = push_base_url(std::env::var(PUSH_BASE_URL_VARIABLE).ok());
        google
    }))
}

/// Where Google's push notifications are received: the public origin of the
/// provider-webhooks function (`https://dsync.example.com`). Unset: no channels are opened.
pub const PUSH_BASE_URL_VARIABLE: &str = "DSYNC_GOOGLE_PUSH_BASE_URL";

/// Empty or blank means "not set"; a trailing slash is dropped.
fn push_base_url(value: Option<String>) -> Option<String> {
    let url = value?.trim().trim_end_matches('/').to_owned();
    (!url.is_empty()).then_some(url)
}

/// Everything a pull or a credentials change needs, built once per process.
#[derive(Clone, Debug)]
pub struct Google {
    pub endpoints: Endpoints,
    pub sealer: Arc<Sealer>,
    pub backoff: Backoff,
    pub http: dsync_dynamo::Outbound,
    /// The origin Google delivers push notifications to; `None`: no push, pulls only.
    pub push_base_url: Option<String>,
}

impl Google {
    pub fn new(endpoints: Endpoints, sealer: Sealer) -> Self {
        // No redirects followed (a token must not go to another host), 30 s per call.
        let http = dsync_dynamo::Outbound::new(std::time::Duration::from_secs(30));
        Self {
            endpoints,
            sealer: Arc::new(sealer),
            backoff: Backoff::default(),
            http,
            push_base_url: None,
        }
    }

    /// Seals credentials for `directory` (the directory id is bound into the ciphertext).
    pub fn seal(
        &self,
        directory: &dsync_domain::ids::DirectoryId,
        credentials: &Credentials,
    ) -> Result<Vec<u8>, SealError> {
        let plain = serde_json::to_vec(credentials).map_err(|_| SealError::Seal)?;
        self.sealer.seal(&directory.to_string(), &plain)
    }

    pub fn open(
        &self,
        directory: &dsync_domain::ids::DirectoryId,
        sealed: &[u8],
    ) -> Result<Credentials, SealError> {
        let plain = self.sealer.open(&directory.to_string(), sealed)?;
        serde_json::from_slice(&plain).map_err(|_| SealError::Open)
    }
}
