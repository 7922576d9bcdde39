//! Registry domain errors. They travel inside responses, so replicas must agree on them.

use serde::{Deserialize, Serialize};

/// Why a registry request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum RegistryError {
    /// No such service (or no live instance of it).
    #[error("service not found")]
    NotFound,
    /// A node id is already registered for another version of the service.
    #[error(
        "node {node:?} is registered for version {registered:?} of service {service:?}; deregister it first"
    )]
    NodeConflict {
        /// The service.
        service: String,
        /// The node id.
        node: String,
        /// The version it runs.
        registered: String,
    },
    /// A watch asked to resume from changes the history no longer holds.
    #[error("revision {requested} is compacted; the oldest revision available is {oldest}")]
    Compacted {
        /// The revision asked for.
        requested: u64,
        /// The oldest revision still held.
        oldest: u64,
    },
    /// The request is malformed (empty name, no nodes, bad TTL…).
    #[error("{0}")]
    InvalidArgument(String),
    /// Local storage could not be read while answering a query (never produced by apply).
    #[error("storage failure: {0}")]
    Storage(String),
}
