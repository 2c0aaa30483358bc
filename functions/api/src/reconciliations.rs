//! `POST /reconciliations` (optional body `{"directory_id": …}`) → 202 with the run;
//! `GET /reconciliations/{id}` → the run with its `state` (pending, running, completed,
//! failed) and `counts`; `GET /reconciliations` → every run, the scheduled ones included,
//! newest first and paged, so a failed scheduled run shows through the API.

use bytes::Bytes;
use dsync_domain::ids::{DirectoryId, ReconciliationId};
use dsync_dynamo::Reconciliation;
use http::{Method, Response, StatusCode};

use crate::error::{found, stored, ApiError};
use crate::query::cursors;
use crate::route::{Context, Route};
use crate::{body, directories, objects, respond};

pub async fn serve(ctx: &Context<'_>, route: &Route) -> Result<Response<Bytes>, ApiError> {
    match route {
        Route::Reconciliation(id) => get_run(ctx, id).await,
        _ if ctx.method() == Method::GET => list_runs(ctx).await,
        _ => create_run(ctx).await,
    }
}

async fn create_run(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let map = body::optional_object(ctx.body(), &["directory_id"])?.unwrap_or_default();
    let directory = match body::optional_string(&map, "directory_id", 128)? {
        None => None,
        Some(text) => {
            let id = DirectoryId::parse(text)
                .map_err(|e| ApiError::invalid(format!("directory_id is {e}")))?;
            // Only a directory of this environment can be reconciled.
            directories::load(ctx, &id).await?;
            Some(id)
        }
    };
    let run = request(ctx, directory).await?;
    Ok(respond::json(
        StatusCode::ACCEPTED,
        &objects::reconciliation(&run),
    ))
}

/// Creates a pending run (of one directory, or of the whole environment) and wakes the policy
/// function where it can be woken; the schedule picks the run up otherwise.
pub async fn request(
    ctx: &Context<'_>,
    directory: Option<DirectoryId>,
) -> Result<Reconciliation, ApiError> {
    let run = stored(
        ctx.app
            .store
            .create_reconciliation(ctx.environment, directory, ctx.app.now())
            .await,
    )?;
    tracing::info!(reconciliation_id = %run.id, environment_id = %ctx.environment, "reconciliation requested");
    if let Some(trigger) = &ctx.app.reconcile_trigger {
        trigger(run.id);
    }
    Ok(run)
}

async fn get_run(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ApiError> {
    let run_id =
        ReconciliationId::parse(id).map_err(|_| ApiError::not_found("reconciliation", id))?;
    // The run's key is under the environment: another environment's run is simply absent.
    let run = found(
        ctx.app
            .store
            .get_reconciliation(&ctx.environment, &run_id)
            .await,
        "reconciliation",
        id,
    )?;
    Ok(respond::ok(&objects::reconciliation(&run)))
}

/// `GET /reconciliations?limit=&before=&after=&order=`: one consistent Query of the
/// environment's runs, newest first by default.
async fn list_runs(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let window = ctx.query.window(ReconciliationId::parse)?;
    let page = stored(
        ctx.app
            .store
            .list_reconciliations(&ctx.environment, &window)
            .await,
    )?;
    let (before, after) = cursors(&page, |run| run.id.to_string());
    Ok(respond::list(
        page.items.iter().map(objects::reconciliation).collect(),
        before,
        after,
    ))
}
