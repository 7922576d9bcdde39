//! The config service: one JSON document per namespace, addressed by dot paths (`a.b.c`; the
//! empty path is the whole document), whose leaves are plain values or secrets.
//!
//! Keyspace: `g/<namespace>` holds the namespace's whole [`Document`] (its revision and its
//! [`ConfigTree`]), bincode-encoded. One entry per namespace, as Micro keeps one store record
//! per namespace: a merge or a subtree delete is a plain tree edit followed by one write, with
//! no prefix scans and no stale ancestors or descendants to clean up. Each `Set` rewrites the
//! document, which [`MAX_DOCUMENT_BYTES`] bounds.
//!
//! Semantics (Micro's `service/config/handler`):
//! - A JSON object is merged: each member is written at its key, recursively, keeping existing
//!   siblings; anything else replaces the subtree at the path. A scalar overwrites a subtree;
//!   an object, or a path through a scalar, overwrites the scalar.
//! - Deleting removes a subtree and keeps emptied parents as `{}`; deleting an absent path
//!   succeeds; a namespace without a document is [`ConfigError::NotFound`] for reads and
//!   deletes alike.
//! - Secrets are encrypted in `node` before proposing; apply only stores a [`Secret`] (key id
//!   and ciphertext). Reads return a [`ConfigView`] that masks them as `"[secret]"` or hands
//!   the ciphertext to a decrypting callback.
//!
//! Invariants: the root is always an object; plain leaves hold canonical compact JSON text
//! (sorted keys) of a non-object value; every path, including those made from object keys, is
//! at most [`MAX_PATH_BYTES`] long, which bounds the tree's depth; a document's revision is the
//! log index of its last change.

mod apply;
mod command;
mod error;
mod json;
mod keyring;
mod model;
mod query;
mod tree;
mod view;

pub use apply::apply;
pub use command::{ConfigCommand, ConfigResponse, ConfigValue};
pub use error::ConfigError;
pub use json::{canonical, flatten_leaves, to_compact_json};
pub use keyring::{keyring, sealed_leaves, usage, Keyring, SealedLeaf};
pub use model::{
    split_path, validate_namespace, Document, Leaf, Secret, MAX_DOCUMENT_BYTES, MAX_KEY_ID_BYTES,
    MAX_NAMESPACE_BYTES, MAX_PATH_BYTES, MAX_SECRET_BYTES, MAX_VALUE_BYTES, SECRET_MASK,
};
pub use query::{document, get, namespaces, revision};
pub use tree::ConfigTree;
pub use view::{render_masked, ConfigView};
