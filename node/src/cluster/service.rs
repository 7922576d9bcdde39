//! The cluster admin API: `Members` (each member's id, role, addresses, term and applied
//! index), `Remove` and `Promote`; all for admins of `micro`.

use std::sync::Arc;

use micro_proto::cluster as pb;
use micro_raft::{Cluster, MembershipChange};
use tonic::{Request, Status};

use crate::auth::{with_caller, Caller};
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

#[tonic::async_trait]
impl pb::cluster_server::Cluster for ClusterService {
    async fn remove(
        &self,
        req: Request<pb::RemoveRequest>,
    ) -> Result<tonic::Response<pb::RemoveResponse>, Status> {
        with_caller(req, |caller, r| async move {
            ClusterService::remove(self, &caller, r).await
        })
        .await
    }

    async fn promote(
        &self,
        req: Request<pb::PromoteRequest>,
    ) -> Result<tonic::Response<pb::PromoteResponse>, Status> {
        with_caller(req, |caller, r| async move {
            ClusterService::promote(self, &caller, r).await
        })
        .await
    }

    async fn members(
        &self,
        req: Request<pb::MembersRequest>,
    ) -> Result<tonic::Response<pb::MembersResponse>, Status> {
        with_caller(req, |caller, r| async move {
            ClusterService::members(self, &caller, r).await
        })
        .await
    }
}

impl crate::api::JsonService for ClusterService {
    fn call(
        &self,
        endpoint: &str,
        caller: Caller,
        body: serde_json::Value,
    ) -> Option<crate::api::JsonAnswer<'_>> {
        match endpoint {
            "Cluster.Members" => Some(Box::pin(crate::api::json(body, move |r| async move {
                ClusterService::members(self, &caller, r).await
            }))),
            "Cluster.Remove" => Some(Box::pin(crate::api::json(body, move |r| async move {
                ClusterService::remove(self, &caller, r).await
            }))),
            "Cluster.Promote" => Some(Box::pin(crate::api::json(body, move |r| async move {
                ClusterService::promote(self, &caller, r).await
            }))),
            _ => None,
        }
    }
}
