//! Registry commands (what the log carries) and responses (what apply answers).

use serde::{Deserialize, Serialize};

use super::{Definition, Instance, RegistryError};

/// A replicated registry change. Append-only enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegistryCommand {
    /// One registration on its own (what nodes proposed before `RegisterBatch`). It was a
    /// struct variant with the same fields in the same order, which bincode encodes to the
    /// same bytes, so entries written then still decode.
    Register(Registration),
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

/// Register (or renew) instances of a service version for `ttl_ms` from the entry's time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Namespace.
    pub domain: String,
    /// Service name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The version's definition; `None` renews instances of a version whose definition is
    /// unchanged (answered [`RegistryResponse::NeedDefinition`] if the version is gone).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The struct variant `Register` used to be, field for field.
    #[derive(Serialize)]
    enum Before {
        Register {
            domain: String,
            name: String,
            version: String,
            definition: Option<Definition>,
            nodes: Vec<Instance>,
            ttl_ms: u64,
        },
    }

    #[test]
    fn register_encodes_as_the_struct_variant_it_replaced() {
        let node = Instance {
            id: "n1".into(),
            address: "a:1".into(),
            ..Default::default()
        };
        let now = RegistryCommand::Register(Registration {
            domain: "micro".into(),
            name: "greeter".into(),
            version: "v1".into(),
            definition: Some(Definition::default()),
            nodes: vec![node.clone()],
            ttl_ms: 9000,
        });
        let before = Before::Register {
            domain: "micro".into(),
            name: "greeter".into(),
            version: "v1".into(),
            definition: Some(Definition::default()),
            nodes: vec![node],
            ttl_ms: 9000,
        };
        assert_eq!(
            bincode::serialize(&now).unwrap(),
            bincode::serialize(&before).unwrap()
        );
    }
}
