//! Config domain types, limits, validation and the storage key of a document.

use serde::{Deserialize, Serialize};

use super::{ConfigError, ConfigTree};

/// Longest dot path accepted, in bytes; it also bounds the depth of a document.
pub const MAX_PATH_BYTES: usize = 1024;
/// Largest JSON text one `Set` may carry, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Largest encrypted payload one `Set` may carry (ciphertexts, key ids and relative paths), in
/// bytes: a [`MAX_VALUE_BYTES`] plaintext plus room for nonces, tags and leaf paths.
pub const MAX_SECRET_BYTES: usize = MAX_VALUE_BYTES + 64 * 1024;
/// Largest encoded document of one namespace, in bytes. Every `Set` rewrites the whole
/// document, so this bounds the work of one entry.
pub const MAX_DOCUMENT_BYTES: usize = 8 * 1024 * 1024;
/// Longest namespace name, in bytes.
pub const MAX_NAMESPACE_BYTES: usize = 256;
/// Longest secret key id, in bytes.
pub const MAX_KEY_ID_BYTES: usize = 256;
/// What a secret leaf renders as unless the reader asked for secrets (Micro's constant).
pub const SECRET_MASK: &str = "[secret]";

/// An encrypted value. Encryption and decryption happen in `node`; apply never sees clear text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// Which server key encrypted it, so keys can rotate without guessing.
    pub key_id: String,
    /// Opaque ciphertext of the value's JSON text (nonce and tag included).
    pub ciphertext: Vec<u8>,
}

/// One stored leaf of a config document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Leaf {
    /// A plain value, kept as compact JSON text with sorted keys (never an object: objects
    /// are expanded into the tree). Text, because bincode cannot encode `serde_json::Value`.
    Json(String),
    /// An encrypted value.
    Secret(Secret),
}

/// The config document of one namespace, as persisted under `g/<namespace>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Log index of the last change to the document, so watchers can resume after it.
    pub revision: u64,
    /// The document itself; always an object.
    pub root: ConfigTree,
}

/// Storage key of the document of `namespace`.
pub(crate) fn document_key(namespace: &str) -> Vec<u8> {
    [PREFIX, namespace.as_bytes()].concat()
}

/// Prefix of every config key.
pub(crate) const PREFIX: &[u8] = b"g/";

/// Checks a namespace name: non-empty, at most [`MAX_NAMESPACE_BYTES`], no NUL.
///
/// Micro substitutes `micro` for an empty namespace; `node` does that before proposing.
pub fn validate_namespace(namespace: &str) -> Result<(), ConfigError> {
    if namespace.is_empty() {
        return Err(ConfigError::InvalidArgument("namespace is empty".into()));
    }
    if namespace.len() > MAX_NAMESPACE_BYTES {
        return Err(ConfigError::InvalidArgument(format!(
            "namespace is longer than {MAX_NAMESPACE_BYTES} bytes"
        )));
    }
    if namespace.contains('\0') {
        return Err(ConfigError::InvalidArgument(
            "namespace contains a NUL byte".into(),
        ));
    }
    Ok(())
}

/// Splits a dot path into its segments; the empty path (the whole document) has none.
///
/// Refuses empty segments (`a..b`, `.a`, `a.`) and paths longer than [`MAX_PATH_BYTES`].
pub fn split_path(path: &str) -> Result<Vec<&str>, ConfigError> {
    if path.len() > MAX_PATH_BYTES {
        return Err(ConfigError::InvalidArgument(format!(
            "path is longer than {MAX_PATH_BYTES} bytes"
        )));
    }
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(ConfigError::InvalidArgument(format!(
            "path {path:?} has an empty segment"
        )));
    }
    Ok(segments)
}

/// Checks a secret's key id and returns the bytes it accounts for.
pub(crate) fn secret_bytes(secret: &Secret) -> Result<usize, ConfigError> {
    if secret.key_id.is_empty() || secret.key_id.len() > MAX_KEY_ID_BYTES {
        return Err(ConfigError::InvalidArgument(format!(
            "secret key id must be 1 to {MAX_KEY_ID_BYTES} bytes"
        )));
    }
    Ok(secret.key_id.len() + secret.ciphertext.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_on_dots_and_refuse_empty_segments() {
        assert_eq!(split_path("").unwrap(), Vec::<&str>::new());
        assert_eq!(split_path("a.b.c").unwrap(), vec!["a", "b", "c"]);
        for bad in ["a..b", ".a", "a.", ".", ".."] {
            assert!(
                matches!(split_path(bad), Err(ConfigError::InvalidArgument(_))),
                "{bad:?}"
            );
        }
        assert!(split_path(&"a".repeat(MAX_PATH_BYTES)).is_ok());
        assert!(split_path(&"a".repeat(MAX_PATH_BYTES + 1)).is_err());
    }

    #[test]
    fn namespaces_are_validated_like_store_databases() {
        assert!(validate_namespace("micro").is_ok());
        assert!(validate_namespace("").is_err());
        assert!(validate_namespace("a\0b").is_err());
        assert!(validate_namespace(&"n".repeat(MAX_NAMESPACE_BYTES + 1)).is_err());
    }
}
