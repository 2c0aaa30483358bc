//! SCIM provisioning through the local runner, side by side with a do-nothing HTTP server in
//! the same process and the same run: creates/s and deactivation PATCHes/s with 8 keep-alive
//! clients, and how long after the last response the last event is in the log.
//!
//! `bash benches/run-all.sh` runs it with the other benchmarks; alone:
//! `cargo bench -p dsync-tests --bench scim_throughput` (`DSYNC_BENCH_USERS`, default 2000,
//! sets the number of users). Load generator and server share the machine's cores, for the
//! baseline as for the runner, so the ratio is what compares. With `DSYNC_BENCH_PEER=1` it
//! also loads the leading open-source peer, Ory Polis, on its in-memory store
//! (`benches/peer`, installed by `npm ci --prefix benches/peer`), the same way.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// Keep-alive clients sending requests one after another, as a provider's workers do.
const CLIENTS: usize = 8;

/// The runner's rates as a share of the do-nothing server's (issue 12, target 1).
const TARGET_RATIO: f64 = 0.5;

#[tokio::main]
async fn main() {
    let users: usize = std::env::var("DSYNC_BENCH_USERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let baseline = do_nothing_rate(users).await;
    let mut rows = vec![Row::rate("do-nothing HTTP server (POST)", baseline, None)];
    let peer = if std::env::var("DSYNC_BENCH_PEER").is_ok_and(|v| v == "1") {
        Some(peer_rates(users).await)
    } else {
        None
    };
    if let Some(peer) = &peer {
        rows.push(Row::peer(
            &format!("Ory Polis {}: SCIM creates", peer.version),
            peer.creates,
            baseline,
        ));
        rows.push(Row::peer(
            &format!("Ory Polis {}: SCIM deactivation PATCHes", peer.version),
            peer.patches,
            baseline,
        ));
    }
    for persistent in [true, false] {
        let (runner_rows, rates) = runner(users, persistent, baseline).await;
        rows.extend(runner_rows);
        if let Some(peer) = &peer {
            let kind = if persistent {
                "persistent"
            } else {
                "--in-memory"
            };
            rows.push(Row::versus(
                &format!("runner {kind}: creates as a share of Ory Polis's"),
                rates.0 / peer.creates,
            ));
            rows.push(Row::versus(
                &format!("runner {kind}: PATCHes as a share of Ory Polis's"),
                rates.1 / peer.patches,
            ));
        }
    }
    println!("| scenario | figure | ratio to do-nothing server | target | within |");
    println!("| --- | ---: | ---: | ---: | --- |");
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            row.label, row.figure, row.ratio, row.target, row.within
        );
    }
}

struct Row {
    label: String,
    figure: String,
    ratio: String,
    target: String,
    within: String,
}

impl Row {
    /// A rate; against the baseline's when there is one, with the target ratio.
    fn rate(label: &str, rate: f64, baseline: Option<f64>) -> Self {
        let (ratio, target, within) = match baseline {
            None => ("1.00".into(), "–".into(), "–".into()),
            Some(b) => (
                format!("{:.2}", rate / b),
                format!("≥ {TARGET_RATIO:.2}"),
                if rate / b >= TARGET_RATIO {
                    "yes"
                } else {
                    "NO"
                }
                .into(),
            ),
        };
        Self {
            label: label.to_owned(),
            figure: format!("{rate:.0}/s"),
            ratio,
            target,
            within,
        }
    }

    /// The peer's rate: a reference, not held to the target.
    fn peer(label: &str, rate: f64, baseline: f64) -> Self {
        Self {
            target: "–".into(),
            within: "–".into(),
            ..Self::rate(label, rate, Some(baseline))
        }
    }

    fn versus(label: &str, share: f64) -> Self {
        Self {
            label: label.to_owned(),
            figure: format!("{share:.2}×"),
            ratio: "–".into(),
            target: "–".into(),
            within: "–".into(),
        }
    }
}

/// What the peer took in the same run.
struct PeerRates {
    version: String,
    creates: f64,
    patches: f64,
}

/// Starts `benches/peer/server.mjs` (Ory Polis on its in-memory store: no persistence, no
/// event log, so it compares with the runner's `--in-memory` rows) and loads it as the
/// runner is loaded: the same bodies, clients and keep-alive connections.
async fn peer_rates(users: usize) -> PeerRates {
    use std::io::BufRead;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../benches/peer/server.mjs");
    let mut child = std::process::Command::new("node")
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs benches/peer/server.mjs (npm ci --prefix benches/peer first)");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the peer's start-up line");
    let started: serde_json::Value = serde_json::from_str(&line).expect("the peer's JSON line");
    let field = |name: &str| started[name].as_str().expect("a start-up field").to_owned();
    let (addr, path, token) = (field("addr"), field("path"), field("token"));
    let addr: SocketAddr = addr.parse().expect("the peer's address");
    let (creates, patches) = creates_then_patches(addr, path, token, users).await;
    let _ = child.kill();
    let _ = child.wait();
    PeerRates {
        version: field("version"),
        creates,
        patches,
    }
}

/// `users` SCIM creates, then a deactivation PATCH of each user created: the rate of each.
async fn creates_then_patches(
    addr: SocketAddr,
    path: String,
    token: String,
    users: usize,
) -> (f64, f64) {
    let (create_path, create_token) = (path.clone(), token.clone());
    let (took, bodies) = load_authorized(addr, users, move |i| {
        (
            http::Method::POST,
            create_path.clone(),
            create_body(i),
            create_token.clone(),
        )
    })
    .await;
    let creates = users as f64 / took.as_secs_f64();
    let ids = ids_of(&bodies);
    let (took, _) = load_authorized(addr, users, move |i| {
        (
            http::Method::PATCH,
            format!("{path}/{}", ids[i]),
            DEACTIVATE.as_bytes().to_vec(),
            token.clone(),
        )
    })
    .await;
    (creates, users as f64 / took.as_secs_f64())
}

/// The ids of the users a run of creates made, in request order.
fn ids_of(bodies: &[Bytes]) -> Vec<String> {
    bodies
        .iter()
        .map(|body| {
            let json: serde_json::Value = serde_json::from_slice(body).expect("a SCIM user");
            json["id"].as_str().expect("an id").to_owned()
        })
        .collect()
}

/// Requests per second a hyper server answering `200 {}` to everything takes from the same
/// load generator.
async fn do_nothing_rate(requests: usize) -> f64 {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|request: http::Request<hyper::body::Incoming>| async {
                    let _ = request.into_body().collect().await;
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"{}"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let took = load(addr, requests, |i| {
        (
            http::Method::POST,
            "/scim/v2/d/Users".to_owned(),
            create_body(i),
        )
    })
    .await
    .0;
    server.abort();
    requests as f64 / took.as_secs_f64()
}

/// The runner's rows, and its creates/s and PATCHes/s.
async fn runner(users: usize, persistent: bool, baseline: f64) -> (Vec<Row>, (f64, f64)) {
    let (running, data_dir) = dsync_tests::load::start_runner(!persistent, Duration::ZERO).await;
    let kind = if persistent {
        "persistent"
    } else {
        "--in-memory"
    };
    let token = running.bootstrap.scim_token.clone();
    let path = format!("/scim/v2/{}/Users", running.bootstrap.directory_id);

    let started = Instant::now();
    let (creates, patches) = creates_then_patches(running.addr, path, token, users).await;
    let last_response = Instant::now();
    running.settle().await.expect("the pipeline settles");
    let lag = last_response.elapsed();
    let total = started.elapsed();
    let events = count_events(&running).await;
    drop(running);
    let _ = std::fs::remove_dir_all(&data_dir);
    let rows = vec![
        Row::rate(
            &format!("runner {kind}: SCIM creates"),
            creates,
            Some(baseline),
        ),
        Row::rate(
            &format!("runner {kind}: SCIM deactivation PATCHes"),
            patches,
            Some(baseline),
        ),
        Row {
            label: format!(
                "runner {kind}: last of {events} events in the log, after the last response"
            ),
            figure: format!(
                "{:.2} s (whole run {:.1} s)",
                lag.as_secs_f64(),
                total.as_secs_f64()
            ),
            ratio: "–".into(),
            target: "reported".into(),
            within: "–".into(),
        },
    ];
    (rows, (creates, patches))
}

/// The events in the log: its head, since sequence numbers have no gaps.
async fn count_events(running: &dsync_local::Running) -> usize {
    let environment = dsync_domain::ids::EnvironmentId::parse(&running.bootstrap.environment_id)
        .expect("the bootstrap environment id");
    running
        .store
        .event_head(&environment)
        .await
        .expect("the log head") as usize
}

const DEACTIVATE: &str = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}"#;

fn create_body(i: usize) -> Vec<u8> {
    dsync_tests::load::scim_create_body(i)
}

async fn load(
    addr: SocketAddr,
    requests: usize,
    make: impl Fn(usize) -> (http::Method, String, Vec<u8>) + Send + Sync + 'static,
) -> (Duration, Vec<Bytes>) {
    load_authorized(addr, requests, move |i| {
        let (method, path, body) = make(i);
        (method, path, body, String::new())
    })
    .await
}

async fn load_authorized(
    addr: SocketAddr,
    requests: usize,
    make: impl Fn(usize) -> dsync_tests::load::Request + Send + Sync + 'static,
) -> (Duration, Vec<Bytes>) {
    dsync_tests::load::load(addr, requests, CLIENTS, make).await
}
