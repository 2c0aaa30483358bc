//! The local stand-ins for Lambda's event source mappings and EventBridge schedules: the
//! provider-records stream feeds the policy function and the events stream the fan-out
//! function; reconciliation and the delivery sweep run on schedules and on request; the
//! engine's TTL sweep runs periodically (DynamoDB does it by itself).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dsync_policy::{reconcile, stream};
use tokio::sync::{Mutex, Notify};

use crate::streams::{streams_client_from, FailedRecord, StreamPump, StreamSource, StreamTask};

pub struct Pipeline {
    provider_stream: Option<Mutex<StreamTask>>,
    events_stream: Option<Mutex<StreamTask>>,
    reconcile_now: Arc<Notify>,
    sweep_now: Arc<Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

pub struct PipelineOptions {
    /// The AWS settings the streams client is built from (the DynamoDB client's own).
    pub aws: dsync_dynamo::SdkConfig,
    pub provider_table: String,
    pub events_table: String,
    /// Where the streams' positions are kept across restarts (`None`: start from the
    /// beginning); one file per stream is made from this path.
    pub checkpoint: Option<PathBuf>,
    /// How often due webhook deliveries are retried.
    pub sweep_every: Duration,
    pub reconcile_every: Option<Duration>,
    pub process_streams: bool,
}

impl Pipeline {
    pub fn start(
        policy: dsync_policy::App,
        fanout: dsync_fanout::App,
        options: PipelineOptions,
    ) -> Self {
        let mut source = StreamSource::new(options.provider_table.clone());
        source.checkpoint_path = options.checkpoint.clone();
        // As the template's mapping delivers them.
        source.batch_size = stream::BATCH_SIZE;
        let handler_app = policy.clone();
        let pump = StreamPump::new(
            streams_client_from(&options.aws),
            source,
            move |batch| {
                let app = handler_app.clone();
                async move { Ok(stream::handle_batch(&app, batch).await) }
            },
            {
                let app = policy.clone();
                move |failed: FailedRecord| {
                    tracing::error!(sequence = ?failed.sequence_number, table = %failed.table_name,
                        "provider record sent to the dead-letter destination");
                    let app = app.clone();
                    tokio::spawn(async move {
                        let reason = format!("retries exhausted: {}", failed.error);
                        let recorded =
                            stream::quarantine_dead_letter(&app, &failed.record, &reason).await;
                        if let Err(error) = recorded {
                            tracing::error!(%error, "dead letter not recorded as a sync failure");
                        }
                    });
                }
            },
        );
        let events_pump = events_pump(&fanout, &options);
        let reconcile_now = Arc::new(Notify::new());
        let scheduler = tokio::spawn(schedule_reconciliations(
            policy,
            reconcile_now.clone(),
            options.reconcile_every,
        ));
        let sweep_now = Arc::new(Notify::new());
        let sweeper = tokio::spawn(sweep_deliveries(
            fanout,
            sweep_now.clone(),
            options.sweep_every,
        ));
        Self {
            provider_stream: options
                .process_streams
                .then(|| Mutex::new(pump.spawn_forever())),
            events_stream: options
                .process_streams
                .then(|| Mutex::new(events_pump.spawn_forever())),
            reconcile_now,
            sweep_now,
            tasks: vec![scheduler, sweeper],
        }
    }

    /// Returns once every provider-record change written so far has been projected, and the
    /// events that made have been handed to the fan-out function (deliveries recorded and
    /// first attempts made or cut off).
    pub async fn settle(&self) -> anyhow::Result<()> {
        for stream in [&self.provider_stream, &self.events_stream]
            .into_iter()
            .flatten()
        {
            stream.lock().await.wait_idle().await?;
        }
        Ok(())
    }

    /// Retries due deliveries now (as `POST /deliveries/{id}/retry` asks).
    pub fn sweep_trigger(&self) -> Arc<Notify> {
        self.sweep_now.clone()
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

fn events_pump(fanout: &dsync_fanout::App, options: &PipelineOptions) -> StreamPump {
    let mut source = StreamSource::new(options.events_table.clone());
    source.checkpoint_path = options
        .checkpoint
        .as_ref()
        .map(|path| path.with_file_name("events-stream-checkpoint.json"));
    let app = fanout.clone();
    StreamPump::new(
        streams_client_from(&options.aws),
        source,
        move |batch| {
            let app = app.clone();
            async move { Ok(dsync_fanout::stream::handle_batch(&app, batch).await) }
        },
        |failed: FailedRecord| {
            tracing::error!(sequence = ?failed.sequence_number, table = %failed.table_name,
                "event sent to the dead-letter destination");
        },
    )
}

/// The delivery sweep, every `every` and whenever asked.
async fn sweep_deliveries(app: dsync_fanout::App, now: Arc<Notify>, every: Duration) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = now.notified() => {}
        }
        match dsync_fanout::sweep::run(&app, None).await {
            Ok(report) if report.attempted + report.abandoned > 0 => {
                tracing::info!(
                    attempted = report.attempted,
                    delivered = report.delivered,
                    abandoned = report.abandoned,
                    "delivery sweep"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "delivery sweep failed"),
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
