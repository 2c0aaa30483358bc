//! A BambooHR re-sync's checkpoint: where an unfinished run resumes and what it has done so
//! far. A big directory is re-synced over several invocations; the adapter stores this as is.

use serde::{Deserialize, Serialize};

/// The first phase: the HR listing upserted, in employee id order.
pub const EMPLOYEES: &str = "employees";
/// The second phase: users the listing no longer names removed, in provider user id order.
pub const LEAVERS: &str = "leavers";

/// Where an unfinished re-sync resumes, and what it has done so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResyncCheckpoint {
    pub run_id: String,
    /// Milliseconds.
    pub started_at: i64,
    /// `employees` (upserting the listing, in employee id order) or `leavers` (users the
    /// listing no longer names, in user id order).
    pub phase: String,
    /// The last employee id (or provider user id) done in this phase.
    pub after: Option<String>,
    pub upserted: u64,
    pub unchanged: u64,
    pub removed: u64,
    pub skipped: u64,
    pub failed: u64,
    pub error: Option<String>,
}
