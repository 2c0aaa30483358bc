//! A webhook receiver on loopback: records every request it gets and answers as scripted.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16),
    /// A status with extra headers (`Retry-After`, `Location`, …).
    StatusWith(u16, Vec<(&'static str, String)>),
    /// Waits this long before answering 200 (past the sender's timeout, usually).
    Stall(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    script: VecDeque<Answer>,
    default: Option<Answer>,
}

#[derive(Clone)]
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

impl Receiver {
    /// A receiver that answers 200 unless scripted otherwise.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let arrived = Arc::new(Notify::new());
        let task = tokio::spawn(serve(listener, state.clone(), arrived.clone()));
        Self {
            addr,
            state,
            arrived,
            task: Arc::new(task),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Answers for the next requests, in order; after them, the default.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.state.lock().unwrap().script.extend(answers);
    }

    /// The answer once the script is used up (200 unless set).
    pub fn answer_always(&self, answer: Answer) {
        self.state.lock().unwrap().default = Some(answer);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until at least `count` requests have arrived; panics after `within`.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.arrived.notified();
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
                let got = self.received().len();
                assert!(
                    got >= count,
                    "expected {count} requests within {within:?}, got {got}"
                );
                return self.received();
            }
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, state: Arc<Mutex<State>>, arrived: Arc<Notify>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (state, arrived) = (state.clone(), arrived.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let (state, arrived) = (state.clone(), arrived.clone());
                async move { Ok::<_, Infallible>(answer(request, &state, &arrived).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    request: Request<Incoming>,
    state: &Mutex<State>,
    arrived: &Notify,
) -> Response<Full<Bytes>> {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let answer = {
        let mut state = state.lock().unwrap();
        state.received.push(Received {
            headers: parts.headers,
            body,
            at,
        });
        let default = state.default.clone().unwrap_or(Answer::Status(200));
        state.script.pop_front().unwrap_or(default)
    };
    arrived.notify_waiters();
    let (status, headers) = match answer {
        Answer::Status(status) => (status, Vec::new()),
        Answer::StatusWith(status, headers) => (status, headers),
        Answer::Stall(pause) => {
            tokio::time::sleep(pause).await;
            (200, Vec::new())
        }
    };
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(name, value);
    }
    response.body(Full::new(Bytes::new())).unwrap()
}
