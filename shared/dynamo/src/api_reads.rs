//! What the management and events API reads and writes beyond the control plane of
//! `control.rs`: environment settings, directories with their lifecycle events, listings of
//! directory users and groups in WorkOS list order, and reads of the event log.
//!
//! - [`paging`]: `limit` / `before` / `after` / `order` windows over id-ordered keys.
//! - [`directories`]: settings, directory create / rotate / delete with their events.
//! - [`purge`]: removing a deleted directory's records, resumably.
//! - [`projection_reads`]: directory users and groups by id, by directory, by membership.
//! - [`event_reads`]: the Events API's reads of the log.

mod directories;
mod event_reads;
mod paging;
mod projection_reads;
mod purge;

pub use directories::{DirectoryToken, StoredDirectory};
pub use event_reads::{EventCursor, EventPage, EventQuery, EVENT_SCAN_PAGES};
pub(crate) use paging::KeyedList;
pub use paging::{ListCursor, ListOrder, ListWindow, Page};
pub use purge::PurgeProgress;
