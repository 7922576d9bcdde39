//! The store service: request flow from gRPC or HTTP to raft and back.
//!
//! Writes and deletes become `StoreCommand`s proposed through the cluster (forwarded to the
//! leader when needed); reads pass the read-index barrier unless the caller asked for a stale
//! read, then query the local replica.

mod convert;
mod service;
mod worker;

pub use service::StoreService;
pub use worker::purge_expired;
