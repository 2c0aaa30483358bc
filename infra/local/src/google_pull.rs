//! Google Workspace pulls on the reconciliation schedule, as the policy function's scheduled
//! invocation runs them on AWS.

use std::time::Duration;

use dsync_dynamo::Store;

/// Pulls every connected Google Workspace directory every `every`.
pub fn pull_every(
    google: dsync_google::Google,
    store: Store,
    policy: dsync_policy::App,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await; // the first tick is immediate; the first pull waits a period
        loop {
            interval.tick().await;
            let clock = || policy.now();
            if let Err(error) = dsync_google::pull_all(&google, &store, &clock, None).await {
                tracing::error!(%error, "google workspace pull failed");
            }
        }
    })
}

/// Runs the pulls Google's push notifications request: at once when `wake` is notified (the
/// notification route does), and every minute for requests left while another pull held
/// the directory, as the policy function's one-minute schedule does on AWS.
pub fn pull_requested_on(
    google: dsync_google::Google,
    store: Store,
    policy: dsync_policy::App,
    wake: std::sync::Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            }
            let clock = || policy.now();
            if let Err(error) = dsync_google::pull_requested(&google, &store, &clock, None).await {
                tracing::error!(%error, "requested google workspace pull failed");
            }
        }
    })
}
