//! DynamoDB stream records fed to Lambda-style handlers, as an event source mapping with
//! `FunctionResponseTypes: [ReportBatchItemFailures]`, `BisectBatchOnFunctionError: true`,
//! `MaximumRetryAttempts` and an on-failure destination would feed them.
//!
//! It reads through the real `aws-sdk-dynamodbstreams` client, so it works against the
//! embedded engine and against any endpoint that speaks the streams API.
//!
//! - Each shard is read in order, in batches of up to `batch_size` records; a child shard waits
//!   until its parent is finished.
//! - `Err` from the handler fails the whole batch. A batch of several records is halved and
//!   retried at once (bisect, not counted as an attempt); a single record is retried after a
//!   backoff and counts one attempt.
//! - `batch_item_failures` naming a record of the batch means "everything before it succeeded":
//!   those are checkpointed and the batch is retried from the named record, counting one
//!   attempt for it. An identifier that is missing or not in the batch fails the whole batch,
//!   as in Lambda.
//! - After `max_retries` retries (so `max_retries + 1` failed attempts) the record goes to the
//!   dead-letter callback and processing continues after it.
//! - Positions live in memory. Without `checkpoint_path` a new pump reads every shard from
//!   `TRIM_HORIZON`, i.e. a restarted runner replays what the engine still holds; with it, it
//!   resumes after the last position written there (at most a second behind while records
//!   flow, exact once the pump is idle). Handlers are idempotent, so a replay is correct.
//!
//! One pump is one event source mapping: two handlers on one table need two pumps, and two
//! checkpoint files.

mod checkpoint;
mod convert;
mod reader;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_dynamodbstreams::config::{BehaviorVersion, Region};
use aws_sdk_dynamodbstreams::Client;
use tokio::sync::watch;

pub use aws_lambda_events::event::dynamodb::{Event, EventRecord};
pub use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use reader::Reader;

/// The longest wait between two attempts of a failing record.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The pause after a failed read of the stream, before polling again.
const ERROR_PAUSE: Duration = Duration::from_secs(1);
/// How long a pump that keeps finding records goes on reading the shards it knows before
/// listing the stream's shards again (a pass that finds nothing always lists them).
const RELIST_EVERY: Duration = Duration::from_secs(1);

/// A streams client built from the same AWS settings as the DynamoDB client
/// (`dsync_dynamo::sdk_config`): the standard credential chain for a remote endpoint, static
/// `local` credentials for one on loopback.
pub fn streams_client_from(aws: &dsync_dynamo::SdkConfig) -> Client {
    Client::new(aws)
}

/// A streams client for an endpoint on this machine (tests): static `local` credentials,
/// `us-east-1`, as `dsync_dynamo::sdk_config` gives a loopback endpoint.
pub fn streams_client(endpoint: &str) -> Client {
    // A local engine accepts any signature; real credentials would only leak into logs.
    let config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("local", "local", None, None, "dsync"))
        .http_client(dsync_dynamo::https_client())
        .build();
    Client::from_conf(config)
}

/// Which table's stream to read, and the mapping's settings.
#[derive(Debug, Clone)]
pub struct StreamSource {
    pub table_name: String,
    /// Records per invocation at most (Lambda's `BatchSize`); 100.
    pub batch_size: usize,
    /// Retries of a failing record before it is dead-lettered; 3.
    pub max_retries: u32,
    /// Wait between polls once caught up; 200 ms.
    pub poll_interval: Duration,
    /// Wait before the first retry of a record, doubling per attempt up to 30 s; 200 ms.
    pub retry_backoff: Duration,
    /// A JSON file holding each shard's last processed sequence number; `None` keeps it in
    /// memory only.
    pub checkpoint_path: Option<PathBuf>,
}

impl StreamSource {
    pub fn new(table_name: impl Into<String>) -> Self {
        Self {
            table_name: table_name.into(),
            batch_size: 100,
            max_retries: 3,
            poll_interval: Duration::from_millis(200),
            retry_backoff: Duration::from_millis(200),
            checkpoint_path: None,
        }
    }
}

pub type HandlerFuture =
    Pin<Box<dyn Future<Output = anyhow::Result<DynamoDbEventResponse>> + Send>>;

/// A Lambda function for DynamoDB stream events. Any `Fn(Event) -> impl Future<Output =
/// anyhow::Result<DynamoDbEventResponse>>` is one.
pub trait StreamHandler: Send + Sync + 'static {
    fn call(&self, event: Event) -> HandlerFuture;
}

impl<F, Fut> StreamHandler for F
where
    F: Fn(Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<DynamoDbEventResponse>> + Send + 'static,
{
    fn call(&self, event: Event) -> HandlerFuture {
        Box::pin(self(event))
    }
}

/// A record given up on, as the on-failure destination receives it.
pub struct FailedRecord {
    pub table_name: String,
    pub stream_arn: String,
    pub shard_id: String,
    pub sequence_number: String,
    /// Failed attempts, the first included.
    pub attempts: u32,
    /// The last failure: the handler's error, or that it reported this record as failed.
    pub error: String,
    pub record: EventRecord,
}

/// Without the record: it holds item contents, which don't belong in logs.
impl fmt::Debug for FailedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailedRecord")
            .field("table_name", &self.table_name)
            .field("shard_id", &self.shard_id)
            .field("sequence_number", &self.sequence_number)
            .field("attempts", &self.attempts)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

type DeadLetter = Box<dyn Fn(FailedRecord) + Send + Sync>;

/// One table's stream, feeding one handler.
pub struct StreamPump {
    source: StreamSource,
    handler: Arc<dyn StreamHandler>,
    dead_letter: DeadLetter,
    reader: Reader,
    /// The next pass lists the stream's shards whatever the time.
    relist: bool,
    listed_at: Instant,
}

/// What one pass over the shards did.
#[derive(Default)]
struct Round {
    /// Records the handler accepted.
    processed: usize,
    /// Something was read or is still waiting: another pass may have work.
    busy: bool,
}

impl StreamPump {
    /// `dead_letter` is the on-failure destination; it runs on the pump's task, so it should
    /// be quick.
    pub fn new(
        client: Client,
        mut source: StreamSource,
        handler: impl StreamHandler,
        dead_letter: impl Fn(FailedRecord) + Send + Sync + 'static,
    ) -> Self {
        // A batch of none would never deliver anything.
        source.batch_size = source.batch_size.max(1);
        let reader = Reader::new(
            client,
            source.table_name.clone(),
            source.batch_size,
            source.checkpoint_path.clone(),
        );
        Self {
            source,
            handler: Arc::new(handler),
            dead_letter: Box::new(dead_letter),
            reader,
            relist: true,
            listed_at: Instant::now(),
        }
    }

    /// Processes everything in the stream now and returns once a pass finds nothing new and
    /// nothing waiting, with the number of records the handler accepted (redeliveries and
    /// dead-lettered records not counted). A record still being retried keeps it going, so
    /// callers that may meet a failing handler should wrap it in a timeout.
    pub async fn pump_until_idle(&mut self) -> anyhow::Result<usize> {
        let mut processed = 0;
        loop {
            let round = self.round().await?;
            processed += round.processed;
            if !round.busy {
                return Ok(processed);
            }
        }
    }

    /// Polls forever on a task of its own. Errors reading the stream (the table not created
    /// yet, the engine restarting) are logged and retried.
    pub fn spawn_forever(mut self) -> StreamTask {
        let (progress, rounds) = watch::channel(Rounds::default());
        let task = tokio::spawn(async move {
            loop {
                progress.send_modify(|r| r.started += 1);
                match self.round().await {
                    Ok(round) if round.busy => continue,
                    Ok(_) => progress.send_modify(|r| r.idle = r.started),
                    Err(err) => {
                        tracing::warn!(
                            table = %self.source.table_name,
                            error = format!("{err:#}"),
                            "reading the stream failed; retrying"
                        );
                        // Slower than polling: this is usually a table not created yet.
                        tokio::time::sleep(ERROR_PAUSE).await;
                    }
                }
                tokio::time::sleep(self.source.poll_interval).await;
            }
        });
        StreamTask { task, rounds }
    }

    async fn round(&mut self) -> anyhow::Result<Round> {
        // Listing the stream and its shards is two requests; while records keep coming it is
        // done every `RELIST_EVERY`, not per batch, where it was a third of the engine's
        // requests when batches were small.
        let listed = self.relist || self.listed_at.elapsed() >= RELIST_EVERY;
        let round = self.pass(listed).await;
        // A failed read may mean the shard or the stream is gone.
        self.relist |= round.is_err();
        round
    }

    async fn pass(&mut self, listed: bool) -> anyhow::Result<Round> {
        if listed {
            self.reader.refresh().await?;
            self.relist = false;
            self.listed_at = Instant::now();
        }
        let mut round = Round::default();
        for index in 0..self.reader.shards.len() {
            if !self.reader.ready(index) {
                continue;
            }
            round.busy |= self.reader.fill(index).await? > 0;
            if !self.reader.shards[index].pending.is_empty() {
                round.processed += self.deliver(index).await;
                round.busy = true;
            }
        }
        if !round.busy {
            // Nothing new: the next pass lists the shards, as a quiet pump's every pass does,
            // and only a pass that listed them may call the pump idle (a new shard or stream
            // may hold records).
            round.busy = !listed;
            self.relist = true;
        }
        // An idle pump's file is exact, so a runner stopped while quiet replays nothing.
        self.reader.save(!round.busy).await;
        Ok(round)
    }

    /// One invocation with the first pending records of a shard; returns how many it accepted.
    async fn deliver(&mut self, index: usize) -> usize {
        let shard = &self.reader.shards[index];
        let take = shard.limit.min(shard.pending.len());
        let mut event = Event::default();
        event.records = shard.pending.iter().take(take).cloned().collect();
        // On a task of its own so a panicking handler fails its batch, as a crashed Lambda
        // runtime does, instead of taking the pump down with it.
        let handler = Arc::clone(&self.handler);
        let failure = match tokio::spawn(async move { handler.call(event).await }).await {
            Ok(Ok(response)) => first_failure(&response, shard.pending.iter().take(take)),
            Ok(Err(err)) => Err(format!("{err:#}")),
            Err(crashed) => Err(format!("the handler crashed: {crashed}")),
        };
        let (accepted, error) = match failure {
            Ok(None) => return self.reader.commit(index, take).len(),
            Ok(Some(at)) => (at, "reported as a batch item failure".to_owned()),
            Err(error) if take > 1 => {
                // Bisect: retry the first half at once, so a bad record is cornered quickly
                // and the good ones before it go through.
                let shard = &mut self.reader.shards[index];
                shard.limit = take / 2;
                tracing::warn!(table = %self.source.table_name, shard = %shard.id, records = take, %error, "stream batch failed; splitting it");
                return 0;
            }
            Err(error) => (0, error),
        };
        self.reader.commit(index, accepted);
        let shard = &mut self.reader.shards[index];
        shard.attempts += 1;
        let attempts = shard.attempts;
        let sequence_number = sequence_number(shard.pending.front());
        if attempts <= self.source.max_retries {
            tracing::warn!(table = %self.source.table_name, shard = %shard.id, %sequence_number, attempts, %error, "stream record failed; retrying");
            let backoff = self
                .source
                .retry_backoff
                .saturating_mul(2u32.saturating_pow(attempts - 1));
            tokio::time::sleep(backoff.min(MAX_BACKOFF)).await;
            return accepted;
        }
        let shard_id = shard.id.clone();
        for record in self.reader.commit(index, 1) {
            tracing::error!(table = %self.source.table_name, shard = %shard_id, %sequence_number, attempts, "stream record sent to the on-failure destination");
            (self.dead_letter)(FailedRecord {
                table_name: self.source.table_name.clone(),
                stream_arn: self.reader.stream_arn.clone(),
                shard_id: shard_id.clone(),
                sequence_number: sequence_number.clone(),
                attempts,
                error: error.clone(),
                record,
            });
        }
        accepted
    }
}

/// The position in the batch of the first record the response names as failed; `Err` when
/// an identifier is missing or names no record of the batch, which Lambda treats as the whole
/// batch failing.
fn first_failure<'a>(
    response: &DynamoDbEventResponse,
    batch: impl Iterator<Item = &'a EventRecord> + Clone,
) -> Result<Option<usize>, String> {
    let mut first: Option<usize> = None;
    for failure in &response.batch_item_failures {
        let id = failure.item_identifier.as_deref().unwrap_or_default();
        let at = batch
            .clone()
            .position(|record| record.change.sequence_number.as_deref() == Some(id))
            .ok_or_else(|| format!("batch item failure {id:?} names no record of the batch"))?;
        first = Some(first.map_or(at, |first| first.min(at)));
    }
    Ok(first)
}

fn sequence_number(record: Option<&EventRecord>) -> String {
    record
        .and_then(|r| r.change.sequence_number.clone())
        .unwrap_or_default()
}

#[derive(Debug, Clone, Copy, Default)]
struct Rounds {
    /// Passes begun.
    started: u64,
    /// The last pass that found nothing to do.
    idle: u64,
}

/// A pump running on its own task; stopped when dropped.
#[must_use = "dropping the task stops the pump"]
pub struct StreamTask {
    task: tokio::task::JoinHandle<()>,
    rounds: watch::Receiver<Rounds>,
}

impl StreamTask {
    /// Waits for a pass that began after this call and found nothing to do: everything written
    /// to the table before the call has been processed (or dead-lettered).
    pub async fn wait_idle(&mut self) -> anyhow::Result<()> {
        let after = self.rounds.borrow().started;
        self.rounds
            .wait_for(|rounds| rounds.idle > after)
            .await
            .map(|_| ())
            .map_err(|_| anyhow::anyhow!("the stream pump stopped"))
    }
}

impl Drop for StreamTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}
