//! Injected network latency: every DynamoDB request of a client takes at least a chosen round
//! trip, as it does from a Lambda function to DynamoDB, so a local engine (which answers in
//! microseconds) can show what the round trips cost: how many a request path makes, and what
//! serializes on one item.
//!
//! The delay is added by an HTTP client wrapped around the SDK's own, the layer
//! [`crate::faults`] also uses, rather than by a delaying proxy in front of the engine: the
//! effect is the same (each request is one round trip, requests in flight overlap freely,
//! each waits on a timer, never on a thread), and it needs no second listener, it delays only
//! the clients it is given, and it also delays calls to a remote endpoint when asked.
//!
//! Half the round trip is spent before the request reaches the engine and half after its
//! answer leaves it, as on a network: a read's answer is half a round trip old when the
//! caller sees it, and a conditional write takes effect half a round trip after it is sent.
//! The time between a head's read and the write conditioned on it is thus one full round trip
//! plus the caller's own work, as against DynamoDB.
//!
//! Only explicit configuration turns it on (`dsync-local --dynamodb-latency-ms`, the
//! benchmarks); nothing reads it from the environment on Lambda.

use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

use crate::SdkConfig;

/// `inner`, with every request taking at least `round_trip` longer (zero: `inner` itself).
pub fn delayed_http_client(inner: SharedHttpClient, round_trip: Duration) -> SharedHttpClient {
    if round_trip.is_zero() {
        return inner;
    }
    SharedHttpClient::new(DelayedHttpClient { inner, round_trip })
}

/// The same settings with every request `round_trip` slower (zero: unchanged). Clients built
/// from the result (DynamoDB, DynamoDB Streams) all pay it.
pub fn with_latency(config: &SdkConfig, round_trip: Duration) -> SdkConfig {
    if round_trip.is_zero() {
        return config.clone();
    }
    let inner = config.http_client().unwrap_or_else(crate::https_client);
    config
        .to_builder()
        .http_client(delayed_http_client(inner, round_trip))
        .build()
}

#[derive(Debug)]
struct DelayedHttpClient {
    inner: SharedHttpClient,
    round_trip: Duration,
}

impl HttpClient for DelayedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(DelayedConnector {
            inner: self.inner.http_connector(settings, components),
            round_trip: self.round_trip,
        })
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct DelayedConnector {
    inner: SharedHttpConnector,
    round_trip: Duration,
}

impl HttpConnector for DelayedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let there = self.round_trip / 2;
        let back = self.round_trip - there;
        HttpConnectorFuture::new(async move {
            tokio::time::sleep(there).await;
            let answer = inner.call(request).await;
            tokio::time::sleep(back).await;
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::time::Instant;

    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    /// Answers at once, recording when each request arrived.
    #[derive(Debug, Clone, Default)]
    struct Instant200 {
        arrivals: Arc<std::sync::Mutex<Vec<Instant>>>,
    }

    impl HttpConnector for Instant200 {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            self.arrivals.lock().unwrap().push(Instant::now());
            HttpConnectorFuture::ready(Ok(HttpResponse::new(
                StatusCode::try_from(200).unwrap(),
                SdkBody::empty(),
            )))
        }
    }

    fn request() -> HttpRequest {
        HttpRequest::new(SdkBody::from("{}"))
    }

    #[tokio::test(start_paused = true)]
    async fn each_request_takes_a_round_trip_half_before_it_arrives() {
        let engine = Instant200::default();
        let connector = DelayedConnector {
            inner: SharedHttpConnector::new(engine.clone()),
            round_trip: Duration::from_millis(10),
        };
        let sent = Instant::now();
        let answer = connector.call(request()).await.expect("an answer");
        assert_eq!(answer.status().as_u16(), 200);
        assert_eq!(sent.elapsed(), Duration::from_millis(10));
        let arrived = engine.arrivals.lock().unwrap()[0];
        assert_eq!(arrived - sent, Duration::from_millis(5));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_in_flight_overlap() {
        let engine = Instant200::default();
        let connector = DelayedConnector {
            inner: SharedHttpConnector::new(engine.clone()),
            round_trip: Duration::from_millis(10),
        };
        let sent = Instant::now();
        let calls = (0..16).map(|_| connector.call(request()));
        for answer in futures::future::join_all(calls).await {
            answer.expect("an answer");
        }
        // Sixteen at once take one round trip, not sixteen.
        assert_eq!(sent.elapsed(), Duration::from_millis(10));
        assert_eq!(engine.arrivals.lock().unwrap().len(), 16);
    }
}
