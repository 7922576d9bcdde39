//! What a member answers to peer requests.

use futures::future::BoxFuture;

use super::member::Cluster;
use crate::frame::{JoinGrant, PeerRequest, PeerResponse};
use crate::transport::PeerHandler;
use crate::NodeId;

impl PeerHandler for Cluster {
    fn handle(&self, req: PeerRequest, authenticated: bool) -> BoxFuture<'_, PeerResponse> {
        Box::pin(async move {
            match req {
                PeerRequest::FetchCa => PeerResponse::Ca(self.ca.cert_pem().to_owned()),
                PeerRequest::Join {
                    secret,
                    id,
                    csr_der,
                } => PeerResponse::Join(self.admit(&secret, id, &csr_der)),
                _ if !authenticated => {
                    tracing::warn!(
                        "refused a peer request from a client without a cluster certificate"
                    );
                    PeerResponse::Refused("a certificate of this cluster is required".into())
                }
                PeerRequest::AppendEntries(r) => {
                    self.contacts.heard_from_leader();
                    PeerResponse::AppendEntries(self.raft.append_entries(r).await)
                }
                PeerRequest::InstallSnapshot(r) => {
                    PeerResponse::InstallSnapshot(self.raft.install_snapshot(r).await)
                }
                PeerRequest::Vote(r) => match r.vote.leader_id().voted_for() {
                    Some(candidate) if self.was_removed(candidate) => {
                        tracing::warn!(
                            node = %format!("{candidate:016x}"),
                            "refused a vote request from a node that is not a member"
                        );
                        PeerResponse::Refused(removed_message(candidate))
                    }
                    _ => PeerResponse::Vote(self.raft.vote(r).await),
                },
                PeerRequest::Write { command, hops_left } => PeerResponse::Write(
                    self.write_hops(command, hops_left)
                        .await
                        .map_err(Into::into),
                ),
                PeerRequest::ReadIndex { hops_left } => {
                    PeerResponse::ReadIndex(self.read_index(hops_left).await.map_err(Into::into))
                }
                PeerRequest::Status => PeerResponse::Status(self.local_status()),
                PeerRequest::AddMember {
                    id,
                    node,
                    voter,
                    hops_left,
                } => PeerResponse::AddMember(
                    self.add_member(id, node, voter, hops_left)
                        .await
                        .map_err(Into::into),
                ),
                PeerRequest::ChangeMembers { change, hops_left } => PeerResponse::ChangeMembers(
                    self.change_members_hops(change, hops_left)
                        .await
                        .map_err(Into::into),
                ),
                PeerRequest::App { channel, body } => {
                    PeerResponse::App(self.handle_app(&channel, body).await)
                }
                PeerRequest::TransferLeader { to, hops_left } => PeerResponse::TransferLeader(
                    self.transfer_leader_hops(to, hops_left)
                        .await
                        .map_err(Into::into),
                ),
                PeerRequest::HoldElections { millis } => {
                    self.hold_elections(std::time::Duration::from_millis(millis));
                    PeerResponse::Election(Ok(()))
                }
                PeerRequest::Campaign => PeerResponse::Election(self.campaign().await),
            }
        })
    }
}

/// What a node that is no longer a member is told (the prefix is what it recognizes).
pub(crate) fn removed_message(id: NodeId) -> String {
    format!(
        "{REMOVED_PREFIX} node {id:016x} is not a member of this cluster (it was removed). \
         To bring it back, stop it, empty its --data-dir, and start it again with --join and \
         --join-token"
    )
}

/// The start of [`removed_message`].
pub(crate) const REMOVED_PREFIX: &str = "removed:";

impl Cluster {
    /// Whether `id` is unknown to a membership this node has loaded (a node cannot tell before
    /// its own membership is loaded, and then refuses nobody).
    fn was_removed(&self, id: NodeId) -> bool {
        let metrics = self.raft.metrics().borrow().membership_config.clone();
        let membership = metrics.membership();
        membership.get_node(&self.id).is_some() && membership.get_node(&id).is_none()
    }

    /// Checks a joiner's secret and signs its certificate request.
    fn admit(&self, secret: &[u8], id: NodeId, csr_der: &[u8]) -> Result<JoinGrant, String> {
        if !self.token.secret_matches(secret) {
            tracing::warn!(node = %format!("{id:016x}"), "join refused: wrong token secret");
            return Err("join token rejected: its secret does not match this cluster's".into());
        }
        let cert_pem = self
            .ca
            .sign_request(id, csr_der)
            .map_err(|e| format!("invalid certificate request: {e}"))?;
        tracing::info!(node = %format!("{id:016x}"), "issued a certificate to a joining node");
        Ok(JoinGrant {
            ca_cert_pem: self.ca.cert_pem().to_owned(),
            ca_key_pem: self.ca.key_pem(),
            cert_pem,
            secrets: self.secrets.clone(),
        })
    }
}
