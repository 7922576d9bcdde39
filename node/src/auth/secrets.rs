//! Account secrets at rest: argon2id hashes (made on a blocking thread: hashing is slow on
//! purpose), and refresh tokens (random, looked up by SHA-256, kept sealed for re-issue).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use micro_state_machine::config::Secret;
use sha2::{Digest, Sha256};

use crate::config_service::SecretCipher;
use crate::error::ApiError;

/// Hashes `secret` with argon2id and a random salt, as a PHC string.
pub async fn hash(secret: String) -> Result<String, ApiError> {
    blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(format!("hashing the secret failed: {e}")))
    })
    .await
}

/// Whether `secret` matches the PHC string `hash`.
pub async fn verify(secret: String, hash: String) -> Result<bool, ApiError> {
    blocking(move || {
        let parsed = PasswordHash::new(&hash)
            .map_err(|e| ApiError::Internal(format!("stored secret hash is corrupt: {e}")))?;
        Ok(Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok())
    })
    .await
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("hashing task failed: {e}")))?
}

/// A fresh refresh token (a random UUID, as Micro's) as the state keeps it; clients get it
/// by unsealing.
pub struct RefreshToken {
    /// Its SHA-256, hex: the lookup key.
    pub digest: String,
    /// The token sealed under the cluster's config key.
    pub sealed: Secret,
}

impl RefreshToken {
    /// Makes a new random refresh token.
    pub fn generate(cipher: &SecretCipher) -> Self {
        let token = uuid::Uuid::new_v4().to_string();
        RefreshToken {
            digest: digest(&token),
            sealed: cipher.seal(token.as_bytes()),
        }
    }
}

/// The lookup key of a refresh token.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A random secret for accounts created without one (Micro uses a UUID).
pub fn random_secret() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_their_secret_and_are_salted() {
        let h1 = hash("micro".into()).await.unwrap();
        let h2 = hash("micro".into()).await.unwrap();
        assert_ne!(h1, h2, "salted");
        assert!(h1.starts_with("$argon2id$"));
        assert!(!h1.contains("micro"));
        assert!(verify("micro".into(), h1.clone()).await.unwrap());
        assert!(!verify("Micro".into(), h1).await.unwrap());
        assert!(verify("x".into(), "not a hash".into()).await.is_err());
    }

    #[test]
    fn refresh_tokens_round_trip_through_the_cipher() {
        let cipher = SecretCipher::new(&[7u8; 32]).unwrap();
        let r = RefreshToken::generate(&cipher);
        let token = String::from_utf8(cipher.open(&r.sealed).unwrap()).unwrap();
        assert_eq!(r.digest, digest(&token));
        assert_eq!(token.len(), 36, "a UUID: {token}");
        assert_ne!(r.digest, RefreshToken::generate(&cipher).digest);
    }
}
