//! Config commands (what the log carries) and responses (what apply answers).

use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret};

/// A replicated config change. Append-only enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigCommand {
    /// Write a value at a dot path, creating the namespace's document if needed.
    Set {
        /// Whose document (Micro's default is `micro`; `node` fills it in).
        namespace: String,
        /// Dot path inside the document; empty means the whole document.
        path: String,
        /// What to write.
        value: ConfigValue,
    },
    /// Remove the subtree at a dot path. An absent path succeeds; a namespace without a
    /// document is [`ConfigError::NotFound`]. The empty path removes the whole document, after
    /// which the namespace is not found.
    Delete {
        /// Whose document.
        namespace: String,
        /// Dot path inside the document; empty means the whole document.
        path: String,
    },
    /// Adds a data key to the keyring and makes it the one that seals new secrets.
    AddKey {
        /// The key's id (what secrets sealed by it carry).
        key_id: String,
        /// The key, sealed under the operator's key.
        sealed: Secret,
    },
    /// Replaces one secret leaf with the same value sealed by another key, if the leaf still
    /// holds `from` (a compare-and-set: a concurrent `Set` wins). Leaves the revision alone.
    Reseal {
        /// Whose document.
        namespace: String,
        /// The leaf's path segments.
        segments: Vec<String>,
        /// The ciphertext the proposer read.
        from: Secret,
        /// The same value sealed by the active key.
        to: Secret,
    },
    /// Removes a data key that is neither active nor used by any secret.
    DropKey {
        /// The key's id.
        key_id: String,
    },
}

/// The value of a [`ConfigCommand::Set`]. Append-only enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigValue {
    /// JSON text, parsed by apply (at most [`MAX_VALUE_BYTES`](super::MAX_VALUE_BYTES)).
    ///
    /// An object is merged: the node at the path becomes an object and each member is written
    /// at its key, recursively, keeping existing siblings. Anything else (scalar, array, null)
    /// replaces the subtree at the path. The empty path only takes an object.
    Json(String),
    /// One encrypted value, stored as a secret leaf replacing the subtree at the (non-empty)
    /// path. `node` encrypts the value's compact JSON text.
    Secret(Secret),
    /// An encrypted object, leaf by leaf, as Micro stores `set --secret path '{…}'`: merged
    /// like a [`ConfigValue::Json`] object, each `(relative dot path, secret)` replacing the
    /// subtree at `path.relative`. Built from [`flatten_leaves`](super::flatten_leaves).
    SecretObject(Vec<(String, Secret)>),
}

/// The outcome of a [`ConfigCommand`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigResponse {
    /// The value was written; the namespace's revision is now this log index.
    Set {
        /// The log index of the write.
        revision: u64,
    },
    /// The delete applied.
    Deleted {
        /// Whether something was removed. When not, nothing changed.
        existed: bool,
        /// The namespace's revision after the delete: this log index if something was removed,
        /// else the unchanged revision of the last change.
        revision: u64,
    },
    /// The command was refused; nothing changed.
    Err(ConfigError),
    /// A keyring command applied; `changed` says whether it changed anything.
    Rekeyed {
        /// Whether the state changed.
        changed: bool,
    },
}
