//! `GET /directories/{id}/sync_failures`: the directory's provider records the policy
//! function could not project, each with its reason. They were skipped (nothing else
//! waited for them); the next reconciliation retries them and removes an entry once its
//! record projects. Another environment's directory is a 404, as an unknown one is.

use bytes::Bytes;
use dsync_domain::ids::DirectoryId;
use dsync_domain::time::format_millis;
use dsync_dynamo::SyncFailure;
use http::Response;
use serde_json::{json, Value};

use crate::error::{stored, ApiError};
use crate::route::Context;
use crate::{directories, respond};

pub async fn serve(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ApiError> {
    let directory = DirectoryId::parse(id).map_err(|_| ApiError::not_found("directory", id))?;
    directories::load(ctx, &directory).await?;
    let failures = stored(ctx.app.store.sync_failures(&directory).await)?;
    let data: Vec<Value> = failures.iter().map(sync_failure).collect();
    Ok(respond::ok(&json!({
        "object": "list",
        "data": data,
        "list_metadata": {"before": null, "after": null},
    })))
}

fn sync_failure(failure: &SyncFailure) -> Value {
    json!({
        "object": "sync_failure",
        "directory_id": failure.directory_id.to_string(),
        "record_type": failure.record.kind(),
        "record_id": failure.record.id(),
        "reason": failure.reason,
        "source": failure.source,
        "attempts": failure.attempts,
        "first_failed_at": format_millis(failure.first_failed_at),
        "last_failed_at": format_millis(failure.last_failed_at),
    })
}
