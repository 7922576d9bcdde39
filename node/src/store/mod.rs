//! The store service: request flow from gRPC or HTTP to raft and back.
//!
//! Writes and deletes become `StoreCommand`s proposed through the cluster (forwarded to the
//! leader when needed); reads pass the read-index barrier unless the caller asked for a stale
//! read, then query the local replica.

mod convert;
mod service;

use micro_state_machine::store::{StoreCommand, EXPIRY_PREFIX};
use micro_state_machine::Command;

pub use service::StoreService;

/// Expired records, removed through the log in batches that keep entries small.
pub const EXPIRY: crate::expiry::Removal = crate::expiry::Removal {
    name: "store records",
    due: crate::expiry::Due::DeadlineIndex(EXPIRY_PREFIX),
    command: || Command::Store(StoreCommand::PurgeExpired { limit: 1000 }),
};
