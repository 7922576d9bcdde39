//! Join tokens: `MICRO1.<sha256 of the cluster CA certificate, hex>.<secret, hex>`.
//!
//! The CA hash lets a joining node verify it reached the right cluster before it sends the
//! secret (the kubeadm discovery-token scheme); the secret proves the joiner was invited.

use std::fmt;

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "MICRO1";

/// A parsed join token. `Debug` and `Display` never print the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// SHA-256 of the cluster CA certificate (DER).
    pub ca_hash: [u8; 32],
    secret: [u8; 32],
}

/// Why a token string was refused.
#[derive(Debug, thiserror::Error)]
#[error("malformed join token: expected MICRO1.<64 hex>.<64 hex>")]
pub struct MalformedToken;

impl JoinToken {
    /// A fresh token for the CA certificate `ca_der`.
    pub fn generate(ca_der: &[u8]) -> Self {
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        JoinToken {
            ca_hash: ca_fingerprint(ca_der),
            secret,
        }
    }

    /// Parses the textual form.
    pub fn parse(s: &str) -> Result<Self, MalformedToken> {
        let mut parts = s.trim().split('.');
        let (Some(PREFIX), Some(hash), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(MalformedToken);
        };
        let mut token = JoinToken {
            ca_hash: [0; 32],
            secret: [0; 32],
        };
        hex::decode_to_slice(hash, &mut token.ca_hash).map_err(|_| MalformedToken)?;
        hex::decode_to_slice(secret, &mut token.secret).map_err(|_| MalformedToken)?;
        Ok(token)
    }

    /// The full textual token, secret included: only for the token file and the startup banner.
    pub fn reveal(&self) -> String {
        format!(
            "{PREFIX}.{}.{}",
            hex::encode(self.ca_hash),
            hex::encode(self.secret)
        )
    }

    /// Whether `secret` is this token's secret (constant time).
    pub fn secret_matches(&self, secret: &[u8]) -> bool {
        secret.len() == self.secret.len() && bool::from(self.secret.ct_eq(secret))
    }

    /// The secret bytes, to present to a member when joining.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "JoinToken(ca={}, secret=[redacted])",
            hex::encode(self.ca_hash)
        )
    }
}

/// SHA-256 of a DER certificate.
pub fn ca_fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_hides_the_secret() {
        let t = JoinToken::generate(b"ca");
        let parsed = JoinToken::parse(&t.reveal()).unwrap();
        assert_eq!(parsed, t);
        assert!(parsed.secret_matches(t.secret()));
        assert!(!parsed.secret_matches(&[0; 32]));
        assert!(!format!("{t:?}").contains(&hex::encode(t.secret())));
        for bad in [
            "",
            "MICRO1",
            "MICRO1.zz.zz",
            "MICRO2.00.00",
            &format!("{}.x", t.reveal()),
        ] {
            assert!(JoinToken::parse(bad).is_err(), "{bad}");
        }
    }
}
