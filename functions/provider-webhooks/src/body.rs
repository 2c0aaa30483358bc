use bytes::Bytes;
use dsync_domain::scim::ScimError;
use http::Request;
use serde_json::Value;

/// The request body as JSON; malformed JSON is a 400 `invalidSyntax`. serde_json's recursion
/// limit turns absurdly deep documents into an error, not a stack overflow.
pub fn json(request: &Request<Bytes>) -> Result<Value, ScimError> {
    if request.body().is_empty() {
        return Err(ScimError::invalid_syntax("the request body is empty"));
    }
    serde_json::from_slice(request.body())
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))
}
