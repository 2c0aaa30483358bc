//! The embedded DynamoDB engine (dynoxide) served over HTTP on a loopback port, so every
//! function talks to it through the real `aws-sdk-dynamodb` client.
//!
//! Two settings make it fast enough to keep up with a provider:
//!
//! - **Stream indexes.** The engine keeps every stream record in one SQLite table without an
//!   index on the sequence number, so each write (which takes the next number as `MAX + 1`)
//!   and each `GetRecords` scanned every record ever written: provisioning slowed down with
//!   every user. [`index_streams`] adds the two indexes those statements can use; results are
//!   unchanged (an index never changes what a query returns), each write becomes a lookup.
//! - **Durability.** SQLite runs in WAL mode. A persistent engine commits with
//!   `synchronous=NORMAL`: every committed write survives the process being killed or
//!   crashing; a power cut or OS crash can lose the writes of the last moments (those not yet
//!   checkpointed to the data file), never corrupt the file or keep half a transaction.
//!   A throwaway engine (`--in-memory`, tests) lives in a temporary file deleted when it
//!   stops, with `synchronous=OFF`: nothing of it is meant to survive.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub struct Engine {
    addr: SocketAddr,
    pub database: dynoxide::Database,
    task: tokio::task::JoinHandle<()>,
    /// The throwaway engine's file, removed on drop.
    scratch: Option<PathBuf>,
}

impl Engine {
    /// With a file the data survives restarts; without, it is thrown away when the engine
    /// stops.
    pub async fn start(file: Option<&Path>) -> anyhow::Result<Self> {
        let (path, scratch) = match file {
            Some(path) => (path.to_path_buf(), None),
            None => {
                let unique = ulid::Ulid::new().to_string().to_lowercase();
                let path = std::env::temp_dir().join(format!("dsync-engine-{unique}.db"));
                (path.clone(), Some(path))
            }
        };
        let database = dynoxide::Database::new(&path.to_string_lossy())?;
        index_streams(&path)?;
        if scratch.is_some() {
            // synchronous=OFF, a larger page cache, memory-mapped reads.
            database.enable_bulk_loading()?;
        } else {
            // Despite its name: WAL with synchronous=NORMAL and default caches.
            database.disable_bulk_loading()?;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(dynoxide::server::serve_on(listener, database.clone()));
        Ok(Self {
            addr,
            database,
            task,
            scratch,
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Indexes the engine's stream-record table by sequence number, once per data file, through a
/// second connection (the engine does not expose its own). The expressions are exactly those
/// of the engine's statements — `MAX(CAST(sequence_number AS INTEGER))` per table when a write
/// takes the next number, `CAST(sequence_number AS INTEGER) > ?` ordered per shard in
/// `GetRecords` — as SQLite only uses an expression index for the same expression.
fn index_streams(path: &Path) -> anyhow::Result<()> {
    let connection = rusqlite::Connection::open(path)?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    connection.execute_batch(
        "CREATE INDEX IF NOT EXISTS dsync_stream_records_by_table
             ON _stream_records (table_name, CAST(sequence_number AS INTEGER));
         CREATE INDEX IF NOT EXISTS dsync_stream_records_by_shard
             ON _stream_records (table_name, shard_id, CAST(sequence_number AS INTEGER));",
    )?;
    Ok(())
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(path) = &self.scratch {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        }
    }
}
