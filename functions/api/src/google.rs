//! Google Workspace directories: creation with credentials, `PUT /directories/{id}/credentials`
//! (rotation), `POST /directories/{id}/sync` (a pull now) and `GET /directories/{id}/sync` (the
//! last pull's time, counts and error).
//!
//! Credentials are a service account's JSON key and the admin it acts as. They are checked
//! (a service-account key holding an RSA key; an address), sealed with the deployment's key
//! bound to the directory id, and never returned or logged: answers show only the service
//! account's address, which names no person.

use std::time::{Duration, Instant};

use bytes::Bytes;
use dsync_domain::directory::events::DIRECTORY_ACTIVATED;
use dsync_domain::directory::EventDraft;
use dsync_domain::ids::DirectoryId;
use dsync_domain::model::{Directory, ProviderKind};
use dsync_domain::providers::google::SyncStatus;
use dsync_domain::secrets;
use dsync_domain::time::format_millis;
use dsync_dynamo::StoredDirectory;
use dsync_google::{Credentials, Google, PullEnd};
use http::{Method, Response, StatusCode};
use serde_json::{json, Map, Value};

use crate::directories::load;
use crate::error::{stored, ApiError};
use crate::route::{Context, Route};
use crate::{body, objects, respond};

/// The body field that carries the credentials on creation.
pub const CREDENTIALS_FIELD: &str = "google_workspace";
/// How long `POST /directories/{id}/sync` pulls before it answers; the schedule resumes the
/// rest from the checkpoint. API Gateway gives up on a request after 29 s.
const SYNC_BUDGET: Duration = Duration::from_secs(20);
const MAX_KEY_BYTES: usize = 16 * 1024;

pub async fn serve(ctx: &Context<'_>, route: &Route) -> Result<Response<Bytes>, ApiError> {
    match (route, ctx.method()) {
        (Route::DirectoryCredentials(id), _) => replace_credentials(ctx, id).await,
        (Route::DirectorySync(id), &Method::POST) => sync_now(ctx, id).await,
        (Route::DirectorySync(id), _) => {
            let directory = google_directory(ctx, id).await?;
            let (status, _) = stored(ctx.app.store.google_sync(&directory.directory.id).await)?;
            Ok(respond::ok(&sync_object(&directory.directory.id, &status)))
        }
        _ => Err(ApiError::no_route(ctx.request.uri().path())),
    }
}

fn configured<'a>(ctx: &'a Context<'_>) -> Result<&'a Google, ApiError> {
    ctx.app.google.as_ref().ok_or_else(|| {
        ApiError::unprocessable(
            "Google Workspace directories are not enabled here: no credentials key is configured",
        )
    })
}

/// `{"service_account_key": <the key file's JSON, as an object or a string>, "admin_email"}`.
fn credentials(value: Option<&Value>) -> Result<Credentials, ApiError> {
    let Some(Value::Object(map)) = value else {
        return Err(ApiError::invalid(format!(
            "{CREDENTIALS_FIELD} is required for type google workspace: \
             {{\"service_account_key\": {{...}}, \"admin_email\": \"...\"}}"
        )));
    };
    if let Some(unknown) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "service_account_key" | "admin_email"))
    {
        return Err(ApiError::invalid(format!(
            "unknown field {CREDENTIALS_FIELD}.{unknown}; expected service_account_key, admin_email"
        )));
    }
    let key = map
        .get("service_account_key")
        .filter(|k| !k.is_null())
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "{CREDENTIALS_FIELD}.service_account_key is required"
            ))
        })?;
    if key.to_string().len() > MAX_KEY_BYTES {
        return Err(ApiError::invalid("service_account_key is too large"));
    }
    let admin = body::optional_string(map, "admin_email", 320)?
        .ok_or_else(|| ApiError::invalid(format!("{CREDENTIALS_FIELD}.admin_email is required")))?;
    Credentials::parse(key, admin).map_err(|e| ApiError::invalid(e.to_string()))
}

/// Creates a Google Workspace directory with its sealed credentials and `dsync.activated`. It has no SCIM token (a random hash no token matches stands in).
pub async fn create(
    ctx: &Context<'_>,
    map: &Map<String, Value>,
    name: &str,
    organization_id: Option<String>,
) -> Result<Response<Bytes>, ApiError> {
    let google = configured(ctx)?;
    let credentials = credentials(map.get(CREDENTIALS_FIELD))?;
    let now = ctx.app.now();
    let directory = Directory {
        id: DirectoryId::generate(),
        environment_id: ctx.environment,
        name: name.to_owned(),
        kind: ProviderKind::GoogleWorkspace,
        organization_id,
        token_hash: secrets::generate("unused_").hash,
        created_at: now,
        mappings: Default::default(),
    };
    let sealed = google
        .seal(&directory.id, &credentials)
        .map_err(|_| ApiError::unprocessable("the credentials could not be sealed"))?;
    let activated = EventDraft {
        name: DIRECTORY_ACTIVATED,
        data: objects::activated_payload(&directory).into(),
    };
    // One transaction: never a directory without credentials, nor credentials (which the
    // schedule would try to pull) without a directory.
    stored(
        ctx.app
            .store
            .create_google_directory_with_events(&directory, &sealed, &[activated])
            .await,
    )?;
    tracing::info!(directory_id = %directory.id, environment_id = %ctx.environment, "google workspace directory created");
    let stored = StoredDirectory {
        directory,
        updated_at: now,
        token: None,
    };
    Ok(respond::json(
        StatusCode::CREATED,
        &with_connection(&stored, &credentials),
    ))
}

/// `PUT /directories/{id}/credentials` with `{"service_account_key", "admin_email"}`.
async fn replace_credentials(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ApiError> {
    let google = configured(ctx)?;
    let directory = google_directory(ctx, id).await?;
    let map = body::object(ctx.body(), &["service_account_key", "admin_email"])?;
    let credentials = credentials(Some(&Value::Object(map)))?;
    let sealed = google
        .seal(&directory.directory.id, &credentials)
        .map_err(|_| ApiError::unprocessable("the credentials could not be sealed"))?;
    crate::error::found(
        ctx.app
            .store
            .put_google_credentials(&directory.directory.id, &sealed, ctx.app.now())
            .await,
        "directory",
        id,
    )?;
    tracing::info!(directory_id = %directory.directory.id, "google workspace credentials replaced");
    Ok(respond::ok(&with_connection(&directory, &credentials)))
}

/// `POST /directories/{id}/sync`: pulls for up to [`SYNC_BUDGET`], then answers 200 with the
/// status (`completed`, or `running` when the schedule will finish it). A pull already
/// running (the schedule's, or another request's) is not doubled: the request coalesces
/// into it and answers 200 with its status, `running`, as `POST /reconciliations` does.
async fn sync_now(ctx: &Context<'_>, id: &str) -> Result<Response<Bytes>, ApiError> {
    let google = configured(ctx)?;
    let directory = google_directory(ctx, id).await?;
    let directory_id = directory.directory.id;
    let policy = ctx.app.policy.clone();
    let clock = move || policy.now();
    let end = stored(
        dsync_google::pull_directory(
            google,
            &ctx.app.store,
            &directory_id,
            &clock,
            Some(Instant::now() + SYNC_BUDGET),
        )
        .await,
    )?;
    if end == PullEnd::NotConnected {
        return Err(ApiError::not_found("directory", id));
    }
    let (mut status, _) = stored(ctx.app.store.google_sync(&directory_id).await)?;
    if end == PullEnd::AlreadyRunning {
        // The holder may not have saved its first page yet.
        status.state = "running".into();
    }
    Ok(respond::ok(&sync_object(&directory_id, &status)))
}

/// A directory of this environment that is a Google Workspace one; any other is a 404 here.
async fn google_directory(ctx: &Context<'_>, id: &str) -> Result<StoredDirectory, ApiError> {
    let parsed = DirectoryId::parse(id).map_err(|_| ApiError::not_found("directory", id))?;
    let directory = load(ctx, &parsed).await?;
    if directory.directory.kind != ProviderKind::GoogleWorkspace {
        return Err(ApiError::not_found("google workspace directory", id));
    }
    Ok(directory)
}

/// The directory, and which service account it uses (never the key, never the admin).
fn with_connection(stored: &StoredDirectory, credentials: &Credentials) -> Value {
    let mut object = objects::directory(stored);
    object["google_workspace"] = json!({
        "service_account_email": credentials.client_email,
        "sync_url": format!("/directories/{}/sync", stored.directory.id),
    });
    object
}

pub fn sync_object(directory: &DirectoryId, status: &SyncStatus) -> Value {
    let counts = &status.counts;
    json!({
        "object": "directory_sync",
        "directory_id": directory.to_string(),
        "state": if status.state.is_empty() { "never" } else { status.state.as_str() },
        "last_started_at": status.last_started_at.map(format_millis),
        "last_completed_at": status.last_completed_at.map(format_millis),
        "counts": {
            "users_listed": counts.users_listed,
            "groups_listed": counts.groups_listed,
            "users_written": counts.users_written,
            "users_removed": counts.users_removed,
            "groups_written": counts.groups_written,
            "groups_removed": counts.groups_removed,
            "failed": counts.failed,
        },
        "error": status.error,
        "push": status.push.as_ref().map(|push| json!({
            "state": push.state,
            "expires_at": push.expires_at.map(format_millis),
            "error": push.error,
        })),
    })
}
