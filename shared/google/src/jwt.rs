//! The JWT-bearer grant (RFC 7523) as Google's token endpoint takes it: an RS256-signed
//! assertion naming the service account (`iss`), the admin it acts as (`sub`), the scopes and
//! the token endpoint (`aud`), valid for an hour.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::RSA_PKCS1_SHA256;
use serde_json::json;

use crate::credentials::{Credentials, CredentialsError};

/// Google accepts assertions valid for at most an hour.
const LIFETIME_SECONDS: i64 = 3600;

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The signed assertion, at `now_seconds`.
pub fn assertion(
    credentials: &Credentials,
    scopes: &[&str],
    audience: &str,
    now_seconds: i64,
) -> Result<String, CredentialsError> {
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = &credentials.private_key_id {
        header["kid"] = json!(kid);
    }
    let claims = json!({
        "iss": credentials.client_email,
        "sub": credentials.admin_email,
        "scope": scopes.join(" "),
        "aud": audience,
        "iat": now_seconds,
        "exp": now_seconds + LIFETIME_SECONDS,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = credentials.key_pair()?;
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| CredentialsError::BadPrivateKey)?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{KeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

    const TEST_KEY: &str = include_str!("../testdata/test-service-account-key.pem");

    #[test]
    fn the_assertion_is_signed_by_the_key_and_names_the_admin() {
        let key = json!({"type": "service_account", "client_email": "sync@p.iam.gserviceaccount.com",
            "private_key": TEST_KEY, "private_key_id": "k1"});
        let credentials = Credentials::parse(&key, "admin@acme.test").unwrap();
        let token = assertion(&credentials, &["s1", "s2"], "https://token.test", 1_000).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["sub"], "admin@acme.test");
        assert_eq!(claims["iss"], "sync@p.iam.gserviceaccount.com");
        assert_eq!(claims["scope"], "s1 s2");
        assert_eq!(claims["aud"], "https://token.test");
        assert_eq!(claims["exp"], 4_600);
        let public = credentials
            .key_pair()
            .unwrap()
            .public_key()
            .as_ref()
            .to_vec();
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        let verifier = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public);
        assert!(verifier.verify(signed.as_bytes(), &signature).is_ok());
        assert!(verifier.verify(b"tampered", &signature).is_err());
        assert!(!format!("{credentials:?}").contains("admin@"));
    }
}
