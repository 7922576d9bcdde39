//! [`Cluster`]: the handle services use to write through raft and read linearizably.
//!
//! Writes go to the local raft if it leads, otherwise to the leader over the peer channel with
//! a hop budget. Reads use ReadIndex: the leader confirms its leadership with a quorum and
//! names a log index; the serving node waits until it has applied that index, then reads
//! locally. No read is forwarded wholesale to the leader.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{ChangeMembers, ServerState};

use micro_state_machine::{Command, LogEntry, Response};

use super::ClusterError;
use crate::clock::ClusterClock;
use crate::frame::{ForwardError, MemberStatus, PeerRequest, PeerResponse, ReadPoint};
use crate::state_machine::StateReader;
use crate::tls::ClusterCa;
use crate::token::JoinToken;
use crate::transport::{PeerClient, TransportError};
use crate::typ::{CheckIsLeaderError, ForwardToLeader, Raft};
use crate::{MemberNode, NodeId};

/// How many times a request may be re-forwarded before it fails.
pub(crate) const MAX_HOPS: u8 = 3;
/// How long a write or read may wait for a leader and a quorum.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a membership change may take (the learner catches up first).
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(120);
const STATUS_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a restarted node that has peers starts no election: past the transport's idle
/// timeout, after which a leader has reconnected to it.
const RESTART_QUIET: Duration = Duration::from_millis(3500);
/// A leader not heard from for this long (three heartbeats) is not sent requests.
const LEADER_SILENT: Duration = Duration::from_millis(300);

/// One running member of the cluster.
pub struct Cluster {
    pub(crate) id: NodeId,
    pub(crate) raft: Raft,
    pub(crate) reader: StateReader,
    pub(crate) peers: PeerClient,
    pub(crate) ca: ClusterCa,
    pub(crate) token: JoinToken,
    pub(crate) this: MemberNode,
    pub(crate) db: sled::Db,
    /// Secrets every member holds, by name (see [`ClusterOptions::secrets`]).
    pub(crate) secrets: super::data_dir::SharedSecrets,
    /// Handlers of application messages, by channel.
    pub(crate) apps: super::AppChannels,
    /// When peers last answered, and when a leader last reached this node.
    pub(crate) contacts: crate::Contacts,
    /// This member's part in leadership transfers (the proposal gate, election holds).
    pub(crate) handover: super::transfer::Handover,
    /// The time entries are stamped with (see [`crate::clock`]).
    pub(crate) clock: std::sync::Arc<ClusterClock>,
    /// Leadership confirmations shared by concurrent read-index requests (`None`: this round
    /// failed; each of its callers then asks on its own, to get its own error).
    pub(crate) read_rounds: super::rounds::Rounds<Option<Result<ReadPoint, ForwardToLeader>>>,
    /// Read-index requests this node forwards to the leader for its own readers, shared the
    /// same way (`None`: that request failed; each caller then forwards on its own).
    pub(crate) forwarded_reads: super::rounds::Rounds<Option<ReadPoint>>,
}

/// A member as seen from the answering node.
#[derive(Debug, Clone)]
pub struct MemberView {
    /// Its id.
    pub id: NodeId,
    /// Its addresses.
    pub node: MemberNode,
    /// Whether it votes.
    pub voter: bool,
    /// What it answered, `None` when unreachable.
    pub status: Option<MemberStatus>,
}

/// The membership and each member's state.
#[derive(Debug, Clone)]
pub struct ClusterView {
    /// The leader the answering node knows of.
    pub leader: Option<NodeId>,
    /// The answering node's term.
    pub term: u64,
    /// Every member, voters and learners.
    pub members: Vec<MemberView>,
}

/// Milliseconds since the Unix epoch on this node's wall clock. Leases, TTLs and retention
/// use the cluster clock instead ([`Cluster::clock_ms`], [`ReadPoint::time_ms`]); this is for
/// what must agree with the world outside the cluster (token expiry, event timestamps).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Cluster {
    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This node's advertised addresses.
    pub fn this(&self) -> &MemberNode {
        &self.this
    }

    /// Read access to the applied state. Call [`Cluster::read_barrier`] first for a
    /// linearizable read.
    pub fn reader(&self) -> &StateReader {
        &self.reader
    }

    /// This node's reading of the cluster clock: the leader's own, or on a follower the last
    /// applied stamp plus the time since. Linearizable reads use [`ReadPoint::time_ms`].
    pub fn clock_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// A secret every member holds (e.g. `config-secret-key`), if the cluster has it.
    pub fn shared_secret(&self, name: &str) -> Option<&[u8]> {
        self.secrets.get(name).map(Vec::as_slice)
    }

    /// The join token that admits new members (secret included: show it only to operators).
    pub fn join_token(&self) -> String {
        self.token.reveal()
    }

    /// Proposes `command` and returns its outcome once committed on a quorum and applied.
    pub async fn write(&self, command: Command) -> Result<Response, ClusterError> {
        let started = Instant::now();
        let outcome = self.write_hops(command, MAX_HOPS).await;
        let result = if outcome.is_ok() { "ok" } else { "error" };
        metrics::histogram!("micro_raft_proposal_seconds", "result" => result)
            .record(started.elapsed().as_secs_f64());
        outcome
    }

    pub(crate) async fn write_hops(
        &self,
        command: Command,
        hops_left: u8,
    ) -> Result<Response, ClusterError> {
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        loop {
            let fwd = match self.leader_elsewhere(hops_left) {
                Some(fwd) => fwd,
                None => match self.propose_here(&command, deadline).await? {
                    Ok(response) => return Ok(response),
                    Err(fwd) => fwd,
                },
            };
            let req = PeerRequest::Write {
                command: command.clone(),
                hops_left: hops_left.saturating_sub(1),
            };
            metrics::counter!("micro_raft_forwarded_writes_total").increment(1);
            match self.to_leader(&fwd, hops_left, &req, deadline).await? {
                Some(PeerResponse::Write(r)) => return r.map_err(ClusterError::from),
                Some(other) => return Err(unexpected(other)),
                None => continue,
            }
        }
    }

    /// The leader to send a request to without asking this node's raft core first, when
    /// its metrics name another node: on a follower, the core would only answer
    /// `ForwardToLeader`, at the cost of a round trip through its task. Metrics can lag an
    /// election by a moment, so only a request's first hop trusts them; a node a request was
    /// forwarded to asks its core. A stopped raft core is asked too, so its error is reported.
    fn leader_elsewhere(&self, hops_left: u8) -> Option<ForwardToLeader> {
        if hops_left < MAX_HOPS {
            return None;
        }
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        if m.running_state.is_err() {
            return None;
        }
        let leader = m.current_leader.filter(|l| *l != self.id)?;
        let node = m.membership_config.membership().get_node(&leader)?.clone();
        Some(ForwardToLeader {
            leader_id: Some(leader),
            leader_node: Some(node),
        })
    }

    /// Proposes `command` through this node's raft: its response when this node leads, or
    /// where to forward it.
    async fn propose_here(
        &self,
        command: &Command,
        deadline: Instant,
    ) -> Result<Result<Response, ForwardToLeader>, ClusterError> {
        let entry = LogEntry {
            time_ms: self.clock.now_ms(),
            command: command.clone(),
        };
        let permit = self.proposal_permit(deadline).await?;
        let written = tokio::time::timeout_at(deadline.into(), self.raft.client_write(entry)).await;
        drop(permit);
        match written {
            Err(_) => Err(ClusterError::Timeout(
                "the write was not committed in time".into(),
            )),
            Ok(Ok(r)) => Ok(Ok(r.data)),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => Ok(Err(f)),
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
                Err(ClusterError::Unavailable(e.to_string()))
            }
            Ok(Err(RaftError::Fatal(e))) => Err(ClusterError::raft_stopped(e)),
        }
    }

    /// Sends `req` to the leader named by `fwd`. `Ok(None)` means "no leader yet or the leader
    /// was unreachable before the request left": the caller retries. Once a request may have
    /// reached the leader, a lost reply is an error, never a silent retry (the write may have
    /// applied).
    pub(crate) async fn to_leader(
        &self,
        fwd: &ForwardToLeader,
        hops_left: u8,
        req: &PeerRequest,
        deadline: Instant,
    ) -> Result<Option<PeerResponse>, ClusterError> {
        if hops_left == 0 {
            return Err(ClusterError::NoLeader("forwarding budget exhausted".into()));
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(ClusterError::NoLeader(
                "no leader was elected in time".into(),
            ));
        }
        let (Some(leader), Some(node)) = (fwd.leader_id, fwd.leader_node.as_ref()) else {
            self.await_leader(remaining).await;
            return Ok(None);
        };
        if leader == self.id {
            // Our raft knows it leads but has not finished taking office yet.
            tokio::time::sleep(Duration::from_millis(20)).await;
            return Ok(None);
        }
        if self
            .contacts
            .since_leader()
            .is_some_and(|d| d > LEADER_SILENT)
        {
            // The leader we know has gone quiet: most likely dead, and a request sent to it
            // could only fail once its connection times out (seconds), never be retried, as
            // it may have applied. Wait for it to speak again or for its successor.
            tokio::time::sleep(Duration::from_millis(20)).await;
            return Ok(None);
        }
        match self.peers.call(&node.peer_address, req, remaining).await {
            Ok(PeerResponse::Write(Err(ForwardError::NoLeader(_))))
            | Ok(PeerResponse::ReadIndex(Err(ForwardError::NoLeader(_))))
            | Ok(PeerResponse::AddMember(Err(ForwardError::NoLeader(_))))
            | Ok(PeerResponse::ChangeMembers(Err(ForwardError::NoLeader(_))))
            | Ok(PeerResponse::TransferLeader(Err(ForwardError::NoLeader(_)))) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(None)
            }
            Ok(resp) => Ok(Some(resp)),
            Err(TransportError::Connect { .. } | TransportError::Resolve(_)) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(None)
            }
            Err(e) if req_is_idempotent(req) => {
                tracing::debug!(error = %e, "retrying idempotent request to the leader");
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(None)
            }
            Err(e) => Err(ClusterError::Unavailable(format!(
                "leader {leader} did not answer; outcome unknown: {e}"
            ))),
        }
    }

    async fn await_leader(&self, within: Duration) {
        let wait = within.min(Duration::from_millis(500));
        let _ = self
            .raft
            .wait(Some(wait))
            .metrics(|m| m.current_leader.is_some(), "a leader")
            .await;
    }

    /// Blocks until this node has applied everything committed before the call: after it
    /// returns, local reads are linearizable, and judge leases by the returned point's time.
    pub async fn read_barrier(&self) -> Result<ReadPoint, ClusterError> {
        let point = self.read_index(MAX_HOPS).await?;
        let index = point.index;
        self.raft
            .wait(Some(REQUEST_TIMEOUT))
            .applied_index_at_least(Some(index), "linearizable read")
            .await
            .map(|_| point)
            .map_err(|e| ClusterError::Timeout(format!("waiting to apply index {index}: {e}")))
    }

    pub(crate) async fn read_index(&self, hops_left: u8) -> Result<ReadPoint, ClusterError> {
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        loop {
            let fwd = match self.leader_elsewhere(hops_left) {
                Some(fwd) => fwd,
                None => match self.read_index_here(deadline).await? {
                    Ok(point) => return Ok(point),
                    Err(fwd) => fwd,
                },
            };
            let req = PeerRequest::ReadIndex {
                hops_left: hops_left.saturating_sub(1),
            };
            if hops_left == MAX_HOPS {
                // This node's own readers: one forwarded request serves all who queued.
                let shared = self.forwarded_reads.join(|| async {
                    match self.to_leader(&fwd, hops_left, &req, deadline).await {
                        Ok(Some(PeerResponse::ReadIndex(Ok(point)))) => Some(point),
                        _ => None,
                    }
                });
                if let Some(point) = shared.await {
                    return Ok(point);
                }
            }
            match self.to_leader(&fwd, hops_left, &req, deadline).await? {
                Some(PeerResponse::ReadIndex(r)) => return r.map_err(ClusterError::from),
                Some(other) => return Err(unexpected(other)),
                None => continue,
            }
        }
    }

    /// Asks this node's raft for a read index: the point when this node leads, or where to
    /// forward the request. openraft confirms leadership with a round of appends to the voters
    /// for every request; concurrent requests share one round ([`super::rounds`]).
    async fn read_index_here(
        &self,
        deadline: Instant,
    ) -> Result<Result<ReadPoint, ForwardToLeader>, ClusterError> {
        let shared = self
            .read_rounds
            .join(|| async { self.read_index_alone(deadline).await.ok() })
            .await;
        match shared {
            Some(point) => Ok(point),
            None => self.read_index_alone(deadline).await,
        }
    }

    async fn read_index_alone(
        &self,
        deadline: Instant,
    ) -> Result<Result<ReadPoint, ForwardToLeader>, ClusterError> {
        let permit = self.proposal_permit(deadline).await?;
        let read = tokio::time::timeout_at(deadline.into(), self.raft.get_read_log_id()).await;
        drop(permit);
        match read {
            Err(_) => Err(ClusterError::Unavailable(
                "leadership could not be confirmed with a quorum".into(),
            )),
            Ok(Ok((read_log_id, _))) => Ok(Ok(ReadPoint {
                index: read_log_id.map_or(0, |l| l.index),
                time_ms: self.clock.now_ms(),
            })),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => Ok(Err(f)),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
                Err(ClusterError::Unavailable(e.to_string()))
            }
            Ok(Err(RaftError::Fatal(e))) => Err(ClusterError::raft_stopped(e)),
        }
    }

    /// Adds `id` as a learner, waits until it caught up, then (if `voter`) makes it a voter.
    pub(crate) async fn add_member(
        &self,
        id: NodeId,
        node: MemberNode,
        voter: bool,
        hops_left: u8,
    ) -> Result<(), ClusterError> {
        let deadline = Instant::now() + MEMBERSHIP_TIMEOUT;
        loop {
            // Waits out a leadership transfer. The learner's catch-up below may take minutes,
            // so no permit is held across it; a transfer that races it gives up by itself.
            drop(self.proposal_permit(deadline).await?);
            let membership = self.raft.metrics().borrow().membership_config.clone();
            let membership = membership.membership();
            if membership.voter_ids().any(|v| v == id)
                || (!voter && membership.get_node(&id).is_some())
            {
                return Ok(());
            }
            let step = async {
                let added = self.raft.add_learner(id, node.clone(), true).await?;
                if !voter {
                    return Ok(added);
                }
                self.raft
                    .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                    .await
            };
            let fwd = match tokio::time::timeout_at(deadline.into(), step).await {
                Err(_) => return Err(ClusterError::Timeout(format!("adding node {id:016x}"))),
                Ok(Ok(_)) => {
                    let role = if voter { "voter" } else { "learner" };
                    tracing::info!(node = %format!("{id:016x}"), %node, role, "member added");
                    return Ok(());
                }
                Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => f,
                Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
                    // Another membership change is in flight; try again shortly.
                    tracing::debug!(error = %e, "membership change busy");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                Ok(Err(RaftError::Fatal(e))) => return Err(ClusterError::raft_stopped(e)),
            };
            let req = PeerRequest::AddMember {
                id,
                node: node.clone(),
                voter,
                hops_left: hops_left.saturating_sub(1),
            };
            match self.to_leader(&fwd, hops_left, &req, deadline).await? {
                Some(PeerResponse::AddMember(r)) => return r.map_err(ClusterError::from),
                Some(other) => return Err(unexpected(other)),
                None => continue,
            }
        }
    }

    /// Follows this node's last applied log index, for callers that react to state changes
    /// (config watches).
    pub fn applied(&self) -> AppliedWatch {
        AppliedWatch {
            metrics: self.raft.metrics(),
            seen: 0,
        }
    }

    /// This node's own status, from its raft metrics.
    pub fn local_status(&self) -> MemberStatus {
        let m = self.raft.metrics().borrow().clone();
        MemberStatus {
            id: self.id,
            role: match m.state {
                ServerState::Leader => "leader",
                ServerState::Follower => "follower",
                ServerState::Candidate => "candidate",
                ServerState::Learner => "learner",
                ServerState::Shutdown => "shutdown",
            }
            .into(),
            term: m.current_term,
            applied_index: m.last_applied.map_or(0, |l| l.index),
            last_log_index: m.last_log_index.unwrap_or(0),
            snapshot_index: m.snapshot.map_or(0, |l| l.index),
            purged_index: m.purged.map_or(0, |l| l.index),
            leader: m.current_leader,
            last_contact_ms: if m.state == ServerState::Leader {
                Some(0)
            } else {
                self.contacts
                    .since_leader()
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            },
            clock_ms: self.clock.now_ms(),
        }
    }

    /// Brings a restarted node's cluster clock up to its peers' readings, with its elections
    /// held meanwhile and for [`RESTART_QUIET`] after: its own clock resumed at its last
    /// applied stamp, which is behind by the time it was down, and as leader it would keep
    /// expired leases alive that long. When no peer answers (the whole cluster restarted), the
    /// clock resumes where the log left off, so leases get back the time the cluster was down,
    /// as etcd's do.
    pub(crate) async fn sync_clock(&self) {
        self.hold_elections(Duration::from_secs(5));
        // The raft core loads the membership from storage after it starts; until then there
        // is nobody to ask.
        let _ = self
            .raft
            .wait(Some(Duration::from_secs(2)))
            .metrics(
                |m| {
                    m.membership_config
                        .membership()
                        .voter_ids()
                        .next()
                        .is_some()
                },
                "the stored membership",
            )
            .await;
        let mut peers = None;
        // Peers may be slow to answer a node that has just come back; ask a few times.
        for _ in 0..3 {
            peers = self
                .members()
                .await
                .members
                .iter()
                .filter(|m| m.id != self.id)
                .filter_map(|m| m.status.as_ref().map(|s| s.clock_ms))
                .max();
            if peers.is_some() {
                break;
            }
        }
        if let Some(t) = peers {
            self.clock.advance_to(t);
        }
        // Peers notice this node's previous process is gone only when their connections to it
        // time out (the transport's idle timeout); until then a leader's heartbeats go into
        // the void, and a node that campaigned meanwhile would unseat a healthy leader. When
        // no peer answered, there is no such leader to wait for.
        self.hold_elections(if peers.is_some() {
            RESTART_QUIET
        } else {
            Duration::ZERO
        });
        tracing::info!(
            from_peers = peers.is_some(),
            "cluster clock at {} ms after restart",
            self.clock.now_ms()
        );
    }

    /// Why this node's raft stopped, if it stopped on an error (a storage failure such as a
    /// full disk): the node then serves nothing until it restarts.
    pub fn raft_failure(&self) -> Option<String> {
        self.raft
            .metrics()
            .borrow()
            .running_state
            .as_ref()
            .err()
            .map(|e| e.to_string())
    }

    /// Why this node cannot serve at all: its raft stopped on an error, or its storage fails
    /// reads (a full disk fails sled's reads too, before raft writes anything).
    pub fn storage_failure(&self) -> Option<String> {
        self.raft_failure()
            .map(|why| format!("raft stopped: {why}"))
            .or_else(|| {
                self.reader
                    .probe()
                    .err()
                    .map(|why| format!("storage failed: {why}"))
            })
    }

    /// Waits until this node's raft stops on an error and returns why; pending forever
    /// otherwise (also after a clean shutdown).
    pub async fn raft_failed(&self) -> String {
        let mut metrics = self.raft.metrics();
        loop {
            if let Some(why) = self.raft_failure() {
                return why;
            }
            if metrics.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// The index of the last entry this node knows to be committed (openraft 0.9's metrics do
    /// not carry it, so it is read from the raft core); `None` once raft has stopped.
    pub async fn commit_index(&self) -> Option<u64> {
        self.raft
            .with_raft_state(|state| state.committed.map_or(0, |l| l.index))
            .await
            .ok()
    }

    /// Keeps the cluster clock's mode in step with this node's role until `stop`: a leader's
    /// clock slews toward its wall clock, a follower's follows the applied stamps.
    pub(crate) async fn track_leadership(
        self: std::sync::Arc<Self>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let mut metrics = self.raft.metrics();
        loop {
            let leading = metrics.borrow_and_update().state == ServerState::Leader;
            self.clock.set_leading(leading);
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = metrics.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// A snapshot of the whole replicated state that includes every write acknowledged before
    /// the call: passes the read barrier, has the state machine build a snapshot at (or past)
    /// that point, and returns its log index, term and bytes (the snapshot codec).
    pub async fn consistent_snapshot(&self) -> Result<(u64, u64, Vec<u8>), ClusterError> {
        self.read_barrier().await?;
        let wanted = self.local_status().applied_index;
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| ClusterError::Unavailable(format!("requesting a snapshot: {e}")))?;
        self.raft
            .wait(Some(std::time::Duration::from_secs(60)))
            .metrics(
                |m| m.snapshot.is_some_and(|s| s.index >= wanted),
                "snapshot built",
            )
            .await
            .map_err(|e| ClusterError::Unavailable(format!("building a snapshot: {e}")))?;
        let (meta, data) = crate::state_machine::current_snapshot(&self.db)
            .map_err(|e| ClusterError::Storage(format!("reading the snapshot: {e}")))?
            .ok_or_else(|| ClusterError::Storage("the snapshot was not stored".into()))?;
        let at = meta.last_log_id.unwrap_or_default();
        Ok((at.index, at.leader_id.term, data))
    }

    /// The voters of the membership this node knows.
    pub fn voters(&self) -> Vec<NodeId> {
        let m = self.raft.metrics().borrow().clone();
        let voters = m.membership_config.membership().voter_ids().collect();
        voters
    }

    /// How long ago `peer` last answered a raft RPC of this node (meaningful on the leader).
    pub fn since_reply(&self, peer: NodeId) -> Option<std::time::Duration> {
        self.contacts.since_reply(peer)
    }

    /// The membership with each member's role, term and applied index (asked of each member).
    pub async fn members(&self) -> ClusterView {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership().clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let nodes: BTreeMap<NodeId, MemberNode> =
            membership.nodes().map(|(id, n)| (*id, n.clone())).collect();
        let asks = nodes.into_iter().map(|(id, node)| {
            let voter = voters.contains(&id);
            async move {
                let status = if id == self.id {
                    Some(self.local_status())
                } else {
                    match self
                        .peers
                        .call(&node.peer_address, &PeerRequest::Status, STATUS_TIMEOUT)
                        .await
                    {
                        Ok(PeerResponse::Status(s)) => Some(s),
                        _ => None,
                    }
                };
                MemberView {
                    id,
                    node,
                    voter,
                    status,
                }
            }
        });
        let members = futures::future::join_all(asks).await;
        ClusterView {
            leader: m.current_leader,
            term: m.current_term,
            members,
        }
    }

    /// Stops raft and flushes storage. Errors are logged, never returned: teardown goes on.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
        if let Err(e) = self.db.flush_async().await {
            tracing::warn!(error = %e, "flushing storage at shutdown");
        }
    }
}

fn req_is_idempotent(req: &PeerRequest) -> bool {
    matches!(
        req,
        PeerRequest::ReadIndex { .. } | PeerRequest::AddMember { .. }
    )
}

fn unexpected(resp: PeerResponse) -> ClusterError {
    match resp {
        PeerResponse::Refused(m) => ClusterError::Refused(m),
        other => ClusterError::Unavailable(format!("unexpected reply from the leader: {other:?}")),
    }
}

/// Follows a node's last applied log index (see [`Cluster::applied`]).
pub struct AppliedWatch {
    metrics: tokio::sync::watch::Receiver<openraft::RaftMetrics<NodeId, MemberNode>>,
    seen: u64,
}

impl AppliedWatch {
    /// Waits until the node has applied entries past the last index this returned, and returns
    /// the new last applied index. Fails once the node shuts down.
    pub async fn next(&mut self) -> Result<u64, ClusterError> {
        loop {
            let applied = self
                .metrics
                .borrow_and_update()
                .last_applied
                .map_or(0, |l| l.index);
            if applied > self.seen {
                self.seen = applied;
                return Ok(applied);
            }
            self.metrics
                .changed()
                .await
                .map_err(|_| ClusterError::ShuttingDown)?;
        }
    }
}
