//! Directories as the SCIM function authenticates them, remembered for a few seconds.
//!
//! Every SCIM request is authenticated against its directory's stored token hash. Reading
//! the directory item on every request doubles the round trips of a write, so the SCIM
//! function keeps what it read for a bounded time ([`Store::directory_within`]). The bound
//! is the price: in another process (another Lambda instance) a rotated token or a deleted
//! directory is still accepted until that process's copy is older than the bound. Within
//! one process (the local runner, where the management API and the SCIM function share one
//! `Store`) a rotation or deletion forgets the copy at once.

use std::time::{Duration, Instant};

use dsync_domain::ids::DirectoryId;
use dsync_domain::model::Directory;

use crate::aged_cache::AgedCache;
use crate::{Store, StoreError};

pub(crate) type DirectoryCache = AgedCache<DirectoryId, Directory>;

impl Store {
    /// The directory as read at most `max_age` ago by this process (a zero `max_age` always
    /// reads). `NotFound` is never remembered: a directory that appears is found at once.
    pub async fn directory_within(
        &self,
        id: &DirectoryId,
        max_age: Duration,
    ) -> Result<Directory, StoreError> {
        if let Some(directory) = self.directories.get(id, max_age) {
            return Ok(directory);
        }
        // Stamped before the read, so the copy is never older than it claims.
        let read_at = Instant::now();
        let directory = self.get_directory(id).await?;
        if !max_age.is_zero() {
            self.directories
                .put(directory.id, directory.clone(), read_at);
        }
        Ok(directory)
    }
}
