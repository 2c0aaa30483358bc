//! The local stand-ins for Lambda's event source mapping and EventBridge schedules: the
//! provider-records stream feeds the policy function; reconciliation runs on a schedule and
//! on request; the engine's TTL sweep runs periodically (DynamoDB does it by itself).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dsync_policy::{reconcile, stream};
use tokio::sync::{Mutex, Notify};

use crate::streams::{streams_client, FailedRecord, StreamPump, StreamSource, StreamTask};

pub struct Pipeline {
    provider_stream: Option<Mutex<StreamTask>>,
    reconcile_now: Arc<Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

pub struct PipelineOptions {
    pub endpoint: String,
    pub provider_table: String,
    /// Where the stream position is kept across restarts (`None`: start from the beginning).
    pub checkpoint: Option<PathBuf>,
    pub reconcile_every: Option<Duration>,
    pub process_streams: bool,
}

impl Pipeline {
    pub fn start(policy: dsync_policy::App, options: PipelineOptions) -> Self {
        let mut source = StreamSource::new(options.provider_table);
        source.checkpoint_path = options.checkpoint;
        let handler_app = policy.clone();
        let pump = StreamPump::new(
            streams_client(&options.endpoint),
            source,
            move |batch| {
                let app = handler_app.clone();
                async move { Ok(stream::handle_batch(&app, batch).await) }
            },
            |failed: FailedRecord| {
                tracing::error!(sequence = ?failed.sequence_number, table = %failed.table_name,
                    "provider record sent to the dead-letter destination");
            },
        );
        let reconcile_now = Arc::new(Notify::new());
        let scheduler = tokio::spawn(schedule_reconciliations(
            policy,
            reconcile_now.clone(),
            options.reconcile_every,
        ));
        Self {
            provider_stream: options
                .process_streams
                .then(|| Mutex::new(pump.spawn_forever())),
            reconcile_now,
            tasks: vec![scheduler],
        }
    }

    /// Returns once every provider-record change written so far has been projected.
    pub async fn settle(&self) -> anyhow::Result<()> {
        match &self.provider_stream {
            Some(stream) => stream.lock().await.wait_idle().await,
            None => Ok(()),
        }
    }

    /// Runs pending reconciliations now (as `POST /reconciliations` asks).
    pub fn reconcile_soon(&self) {
        self.reconcile_now.notify_one();
    }

    pub fn reconcile_trigger(&self) -> Arc<Notify> {
        self.reconcile_now.clone()
    }

    pub fn add_task(&mut self, task: tokio::task::JoinHandle<()>) {
        self.tasks.push(task);
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn schedule_reconciliations(
    app: dsync_policy::App,
    now: Arc<Notify>,
    every: Option<Duration>,
) {
    let mut interval = every.map(|every| {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    if let Some(interval) = interval.as_mut() {
        interval.tick().await; // the first tick is immediate; the first run waits a period
    }
    loop {
        let scheduled = async {
            match interval.as_mut() {
                Some(interval) => {
                    interval.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let result = tokio::select! {
            _ = scheduled => reconcile::reconcile_everything(&app, None).await,
            _ = now.notified() => reconcile::run_unfinished(&app, None).await,
        };
        if let Err(error) = result {
            tracing::error!(%error, "reconciliation failed");
        }
    }
}

/// DynamoDB removes expired items by itself; the embedded engine does it when asked.
pub fn sweep_ttl_every(
    database: dynoxide::Database,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let database = database.clone();
            match tokio::task::spawn_blocking(move || database.sweep_ttl()).await {
                Ok(Ok(removed)) if removed > 0 => tracing::info!(removed, "expired items removed"),
                Ok(Err(error)) => tracing::warn!(%error, "TTL sweep failed"),
                _ => {}
            }
        }
    })
}
