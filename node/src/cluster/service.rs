//! The cluster admin API: `Members` (each member's id, role, addresses, term and applied
//! index), `Remove` and `Promote`; all for admins of `micro`.

use std::sync::Arc;

use micro_proto::cluster as pb;
use micro_raft::{Cluster, MembershipChange};

use crate::auth::Caller;
use crate::error::ApiError;

/// The cluster admin service of one node.
#[derive(Clone)]
pub struct ClusterService {
    cluster: Arc<Cluster>,
}

impl ClusterService {
    /// A service answering for `cluster`.
    pub fn new(cluster: Arc<Cluster>) -> Self {
        ClusterService { cluster }
    }

    /// Cluster.Members: unreachable members are listed with role `unreachable`. Operators'
    /// data (addresses, log positions), so only for admins of `micro`.
    pub async fn members(
        &self,
        caller: &Caller,
        _req: pb::MembersRequest,
    ) -> Result<pb::MembersResponse, ApiError> {
        caller.authorize_admin(crate::namespace::DEFAULT_NAMESPACE)?;
        let view = self.cluster.members().await;
        let members = view
            .members
            .into_iter()
            .map(|m| {
                let status = m.status.clone().unwrap_or_default();
                let role = match &m.status {
                    Some(s) if s.role == "follower" && !m.voter => "learner".to_owned(),
                    Some(s) => s.role.clone(),
                    None => "unreachable".to_owned(),
                };
                pb::Member {
                    id: m.id,
                    role,
                    peer_address: m.node.peer_address,
                    api_address: m.node.api_address,
                    proxy_address: m.node.proxy_address,
                    applied_index: status.applied_index,
                    voter: m.voter,
                    term: status.term,
                    last_log_index: status.last_log_index,
                    snapshot_index: status.snapshot_index,
                    purged_index: status.purged_index,
                    last_contact_ms: m
                        .status
                        .as_ref()
                        .and_then(|s| s.last_contact_ms)
                        .map_or(-1, |ms| i64::try_from(ms).unwrap_or(i64::MAX)),
                }
            })
            .collect();
        Ok(pb::MembersResponse {
            leader: view.leader.unwrap_or(0),
            term: view.term,
            members,
        })
    }
}

impl ClusterService {
    /// Cluster.Remove (admins of `micro`).
    pub async fn remove(
        &self,
        caller: &Caller,
        req: pb::RemoveRequest,
    ) -> Result<pb::RemoveResponse, ApiError> {
        caller.authorize_admin(crate::namespace::DEFAULT_NAMESPACE)?;
        self.cluster
            .change_members(MembershipChange::Remove {
                id: req.id,
                force: req.force,
            })
            .await?;
        Ok(pb::RemoveResponse {})
    }

    /// Cluster.Promote (admins of `micro`).
    pub async fn promote(
        &self,
        caller: &Caller,
        req: pb::PromoteRequest,
    ) -> Result<pb::PromoteResponse, ApiError> {
        caller.authorize_admin(crate::namespace::DEFAULT_NAMESPACE)?;
        self.cluster
            .change_members(MembershipChange::Promote { id: req.id })
            .await?;
        Ok(pb::PromoteResponse {})
    }
}

crate::handlers::grpc_service!(pb::cluster_server::Cluster, ClusterService {
    members => members(pb::MembersRequest) -> pb::MembersResponse;
    remove => remove(pb::RemoveRequest) -> pb::RemoveResponse;
    promote => promote(pb::PromoteRequest) -> pb::PromoteResponse;
});

crate::handlers::json_service!(ClusterService {
    "Cluster.Members" => members,
    "Cluster.Remove" => remove,
    "Cluster.Promote" => promote,
});
