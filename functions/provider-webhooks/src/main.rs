//! Lambda entry point: API Gateway HTTP API (payload v2) → the SCIM handler.

use dsync_dynamo::{connect_from_env, Store, TableNames};
use dsync_provider_webhooks::{handle, App, Config};
use lambda_http::{service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    dsync_dynamo::init_lambda_logging();
    let config = Config::from_env()?;
    let client = connect_from_env()?;
    let mut app = App::new(Store::new(client, TableNames::from_env()), config);
    // HR webhook secrets are sealed at rest with the key Google credentials are sealed with.
    app.sealer = dsync_dynamo::Sealer::from_env()?;
    lambda_http::run(service_fn(|request: Request| {
        let app = app.clone();
        async move { Ok::<_, Error>(to_lambda(handle(&app, from_lambda(request)).await)) }
    }))
    .await
}

fn from_lambda(request: Request) -> http::Request<bytes::Bytes> {
    let (parts, body) = request.into_parts();
    http::Request::from_parts(parts, bytes::Bytes::copy_from_slice(body.as_ref()))
}

fn to_lambda(response: http::Response<bytes::Bytes>) -> Response<Body> {
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::from(body.to_vec()))
}
