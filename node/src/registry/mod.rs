//! The registry service (Micro's `registry.Registry`): registrations become raft commands,
//! reads and watches are served from the local replica, and the leader expires instances
//! whose lease ended. [`announce`] keeps this node's own services registered.

mod announce;
mod convert;
mod schema;
mod service;

use micro_state_machine::registry::{RegistryCommand, EXPIRY_PREFIX};
use micro_state_machine::Command;

pub use announce::{announce, CORE_SERVICES};
pub use schema::Schemas;
pub use service::RegistryService;

/// Instances whose lease ended, removed through the log in batches that keep entries small.
pub const EXPIRY: crate::expiry::Removal = crate::expiry::Removal {
    name: "registry instances",
    due: crate::expiry::Due::DeadlineIndex(EXPIRY_PREFIX),
    command: || Command::Registry(RegistryCommand::Expire { limit: 1000 }),
};
