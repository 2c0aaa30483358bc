//! Request bodies: JSON objects whose fields are all known. An unknown field is a 400 naming
//! it, so a misspelt setting is never silently ignored.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The body as a JSON object; `None` when the body is empty (for endpoints where it is
/// optional).
pub fn optional_object(
    body: &Bytes,
    known: &[&str],
) -> Result<Option<Map<String, Value>>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    // serde_json's recursion limit turns absurdly deep documents into an error, not a crash.
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("the request body is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::invalid("the request body must be a JSON object"));
    };
    if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::invalid(format!(
            "unknown field {unknown}; expected one of: {}",
            known.join(", ")
        )));
    }
    Ok(Some(map))
}

pub fn object(body: &Bytes, known: &[&str]) -> Result<Map<String, Value>, ApiError> {
    optional_object(body, known)?
        .ok_or_else(|| ApiError::invalid("a JSON request body is required"))
}

/// An optional string field (`null` counts as absent), at most `max` bytes.
pub fn optional_string<'a>(
    map: &'a Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<Option<&'a str>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() > max => Err(ApiError::invalid(format!(
            "{name} is longer than {max} bytes"
        ))),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(format!("{name} must be a string"))),
    }
}
