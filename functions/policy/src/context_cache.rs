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

use std::time::{Duration, Instant};

use dsync_domain::ids::DirectoryId;
use dsync_dynamo::AgedCache;

use crate::project::DirectoryContext;

#[derive(Clone, Default)]
pub struct ContextCache {
    contexts: AgedCache<DirectoryId, DirectoryContext>,
}

impl ContextCache {
    pub(crate) fn get(&self, id: &DirectoryId, max_age: Duration) -> Option<DirectoryContext> {
        self.contexts.get(id, max_age)
    }

    /// Forgets a directory's context: this process changed its settings or mappings.
    pub fn forget(&self, id: &DirectoryId) {
        self.contexts.forget(id);
    }

    /// `read_at` is taken before the reads, so a copy is never older than it claims.
    pub(crate) fn put(&self, context: DirectoryContext, read_at: Instant) {
        self.contexts.put(context.directory().id, context, read_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsync_domain::ids::EnvironmentId;
    use dsync_domain::model::{Directory, DirectoryMappings, EnvironmentSettings, ProviderKind};
    use dsync_domain::secrets::SecretHash;

    fn context() -> DirectoryContext {
        DirectoryContext::new(
            Directory {
                id: DirectoryId::generate(),
                environment_id: EnvironmentId::generate(),
                name: "Cached".into(),
                kind: ProviderKind::OktaScimV2,
                organization_id: None,
                token_hash: SecretHash::of("token"),
                created_at: 0,
                mappings: DirectoryMappings::default(),
            },
            EnvironmentSettings::default(),
        )
    }

    // Ageing and forgetting are `AgedCache`'s (tested there); this is the keying.
    #[test]
    fn a_context_is_found_and_forgotten_by_its_directory_id() {
        let cache = ContextCache::default();
        let context = context();
        let id = context.directory().id;
        cache.put(context, Instant::now());
        let found = cache.get(&id, Duration::from_secs(5)).expect("cached");
        assert_eq!(found.directory().id, id);
        cache.forget(&id);
        assert!(cache.get(&id, Duration::from_secs(5)).is_none());
    }
}
