//! The management and events API: environment settings and their preview, reconciliation
//! runs, API keys, directories and their SCIM tokens, directory users and groups, the Events API, and
//! webhook endpoints with their deliveries, in the shapes of the WorkOS API so its SDKs work
//! against it.
//!
//! Like the SCIM function, the handler takes a plain `http::Request`, so Lambda (through
//! `lambda_http`, API Gateway HTTP API payload v2) and the local runner call the same code.
//! Every request is authenticated by API key; the key's environment scopes everything, and
//! another environment's objects are indistinguishable from missing ones (404).

mod api_keys;
mod auth;
mod body;
mod config;
mod deliveries;
mod directories;
mod endpoint_check;
mod error;
mod events;
mod google;
mod hr_directories;
mod mappings;
mod objects;
mod projection;
mod query;
mod reconciliations;
mod respond;
mod roles;
mod route;
mod settings;
mod sync_failures;
mod webhooks;

use std::sync::Arc;

use bytes::Bytes;
use dsync_domain::ids::ReconciliationId;
use dsync_dynamo::Store;
use http::{Request, Response};

pub use config::Config;
use error::ApiError;
use route::{Context, Route};

/// Called with a new reconciliation run's id right after it is stored, so a runner can start
/// it at once. In Lambda there is none: the policy function's schedule picks pending runs up.
pub type ReconcileTrigger = Arc<dyn Fn(ReconciliationId) + Send + Sync>;

/// Called when a delivery retry is scheduled, so a runner can sweep at once. In Lambda there
/// is none: the fan-out function's scheduled sweep finds the delivery due.
pub type SweepTrigger = Arc<dyn Fn() + Send + Sync>;

/// Everything a request needs, built once per process.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    /// For the settings preview (and the clock every timestamp comes from).
    pub policy: dsync_policy::App,
    pub config: Config,
    pub reconcile_trigger: Option<ReconcileTrigger>,
    pub sweep_trigger: Option<SweepTrigger>,
    /// Google Workspace directories: the credentials key and Google's endpoints. `None`
    /// refuses them (422).
    pub google: Option<dsync_google::Google>,
    /// Seals HR directories' webhook secrets and BambooHR API keys (the key Google
    /// credentials are sealed with). `None` refuses new HR secrets (422).
    pub sealer: Option<dsync_dynamo::Sealer>,
}

impl App {
    pub fn new(store: Store, config: Config) -> Self {
        let policy = dsync_policy::App::new(store.clone());
        Self {
            store,
            policy,
            config,
            reconcile_trigger: None,
            sweep_trigger: None,
            google: None,
            sealer: None,
        }
    }

    /// Milliseconds since the epoch, from the policy function's (injectable) clock.
    pub fn now(&self) -> i64 {
        self.policy.now()
    }
}

/// Answers one API request. Every failure becomes a JSON error; bad input is a 4xx, and only
/// a storage failure is a 5xx.
pub async fn handle(app: &App, request: Request<Bytes>) -> Response<Bytes> {
    let method = request.method().clone();
    let (response, environment) = match serve(app, &request).await {
        Ok((response, environment)) => (response, Some(environment)),
        Err(error) => (error.to_response(), None),
    };
    // Ids, route labels and statuses only: never the raw path, names, emails or keys.
    let environment_id = environment.map(|e| e.to_string()).unwrap_or_default();
    let route = Route::parse(request.uri().path()).map_or("unknown", |r| r.label());
    tracing::info!(%method, route, status = response.status().as_u16(), environment_id, "api request");
    response
}

async fn serve(
    app: &App,
    request: &Request<Bytes>,
) -> Result<(Response<Bytes>, dsync_domain::ids::EnvironmentId), ApiError> {
    if request.body().len() > app.config.max_body_bytes {
        return Err(ApiError::payload_too_large(app.config.max_body_bytes));
    }
    let environment = auth::authenticate(&app.store, request.headers()).await?;
    let path = request.uri().path();
    let route = Route::parse(path).ok_or_else(|| ApiError::no_route(path))?;
    if !route.methods().contains(request.method()) {
        return Err(ApiError::method_not_allowed(
            request.method(),
            route.methods(),
        ));
    }
    let ctx = Context {
        app,
        environment,
        request,
        query: query::Query::parse(request.uri().query()),
    };
    let response = match &route {
        Route::Settings | Route::SettingsPreview => settings::serve(&ctx, &route).await,
        Route::Reconciliations | Route::Reconciliation(_) => {
            reconciliations::serve(&ctx, &route).await
        }
        Route::ApiKeys | Route::ApiKey(_) => api_keys::serve(&ctx, &route).await,
        Route::Directories
        | Route::Directory(_)
        | Route::DirectoryToken(_)
        | Route::DirectoryCredentials(_)
        | Route::DirectorySync(_) => directories::serve(&ctx, &route).await,
        Route::DirectorySyncFailures(id) => sync_failures::serve(&ctx, id).await,
        Route::DirectoryUsers | Route::DirectoryUser(_) => {
            projection::serve_users(&ctx, &route).await
        }
        Route::DirectoryGroups | Route::DirectoryGroup(_) => {
            projection::serve_groups(&ctx, &route).await
        }
        Route::Events => events::serve(&ctx).await,
        Route::AuthorizationRoles | Route::AuthorizationRolesPreview => {
            roles::serve(&ctx, &route).await
        }
        Route::DirectoryRoleMappings(_)
        | Route::DirectoryRoleMappingsPreview(_)
        | Route::DirectoryAttributeMappings(_)
        | Route::DirectoryAttributeMappingsPreview(_) => mappings::serve(&ctx, &route).await,
        Route::WebhookEndpoints | Route::WebhookEndpoint(_) | Route::WebhookEndpointSecret(_) => {
            webhooks::serve(&ctx, &route).await
        }
        Route::WebhookEndpointDeliveries(_) | Route::DeliveryRetry(_) => {
            deliveries::serve(&ctx, &route).await
        }
    }?;
    Ok((response, environment))
}
