//! The policy function: projects provider records into directory users and groups under each
//! environment's inactive-user policy, writing the state and its events in one transaction.
//!
//! One binary, two triggers: DynamoDB stream batches of provider records ([`stream`]) and
//! scheduled reconciliation ([`reconcile`]). Both go through [`project`], which calls the
//! domain's projection rule on freshly read state, so they always agree.

pub mod context_cache;
pub mod known_groups;
pub mod preview;
pub mod project;
pub mod reconcile;
pub mod stream;

use std::sync::Arc;
use std::time::Duration;

use dsync_dynamo::Store;

/// Milliseconds since the epoch; injectable so tests can move time (retention).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// How long the Lambda function keeps a directory context between stream batches
/// (`DSYNC_POLICY_CONTEXT_CACHE_MS`); see context_cache.rs.
pub const CONTEXT_CACHE: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub clock: Clock,
    /// How old a stream batch's directory context may be (zero: read per batch).
    pub context_max_age: Duration,
    /// Shared by clones.
    pub contexts: context_cache::ContextCache,
    /// How many members one projection of a new group re-projects
    /// ([`project::MEMBER_SWEEP_CHUNK`]; smaller in tests, to see the chunks).
    pub member_sweep_chunk: i32,
}

impl App {
    pub fn new(store: Store) -> Self {
        Self::with_clock(store, Arc::new(dsync_domain::time::now_millis))
    }

    pub fn with_clock(store: Store, clock: Clock) -> Self {
        Self {
            store,
            clock,
            context_max_age: Duration::ZERO,
            contexts: Default::default(),
            member_sweep_chunk: project::MEMBER_SWEEP_CHUNK,
        }
    }

    /// Stream batches reuse a directory context read up to `max_age` ago in this process.
    pub fn with_context_cache(self, max_age: Duration) -> Self {
        Self {
            context_max_age: max_age,
            ..self
        }
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }
}
