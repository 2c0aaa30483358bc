//! Directory contexts remembered across stream batches for a bounded time.
//!
//! A stream batch needs its directory and the environment's settings: two consistent reads.
//! A Lambda instance serves batch after batch of the same few directories, so it keeps what
//! it read for [`App::context_max_age`](crate::App) (5 s on Lambda, `DSYNC_POLICY_CONTEXT_CACHE_MS`).
//!
//! What a copy up to that old can do wrong, and why it is bounded:
//! - a change to the environment's settings (inactive-user policy, retention, roles) or the
//!   directory's role and attribute mappings applies to changes projected up to that long
//!   after it, as it already did to the rest of a batch that had read the context before;
//! - a deleted directory is seen at once all the same: every projection commit checks, in
//!   its transaction, that the directory still exists, and a failed check re-reads it.
//!
//! Reconciliation and the settings preview never use these copies: they read the context
//! when they start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dsync_domain::ids::DirectoryId;

use crate::project::DirectoryContext;

/// Past this many directories the cache starts over (an instance serves a few).
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone, Default)]
pub struct ContextCache {
    entries: Arc<Mutex<HashMap<DirectoryId, (Instant, DirectoryContext)>>>,
}

impl ContextCache {
    pub(crate) fn get(&self, id: &DirectoryId, max_age: Duration) -> Option<DirectoryContext> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (read_at, context) = entries.get(id)?;
        (read_at.elapsed() < max_age).then(|| context.clone())
    }

    /// Forgets a directory's context: this process changed its settings or mappings.
    pub fn forget(&self, id: &DirectoryId) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(id);
    }

    /// `read_at` is taken before the reads, so a copy is never older than it claims.
    pub(crate) fn put(&self, context: DirectoryContext, read_at: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(context.directory.id, (read_at, context));
    }
}
