//! HR-fed directories (`bamboohr`, `hr webhooks`): their credentials and their last sync.
//!
//! - `POST /directories` with an HR `type` (called from `directories::create`): the
//!   directory, its credentials and `dsync.activated` commit together; the answer carries the
//!   directory's `webhook_url` and, for the generic format, the `webhook_secret` it generated
//!   (shown this once). BambooHR issues its own private key, which the admin passes in.
//! - `POST /directories/{id}/credentials`: a new generated secret (generic format), or the
//!   BambooHR fields given (the rest kept). The old secret stops verifying at once.
//! - `GET /directories/{id}/sync`: the last sync's time, source, counts and error.
//!
//! No later answer carries a secret or an API key.

use bytes::Bytes;
use dsync_domain::directory::events::DIRECTORY_ACTIVATED;
use dsync_domain::directory::EventDraft;
use dsync_domain::ids::{DirectoryId, EnvironmentId};
use dsync_domain::model::{Directory, ProviderKind};
use dsync_domain::secrets;
use dsync_domain::time::format_millis;
use dsync_domain::webhooks::endpoint::generate_secret;
use dsync_dynamo::{HrCredentials, HrSyncReport, StoredDirectory};
use http::{Response, StatusCode};
use serde_json::{json, Map, Value};

use crate::directories::load;
use crate::error::{stored, ApiError};
use crate::route::Context;
use crate::{body, objects, respond};

/// Body fields only HR directories take.
pub const HR_FIELDS: [&str; 3] = ["webhook_secret", "bamboohr_company", "bamboohr_api_key"];
const MAX_SECRET_BYTES: usize = 512;
const MAX_COMPANY_BYTES: usize = 128;

/// A SCIM directory given HR fields is a mistake worth naming.
pub fn refuse_hr_fields(map: &Map<String, Value>) -> Result<(), ApiError> {
    match HR_FIELDS.iter().find(|f| map.contains_key(**f)) {
        Some(field) => Err(ApiError::invalid(format!(
            "{field} applies only to directories of type bamboohr or hr webhooks"
        ))),
        None => Ok(()),
    }
}

pub struct NewHrDirectory<'a> {
    pub environment_id: EnvironmentId,
    pub name: &'a str,
    pub kind: ProviderKind,
    pub organization_id: Option<String>,
}

pub async fn create(
    ctx: &Context<'_>,
    map: &Map<String, Value>,
    new: NewHrDirectory<'_>,
) -> Result<Response<Bytes>, ApiError> {
    let sealer = sealer(ctx)?;
    let mut credentials = HrCredentials::default();
    let generated = apply_credentials(new.kind, map, &mut credentials)?;
    let now = ctx.app.now();
    let directory = Directory {
        id: DirectoryId::generate(),
        environment_id: new.environment_id,
        name: new.name.to_owned(),
        kind: new.kind,
        organization_id: new.organization_id,
        // HR directories have no SCIM endpoint: a hash of a token nobody is ever shown.
        token_hash: secrets::generate("dsync_scim_").hash,
        created_at: now,
        mappings: Default::default(),
    };
    let activated = EventDraft {
        name: DIRECTORY_ACTIVATED,
        data: objects::activated_payload(&directory).into(),
    };
    stored(
        ctx.app
            .store
            .create_hr_directory_with_events(&directory, &credentials, sealer, &[activated])
            .await,
    )?;
    tracing::info!(directory_id = %directory.id, environment_id = %ctx.environment, "hr directory created");
    let stored = StoredDirectory {
        directory,
        updated_at: now,
        token: None,
    };
    Ok(respond::json(
        StatusCode::CREATED,
        &with_webhook(ctx, &stored, &credentials, generated),
    ))
}

/// `POST /directories/{id}/credentials`.
pub async fn rotate(ctx: &Context<'_>, id: &DirectoryId) -> Result<Response<Bytes>, ApiError> {
    let current = load(ctx, id).await?;
    let kind = current.directory.kind;
    if !kind.is_hr() {
        return Err(ApiError::invalid(
            "only bamboohr and hr webhooks directories have credentials; SCIM directories rotate their token",
        ));
    }
    let sealer = sealer(ctx)?;
    let map = body::optional_object(ctx.body(), &HR_FIELDS)?.unwrap_or_default();
    let mut credentials = stored(ctx.app.store.hr_credentials(id, Some(sealer)).await)?;
    let generated = apply_credentials(kind, &map, &mut credentials)?;
    if kind == ProviderKind::Bamboohr && map.is_empty() {
        return Err(ApiError::invalid(
            "give webhook_secret (the BambooHR webhook's private key), bamboohr_company or bamboohr_api_key",
        ));
    }
    stored(
        ctx.app
            .store
            .put_hr_credentials(id, &credentials, sealer)
            .await,
    )?;
    tracing::info!(directory_id = %id, "hr credentials replaced");
    Ok(respond::ok(&with_webhook(
        ctx,
        &current,
        &credentials,
        generated,
    )))
}

/// `GET /directories/{id}/sync`.
pub async fn last_sync(ctx: &Context<'_>, id: &DirectoryId) -> Result<Response<Bytes>, ApiError> {
    let current = load(ctx, id).await?;
    if !current.directory.kind.is_hr() {
        return Err(ApiError::invalid(
            "sync reports are kept for bamboohr and hr webhooks directories; SCIM directories report through sync_failures",
        ));
    }
    let report = stored(ctx.app.store.last_hr_sync(id).await)?;
    let running = stored(ctx.app.store.hr_resync_state(id).await)?
        .checkpoint
        .is_some();
    Ok(respond::ok(&sync_object(id, report.as_ref(), running)))
}

/// `POST /directories/{id}/sync`: reads the BambooHR employee directory now and answers
/// with the report (also kept as the last sync). A directory too big to finish within
/// [`ON_DEMAND_BUDGET`] is answered `202` with `state: running`: the schedule finishes it.
pub async fn resync(ctx: &Context<'_>, id: &DirectoryId) -> Result<Response<Bytes>, ApiError> {
    use dsync_provider_webhooks::hr::resync::{self, ResyncEnd, ResyncError, Trigger};
    let current = load(ctx, id).await?;
    if current.directory.kind != ProviderKind::Bamboohr {
        return Err(ApiError::invalid(
            "only bamboohr directories can be re-synced; other kinds are pushed to",
        ));
    }
    let credentials = stored(
        ctx.app
            .store
            .hr_credentials(id, ctx.app.sealer.as_ref())
            .await,
    )?;
    let clock = || ctx.app.now();
    let deadline = std::time::Instant::now() + ON_DEMAND_BUDGET;
    match resync::resync(
        &ctx.app.store,
        &current.directory,
        &credentials,
        &ctx.app.config.bamboohr,
        Trigger::OnDemand,
        &clock,
        Some(deadline),
    )
    .await
    {
        Ok(ResyncEnd::Finished(report)) => Ok(respond::ok(&sync_object(id, Some(&report), false))),
        Ok(ResyncEnd::Paused) => {
            let report = stored(ctx.app.store.last_hr_sync(id).await)?;
            Ok(respond::json(
                StatusCode::ACCEPTED,
                &sync_object(id, report.as_ref(), true),
            ))
        }
        Ok(ResyncEnd::Busy | ResyncEnd::NotDue) => Err(ApiError::conflict(
            "a re-sync of this directory is running; GET /directories/{id}/sync shows when it ends",
        )),
        Err(error @ ResyncError::NotConfigured) => Err(ApiError::invalid(error.to_string())),
        Err(ResyncError::Change(error)) => {
            tracing::error!(directory_id = %id, %error, "re-sync not stored");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the re-sync could not be stored; run it again",
            ))
        }
        Err(error) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            error.to_string(),
        )),
    }
}

/// The key HR secrets are sealed with; without one, no secret is taken (422), as Google
/// Workspace credentials are refused.
fn sealer<'a>(ctx: &'a Context<'_>) -> Result<&'a dsync_dynamo::Sealer, ApiError> {
    ctx.app.sealer.as_ref().ok_or_else(|| {
        ApiError::unprocessable(format!(
            "HR directories are not enabled here: no sealing key is configured ({})",
            dsync_dynamo::SEALING_KEY_VARIABLE
        ))
    })
}

/// API Gateway gives up on a request after 29 s: an on-demand re-sync stops before.
const ON_DEMAND_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// The last sync; `running` when a re-sync is unfinished (the schedule resumes it).
pub fn sync_object(id: &DirectoryId, report: Option<&HrSyncReport>, running: bool) -> Value {
    json!({
        "object": "directory_sync",
        "directory_id": id.to_string(),
        "state": if running { "running" } else { "idle" },
        "last_sync_at": report.map(|r| format_millis(r.at)),
        "source": report.map(|r| r.source.clone()),
        "counts": report.map(|r| json!({
            "upserted": r.upserted,
            "unchanged": r.unchanged,
            "removed": r.removed,
            "skipped": r.skipped,
            "failed": r.failed,
        })),
        "error": report.and_then(|r| r.error.clone()),
    })
}

/// Applies the body's credential fields; for the generic format, generates the secret (it
/// takes none from outside). Returns a secret generated here, to be shown once.
fn apply_credentials(
    kind: ProviderKind,
    map: &Map<String, Value>,
    credentials: &mut HrCredentials,
) -> Result<Option<String>, ApiError> {
    if kind == ProviderKind::HrWebhooks {
        if let Some(field) = HR_FIELDS.iter().find(|f| map.contains_key(**f)) {
            return Err(ApiError::invalid(format!(
                "{field} does not apply to hr webhooks directories: their secret is generated"
            )));
        }
        let secret = generate_secret();
        credentials.webhook_secret = Some(secret.clone());
        return Ok(Some(secret));
    }
    let text = |name: &str, max: usize| -> Result<Option<String>, ApiError> {
        let value = body::optional_string(map, name, max)?.map(str::trim);
        match value {
            Some("") => Err(ApiError::invalid(format!("{name} must not be empty"))),
            other => Ok(other.map(str::to_owned)),
        }
    };
    if let Some(secret) = text("webhook_secret", MAX_SECRET_BYTES)? {
        credentials.webhook_secret = Some(secret);
    }
    if let Some(company) = text("bamboohr_company", MAX_COMPANY_BYTES)? {
        if !company
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ApiError::invalid(
                "bamboohr_company is the subdomain of <company>.bamboohr.com: letters, digits, - and _",
            ));
        }
        credentials.bamboohr_company = Some(company);
    }
    if let Some(key) = text("bamboohr_api_key", MAX_SECRET_BYTES)? {
        credentials.bamboohr_api_key = Some(key);
    }
    Ok(None)
}

/// The directory with its webhook URL, whether a secret is set, and a secret generated by
/// this request (never one stored earlier).
fn with_webhook(
    ctx: &Context<'_>,
    stored: &StoredDirectory,
    credentials: &HrCredentials,
    generated: Option<String>,
) -> Value {
    let mut object = objects::directory(stored);
    if let Value::Object(map) = &mut object {
        let url = format!("{}/hr/{}", ctx.origin(), stored.directory.id);
        map.insert("webhook_url".into(), Value::String(url));
        map.insert(
            "webhook_secret_set".into(),
            Value::Bool(credentials.webhook_secret.is_some()),
        );
        map.insert(
            "bamboohr_api_key_set".into(),
            Value::Bool(credentials.bamboohr_api_key.is_some()),
        );
        if let Some(secret) = generated {
            map.insert("webhook_secret".into(), Value::String(secret));
        }
    }
    object
}
