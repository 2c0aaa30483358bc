//! Directory authentication: the bearer token's SHA-256 against the directory's stored hash.

use std::time::Duration;

use dsync_domain::model::Directory;
use dsync_domain::scim::ScimError;
use dsync_dynamo::{Store, StoreError};
use http::HeaderMap;

use crate::respond::store_error;
use crate::route::Route;

/// The directory the request's bearer token opens. The directory (with its token hash) may
/// be a copy read up to `max_age` ago by this process ([`Store::directory_within`]): a
/// rotated token keeps working in another process for at most that long (docs/scim.md).
pub async fn authenticate(
    store: &Store,
    route: &Route,
    headers: &HeaderMap,
    max_age: Duration,
) -> Result<Directory, ScimError> {
    let token = bearer_token(headers).ok_or_else(ScimError::unauthorized)?;
    // An unknown directory and a wrong token look the same from outside.
    let directory_id = route.directory_id.ok_or_else(ScimError::unauthorized)?;
    let directory = match store.directory_within(&directory_id, max_age).await {
        Ok(directory) => directory,
        Err(StoreError::NotFound) => return Err(ScimError::unauthorized()),
        Err(e) => return Err(store_error(e)),
    };
    // HR directories are fed by signed webhooks only; their SCIM endpoint does not exist.
    if directory.kind.is_hr() || !directory.token_hash.verify(token) {
        return Err(ScimError::unauthorized());
    }
    Ok(directory)
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
