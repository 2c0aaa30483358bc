//! `POST /reconciliations` (optional body `{"directory_id": …}`) → 202 with a new run, or
//! 200 with the environment's run already pending or running (requests coalesce: at most one
//! run per environment is unfinished);
//! `GET /reconciliations/{id}` → the run with its `state` (pending, running, completed,
//! failed) and `counts`; `GET /reconciliations` → every run, the scheduled ones included,
//! newest first and paged, so a failed scheduled run shows through the API.

use bytes::Bytes;
use dsync_domain::ids::{DirectoryId, ReconciliationId};
use dsync_dynamo::RequestedRun;
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
    let requested = request(ctx, directory).await?;
    let status = if requested.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(respond::json(
        status,
        &objects::reconciliation(&requested.run),
    ))
}

/// A run of one directory, or of the whole environment, unless one of the environment is
/// already pending or running (requests coalesce): then that one. A new run wakes the policy
/// function where it can be woken; the schedule picks it up otherwise.
pub async fn request(
    ctx: &Context<'_>,
    directory: Option<DirectoryId>,
) -> Result<RequestedRun, ApiError> {
    let requested = stored(
        ctx.app
            .store
            .request_reconciliation(ctx.environment, directory, ctx.app.now())
            .await,
    )?;
    let run = &requested.run;
    tracing::info!(reconciliation_id = %run.id, environment_id = %ctx.environment,
        created = requested.created, "reconciliation requested");
    if requested.created {
        if let Some(trigger) = &ctx.app.reconcile_trigger {
            trigger(run.id);
        }
    }
    Ok(requested)
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
