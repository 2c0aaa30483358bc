//! Provider secrets at rest: AES-256-GCM under a key the tables never see. Google Workspace
//! credentials and HR directories' webhook secrets and BambooHR API keys are sealed with it.
//! Locally the key is a file under the data directory (created on first use, mode 0600); on
//! AWS it is a function environment variable encrypted with its own KMS key (see
//! `docs/deploy-aws.md`). Every ciphertext is bound to a context (the directory id, plus
//! what the secret is for), so a sealed blob copied onto another directory or another kind of
//! secret does not open.
//!
//! The format (a version byte, the 12-byte nonce, the ciphertext and its tag) is the one
//! Google credentials were first sealed in, so those stay readable.

use std::path::Path;
use std::sync::Arc;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// The format byte in front of every sealed blob: lets a later format coexist.
const FORMAT_V1: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the sealing key could not be read or created: {0}")]
    Key(String),
    #[error("the sealed credentials do not open with this key")]
    Open,
    #[error("sealing failed")]
    Seal,
}

/// The sealing key on AWS: 32 bytes in base64. The name is older than HR directories: the
/// same key seals their secrets too.
pub const SEALING_KEY_VARIABLE: &str = "DSYNC_GOOGLE_SEALING_KEY";

/// Seals and opens secrets. Cheap to clone (the key is shared). Its `Debug` shows nothing of
/// the key.
#[derive(Clone)]
pub struct Sealer {
    key: Arc<LessSafeKey>,
    random: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn from_key(bytes: &[u8; 32]) -> Result<Self, SealError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SealError::Seal)?;
        Ok(Self {
            key: Arc::new(LessSafeKey::new(key)),
            random: SystemRandom::new(),
        })
    }

    /// The key in `path`, 32 random bytes written there (owner-only) the first time.
    pub fn local_key_file(path: &Path) -> Result<Self, SealError> {
        let key = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key_file(path)?,
            Err(e) => return Err(SealError::Key(e.to_string())),
        };
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| SealError::Key(format!("{} is not a 32-byte key", path.display())))?;
        Self::from_key(&key)
    }

    /// From [`SEALING_KEY_VARIABLE`]: `None` when it is unset or empty (directories whose
    /// secrets must be sealed are then refused), an error when it is not 32 bytes of base64.
    pub fn from_env() -> Result<Option<Self>, String> {
        let Some(text) = std::env::var(SEALING_KEY_VARIABLE)
            .ok()
            .filter(|t| !t.trim().is_empty())
        else {
            return Ok(None);
        };
        Self::from_base64(&text).map(Some)
    }

    /// 32 bytes in base64 (`openssl rand -base64 32`).
    pub fn from_base64(text: &str) -> Result<Self, String> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| format!("{SEALING_KEY_VARIABLE} is not base64"))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            format!("{SEALING_KEY_VARIABLE} must be 32 bytes (openssl rand -base64 32)")
        })?;
        Self::from_key(&key).map_err(|e| e.to_string())
    }

    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| SealError::Seal)?;
        let mut buffer = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| SealError::Seal)?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + buffer.len());
        sealed.push(FORMAT_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&buffer);
        Ok(sealed)
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let Some((&FORMAT_V1, rest)) = sealed.split_first() else {
            return Err(SealError::Open);
        };
        if rest.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }
}

fn create_key_file(path: &Path) -> Result<Vec<u8>, SealError> {
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| SealError::Key("no randomness".into()))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| SealError::Key(e.to_string()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(&key)
                .map_err(|e| SealError::Key(e.to_string()))?;
            Ok(key.to_vec())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read(path).map_err(|e| SealError::Key(e.to_string()))
        }
        Err(e) => Err(SealError::Key(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_credentials_open_only_with_the_same_key_and_directory() {
        let sealer = Sealer::from_key(&[7; 32]).unwrap();
        let sealed = sealer.seal("directory_a", b"secret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(sealer.open("directory_a", &sealed).unwrap(), b"secret");
        assert!(sealer.open("directory_b", &sealed).is_err());
        let other = Sealer::from_key(&[8; 32]).unwrap();
        assert!(other.open("directory_a", &sealed).is_err());
        assert!(sealer.open("directory_a", &sealed[..10]).is_err());
    }

    /// The at-rest layout Google credentials were first sealed in (version 1, the nonce, the
    /// AES-256-GCM ciphertext and tag, the context as associated data) still opens: built
    /// here by hand, not by `seal`.
    #[test]
    fn blobs_in_the_first_format_still_open() {
        let key = [9u8; 32];
        let nonce = [5u8; NONCE_LEN];
        let sealing = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
        let mut ciphertext = b"{\"client_email\":\"sa@x\"}".to_vec();
        sealing
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(b"directory_x".as_slice()),
                &mut ciphertext,
            )
            .unwrap();
        let mut blob = vec![1u8];
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        let sealer = Sealer::from_key(&key).unwrap();
        assert_eq!(
            sealer.open("directory_x", &blob).unwrap(),
            b"{\"client_email\":\"sa@x\"}"
        );
    }

    #[test]
    fn a_key_from_the_environment_must_be_32_bytes_of_base64() {
        use base64::Engine;
        let good = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert!(Sealer::from_base64(&good).is_ok());
        assert!(Sealer::from_base64("not base64!").is_err());
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        assert!(Sealer::from_base64(&short).is_err());
    }

    #[test]
    fn the_local_key_file_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("dsync-seal-{}", ulid::Ulid::new()));
        let path = dir.join("google-credentials.key");
        let first = Sealer::local_key_file(&path).unwrap();
        let sealed = first.seal("d", b"x").unwrap();
        let again = Sealer::local_key_file(&path).unwrap();
        assert_eq!(again.open("d", &sealed).unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
