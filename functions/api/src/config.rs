//! Settings read once at start-up.

use dsync_domain::webhooks::AddressPolicy;

/// 1 MiB: management requests are small; anything larger is refused before parsing.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Config {
    /// Larger bodies are refused with 413 before they are parsed.
    pub max_body_bytes: usize,
    /// `https://dsync.example.com`: the origin SCIM base URLs are built on. When absent it
    /// comes from the request's `Host` (and `X-Forwarded-Proto`).
    pub public_base_url: Option<String>,
    /// How long `DELETE /directories/{id}` spends removing the directory's records before it
    /// answers; what is left is finished later (see `Store::resume_directory_purges`).
    pub purge_budget: std::time::Duration,
    /// Which webhook endpoint URLs are accepted besides public HTTPS ones. Strict by default:
    /// an API key must not become a way to make our servers call into a private network.
    pub webhook_addresses: AddressPolicy,
    /// How on-demand BambooHR re-syncs run: BambooHR's API origin (tests and the local
    /// runner point it at a fake), backoff, lease.
    pub bamboohr: dsync_provider_webhooks::hr::resync::ResyncConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            public_base_url: None,
            // API Gateway gives up on a request after 29 s.
            purge_budget: std::time::Duration::from_secs(10),
            webhook_addresses: AddressPolicy::strict(),
            bamboohr: Default::default(),
        }
    }
}

impl Config {
    /// From `DSYNC_MAX_BODY_BYTES`, `DSYNC_PUBLIC_BASE_URL`, `DSYNC_BAMBOOHR_BASE_URL` and
    /// `DSYNC_WEBHOOK_ALLOW`
    /// (`loopback,private,http`, any of them; unset or empty is strict).
    pub fn from_env() -> Result<Self, String> {
        let mut config = Self::default();
        if let Ok(value) = std::env::var("DSYNC_MAX_BODY_BYTES") {
            config.max_body_bytes = value
                .parse()
                .map_err(|_| format!("DSYNC_MAX_BODY_BYTES is not a number: {value}"))?;
        }
        config.public_base_url = std::env::var("DSYNC_PUBLIC_BASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
            .map(|url| url.trim_end_matches('/').to_owned());
        if let Ok(url) = std::env::var("DSYNC_BAMBOOHR_BASE_URL") {
            if !url.trim().is_empty() {
                config.bamboohr.base_url = url.trim().trim_end_matches('/').to_owned();
            }
        }
        if let Ok(value) = std::env::var("DSYNC_WEBHOOK_ALLOW") {
            config.webhook_addresses = AddressPolicy::parse(&value)
                .map_err(|e| format!("DSYNC_WEBHOOK_ALLOW is not valid: {e}"))?;
        }
        Ok(config)
    }
}
