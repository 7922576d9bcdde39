//! Operator membership changes, answered by any node: remove a member (refused when the voters
//! left would have no live quorum, unless forced) and promote a learner. Changes run on the
//! leader; other nodes forward them.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::ChangeMembers;

use super::{Cluster, ClusterError};
use crate::frame::{MembershipChange, PeerRequest, PeerResponse};
use crate::typ::ForwardToLeader;
use crate::NodeId;

/// How long a membership change or a leader transfer may take.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// What one attempt on this node came to.
enum Step {
    Done,
    Forward(ForwardToLeader),
    Busy,
}

impl Cluster {
    /// Applies `change` on the leader (forwarding it there when this node does not lead).
    pub async fn change_members(&self, change: MembershipChange) -> Result<(), ClusterError> {
        self.change_members_hops(change, super::member::MAX_HOPS)
            .await
    }

    pub(crate) async fn change_members_hops(
        &self,
        change: MembershipChange,
        hops_left: u8,
    ) -> Result<(), ClusterError> {
        let deadline = Instant::now() + CHANGE_TIMEOUT;
        loop {
            let fwd = match self.change_here(&change).await? {
                Step::Done => return Ok(()),
                Step::Forward(f) => f,
                Step::Busy if Instant::now() < deadline => {
                    // Another membership change is in flight; try again shortly.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                Step::Busy => {
                    return Err(ClusterError::Unavailable(
                        "another membership change did not finish in time".into(),
                    ))
                }
            };
            let req = PeerRequest::ChangeMembers {
                change: change.clone(),
                hops_left: hops_left.saturating_sub(1),
            };
            match self.to_leader(&fwd, hops_left, &req, deadline).await? {
                Some(PeerResponse::ChangeMembers(r)) => return r.map_err(ClusterError::from),
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

    /// Makes the change if this node leads.
    async fn change_here(&self, change: &MembershipChange) -> Result<Step, ClusterError> {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership().clone();
        if m.current_leader != Some(self.id) {
            let leader_node = m
                .current_leader
                .and_then(|l| membership.get_node(&l).cloned());
            return Ok(Step::Forward(ForwardToLeader {
                leader_id: m.current_leader,
                leader_node,
            }));
        }
        let id = change.id();
        if membership.get_node(&id).is_none() {
            return Err(ClusterError::Refused(format!(
                "node {id:016x} is not a member of this cluster"
            )));
        }
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let is_voter = voters.contains(&id);
        let request = match change {
            MembershipChange::Promote { .. } if is_voter => return Ok(Step::Done),
            MembershipChange::Promote { .. } => ChangeMembers::AddVoterIds(BTreeSet::from([id])),
            MembershipChange::Remove { force, .. } if is_voter => {
                if !force {
                    self.check_quorum_without(id, &voters).await?;
                }
                ChangeMembers::RemoveVoters(BTreeSet::from([id]))
            }
            MembershipChange::Remove { .. } => ChangeMembers::RemoveNodes(BTreeSet::from([id])),
        };
        match self.raft.change_membership(request, false).await {
            Ok(_) => {
                tracing::info!(node = %format!("{id:016x}"), ?change, "membership changed");
                Ok(Step::Done)
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Ok(Step::Forward(f)),
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                tracing::debug!(error = %e, "membership change busy");
                Ok(Step::Busy)
            }
            Err(RaftError::Fatal(e)) => Err(ClusterError::Unavailable(e.to_string())),
        }
    }

    /// Refuses removing voter `id` when the voters left would not have a live majority.
    async fn check_quorum_without(
        &self,
        id: NodeId,
        voters: &BTreeSet<NodeId>,
    ) -> Result<(), ClusterError> {
        let remaining: BTreeSet<NodeId> = voters.iter().copied().filter(|v| *v != id).collect();
        let view = self.members().await;
        let live = view
            .members
            .iter()
            .filter(|m| remaining.contains(&m.id) && m.status.is_some())
            .count();
        if remaining.is_empty() || live * 2 <= remaining.len() {
            return Err(ClusterError::Refused(format!(
                "removing node {id:016x} would leave {} voters of which {live} answer, \
                 which is not a quorum; bring members back first or pass --force",
                remaining.len()
            )));
        }
        Ok(())
    }
}
