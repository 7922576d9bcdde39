//! Application messages between members: a node registers a handler per channel name, and
//! sends opaque bodies to other members over the authenticated peer channel (a cluster
//! certificate is required, as for raft traffic). Raft only carries them: no retries, no
//! ordering across calls, no persistence. The broker's fan-out is the first user.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;

use super::member::Cluster;
use crate::frame::{PeerRequest, PeerResponse};
use crate::transport::TransportError;
use crate::{MemberNode, NodeId};

/// Answers the application messages of one channel.
pub trait AppHandler: Send + Sync + 'static {
    /// Handles one message; the answer (or the error text) goes back to the sender.
    fn handle(&self, body: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, String>>;
}

/// The handlers registered on a member, by channel.
#[derive(Default)]
pub(crate) struct AppChannels {
    /// std RwLock: held only for a map lookup or insert, never across `.await`.
    handlers: RwLock<HashMap<String, Arc<dyn AppHandler>>>,
}

/// Why an application message got no answer.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The member could not be reached: the message was not delivered.
    #[error("member {addr} unreachable: {reason}")]
    Unreachable {
        /// The member's peer address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The message left but no answer came back (timeout, lost stream): it may or may not have
    /// been handled.
    #[error("no answer from member {addr}: {reason}")]
    Lost {
        /// The member's peer address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The member answered with an error (no handler on that channel, or the handler's own).
    #[error("member {addr} refused: {reason}")]
    Refused {
        /// The member's peer address.
        addr: String,
        /// What it said.
        reason: String,
    },
}

impl Cluster {
    /// Registers `handler` for application messages on `channel`, replacing any earlier one.
    pub fn register_app(&self, channel: &str, handler: Arc<dyn AppHandler>) {
        if let Ok(mut handlers) = self.apps.handlers.write() {
            handlers.insert(channel.to_owned(), handler);
        }
    }

    /// Sends `body` to the `channel` handler of the member at `peer_address` and waits up to
    /// `timeout` for its answer. Never retried: the caller decides what a loss means.
    pub async fn send_app(
        &self,
        peer_address: &str,
        channel: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, AppError> {
        let req = PeerRequest::App {
            channel: channel.to_owned(),
            body,
        };
        let addr = || peer_address.to_owned();
        match self.peers.call(peer_address, &req, timeout).await {
            Ok(PeerResponse::App(Ok(answer))) => Ok(answer),
            Ok(PeerResponse::App(Err(reason))) | Ok(PeerResponse::Refused(reason)) => {
                Err(AppError::Refused {
                    addr: addr(),
                    reason,
                })
            }
            Ok(other) => Err(AppError::Refused {
                addr: addr(),
                reason: format!("unexpected reply {other:?}"),
            }),
            Err(e @ (TransportError::Connect { .. } | TransportError::Resolve(_))) => {
                Err(AppError::Unreachable {
                    addr: addr(),
                    reason: e.to_string(),
                })
            }
            Err(e) => Err(AppError::Lost {
                addr: addr(),
                reason: e.to_string(),
            }),
        }
    }

    /// Every other member (voters and learners) of the membership this node has applied, with
    /// its addresses.
    pub fn other_members(&self) -> Vec<(NodeId, MemberNode)> {
        let metrics = self.raft.metrics().borrow().membership_config.clone();
        metrics
            .membership()
            .nodes()
            .filter(|(id, _)| **id != self.id)
            .map(|(id, node)| (*id, node.clone()))
            .collect()
    }

    /// Answers an application message with the handler registered on `channel`.
    pub(crate) async fn handle_app(&self, channel: &str, body: Vec<u8>) -> Result<Vec<u8>, String> {
        let handler = self
            .apps
            .handlers
            .read()
            .ok()
            .and_then(|h| h.get(channel).cloned());
        match handler {
            Some(h) => h.handle(body).await,
            None => Err(format!("no handler for application channel {channel:?}")),
        }
    }
}
