//! The provider-webhooks function: the SCIM 2.0 endpoint identity providers push to, and the
//! signed webhooks of HR systems ([`hr`]).
//!
//! The handler takes a plain `http::Request` so that Lambda (through `lambda_http`) and the
//! local runner (through hyper) call exactly the same code. It authenticates the directory,
//! validates with the domain crate, writes the provider record and answers the provider.

mod auth;
mod body;
mod config;
pub mod google_push;
mod groups;
pub mod hr;
mod limits;
mod listing;
mod members;
mod respond;
mod retry;
mod route;
mod search;
mod users;

use bytes::Bytes;
use dsync_dynamo::{Sealer, Store};
use http::{Request, Response};

pub use config::{Config, DIRECTORY_CACHE};
use respond::error_response;
use route::{Endpoint, Route};
use search::Scope;

/// Everything a request needs, built once per process.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub config: Config,
    /// Opens HR directories' sealed webhook secrets. `None`: no key is configured, and only
    /// secrets stored before sealing verify.
    pub sealer: Option<Sealer>,
    /// Run requested Google pulls now (the local runner); `None` on AWS, where a schedule
    /// picks the requests up.
    pub google_pull_trigger: Option<google_push::PullTrigger>,
}

impl App {
    pub fn new(store: Store, config: Config) -> Self {
        Self {
            store,
            config,
            sealer: None,
            google_pull_trigger: None,
        }
    }

    pub fn with_sealer(mut self, sealer: Sealer) -> Self {
        self.sealer = Some(sealer);
        self
    }
}

/// Answers one SCIM request. Every failure becomes a SCIM error response; bad input is a
/// 4xx, and only a storage failure is a 5xx.
pub async fn handle(app: &App, request: Request<Bytes>) -> Response<Bytes> {
    if hr::is_hr_path(request.uri().path()) {
        return hr::handle(app, request).await;
    }
    if google_push::is_notification_path(request.uri().path()) {
        return google_push::handle(app, request).await;
    }
    let method = request.method().clone();
    let response = match serve(app, request).await {
        Ok(response) => response,
        Err(error) => error_response(&error),
    };
    tracing::info!(%method, status = response.status().as_u16(), "scim request");
    response
}

async fn serve(
    app: &App,
    request: Request<Bytes>,
) -> Result<Response<Bytes>, dsync_domain::scim::ScimError> {
    if request.body().len() > app.config.max_body_bytes {
        return Err(dsync_domain::scim::ScimError::payload_too_large(
            app.config.max_body_bytes,
        ));
    }
    let route = Route::parse(&request, &app.config)?;
    let directory = auth::authenticate(
        &app.store,
        &route,
        request.headers(),
        app.config.directory_cache,
    )
    .await?;
    tracing::debug!(directory_id = %directory.id, "authenticated");
    let ctx = route::Context {
        app,
        directory: &directory,
        route: &route,
        request: &request,
    };
    match &route.endpoint {
        Endpoint::Users(Some(id)) if id == ".search" => search::serve(&ctx, Scope::Users).await,
        Endpoint::Groups(Some(id)) if id == ".search" => search::serve(&ctx, Scope::Groups).await,
        Endpoint::Search => search::serve(&ctx, Scope::All).await,
        Endpoint::Users(id) => users::serve(&ctx, id.as_deref()).await,
        Endpoint::Groups(id) => groups::serve(&ctx, id.as_deref()).await,
        Endpoint::ServiceProviderConfig | Endpoint::ResourceTypes(_) | Endpoint::Schemas(_) => {
            route::serve_discovery(&ctx)
        }
    }
}
