//! Lambda entry point: DynamoDB stream batches of the events table, and the scheduled retry
//! sweep (`{"action": "sweep"}`).

use std::time::Duration;

use dsync_domain::time::stop_before;
use dsync_dynamo::{connect_from_env, Store, TableNames};
use dsync_fanout::{stream, sweep, App, Config};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

/// Stop starting new attempts this long before Lambda's deadline: one attempt's timeout and
/// its recording must fit.
const SAFETY_MARGIN: Duration = Duration::from_secs(25);

#[tokio::main]
async fn main() -> Result<(), Error> {
    dsync_dynamo::init_lambda_logging();
    let config = Config::from_env()?;
    let client = connect_from_env()?;
    let app = App::new(Store::new(client, TableNames::from_env()), config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let app = app.clone();
        // Boxed: the handler's future is deep enough that laying it out inline inside the
        // runtime's future overflows rustc's query depth limit.
        async move { Box::pin(dispatch(&app, event)).await }
    }))
    .await
}

async fn dispatch(app: &App, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    if payload.get("Records").is_some() {
        let batch = serde_json::from_value(payload)?;
        return Ok(serde_json::to_value(
            stream::handle_batch(app, batch).await,
        )?);
    }
    let report = sweep::run(app, Some(stop_before(context.deadline, SAFETY_MARGIN))).await?;
    Ok(json!({
        "attempted": report.attempted,
        "delivered": report.delivered,
        "abandoned": report.abandoned,
    }))
}
