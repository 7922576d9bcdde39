//! Errors of the cluster layer.
//!
//! ```text
//! ClusterError
//! ├── NoLeader / Unavailable / Timeout   request-time: retry may help; Timeout = outcome unknown
//! ├── JoinRefused                        the join target refused us (token, CA pin)
//! ├── Tls / Transport / DataDir / Storage  start-up failures
//! └── ShuttingDown
//! ```

use std::path::PathBuf;

use crate::frame::ForwardError;
use crate::tls::TlsError;
use crate::transport::TransportError;

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No leader could be found in time.
    #[error("no leader available: {0}")]
    NoLeader(String),
    /// The cluster cannot serve the request now (lost quorum, leader unreachable).
    #[error("cluster unavailable: {0}")]
    Unavailable(String),
    /// The request did not complete in time; a write may or may not have been applied.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The request was refused by the cluster.
    #[error("{0}")]
    Refused(String),
    /// The join target refused to admit this node.
    #[error("join refused: {0}")]
    JoinRefused(String),
    /// Certificates could not be created, loaded or used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A peer could not be reached during start-up.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The data directory could not be used.
    #[error("data dir {path}: {reason}")]
    DataDir {
        /// The offending path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The raft storage failed.
    #[error("storage: {0}")]
    Storage(String),
    /// The node is stopping.
    #[error("node is shutting down")]
    ShuttingDown,
}

impl ClusterError {
    /// This node's raft stopped on `fatal` (a storage failure such as a full disk, or a bug):
    /// nothing goes through this node until it restarts, which the message tells the operator.
    pub(crate) fn raft_stopped(fatal: impl std::fmt::Display) -> ClusterError {
        Self::cannot_serve(format!("this node's raft has stopped ({fatal})"))
    }

    /// This node's storage failed a read (sled keeps its first IO error, a full disk's, and
    /// returns it from every later call): the node serves nothing until it restarts.
    pub fn storage_failed(why: impl std::fmt::Display) -> ClusterError {
        Self::cannot_serve(format!("this node's storage failed ({why})"))
    }

    fn cannot_serve(what: String) -> ClusterError {
        ClusterError::Unavailable(format!(
            "{what}; fix the cause (a full or failing disk?) and restart the node"
        ))
    }
}

impl From<ForwardError> for ClusterError {
    fn from(e: ForwardError) -> Self {
        match e {
            ForwardError::NoLeader(m) => ClusterError::NoLeader(m),
            ForwardError::Unavailable(m) => ClusterError::Unavailable(m),
            ForwardError::Refused(m) => ClusterError::Refused(m),
        }
    }
}

impl From<ClusterError> for ForwardError {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::NoLeader(m) => ForwardError::NoLeader(m),
            ClusterError::Refused(m) | ClusterError::JoinRefused(m) => ForwardError::Refused(m),
            other => ForwardError::Unavailable(other.to_string()),
        }
    }
}
