//! Values read from the table, remembered by this process for a bounded time: the SCIM
//! function's directories and the policy function's directory contexts. What a stale copy
//! can do wrong is each user's to state; this is only the bookkeeping.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Past this many entries the cache starts over (a process serves a few directories).
const MAX_ENTRIES: usize = 10_000;

pub struct AgedCache<K, V> {
    entries: Arc<Mutex<HashMap<K, (Instant, V)>>>,
}

impl<K, V> Clone for AgedCache<K, V> {
    fn clone(&self) -> Self {
        Self {
            entries: self.entries.clone(),
        }
    }
}

impl<K, V> Default for AgedCache<K, V> {
    fn default() -> Self {
        Self {
            entries: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<K, V> std::fmt::Debug for AgedCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgedCache").finish_non_exhaustive()
    }
}

impl<K: Eq + Hash, V: Clone> AgedCache<K, V> {
    fn lock(&self) -> MutexGuard<'_, HashMap<K, (Instant, V)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The copy, if it was read less than `max_age` ago.
    pub fn get(&self, key: &K, max_age: Duration) -> Option<V> {
        let entries = self.lock();
        let (read_at, value) = entries.get(key)?;
        (read_at.elapsed() < max_age).then(|| value.clone())
    }

    /// `read_at` is taken before the read, so a copy is never older than it claims.
    pub fn put(&self, key: K, value: V, read_at: Instant) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (read_at, value));
    }

    pub fn forget(&self, key: &K) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long_ago() -> Instant {
        Instant::now()
            .checked_sub(Duration::from_secs(6))
            .expect("the clock is past 6 s")
    }

    #[test]
    fn a_copy_is_served_only_while_younger_than_the_bound() {
        let cache = AgedCache::default();
        cache.put("fresh", 1, Instant::now());
        assert_eq!(cache.get(&"fresh", Duration::from_secs(5)), Some(1));
        assert_eq!(cache.get(&"fresh", Duration::ZERO), None);

        cache.put("old", 2, long_ago());
        assert_eq!(cache.get(&"old", Duration::from_secs(5)), None);
    }

    #[test]
    fn a_forgotten_copy_is_not_served() {
        let cache = AgedCache::default();
        cache.put("forgotten", 1, Instant::now());
        cache.forget(&"forgotten");
        assert_eq!(cache.get(&"forgotten", Duration::from_secs(5)), None);
    }
}
