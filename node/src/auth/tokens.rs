//! Access tokens: HS256 JWTs signed with one cluster-wide key, so any node verifies any token
//! locally. The key is made by whichever node first needs it, sealed under the cluster's
//! config key and proposed; the first proposal wins and every node unseals the same key.

use std::sync::{Arc, RwLock};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use micro_raft::Cluster;
use micro_state_machine::auth::{self, Account, AuthCommand, AuthResponse};
use micro_state_machine::{Command, Response};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config_service::SecretCipher;
use crate::error::ApiError;

/// How much clock difference between nodes a token's expiry tolerates.
const LEEWAY_SECS: u64 = 5;
const KEY_BYTES: usize = 32;

/// What an access token says about its account (Micro's claims).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Account id.
    pub sub: String,
    /// The namespace that issued the account.
    pub iss: String,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Issue time, unix seconds.
    pub iat: i64,
    /// Account type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Account scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Account metadata.
    #[serde(default)]
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Account name.
    #[serde(default)]
    pub name: String,
}

impl Claims {
    /// Whether the account may administer namespaces (Micro's admin test).
    pub fn is_admin(&self) -> bool {
        auth::is_admin(&self.kind, &self.scopes)
    }
}

struct SigningKey {
    id: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Only HS256, with expiry, subject and issuer required.
    validation: Validation,
}

/// Issues and verifies the cluster's access tokens.
pub struct Tokens {
    cluster: Arc<Cluster>,
    cipher: SecretCipher,
    key: RwLock<Option<Arc<SigningKey>>>,
}

impl Tokens {
    /// Tokens for `cluster`, whose signing key is sealed with `cipher`.
    pub fn new(cluster: Arc<Cluster>, cipher: SecretCipher) -> Self {
        Tokens {
            cluster,
            cipher,
            key: RwLock::new(None),
        }
    }

    /// Signs an access token for `account` valid for `lifetime_secs` from `now_secs`.
    pub async fn issue(
        &self,
        account: &Account,
        now_secs: i64,
        lifetime_secs: i64,
    ) -> Result<String, ApiError> {
        let key = self.ensure_key().await?;
        let claims = Claims {
            sub: account.id.clone(),
            iss: account.issuer.clone(),
            exp: now_secs.saturating_add(lifetime_secs),
            iat: now_secs,
            kind: account.kind.clone(),
            scopes: account.scopes.clone(),
            metadata: account.metadata.clone(),
            name: account.name.clone(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.id.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|e| ApiError::Internal(format!("signing the token failed: {e}")))
    }

    /// [`Tokens::verify`], except that a replica without the signing key (a node that just
    /// joined or was replaced) first catches up with the cluster, so a valid token is never
    /// refused for this replica's lag. The outer error: it could not catch up.
    pub async fn verify_caught_up(
        &self,
        token: &str,
    ) -> Result<Result<Claims, TokenError>, ApiError> {
        match self.verify(token) {
            Err(TokenError::NoKey) => {
                self.cluster.read_barrier().await?;
                Ok(self.verify(token))
            }
            verdict => Ok(verdict),
        }
    }

    /// Checks a token's signature (only HS256 with this cluster's key) and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let key = self.loaded_key().map_err(TokenError::Unavailable)?;
        let Some(key) = key else {
            // Either no token was ever issued, or this replica has not applied the key yet.
            return Err(TokenError::NoKey);
        };
        jsonwebtoken::decode::<Claims>(token, &key.decoding, &key.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                TokenError::Invalid(match e.kind() {
                    ErrorKind::ExpiredSignature => "token has expired".into(),
                    ErrorKind::InvalidSignature => {
                        "token signature is invalid (not issued by this cluster)".into()
                    }
                    ErrorKind::InvalidAlgorithm => "token algorithm is not accepted".into(),
                    _ => format!("invalid token: {e}"),
                })
            })
    }

    /// The cached key, else the one in the local state (cached once found).
    fn loaded_key(&self) -> Result<Option<Arc<SigningKey>>, String> {
        if let Ok(guard) = self.key.read() {
            if let Some(key) = guard.as_ref() {
                return Ok(Some(key.clone()));
            }
        }
        let sealed = auth::signing_key(self.cluster.reader())
            .map_err(|e| format!("reading the signing key: {e}"))?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let raw = self
            .cipher
            .open(&sealed)
            .map_err(|e| format!("unsealing the token signing key: {e}"))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        let key = Arc::new(SigningKey {
            id: hex::encode(&Sha256::digest(&raw)[..8]),
            encoding: EncodingKey::from_secret(&raw),
            decoding: DecodingKey::from_secret(&raw),
            validation,
        });
        if let Ok(mut guard) = self.key.write() {
            *guard = Some(key.clone());
        }
        Ok(Some(key))
    }

    /// The signing key, creating the cluster's if it has none yet.
    async fn ensure_key(&self) -> Result<Arc<SigningKey>, ApiError> {
        let load = |tokens: &Tokens| tokens.loaded_key().map_err(ApiError::Internal);
        if let Some(key) = load(self)? {
            return Ok(key);
        }
        self.cluster.read_barrier().await?;
        if let Some(key) = load(self)? {
            return Ok(key);
        }
        let mut raw = [0u8; KEY_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let key = self.cipher.seal(&raw);
        match self
            .cluster
            .write(Command::Auth(AuthCommand::InitSigningKey { key }))
            .await?
        {
            Response::Auth(AuthResponse::Done | AuthResponse::AlreadyDone) => {}
            other => {
                return Err(ApiError::Internal(format!(
                    "storing the signing key produced {other:?}"
                )))
            }
        }
        // The write applied on the leader; wait until this node has applied it too.
        self.cluster.read_barrier().await?;
        load(self)?.ok_or_else(|| ApiError::Internal("the signing key was not stored".into()))
    }
}

/// Why a presented token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, algorithm, shape or expiry.
    #[error("{0}")]
    Invalid(String),
    /// The node could not read its key.
    #[error("{0}")]
    Unavailable(String),
    /// This replica holds no signing key (none was made yet, or it has not caught up).
    #[error("token not issued by this cluster")]
    NoKey,
}
