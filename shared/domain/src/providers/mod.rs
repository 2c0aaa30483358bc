//! Sources other than SCIM that feed the same provider records: HR systems posting signed
//! webhooks. Each source is parsed into [`employee::EmployeeChange`]s, which become SCIM user
//! resources, so the projection, the events and the fan-out treat them exactly as SCIM users.
//!
//! - [`employee`]: an HR system's employee as a provider user (ids, SCIM resource, status).
//! - [`bamboohr`]: BambooHR's `X-BambooHR-Signature` scheme, its webhook and directory bodies.
//! - [`hr_webhooks`]: the documented generic HR format, signed with Standard Webhooks.
//! - [`google`]: Google Workspace's users, groups and members (the pull is `dsync-google`).
//! - [`replay`]: the window a signed delivery is accepted in, and its replay key.
//! - [`resync`]: a BambooHR re-sync's checkpoint, resumed across invocations.

pub mod bamboohr;
pub mod employee;
pub mod google;
pub mod hr_webhooks;
pub mod replay;
pub mod resync;
