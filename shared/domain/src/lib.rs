//! The directory sync domain. Everything here is pure: no AWS types, no I/O.
//!
//! - [`scim`]: SCIM 2.0 resources, the filter grammar, PATCH, errors and discovery documents.
//! - [`ids`]: prefixed, time-sortable identifiers.
//! - [`secrets`]: bearer tokens and API keys, hashed at rest and compared in constant time.
//! - [`model`]: environments, directories and provider records as the service stores them.
//! - [`providers`]: HR systems' signed webhooks (BambooHR, the generic HR format) as provider users.
//! - [`webhooks`]: webhook endpoints, delivery signing, address checks and the retry schedule.

pub mod directory;
pub mod ids;
pub mod model;
pub mod providers;
pub mod scim;
pub mod secrets;
pub mod time;
pub mod webhooks;
