//! Building the DynamoDB client. The functions read region and credentials from the
//! environment Lambda gives them ([`crate::env_config`]); the local tools, with the
//! `standard-chain` feature, use the standard AWS chain (a profile, SSO, environment
//! variables, instance metadata) for any endpoint that is not on this machine. An endpoint on
//! loopback (the embedded engine, DynamoDB Local) gets static `local` credentials either way.

use std::net::IpAddr;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::Client;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

pub use aws_types::SdkConfig;

/// The region a local endpoint is given when none is named (a local engine ignores it).
pub(crate) const LOCAL_REGION: &str = "us-east-1";

#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// `http://127.0.0.1:8000`; `None` uses the AWS endpoint for the region.
    pub endpoint: Option<String>,
    /// `None`: the standard chain's region (`AWS_REGION`, the profile), else `us-east-1`.
    pub region: Option<String>,
}

/// The region the standard AWS chain names (`AWS_REGION`, `AWS_DEFAULT_REGION`, the profile in
/// `~/.aws/config`, instance metadata), if any.
#[cfg(feature = "standard-chain")]
pub async fn default_region() -> Option<String> {
    use aws_config::environment::region::EnvironmentVariableRegionProvider;
    use aws_config::meta::region::RegionProviderChain;
    use aws_config::profile::ProfileFileRegionProvider;
    use aws_config::provider_config::ProviderConfig;
    // The SDK's default chain, spelled out so instance metadata is asked through
    // `https_client()` (there is no built-in client to fall back on).
    let imds = aws_config::imds::region::Builder::default()
        .configure(&ProviderConfig::default().with_http_client(https_client()))
        .build();
    RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(ProfileFileRegionProvider::builder().build())
        .or_else(imds)
        .region()
        .await
        .map(|region| region.to_string())
}

/// Whether `endpoint` is served from this machine: its host is `localhost` (or a name under
/// it) or a loopback address. Only such an endpoint gets the static `local` credentials; a
/// real DynamoDB behind any other host needs the caller's own.
pub fn is_local_endpoint(endpoint: &str) -> bool {
    let rest = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The HTTPS client every AWS SDK client of the process is given: the SDK's own hyper
/// client on rustls with ring, the crypto reqwest already links, so no function also carries
/// aws-lc. It is built lazily: its TLS set-up reads and parses the system's root certificates
/// (about 150 files on a Linux host, several milliseconds), and the SDK would do that when a
/// client is constructed, before a Lambda function first asks the Runtime API for an event.
/// Deferred, the first DynamoDB call pays it once per process instead. This was preferred to
/// a compiled-in root store: the SDK's trust store takes only PEM (a bundle to embed and parse,
/// which costs size and still runs at start-up), and a connector of our own would duplicate
/// the SDK's TLS settings.
pub fn https_client() -> SharedHttpClient {
    SharedHttpClient::new(Deferred(
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https(),
    ))
}

/// An HTTP client that builds its connector on the first request. The SDK's hyper client
/// builds one in `validate_base_client_config` (at client construction, to load the root
/// certificates early); not passing that call on is what defers it. Its connectors are still
/// made and cached by `http_connector`, on first use.
#[derive(Debug)]
struct Deferred(SharedHttpClient);

impl HttpClient for Deferred {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// Settings for a local engine, which accepts any signature: real credentials would only
/// leak into its logs.
pub(crate) fn local_config(endpoint: String, region: Option<String>) -> SdkConfig {
    let region = region.unwrap_or_else(|| LOCAL_REGION.to_owned());
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .region(Region::new(region))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "local", "local", None, None, "dsync",
        )))
        .build()
}

/// The shared AWS configuration every client of the process is built from (the DynamoDB
/// client here, the streams client of the local runner).
#[cfg(feature = "standard-chain")]
pub async fn sdk_config(options: ConnectOptions) -> SdkConfig {
    match options.endpoint {
        Some(endpoint) if is_local_endpoint(&endpoint) => local_config(endpoint, options.region),
        endpoint => {
            let region = match options.region {
                Some(region) => region,
                None => default_region()
                    .await
                    .unwrap_or_else(|| LOCAL_REGION.to_owned()),
            };
            let mut loader = aws_config::defaults(BehaviorVersion::latest())
                .http_client(https_client())
                .region(Region::new(region));
            if let Some(endpoint) = endpoint {
                loader = loader.endpoint_url(endpoint);
            }
            loader.load().await
        }
    }
}

#[cfg(feature = "standard-chain")]
pub async fn connect(options: ConnectOptions) -> Client {
    client_from(&sdk_config(options).await)
}

/// A DynamoDB client from settings already loaded (shared with other clients).
pub fn client_from(config: &SdkConfig) -> Client {
    Client::new(config)
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "standard-chain")]
    use aws_credential_types::provider::ProvideCredentials;

    use super::*;

    #[test]
    fn only_loopback_hosts_count_as_local() {
        for local in [
            "http://127.0.0.1:8000",
            "http://127.1.2.3",
            "http://localhost:8000/",
            "https://LOCALHOST",
            "http://dynamo.localhost:4566",
            "http://[::1]:8000",
            "http://user:pw@127.0.0.1:8000",
            "127.0.0.1:8000",
        ] {
            assert!(is_local_endpoint(local), "{local}");
        }
        for remote in [
            "https://dynamodb.eu-west-1.amazonaws.com",
            "http://10.0.0.5:8000",
            "http://dynamodb-local:8000",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
            "http://[2001:db8::1]:8000",
            "http://0.0.0.0:8000",
            "",
        ] {
            assert!(!is_local_endpoint(remote), "{remote}");
        }
    }

    #[cfg(feature = "standard-chain")]
    async fn access_key_of(options: ConnectOptions) -> String {
        let provider = sdk_config(options)
            .await
            .credentials_provider()
            .expect("a credentials provider");
        provider
            .provide_credentials()
            .await
            .expect("credentials")
            .access_key_id()
            .to_owned()
    }

    #[cfg(feature = "standard-chain")]
    // The only test of this crate that touches the process environment: it sets the
    // standard chain's variables and checks which endpoints read them.
    #[tokio::test]
    async fn a_remote_endpoint_uses_the_standard_chain_and_a_local_one_does_not() {
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDDSYNCTEST");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "dsync-test-secret");
        std::env::set_var("AWS_REGION", "eu-west-3");
        let remote = ConnectOptions {
            endpoint: Some("https://dynamodb.eu-west-3.amazonaws.com".into()),
            region: None,
        };
        assert_eq!(access_key_of(remote.clone()).await, "AKIDDSYNCTEST");
        let config = sdk_config(remote).await;
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-3"));
        let local = ConnectOptions {
            endpoint: Some("http://127.0.0.1:8000".into()),
            region: None,
        };
        assert_eq!(access_key_of(local).await, "local");
    }
}
