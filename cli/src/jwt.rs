//! Reading the claims of an access token (a JWT) without verifying it: the CLI only needs to
//! know whose token it holds and when it expires; the server verifies every token it receives.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Deserialize;

/// The claims Micro puts in its access tokens.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Claims {
    /// The account id.
    #[serde(default)]
    pub sub: String,
    /// The namespace that issued the account.
    #[serde(default)]
    pub iss: String,
    /// Expiry, unix seconds.
    #[serde(default)]
    pub exp: Option<f64>,
    /// Issued at, unix seconds.
    #[serde(default)]
    pub iat: Option<f64>,
    /// `user` or `service`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The account's scopes.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// The account's metadata.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// The account's name (older tokens have none).
    #[serde(default)]
    pub name: Option<String>,
}

impl Claims {
    /// Decodes the payload (second part) of `token`.
    pub fn decode(token: &str) -> Result<Claims> {
        let mut parts = token.trim().split('.');
        let (Some(_header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            bail!("the access token is not a JWT");
        };
        // JWTs use unpadded base64url; accept padding too.
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .or_else(|_| URL_SAFE.decode(payload))
            .context("the access token's payload is not base64url")?;
        serde_json::from_slice(&bytes).context("the access token's payload is not JSON claims")
    }

    /// The name to show for the account: its name, else its id.
    pub fn display_name(&self) -> &str {
        match self.name.as_deref() {
            Some(name) if !name.is_empty() => name,
            _ => &self.sub,
        }
    }

    /// Expiry in whole unix seconds, if the token has one.
    pub fn expiry(&self) -> Option<i64> {
        // Truncation is intended: fractional seconds do not matter here.
        self.exp.map(|e| e as i64)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds an unsigned JWT carrying `claims` (tests only).
    pub(crate) fn jwt(claims: &serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{header}.{payload}.c2lnbmF0dXJl")
    }

    #[test]
    fn decodes_micro_claims() {
        let token = jwt(&serde_json::json!({
            "sub": "admin", "iss": "micro", "exp": 1700000000, "iat": 1699999000,
            "type": "user", "scopes": ["admin"], "metadata": {"created": "1"}, "name": "Admin"
        }));
        let c = Claims::decode(&token).unwrap();
        assert_eq!(c.sub, "admin");
        assert_eq!(c.iss, "micro");
        assert_eq!(c.expiry(), Some(1700000000));
        assert_eq!(c.kind.as_deref(), Some("user"));
        assert_eq!(c.scopes, Some(vec!["admin".to_owned()]));
        assert_eq!(c.display_name(), "Admin");
    }

    #[test]
    fn name_falls_back_to_id_and_missing_claims_are_fine() {
        let c = Claims::decode(&jwt(&serde_json::json!({"sub": "jane", "name": ""}))).unwrap();
        assert_eq!(c.display_name(), "jane");
        assert_eq!(c.expiry(), None);
        let c = Claims::decode(&jwt(&serde_json::json!({"sub": "x", "metadata": null}))).unwrap();
        assert_eq!(c.metadata, None);
    }

    #[test]
    fn padded_payloads_are_accepted() {
        let payload = URL_SAFE.encode(r#"{"sub":"abc"}"#);
        assert!(payload.ends_with('='), "{payload}");
        let c = Claims::decode(&format!("h.{payload}.s")).unwrap();
        assert_eq!(c.sub, "abc");
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in ["", "abc", "a.b", "a.b.c.d", "a.!!!.c", "a.bm90IGpzb24.c"] {
            assert!(Claims::decode(bad).is_err(), "{bad:?} accepted");
        }
    }
}
