//! The last processed sequence number of each shard, kept in a small JSON file so a restarted
//! runner with a data file resumes where it stopped instead of replaying the whole stream.
//!
//! Losing the file is harmless: handlers are idempotent, so replaying is correct, only slower.
//! That is why every failure here is a warning and never stops processing.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Shard id → the sequence number of the last record the handler accepted or dead-lettered.
pub(super) type Positions = BTreeMap<String, String>;

#[derive(Serialize, Deserialize)]
struct File {
    /// A checkpoint names its stream: a table recreated (or re-streamed) gets a new ARN, and
    /// positions in the old stream mean nothing in the new one.
    stream_arn: String,
    shards: Positions,
}

/// The saved positions for `stream_arn`; none if the file is absent, unreadable or for another
/// stream.
pub(super) fn load(path: &Path, stream_arn: &str) -> Positions {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Positions::new(),
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "stream checkpoint unreadable; reading from the start");
            return Positions::new();
        }
    };
    match serde_json::from_str::<File>(&text) {
        Ok(file) if file.stream_arn == stream_arn => file.shards,
        Ok(_) => Positions::new(),
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "stream checkpoint malformed; reading from the start");
            Positions::new()
        }
    }
}

/// Writes beside the file and renames over it, so a crash mid-write leaves the old checkpoint.
/// Blocking: the caller runs it off the runtime's threads.
pub(super) fn save(path: &Path, stream_arn: &str, shards: &Positions) {
    let file = File {
        stream_arn: stream_arn.to_owned(),
        shards: shards.clone(),
    };
    let written = serde_json::to_vec_pretty(&file)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            let temporary = path.with_extension("json.tmp");
            std::fs::write(&temporary, bytes)?;
            std::fs::rename(&temporary, path)
        });
    if let Err(err) = written {
        tracing::warn!(path = %path.display(), error = %err, "stream checkpoint not saved");
    }
}
