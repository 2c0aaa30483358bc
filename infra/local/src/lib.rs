//! The local runner: the same handlers as the Lambdas, wired as AWS wires them, on an
//! embedded DynamoDB engine (or a real endpoint).

mod bootstrap;
mod engine;
mod google_pull;
mod hr_resync;
mod http_server;
mod pipeline;
pub mod streams;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dsync_dynamo::{
    client_from, sdk_config, tables, with_latency, ConnectOptions, Store, TableNames,
};

pub use bootstrap::{Bootstrap, StoreKind};
pub use engine::Engine;

/// Every process that hosts the embedded engine (the runner, the benchmarks, the test
/// binary) allocates through mimalloc: the engine turns each request's JSON into values and
/// SQLite rows and back, and with glibc's allocator a quarter of a busy runner's CPU went
/// to `malloc` and `free` (docs/BENCHMARKS.md, "The allocator"). The Lambdas, which
/// host no engine, keep the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone)]
pub struct Options {
    /// Where the engine's data file and `bootstrap.json` live.
    pub data_dir: PathBuf,
    /// A throwaway engine in memory. Its secrets go to `bootstrap.in-memory.json`, never to
    /// the persistent run's `bootstrap.json`.
    pub in_memory: bool,
    /// Use this DynamoDB endpoint instead of the embedded engine.
    pub dynamodb_endpoint: Option<String>,
    /// Added to every DynamoDB and DynamoDB Streams request of the run, as a network round
    /// trip to DynamoDB would (zero: none); see `dsync_dynamo::with_latency`.
    pub dynamodb_latency: Duration,
    pub table_prefix: String,
    /// `127.0.0.1:8787`; port 0 picks a free one.
    pub listen: SocketAddr,
    /// How often every environment is reconciled (`None`: only on request).
    pub reconcile_every: Option<Duration>,
    /// The clock the policy function reads (tests move it to test retention).
    pub clock: Option<dsync_policy::Clock>,
    /// Feed the provider-records stream to the policy function and the events stream to the
    /// fan-out function (tests that deliver stream batches themselves turn it off).
    pub process_streams: bool,
    /// The fan-out function's settings: retry schedule, timeouts, allowed addresses. The
    /// local runner allows loopback endpoints over HTTP by default.
    pub fanout: dsync_fanout::Config,
    /// How often due webhook deliveries are retried (the Lambda schedule is every minute).
    pub sweep_every: Duration,
    /// Where Google's Directory API and token endpoint are (tests point them at a fake).
    /// Credentials are sealed with `google-credentials.key` in the data directory.
    pub google: dsync_google::Endpoints,
}

impl Options {
    /// Which store this run keeps its data in, and so which bootstrap file is its own.
    pub fn store_kind(&self) -> StoreKind {
        match (&self.dynamodb_endpoint, self.in_memory) {
            (Some(_), _) => StoreKind::Endpoint,
            (None, true) => StoreKind::InMemory,
            (None, false) => StoreKind::Embedded,
        }
    }

    /// The fan-out settings a local run starts from: `DSYNC_WEBHOOK_*` from the
    /// environment, with loopback endpoints over HTTP allowed unless `DSYNC_WEBHOOK_ALLOW`
    /// says otherwise.
    pub fn local_fanout_config() -> Result<dsync_fanout::Config, String> {
        let mut config = dsync_fanout::Config::from_env()?;
        if std::env::var_os("DSYNC_WEBHOOK_ALLOW").is_none() {
            config.addresses = dsync_domain::webhooks::AddressPolicy::local();
        }
        Ok(config)
    }
}

/// A running service: its address, its bootstrap secrets and the store it writes.
pub struct Running {
    pub addr: SocketAddr,
    pub bootstrap: Bootstrap,
    /// The file the bootstrap secrets were written to.
    pub bootstrap_path: PathBuf,
    pub store: Store,
    pub engine: Option<Engine>,
    pub pipeline: pipeline::Pipeline,
    /// The DynamoDB endpoint every function uses.
    pub endpoint: String,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Returns once every provider-record change written so far has been projected.
    pub async fn settle(&self) -> anyhow::Result<()> {
        self.pipeline.settle().await
    }

    /// Serves until the process is stopped.
    pub async fn wait(mut self) {
        let _ = (&mut self.server).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub async fn start(options: Options) -> anyhow::Result<Running> {
    // First: a runner whose port is taken (most often by another runner) stops here, with
    // the way out, before it opens the data directory's engine.
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e}. Is another dsync-local running? \
                 --port (or DSYNC_PORT) picks another port.",
                options.listen
            )
        })?;
    std::fs::create_dir_all(&options.data_dir)?;
    let (endpoint, engine) = match &options.dynamodb_endpoint {
        Some(endpoint) => (endpoint.clone(), None),
        None => {
            let file = (!options.in_memory).then(|| options.data_dir.join("dynoxide.db"));
            let engine = Engine::start(file.as_deref()).await?;
            (engine.endpoint(), Some(engine))
        }
    };
    let aws = sdk_config(ConnectOptions {
        endpoint: Some(endpoint.clone()),
        region: None,
    })
    .await;
    let aws = with_latency(&aws, options.dynamodb_latency);
    let client = client_from(&aws);
    let names = TableNames::with_prefix(&options.table_prefix);
    tables::create_tables(&client, &names).await?;
    let store = Store::new(client, names);

    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    let bootstrap_path = bootstrap::path(&options.data_dir, options.store_kind());
    let bootstrap = bootstrap::ensure(&store, &bootstrap_path, &base_url).await?;

    let policy = match options.clock {
        Some(clock) => dsync_policy::App::with_clock(store.clone(), clock),
        None => dsync_policy::App::new(store.clone()),
    };
    let persistent = !options.in_memory && options.dynamodb_endpoint.is_none();
    let fanout = dsync_fanout::App::new(store.clone(), options.fanout.clone());
    let mut pipeline = pipeline::Pipeline::start(
        policy.clone(),
        fanout,
        pipeline::PipelineOptions {
            aws,
            provider_table: store.tables().provider_records.clone(),
            events_table: store.tables().events.clone(),
            checkpoint: persistent
                .then(|| options.data_dir.join("provider-stream-checkpoint.json")),
            sweep_every: options.sweep_every,
            reconcile_every: options.reconcile_every,
            process_streams: options.process_streams,
        },
    );
    if let Some(engine) = &engine {
        pipeline.add_task(pipeline::sweep_ttl_every(
            engine.database.clone(),
            Duration::from_secs(60),
        ));
    }
    // One key file seals every provider secret: Google credentials and HR secrets.
    let sealer =
        dsync_google::Sealer::local_key_file(&options.data_dir.join("google-credentials.key"))?;
    // The same settings the Lambda reads (`DSYNC_SCIM_DIRECTORY_CACHE_MS`, …).
    let scim_config =
        dsync_provider_webhooks::Config::from_env().map_err(|e| anyhow::anyhow!(e))?;
    let mut scim =
        dsync_provider_webhooks::App::new(store.clone(), scim_config).with_sealer(sealer.clone());
    // The API checks endpoint URLs by the same rules the fan-out delivers by.
    let mut api_config = dsync_api::Config {
        webhook_addresses: options.fanout.addresses,
        ..Default::default()
    };
    // A local BambooHR fake for the re-sync, when one is named.
    if let Some(url) = std::env::var("DSYNC_BAMBOOHR_BASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
    {
        api_config.bamboohr.base_url = url.trim().trim_end_matches('/').to_owned();
    }
    let api_config_resync = api_config.bamboohr.clone();
    let mut api = dsync_api::App::new(store.clone(), api_config);
    api.policy = policy.clone();
    let mut google = dsync_google::Google::new(options.google.clone(), sealer.clone());
    // Google delivers push notifications to this runner (a fake Google in tests; a real
    // one only through a public HTTPS origin: DSYNC_GOOGLE_PUSH_BASE_URL).
    google.push_base_url = Some(
        std::env::var(dsync_google::PUSH_BASE_URL_VARIABLE)
            .ok()
            .map(|url| url.trim().trim_end_matches('/').to_owned())
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| base_url.clone()),
    );
    let wake = Arc::new(tokio::sync::Notify::new());
    pipeline.add_task(google_pull::pull_requested_on(
        google.clone(),
        store.clone(),
        policy.clone(),
        wake.clone(),
    ));
    scim.google_pull_trigger = Some(Arc::new(move || wake.notify_one()));
    if let Some(every) = options.reconcile_every {
        pipeline.add_task(google_pull::pull_every(
            google.clone(),
            store.clone(),
            policy.clone(),
            every,
        ));
        pipeline.add_task(hr_resync::resync_every(
            api_config_resync.clone(),
            sealer.clone(),
            store.clone(),
            policy.clone(),
            every,
        ));
    }
    api.google = Some(google);
    api.sealer = Some(sealer);
    let trigger = pipeline.reconcile_trigger();
    api.reconcile_trigger = Some(Arc::new(move |_| trigger.notify_one()));
    let sweep = pipeline.sweep_trigger();
    api.sweep_trigger = Some(Arc::new(move || sweep.notify_one()));
    let server = tokio::spawn(http_server::serve(
        listener,
        http_server::Routes { scim, api },
    ));
    Ok(Running {
        addr,
        bootstrap,
        bootstrap_path,
        store,
        engine,
        pipeline,
        endpoint,
        server,
    })
}
