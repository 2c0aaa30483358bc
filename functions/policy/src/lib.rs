//! The policy function: projects provider records into directory users and groups under each
//! environment's inactive-user policy, writing the state and its events in one transaction.
//!
//! One binary, two triggers: DynamoDB stream batches of provider records ([`stream`]) and
//! scheduled reconciliation ([`reconcile`]). Both go through [`project`], which calls the
//! domain's projection rule on freshly read state, so they always agree.

pub mod preview;
pub mod project;
pub mod reconcile;
pub mod stream;

use std::sync::Arc;

use dsync_dynamo::Store;

/// Milliseconds since the epoch; injectable so tests can move time (retention).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub clock: Clock,
}

impl App {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            clock: Arc::new(dsync_domain::time::now_millis),
        }
    }

    pub fn with_clock(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }
}
