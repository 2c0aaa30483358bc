//! Finding a table's stream and its shards, and reading each shard in order into a buffer of
//! records not yet processed.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_sdk_dynamodbstreams::Client;

use super::{checkpoint, convert};

/// DynamoDB Streams' ceiling on `GetRecords`' `Limit`.
const MAX_GET_RECORDS: usize = 1000;

/// How often a busy pump writes its checkpoint file at most. Writing it after every batch
/// (a file replaced by rename, which the filesystem flushes) cost more than the batch when
/// the pump keeps up with single records; a crash replays at most this much, which idempotent
/// handlers make harmless.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

pub(super) struct Shard {
    pub(super) id: String,
    parent: Option<String>,
    /// Where the next `GetRecords` reads from; `None` until asked for, and again after a failed
    /// read, so an expired iterator is replaced by one positioned after `read_to`.
    iterator: Option<String>,
    /// The last record buffered in `pending` (or, before any, the checkpoint).
    read_to: Option<String>,
    /// Read, in stream order, and not yet accepted or dead-lettered.
    pub(super) pending: VecDeque<EventRecord>,
    /// `GetRecords` returned no next iterator: the shard is closed and fully read.
    exhausted: bool,
    /// Failed attempts of the first pending record.
    pub(super) attempts: u32,
    /// Records per invocation; halved on a failed batch (bisect), restored on progress.
    pub(super) limit: usize,
}

impl Shard {
    fn finished(&self) -> bool {
        self.exhausted && self.pending.is_empty()
    }
}

pub(super) struct Reader {
    client: Client,
    table_name: String,
    batch_size: usize,
    checkpoint_path: Option<PathBuf>,
    /// For records that don't name their region (the engine's do).
    region: String,
    pub(super) stream_arn: String,
    pub(super) shards: Vec<Shard>,
    positions: checkpoint::Positions,
    /// `positions` moved since the file was last written.
    unsaved: bool,
    saved_at: Instant,
}

impl Reader {
    pub(super) fn new(
        client: Client,
        table_name: String,
        batch_size: usize,
        checkpoint_path: Option<PathBuf>,
    ) -> Self {
        let region = client
            .config()
            .region()
            .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string());
        Self {
            client,
            table_name,
            batch_size,
            checkpoint_path,
            region,
            stream_arn: String::new(),
            shards: Vec::new(),
            positions: checkpoint::Positions::new(),
            unsaved: false,
            saved_at: Instant::now(),
        }
    }

    /// Follows the table's latest stream and its current shards. A new stream (the table was
    /// recreated, or its stream re-enabled) starts over: positions in the old one don't apply.
    pub(super) async fn refresh(&mut self) -> anyhow::Result<()> {
        let arn = self.latest_stream_arn().await?;
        if arn != self.stream_arn {
            if !self.stream_arn.is_empty() {
                tracing::info!(table = %self.table_name, stream = %arn, "following the table's new stream");
            }
            self.positions = match &self.checkpoint_path {
                Some(path) => checkpoint::load(path, &arn),
                None => checkpoint::Positions::new(),
            };
            self.shards.clear();
            self.stream_arn = arn;
        }
        let mut known: HashMap<String, Shard> =
            self.shards.drain(..).map(|s| (s.id.clone(), s)).collect();
        for (id, parent) in self.describe_shards().await? {
            let shard = known.remove(&id).unwrap_or_else(|| Shard {
                read_to: self.positions.get(&id).cloned(),
                id,
                parent,
                iterator: None,
                pending: VecDeque::new(),
                exhausted: false,
                attempts: 0,
                limit: self.batch_size,
            });
            self.shards.push(shard);
        }
        Ok(())
    }

    /// Lambda finishes a parent shard before reading its children, so a key's changes stay in
    /// order across a shard split. A parent no longer described has been trimmed away.
    pub(super) fn ready(&self, index: usize) -> bool {
        let Some(shard) = self.shards.get(index) else {
            return false;
        };
        let parent = shard
            .parent
            .as_ref()
            .and_then(|parent| self.shards.iter().find(|s| &s.id == parent));
        !shard.finished() && parent.is_none_or(Shard::finished)
    }

    /// Tops the shard's buffer up to `batch_size` records; returns how many were read.
    pub(super) async fn fill(&mut self, index: usize) -> anyhow::Result<usize> {
        let Some(shard) = self.shards.get_mut(index) else {
            return Ok(0);
        };
        let want = self
            .batch_size
            .saturating_sub(shard.pending.len())
            .min(MAX_GET_RECORDS);
        if shard.exhausted || want == 0 {
            return Ok(0);
        }
        let iterator = match shard.iterator.take() {
            Some(iterator) => iterator,
            None => shard_iterator(&self.client, &self.stream_arn, shard).await?,
        };
        let output = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(i32::try_from(want).unwrap_or(1))
            .send()
            .await
            .with_context(|| format!("GetRecords on {}", shard.id))?;
        let next = output.next_shard_iterator.clone();
        // All or nothing: a record that can't be converted leaves the position where it was.
        let records = output
            .records
            .unwrap_or_default()
            .into_iter()
            .map(|record| convert::event_record(record, &self.stream_arn, &self.region))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let read = records.len();
        if let Some(last) = records.last() {
            shard.read_to = last.change.sequence_number.clone();
        }
        shard.pending.extend(records);
        shard.exhausted = next.is_none();
        shard.iterator = next;
        Ok(read)
    }

    /// Drops the first `count` pending records as done and moves the checkpoint after the last
    /// of them (written by [`Reader::save`]); the next record starts with a clean slate.
    pub(super) fn commit(&mut self, index: usize, count: usize) -> Vec<EventRecord> {
        let Some(shard) = self.shards.get_mut(index) else {
            return Vec::new();
        };
        let done: Vec<EventRecord> = shard
            .pending
            .drain(..count.min(shard.pending.len()))
            .collect();
        let Some(last) = done.last().and_then(|r| r.change.sequence_number.clone()) else {
            return done;
        };
        shard.attempts = 0;
        shard.limit = self.batch_size;
        self.positions.insert(shard.id.clone(), last);
        self.unsaved = true;
        done
    }

    /// Writes the checkpoint file if it is behind and `now` or [`CHECKPOINT_EVERY`] has passed
    /// since the last write. Off the runtime's threads: the write waits on the filesystem.
    pub(super) async fn save(&mut self, now: bool) {
        if !self.unsaved || !(now || self.saved_at.elapsed() >= CHECKPOINT_EVERY) {
            return;
        }
        let Some(path) = self.checkpoint_path.clone() else {
            return;
        };
        self.unsaved = false;
        self.saved_at = Instant::now();
        let (arn, positions) = (self.stream_arn.clone(), self.positions.clone());
        // Awaited, so two writes never overtake each other.
        let written =
            tokio::task::spawn_blocking(move || checkpoint::save(&path, &arn, &positions)).await;
        if let Err(error) = written {
            tracing::warn!(%error, "stream checkpoint not saved");
        }
    }

    /// Streams are listed per table; a table keeps its disabled streams listed for a while, and
    /// labels are timestamps, so the greatest label is the current one.
    async fn latest_stream_arn(&self) -> anyhow::Result<String> {
        let mut latest: Option<(String, String)> = None;
        let mut start: Option<String> = None;
        loop {
            let page = self
                .client
                .list_streams()
                .table_name(&self.table_name)
                .set_exclusive_start_stream_arn(start.take())
                .send()
                .await
                .with_context(|| format!("ListStreams for {}", self.table_name))?;
            for stream in page.streams.unwrap_or_default() {
                let (Some(arn), label) =
                    (stream.stream_arn, stream.stream_label.unwrap_or_default())
                else {
                    continue;
                };
                if latest.as_ref().is_none_or(|(best, _)| label > *best) {
                    latest = Some((label, arn));
                }
            }
            start = page.last_evaluated_stream_arn;
            if start.is_none() {
                break;
            }
        }
        latest
            .map(|(_, arn)| arn)
            .ok_or_else(|| anyhow!("table {} has no stream", self.table_name))
    }

    /// Every shard of the stream with its parent, in the order DescribeStream lists them.
    async fn describe_shards(&self) -> anyhow::Result<Vec<(String, Option<String>)>> {
        let mut shards = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let description = self
                .client
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await
                .with_context(|| format!("DescribeStream {}", self.stream_arn))?
                .stream_description
                .ok_or_else(|| anyhow!("DescribeStream {} returned nothing", self.stream_arn))?;
            for shard in description.shards.unwrap_or_default() {
                if let Some(id) = shard.shard_id {
                    shards.push((id, shard.parent_shard_id));
                }
            }
            start = description.last_evaluated_shard_id;
            if start.is_none() {
                return Ok(shards);
            }
        }
    }
}

/// From the start of the shard the first time, else just after the last record read. A
/// position trimmed away (records older than the stream keeps) falls back to the start.
async fn shard_iterator(
    client: &Client,
    stream_arn: &str,
    shard: &Shard,
) -> anyhow::Result<String> {
    let request = || {
        client
            .get_shard_iterator()
            .stream_arn(stream_arn)
            .shard_id(&shard.id)
    };
    let response = match &shard.read_to {
        Some(after) => {
            let response = request()
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(after)
                .send()
                .await;
            match response {
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_trimmed_data_access_exception()) =>
                {
                    tracing::warn!(shard = %shard.id, "checkpoint trimmed from the stream; reading from the start");
                    request()
                        .shard_iterator_type(ShardIteratorType::TrimHorizon)
                        .send()
                        .await
                }
                other => other,
            }
        }
        None => {
            request()
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
        }
    };
    response
        .with_context(|| format!("GetShardIterator on {}", shard.id))?
        .shard_iterator
        .ok_or_else(|| anyhow!("no iterator for {}: the shard is gone", shard.id))
}
