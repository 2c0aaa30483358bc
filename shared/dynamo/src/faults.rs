//! Fault injection: a DynamoDB client that fails a chosen fraction of its calls the ways
//! DynamoDB does, so tests and soak runs can prove the service survives them.
//!
//! The faults are injected by an HTTP client wrapped around the SDK's own (not by an
//! interceptor): an interceptor cannot stop a request from being sent, and only the layer
//! that sends it can both refuse a call *before* the engine sees it and lose the answer
//! *after* the engine has acted on it. Per call to an item operation it
//!
//! - **rejects** the call without sending it, answering as DynamoDB would: throttling (400
//!   `ProvisionedThroughputExceededException` or `ThrottlingException`), a
//!   `TransactionCanceledException` whose reason is `TransactionConflict` (for
//!   `TransactWriteItems` only), or a 500 `InternalServerError`;
//! - or **loses the answer**: sends the call, lets the engine execute (and commit) it, then
//!   reports a timeout or a 500 instead. For a write the engine accepted this is the
//!   ambiguous commit: the state changed, the caller was told it failed.
//!
//! Which calls fail is decided by a random generator seeded by the caller, drawn twice per
//! call whatever the rate, so the same sequence of calls meets the same faults for a seed
//! (a workload driven from one task is reproducible). The SDK's retry loop still runs above
//! this layer ([`faulty_client`] takes its attempt count): the faults that come through it are
//! what the service's own code must survive, as it must on Lambda.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// The operations faults are injected into: every call that reads or writes items. Table
/// management (`CreateTable`, `DescribeTable`, …) always passes.
const ITEM_OPERATIONS: &[&str] = &[
    "GetItem",
    "BatchGetItem",
    "Query",
    "Scan",
    "TransactGetItems",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

const WRITE_OPERATIONS: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

const ERROR_PREFIX: &str = "com.amazonaws.dynamodb.v20120810#";

/// The faults injected so far, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Item-operation calls seen, failed or not.
    pub calls: u64,
    /// Rejected as throttled, unsent.
    pub throttled: u64,
    /// `TransactWriteItems` rejected with a `TransactionConflict` reason, unsent.
    pub transaction_conflicts: u64,
    /// Rejected with a 500, unsent.
    pub server_errors: u64,
    /// Sent and executed by the engine, its answer replaced by a timeout or a 500.
    pub lost_responses: u64,
    /// Of the lost responses, writes the engine had accepted: committed, reported failed.
    pub ambiguous_commits: u64,
}

impl FaultCounts {
    /// Every call that failed because of this layer.
    pub fn injected(&self) -> u64 {
        self.throttled + self.transaction_conflicts + self.server_errors + self.lost_responses
    }
}

/// What happens to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Answered here, never sent: `ProvisionedThroughputExceededException` or, with
    /// `legacy`, `ThrottlingException`.
    Throttle {
        legacy: bool,
    },
    TransactionConflict,
    ServerError,
    /// Sent; the answer becomes a timeout (`as_timeout`) or a 500.
    LoseResponse {
        as_timeout: bool,
    },
}

/// The handle on a fault-injecting client: its rate (changeable while it runs) and its
/// counts. Cheap to clone; clones share the generator and the counts.
#[derive(Debug, Clone)]
pub struct Faults {
    state: Arc<Mutex<FaultState>>,
}

#[derive(Debug)]
struct FaultState {
    rng: StdRng,
    rate: f64,
    counts: FaultCounts,
}

impl Faults {
    /// Fails about `rate` (0.0–1.0) of the item-operation calls, as `seed` decides.
    pub fn new(seed: u64, rate: f64) -> Self {
        Self {
            state: Arc::new(Mutex::new(FaultState {
                rng: StdRng::seed_from_u64(seed),
                rate: rate.clamp(0.0, 1.0),
                counts: FaultCounts::default(),
            })),
        }
    }

    /// Changes the fraction of calls that fail from the next call on (0 turns faults off).
    pub fn set_rate(&self, rate: f64) {
        self.lock().rate = rate.clamp(0.0, 1.0);
    }

    pub fn counts(&self) -> FaultCounts {
        self.lock().counts
    }

    /// An HTTP client for the SDK that sends through the client every function uses
    /// ([`crate::https_client`]) and injects this handle's faults.
    pub fn http_client(&self) -> SharedHttpClient {
        SharedHttpClient::new(FaultHttpClient {
            inner: crate::https_client(),
            faults: self.clone(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        // Plain counters and a generator: still usable after a panic elsewhere.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides the fate of one call and counts a rejection.
    fn decide(&self, operation: &str) -> Option<Fault> {
        if !ITEM_OPERATIONS.contains(&operation) {
            return None;
        }
        let mut state = self.lock();
        state.counts.calls += 1;
        // Two draws per call whatever the outcome, so a seed's sequence of decisions does
        // not shift when the rate changes.
        let roll: f64 = state.rng.gen();
        let pick: u32 = state.rng.gen_range(0..1_000);
        if roll >= state.rate {
            return None;
        }
        let fault = pick_fault(operation, pick);
        match fault {
            Fault::Throttle { .. } => state.counts.throttled += 1,
            Fault::TransactionConflict => state.counts.transaction_conflicts += 1,
            Fault::ServerError => state.counts.server_errors += 1,
            Fault::LoseResponse { .. } => {}
        }
        Some(fault)
    }

    fn count_lost_response(&self, committed_write: bool) {
        let mut state = self.lock();
        state.counts.lost_responses += 1;
        if committed_write {
            state.counts.ambiguous_commits += 1;
        }
    }
}

/// The kinds share the faults evenly; a lost answer is as likely as all rejections of a
/// write together, since it is the fault that finds the most bugs.
fn pick_fault(operation: &str, pick: u32) -> Fault {
    let transactional = operation == "TransactWriteItems";
    let write = WRITE_OPERATIONS.contains(&operation);
    let lost_share = if write { 500 } else { 250 };
    if pick < lost_share {
        return Fault::LoseResponse {
            as_timeout: pick.is_multiple_of(2),
        };
    }
    let rest = pick - lost_share;
    let kinds: &[Fault] = if transactional {
        &[
            Fault::Throttle { legacy: false },
            Fault::TransactionConflict,
            Fault::ServerError,
        ]
    } else {
        &[Fault::Throttle { legacy: false }, Fault::ServerError]
    };
    let span = (1_000 - lost_share) / kinds.len() as u32;
    let index = ((rest / span.max(1)) as usize).min(kinds.len() - 1);
    match kinds[index] {
        Fault::Throttle { .. } => Fault::Throttle {
            legacy: rest % 2 == 1,
        },
        other => other,
    }
}

/// A client for a local endpoint, built as [`crate::connect`] builds one, whose calls meet
/// `faults`. `max_attempts` is the SDK's own retry budget per call (1: no SDK retries; the
/// SDK default is 3); its backoff is shortened to milliseconds so a run is not spent asleep.
pub fn faulty_client(endpoint: &str, faults: &Faults, max_attempts: u32) -> Client {
    let retry = RetryConfig::standard()
        .with_max_attempts(max_attempts.max(1))
        .with_initial_backoff(Duration::from_millis(2))
        .with_max_backoff(Duration::from_millis(40));
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("local", "local", None, None, "dsync"))
        .http_client(faults.http_client())
        .retry_config(retry)
        .build();
    Client::from_conf(config)
}

#[derive(Debug)]
struct FaultHttpClient {
    inner: SharedHttpClient,
    faults: Faults,
}

impl HttpClient for FaultHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultConnector {
            inner: self.inner.http_connector(settings, components),
            faults: self.faults.clone(),
        })
    }
}

#[derive(Debug)]
struct FaultConnector {
    inner: SharedHttpConnector,
    faults: Faults,
}

impl HttpConnector for FaultConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = request
            .headers()
            .get("x-amz-target")
            .map(|target| target.rsplit('.').next().unwrap_or(target).to_owned())
            .unwrap_or_default();
        let Some(fault) = self.faults.decide(&operation) else {
            return self.inner.call(request);
        };
        match fault {
            Fault::LoseResponse { as_timeout } => {
                let sent = self.inner.call(request);
                let faults = self.faults.clone();
                let write = WRITE_OPERATIONS.contains(&operation.as_str());
                HttpConnectorFuture::new(async move {
                    let answer = sent.await?;
                    faults.count_lost_response(write && answer.status().is_success());
                    if as_timeout {
                        Err(ConnectorError::timeout(
                            "injected: the answer was lost after the engine executed the call"
                                .into(),
                        ))
                    } else {
                        Ok(error_response(500, "InternalServerError", json!({})))
                    }
                })
            }
            rejection => {
                let items = transact_item_count(&request);
                HttpConnectorFuture::ready(Ok(rejection_response(rejection, items)))
            }
        }
    }
}

/// How many items a `TransactWriteItems` body holds (a cancellation names a reason for each).
fn transact_item_count(request: &HttpRequest) -> usize {
    request
        .body()
        .bytes()
        .and_then(|body| serde_json::from_slice::<Value>(body).ok())
        .and_then(|body| body.get("TransactItems")?.as_array().map(Vec::len))
        .unwrap_or(1)
}

/// The answer DynamoDB gives for a rejected call.
fn rejection_response(fault: Fault, items: usize) -> HttpResponse {
    match fault {
        Fault::Throttle { legacy: true } => error_response(
            400,
            // Throttling of the control plane is not a DynamoDB-namespaced error.
            "com.amazon.coral.availability#ThrottlingException",
            json!({}),
        ),
        Fault::Throttle { legacy: false } => {
            error_response(400, "ProvisionedThroughputExceededException", json!({}))
        }
        Fault::TransactionConflict => {
            let reasons: Vec<Value> = (0..items.max(1))
                .map(|index| match index {
                    0 => json!({"Code": "TransactionConflict",
                                "Message": "Transaction is ongoing for the item"}),
                    _ => json!({"Code": "None"}),
                })
                .collect();
            error_response(
                400,
                "TransactionCanceledException",
                json!({"CancellationReasons": reasons}),
            )
        }
        Fault::ServerError | Fault::LoseResponse { .. } => {
            error_response(500, "InternalServerError", json!({}))
        }
    }
}

/// A DynamoDB JSON error: `__type` names the error (namespaced unless it already is).
fn error_response(status: u16, error: &str, mut extra: Value) -> HttpResponse {
    let type_name = if error.contains('#') {
        error.to_owned()
    } else {
        format!("{ERROR_PREFIX}{error}")
    };
    if let Value::Object(fields) = &mut extra {
        fields.insert("__type".into(), Value::String(type_name));
        fields.insert(
            "message".into(),
            Value::String(format!("injected fault: {error}")),
        );
    }
    let body = serde_json::to_vec(&extra).unwrap_or_default();
    let status = StatusCode::try_from(status).unwrap_or_else(|_| {
        StatusCode::try_from(500).unwrap_or_else(|_| unreachable!("500 is a status"))
    });
    let mut response = HttpResponse::new(status, SdkBody::from(body));
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decisions(seed: u64, rate: f64, operation: &str, n: usize) -> Vec<Option<Fault>> {
        let faults = Faults::new(seed, rate);
        (0..n).map(|_| faults.decide(operation)).collect()
    }

    #[test]
    fn a_seed_decides_the_same_faults_every_time() {
        let first = decisions(7, 0.3, "TransactWriteItems", 500);
        assert_eq!(first, decisions(7, 0.3, "TransactWriteItems", 500));
        assert_ne!(first, decisions(8, 0.3, "TransactWriteItems", 500));
    }

    #[test]
    fn about_the_rate_fails_and_every_kind_occurs() {
        let faults = Faults::new(42, 0.3);
        for _ in 0..4_000 {
            faults.decide("TransactWriteItems");
        }
        let counts = faults.counts();
        assert_eq!(counts.calls, 4_000);
        let rejected = counts.throttled + counts.transaction_conflicts + counts.server_errors;
        // Lost responses are counted once the engine answers; here nothing is sent.
        let failed = decisions(42, 0.3, "TransactWriteItems", 4_000)
            .into_iter()
            .flatten()
            .count() as f64;
        assert!((1_000.0..1_400.0).contains(&failed), "{failed}");
        assert!(counts.throttled > 0 && counts.transaction_conflicts > 0);
        assert!(counts.server_errors > 0 && rejected < failed as u64);
    }

    #[test]
    fn only_transactions_meet_conflicts_and_table_management_always_passes() {
        let kinds = decisions(3, 1.0, "PutItem", 2_000);
        assert!(kinds.iter().all(|k| k.is_some()));
        assert!(!kinds.contains(&Some(Fault::TransactionConflict)));
        assert!(decisions(3, 1.0, "CreateTable", 50)
            .iter()
            .all(Option::is_none));
        let faults = Faults::new(3, 1.0);
        faults.set_rate(0.0);
        assert_eq!(faults.decide("GetItem"), None);
    }

    #[test]
    fn a_transaction_conflict_names_a_reason_per_item() {
        let response = rejection_response(Fault::TransactionConflict, 3);
        assert_eq!(response.status().as_u16(), 400);
        let body: Value = serde_json::from_slice(response.body().bytes().unwrap()).unwrap();
        assert_eq!(
            body["__type"],
            "com.amazonaws.dynamodb.v20120810#TransactionCanceledException"
        );
        let reasons = body["CancellationReasons"].as_array().unwrap();
        assert_eq!(reasons.len(), 3);
        assert_eq!(reasons[0]["Code"], "TransactionConflict");
        assert_eq!(reasons[2]["Code"], "None");
    }
}
