//! The persistent engine's SQLite caches. dynoxide opens its one connection with SQLite's
//! defaults (a 2 MB page cache, no memory-mapped reads), and its only setting that changes
//! them (`enable_bulk_loading`) also turns syncing off. With a data file of gigabytes (a
//! 100,000-user directory is about 2.3 GB) every read then walks the B-tree through `read`
//! calls (a SCIM list page took 1.4–1.6× as long at 100,000 users as at 1,000 though its
//! work is the same; docs/BENCHMARKS.md, "Enterprise-size SCIM"). An
//! auto-extension, which SQLite runs on every connection it opens, gives the engine's
//! connection a 64 MiB page cache and 256 MiB of memory-mapped reads, and keeps
//! `synchronous=NORMAL`: durability is what it was (see the module above).

use std::ffi::{c_char, c_int};
use std::sync::Once;

use rusqlite::auto_extension::{init_auto_extension, register_auto_extension};
use rusqlite::ffi;

/// Page cache per connection, KiB (SQLite's `cache_size` takes a negative number for KiB).
const PAGE_CACHE_KIB: i64 = 64 * 1024;
/// The start of the data file read through memory instead of `read` calls.
const MMAP_BYTES: i64 = 256 * 1024 * 1024;

fn tune(connection: rusqlite::Connection) -> rusqlite::Result<()> {
    connection.execute_batch(&format!(
        "PRAGMA synchronous = NORMAL;
         PRAGMA cache_size = -{PAGE_CACHE_KIB};
         PRAGMA mmap_size = {MMAP_BYTES};"
    ))
}

unsafe extern "C" fn on_open(
    db: *mut ffi::sqlite3,
    error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: SQLite calls this with the connection it has just opened; `tune` neither
    // opens nor closes a connection nor touches the list of auto-extensions.
    unsafe { init_auto_extension(db, error, tune) }
}

/// Every SQLite connection this process opens from now on gets the caches (once per
/// process; the scratch engine's bulk-loading settings still override them).
pub fn apply_to_connections_opened_from_now() -> anyhow::Result<()> {
    static REGISTERED: Once = Once::new();
    let mut result = Ok(());
    REGISTERED.call_once(|| {
        // SAFETY: `on_open` is a valid auto-extension entry point for the whole process.
        result = unsafe { register_auto_extension(on_open) };
    });
    Ok(result?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_opened_after_registration_has_the_caches_and_normal_sync() {
        apply_to_connections_opened_from_now().unwrap();
        let dir = std::env::temp_dir().join(format!(
            "dsync-caches-{}",
            ulid::Ulid::new().to_string().to_lowercase()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let connection = rusqlite::Connection::open(dir.join("probe.db")).unwrap();
        let pragma = |name: &str| -> i64 {
            connection
                .query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
                .unwrap()
        };
        assert_eq!(pragma("cache_size"), -PAGE_CACHE_KIB);
        assert_eq!(pragma("mmap_size"), MMAP_BYTES);
        assert_eq!(pragma("synchronous"), 1, "NORMAL");
        drop(connection);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
