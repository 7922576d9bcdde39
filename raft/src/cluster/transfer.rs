//! Leadership transfer (`micro cluster transfer-leader`, a leader's hand-over when it stops),
//! built on openraft 0.9, which has none: the leader pauses its proposals and heartbeats, the
//! other voters hold their elections, and the caught-up target campaigns until it wins.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::ServerState;
use tokio::sync::{watch, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio_util::sync::CancellationToken;

use super::member::MAX_HOPS;
use super::{Cluster, ClusterError};
use crate::frame::{PeerRequest, PeerResponse};
use crate::typ::ForwardToLeader;
use crate::{MemberNode, NodeId};

/// How long the target may take to win once the transfer starts.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a forwarded transfer request may take, the new leader's first commit included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a voter holds its elections for a transfer: past it, the voter elects again on
/// its own, so a leader that dies mid-transfer leaves nobody unable to elect.
const HOLD: Duration = TRANSFER_TIMEOUT.saturating_add(Duration::from_secs(2));
/// How long the leader waits for one campaign of the target before asking it again.
const CAMPAIGN_WAIT: Duration = Duration::from_millis(500);
/// How long a member may take to answer a probe, a hold or a campaign request.
const PEER_TIMEOUT: Duration = Duration::from_secs(1);
/// A voter that answered the leader within this is taken as alive for a hand-over.
const ALIVE: Duration = Duration::from_secs(1);
/// How long a transfer waits for the proposals in flight to finish (new ones wait meanwhile).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(2);
/// How far behind (in entries) the target may be when proposals are paused: about one append
/// batch (`max_payload_entries`), so the pause does not wait for a long catch-up.
const CLOSE_ENOUGH: u64 = 256;
/// Once this node stepped down, how long the target has to win before the transfer gives up
/// and lets the voters elect as usual: the followers' leases (`election_timeout_max`, 2 s)
/// lapse within it, since nothing renews them.
const STEPPED_DOWN_GRACE: Duration = Duration::from_secs(3);

/// A member's part in leadership transfers.
pub(crate) struct Handover {
    /// Proposals and read indexes hold a read permit while they are in this node's raft; a
    /// transfer takes the write side, which waits for those in flight (so the target can be
    /// given every entry) and holds back new ones (each append or heartbeat would renew the
    /// followers' leases). tokio's lock is fair: a waiting transfer is not starved.
    proposals: RwLock<()>,
    /// One transfer at a time.
    running: tokio::sync::Mutex<()>,
    /// Until when this member starts no election (`None`: it may). Changes go through the
    /// channel's lock, which also covers the matching raft runtime switch.
    hold_until: watch::Sender<Option<Instant>>,
}

impl Default for Handover {
    fn default() -> Self {
        Handover {
            proposals: RwLock::new(()),
            running: tokio::sync::Mutex::new(()),
            hold_until: watch::channel(None).0,
        }
    }
}

/// While alive, this leader's proposals wait and its heartbeats are off; dropping it (also
/// when the transfer future is cancelled) lets them go and lifts this node's own hold.
struct Paused<'a> {
    cluster: &'a Cluster,
    _proposals: RwLockWriteGuard<'a, ()>,
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        self.cluster.raft.runtime_config().heartbeat(true);
        self.cluster.hold_elections(Duration::ZERO);
    }
}

impl Cluster {
    /// Moves leadership to voter `to` and returns once it leads and has committed an entry
    /// of its term. Any member answers; the leader runs it. Transferring to the current leader
    /// succeeds at once, as etcd's `move-leader` does.
    pub async fn transfer_leader(&self, to: NodeId) -> Result<(), ClusterError> {
        self.transfer_leader_hops(to, MAX_HOPS).await
    }

    pub(crate) async fn transfer_leader_hops(
        &self,
        to: NodeId,
        hops_left: u8,
    ) -> Result<(), ClusterError> {
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        loop {
            let Some(fwd) = self.unless_leading() else {
                return self.transfer_here(to).await;
            };
            let req = PeerRequest::TransferLeader {
                to,
                hops_left: hops_left.saturating_sub(1),
            };
            match self.to_leader(&fwd, hops_left, &req, deadline).await? {
                Some(PeerResponse::TransferLeader(r)) => return r.map_err(ClusterError::from),
                Some(PeerResponse::Refused(m)) => return Err(ClusterError::Refused(m)),
                Some(other) => {
                    return Err(ClusterError::Unavailable(format!(
                        "unexpected reply from the leader: {other:?}"
                    )))
                }
                None => continue,
            }
        }
    }

    /// When this node leads, hands leadership to the voter that holds the most of the log
    /// among those that answered lately, so that stopping this node costs no election
    /// timeout. Returns the new leader, or `None` when there was nothing to hand over.
    pub async fn hand_over_leadership(&self) -> Result<Option<NodeId>, ClusterError> {
        let m = self.raft.metrics().borrow().clone();
        // A raft stopped on an error keeps showing the role it had: nothing to hand over.
        if m.current_leader != Some(self.id) || m.running_state.is_err() {
            return Ok(None);
        }
        let voters: BTreeSet<NodeId> = m.membership_config.membership().voter_ids().collect();
        let best = m
            .replication
            .iter()
            .flatten()
            .filter(|(id, _)| **id != self.id && voters.contains(id))
            .filter(|(id, _)| self.contacts.since_reply(**id).is_some_and(|d| d < ALIVE))
            .max_by_key(|(_, matched)| matched.map(|l| l.index))
            .map(|(id, _)| *id);
        let Some(to) = best else {
            return Ok(None);
        };
        self.transfer_here(to).await.map(|()| Some(to))
    }

    /// Where to send a request only the leader serves; `None` when this node leads.
    fn unless_leading(&self) -> Option<ForwardToLeader> {
        let m = self.raft.metrics().borrow().clone();
        if m.current_leader == Some(self.id) {
            return None;
        }
        let leader_node = m
            .current_leader
            .and_then(|l| m.membership_config.membership().get_node(&l).cloned());
        Some(ForwardToLeader {
            leader_id: m.current_leader,
            leader_node,
        })
    }

    /// Runs a transfer on this node, which leads (or did when asked).
    async fn transfer_here(&self, to: NodeId) -> Result<(), ClusterError> {
        if let Some(why) = self.raft_failure() {
            return Err(ClusterError::raft_stopped(why));
        }
        if to == self.id {
            return Ok(());
        }
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let membership = membership.membership();
        let Some(node) = membership.get_node(&to).cloned() else {
            return Err(ClusterError::Refused(format!(
                "node {to:016x} is not a member of this cluster"
            )));
        };
        if !membership.voter_ids().any(|v| v == to) {
            return Err(ClusterError::Refused(format!(
                "node {to:016x} is a learner, which cannot lead; promote it first \
                 (micro cluster promote {to})"
            )));
        }
        let others: Vec<MemberNode> = membership
            .voter_ids()
            .filter(|v| *v != to && *v != self.id)
            .filter_map(|v| membership.get_node(&v).cloned())
            .collect();
        match self
            .peers
            .call(&node.peer_address, &PeerRequest::Status, PEER_TIMEOUT)
            .await
        {
            Ok(PeerResponse::Status(_)) => {}
            Ok(other) => {
                return Err(ClusterError::Refused(format!(
                    "node {to:016x} cannot take over leadership: it answered {other:?}"
                )))
            }
            Err(e) => {
                return Err(ClusterError::Refused(format!(
                    "node {to:016x} cannot take over leadership: it does not answer ({e})"
                )))
            }
        }
        // The target catches up while writes still flow, so the pause that follows is short.
        let close = self
            .raft
            .wait(Some(TRANSFER_TIMEOUT))
            .metrics(
                |m| {
                    let matched = m
                        .replication
                        .as_ref()
                        .and_then(|r| r.get(&to).copied().flatten())
                        .map_or(0, |l| l.index);
                    m.state != ServerState::Leader
                        || m.last_log_index.unwrap_or(0) <= matched.saturating_add(CLOSE_ENOUGH)
                },
                "the successor catching up",
            )
            .await;
        if close.is_err() {
            return Err(ClusterError::Unavailable(format!(
                "node {to:016x} did not catch up with the log within {TRANSFER_TIMEOUT:?}; \
                 try again once it has (micro cluster members shows its lag)"
            )));
        }
        if self.unless_leading().is_some() {
            return Err(ClusterError::Unavailable(
                "this node stopped leading before the transfer began; try again".into(),
            ));
        }
        let started = Instant::now();
        let outcome = self.hand_to(to, &node, &others).await;
        let result = if outcome.is_ok() { "ok" } else { "error" };
        metrics::histogram!("micro_raft_leader_transfer_seconds", "result" => result)
            .record(started.elapsed().as_secs_f64());
        outcome?;
        tracing::info!(
            to = %format!("{to:016x}"),
            took = ?started.elapsed(),
            "leadership transferred"
        );
        // A read index through the new leader means it committed an entry of its own term:
        // it serves writes.
        self.read_barrier().await.map(|_| ())
    }

    /// Pauses this leader, holds the other voters' elections and has `to` campaign until it
    /// wins; everything is undone whatever the outcome.
    async fn hand_to(
        &self,
        to: NodeId,
        node: &MemberNode,
        others: &[MemberNode],
    ) -> Result<(), ClusterError> {
        let Ok(_running) = self.handover.running.try_lock() else {
            return Err(ClusterError::Unavailable(
                "another leadership transfer is in progress".into(),
            ));
        };
        let Ok(proposals) =
            tokio::time::timeout(SETTLE_TIMEOUT, self.handover.proposals.write()).await
        else {
            return Err(ClusterError::Unavailable(format!(
                "proposals in flight did not finish within {SETTLE_TIMEOUT:?}; try again"
            )));
        };
        let paused = Paused {
            cluster: self,
            _proposals: proposals,
        };
        self.raft.runtime_config().heartbeat(false);
        self.hold_elections(HOLD);
        let millis = u64::try_from(HOLD.as_millis()).unwrap_or(u64::MAX);
        self.tell_voters(others, PeerRequest::HoldElections { millis })
            .await;
        let outcome = self.await_successor(to, node).await;
        drop(paused);
        self.tell_voters(others, PeerRequest::HoldElections { millis: 0 })
            .await;
        outcome
    }

    /// Sends `req` to every member of `to` at once; one that does not answer is logged (its
    /// hold lapses by itself).
    async fn tell_voters(&self, to: &[MemberNode], req: PeerRequest) {
        let req = &req;
        let calls = to.iter().map(|n| async move {
            match self.peers.call(&n.peer_address, req, PEER_TIMEOUT).await {
                Ok(PeerResponse::Election(Ok(()))) => {}
                Ok(other) => tracing::warn!(peer = %n.peer_address, ?other, ?req, "a voter refused"),
                Err(e) => tracing::warn!(peer = %n.peer_address, error = %e, ?req, "a voter did not answer"),
            }
        });
        futures::future::join_all(calls).await;
    }

    /// Waits until `to` holds this leader's whole log, then has it campaign until this node
    /// sees it lead. The first campaign may lose while other voters' leases run (the lease is
    /// `election_timeout_max`); later ones win once they lapse, since nothing renews them.
    async fn await_successor(&self, to: NodeId, node: &MemberNode) -> Result<(), ClusterError> {
        let deadline = Instant::now() + TRANSFER_TIMEOUT;
        let mut metrics = self.raft.metrics();
        let mut stepped_down: Option<Instant> = None;
        loop {
            let (leader, waiting_for_log) = {
                let m = metrics.borrow_and_update();
                let matched = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(&to).copied().flatten())
                    .map(|l| l.index);
                let leading = m.state == ServerState::Leader;
                if !leading {
                    stepped_down.get_or_insert_with(Instant::now);
                }
                (m.current_leader, leading && matched < m.last_log_index)
            };
            if leader == Some(to) {
                return Ok(());
            }
            if stepped_down.is_some_and(|t| t.elapsed() > STEPPED_DOWN_GRACE) {
                // Something this node cannot fix (say, the target lacks an entry another voter
                // holds): let the voters elect as usual instead of holding them longer.
                return Err(ClusterError::Unavailable(format!(
                    "node {to:016x} did not win an election after this node stepped down; \
                     the voters elect as usual"
                )));
            }
            if Instant::now() >= deadline {
                let now = match leader {
                    Some(l) if l == self.id => "this node still leads".to_owned(),
                    Some(l) => format!("{l:016x} leads"),
                    None => "no leader yet".to_owned(),
                };
                return Err(ClusterError::Timeout(format!(
                    "node {to:016x} did not take over leadership within {TRANSFER_TIMEOUT:?} \
                     ({now})"
                )));
            }
            if waiting_for_log {
                let _ = tokio::time::timeout(Duration::from_millis(100), metrics.changed()).await;
                continue;
            }
            match self
                .peers
                .call(&node.peer_address, &PeerRequest::Campaign, PEER_TIMEOUT)
                .await
            {
                Ok(PeerResponse::Election(Ok(()))) => {}
                Ok(PeerResponse::Election(Err(m))) | Ok(PeerResponse::Refused(m)) => {
                    return Err(ClusterError::Refused(format!(
                        "node {to:016x} cannot take over leadership: {m}"
                    )))
                }
                Ok(other) => {
                    return Err(ClusterError::Unavailable(format!(
                        "unexpected reply from node {to:016x}: {other:?}"
                    )))
                }
                Err(e) => tracing::debug!(error = %e, "asking the successor to campaign"),
            }
            let _ = self
                .raft
                .wait(Some(CAMPAIGN_WAIT))
                .metrics(|m| m.current_leader == Some(to), "the new leader")
                .await;
        }
    }

    /// A permit to hand a proposal or a read index to this node's raft; it waits while this
    /// node hands leadership over (what it proposed now would renew the followers' leases and
    /// keep the successor from winning). Afterwards the caller finds the new leader as usual.
    pub(crate) async fn proposal_permit(
        &self,
        deadline: Instant,
    ) -> Result<RwLockReadGuard<'_, ()>, ClusterError> {
        tokio::time::timeout_at(deadline.into(), self.handover.proposals.read())
            .await
            .map_err(|_| {
                ClusterError::Unavailable("a leadership transfer did not finish in time".into())
            })
    }

    /// Starts no election for `hold` (zero: may elect again now). A leader handing over asks
    /// this of the voters that are not taking over. At most [`HOLD`], whatever a peer asks.
    pub(crate) fn hold_elections(&self, hold: Duration) {
        let hold = hold.min(HOLD);
        let raft = &self.raft;
        self.handover.hold_until.send_modify(|until| {
            *until = (!hold.is_zero()).then(|| Instant::now() + hold);
            raft.runtime_config().elect(hold.is_zero());
        });
    }

    /// Starts an election at once, because the leader is handing over to this node.
    pub(crate) async fn campaign(&self) -> Result<(), String> {
        if !self.voters().contains(&self.id) {
            return Err("it is not a voter of the membership it knows".into());
        }
        self.hold_elections(Duration::ZERO);
        self.raft
            .trigger()
            .elect()
            .await
            .map_err(|e| format!("its raft is not running: {e}"))
    }

    /// Lifts election holds whose time ran out; runs until `stop`.
    pub(crate) async fn lift_expired_holds(self: Arc<Self>, stop: CancellationToken) {
        let mut rx = self.handover.hold_until.subscribe();
        loop {
            let until = *rx.borrow_and_update();
            let expiry = async {
                match until {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = expiry => {
                    let raft = &self.raft;
                    let lifted = self.handover.hold_until.send_if_modified(|held| {
                        if *held != until {
                            return false;
                        }
                        *held = None;
                        raft.runtime_config().elect(true);
                        true
                    });
                    if lifted {
                        // A restart's quiet period ends this way; a transfer's hold normally
                        // is lifted by the transfer itself.
                        tracing::info!("an election hold ran out; elections resume");
                    }
                }
            }
        }
    }
}
