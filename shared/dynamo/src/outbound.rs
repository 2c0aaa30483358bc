//! HTTPS calls to services other than AWS (Google's APIs, BambooHR), through the same hyper
//! client the DynamoDB SDK already links. A second HTTP stack (reqwest, with its own hyper
//! client instance, HTTP/2 and a compiled-in root store) cost the API function about
//! 0.6 MB (x86_64) for a handful of GETs and POSTs; see docs/BENCHMARKS.md.
//!
//! What callers relied on from reqwest and keep: redirects are never followed (a credential
//! must not be replayed to another host), one bound covers a whole call, the body included,
//! and `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` are honoured. Trust comes from the system's
//! root certificates, as for DynamoDB (reqwest had Mozilla's list compiled in).

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;

/// A client for calls outside AWS. Cheap to clone (clones share connections).
#[derive(Clone)]
pub struct Outbound {
    /// Built on the first call: building reads the system's root certificates, which a
    /// function that never calls out (most invocations) should not pay for at start-up.
    connector: Arc<OnceLock<Connector>>,
    timeout: Duration,
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What the other side answered, its body read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl Reply {
    /// `Retry-After` in seconds, when the server (or a proxy) says how long to wait. The
    /// HTTP-date form is not understood: neither Google nor BambooHR sends it.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The URL or a header could not be put in a request (the caller's input).
    #[error("the request could not be built: {0}")]
    Request(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Connecting, TLS, or the connection failing mid-answer. The text never holds the URL
    /// (it can carry a token in its query).
    #[error("{0}")]
    Transport(String),
}

impl Outbound {
    /// `timeout` bounds each call from connecting to the body's last byte.
    pub fn new(timeout: Duration) -> Self {
        Self {
            connector: Arc::new(OnceLock::new()),
            timeout,
        }
    }

    pub fn get(&self, url: &str) -> Call<'_> {
        Call::new(self, "GET", url)
    }

    pub fn post(&self, url: &str) -> Call<'_> {
        Call::new(self, "POST", url)
    }

    fn connector(&self) -> &Connector {
        // The builder the SDK's client (`crate::https_client`) uses, so the linked code is
        // the same (its TLS connector already carries the proxy tunnelling).
        self.connector.get_or_init(|| {
            Connector::builder()
                .proxy_config(ProxyConfig::from_env())
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .build()
        })
    }
}

/// One request being put together (`Outbound::get`, `Outbound::post`).
#[must_use = "a call does nothing until sent"]
pub struct Call<'a> {
    client: &'a Outbound,
    request: Result<HttpRequest, OutboundError>,
}

impl<'a> Call<'a> {
    fn new(client: &'a Outbound, method: &str, url: &str) -> Self {
        let mut request = HttpRequest::new(SdkBody::empty());
        let request = match (request.set_method(method), request.set_uri(url)) {
            (Ok(()), Ok(())) => Ok(request),
            _ => Err(OutboundError::Request("not a valid URL".into())),
        };
        Self { client, request }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        if let Ok(request) = &mut self.request {
            let value = value.into();
            if request.headers_mut().try_insert(name, value).is_err() {
                self.request = Err(OutboundError::Request(format!("bad {name} header")));
            }
        }
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        if let Ok(request) = &mut self.request {
            *request.body_mut() = SdkBody::from(body.into());
        }
        self
    }

    /// Sends the request and reads the whole answer, within the client's timeout.
    pub async fn send(self) -> Result<Reply, OutboundError> {
        let request = self.request?;
        let timeout = self.client.timeout;
        let call = self.client.connector().call(request);
        let exchange = async {
            let response = call.await.map_err(|e| transport(&e))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = ByteStream::new(response.into_body())
                .collect()
                .await
                .map_err(|e| transport(&e))?
                .to_vec();
            Ok(Reply {
                status,
                retry_after,
                body,
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| OutboundError::Timeout(timeout))?
    }
}

/// The error and its causes on one line ("io error: client error (Connect): tcp connect
/// error: Connection refused"); hyper's errors name no URL.
fn transport(error: &(dyn std::error::Error + 'static)) -> OutboundError {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    OutboundError::Transport(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-shot HTTP/1.1 server: answers `answer` to the first request and hands back what
    /// it received.
    async fn serve_once(answer: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut received = Vec::new();
            let mut buffer = [0u8; 4096];
            // Headers, then the body its Content-Length announces.
            loop {
                let n = socket.read(&mut buffer).await.unwrap();
                received.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&received).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            socket.write_all(answer.as_bytes()).await.unwrap();
            socket.shutdown().await.ok();
            String::from_utf8_lossy(&received).to_string()
        });
        (url, server)
    }

    #[tokio::test]
    async fn a_post_carries_its_headers_and_body_and_the_answer_is_read_whole() {
        let (url, server) = serve_once(
            "HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\ncontent-length: 5\r\n\r\nslow!",
        )
        .await;
        let client = Outbound::new(Duration::from_secs(5));
        let reply = client
            .post(&format!("{url}/token?a=b"))
            .header("content-type", "application/json")
            .body(b"{\"x\":1}".to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status, 429);
        assert!(!reply.is_success());
        assert_eq!(reply.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(reply.body, b"slow!");
        let received = server.await.unwrap();
        assert!(
            received.starts_with("POST /token?a=b HTTP/1.1\r\n"),
            "{received}"
        );
        assert!(
            received.contains("content-type: application/json\r\n"),
            "{received}"
        );
        assert!(received.ends_with("{\"x\":1}"), "{received}");
    }

    #[tokio::test]
    async fn a_redirect_is_answered_not_followed() {
        let (url, server) = serve_once(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/elsewhere\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        let reply = Outbound::new(Duration::from_secs(5))
            .get(&url)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status, 302);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        // Accepts and never answers.
        let _server = tokio::spawn(async move {
            let (_socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let error = Outbound::new(Duration::from_millis(200))
            .get(&url)
            .send()
            .await
            .unwrap_err();
        assert!(matches!(error, OutboundError::Timeout(_)), "{error:?}");
    }

    #[tokio::test]
    async fn an_unreachable_host_is_a_transport_error_without_the_url() {
        // Bound then dropped: nothing listens on the port.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = Outbound::new(Duration::from_secs(5))
            .get(&format!("http://127.0.0.1:{port}/path?token=secret"))
            .send()
            .await
            .unwrap_err();
        let OutboundError::Transport(text) = error else {
            panic!("{error:?}");
        };
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn a_malformed_url_is_refused_before_sending() {
        let client = Outbound::new(Duration::from_secs(1));
        let call = client.get("not a url");
        assert!(matches!(call.request, Err(OutboundError::Request(_))));
    }
}
