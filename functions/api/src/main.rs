//! Lambda entry point: API Gateway HTTP API (payload v2) → the management and events API.

use dsync_api::{handle, App, Config};
use dsync_dynamo::{connect_from_env, Store, TableNames};
use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Error, Request, RequestExt, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    dsync_dynamo::init_lambda_logging();
    let config = Config::from_env()?;
    let client = connect_from_env()?;
    let mut app = App::new(Store::new(client, TableNames::from_env()), config);
    app.google = dsync_google::from_env()?;
    app.sealer = dsync_dynamo::Sealer::from_env()?;
    lambda_http::run(service_fn(|request: Request| {
        let mut app = app.clone();
        async move {
            let Unstaged {
                request,
                stage_base_url,
            } = unstage(request);
            // A configured public URL (a custom domain) wins over the one the request came to.
            if app.config.public_base_url.is_none() {
                app.config.public_base_url = stage_base_url;
            }
            Ok::<_, Error>(to_lambda(handle(&app, request).await))
        }
    }))
    .await
}

/// A request as the API's router expects it: its routes start at the root of the path.
#[derive(Debug)]
struct Unstaged {
    request: http::Request<bytes::Bytes>,
    /// `https://host/<stage>`, the base the client reached the API at, when that URL has a
    /// stage segment: SCIM base URLs (`POST /directories`) must keep it.
    stage_base_url: Option<String>,
}

/// On a named stage, API Gateway's path starts with `/<stage>` (and lambda_http adds that
/// segment when the raw path lacks it, as behind a custom domain's API mapping). The router
/// knows nothing of stages, so the segment is removed here. `$default` has no segment.
fn unstage(request: Request) -> Unstaged {
    let (mut parts, body) = request.into_parts();
    let body = bytes::Bytes::copy_from_slice(body.as_ref());
    let mut stage_base_url = None;
    if let Some(stage) = named_stage(&parts.extensions) {
        if let Some(path) = without_stage(parts.uri.path(), &stage) {
            parts.uri = with_path(&parts.uri, path);
        }
        // The execute-api endpoint's URLs carry the stage; a custom domain's mapping hides it.
        if without_stage(parts.extensions.raw_http_path(), &stage).is_some() {
            if let (Some(scheme), Some(host)) = (parts.uri.scheme_str(), parts.uri.authority()) {
                stage_base_url = Some(format!("{scheme}://{host}/{stage}"));
            }
        }
    }
    Unstaged {
        request: http::Request::from_parts(parts, body),
        stage_base_url,
    }
}

/// The HTTP API stage the request came through, unless it is `$default`.
fn named_stage(extensions: &http::Extensions) -> Option<String> {
    match extensions.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context
            .stage
            .clone()
            .filter(|stage| !stage.is_empty() && stage != "$default"),
        _ => None,
    }
}

/// `path` without its leading `/<stage>` segment (a whole segment: stage `dir` does not
/// shorten `/directories`); `None` when it does not start with one.
fn without_stage<'a>(path: &'a str, stage: &str) -> Option<&'a str> {
    let rest = path.strip_prefix('/')?.strip_prefix(stage)?;
    match rest {
        "" => Some("/"),
        rest if rest.starts_with('/') => Some(rest),
        _ => None,
    }
}

/// `uri` with another path, its scheme, authority and query kept.
fn with_path(uri: &http::Uri, path: &str) -> http::Uri {
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    // A suffix of a valid path, with the valid query it had: parsing cannot fail, and if it
    // somehow did the unchanged URI answers 404 rather than the function panicking.
    match path_and_query.parse() {
        Ok(path_and_query) => parts.path_and_query = Some(path_and_query),
        Err(_) => return uri.clone(),
    }
    http::Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}

fn to_lambda(response: http::Response<bytes::Bytes>) -> Response<Body> {
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::from(body.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An API Gateway HTTP API (payload v2) event, as Lambda receives it.
    fn event(stage: &str, raw_path: &str, host: &str, query: &str) -> Request {
        let event = serde_json::json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": raw_path,
            "rawQueryString": query,
            "headers": { "host": host, "x-forwarded-proto": "https" },
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abc123",
                "domainName": host,
                "http": {
                    "method": "POST",
                    "path": raw_path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.7",
                    "userAgent": "curl/8"
                },
                "requestId": "id",
                "routeKey": "$default",
                "stage": stage,
                "time": "28/Nov/2026:10:00:00 +0000",
                "timeEpoch": 1_795_860_000_000_i64
            },
            "body": "{\"name\":\"Okta\"}",
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).expect("a valid HTTP API event")
    }

    const EXECUTE_API: &str = "abc123.execute-api.eu-west-1.amazonaws.com";

    #[test]
    fn a_named_stage_is_removed_and_kept_in_the_base_url() {
        let unstaged = unstage(event("prod", "/prod/directories", EXECUTE_API, "limit=5"));
        assert_eq!(unstaged.request.uri().path(), "/directories");
        assert_eq!(unstaged.request.uri().query(), Some("limit=5"));
        assert_eq!(unstaged.request.body().as_ref(), b"{\"name\":\"Okta\"}");
        assert_eq!(
            unstaged.stage_base_url.as_deref(),
            Some("https://abc123.execute-api.eu-west-1.amazonaws.com/prod")
        );
    }

    #[test]
    fn the_default_stage_changes_nothing() {
        let unstaged = unstage(event("$default", "/directories", EXECUTE_API, ""));
        assert_eq!(unstaged.request.uri().path(), "/directories");
        assert_eq!(unstaged.stage_base_url, None);
    }

    #[test]
    fn behind_a_custom_domain_mapping_the_stage_is_not_in_the_client_url() {
        // The raw path has no stage; lambda_http adds it, and it is removed again.
        let unstaged = unstage(event("prod", "/events", "dsync.example.com", "order=asc"));
        assert_eq!(unstaged.request.uri().path(), "/events");
        assert_eq!(unstaged.request.uri().query(), Some("order=asc"));
        assert_eq!(unstaged.stage_base_url, None);
    }

    #[test]
    fn a_stage_named_like_a_route_prefix_removes_only_its_own_segment() {
        let unstaged = unstage(event("dir", "/dir/directories", EXECUTE_API, ""));
        assert_eq!(unstaged.request.uri().path(), "/directories");
        let unstaged = unstage(event(
            "directories",
            "/directories/directories",
            EXECUTE_API,
            "",
        ));
        assert_eq!(unstaged.request.uri().path(), "/directories");
    }

    #[test]
    fn only_whole_leading_segments_are_stages() {
        assert_eq!(without_stage("/prod/events", "prod"), Some("/events"));
        assert_eq!(without_stage("/prod", "prod"), Some("/"));
        assert_eq!(without_stage("/prod/", "prod"), Some("/"));
        assert_eq!(without_stage("/production/events", "prod"), None);
        assert_eq!(without_stage("/events", "prod"), None);
        assert_eq!(without_stage("", "prod"), None);
    }
}
