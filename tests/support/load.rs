//! The benchmarks' HTTP load generator: keep-alive clients sending requests one after another,
//! as a provider's workers do.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// Method, path, body and bearer token (empty: no `Authorization`).
pub type Request = (http::Method, String, Vec<u8>, String);

/// The local runner as the benchmarks start it: streams processed, no reconciliation
/// schedule, a free loopback port, every DynamoDB request delayed by `latency`, and a data
/// directory of its own under the temp directory (returned, for the caller to remove once
/// the runner is dropped).
pub async fn start_runner(
    in_memory: bool,
    latency: Duration,
) -> (dsync_local::Running, std::path::PathBuf) {
    let unique = dsync_domain::ids::EventId::generate()
        .to_string()
        .to_lowercase();
    let data_dir = std::env::temp_dir().join(format!("dsync-bench-{unique}"));
    let running = dsync_local::start(dsync_local::Options {
        data_dir: data_dir.clone(),
        in_memory,
        dynamodb_endpoint: None,
        dynamodb_latency: latency,
        table_prefix: "dsync".into(),
        listen: SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
        reconcile_every: None,
        clock: None,
        process_streams: true,
        fanout: dsync_local::Options::local_fanout_config().expect("fan-out settings"),
        sweep_every: Duration::from_secs(1),
        google: Default::default(),
    })
    .await
    .expect("the runner starts");
    (running, data_dir)
}

/// A SCIM create of user `i`.
pub fn scim_create_body(i: usize) -> Vec<u8> {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("user{i}@example.com"),
        "externalId": format!("ext-{i}"),
        "name": {"givenName": "Bench", "familyName": format!("User{i}")},
        "emails": [{"value": format!("user{i}@example.com"), "primary": true, "type": "work"}],
        "active": true
    })
    .to_string()
    .into_bytes()
}

/// `requests` requests over `clients` keep-alive connections, each sending its next request
/// when the previous answer is read; returns the wall time and the bodies in request order.
/// Any answer but 2xx stops the benchmark: a fast error is not throughput.
pub async fn load(
    addr: SocketAddr,
    requests: usize,
    clients: usize,
    make: impl Fn(usize) -> Request + Send + Sync + 'static,
) -> (Duration, Vec<Bytes>) {
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (make, next) = (make.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .expect("handshake");
            tokio::spawn(connection);
            let mut answers = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return answers;
                }
                let (method, path, body, token) = make(i);
                let mut request = http::Request::builder()
                    .method(method)
                    .uri(path)
                    .header(http::header::HOST, addr.to_string())
                    .header(http::header::CONTENT_TYPE, "application/scim+json");
                if !token.is_empty() {
                    request =
                        request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
                }
                let request = request.body(Full::new(Bytes::from(body))).expect("request");
                sender.ready().await.expect("connection ready");
                let response = sender.send_request(request).await.expect("response");
                let status = response.status();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes();
                assert!(
                    status.is_success(),
                    "request {i} answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
                answers.push((i, body));
            }
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for worker in workers {
        all.extend(worker.await.expect("a client"));
    }
    let took = started.elapsed();
    all.sort_by_key(|(i, _)| *i);
    (took, all.into_iter().map(|(_, body)| body).collect())
}
