//! Directories: `POST /directories`, `GET /directories`, `GET|DELETE /directories/{id}`,
//! `POST /directories/{id}/token`.
//!
//! Creating a directory returns its SCIM base URL and bearer token; the token is shown then
//! (and on rotation) only, and stored as its SHA-256. Creation commits `dsync.activated` and
//! deletion `dsync.deleted` together with the directory write.

use std::time::Instant;

use bytes::Bytes;
use dsync_domain::directory::events::{
    token_payload, token_suffix, DIRECTORY_ACTIVATED, DIRECTORY_DELETED, TOKEN_CREATED,
    TOKEN_REVOKED,
};
use dsync_domain::directory::{EventData, EventDraft};
use dsync_domain::ids::DirectoryId;
use dsync_domain::model::{Directory, ProviderKind};
use dsync_domain::secrets;
use dsync_dynamo::{DirectoryToken, PurgeProgress, StoreError, StoredDirectory};
use http::{Method, Response, StatusCode};
use serde_json::Value;

use crate::error::{found, stored, ApiError};
use crate::objects::{self, parse_kind};
use crate::query::cursors;
use crate::route::{Context, Route};
use crate::{body, google, hr_directories, respond};

const MAX_NAME_BYTES: usize = 256;
const MAX_ORGANIZATION_ID_BYTES: usize = 256;
const TOKEN_PREFIX: &str = "dsync_scim_";

pub async fn serve(ctx: &Context<'_>, route: &Route) -> Result<Response<Bytes>, ApiError> {
    match (route, ctx.method()) {
        (Route::Directories, &Method::POST) => create(ctx).await,
        (Route::Directories, _) => list(ctx).await,
        (Route::Directory(id), &Method::DELETE) => delete(ctx, id).await,
        (Route::Directory(id), _) => Ok(respond::ok(
            &with_metadata(ctx, &load_text(ctx, id).await?).await?,
        )),
        (Route::DirectoryToken(id), _) => rotate_token(ctx, id).await,
        (Route::DirectoryCredentials(id) | Route::DirectorySync(id), method) => {
            let current = load_text(ctx, id).await?;
            let id = &current.directory.id;
            match (route, method) {
                _ if current.directory.kind == ProviderKind::GoogleWorkspace => {
                    google::serve(ctx, route).await
                }
                (Route::DirectoryCredentials(_), _) => hr_directories::rotate(ctx, id).await,
                (Route::DirectorySync(_), &Method::POST) => hr_directories::resync(ctx, id).await,
                _ => hr_directories::last_sync(ctx, id).await,
            }
        }
        _ => Err(ApiError::no_route(ctx.request.uri().path())),
    }
}

/// A directory of the request's environment; any other is a 404.
pub async fn load(ctx: &Context<'_>, id: &DirectoryId) -> Result<StoredDirectory, ApiError> {
    let text = id.to_string();
    let stored = found(
        ctx.app.store.get_stored_directory(id).await,
        "directory",
        &text,
    )?;
    if stored.directory.environment_id != ctx.environment {
        return Err(ApiError::not_found("directory", &text));
    }
    Ok(stored)
}

/// [`load`] for an id as the client wrote it (a malformed id names nothing: 404).
pub async fn load_text(ctx: &Context<'_>, id: &str) -> Result<StoredDirectory, ApiError> {
    let parsed = DirectoryId::parse(id).map_err(|_| ApiError::not_found("directory", id))?;
    load(ctx, &parsed).await
}

/// `{"name", "type"?, "organization_id"?}` → 201 with the directory, `scim_base_url` and
/// `scim_token`.
async fn create(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let known = ["name", "type", "organization_id", google::CREDENTIALS_FIELD];
    let map = body::object(
        ctx.body(),
        &[&known[..], &hr_directories::HR_FIELDS[..]].concat(),
    )?;
    let name = body::optional_string(&map, "name", MAX_NAME_BYTES)?
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ApiError::invalid("name is required"))?;
    let kind = match body::optional_string(&map, "type", 64)? {
        None => ProviderKind::GenericScimV2,
        Some(text) => parse_kind(text).ok_or_else(|| {
            let known: Vec<_> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
            ApiError::invalid(format!("type must be one of: {}", known.join(", ")))
        })?,
    };
    let organization_id =
        body::optional_string(&map, "organization_id", MAX_ORGANIZATION_ID_BYTES)?
            .filter(|org| !org.is_empty())
            .map(str::to_owned);
    if kind == ProviderKind::GoogleWorkspace {
        hr_directories::refuse_hr_fields(&map)?;
        return google::create(ctx, &map, name, organization_id).await;
    }
    if map.contains_key(google::CREDENTIALS_FIELD) {
        return Err(ApiError::invalid(format!(
            "{} is only for type google workspace",
            google::CREDENTIALS_FIELD
        )));
    }
    if kind.is_hr() {
        let new = hr_directories::NewHrDirectory {
            environment_id: ctx.environment,
            name,
            kind,
            organization_id,
        };
        return hr_directories::create(ctx, &map, new).await;
    }
    hr_directories::refuse_hr_fields(&map)?;
    let token = secrets::generate(TOKEN_PREFIX);
    let now = ctx.app.now();
    let directory = Directory {
        id: DirectoryId::generate(),
        environment_id: ctx.environment,
        name: name.to_owned(),
        kind,
        organization_id,
        token_hash: token.hash,
        created_at: now,
        mappings: Default::default(),
    };
    let activated = EventDraft {
        name: DIRECTORY_ACTIVATED,
        data: objects::activated_payload(&directory).into(),
    };
    let stamp = token_stamp(&token.plain, now);
    let created = token_event(TOKEN_CREATED, &directory, &stamp);
    stored(
        ctx.app
            .store
            .create_directory_with_events(&directory, Some(&stamp), &[activated, created])
            .await,
    )?;
    tracing::info!(directory_id = %directory.id, environment_id = %ctx.environment, "directory created");
    let stored = StoredDirectory {
        directory,
        updated_at: now,
        token: Some(stamp),
    };
    Ok(respond::json(
        StatusCode::CREATED,
        &with_credentials(ctx, &stored, token.plain),
    ))
}

/// `GET /directories?organization_id=&search=&limit=&before=&after=&order=`.
async fn list(ctx: &Context<'_>) -> Result<Response<Bytes>, ApiError> {
    let window = ctx.query.window(DirectoryId::parse)?;
    let organization = ctx.query.single("organization_id")?;
    let search = ctx.query.single("search")?.map(str::to_lowercase);
    // Directories have no domain here, so a domain filter matches none.
    let domain = ctx.query.single("domain")?;
    let mut directories = stored(ctx.app.store.list_directories(&ctx.environment).await)?;
    directories.retain(|d| {
        let d = &d.directory;
        organization.is_none_or(|org| d.organization_id.as_deref() == Some(org))
            && search
                .as_ref()
                .is_none_or(|s| d.name.to_lowercase().contains(s))
            && domain.is_none()
    });
    let page = window.select(directories, |d| d.directory.id.to_string());
    let (before, after) = cursors(&page, |d| d.directory.id.to_string());
    let mut data = Vec::with_capacity(page.items.len());
    for stored in &page.items {
        data.push(with_metadata(ctx, stored).await?);
    }
    Ok(respond::list(data, before, after))
}

/// The directory object with its `metadata` (two BatchGetItems of counters, no scan).
async fn with_metadata(ctx: &Context<'_>, stored: &StoredDirectory) -> Result<Value, ApiError> {
    let metadata =
        crate::error::stored(ctx.app.store.directory_metadata(&stored.directory.id).await)?;
    Ok(objects::directory_with_metadata(stored, &metadata))
}

/// `POST /directories/{id}/token` → the directory with a new `scim_token`; the old token
/// stops working.
async fn rotate_token(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ApiError> {
    let current = load_text(ctx, id).await?;
    if current.directory.kind == ProviderKind::GoogleWorkspace {
        return Err(ApiError::invalid(
            "Google Workspace directories are pulled and have no SCIM token; \
             PUT /directories/{id}/credentials replaces their service-account key",
        ));
    }
    if current.directory.kind.is_hr() {
        return Err(ApiError::invalid(
            "HR directories have no SCIM token; POST /directories/{id}/credentials rotates their secret",
        ));
    }
    let token = secrets::generate(TOKEN_PREFIX);
    let now = ctx.app.now();
    let stamp = token_stamp(&token.plain, now);
    let mut events = Vec::with_capacity(2);
    // A token issued before tokens had ids has nothing to name in a revocation event.
    if let Some(old) = &current.token {
        events.push(token_event(TOKEN_REVOKED, &current.directory, old));
    }
    events.push(token_event(TOKEN_CREATED, &current.directory, &stamp));
    let result = ctx
        .app
        .store
        .replace_directory_token(&current, &token.hash, &stamp, &events, now)
        .await;
    let stored = match result {
        Err(StoreError::Conflict) => {
            return Err(ApiError::conflict(
                "the token was rotated concurrently; rotate again if needed",
            ))
        }
        other => found(other, "directory", id)?,
    };
    tracing::info!(directory_id = %current.directory.id, "scim token rotated");
    Ok(respond::ok(&with_credentials(ctx, &stored, token.plain)))
}

/// A new token's public identity: a fresh id and the token's last characters.
fn token_stamp(plain: &str, now: i64) -> DirectoryToken {
    DirectoryToken {
        id: format!("directory_token_{}", ulid::Ulid::new()),
        suffix: token_suffix(plain),
        created_at: now,
    }
}

fn token_event(name: &'static str, directory: &Directory, token: &DirectoryToken) -> EventDraft {
    EventDraft {
        name,
        data: token_payload(
            &token.id,
            &directory.id.to_string(),
            directory.organization_id.as_deref(),
            &token.suffix,
            token.created_at,
        )
        .into(),
    }
}

/// `DELETE /directories/{id}` → 202 with the directory in state `deleting`. `dsync.deleted`
/// and `dsync.token.revoked` (its SCIM token) commit with the deletion; the directory's records are then removed within the purge
/// budget, and whatever is left is finished by `Store::resume_directory_purges`.
async fn delete(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ApiError> {
    let deadline = Instant::now() + ctx.app.config.purge_budget;
    let stored = load_text(ctx, id).await?;
    let payload = objects::deleted_payload(&stored);
    let mut events = vec![EventDraft {
        name: DIRECTORY_DELETED,
        data: EventData::from_value(&payload),
    }];
    // The directory's SCIM token dies with it. A token issued before tokens had ids has
    // nothing to name in a revocation event.
    if let Some(token) = &stored.token {
        events.push(token_event(TOKEN_REVOKED, &stored.directory, token));
    }
    let result = ctx
        .app
        .store
        .delete_directory_with_events(&stored.directory, &events, ctx.app.now())
        .await;
    found(result, "directory", id)?;
    let directory_id = stored.directory.id;
    if stored.directory.kind == ProviderKind::GoogleWorkspace {
        // Google stops notifying first, while the credentials to ask it with are stored.
        if let Some(google) = &ctx.app.google {
            dsync_google::stop_channels(google, &ctx.app.store, &directory_id).await;
        }
        // The credentials go with the directory; a pull that meets a deleted directory
        // removes them too, should this fail.
        if let Err(error) = ctx.app.store.delete_google_connection(&directory_id).await {
            tracing::warn!(%directory_id, %error, "google connection removal failed; a pull finishes it");
        }
    }
    tracing::info!(%directory_id, environment_id = %ctx.environment, "directory deleted");
    match ctx.app.store.purge_directory(&directory_id, deadline).await {
        Ok(PurgeProgress::Finished) => {}
        Ok(PurgeProgress::Interrupted) => tracing::warn!(%directory_id, "purge continues later"),
        // The deletion itself committed; the marker makes the purge resumable.
        Err(error) => log_purge_failure(&directory_id, error),
    }
    Ok(respond::json(StatusCode::ACCEPTED, &payload))
}

fn log_purge_failure(directory_id: &DirectoryId, error: StoreError) {
    tracing::error!(%directory_id, %error, "purge failed; it resumes later");
}

fn with_credentials(ctx: &Context<'_>, stored: &StoredDirectory, token: String) -> Value {
    let mut object = objects::directory(stored);
    if let Value::Object(map) = &mut object {
        let base = format!("{}/scim/v2/{}", ctx.origin(), stored.directory.id);
        map.insert("scim_base_url".into(), Value::String(base));
        map.insert("scim_token".into(), Value::String(token));
    }
    object
}
