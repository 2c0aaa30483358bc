//! `POST /google/{directory_id}/notifications`: Google Workspace push notifications, sent by
//! the Admin SDK Directory API for the `users.watch` channels the pull opens.
//!
//! A notification names its channel (`X-Goog-Channel-ID`) and carries the channel's token
//! (`X-Goog-Channel-Token`), which is compared in constant time with the hash stored when
//! the channel was opened. An unknown directory or channel, or a wrong token, is the same
//! 401 and nothing is stored. Google's first message on a channel (`X-Goog-Resource-State:
//! sync`) is acknowledged; any other marks the directory "pull requested", and the pull
//! (under its lease, writing only what changed) brings the change in. The body (the user
//! Google names) is not read: the pull reads the user from Google itself.

use std::sync::Arc;

use bytes::Bytes;
use dsync_domain::ids::DirectoryId;
use dsync_domain::time::now_millis;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use serde_json::json;

use crate::App;

/// Called after a notification marked a directory (the local runner pulls at once; on AWS
/// the policy function's one-minute schedule picks the mark up).
pub type PullTrigger = Arc<dyn Fn() + Send + Sync>;

const PREFIX: &str = "/google/";
const SUFFIX: &str = "/notifications";

/// The directory id of a notification URL (`…/google/{directory_id}/notifications`).
fn directory_segment(path: &str) -> Option<&str> {
    let start = path.find(PREFIX)? + PREFIX.len();
    path[start..].strip_suffix(SUFFIX)
}

pub fn is_notification_path(path: &str) -> bool {
    !path.contains("/scim/v2/") && directory_segment(path).is_some()
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn answer(status: StatusCode, body: Option<serde_json::Value>) -> Response<Bytes> {
    let mut response = Response::new(body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())));
    *response.status_mut() = status;
    if response.body().is_empty() {
        return response;
    }
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn unauthorized() -> Response<Bytes> {
    answer(
        StatusCode::UNAUTHORIZED,
        Some(
            json!({"error": "invalid_channel", "message": "unknown channel or wrong channel token"}),
        ),
    )
}

pub async fn handle(app: &App, request: Request<Bytes>) -> Response<Bytes> {
    let response = serve(app, &request).await;
    tracing::info!(
        status = response.status().as_u16(),
        state = header(request.headers(), "x-goog-resource-state").unwrap_or("-"),
        "google notification"
    );
    response
}

async fn serve(app: &App, request: &Request<Bytes>) -> Response<Bytes> {
    if request.method() != Method::POST {
        return answer(
            StatusCode::METHOD_NOT_ALLOWED,
            Some(
                json!({"error": "method_not_allowed", "message": "notifications are delivered with POST"}),
            ),
        );
    }
    let headers = request.headers();
    let directory =
        directory_segment(request.uri().path()).and_then(|d| DirectoryId::parse(d).ok());
    let (Some(directory), Some(channel_id), Some(token), Some(state)) = (
        directory,
        header(headers, "x-goog-channel-id"),
        header(headers, "x-goog-channel-token"),
        header(headers, "x-goog-resource-state"),
    ) else {
        return unauthorized();
    };
    let channel = match app.store.google_channel(&directory, channel_id).await {
        Ok(Some(channel)) => channel,
        Ok(None) => return unauthorized(),
        Err(error) => return unavailable(&directory, error),
    };
    if !channel.token_hash.verify(token) {
        return unauthorized();
    }
    if state != "sync" {
        if let Err(error) = app
            .store
            .request_google_pull(&directory, now_millis())
            .await
        {
            return unavailable(&directory, error);
        }
        tracing::debug!(directory_id = %directory, channel_id, "google pull requested");
        if let Some(trigger) = &app.google_pull_trigger {
            trigger();
        }
    }
    answer(StatusCode::OK, None)
}

/// Storage failed: 503, so Google delivers the notification again later.
fn unavailable(directory: &DirectoryId, error: dsync_dynamo::StoreError) -> Response<Bytes> {
    tracing::error!(directory_id = %directory, %error, "google notification not recorded");
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        Some(json!({"error": "unavailable", "message": "try again later"})),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_paths_name_a_directory() {
        assert_eq!(
            directory_segment("/google/directory_01/notifications"),
            Some("directory_01")
        );
        assert_eq!(
            directory_segment("/prod/google/directory_01/notifications"),
            Some("directory_01")
        );
        assert!(is_notification_path("/google/d/notifications"));
        assert!(!is_notification_path("/google/d"));
        assert!(!is_notification_path("/scim/v2/google/d/notifications"));
        assert!(!is_notification_path("/hr/d"));
    }
}
