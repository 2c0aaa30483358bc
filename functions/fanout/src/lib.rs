//! The fan-out function: each event of the log, signed and delivered to every enabled
//! endpoint of its environment that subscribes to it, with retries.
//!
//! - [`stream`]: a batch of the events table's stream. Each (event, endpoint) pair becomes a
//!   delivery item first (so nothing is lost and a redelivered batch sends nothing twice),
//!   then the first attempts run concurrently for at most the inline budget. The batch
//!   succeeds once the deliveries are recorded: a dead endpoint never blocks the stream.
//! - [`sweep`]: on a schedule, the deliveries that are due are attempted again.
//! - [`deliver`]: one attempt, and what it does to the delivery and its endpoint.

pub mod address;
mod config;
pub mod deliver;
pub mod stream;
pub mod sweep;

use dsync_dynamo::Store;

pub use config::Config;

/// Everything an invocation needs, built once per process.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub config: Config,
    pub http: reqwest::Client,
}

impl App {
    pub fn new(store: Store, config: Config) -> Self {
        let http = address::http_client(config.addresses, config.timeout);
        Self {
            store,
            config,
            http,
        }
    }

    /// Milliseconds since the epoch: signatures carry wall-clock time, which receivers check.
    pub fn now(&self) -> i64 {
        dsync_domain::time::now_millis()
    }
}
