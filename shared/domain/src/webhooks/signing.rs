//! The headers that let a receiver check a delivery came from us, untouched and recently.
//!
//! One secret serves two verifiers:
//! - Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256(key, "id.ts.body")>`, the
//!   key being the base64-decoded part after `whsec_`, one `v1,…` per signing secret
//!   (during a rotation the receiver may hold either);
//! - the WorkOS SDKs: `WorkOS-Signature: t=<ms>, v1=<hex HMAC-SHA256(secret, "ms.body")>`, keyed
//!   by the whole secret string. That header carries exactly one signature (the SDKs split it
//!   on `", "`), so during a rotation it is made with the *previous* secret: receivers keep
//!   working unchanged until the grace period ends, and switch to the new secret by then.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const WEBHOOK_ID: &str = "webhook-id";
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";
pub const WORKOS_SIGNATURE: &str = "WorkOS-Signature";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub webhook_id: String,
    /// Seconds since the epoch.
    pub webhook_timestamp: String,
    pub webhook_signature: String,
    pub workos_signature: String,
}

impl SignedHeaders {
    pub fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            (WEBHOOK_ID, &self.webhook_id),
            (WEBHOOK_TIMESTAMP, &self.webhook_timestamp),
            (WEBHOOK_SIGNATURE, &self.webhook_signature),
            (WORKOS_SIGNATURE, &self.workos_signature),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    #[error("an endpoint has no signing secret")]
    NoSecret,
    #[error("a signing secret is not a whsec_ base64 secret")]
    BadSecret,
    #[error("a webhook body must be UTF-8")]
    BodyNotUtf8,
}

/// Signs `body` for delivery at `now_ms` as message `id`, with `secrets` newest first (as
/// [`super::WebhookEndpoint::signing_secrets`] lists them).
pub fn sign(
    id: &str,
    body: &[u8],
    now_ms: i64,
    secrets: &[&str],
) -> Result<SignedHeaders, SigningError> {
    let oldest = secrets.last().ok_or(SigningError::NoSecret)?;
    let seconds = now_ms.div_euclid(1000);
    let mut signatures = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let webhook =
            standardwebhooks::Webhook::new(secret).map_err(|_| SigningError::BadSecret)?;
        signatures.push(webhook.sign(id, seconds, body).map_err(|e| match e {
            standardwebhooks::WebhookError::InvalidPayload => SigningError::BodyNotUtf8,
            _ => SigningError::BadSecret,
        })?);
    }
    Ok(SignedHeaders {
        webhook_id: id.to_owned(),
        webhook_timestamp: seconds.to_string(),
        webhook_signature: signatures.join(" "),
        workos_signature: format!("t={now_ms}, v1={}", workos_signature(oldest, now_ms, body)),
    })
}

fn workos_signature(secret: &str, now_ms: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(now_ms.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::endpoint::generate_secret;

    fn headers_of(signed: &SignedHeaders) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in signed.pairs() {
            map.insert(name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_reference_standard_webhooks_verifier_accepts_every_signing_secret() {
        let (new, old) = (generate_secret(), generate_secret());
        let body = br#"{"object":"event","id":"event_1"}"#;
        let now = crate::time::now_millis();
        let signed = sign("event_1", body, now, &[&new, &old]).unwrap();
        for secret in [&new, &old] {
            let verifier = standardwebhooks::Webhook::new(secret).unwrap();
            verifier.verify(body, &headers_of(&signed)).unwrap();
        }
        let stranger = standardwebhooks::Webhook::new(&generate_secret()).unwrap();
        assert!(stranger.verify(body, &headers_of(&signed)).is_err());
        let tampered = br#"{"object":"event","id":"event_2"}"#;
        let verifier = standardwebhooks::Webhook::new(&new).unwrap();
        assert!(verifier.verify(tampered, &headers_of(&signed)).is_err());
    }

    #[test]
    fn the_workos_signature_is_keyed_by_the_secret_string_with_millisecond_time() {
        // The value the WorkOS SDKs compute: hex HMAC-SHA256(secret, "<t>.<body>").
        let signed = sign("event_1", b"{}", 1_700_000_000_123, &["whsec_AAAA"]).unwrap();
        assert_eq!(signed.webhook_timestamp, "1700000000");
        let (t, v1) = signed.workos_signature.split_once(", ").unwrap();
        assert_eq!(t, "t=1700000000123");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_AAAA").unwrap();
        mac.update(b"1700000000123.{}");
        assert_eq!(
            v1,
            format!("v1={}", hex::encode(mac.finalize().into_bytes()))
        );
    }

    #[test]
    fn during_a_rotation_the_workos_header_uses_the_previous_secret() {
        let signed = sign("e", b"{}", 5_000, &["whsec_AAAA", "whsec_BBBB"]).unwrap();
        let only_old = sign("e", b"{}", 5_000, &["whsec_BBBB"]).unwrap();
        assert_eq!(signed.workos_signature, only_old.workos_signature);
        assert_eq!(signed.webhook_signature.split(' ').count(), 2);
    }

    #[test]
    fn no_secret_or_a_malformed_one_is_an_error_not_a_panic() {
        assert_eq!(sign("e", b"{}", 0, &[]), Err(SigningError::NoSecret));
        assert_eq!(
            sign("e", b"{}", 0, &["whsec_***"]),
            Err(SigningError::BadSecret)
        );
    }
}
