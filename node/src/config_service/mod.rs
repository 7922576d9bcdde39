//! The config service (Micro's `config.Config`): request flow from gRPC or HTTP to raft and back.
//!
//! Named `config_service` because `node::config` is the server's own configuration. Secrets are
//! encrypted here, on the node that receives the request, before proposing: the raft log,
//! snapshots and sled files only ever hold ciphertext.

mod cipher;
mod service;

pub use cipher::{CipherError, SecretCipher, CONFIG_KEY_NAME, KEY_BYTES};
pub use service::ConfigService;
