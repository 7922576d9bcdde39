//! Store domain errors. They travel inside responses, so replicas must agree on them.

use serde::{Deserialize, Serialize};

/// Why a store request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum StoreError {
    /// The key does not exist (or has expired).
    #[error("not found")]
    NotFound,
    /// A write or delete precondition did not hold; nothing changed.
    #[error("precondition failed for key {key:?}: expected {expected}, found {found}")]
    PreconditionFailed {
        /// The key whose precondition failed.
        key: String,
        /// What the precondition asked for.
        expected: String,
        /// What the store holds.
        found: String,
    },
    /// The request is malformed (empty key, oversized value, bad name…).
    #[error("{0}")]
    InvalidArgument(String),
    /// Local storage could not be read while answering a query (never produced by apply).
    #[error("storage failure: {0}")]
    Storage(String),
}
