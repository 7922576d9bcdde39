//! Operator membership changes, answered by any node: remove a member (refused when the voters
//! left would have no live quorum, unless forced), promote a learner, and record a member's
//! new addresses after it restarted with others. Changes run on the leader; other nodes
//! forward them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::ChangeMembers;

use super::{Cluster, ClusterError};
use crate::frame::{MembershipChange, PeerRequest, PeerResponse};
use crate::typ::ForwardToLeader;
use crate::NodeId;

/// How long a membership change may take.
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
            let permit = self.proposal_permit(deadline).await?;
            let step = self.change_here(&change).await;
            drop(permit);
            let fwd = match step? {
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
            MembershipChange::Readdress { node, .. } => {
                if membership.get_node(&id) == Some(node) {
                    return Ok(Step::Done);
                }
                ChangeMembers::SetNodes(BTreeMap::from([(id, node.clone())]))
            }
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
            Err(RaftError::Fatal(e)) => Err(ClusterError::raft_stopped(e)),
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

    /// After a restart with other addresses than the membership records, asks the members (at
    /// their recorded addresses) to record the new ones, until one accepts. Nobody can reach
    /// this node at its old address, so it must reach out itself.
    pub(crate) async fn announce_new_address(&self) -> Result<(), ClusterError> {
        // Right after start-up the metrics may not show the stored membership yet.
        let id = self.id;
        let _ = self
            .raft
            .wait(Some(CHANGE_TIMEOUT))
            .metrics(
                |m| m.membership_config.membership().get_node(&id).is_some(),
                "the stored membership",
            )
            .await;
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let membership = membership.membership().clone();
        if membership.get_node(&self.id) == Some(&self.this) {
            return Ok(());
        }
        let Some(old) = membership.get_node(&self.id) else {
            return Ok(());
        };
        tracing::info!(old = %old, new = %self.this, "this node's addresses changed; updating its member record");
        let change = MembershipChange::Readdress {
            id: self.id,
            node: self.this.clone(),
        };
        if membership.nodes().all(|(id, _)| *id == self.id) {
            // Alone: this node leads once it has elected itself, and records the change itself.
            return self.change_members(change).await;
        }
        let req = PeerRequest::ChangeMembers {
            change: change.clone(),
            hops_left: super::member::MAX_HOPS,
        };
        let mut last = String::from("no other member");
        for _ in 0..60 {
            if self.raft.metrics().borrow().current_leader == Some(self.id) {
                // Leading (followers cannot forward to our old address): record it here.
                return self.change_members(change).await;
            }
            for (id, node) in membership.nodes().filter(|(id, _)| **id != self.id) {
                match self
                    .peers
                    .call(&node.peer_address, &req, CHANGE_TIMEOUT)
                    .await
                {
                    Ok(PeerResponse::ChangeMembers(Ok(()))) => {
                        tracing::info!("member record updated with the new addresses");
                        return Ok(());
                    }
                    Ok(other) => last = format!("{id:016x} answered {other:?}"),
                    Err(e) => last = format!("{id:016x}: {e}"),
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Err(ClusterError::Unavailable(format!(
            "could not record this node's new addresses: {last}"
        )))
    }
}
