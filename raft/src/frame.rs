//! Peer messages and their codec: a big-endian `u32` length, then the bincode body.
//!
//! Requests that need cluster membership are only served on connections whose client
//! presented a certificate of the cluster; `FetchCa` and `Join` are the exceptions, and frames
//! on such unauthenticated connections are capped small.

use openraft::error::InstallSnapshotError;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use micro_state_machine::{Command, Response};

use crate::typ::RaftError;
use crate::{MemberNode, NodeId, TypeConfig};

/// Largest frame between members (append batches and snapshot chunks stay far below it).
pub const MAX_FRAME: u32 = 128 * 1024 * 1024;
/// Largest frame accepted from a peer that has not authenticated.
pub const MAX_UNAUTHENTICATED_FRAME: u32 = 64 * 1024;

/// A request from one node to another.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    /// Raft: replicate entries / heartbeat.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Raft: a snapshot chunk.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// Raft: request a vote.
    Vote(VoteRequest<NodeId>),
    /// A client write forwarded to the leader; `hops_left` bounds re-forwarding.
    Write {
        /// The command to propose.
        command: Command,
        /// Forwarding budget.
        hops_left: u8,
    },
    /// Ask the leader for a read index (the log index a linearizable read must wait for).
    ReadIndex {
        /// Forwarding budget.
        hops_left: u8,
    },
    /// Ask a member for its role, term and applied index.
    Status,
    /// Add an authenticated node to the cluster (learner, caught up, then voter unless it
    /// asked to stay a learner).
    AddMember {
        /// The node id.
        id: NodeId,
        /// Its addresses.
        node: MemberNode,
        /// Promote it to voter once caught up.
        voter: bool,
        /// Forwarding budget.
        hops_left: u8,
    },
    /// An operator's membership change, run on the leader.
    ChangeMembers {
        /// What to change.
        change: MembershipChange,
        /// Forwarding budget.
        hops_left: u8,
    },
    /// Unauthenticated: return the cluster CA certificate (public), to be checked against a pin.
    FetchCa,
    /// Unauthenticated: present the join secret and a certificate request.
    Join {
        /// The token secret.
        secret: Vec<u8>,
        /// The joiner's node id.
        id: NodeId,
        /// DER certificate signing request.
        csr_der: Vec<u8>,
    },
    /// An application message for the handler this member registered on `channel` (e.g. the
    /// broker's fan-out). Raft only carries it; the body is the application's own encoding.
    App {
        /// Which handler answers it.
        channel: String,
        /// The application's message (encoded as one byte string, not byte by byte).
        #[serde(with = "serde_bytes")]
        body: Vec<u8>,
    },
    /// An operator's leadership transfer to voter `to`, run on the leader.
    TransferLeader {
        /// The voter to take over.
        to: NodeId,
        /// Forwarding budget.
        hops_left: u8,
    },
    /// From a leader handing over: start no election for `millis` milliseconds (0: elect
    /// again now). The hold lapses by itself, so a leader that dies mid-transfer leaves no
    /// member unable to elect.
    HoldElections {
        /// How long to hold.
        millis: u64,
    },
    /// From a leader handing over to this member: start an election now.
    Campaign,
}

/// An operator's change to the membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Remove a voter or learner. Without `force`, removing a voter is refused when the voters
    /// left would have no live majority.
    Remove {
        /// The member.
        id: NodeId,
        /// Skip the quorum check.
        force: bool,
    },
    /// Make a learner a voter.
    Promote {
        /// The member.
        id: NodeId,
    },
    /// Record a member's new addresses (it restarted with another `--advertise-address`).
    Readdress {
        /// The member.
        id: NodeId,
        /// Its addresses now.
        node: MemberNode,
    },
}

impl MembershipChange {
    /// The member it is about.
    pub fn id(&self) -> NodeId {
        match self {
            MembershipChange::Remove { id, .. }
            | MembershipChange::Promote { id }
            | MembershipChange::Readdress { id, .. } => *id,
        }
    }
}

/// What a member answers about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    /// Its id.
    pub id: NodeId,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub role: String,
    /// Its current term.
    pub term: u64,
    /// Its last applied log index.
    pub applied_index: u64,
    /// Index of the last entry in its log.
    pub last_log_index: u64,
    /// Index covered by its latest snapshot.
    pub snapshot_index: u64,
    /// Its log is purged up to this index.
    pub purged_index: u64,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
    /// Milliseconds since a leader last reached it (0 for the leader; `None`: never).
    pub last_contact_ms: Option<u64>,
    /// Its reading of the cluster clock (ms since the Unix epoch).
    pub clock_ms: u64,
}

/// What a joiner receives once its secret checks out.
#[derive(Debug, Serialize, Deserialize)]
pub struct JoinGrant {
    /// The cluster CA certificate.
    pub ca_cert_pem: String,
    /// The cluster CA key, so this member can admit joiners too.
    pub ca_key_pem: String,
    /// The joiner's signed certificate.
    pub cert_pem: String,
    /// Secrets every member holds (e.g. the config encryption key).
    pub secrets: std::collections::BTreeMap<String, Vec<u8>>,
}

/// Why a forwarded request could not be served.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
pub enum ForwardError {
    /// No leader is known or the hop budget ran out.
    #[error("no leader available: {0}")]
    NoLeader(String),
    /// The leader could not complete the request (lost quorum, timed out, shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// The request was refused.
    #[error("{0}")]
    Refused(String),
}

/// Where a linearizable read happens: the log index it must wait for and the leader's
/// cluster time when it confirmed its leadership, by which the read judges leases and TTLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadPoint {
    /// The index the reading node must have applied.
    pub index: u64,
    /// The leader's cluster time (ms since the Unix epoch).
    pub time_ms: u64,
}

/// A reply.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    /// Raft append reply.
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError>),
    /// Raft snapshot reply.
    InstallSnapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<InstallSnapshotError>>),
    /// Raft vote reply.
    Vote(Result<VoteResponse<NodeId>, RaftError>),
    /// Forwarded write outcome.
    Write(Result<Response, ForwardError>),
    /// Read index from the leader, with its cluster time.
    ReadIndex(Result<ReadPoint, ForwardError>),
    /// Member status.
    Status(MemberStatus),
    /// Membership change outcome.
    AddMember(Result<(), ForwardError>),
    /// Membership change outcome.
    ChangeMembers(Result<(), ForwardError>),
    /// The cluster CA certificate.
    Ca(String),
    /// Join outcome.
    Join(Result<JoinGrant, String>),
    /// The request is not allowed on this connection or could not be decoded.
    Refused(String),
    /// The application handler's answer, or why it could not answer.
    App(Result<Vec<u8>, String>),
    /// Leadership transfer outcome.
    TransferLeader(Result<(), ForwardError>),
    /// Answer to `HoldElections` or `Campaign`.
    Election(Result<(), String>),
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream failed or ended.
    #[error("peer stream: {0}")]
    Io(#[from] std::io::Error),
    /// The announced length exceeds the limit.
    #[error("peer frame of {0} bytes exceeds the limit of {1}")]
    TooLarge(u32, u32),
    /// The body did not decode.
    #[error("malformed peer frame: {0}")]
    Malformed(String),
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> Result<(), FrameError> {
    // Length and body leave in one write: on a QUIC stream each write wakes the connection's
    // driver, which could send the 4-byte length in a packet of its own.
    let mut frame = vec![0u8; 4];
    bincode::serialize_into(&mut frame, msg).map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len =
        u32::try_from(frame.len() - 4).map_err(|_| FrameError::TooLarge(u32::MAX, MAX_FRAME))?;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len, MAX_FRAME));
    }
    frame[..4].copy_from_slice(&len.to_be_bytes());
    w.write_all(&frame).await?;
    Ok(())
}

/// Reads one frame of at most `limit` bytes; `Ok(None)` on a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin, T: for<'de> Deserialize<'de>>(
    r: &mut R,
    limit: u32,
) -> Result<Option<T>, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len);
    if len > limit {
        return Err(FrameError::TooLarge(len, limit));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).await?;
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(u64::from(limit))
        .deserialize(&body)
        .map(Some)
        .map_err(|e| FrameError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_garbage_is_refused() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &PeerRequest::Status).await.unwrap();
        let got: Option<PeerRequest> = read_frame(&mut buf.as_slice(), MAX_FRAME).await.unwrap();
        assert!(matches!(got, Some(PeerRequest::Status)));
        let garbage = [0, 0, 0, 3, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame::<_, PeerRequest>(&mut garbage.as_slice(), MAX_FRAME).await,
            Err(FrameError::Malformed(_))
        ));
        let huge = [0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame::<_, PeerRequest>(&mut huge.as_slice(), 1024).await,
            Err(FrameError::TooLarge(..))
        ));
        let mut buf = Vec::new();
        let app = PeerRequest::App {
            channel: "broker".into(),
            body: vec![1, 2, 3],
        };
        write_frame(&mut buf, &app).await.unwrap();
        let got: Option<PeerRequest> = read_frame(&mut buf.as_slice(), MAX_FRAME).await.unwrap();
        assert!(
            matches!(got, Some(PeerRequest::App { channel, body }) if channel == "broker" && body == [1, 2, 3])
        );
        let empty: [u8; 0] = [];
        assert!(matches!(
            read_frame::<_, PeerRequest>(&mut empty.as_slice(), 1024).await,
            Ok(None)
        ));
    }
}
