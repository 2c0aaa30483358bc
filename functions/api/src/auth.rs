//! API-key authentication: the key's SHA-256 is looked up; the environment it names scopes
//! everything the request touches.

use dsync_domain::ids::EnvironmentId;
use dsync_domain::secrets::SecretHash;
use dsync_dynamo::{Store, StoreError};
use http::HeaderMap;

use crate::error::ApiError;

/// Keys are `prefix + 43 base64url characters`; anything far longer is not one of ours and
/// is refused before hashing.
const MAX_KEY_BYTES: usize = 256;

pub async fn authenticate(store: &Store, headers: &HeaderMap) -> Result<EnvironmentId, ApiError> {
    let key = bearer_token(headers).ok_or_else(ApiError::unauthorized)?;
    if key.len() > MAX_KEY_BYTES {
        return Err(ApiError::unauthorized());
    }
    // The lookup is by hash, so what the store compares is never the secret itself.
    match store.environment_for_api_key(&SecretHash::of(key)).await {
        Ok(environment) => Ok(environment),
        Err(StoreError::NotFound) => Err(ApiError::unauthorized()),
        Err(e) => Err(ApiError::storage(e)),
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bearer_credentials_are_read() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert("authorization", "Bearer sk_abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("sk_abc"));
        headers.insert("authorization", "bearer   sk_abc ".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("sk_abc"));
        headers.insert("authorization", "Basic c2s6".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
        headers.insert("authorization", "Bearer ".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
    }
}
