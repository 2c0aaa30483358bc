//! The Admin SDK Directory API client: the token exchange and the three listings a pull
//! needs, with backoff on Google's rate limits and server errors.

use std::time::{Duration, Instant};

use dsync_domain::providers::google::{GoogleGroup, GoogleMember, GoogleUser, SCOPES};
use dsync_dynamo::{Outbound, OutboundError, Reply};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::credentials::Credentials;
use crate::jwt;
use crate::Endpoints;

/// `users.list` pages: Google's maximum.
pub const USERS_PAGE: u32 = 500;
/// `groups.list` and `members.list` pages: Google's maximum for both.
pub const GROUPS_PAGE: u32 = 200;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The token endpoint refused the grant: a wrong key, delegation not granted, or an admin
    /// that is not one. Google's `error` code only (its description can name the account).
    #[error("Google refused the credentials ({0}); check the key, its domain-wide delegation and the admin email")]
    Refused(String),
    /// A `pageToken` Google no longer accepts (they expire): the listing restarts.
    #[error("Google no longer accepts the page token")]
    PageTokenExpired,
    /// Still rate limited (or failing) after every retry, or the deadline came first.
    #[error("Google kept answering {0} after retries")]
    Unavailable(u16),
    #[error("Google answered {status} ({reason})")]
    Status { status: u16, reason: String },
    #[error("Google could not be reached: {0}")]
    Transport(String),
    #[error("Google's answer was not understood: {0}")]
    Decode(String),
}

/// How often and how long to retry rate-limited or failed calls.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(32),
            attempts: 6,
        }
    }
}

impl Backoff {
    /// Exponential, with up to a quarter of random jitter so parallel pulls spread out.
    fn delay(&self, retry: u32) -> Duration {
        let base = self
            .first
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max);
        let jitter = base.as_millis() as u64 / 4;
        let extra = if jitter == 0 {
            0
        } else {
            rand::random::<u64>() % jitter
        };
        base + Duration::from_millis(extra)
    }
}

/// A listing page: the records and the token of the next page, if any.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsersPage {
    #[serde(default)]
    users: Vec<GoogleUser>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupsPage {
    #[serde(default)]
    groups: Vec<GoogleGroup>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MembersPage {
    #[serde(default)]
    members: Vec<GoogleMember>,
    next_page_token: Option<String>,
}

/// One pull's session with Google: an access token for the admin, and the deadline no retry
/// may wait past.
pub struct Session<'a> {
    http: &'a Outbound,
    endpoints: &'a Endpoints,
    backoff: Backoff,
    token: String,
    deadline: Option<Instant>,
}

/// Exchanges a signed assertion for an access token.
pub async fn open_session<'a>(
    http: &'a Outbound,
    endpoints: &'a Endpoints,
    backoff: Backoff,
    credentials: &Credentials,
    now_seconds: i64,
    deadline: Option<Instant>,
) -> Result<Session<'a>, ApiError> {
    let assertion = jwt::assertion(credentials, &SCOPES, &endpoints.token_url, now_seconds)
        .map_err(|_| ApiError::Refused("invalid_key".into()))?;
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", jwt::GRANT_TYPE)
        .append_pair("assertion", &assertion)
        .finish();
    let mut retry = 0;
    loop {
        let reply = http
            .post(&endpoints.token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
            .await
            .map_err(transport)?;
        let (status, told, body) = (reply.status, reply.retry_after(), reply.body);
        if status == 200 {
            #[derive(Deserialize)]
            struct Token {
                access_token: String,
            }
            let token: Token =
                serde_json::from_slice(&body).map_err(|e| ApiError::Decode(e.to_string()))?;
            return Ok(Session {
                http,
                endpoints,
                backoff,
                token: token.access_token,
                deadline,
            });
        }
        if status == 429 || status >= 500 {
            wait(&backoff, &mut retry, deadline, status, told).await?;
            continue;
        }
        let code = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| format!("status {status}"));
        return Err(ApiError::Refused(code));
    }
}

fn transport(error: OutboundError) -> ApiError {
    ApiError::Transport(error.to_string())
}

/// `url` with `query` appended, encoded as a form (what Google's query parameters take).
fn with_query(url: &str, query: &[(&str, &str)]) -> String {
    if query.is_empty() {
        return url.to_owned();
    }
    let mut pairs = form_urlencoded::Serializer::new(String::new());
    pairs.extend_pairs(query);
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{}", pairs.finish())
}

/// Sleeps before the next retry (as long as `Retry-After` says, else the backoff's next
/// delay), or gives up when retries or time ran out.
async fn wait(
    backoff: &Backoff,
    retry: &mut u32,
    deadline: Option<Instant>,
    status: u16,
    told: Option<Duration>,
) -> Result<(), ApiError> {
    if *retry + 1 >= backoff.attempts {
        return Err(ApiError::Unavailable(status));
    }
    let delay = told.map_or_else(|| backoff.delay(*retry), |t| t.min(backoff.max));
    if deadline.is_some_and(|d| Instant::now() + delay >= d) {
        return Err(ApiError::Unavailable(status));
    }
    *retry += 1;
    tracing::warn!(
        status,
        retry = *retry,
        delay_ms = delay.as_millis() as u64,
        "google api backoff"
    );
    tokio::time::sleep(delay).await;
    Ok(())
}

impl Session<'_> {
    pub async fn users(&self, page_token: Option<&str>) -> Result<Page<GoogleUser>, ApiError> {
        let url = format!("{}/admin/directory/v1/users", self.endpoints.directory_api);
        let limit = USERS_PAGE.to_string();
        let query = [
            ("customer", "my_customer"),
            ("maxResults", limit.as_str()),
            ("projection", "basic"),
        ];
        let page: UsersPage = self.get(&url, &query, page_token).await?;
        Ok(Page {
            items: page.users,
            next: page.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    pub async fn groups(&self, page_token: Option<&str>) -> Result<Page<GoogleGroup>, ApiError> {
        let url = format!("{}/admin/directory/v1/groups", self.endpoints.directory_api);
        let limit = GROUPS_PAGE.to_string();
        let query = [("customer", "my_customer"), ("maxResults", limit.as_str())];
        let page: GroupsPage = self.get(&url, &query, page_token).await?;
        Ok(Page {
            items: page.groups,
            next: page.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    /// A group's members, nested groups' users included (`includeDerivedMembership`).
    pub async fn members(
        &self,
        group_id: &str,
        page_token: Option<&str>,
    ) -> Result<Page<GoogleMember>, ApiError> {
        let key =
            percent_encoding::utf8_percent_encode(group_id, percent_encoding::NON_ALPHANUMERIC);
        let url = format!(
            "{}/admin/directory/v1/groups/{key}/members",
            self.endpoints.directory_api
        );
        let limit = GROUPS_PAGE.to_string();
        let query = [
            ("maxResults", limit.as_str()),
            ("includeDerivedMembership", "true"),
        ];
        let page: MembersPage = self.get(&url, &query, page_token).await?;
        Ok(Page {
            items: page.members,
            next: page.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&str, &str)],
        page_token: Option<&str>,
    ) -> Result<T, ApiError> {
        let mut retry = 0;
        loop {
            let mut pairs = query.to_vec();
            pairs.extend(page_token.map(|token| ("pageToken", token)));
            let reply = self
                .http
                .get(&with_query(url, &pairs))
                .header("authorization", format!("Bearer {}", self.token))
                .send()
                .await
                .map_err(transport)?;
            let (status, told, body) = (reply.status, reply.retry_after(), reply.body);
            if status == 200 {
                return serde_json::from_slice(&body).map_err(|e| ApiError::Decode(e.to_string()));
            }
            let reason = error_reason(&body);
            let rate_limited = status == 429
                || (status == 403
                    && matches!(
                        reason.as_str(),
                        "userRateLimitExceeded" | "rateLimitExceeded" | "quotaExceeded"
                    ));
            if rate_limited || status >= 500 {
                wait(&self.backoff, &mut retry, self.deadline, status, told).await?;
                continue;
            }
            // Google answers an expired (or otherwise unusable) page token with 400 `invalid`;
            // the same request without one is well-formed, so a 400 here means the token.
            if status == 400 && page_token.is_some() {
                return Err(ApiError::PageTokenExpired);
            }
            return Err(ApiError::Status { status, reason });
        }
    }
}

/// What `users.watch` answered: Google's id of the watched resource and when the channel
/// expires (Google may grant less than asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub resource_id: String,
    pub expiration: Option<i64>,
}

/// A channel to open: our id, where to deliver, the token Google echoes back, and the
/// lifetime asked for.
pub struct ChannelRequest<'c> {
    pub id: &'c str,
    pub event: &'c str,
    pub address: &'c str,
    pub token: &'c str,
    pub expiration: i64,
    pub ttl_seconds: i64,
}

impl Session<'_> {
    /// `users.watch` for the whole customer and one event: Google then POSTs to the
    /// address whenever a user is added, deleted, updated or undeleted.
    pub async fn watch_users(&self, channel: &ChannelRequest<'_>) -> Result<Watch, ApiError> {
        let url = format!(
            "{}/admin/directory/v1/users/watch",
            self.endpoints.directory_api
        );
        let query = [("customer", "my_customer"), ("event", channel.event)];
        let body = serde_json::json!({
            "id": channel.id,
            "type": "web_hook",
            "address": channel.address,
            "token": channel.token,
            "expiration": channel.expiration.to_string(),
            "params": {"ttl": channel.ttl_seconds.to_string()},
        });
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            resource_id: String,
            expiration: Option<String>,
        }
        let bytes = self.post(&url, &query, &body).await?;
        let answer: Answer =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode(e.to_string()))?;
        Ok(Watch {
            resource_id: answer.resource_id,
            expiration: answer.expiration.and_then(|e| e.parse().ok()),
        })
    }

    /// `channels.stop`: Google stops delivering to the channel. A channel Google no longer
    /// knows (it expired) counts as stopped.
    pub async fn stop_channel(&self, id: &str, resource_id: &str) -> Result<(), ApiError> {
        let url = format!(
            "{}/admin/directory_v1/channels/stop",
            self.endpoints.directory_api
        );
        let body = serde_json::json!({"id": id, "resourceId": resource_id});
        match self.post(&url, &[], &body).await {
            Ok(_) | Err(ApiError::Status { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A JSON POST with the same retries as the listings; the answer's body on 2xx.
    async fn post(
        &self,
        url: &str,
        query: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Result<Vec<u8>, ApiError> {
        let mut retry = 0;
        loop {
            let reply: Reply = self
                .http
                .post(&with_query(url, query))
                .header("authorization", format!("Bearer {}", self.token))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .map_err(transport)?;
            if reply.is_success() {
                return Ok(reply.body);
            }
            let (status, told, bytes) = (reply.status, reply.retry_after(), reply.body);
            let reason = error_reason(&bytes);
            if status == 429 || status >= 500 || (status == 403 && reason.contains("RateLimit")) {
                wait(&self.backoff, &mut retry, self.deadline, status, told).await?;
                continue;
            }
            return Err(ApiError::Status { status, reason });
        }
    }
}

/// `error.errors[0].reason` of Google's error body (`userRateLimitExceeded`, `invalid`, …).
fn error_reason(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/errors/0/reason")
                .and_then(|r| r.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default()
}
