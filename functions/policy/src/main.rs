//! Lambda entry point: DynamoDB stream batches of provider records, scheduled reconciliation
//! events (`{"action": "reconcile_unfinished" | "reconcile_everything"}`), and the scheduled
//! Google Workspace pulls (`{"action": "pull_google"}`: every directory;
//! `{"action": "pull_google_requested"}`: those a push notification asked for) and BambooHR
//! re-syncs (`{"action": "resync_hr"}`), which write provider records the stream then brings
//! back here.

// The reconciliation future nests deeply (pages → projections → transactions).
#![recursion_limit = "256"]

use std::time::Duration;

use dsync_domain::time::stop_before;
use dsync_dynamo::{connect_from_env, Store, TableNames};
use dsync_policy::{reconcile, stream, App};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

/// Stop starting new pages this long before Lambda's deadline.
const SAFETY_MARGIN: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> Result<(), Error> {
    dsync_dynamo::init_lambda_logging();
    let client = connect_from_env()?;
    let app = App::new(Store::new(client, TableNames::from_env()))
        .with_context_cache(context_cache_from_env()?);
    let google = dsync_google::from_env()?;
    let hr = HrResync::from_env()?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (app, google, hr) = (app.clone(), google.clone(), hr.clone());
        async move {
            match event.payload.get("action").and_then(Value::as_str) {
                Some("pull_google") => {
                    Box::pin(pull_google(&app, google.as_ref(), event, false)).await
                }
                Some("pull_google_requested") => {
                    Box::pin(pull_google(&app, google.as_ref(), event, true)).await
                }
                Some("resync_hr") => Box::pin(resync_hr(&app, &hr, event)).await,
                _ => dispatch(&app, event).await,
            }
        }
    }))
    .await
}

/// `DSYNC_POLICY_CONTEXT_CACHE_MS` (milliseconds; 0 reads the context in every batch), or
/// [`dsync_policy::CONTEXT_CACHE`].
fn context_cache_from_env() -> Result<Duration, String> {
    match std::env::var("DSYNC_POLICY_CONTEXT_CACHE_MS") {
        Err(_) => Ok(dsync_policy::CONTEXT_CACHE),
        Ok(value) => value
            .trim()
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("DSYNC_POLICY_CONTEXT_CACHE_MS is not a number: {value}")),
    }
}

/// What the scheduled BambooHR re-sync needs, read once at start-up.
#[derive(Clone)]
struct HrResync {
    sealer: Option<dsync_dynamo::Sealer>,
    config: dsync_provider_webhooks::hr::resync::ResyncConfig,
}

impl HrResync {
    /// The sealing key (HR secrets are sealed with it) and `DSYNC_BAMBOOHR_BASE_URL`.
    fn from_env() -> Result<Self, String> {
        let mut config = dsync_provider_webhooks::hr::resync::ResyncConfig::default();
        if let Ok(url) = std::env::var("DSYNC_BAMBOOHR_BASE_URL") {
            if !url.trim().is_empty() {
                config.base_url = url.trim().trim_end_matches('/').to_owned();
            }
        }
        Ok(Self {
            sealer: dsync_dynamo::Sealer::from_env()?,
            config,
        })
    }
}

/// Re-syncs every BambooHR directory that is due until shortly before Lambda's deadline;
/// the next scheduled invocation resumes from the checkpoints.
async fn resync_hr(app: &App, hr: &HrResync, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let deadline = stop_before(event.context.deadline, SAFETY_MARGIN);
    let clock = || app.now();
    let done = dsync_provider_webhooks::hr::schedule::resync_due(
        &app.store,
        hr.sealer.as_ref(),
        &hr.config,
        &clock,
        Some(deadline),
    )
    .await?;
    let summary: Vec<Value> = done
        .iter()
        .map(|d| json!({"directory_id": d.directory_id.to_string(), "end": format!("{:?}", d.end.as_ref().map_err(ToString::to_string))}))
        .collect();
    Ok(json!({ "resynced": summary }))
}

/// Pulls every Google Workspace directory (or, `requested`, those a push notification
/// marked) until shortly before Lambda's deadline; the next scheduled invocation resumes
/// from the checkpoints.
async fn pull_google(
    app: &App,
    google: Option<&dsync_google::Google>,
    event: LambdaEvent<Value>,
    requested: bool,
) -> Result<Value, Error> {
    let Some(google) = google else {
        tracing::warn!("pull_google scheduled but DSYNC_GOOGLE_SEALING_KEY is not set");
        return Ok(json!({ "pulled": [] }));
    };
    let deadline = stop_before(event.context.deadline, SAFETY_MARGIN);
    let clock = || app.now();
    let ends = if requested {
        dsync_google::pull_requested(google, &app.store, &clock, Some(deadline)).await?
    } else {
        dsync_google::pull_all(google, &app.store, &clock, Some(deadline)).await?
    };
    Ok(
        json!({ "pulled": ends.iter().map(|(d, end)| json!({"directory_id": d.to_string(), "end": format!("{end:?}")})).collect::<Vec<_>>() }),
    )
}

async fn dispatch(app: &App, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    if payload.get("Records").is_some() {
        let batch = serde_json::from_value(payload)?;
        return Ok(serde_json::to_value(
            stream::handle_batch(app, batch).await,
        )?);
    }
    let deadline = stop_before(context.deadline, SAFETY_MARGIN);
    let runs = match payload.get("action").and_then(Value::as_str) {
        Some("reconcile_everything") => {
            reconcile::reconcile_everything(app, Some(deadline)).await?
        }
        _ => reconcile::run_unfinished(app, Some(deadline)).await?,
    };
    Ok(
        json!({ "reconciliations": runs.iter().map(|r| json!({"id": r.id.to_string(), "state": r.state.as_str()})).collect::<Vec<_>>() }),
    )
}
