//! SCIM 2.0 (RFC 7643 / RFC 7644) as the service speaks it.

pub mod attributes;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod list;
pub mod patch;
pub mod render;
pub mod resource;
pub mod schema;

pub use error::{ScimError, ScimErrorType};
