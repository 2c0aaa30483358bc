//! Building the DynamoDB client: the default AWS chain in Lambda, or a named endpoint (the
//! embedded engine, DynamoDB Local, a moto server) with static local credentials.

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::Client;

#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// `http://127.0.0.1:8000`; `None` uses the AWS endpoint for the region.
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

/// The region the standard AWS chain names (`AWS_REGION`, `AWS_DEFAULT_REGION`, the profile in
/// `~/.aws/config`, instance metadata), if any.
pub async fn default_region() -> Option<String> {
    aws_config::meta::region::RegionProviderChain::default_provider()
        .region()
        .await
        .map(|region| region.to_string())
}

pub async fn connect(options: ConnectOptions) -> Client {
    let region = Region::new(options.region.unwrap_or_else(|| "us-east-1".to_owned()));
    match options.endpoint {
        Some(endpoint) => {
            // A local engine accepts any signature; real credentials would only leak into logs.
            let config = aws_sdk_dynamodb::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(region)
                .endpoint_url(endpoint)
                .credentials_provider(Credentials::new("local", "local", None, None, "dsync"))
                .build();
            Client::from_conf(config)
        }
        None => {
            let shared = aws_config::defaults(BehaviorVersion::latest())
                .region(region)
                .load()
                .await;
            Client::new(&shared)
        }
    }
}
