//! `cargo run -p dsync-local`: the whole service on one machine.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "dsync-local",
    about = "Runs the directory sync service locally"
)]
struct Args {
    /// Where the engine's data file and bootstrap.json live.
    #[arg(long, default_value = ".dsync", env = "DSYNC_DATA_DIR")]
    data_dir: PathBuf,
    /// Keep the data in memory only (a throwaway run; its secrets go to
    /// bootstrap.in-memory.json and the persistent run's files are left alone).
    #[arg(long)]
    in_memory: bool,
    /// Use this DynamoDB endpoint (e.g. a real region's or DynamoDB Local) instead of the
    /// embedded engine. A loopback endpoint gets static `local` credentials; any other uses
    /// the standard AWS credential and region chain (profile, SSO, AWS_* variables).
    #[arg(long, env = "DSYNC_DYNAMODB_ENDPOINT")]
    dynamodb_endpoint: Option<String>,
    /// Delay every DynamoDB request by this many milliseconds, a network round trip to
    /// DynamoDB (half before the request, half after the answer), to see locally what round
    /// trips cost. 0: none.
    #[arg(long, default_value_t = 0, env = "DSYNC_DYNAMODB_LATENCY_MS")]
    dynamodb_latency_ms: u64,
    #[arg(long, default_value = "dsync", env = "DSYNC_TABLE_PREFIX")]
    table_prefix: String,
    /// Port on 127.0.0.1 to serve the HTTP functions on.
    #[arg(long, default_value_t = 8787, env = "DSYNC_PORT")]
    port: u16,
    /// Reconcile every environment this often, in seconds (0: only on request).
    #[arg(long, default_value_t = 3600, env = "DSYNC_RECONCILE_EVERY")]
    reconcile_every: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aws=warn,hyper=warn".into()),
        )
        .init();
    let args = Args::parse();
    let running = dsync_local::start(dsync_local::Options {
        data_dir: args.data_dir.clone(),
        in_memory: args.in_memory,
        dynamodb_endpoint: args.dynamodb_endpoint,
        dynamodb_latency: Duration::from_millis(args.dynamodb_latency_ms),
        table_prefix: args.table_prefix,
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)),
        reconcile_every: (args.reconcile_every > 0)
            .then(|| Duration::from_secs(args.reconcile_every)),
        clock: None,
        process_streams: true,
        fanout: dsync_local::Options::local_fanout_config().map_err(anyhow::Error::msg)?,
        sweep_every: Duration::from_secs(1),
        google: dsync_google::Endpoints::from_env(),
    })
    .await?;
    let b = &running.bootstrap;
    println!("dsync is running on http://{}", running.addr);
    println!("  environment_id  {}", b.environment_id);
    println!("  api_key         {}", b.api_key);
    println!("  api_base_url    {}", b.api_base_url);
    println!("  directory_id    {}", b.directory_id);
    println!("  scim_base_url   {}", b.scim_base_url);
    println!("  scim_token      {}", b.scim_token);
    println!("(also in {})", running.bootstrap_path.display());
    tokio::select! {
        _ = running.wait() => {}
        _ = tokio::signal::ctrl_c() => println!("stopping"),
    }
    Ok(())
}
