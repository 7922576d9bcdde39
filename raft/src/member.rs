//! What the replicated membership records about each node.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A member's advertised addresses. Stored in the raft membership, so every node knows how to
/// reach every other node and where clients can find its gateway and proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberNode {
    /// QUIC peer address other members dial.
    pub peer_address: String,
    /// HTTP API gateway address.
    pub api_address: String,
    /// gRPC proxy address.
    pub proxy_address: String,
}

impl fmt::Display for MemberNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "peer={} api={} proxy={}",
            self.peer_address, self.api_address, self.proxy_address
        )
    }
}
