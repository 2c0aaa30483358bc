//! The directory sync domain. Everything here is pure: no AWS types, no I/O.
//!
//! - [`scim`]: SCIM 2.0 resources, the filter grammar, PATCH, errors and discovery documents.
//! - [`ids`]: prefixed, time-sortable identifiers.
//! - [`secrets`]: bearer tokens and API keys, hashed at rest and compared in constant time.
//! - [`model`]: environments, directories and provider records as the service stores them.
//! - [`providers`]: sources other than SCIM: HR systems' signed webhooks (BambooHR, the generic HR
//!   format) and Google Workspace's Directory API, as provider records.
//! - [`reconciliation`]: reconciliation runs, their checkpoints and where a run resumes.
//! - [`webhooks`]: webhook endpoints, delivery signing, address checks and the retry schedule.

pub mod directory;
pub mod ids;
pub mod model;
pub mod providers;
pub mod reconciliation;
pub mod scim;
pub mod secrets;
pub mod time;
pub mod webhooks;
