//! SCIM responses: JSON bodies with `application/scim+json`, errors per RFC 7644 §3.12.

use bytes::Bytes;
use dsync_domain::scim::ScimError;
use dsync_dynamo::StoreError;
use http::{header, Response, StatusCode};
use serde_json::Value;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

pub fn json(status: StatusCode, body: &Value) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, SCIM_CONTENT_TYPE)
        .body(Bytes::from(body.to_string()))
        .unwrap_or_default()
}

/// A resource with its `ETag` (and `Location` when created).
pub fn resource(
    status: StatusCode,
    body: &Value,
    version: u64,
    location: Option<&str>,
) -> Response<Bytes> {
    let mut response = json(status, body);
    if let Ok(tag) = dsync_domain::model::etag(version).parse() {
        response.headers_mut().insert(header::ETAG, tag);
    }
    if let Some(location) = location.and_then(|l| l.parse().ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

pub fn no_content() -> Response<Bytes> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Bytes::new())
        .unwrap_or_default()
}

pub fn error_response(error: &ScimError) -> Response<Bytes> {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json(status, &error.to_body());
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// Storage failures that reach the client. `Conflict` and `Duplicate` are mapped by the
/// callers, which know what they mean there; what is left is a server fault.
pub fn store_error(error: StoreError) -> ScimError {
    match error {
        StoreError::NotFound => ScimError::not_found("resource not found"),
        StoreError::Duplicate => ScimError::uniqueness("a resource with this value already exists"),
        StoreError::Conflict => ScimError::precondition_failed(),
        StoreError::Corrupt(_) | StoreError::Backend(_) => {
            tracing::error!(error = %error, "storage failure");
            ScimError::new(503, None, "storage is unavailable; retry later")
        }
    }
}
