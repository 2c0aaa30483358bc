//! A subscriber's endpoint: where events go, which ones, and the secrets that sign them.

use serde::{Deserialize, Serialize};

use crate::ids::{EnvironmentId, WebhookEndpointId};

/// Signing secrets are shown to the subscriber, so unlike tokens they are kept (the table is
/// encrypted at rest); `whsec_` + base64 of 32 random bytes, the Standard Webhooks format.
pub const SECRET_PREFIX: &str = "whsec_";

/// How long the previous secret keeps signing after a rotation, unless the request says.
pub const DEFAULT_ROTATION_GRACE_SECONDS: i64 = 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointStatus {
    Enabled,
    Disabled,
}

impl EndpointStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "enabled" => Some(Self::Enabled),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// The secret a rotation replaced: it still signs until `expires_at` (epoch ms).
#[derive(Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    pub secret: String,
    pub expires_at: i64,
}

#[derive(Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub environment_id: EnvironmentId,
    pub url: String,
    /// Event names it receives; empty means every event.
    pub events: Vec<String>,
    pub status: EndpointStatus,
    /// Why it is disabled: `"by request"`, or `"gone (410)"` when the receiver said so.
    pub disabled_reason: Option<String>,
    pub secret: String,
    pub previous_secret: Option<PreviousSecret>,
    /// Set while its deliveries fail (epoch ms), cleared by a success. New deliveries to a
    /// failing endpoint skip the inline attempt and go to the retry sweep, so a dead endpoint
    /// costs the stream nothing.
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Optimistic-concurrency counter for updates.
    pub version: u64,
}

impl WebhookEndpoint {
    pub fn new(environment_id: EnvironmentId, url: String, events: Vec<String>, now: i64) -> Self {
        Self {
            id: WebhookEndpointId::generate(),
            environment_id,
            url,
            events,
            status: EndpointStatus::Enabled,
            disabled_reason: None,
            secret: generate_secret(),
            previous_secret: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// Whether an event of this name is delivered here (while enabled).
    pub fn subscribes(&self, event: &str) -> bool {
        self.status == EndpointStatus::Enabled
            && (self.events.is_empty() || self.events.iter().any(|e| e == event))
    }

    /// The secrets that sign a delivery made at `now`: the current one first, then the
    /// previous one while its grace period lasts.
    pub fn signing_secrets(&self, now: i64) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let Some(previous) = self.previous_secret.as_ref().filter(|p| p.expires_at > now) {
            secrets.push(&previous.secret);
        }
        secrets
    }

    /// Replaces the secret; the old one signs too until `now + grace_seconds`.
    pub fn rotate_secret(&mut self, now: i64, grace_seconds: i64) {
        let old = std::mem::replace(&mut self.secret, generate_secret());
        self.previous_secret = (grace_seconds > 0).then(|| PreviousSecret {
            secret: old,
            expires_at: now + grace_seconds * 1000,
        });
        self.updated_at = now;
    }
}

/// Secrets never reach logs, not even through `{:?}`.
impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field("environment_id", &self.environment_id)
            .field("status", &self.status)
            .field("events", &self.events.len())
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PreviousSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreviousSecret(expires_at: {})", self.expires_at)
    }
}

pub fn generate_secret() -> String {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(events: &[&str]) -> WebhookEndpoint {
        WebhookEndpoint::new(
            EnvironmentId::generate(),
            "https://example.com/hook".into(),
            events.iter().map(|e| e.to_string()).collect(),
            1_000,
        )
    }

    #[test]
    fn an_empty_event_list_subscribes_to_everything_and_disabled_to_nothing() {
        let mut all = endpoint(&[]);
        assert!(all.subscribes("dsync.user.created"));
        all.status = EndpointStatus::Disabled;
        assert!(!all.subscribes("dsync.user.created"));
        let some = endpoint(&["dsync.user.deleted"]);
        assert!(some.subscribes("dsync.user.deleted"));
        assert!(!some.subscribes("dsync.user.created"));
    }

    #[test]
    fn rotation_keeps_the_old_secret_signing_for_the_grace_period_only() {
        let mut e = endpoint(&[]);
        let old = e.secret.clone();
        e.rotate_secret(10_000, 60);
        assert_ne!(e.secret, old);
        assert_eq!(e.signing_secrets(10_000), vec![e.secret.as_str(), &old]);
        assert_eq!(e.signing_secrets(70_000), vec![e.secret.as_str()]);
    }

    #[test]
    fn secrets_are_standard_webhooks_secrets_and_never_debug_printed() {
        let e = endpoint(&[]);
        assert!(e.secret.starts_with(SECRET_PREFIX));
        assert!(standardwebhooks::Webhook::new(&e.secret).is_ok());
        assert!(!format!("{e:?}").contains(&e.secret));
    }
}
