//! openraft's network traits over the peer client.

use std::time::{Duration, Instant};

use openraft::error::{InstallSnapshotError, NetworkError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::{PeerClient, TransportError};
use crate::contacts::Contacts;
use crate::frame::{PeerRequest, PeerResponse};
use crate::typ::{RaftError, RpcError};
use crate::{MemberNode, NodeId, TypeConfig};

/// Creates per-target raft clients sharing one [`PeerClient`] and one contact record.
#[derive(Clone)]
pub struct NetworkFactory(pub PeerClient, pub Contacts);

/// Raft RPCs to one target.
pub struct Network {
    client: PeerClient,
    contacts: Contacts,
    target: NodeId,
    addr: String,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Network;

    async fn new_client(&mut self, target: NodeId, node: &MemberNode) -> Network {
        Network {
            client: self.0.clone(),
            contacts: self.1.clone(),
            target,
            addr: node.peer_address.clone(),
        }
    }
}

/// Whether this process already logged that the cluster removed it.
static REMOVED_REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Network {
    async fn send<E: std::error::Error>(
        &self,
        req: PeerRequest,
        option: &RPCOption,
    ) -> Result<PeerResponse, RpcError<E>> {
        let timeout = option.hard_ttl().max(Duration::from_millis(100));
        let sent = Instant::now();
        let reply = self.client.call(&self.addr, &req, timeout).await;
        if reply.is_ok() {
            self.contacts.replied(self.target, sent.elapsed());
        }
        reply.map_err(|e| match e {
            TransportError::Connect { .. } | TransportError::Resolve(_) => {
                RpcError::Unreachable(Unreachable::new(&e))
            }
            _ => RpcError::Network(NetworkError::new(&e)),
        })
    }

    fn unexpected<E: std::error::Error>(&self, resp: PeerResponse) -> RpcError<E> {
        let msg = match resp {
            PeerResponse::Refused(m) => {
                if m.starts_with(crate::cluster::REMOVED_PREFIX) {
                    // Said loudly once: this node keeps campaigning, and every peer refuses.
                    if !REMOVED_REPORTED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                        tracing::error!("{m}");
                    }
                }
                format!("peer {} refused: {m}", self.target)
            }
            other => format!("peer {} sent an unexpected reply: {other:?}", self.target),
        };
        RpcError::Network(NetworkError::new(&std::io::Error::other(msg)))
    }

    fn remote<T, E: std::error::Error>(
        &self,
        r: Result<T, RaftError<E>>,
    ) -> Result<T, RpcError<E>> {
        r.map_err(|e| RpcError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Network {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcError> {
        match self.send(PeerRequest::AppendEntries(rpc), &option).await? {
            PeerResponse::AppendEntries(r) => self.remote(r),
            other => Err(self.unexpected(other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcError<InstallSnapshotError>> {
        match self
            .send(PeerRequest::InstallSnapshot(rpc), &option)
            .await?
        {
            PeerResponse::InstallSnapshot(r) => self.remote(r),
            other => Err(self.unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcError> {
        match self.send(PeerRequest::Vote(rpc), &option).await? {
            PeerResponse::Vote(r) => self.remote(r),
            other => Err(self.unexpected(other)),
        }
    }
}
