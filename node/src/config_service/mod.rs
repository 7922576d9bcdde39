//! The config service (Micro's `config.Config`): request flow from gRPC or HTTP to raft and back.
//!
//! Named `config_service` because `node::config` is the server's own configuration. Secrets are
//! encrypted here, on the node that receives the request, before proposing: the raft log,
//! snapshots and sled files only ever hold ciphertext. Keys rotate (`RotateKey`): a keyring of
//! data keys sealed by the operator's key, resealed in the background by the leader.

mod cipher;
mod keys;
mod reseal;
mod service;

pub use cipher::{CipherError, SecretCipher, CONFIG_KEY_NAME, KEY_BYTES};
pub use keys::Keys;
pub use reseal::reseal_secrets;
pub use service::ConfigService;
