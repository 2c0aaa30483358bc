//! BambooHR re-syncs on the reconciliation schedule, as the policy function's scheduled
//! `resync_hr` invocation runs them on AWS.

use std::time::Duration;

use dsync_dynamo::{Sealer, Store};
use dsync_provider_webhooks::hr::resync::ResyncConfig;

/// Re-syncs every due BambooHR directory every `every`.
pub fn resync_every(
    config: ResyncConfig,
    sealer: Sealer,
    store: Store,
    policy: dsync_policy::App,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await; // the first tick is immediate; the first run waits a period
        loop {
            interval.tick().await;
            let clock = || policy.now();
            let result = dsync_provider_webhooks::hr::schedule::resync_due(
                &store,
                Some(&sealer),
                &config,
                &clock,
                None,
            )
            .await;
            if let Err(error) = result {
                tracing::error!(%error, "bamboohr re-sync schedule failed");
            }
        }
    })
}
