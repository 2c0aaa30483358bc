//! API errors: `{"code": "...", "message": "..."}` with a precise status. Bad input is always
//! a 4xx; only storage failures are 5xx (503, to be retried).

use bytes::Bytes;
use dsync_dynamo::StoreError;
use http::{header, HeaderValue, Method, Response, StatusCode};
use serde_json::json;

use crate::respond;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// For 405: the methods the path takes.
    pub allow: Vec<Method>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            allow: Vec::new(),
        }
    }

    /// 400: a parameter or body field is missing or malformed; the message names it.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: Authorization: Bearer <api key>",
        )
    }

    /// 404 for `what` (`"directory"`, …) with `id`: also what another environment's objects
    /// look like, so their existence is not revealed.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "entity_not_found",
            format!("no {what} with id {id}"),
        )
    }

    pub fn no_route(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "entity_not_found",
            format!("no endpoint at {path}"),
        )
    }

    pub fn method_not_allowed(method: &Method, allow: &[Method]) -> Self {
        let mut error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed here"),
        );
        error.allow = allow.to_vec();
        error
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// 409: the object changed while the request was applied (optimistic concurrency ran
    /// out of attempts), or its state forbids the operation; retrying may succeed.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 409: a per-environment limit on how many objects of a kind may exist.
    pub fn limit_reached(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "limit_reached", message)
    }

    /// 422: well-formed input whose values are not acceptable (settings).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_settings",
            message,
        )
    }

    /// 503 for a storage failure. The error is logged (it carries DynamoDB codes and
    /// attribute names, never item contents); the client is told to retry.
    pub fn storage(error: StoreError) -> Self {
        tracing::error!(%error, "storage failure");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "storage is unavailable; retry later",
        )
    }

    pub fn to_response(&self) -> Response<Bytes> {
        let mut response = respond::json(
            self.status,
            &json!({"code": self.code, "message": self.message}),
        );
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if !self.allow.is_empty() {
            let allow = self
                .allow
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            if let Ok(value) = HeaderValue::from_str(&allow) {
                headers.insert(header::ALLOW, value);
            }
        }
        response
    }
}

/// Maps `NotFound` to a 404 for `what` / `id`, anything else to a 503.
pub fn found<T>(result: Result<T, StoreError>, what: &str, id: &str) -> Result<T, ApiError> {
    match result {
        Ok(value) => Ok(value),
        Err(StoreError::NotFound) => Err(ApiError::not_found(what, id)),
        Err(e) => Err(ApiError::storage(e)),
    }
}

/// Any storage failure is a 503 (for reads where absence is not an error).
pub fn stored<T>(result: Result<T, StoreError>) -> Result<T, ApiError> {
    result.map_err(ApiError::storage)
}
