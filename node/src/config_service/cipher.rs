//! AES-256-GCM encryption of config secrets with a random 96-bit nonce per value.
//!
//! A secret is stored as `nonce ‖ ciphertext` with the id of the key that sealed it (the first 8
//! bytes of the key's SHA-256, hex), so a future key rotation can tell which key opens what.

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use micro_state_machine::config::Secret;
use sha2::{Digest, Sha256};

/// The name of the config key among the cluster's shared secrets.
pub const CONFIG_KEY_NAME: &str = "config-secret-key";
/// Key length of AES-256.
pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// The key is not 32 bytes.
    #[error("the config secret key must be 32 bytes, got {0}")]
    KeyLength(usize),
    /// The secret was sealed by a key this node does not have.
    #[error("secret was encrypted with key {0}, which this node does not hold")]
    UnknownKey(String),
    /// The ciphertext is damaged or was tampered with.
    #[error("secret could not be decrypted: it is corrupt")]
    Corrupt,
}

/// Seals and opens config secrets. `Debug` never shows the key.
#[derive(Clone)]
pub struct SecretCipher {
    cipher: Aes256Gcm,
    key_id: String,
}

impl fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretCipher(key {})", self.key_id)
    }
}

impl SecretCipher {
    /// A cipher for a 32-byte key.
    pub fn new(key: &[u8]) -> Result<Self, CipherError> {
        if key.len() != KEY_BYTES {
            return Err(CipherError::KeyLength(key.len()));
        }
        let key_id = hex::encode(&Sha256::digest(key)[..8]);
        Ok(SecretCipher {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
            key_id,
        })
    }

    /// The id secrets sealed by this key carry.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Encrypts `plain` under a fresh random nonce.
    pub fn seal(&self, plain: &[u8]) -> Secret {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers; an empty
        // ciphertext would fail to open and be reported as corrupt, never served.
        let sealed = self.cipher.encrypt(&nonce, plain).unwrap_or_default();
        let mut ciphertext = nonce.to_vec();
        ciphertext.extend_from_slice(&sealed);
        Secret {
            key_id: self.key_id.clone(),
            ciphertext,
        }
    }

    /// Decrypts a secret sealed by this key.
    pub fn open(&self, secret: &Secret) -> Result<Vec<u8>, CipherError> {
        if secret.key_id != self.key_id {
            return Err(CipherError::UnknownKey(secret.key_id.clone()));
        }
        if secret.ciphertext.len() < NONCE_BYTES {
            return Err(CipherError::Corrupt);
        }
        let (nonce, body) = secret.ciphertext.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| CipherError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_with_fresh_nonces_and_detects_tampering() {
        let c = SecretCipher::new(&[7u8; 32]).unwrap();
        let a = c.seal(b"42");
        let b = c.seal(b"42");
        assert_ne!(a.ciphertext, b.ciphertext, "nonces must differ");
        assert!(!a.ciphertext.windows(2).any(|w| w == b"42"));
        assert_eq!(c.open(&a).unwrap(), b"42");
        let mut bad = a.clone();
        let last = bad.ciphertext.len() - 1;
        bad.ciphertext[last] ^= 1;
        assert!(matches!(c.open(&bad), Err(CipherError::Corrupt)));
        let other = SecretCipher::new(&[8u8; 32]).unwrap();
        assert!(matches!(other.open(&a), Err(CipherError::UnknownKey(_))));
        assert!(SecretCipher::new(&[0u8; 16]).is_err());
    }
}
