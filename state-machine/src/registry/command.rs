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
    /// Registrations one node gathered from concurrent callers (its renewal batcher). Each
    /// applies in order exactly as a lone `Register` would, refused or not on its own; they
    /// share only the entry, so thousands of heartbeats cost one quorum round and one fsync.
    RegisterBatch {
        /// The registrations, answered in the same order.
        registrations: Vec<Registration>,
    },
}

/// One registration (or renewal) of instances of a service version, as a `RegisterBatch`
/// carries it; the fields mean what they mean in [`RegistryCommand::Register`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Namespace.
    pub domain: String,
    /// Service name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The definition, `None` for a renewal of an unchanged version.
    pub definition: Option<Definition>,
    /// The instances.
    pub nodes: Vec<Instance>,
    /// Lease length.
    pub ttl_ms: u64,
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
    /// The outcome of each registration of a `RegisterBatch`, in order.
    Batch {
        /// One response per registration.
        results: Vec<RegistryResponse>,
    },
}
