//! The local stand-in for API Gateway: routes paths to the HTTP functions.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;

/// API Gateway refuses payloads over 10 MB before any function sees them.
const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

#[derive(Clone)]
pub struct Routes {
    pub scim: dsync_provider_webhooks::App,
    pub api: dsync_api::App,
}

pub async fn serve(listener: tokio::net::TcpListener, routes: Routes) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let routes = routes.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let routes = routes.clone();
                async move { Ok::<_, Infallible>(dispatch(&routes, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn dispatch(
    routes: &Routes,
    request: http::Request<Incoming>,
) -> http::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, GATEWAY_MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return plain(413, json!({"message": "Request Entity Too Large"})),
    };
    let request = http::Request::from_parts(parts, body);
    // As the SAM template routes them: SCIM and the HR webhook URLs to provider-webhooks.
    let path = request.uri().path();
    let response = if path.starts_with("/scim/v2/")
        || path.starts_with("/hr/")
        || path.starts_with("/google/")
    {
        dsync_provider_webhooks::handle(&routes.scim, request).await
    } else {
        dsync_api::handle(&routes.api, request).await
    };
    let (parts, body) = response.into_parts();
    http::Response::from_parts(parts, Full::new(body))
}

fn plain(status: u16, body: serde_json::Value) -> http::Response<Full<Bytes>> {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}
