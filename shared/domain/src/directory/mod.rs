//! The directory as the developer sees it: the projection of provider records under the
//! environment's inactive-user policy, and the events that describe each change.
//!
//! - [`model`]: directory users and groups as stored.
//! - [`attributes`]: mapping SCIM resources to directory attributes.
//! - [`attribute_mapping`]: a directory's provider attribute paths → `custom_attributes`.
//! - [`roles`]: the environment's roles and a directory's group → role mapping.
//! - [`events`]: event names and their public payloads, carried as JSON text
//!   ([`EventData`]).
//! - [`event_log`]: events as the log holds them, their envelope and the Events API's filter.
//! - [`limits`]: record and event payload sizes that keep every item and transaction in
//!   DynamoDB's limits.
//! - [`projection`]: the projection rule, shared by the stream path and reconciliation.
//! - [`basis`]: a digest of what a user's projection was made from, to tell it unchanged.

pub mod attribute_mapping;
pub mod attributes;
pub mod basis;
mod event_data;
pub mod event_log;
pub mod events;
pub mod limits;
pub mod model;
pub mod projection;
pub mod roles;

pub use attributes::{group_from_provider, user_attributes};
pub use event_log::{EventFilter, EventScope, StoredEvent};
pub use events::{EventData, EventDraft};
pub use model::{DirectoryGroup, DirectoryUser, Email, UserAttributes, UserState};
pub use projection::{
    project_group, project_user, GroupInput, GroupOutcome, GroupWrite, MembershipChange, UserInput,
    UserOutcome, UserWrite,
};

#[cfg(test)]
mod event_data_tests;
#[cfg(test)]
mod projection_proptest;
#[cfg(test)]
mod projection_roles_tests;
#[cfg(test)]
mod projection_tests;
#[cfg(test)]
mod test_support;
