//! Every key the service writes, built in one place. `ARCHITECTURE.md` lists the access
//! pattern each one serves.

use dsync_domain::ids::{
    ApiKeyId, DeliveryId, DirectoryGroupId, DirectoryId, DirectoryUserId, EnvironmentId,
    ProviderGroupId, ProviderUserId, ReconciliationId, WebhookEndpointId,
};

pub(crate) const PK: &str = "pk";
pub(crate) const SK: &str = "sk";
pub(crate) const GSI1PK: &str = "gsi1pk";
pub(crate) const GSI1SK: &str = "gsi1sk";
pub(crate) const GSI2PK: &str = "gsi2pk";
pub(crate) const GSI2SK: &str = "gsi2sk";

// Directory table.
pub(crate) const ENVIRONMENT_SK: &str = "ENVIRONMENT";
pub(crate) const API_KEY_SK: &str = "API_KEY";
pub(crate) const DIRECTORY_SK: &str = "DIRECTORY";
/// An API key's listing entry under its environment: `APIKEY#<key id>`.
pub(crate) const API_KEY_LISTING_PREFIX: &str = "APIKEY#";

pub(crate) fn api_key_listing_sk(id: &ApiKeyId) -> String {
    format!("{API_KEY_LISTING_PREFIX}{id}")
}

pub(crate) fn environment_pk(id: &EnvironmentId) -> String {
    format!("ENV#{id}")
}

/// GSI1 on environment items: every environment.
pub(crate) const ALL_ENVIRONMENTS: &str = "ENVIRONMENTS";

pub(crate) fn api_key_pk(hash_hex: &str) -> String {
    format!("APIKEY#{hash_hex}")
}

pub(crate) fn directory_pk(id: &DirectoryId) -> String {
    format!("DIRECTORY#{id}")
}

/// GSI1 on directory items: an environment's directories.
pub(crate) fn environment_directories(id: &EnvironmentId) -> String {
    format!("ENV#{id}#DIRECTORIES")
}

// Provider-records table: one partition per directory.
pub(crate) const USER_PREFIX: &str = "USER#";
pub(crate) const GROUP_PREFIX: &str = "GROUP#";

pub(crate) fn provider_pk(directory: &DirectoryId) -> String {
    format!("DIR#{directory}")
}

pub(crate) fn user_sk(id: &ProviderUserId) -> String {
    format!("{USER_PREFIX}{id}")
}

pub(crate) fn group_sk(id: &ProviderGroupId) -> String {
    format!("{GROUP_PREFIX}{id}")
}

/// The guard that makes `userName` unique per directory, case-insensitively.
pub(crate) fn user_name_sk(user_name: &str) -> String {
    format!("UNAME#{}", user_name.to_lowercase())
}

pub(crate) fn member_prefix(group: &ProviderGroupId) -> String {
    format!("MEMBER#{group}#")
}

pub(crate) fn member_sk(group: &ProviderGroupId, user: &ProviderUserId) -> String {
    format!("MEMBER#{group}#{user}")
}

/// GSI1 on user items: `externalId eq` lookups.
pub(crate) fn user_external_id(directory: &DirectoryId, external_id: &str) -> String {
    format!("DIR#{directory}#UEXT#{external_id}")
}

/// GSI1 on group items: `externalId eq` lookups.
pub(crate) fn group_external_id(directory: &DirectoryId, external_id: &str) -> String {
    format!("DIR#{directory}#GEXT#{external_id}")
}

/// GSI2 on group items: `displayName eq` lookups, case-insensitive.
pub(crate) fn group_display_name(directory: &DirectoryId, display_name: &str) -> String {
    format!("DIR#{directory}#GNAME#{}", display_name.to_lowercase())
}

/// The user-side twin of a membership, written with it: a user's groups by a consistent
/// Query (an index would be eventually consistent, and the policy function cannot afford a
/// stale read of a user's groups).
pub(crate) fn member_of_prefix(user: &ProviderUserId) -> String {
    format!("MEMBEROF#{user}#")
}

pub(crate) fn member_of_sk(user: &ProviderUserId, group: &ProviderGroupId) -> String {
    format!("MEMBEROF#{user}#{group}")
}

// Directory table: the projection, one partition per provider user / provider group, so the
// policy function reads what it needs with one consistent Query.
pub(crate) const DIRECTORY_USER_SK: &str = "DUSER";
pub(crate) const DIRECTORY_GROUP_SK: &str = "DGROUP";
pub(crate) const DIRECTORY_MEMBER_PREFIX: &str = "DMEMBER#";
pub(crate) const EVENT_HEAD_SK: &str = "EVENT_HEAD";

pub(crate) fn projected_user_pk(provider_user: &ProviderUserId) -> String {
    format!("PUSER#{provider_user}")
}

pub(crate) fn projected_group_pk(provider_group: &ProviderGroupId) -> String {
    format!("PGROUP#{provider_group}")
}

pub(crate) fn directory_member_sk(group: &DirectoryGroupId) -> String {
    format!("{DIRECTORY_MEMBER_PREFIX}{group}")
}

/// GSI1 on directory users: a directory's users in id order.
pub(crate) fn directory_users(directory: &DirectoryId) -> String {
    format!("DIR#{directory}#DUSERS")
}

/// GSI1 on directory groups: a directory's groups in id order.
pub(crate) fn directory_groups(directory: &DirectoryId) -> String {
    format!("DIR#{directory}#DGROUPS")
}

/// GSI1 on effective memberships: a directory group's users in id order.
pub(crate) fn directory_group_members(group: &DirectoryGroupId) -> String {
    format!("DGROUP#{group}#MEMBERS")
}

/// GSI2: a directory user or group by its own id.
pub(crate) fn by_directory_user_id(id: &DirectoryUserId) -> String {
    format!("DUSER#{id}")
}

pub(crate) fn by_directory_group_id(id: &DirectoryGroupId) -> String {
    format!("DGROUP#{id}")
}

/// Events table: one partition per environment, sorted by sequence number.
pub(crate) fn event_sk(sequence: u64) -> String {
    format!("{sequence:020}")
}

pub(crate) const RECONCILIATION_PREFIX: &str = "RECON#";

pub(crate) fn reconciliation_sk(id: &ReconciliationId) -> String {
    format!("{RECONCILIATION_PREFIX}{id}")
}

/// Beside an environment's runs: the one run pending or running, which requests coalesce into
/// (outside the `RECON#` range, so lists never show it).
pub(crate) const ACTIVE_RECONCILIATION_SK: &str = "ACTIVE_RECONCILIATION";

/// GSI1 on reconciliation runs that are pending or running (the key is removed when done).
pub(crate) const UNFINISHED_RECONCILIATIONS: &str = "RECONCILIATIONS#UNFINISHED";

// Management API (`api_reads`).
/// Beside a deleted directory's item: the marker that its records are still being removed.
pub(crate) const DIRECTORY_PURGE_SK: &str = "PURGE";

/// GSI1 on purge markers: every deleted directory whose records are not all removed yet.
pub(crate) const PENDING_DIRECTORY_PURGES: &str = "DIRECTORIES#PURGING";

// Webhooks (directory table).
/// Beside the environment item: its webhook endpoints, listed with one Query.
pub(crate) const WEBHOOK_ENDPOINT_PREFIX: &str = "WEBHOOK#";

pub(crate) fn webhook_endpoint_sk(id: &WebhookEndpointId) -> String {
    format!("{WEBHOOK_ENDPOINT_PREFIX}{id}")
}

/// One partition per endpoint: its deliveries, by event sequence. (endpoint, event) is the
/// key, so recording a delivery twice (a redelivered stream batch) finds the first one.
pub(crate) fn deliveries_pk(endpoint: &WebhookEndpointId) -> String {
    format!("DELIVERIES#{endpoint}")
}

pub(crate) const DELIVERY_PREFIX: &str = "EVENT#";

pub(crate) fn delivery_sk(event_sequence: u64) -> String {
    format!("{DELIVERY_PREFIX}{event_sequence:020}")
}

/// GSI1 on pending deliveries: what the retry sweep reads, by due time. Spread over a few
/// partitions by endpoint, so a burst of deliveries does not heat one index partition.
pub(crate) const DUE_DELIVERY_SHARDS: u32 = 8;

pub(crate) fn due_deliveries(shard: u32) -> String {
    format!("DELIVERIES#DUE#{shard}")
}

pub(crate) fn due_shard_of(endpoint: &WebhookEndpointId) -> u32 {
    (endpoint.ulid().random() % u128::from(DUE_DELIVERY_SHARDS)) as u32
}

pub(crate) fn due_at(next_attempt_at: i64, id: &DeliveryId) -> String {
    format!("{:015}#{id}", next_attempt_at.max(0))
}
