//! A directory's mappings, each replaced whole, each change re-projecting the directory through
//! a reconciliation (the answer carries its id), each with a preview that writes nothing:
//!
//! - `GET|PUT /directories/{id}/role_mappings`, `POST …/role_mappings/preview`:
//!   `{"groups": [{"group_id": "directory_group_…", "role": slug}], "idp_roles": [{"value":
//!   "App.Admin", "role": slug}]}`;
//! - `GET|PUT /directories/{id}/attribute_mappings`, `POST …/attribute_mappings/preview`:
//!   `{"custom_attributes": [{"name", "path"}] | null}` (`null`: the defaults).

use bytes::Bytes;
use dsync_domain::directory::attribute_mapping::{self, default_mappings, AttributeMapping};
use dsync_domain::directory::roles::RoleMappings;
use dsync_domain::ids::DirectoryId;
use dsync_domain::model::DirectoryMappings;
use dsync_dynamo::StoredDirectory;
use dsync_policy::preview::preview_mappings;
use http::{Method, Response};
use serde_json::{json, Value};

use crate::error::{found, stored, ApiError};
use crate::route::{Context, Route};
use crate::settings::sample;
use crate::{body, directories, reconciliations, respond};

pub async fn serve(ctx: &Context<'_>, route: &Route) -> Result<Response<Bytes>, ApiError> {
    match route {
        Route::DirectoryRoleMappings(id) => {
            let stored = directories::load_text(ctx, id).await?;
            match *ctx.method() {
                Method::PUT => put_roles(ctx, &stored).await,
                _ => Ok(respond::ok(&role_object(
                    &stored.directory.id,
                    &stored.directory.mappings.roles,
                ))),
            }
        }
        Route::DirectoryRoleMappingsPreview(id) => {
            let stored = directories::load_text(ctx, id).await?;
            let proposed = DirectoryMappings {
                roles: parse_roles(ctx, ctx.body()).await?,
                ..stored.directory.mappings.clone()
            };
            preview(ctx, &stored, &proposed, "role_mappings_preview").await
        }
        Route::DirectoryAttributeMappings(id) => {
            let stored = directories::load_text(ctx, id).await?;
            match *ctx.method() {
                Method::PUT => put_attributes(ctx, &stored).await,
                _ => Ok(respond::ok(&attribute_object(
                    &stored.directory.id,
                    stored.directory.mappings.custom_attributes.as_deref(),
                ))),
            }
        }
        Route::DirectoryAttributeMappingsPreview(id) => {
            let stored = directories::load_text(ctx, id).await?;
            let proposed = DirectoryMappings {
                custom_attributes: parse_attributes(ctx.body())?,
                ..stored.directory.mappings.clone()
            };
            preview(ctx, &stored, &proposed, "attribute_mappings_preview").await
        }
        _ => Err(ApiError::no_route(ctx.request.uri().path())),
    }
}

async fn put_roles(
    ctx: &Context<'_>,
    stored: &StoredDirectory,
) -> Result<Response<Bytes>, ApiError> {
    let id = stored.directory.id;
    let mappings = parse_roles(ctx, ctx.body()).await?;
    let result = ctx
        .app
        .store
        .put_role_mappings(&id, &mappings, ctx.app.now())
        .await;
    found(result, "directory", &id.to_string())?;
    tracing::info!(directory_id = %id, mappings = mappings.groups.len() + mappings.idp_roles.len(), "role mappings changed");
    let requested = reconciliations::request(ctx, Some(id)).await?;
    let mut object = role_object(&id, &mappings);
    object["reconciliation_id"] = json!(requested.run.id.to_string());
    object["reconciliation_created"] = json!(requested.created);
    Ok(respond::ok(&object))
}

async fn put_attributes(
    ctx: &Context<'_>,
    stored: &StoredDirectory,
) -> Result<Response<Bytes>, ApiError> {
    let id = stored.directory.id;
    let mappings = parse_attributes(ctx.body())?;
    let result = ctx
        .app
        .store
        .put_attribute_mappings(&id, mappings.as_deref(), ctx.app.now())
        .await;
    found(result, "directory", &id.to_string())?;
    tracing::info!(directory_id = %id, "attribute mappings changed");
    let requested = reconciliations::request(ctx, Some(id)).await?;
    let mut object = attribute_object(&id, mappings.as_deref());
    object["reconciliation_id"] = json!(requested.run.id.to_string());
    object["reconciliation_created"] = json!(requested.created);
    Ok(respond::ok(&object))
}

/// `{"object": …, "users_created", "users_deleted", "users_updated"}`, each `{"count", "data"
/// (≤ 100), "truncated"}`: what reconciling the directory under the proposed mappings would
/// do now (created and deleted users are pending changes the mapping does not cause).
async fn preview(
    ctx: &Context<'_>,
    stored: &StoredDirectory,
    proposed: &DirectoryMappings,
    object: &str,
) -> Result<Response<Bytes>, ApiError> {
    let id = stored.directory.id;
    let outcome = found(
        preview_mappings(&ctx.app.policy, &id, proposed).await,
        "directory",
        &id.to_string(),
    )?
    .ok_or_else(|| ApiError::not_found("directory", &id.to_string()))?;
    Ok(respond::ok(&json!({
        "object": object,
        "directory_id": id.to_string(),
        "users_created": sample(&outcome.users_created),
        "users_deleted": sample(&outcome.users_deleted),
        "users_updated": sample(&outcome.users_updated),
    })))
}

fn role_object(directory: &DirectoryId, mappings: &RoleMappings) -> Value {
    json!({
        "object": "role_mappings",
        "directory_id": directory.to_string(),
        "groups": mappings.groups,
        "idp_roles": mappings.idp_roles,
    })
}

fn attribute_object(directory: &DirectoryId, mappings: Option<&[AttributeMapping]>) -> Value {
    let effective = mappings.map_or_else(default_mappings, <[AttributeMapping]>::to_vec);
    json!({
        "object": "attribute_mappings",
        "directory_id": directory.to_string(),
        "custom_attributes": effective,
        "defaults": mappings.is_none(),
    })
}

/// Mapped roles must exist in the environment's catalog (a 422 names the one that does not).
async fn parse_roles(ctx: &Context<'_>, body: &Bytes) -> Result<RoleMappings, ApiError> {
    let map = body::object(body, &["groups", "idp_roles"])?;
    let mappings = RoleMappings {
        groups: entries(&map, "groups")?,
        idp_roles: entries(&map, "idp_roles")?,
    };
    let environment = stored(ctx.app.store.get_environment(&ctx.environment).await)?;
    mappings
        .validate(&environment.settings.roles)
        .map_err(ApiError::unprocessable)?;
    Ok(mappings)
}

fn parse_attributes(body: &Bytes) -> Result<Option<Vec<AttributeMapping>>, ApiError> {
    let map = body::object(body, &["custom_attributes"])?;
    if matches!(map.get("custom_attributes"), None | Some(Value::Null)) {
        return Ok(None);
    }
    let mappings: Vec<AttributeMapping> = entries(&map, "custom_attributes")?;
    attribute_mapping::validate(&mappings).map_err(ApiError::unprocessable)?;
    Ok(Some(mappings))
}

/// An array field of objects with exactly the fields of `T` (absent: empty).
fn entries<T: serde::de::DeserializeOwned>(
    map: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Vec<T>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(value @ Value::Array(_)) => serde_json::from_value(value.clone())
            .map_err(|e| ApiError::invalid(format!("{name}: {e}"))),
        Some(_) => Err(ApiError::invalid(format!("{name} must be an array"))),
    }
}
