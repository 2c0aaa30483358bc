//! Settings read once at start-up.

use std::time::Duration;

use dsync_domain::webhooks::attempt::{lease_for, DEFAULT_ATTEMPT_TIMEOUT};
use dsync_domain::webhooks::schedule::parse_duration;
use dsync_domain::webhooks::{AddressPolicy, RetrySchedule};

#[derive(Debug, Clone)]
pub struct Config {
    /// Delays before each retry (`DSYNC_WEBHOOK_RETRY_SCHEDULE`, e.g. `1s,1s,1s`).
    pub schedule: RetrySchedule,
    /// How long a receiver has to answer (`DSYNC_WEBHOOK_TIMEOUT`); 15 s.
    pub timeout: Duration,
    /// How long a stream batch waits for its first attempts before it returns and leaves the
    /// unfinished ones to the sweep (`DSYNC_WEBHOOK_INLINE_BUDGET`); 5 s. Bounds how long one
    /// slow endpoint can hold the stream.
    pub inline_budget: Duration,
    /// What endpoints may point at besides public HTTPS (`DSYNC_WEBHOOK_ALLOW`).
    pub addresses: AddressPolicy,
    /// Attempts in flight at once, over all endpoints.
    pub concurrency: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            schedule: RetrySchedule::default(),
            timeout: DEFAULT_ATTEMPT_TIMEOUT,
            inline_budget: Duration::from_secs(5),
            addresses: AddressPolicy::strict(),
            concurrency: 32,
        }
    }
}

impl Config {
    pub fn from_env() -> Result<Self, String> {
        let mut config = Self::default();
        if let Ok(text) = std::env::var("DSYNC_WEBHOOK_RETRY_SCHEDULE") {
            config.schedule = RetrySchedule::parse(&text)
                .map_err(|e| format!("DSYNC_WEBHOOK_RETRY_SCHEDULE: {e}"))?;
        }
        if let Ok(text) = std::env::var("DSYNC_WEBHOOK_TIMEOUT") {
            config.timeout =
                parse_duration(&text).map_err(|e| format!("DSYNC_WEBHOOK_TIMEOUT: {e}"))?;
        }
        if let Ok(text) = std::env::var("DSYNC_WEBHOOK_INLINE_BUDGET") {
            config.inline_budget =
                parse_duration(&text).map_err(|e| format!("DSYNC_WEBHOOK_INLINE_BUDGET: {e}"))?;
        }
        if let Ok(text) = std::env::var("DSYNC_WEBHOOK_ALLOW") {
            config.addresses =
                AddressPolicy::parse(&text).map_err(|e| format!("DSYNC_WEBHOOK_ALLOW: {e}"))?;
        }
        Ok(config)
    }

    /// How long an attempt holds its delivery: past this, the sweep may assume the attempt
    /// was lost (its process died) and try again.
    pub fn lease(&self) -> Duration {
        lease_for(self.timeout)
    }
}
