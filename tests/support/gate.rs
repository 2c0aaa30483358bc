//! A DynamoDB client whose requests of one operation wait at a gate until the test opens it,
//! so a test can place another writer's change between two reads a function makes side by
//! side, deterministically.

use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::sync::{watch, Notify};

/// Holds requests of `held` until [`Gate::open`]; records the operations answered.
#[derive(Debug)]
pub struct Gate {
    held: &'static str,
    open: watch::Sender<bool>,
    answered: Mutex<Vec<String>>,
    changed: Notify,
}

impl Gate {
    /// A closed gate for requests of operation `held` (say `"BatchGetItem"`).
    pub fn new(held: &'static str) -> Arc<Self> {
        Arc::new(Self {
            held,
            open: watch::channel(false).0,
            answered: Mutex::new(Vec::new()),
            changed: Notify::new(),
        })
    }

    /// A client of the engine at `endpoint` whose requests pass this gate.
    pub fn client(self: &Arc<Self>, endpoint: &str) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("local", "local", None, None, "gate"))
            .http_client(SharedHttpClient::new(GatedClient {
                inner: dsync_dynamo::https_client(),
                gate: self.clone(),
            }))
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// Lets held requests (and every later one) through.
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    /// Returns once a request of `operation` has been answered.
    pub async fn answered(&self, operation: &str) {
        loop {
            let changed = self.changed.notified();
            if self
                .answered
                .lock()
                .unwrap()
                .iter()
                .any(|op| op == operation)
            {
                return;
            }
            changed.await;
        }
    }
}

#[derive(Debug)]
struct GatedClient {
    inner: SharedHttpClient,
    gate: Arc<Gate>,
}

impl HttpClient for GatedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(GatedConnector {
            inner: self.inner.http_connector(settings, components),
            gate: self.gate.clone(),
        })
    }
}

#[derive(Debug)]
struct GatedConnector {
    inner: SharedHttpConnector,
    gate: Arc<Gate>,
}

impl HttpConnector for GatedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .unwrap_or_default()
            .to_owned();
        let (inner, gate) = (self.inner.clone(), self.gate.clone());
        HttpConnectorFuture::new(async move {
            if operation == gate.held {
                let mut open = gate.open.subscribe();
                // The sender lives in the gate, which this future holds: `wait_for` only
                // returns once the gate opens.
                let _ = open.wait_for(|open| *open).await;
            }
            let answer = inner.call(request).await;
            gate.answered.lock().unwrap().push(operation);
            gate.changed.notify_waiters();
            answer
        })
    }
}
