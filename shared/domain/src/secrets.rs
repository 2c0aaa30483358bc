//! Bearer tokens and API keys: 32 random bytes, shown once, stored as SHA-256, compared in
//! constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The SHA-256 of a secret, as stored. Its `Debug` never prints the hash in full.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn from_hex(hex_text: &str) -> Option<Self> {
        let bytes = hex::decode(hex_text).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Whether `presented` hashes to this value, in time independent of where they differ.
    pub fn verify(&self, presented: &str) -> bool {
        let candidate = Self::of(presented);
        bool::from(self.0.ct_eq(&candidate.0))
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretHash({}…)", &self.to_hex()[..8])
    }
}

/// A freshly generated secret: the plain text to show once, and the hash to store.
pub struct NewSecret {
    pub plain: String,
    pub hash: SecretHash,
}

/// A new secret with a readable prefix, e.g. `dsync_scim_…` or `sk_…`.
pub fn generate(prefix: &str) -> NewSecret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let plain = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = SecretHash::of(&plain);
    NewSecret { plain, hash }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_verifies_and_others_do_not() {
        let secret = generate("dsync_scim_");
        assert!(secret.plain.starts_with("dsync_scim_"));
        assert!(secret.plain.len() >= "dsync_scim_".len() + 43);
        assert!(secret.hash.verify(&secret.plain));
        assert!(!secret.hash.verify(""));
        assert!(!secret.hash.verify(&generate("dsync_scim_").plain));
    }

    #[test]
    fn hex_round_trip() {
        let secret = generate("sk_");
        let hex_text = secret.hash.to_hex();
        assert_eq!(SecretHash::from_hex(&hex_text), Some(secret.hash));
        assert_eq!(SecretHash::from_hex("abc"), None);
    }
}
