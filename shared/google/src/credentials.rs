//! What an admin gives to connect a Google Workspace: a service account's JSON key (with
//! domain-wide delegation granted to its client id) and the admin the service account acts
//! as. Parsed once when given; sealed at rest; never returned, never logged.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::signature::RsaKeyPair;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("service_account_key must be a Google service account JSON key (type service_account, client_email, private_key)")]
    NotAServiceAccountKey,
    #[error("service_account_key.private_key is not an RSA private key in PKCS#8 PEM")]
    BadPrivateKey,
    #[error("admin_email must be the address of a Workspace administrator")]
    BadAdminEmail,
}

/// The credentials as stored (inside the sealed blob). `Debug` prints neither the key nor the
/// admin's address.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub client_email: String,
    pub private_key_id: Option<String>,
    /// PKCS#8 DER of the RSA private key.
    private_key_der: Vec<u8>,
    pub admin_email: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(..)")
    }
}

#[derive(Deserialize)]
struct ServiceAccountKey {
    #[serde(rename = "type")]
    kind: String,
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
}

impl Credentials {
    /// From the key file's JSON (an object, or that object as a string) and the admin.
    pub fn parse(key: &serde_json::Value, admin_email: &str) -> Result<Self, CredentialsError> {
        let key: ServiceAccountKey = match key {
            serde_json::Value::String(text) => serde_json::from_str(text),
            other => serde_json::from_value(other.clone()),
        }
        .map_err(|_| CredentialsError::NotAServiceAccountKey)?;
        if key.kind != "service_account" || !key.client_email.contains('@') {
            return Err(CredentialsError::NotAServiceAccountKey);
        }
        let admin_email = admin_email.trim();
        let valid_admin = admin_email.len() <= 320
            && admin_email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !admin_email.contains(char::is_whitespace)
            });
        if !valid_admin {
            return Err(CredentialsError::BadAdminEmail);
        }
        let der = pem_private_key(&key.private_key).ok_or(CredentialsError::BadPrivateKey)?;
        RsaKeyPair::from_pkcs8(&der).map_err(|_| CredentialsError::BadPrivateKey)?;
        Ok(Self {
            client_email: key.client_email,
            private_key_id: key.private_key_id,
            private_key_der: der,
            admin_email: admin_email.to_owned(),
        })
    }

    pub fn key_pair(&self) -> Result<RsaKeyPair, CredentialsError> {
        RsaKeyPair::from_pkcs8(&self.private_key_der).map_err(|_| CredentialsError::BadPrivateKey)
    }
}

/// The DER inside `-----BEGIN PRIVATE KEY-----` … `-----END PRIVATE KEY-----`.
fn pem_private_key(pem: &str) -> Option<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let start = pem.find(BEGIN)? + BEGIN.len();
    let end = pem[start..].find(END)? + start;
    let body: String = pem[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn anything_but_a_service_account_key_is_refused() {
        let admin = "admin@acme.test";
        assert_eq!(
            Credentials::parse(&json!({"type": "authorized_user"}), admin).unwrap_err(),
            CredentialsError::NotAServiceAccountKey
        );
        let bad_key = json!({"type": "service_account", "client_email": "sa@p.iam.gserviceaccount.com",
            "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"});
        assert_eq!(
            Credentials::parse(&bad_key, admin).unwrap_err(),
            CredentialsError::BadPrivateKey
        );
        assert_eq!(
            Credentials::parse(&bad_key, "not an email").unwrap_err(),
            CredentialsError::BadAdminEmail
        );
    }
}
