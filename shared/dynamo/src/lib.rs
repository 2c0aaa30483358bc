//! The DynamoDB adapter every function shares.
//!
//! This is the only crate that knows `aws-sdk-dynamodb`. It speaks the domain's types
//! (`ProviderUser`, `Directory`, …) on one side and items, keys and conditional writes on the
//! other. The key design and the access pattern each key serves are in `ARCHITECTURE.md`.

mod aged_cache;
mod api_keys;
mod api_reads;
mod client;
mod commit_turns;
mod control;
mod count_backfill;
mod directory_cache;
mod directory_state;
mod env_config;
mod error;
mod event_heads;
mod event_log;
mod event_pages;
pub mod faults;
mod google;
mod google_push;
mod group_commit;
mod hr_resync;
mod hr_sources;
mod item;
mod item_size;
mod keys;
mod latency;
mod lease;
mod listed;
mod logging;
mod member_sweep;
pub mod metering;
mod outbound;
mod packed;
mod provider_groups;
mod provider_users;
mod query;
mod reconciliations;
mod record_counts;
mod scim_paging;
mod sync_failures;
pub mod tables;
mod user_commit;
mod user_inputs;
mod user_state_counts;
mod webhooks;

pub use aged_cache::AgedCache;
pub use api_keys::{obfuscate as obfuscate_api_key, ApiKey, NewApiKey};
pub use api_reads::{
    DirectoryToken, EventCursor, EventPage, EventQuery, ListCursor, ListOrder, ListWindow, Page,
    PurgeProgress, StoredDirectory, EVENT_SCAN_PAGES,
};
pub use client::{client_from, https_client, is_local_endpoint, ConnectOptions, SdkConfig};
#[cfg(feature = "standard-chain")]
pub use client::{connect, default_region, sdk_config};
pub use control::NewDirectory;
pub use count_backfill::Backfill;
pub use directory_state::{ProjectedGroup, ProjectedUser, ProjectedUserItems};
pub use dsync_seal::{SealError, Sealer, SEALING_KEY_VARIABLE};
pub use env_config::{connect_from_env, env_config, EnvConfigError, ENDPOINT_VARIABLE};
pub use error::StoreError;
pub use event_log::{EventScope, StoredEvent, EVENT_RETENTION_DAYS};
pub use event_pages::{decode_events, events_of_page};
pub use google::PullLease;
pub use google_push::GoogleChannel;
pub use hr_resync::{ResyncCheckpoint, ResyncState};
pub use hr_sources::{HrCredentials, HrSyncReport};
pub use latency::{delayed_http_client, with_latency};
pub use listed::{ListedUser, PlannedFrom};
pub use logging::{init_lambda_logging, log_filter};
pub use member_sweep::MEMBER_SWEEP_MARK_TYPE;
pub use outbound::{Call, Outbound, OutboundError, Reply};
pub use packed::{pack as pack_document, unpack as unpack_document};
pub use provider_groups::{GroupState, MemberPage, MembershipDiff, MEMBER_WRITE_LEASE_MS};
pub use provider_users::UserPage;
pub use reconciliations::{
    Checkpoint, LeaseAfterSave, Reconciliation, ReconciliationCounts, ReconciliationState,
    RequestedRun, RECONCILIATION_LEASE_MS,
};
pub use record_counts::RecordKind;
pub use sync_failures::{FailedRecordKey, SyncFailure};
pub use tables::{TableNames, TableSpec, TABLES};
pub use user_inputs::UserInputs;
pub use user_state_counts::DirectoryMetadata;
pub use webhooks::{DeliveryPage, DueScan};

use aws_sdk_dynamodb::Client;

/// A handle on the service's tables. Cheap to clone; build one per process and share it.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    tables: TableNames,
    /// Shared by clones: see [`Store::directory_within`].
    directories: directory_cache::DirectoryCache,
    /// Shared by clones: see event_heads.rs.
    event_heads: event_heads::EventHeads,
    /// Shared by clones over the same client: see group_commit.rs.
    commit_queues: group_commit::CommitQueues,
    /// Whether a process that lost a race for a log head takes turns (commit_turns.rs).
    commit_turns: bool,
}

impl Store {
    pub fn new(client: Client, tables: TableNames) -> Self {
        Self {
            client,
            tables,
            directories: Default::default(),
            event_heads: Default::default(),
            commit_queues: Default::default(),
            commit_turns: true,
        }
    }

    /// Without turns at the log heads: racing processes read the head and send their
    /// transactions, as before turns. For the log benchmark's comparison.
    pub fn without_commit_turns(self) -> Self {
        Self {
            commit_turns: false,
            ..self
        }
    }

    /// The same tables and this process's caches over another client (a metered or faulty
    /// one beside the plain one, as tests build them).
    pub fn with_client(&self, client: Client) -> Self {
        Self {
            client,
            commit_queues: Default::default(),
            ..self.clone()
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &TableNames {
        &self.tables
    }
}
