//! BambooHR's employee directory (`GET {base}/api/gateway.php/{company}/v1/employees/directory`,
//! HTTP Basic with the API key as user name and `x` as password), read with backoff: BambooHR
//! answers 429 (or 503) when a company's API limit is reached, and a 5xx can pass.

use std::time::{Duration, Instant};

use base64::Engine;
use dsync_dynamo::Outbound;

/// BambooHR's API origin; tests point it at a local fake.
pub const DEFAULT_BASE_URL: &str = "https://api.bamboohr.com";

/// How a refused read (429, 5xx, unreachable) is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure; doubled after each next one.
    pub first: Duration,
    /// The longest single wait (a `Retry-After` longer than this is cut to it).
    pub max: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        // 1 + 2 + 4 + 8 s: well inside a re-sync's lease.
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(8),
            attempts: 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("BambooHR answered {0}")]
    Upstream(u16),
    #[error("BambooHR could not be reached")]
    Unreachable,
}

/// The listing's body. Retries 429, 5xx and transport failures under `backoff`, never past
/// `deadline`; any other refusal (401, 403, 404) is final at once.
pub async fn fetch_directory(
    http: &Outbound,
    base_url: &str,
    company: &str,
    api_key: &str,
    backoff: Backoff,
    deadline: Option<Instant>,
) -> Result<Vec<u8>, FetchError> {
    let url = format!(
        "{}/api/gateway.php/{company}/v1/employees/directory",
        base_url.trim_end_matches('/')
    );
    let mut wait = backoff.first;
    let mut attempt = 1;
    loop {
        let (error, retry_after) = match once(http, &url, api_key).await {
            Ok(body) => return Ok(body),
            Err(Refusal::Final(error)) => return Err(error),
            Err(Refusal::Retryable(error, retry_after)) => (error, retry_after),
        };
        let pause = retry_after.unwrap_or(wait).min(backoff.max);
        let out_of_time = deadline.is_some_and(|d| Instant::now() + pause >= d);
        if attempt >= backoff.attempts || out_of_time {
            return Err(error);
        }
        tracing::info!(attempt, wait_ms = pause.as_millis() as u64, %error, "bamboohr read retried");
        tokio::time::sleep(pause).await;
        wait = wait.saturating_mul(2);
        attempt += 1;
    }
}

enum Refusal {
    Final(FetchError),
    Retryable(FetchError, Option<Duration>),
}

async fn once(http: &Outbound, url: &str, api_key: &str) -> Result<Vec<u8>, Refusal> {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{api_key}:x"));
    let reply = http
        .get(url)
        .header("authorization", format!("Basic {credentials}"))
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|_| Refusal::Retryable(FetchError::Unreachable, None))?;
    if reply.is_success() {
        return Ok(reply.body);
    }
    let error = FetchError::Upstream(reply.status);
    if reply.status == 429 || reply.status >= 500 {
        return Err(Refusal::Retryable(error, reply.retry_after()));
    }
    Err(Refusal::Final(error))
}

/// The client the re-sync reads with: no redirects (an API key must not follow one
/// elsewhere), a bounded wait per request.
pub fn client() -> Outbound {
    Outbound::new(Duration::from_secs(30))
}
