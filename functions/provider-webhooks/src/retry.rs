//! Optimistic concurrency: a write that lost a race is retried from a fresh read, with
//! jittered backoff, unless the client pinned a version with `If-Match`.

use std::time::Duration;

use dsync_domain::scim::ScimError;
use dsync_dynamo::StoreError;
use rand::Rng;

use crate::respond::store_error;

/// Enough for dozens of writers racing on one resource.
const MAX_ATTEMPTS: u32 = 200;

pub enum Outcome<T> {
    Done(T),
    Retry,
}

pub struct Attempts {
    pinned: bool,
    made: u32,
}

impl Attempts {
    /// `pinned`: the client sent `If-Match`, so a lost race is its 412, not ours to retry.
    pub fn new(pinned: bool) -> Self {
        Self { pinned, made: 0 }
    }

    pub fn judge<T>(&self, result: Result<T, StoreError>) -> Result<Outcome<T>, ScimError> {
        match result {
            Ok(value) => Ok(Outcome::Done(value)),
            Err(StoreError::Conflict) if self.pinned => Err(ScimError::precondition_failed()),
            Err(StoreError::Conflict) => Ok(Outcome::Retry),
            Err(e) => Err(store_error(e)),
        }
    }

    pub async fn pause(&mut self) -> Result<(), ScimError> {
        self.made += 1;
        if self.made >= MAX_ATTEMPTS {
            return Err(ScimError::new(
                503,
                None,
                "the resource is too busy; retry later",
            ));
        }
        backoff(self.made).await;
        Ok(())
    }
}

/// Waits before retry number `attempt` (from 1) of a write that lost a race: a random time up
/// to a ceiling that doubles with each attempt (capped at 64 ms), so racing writers spread out.
pub async fn backoff(attempt: u32) {
    let ceiling = 2u64 << attempt.min(5);
    let millis = rand::thread_rng().gen_range(1..=ceiling);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}
