//! The embedded DynamoDB engine (dynoxide) served over HTTP on a loopback port, so every
//! function talks to it through the real `aws-sdk-dynamodb` client.
//!
//! Five settings make it fast enough to keep up with a provider:
//!
//! - **Stream indexes.** The engine keeps every stream record in one SQLite table without an
//!   index on the sequence number, so each write (which takes the next number as `MAX + 1`)
//!   and each `GetRecords` scanned every record ever written: provisioning slowed down with
//!   every user. [`index_streams`] adds the two indexes those statements can use; results are
//!   unchanged (an index never changes what a query returns), each write becomes a lookup.
//! - **Threads of its own.** The engine runs every request to completion while holding its
//!   one SQLite connection, blocking the thread it runs on. On the functions' runtime that
//!   stalled their handlers too (a second request to the engine blocked a second worker on the
//!   lock), so it serves from a runtime of its own, with two threads: while one holds the
//!   connection, the other reads, parses and answers requests over HTTP (about half of the
//!   engine's work): one environment's log took 45% more events per second with 16
//!   concurrent writers, about the same with 1–4 (docs/BENCHMARKS.md).
//! - **Durability.** SQLite runs in WAL mode. A persistent engine commits with
//!   `synchronous=NORMAL`: a commit writes the log without waiting for the disk, so every
//!   committed write survives the process being killed or crashing; the log is synced to disk
//!   when it is checkpointed into the data file. A power cut or OS crash can lose the writes
//!   committed since the last sync, never corrupt the file or keep half a transaction.
//! - **Checkpoints off the request path.** Left to itself the engine checkpoints on the commit
//!   that fills the log to 1,000 pages, syncing twice while every request waits. [`wal`]
//!   checkpoints from a second connection on a thread of its own, often enough that the
//!   engine's own rarely comes due, and at least every quarter of a second while writes come
//!   in, which also bounds what a power cut can lose.
//!
//! - **Caches.** [`caches`] gives the persistent engine's connection a 64 MiB page cache and
//!   memory-mapped reads, so more of a large data file's B-tree is read from memory.
//!
//! A throwaway engine (`--in-memory`, tests) lives in a temporary file deleted when it stops,
//! with `synchronous=OFF` and no checkpointer: nothing of it is meant to survive.

mod caches;
mod wal;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub struct Engine {
    addr: SocketAddr,
    pub database: dynoxide::Database,
    server: Option<Server>,
    checkpointer: Option<wal::Checkpointer>,
    /// The throwaway engine's file, removed on drop.
    scratch: Option<PathBuf>,
}

/// The engine's HTTP server on its own thread; stopped (and its connections dropped) when
/// `stop` is sent or dropped.
struct Server {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
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
        if scratch.is_none() {
            caches::apply_to_connections_opened_from_now()?;
        }
        let database = dynoxide::Database::new(&path.to_string_lossy())?;
        index_streams(&path)?;
        let checkpointer = if scratch.is_some() {
            // synchronous=OFF, a larger page cache, memory-mapped reads.
            database.enable_bulk_loading()?;
            None
        } else {
            // WAL with synchronous=NORMAL and larger caches, set as the connection opened.
            Some(wal::Checkpointer::start(&path)?)
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let server = serve(listener, database.clone())?;
        Ok(Self {
            addr,
            database,
            server: Some(server),
            checkpointer,
            scratch,
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn serve(listener: std::net::TcpListener, database: dynoxide::Database) -> anyhow::Result<Server> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("dsync-engine")
        .enable_all()
        .build()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("dsync-engine".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::error!(%error, "the engine cannot listen");
                        return;
                    }
                };
                tokio::select! {
                    _ = dynoxide::server::serve_on(listener, database) => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime here drops every connection and its database handle.
        })?;
    Ok(Server { stop, thread })
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
        if let Some(server) = self.server.take() {
            let _ = server.stop.send(());
            // A request in progress finishes first; the files below are only removed after.
            let _ = server.thread.join();
        }
        drop(self.checkpointer.take());
        if let Some(path) = &self.scratch {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        }
    }
}
