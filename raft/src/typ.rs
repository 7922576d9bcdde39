//! The openraft type configuration and aliases of the types micro uses from it.

use std::io::Cursor;

use micro_state_machine::{LogEntry, Response};

use crate::MemberNode;

/// Node ids are random 64-bit numbers chosen once per data dir, never derived from addresses.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// micro's raft types: our serde [`LogEntry`] as the payload.
    pub TypeConfig:
        D = LogEntry,
        R = Response,
        NodeId = NodeId,
        Node = MemberNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The raft handle.
pub type Raft = openraft::Raft<TypeConfig>;
/// A log id.
pub type LogId = openraft::LogId<NodeId>;
/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A storage error.
pub type StorageError = openraft::StorageError<NodeId>;
/// Stored membership.
pub type StoredMembership = openraft::StoredMembership<NodeId, MemberNode>;
/// Snapshot metadata.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, MemberNode>;
/// A snapshot.
pub type Snapshot = openraft::Snapshot<TypeConfig>;
/// A raft error with an API-specific payload.
pub type RaftError<E = openraft::error::Infallible> = openraft::error::RaftError<NodeId, E>;
/// Client write failure.
pub type ClientWriteError = openraft::error::ClientWriteError<NodeId, MemberNode>;
/// Leadership check failure.
pub type CheckIsLeaderError = openraft::error::CheckIsLeaderError<NodeId, MemberNode>;
/// Forward-to-leader hint.
pub type ForwardToLeader = openraft::error::ForwardToLeader<NodeId, MemberNode>;
/// RPC failure of the network layer.
pub type RpcError<E = openraft::error::Infallible> =
    openraft::error::RPCError<NodeId, MemberNode, RaftError<E>>;
