//! Config domain errors. They travel inside responses, so replicas must agree on them.

use serde::{Deserialize, Serialize};

/// Why a config request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ConfigError {
    /// The namespace has no config document (Micro's 404 `Not found`).
    #[error("Not found")]
    NotFound,
    /// The request is malformed: bad namespace or path, invalid JSON, oversized value or
    /// document. Nothing changed.
    #[error("{0}")]
    InvalidArgument(String),
    /// Local storage could not be read while answering a query (never produced by apply).
    #[error("storage failure: {0}")]
    Storage(String),
}
