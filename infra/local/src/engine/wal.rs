//! Checkpoints of the engine's write-ahead log, from a connection of their own.
//!
//! SQLite checkpoints on the commit that takes the log past 1,000 pages: with
//! `synchronous=NORMAL` that commit syncs the log, copies it into the data file and syncs that,
//! while the engine's one connection (and so every request) waits. A checkpoint from a second
//! connection does the same work without holding the engine up: in WAL mode a `PASSIVE`
//! checkpoint never blocks the writer, and a writer that finds the log fully copied starts it
//! over, so run often enough the log never reaches the engine's own threshold.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// The pause after a checkpoint that copied pages: writes are coming in, and the sooner the
/// log is copied the sooner the engine starts it over. It also bounds how long a committed
/// write waits to be synced while writes keep coming.
const BUSY_PAUSE: Duration = Duration::from_millis(20);
/// The pause after a checkpoint that found nothing to copy. A write committed in an idle
/// period is synced within this.
const IDLE_PAUSE: Duration = Duration::from_millis(250);

/// Stops (after the checkpoint in progress, if any) when dropped.
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    pub(super) fn start(path: &Path) -> anyhow::Result<Self> {
        let connection = rusqlite::Connection::open(path)?;
        // As the engine's: sync the log before copying it, the data file after.
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("dsync-checkpoint".into())
            .spawn(move || run(&connection, &stopped))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn run(connection: &rusqlite::Connection, stopped: &mpsc::Receiver<()>) {
    let mut pause = IDLE_PAUSE;
    let mut last = Log::default();
    loop {
        match stopped.recv_timeout(pause) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        pause = match checkpoint(connection) {
            Ok(log) if log != last => {
                last = log;
                BUSY_PAUSE
            }
            Ok(_) => IDLE_PAUSE,
            Err(error) => {
                // The engine checkpoints by itself all the same; only the speed-up is lost.
                tracing::warn!(%error, "background checkpoint failed");
                IDLE_PAUSE
            }
        };
    }
}

/// The log after a checkpoint: unchanged since the last one means no write came in.
#[derive(Default, PartialEq, Eq)]
struct Log {
    pages: i64,
    copied: i64,
}

fn checkpoint(connection: &rusqlite::Connection) -> rusqlite::Result<Log> {
    // The first column says another checkpoint was running, which does as well.
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok(Log {
            pages: row.get(1)?,
            copied: row.get(2)?,
        })
    })
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
