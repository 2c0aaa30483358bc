//! `POST /api_keys` (`{"name"}`, optional) → 201 with the key in `value`, shown only here;
//! `GET /api_keys` → the environment's keys (id, name, `obfuscated_value`, `created_at`),
//! newest first; `DELETE /api_keys/{id}` → 204, and the key stops authenticating at once.
//!
//! Rotating a key without downtime: create a new one, move clients to it, revoke the old one.

use bytes::Bytes;
use dsync_domain::ids::ApiKeyId;
use dsync_domain::secrets;
use dsync_dynamo::NewApiKey;
use http::{Method, Response, StatusCode};

use crate::error::{found, stored, ApiError};
use crate::query::cursors;
use crate::route::{Context, Route};
use crate::{body, objects, respond};

/// Keys made through the API; `dsync-admin` makes `sk_dsync_` keys too, the local runner
/// `sk_local_` ones.
const PREFIX: &str = "sk_dsync_";

pub async fn serve(ctx: &Context<'_>, route: &Route) -> Result<Response<Bytes>, ApiError> {
    match (route, ctx.method()) {
        (Route::ApiKeys, &Method::POST) => create(ctx).await,
        (Route::ApiKey(id), _) => revoke(ctx, id).await,
        _ => list(ctx).await,
    }
}

async fn create(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let map = body::optional_object(ctx.body(), &["name"])?.unwrap_or_default();
    let name = body::optional_string(&map, "name", 128)?.unwrap_or("api key");
    let secret = secrets::generate(PREFIX);
    let key = stored(
        ctx.app
            .store
            .put_api_key(NewApiKey::new(
                ctx.environment,
                name,
                &secret.plain,
                ctx.app.now(),
            ))
            .await,
    )?;
    tracing::info!(api_key_id = %key.id, environment_id = %ctx.environment, "api key created");
    Ok(respond::json(
        StatusCode::CREATED,
        &objects::api_key_with_value(&key, &secret.plain),
    ))
}

/// `GET /api_keys?limit=&before=&after=&order=`, newest first by default.
async fn list(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let window = ctx.query.window(ApiKeyId::parse)?;
    let keys = stored(ctx.app.store.list_api_keys(&ctx.environment).await)?;
    let page = window.select(keys, |k| k.id.to_string());
    let (before, after) = cursors(&page, |k| k.id.to_string());
    Ok(respond::list(
        page.items.iter().map(objects::api_key).collect(),
        before,
        after,
    ))
}

async fn revoke(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ApiError> {
    let key_id = ApiKeyId::parse(id).map_err(|_| ApiError::not_found("api_key", id))?;
    // The listing entry is under the environment: another environment's key is absent.
    found(
        ctx.app
            .store
            .delete_api_key(&ctx.environment, &key_id)
            .await,
        "api_key",
        id,
    )?;
    tracing::info!(api_key_id = %key_id, environment_id = %ctx.environment, "api key revoked");
    Ok(respond::no_content())
}
