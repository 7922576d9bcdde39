//! Registry commands (what the log carries) and responses (what apply answers).

use serde::{Deserialize, Serialize};

use super::{Definition, Instance, RegistryError};

/// A replicated registry change. Append-only enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegistryCommand {
    /// Register (or renew) instances of a service version for `ttl_ms` from the entry's time.
    Register {
        /// Namespace.
        domain: String,
        /// Service name.
        name: String,
        /// Version.
        version: String,
        /// The version's definition; `None` renews instances of a version whose definition is
        /// unchanged (answered [`RegistryResponse::NeedDefinition`] if the version is gone).
        definition: Option<Definition>,
        /// The instances.
        nodes: Vec<Instance>,
        /// Lease length.
        ttl_ms: u64,
    },
    /// Remove instances of a service version; with no node ids, all of them.
    Deregister {
        /// Namespace.
        domain: String,
        /// Service name.
        name: String,
        /// Version.
        version: String,
        /// The instances to remove.
        node_ids: Vec<String>,
    },
    /// Remove up to `limit` instances whose lease ended at the entry's time (leader-proposed).
    Expire {
        /// Most instances removed by one entry, to keep entries small.
        limit: u32,
    },
}

/// The outcome of a [`RegistryCommand`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegistryResponse {
    /// Registered or renewed; `revision` is the change recorded, if anything changed.
    Registered {
        /// History revision of the change, `None` for a pure renewal.
        revision: Option<u64>,
    },
    /// A renewal without a definition found no such version: send the definition.
    NeedDefinition,
    /// Instances removed.
    Deregistered {
        /// How many.
        removed: u32,
    },
    /// Expired instances removed.
    Expired {
        /// How many.
        count: u32,
    },
    /// The command was refused; nothing changed.
    Err(RegistryError),
}
