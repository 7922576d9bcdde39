//! The keys of config secrets: the operator's key (`--config-secret-key`), which seals the
//! keyring, and the keyring's data keys, of which the active one seals new secrets. Data keys
//! are unsealed on first use and cached; secrets are opened by the key id they carry, so reads
//! work whichever key sealed them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use micro_raft::Cluster;
use micro_state_machine::config::{self, ConfigCommand, ConfigResponse, Keyring, Secret};
use micro_state_machine::{Command, Response};
use rand::RngCore;

use super::{SecretCipher, KEY_BYTES};
use crate::error::ApiError;

/// The ciphers of config secrets on one node.
#[derive(Clone)]
pub struct Keys {
    operator: SecretCipher,
    cluster: Arc<Cluster>,
    data: Arc<Mutex<HashMap<String, SecretCipher>>>,
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

impl Keys {
    /// The keys of `cluster`, whose keyring is sealed by `operator`.
    pub fn new(cluster: Arc<Cluster>, operator: SecretCipher) -> Self {
        Keys {
            operator,
            cluster,
            data: Arc::default(),
        }
    }

    /// The keyring in this node's applied state.
    pub fn ring(&self) -> Result<Keyring, ApiError> {
        config::keyring(self.cluster.reader()).map_err(internal)
    }

    /// The operator's key id (it seals secrets until the first rotation).
    pub fn operator_id(&self) -> &str {
        self.operator.key_id()
    }

    fn data_key(&self, ring: &Keyring, id: &str) -> Result<SecretCipher, ApiError> {
        if let Some(c) = self.data.lock().ok().and_then(|m| m.get(id).cloned()) {
            return Ok(c);
        }
        let sealed = ring.keys.get(id).ok_or_else(|| {
            ApiError::Internal(format!(
                "secret was encrypted with key {id}, which this cluster does not hold"
            ))
        })?;
        let raw = self.operator.open(sealed).map_err(internal)?;
        let cipher = SecretCipher::new(&raw).map_err(internal)?;
        if let Ok(mut m) = self.data.lock() {
            m.insert(id.to_owned(), cipher.clone());
        }
        Ok(cipher)
    }

    /// The cipher that seals new secrets.
    pub fn active(&self) -> Result<SecretCipher, ApiError> {
        let ring = self.ring()?;
        match &ring.active {
            Some(id) => self.data_key(&ring, id),
            None => Ok(self.operator.clone()),
        }
    }

    /// Decrypts a secret with whichever key sealed it.
    pub fn open(&self, secret: &Secret) -> Result<Vec<u8>, ApiError> {
        if secret.key_id == self.operator.key_id() {
            return self.operator.open(secret).map_err(internal);
        }
        let cipher = self.data_key(&self.ring()?, &secret.key_id)?;
        cipher.open(secret).map_err(internal)
    }

    /// Adds a fresh data key and makes it active; returns its id.
    pub async fn rotate(&self) -> Result<String, ApiError> {
        let mut raw = [0u8; KEY_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let key_id = SecretCipher::new(&raw)
            .map_err(internal)?
            .key_id()
            .to_owned();
        let cmd = ConfigCommand::AddKey {
            key_id: key_id.clone(),
            sealed: self.operator.seal(&raw),
        };
        match self.cluster.write(Command::Config(cmd)).await? {
            Response::Config(ConfigResponse::Rekeyed { .. }) => Ok(key_id),
            Response::Config(ConfigResponse::Err(e)) => Err(ApiError::BadRequest(e.to_string())),
            other => Err(ApiError::Internal(format!(
                "adding a key produced {other:?}"
            ))),
        }
    }
}
