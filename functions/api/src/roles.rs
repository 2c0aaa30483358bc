//! The environment's roles: `GET|PUT /authorization/roles` and
//! `POST /authorization/roles/preview`.
//!
//! The catalog is replaced whole: `{"roles": [{"slug", "name", "description"?}, …],
//! "default_role": slug|null}`, highest priority first (WorkOS's priority order). A change
//! re-projects every directory of the environment through a reconciliation, whose id the
//! answer carries; the preview says which users' roles would change, writing nothing.

use bytes::Bytes;
use dsync_domain::directory::roles::{Role, RoleCatalog};
use dsync_domain::model::EnvironmentSettings;
use dsync_policy::preview::preview;
use http::{Method, Response};
use serde_json::{json, Value};

use crate::error::{found, stored, ApiError};
use crate::route::{Context, Route};
use crate::settings::sample;
use crate::{body, reconciliations, respond};

pub async fn serve(ctx: &Context<'_>, route: &Route) -> Result<Response<Bytes>, ApiError> {
    match (route, ctx.method()) {
        (Route::AuthorizationRolesPreview, _) => preview_roles(ctx).await,
        (_, &Method::PUT) => put_roles(ctx).await,
        _ => get_roles(ctx).await,
    }
}

async fn current_settings(ctx: &Context<'_>) -> Result<EnvironmentSettings, ApiError> {
    let id = ctx.environment.to_string();
    let environment = found(
        ctx.app.store.get_environment(&ctx.environment).await,
        "environment",
        &id,
    )?;
    Ok(environment.settings)
}

/// `{"object": "list", "data": [role…], "list_metadata": …}`, highest priority first; each
/// role says its `priority` (1 is the highest) and whether it is the `default`.
async fn get_roles(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let catalog = current_settings(ctx).await?.roles;
    Ok(respond::list(role_objects(&catalog), None, None))
}

async fn put_roles(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let catalog = parse_catalog(ctx.body())?;
    let id = ctx.environment.to_string();
    let result = ctx
        .app
        .store
        .put_role_catalog(&ctx.environment, &catalog, ctx.app.now())
        .await;
    found(result, "environment", &id)?;
    tracing::info!(environment_id = %id, roles = catalog.roles.len(), "roles changed");
    let requested = reconciliations::request(ctx, None).await?;
    Ok(respond::ok(&json!({
        "object": "role_catalog",
        "data": role_objects(&catalog),
        "default_role": catalog.default_role,
        "reconciliation_id": requested.run.id.to_string(),
        "reconciliation_created": requested.created,
    })))
}

/// `{"object": "roles_preview", "users_updated": {"count", "data", "truncated"}}`: the users
/// whose roles (or anything else visible) a reconciliation under the proposed catalog would
/// change now.
async fn preview_roles(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let catalog = parse_catalog(ctx.body())?;
    let proposed = EnvironmentSettings {
        roles: catalog.clone(),
        ..current_settings(ctx).await?
    };
    let outcome = stored(preview(&ctx.app.policy, &ctx.environment, &proposed).await)?;
    Ok(respond::ok(&json!({
        "object": "roles_preview",
        "proposed": role_objects(&catalog),
        "users_updated": sample(&outcome.users_updated),
    })))
}

fn role_objects(catalog: &RoleCatalog) -> Vec<Value> {
    catalog
        .roles
        .iter()
        .enumerate()
        .map(|(rank, role)| {
            json!({
                "object": "role",
                "slug": role.slug,
                "name": role.name,
                "description": role.description,
                "type": "EnvironmentRole",
                "priority": rank + 1,
                "default": catalog.default_role.as_deref() == Some(role.slug.as_str()),
            })
        })
        .collect()
}

/// A malformed body or a role of the wrong shape is a 400; a well-formed catalog that breaks a
/// rule (slug syntax, duplicates, an unknown default) is a 422 naming it.
fn parse_catalog(body: &Bytes) -> Result<RoleCatalog, ApiError> {
    let map = body::object(body, &["roles", "default_role"])?;
    let Some(Value::Array(entries)) = map.get("roles") else {
        return Err(ApiError::invalid("roles is required and must be an array"));
    };
    let mut roles = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let Value::Object(fields) = entry else {
            return Err(ApiError::invalid(format!(
                "roles[{index}] must be an object"
            )));
        };
        if let Some(unknown) = fields
            .keys()
            .find(|k| !["slug", "name", "description"].contains(&k.as_str()))
        {
            return Err(ApiError::invalid(format!(
                "roles[{index}]: unknown field {unknown}"
            )));
        }
        let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
        let slug = text("slug")
            .ok_or_else(|| ApiError::invalid(format!("roles[{index}].slug must be a string")))?;
        let name = text("name").unwrap_or_else(|| slug.clone());
        let description = match fields.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) if d.len() <= 1024 => Some(d.clone()),
            Some(_) => {
                return Err(ApiError::invalid(format!(
                    "roles[{index}].description must be a string of at most 1024 bytes"
                )))
            }
        };
        roles.push(Role {
            slug,
            name,
            description,
        });
    }
    let default_role = body::optional_string(&map, "default_role", 64)?.map(str::to_owned);
    let catalog = RoleCatalog {
        roles,
        default_role,
    };
    catalog.validate().map_err(ApiError::unprocessable)?;
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RoleCatalog, ApiError> {
        parse_catalog(&Bytes::from(text.to_owned()))
    }

    #[test]
    fn a_catalog_parses_in_priority_order() {
        let catalog = parse(
            r#"{"roles":[{"slug":"admin","name":"Admin"},{"slug":"member"}],"default_role":"member"}"#,
        )
        .unwrap();
        assert_eq!(catalog.roles[0].slug, "admin");
        assert_eq!(catalog.roles[1].name, "member");
        assert_eq!(catalog.default_role.as_deref(), Some("member"));
        let objects = role_objects(&catalog);
        assert_eq!(objects[0]["priority"], 1);
        assert_eq!(objects[1]["default"], true);
    }

    #[test]
    fn bad_catalogs_are_400_or_422() {
        for (body, status) in [
            ("", 400),
            (r#"{"roles":{}}"#, 400),
            (r#"{"roles":[1]}"#, 400),
            (r#"{"roles":[{"slug":"a","colour":"red"}]}"#, 400),
            (r#"{"roles":[{"name":"A"}]}"#, 400),
            (r#"{"roles":[],"typo":1}"#, 400),
            (r#"{"roles":[{"slug":"Admin"}]}"#, 422),
            (r#"{"roles":[{"slug":"a"},{"slug":"a"}]}"#, 422),
            (r#"{"roles":[{"slug":"a"}],"default_role":"b"}"#, 422),
        ] {
            let error = parse(body).unwrap_err();
            assert_eq!(error.status.as_u16(), status, "{body}: {error:?}");
        }
    }
}
