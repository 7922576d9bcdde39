//! The cluster admin API: `Members` (each member's id, role, addresses, term and applied
//! index), `Remove`, `Promote`, `TransferLeader` and `Snapshot` (a consistent copy of the
//! whole state); all for admins of `micro`.

use std::sync::Arc;

use micro_proto::cluster as pb;
use micro_raft::{Cluster, MembershipChange};

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Status};

use crate::auth::Caller;
use crate::error::ApiError;

/// Bytes per `SnapshotChunk` after the first.
const SNAPSHOT_CHUNK: usize = 1024 * 1024;

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

    /// Cluster.TransferLeader (admins of `micro`).
    pub async fn transfer_leader(
        &self,
        caller: &Caller,
        req: pb::TransferLeaderRequest,
    ) -> Result<pb::TransferLeaderResponse, ApiError> {
        caller.authorize_admin(crate::namespace::DEFAULT_NAMESPACE)?;
        self.cluster.transfer_leader(req.id).await?;
        Ok(pb::TransferLeaderResponse {})
    }
}

impl ClusterService {
    /// Cluster.Snapshot (admins of `micro`): the description, then the bytes in chunks.
    pub async fn snapshot(
        &self,
        caller: &Caller,
        _req: pb::SnapshotRequest,
    ) -> Result<mpsc::Receiver<Result<pb::SnapshotChunk, Status>>, ApiError> {
        caller.authorize_admin(crate::namespace::DEFAULT_NAMESPACE)?;
        let (index, term, data) = self.cluster.consistent_snapshot().await?;
        let config_key_sha256 = self
            .cluster
            .shared_secret(crate::config_service::CONFIG_KEY_NAME)
            .map(|k| hex::encode(Sha256::digest(k)))
            .unwrap_or_default();
        let info = pb::SnapshotInfo {
            index,
            term,
            size: data.len() as u64,
            sha256: hex::encode(Sha256::digest(&data)),
            node_id: self.cluster.id(),
            config_key_sha256,
        };
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let first = pb::SnapshotChunk {
                info: Some(info),
                data: Vec::new(),
            };
            if tx.send(Ok(first)).await.is_err() {
                return;
            }
            for chunk in data.chunks(SNAPSHOT_CHUNK) {
                let msg = pb::SnapshotChunk {
                    info: None,
                    data: chunk.to_vec(),
                };
                if tx.send(Ok(msg)).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}

crate::handlers::grpc_service!(pb::cluster_server::Cluster, ClusterService {
    members => members(pb::MembersRequest) -> pb::MembersResponse;
    remove => remove(pb::RemoveRequest) -> pb::RemoveResponse;
    promote => promote(pb::PromoteRequest) -> pb::PromoteResponse;
    transfer_leader => transfer_leader(pb::TransferLeaderRequest) -> pb::TransferLeaderResponse;
}
    type SnapshotStream = ReceiverStream<Result<pb::SnapshotChunk, Status>>;

    async fn snapshot(
        &self,
        req: Request<pb::SnapshotRequest>,
    ) -> Result<tonic::Response<Self::SnapshotStream>, Status> {
        let caller = crate::auth::admitted(&req)?;
        let rx = ClusterService::snapshot(self, &caller, req.into_inner()).await?;
        Ok(tonic::Response::new(ReceiverStream::new(rx)))
    }
);

crate::handlers::json_service!(ClusterService {
    "Cluster.Members" => members,
    "Cluster.Remove" => remove,
    "Cluster.Promote" => promote,
    "Cluster.TransferLeader" => transfer_leader,
});
