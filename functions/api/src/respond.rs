//! JSON responses.

use bytes::Bytes;
use http::{header, Response, StatusCode};
use serde_json::Value;

pub fn json(status: StatusCode, body: &Value) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(body.to_string()))
        .unwrap_or_default()
}

pub fn ok(body: &Value) -> Response<Bytes> {
    json(StatusCode::OK, body)
}

/// 204 with no body (deletions).
pub fn no_content() -> Response<Bytes> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Bytes::new())
        .unwrap_or_default()
}

/// WorkOS's list envelope: `{"object":"list","data":[…],"list_metadata":{"before","after"}}`.
pub fn list(data: Vec<Value>, before: Option<String>, after: Option<String>) -> Response<Bytes> {
    ok(&serde_json::json!({
        "object": "list",
        "data": data,
        "list_metadata": {"before": before, "after": after},
    }))
}
