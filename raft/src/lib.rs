//! Consensus for micro: openraft on sled, peers over mutually authenticated QUIC, and the
//! cluster layer that forwards writes to the leader and serves read-index barriers.
//!
//! Layout:
//! - [`typ`]: the openraft type config and aliases of its per-API errors.
//! - [`member`]: [`MemberNode`], what membership records about each node.
//! - [`log_store`]: the sled raft log with group commit (one fsync serves many appends).
//! - [`applied_mark`]: the durable applied index beside sled, to detect a data dir that lost data.
//! - [`state_machine`]: the sled state machine adapter and snapshots.
//! - [`clock`]: the cluster clock entries are stamped with and leases are judged by.
//! - [`tls`], [`token`]: the cluster CA, node certificates and join tokens.
//! - [`frame`]: peer messages and their length-prefixed codec.
//! - [`transport`]: the QUIC client (connection and stream pools) and server.
//! - [`cluster`]: one running raft member: bootstrap/join/restart, write forwarding, reads.
//! - [`contacts`]: when peers last answered and a leader last reached this node.
//!
//! Must not depend on `node` or `gateway`.

// openraft's storage and RPC APIs return its large error types by value.
#![allow(clippy::result_large_err)]

pub mod applied_mark;
pub mod clock;
pub mod cluster;
pub mod contacts;
pub mod frame;
pub mod log_store;
pub mod member;
pub mod state_machine;
pub mod tls;
pub mod token;
pub mod transport;
pub mod typ;

#[cfg(test)]
mod storage_suite_test;

pub use clock::ClusterClock;
pub use cluster::{
    now_ms, AppError, AppHandler, AppliedWatch, Cluster, ClusterError, ClusterOptions, ClusterView,
    MemberStatus, MemberView, StartMode,
};
pub use contacts::Contacts;
pub use frame::{MembershipChange, ReadPoint};
pub use member::MemberNode;
pub use typ::{NodeId, TypeConfig};
