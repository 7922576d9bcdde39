//! The peer client: cached connections, pooled streams, one request/response per use.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quinn::crypto::rustls::QuicClientConfig;
use quinn::{Connection, RecvStream, SendStream};

use crate::frame::{read_frame, write_frame, FrameError, PeerRequest, PeerResponse, MAX_FRAME};
use crate::tls::PEER_SERVER_NAME;

/// Most idle streams kept per connection.
const MAX_IDLE_STREAMS: usize = 32;

/// Why a peer request failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The peer address did not resolve.
    #[error("cannot resolve peer address {0}")]
    Resolve(String),
    /// The connection could not be established (peer down, TLS refused).
    #[error("cannot connect to peer {addr}: {reason}")]
    Connect {
        /// The peer.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The request or reply was lost or malformed.
    #[error("peer {addr}: {source}")]
    Frame {
        /// The peer.
        addr: String,
        /// Why.
        source: FrameError,
    },
    /// No reply in time.
    #[error("peer {0} did not answer in time")]
    Timeout(String),
    /// The peer closed the stream without answering.
    #[error("peer {0} closed the stream")]
    Closed(String),
}

struct Peer {
    conn: Connection,
    /// std Mutex: held only to push or pop a stream, never across `.await`.
    idle: Mutex<Vec<(SendStream, RecvStream)>>,
}

/// Sends requests to peers with one client TLS configuration.
#[derive(Clone)]
pub struct PeerClient {
    endpoint: quinn::Endpoint,
    config: quinn::ClientConfig,
    /// std Mutex: held only for map lookups and inserts, never across `.await`.
    peers: Arc<Mutex<HashMap<String, Arc<Peer>>>>,
}

impl PeerClient {
    /// A client dialing from `endpoint` with `tls`.
    pub fn new(endpoint: quinn::Endpoint, tls: rustls::ClientConfig) -> std::io::Result<Self> {
        let crypto = QuicClientConfig::try_from(tls).map_err(std::io::Error::other)?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        config.transport_config(super::transport_config());
        Ok(PeerClient {
            endpoint,
            config,
            peers: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Sends `req` to `addr` and waits up to `timeout` for the reply.
    pub async fn call(
        &self,
        addr: &str,
        req: &PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, TransportError> {
        match tokio::time::timeout(timeout, self.call_inner(addr, req)).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::Timeout(addr.to_owned())),
        }
    }

    async fn call_inner(
        &self,
        addr: &str,
        req: &PeerRequest,
    ) -> Result<PeerResponse, TransportError> {
        let peer = self.peer(addr).await?;
        let pooled = peer.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
        let (mut send, mut recv) = match pooled {
            Some(s) => s,
            None => match peer.conn.open_bi().await {
                Ok(s) => s,
                Err(e) => {
                    self.forget(addr, &peer);
                    return Err(TransportError::Connect {
                        addr: addr.to_owned(),
                        reason: e.to_string(),
                    });
                }
            },
        };
        let frame_err = |source| TransportError::Frame {
            addr: addr.to_owned(),
            source,
        };
        if let Err(e) = write_frame(&mut send, req).await {
            self.forget(addr, &peer);
            return Err(frame_err(e));
        }
        match read_frame::<_, PeerResponse>(&mut recv, MAX_FRAME).await {
            Ok(Some(resp)) => {
                if let Ok(mut idle) = peer.idle.lock() {
                    if idle.len() < MAX_IDLE_STREAMS {
                        idle.push((send, recv));
                    }
                }
                Ok(resp)
            }
            Ok(None) => Err(TransportError::Closed(addr.to_owned())),
            Err(e) => {
                self.forget(addr, &peer);
                Err(frame_err(e))
            }
        }
    }

    /// Returns the cached connection to `addr`, dialing when there is none or it closed.
    async fn peer(&self, addr: &str) -> Result<Arc<Peer>, TransportError> {
        let cached = self.peers.lock().ok().and_then(|m| m.get(addr).cloned());
        if let Some(p) = cached {
            if p.conn.close_reason().is_none() {
                return Ok(p);
            }
        }
        let sock = resolve(addr).await?;
        let connect_err = |e: &dyn std::fmt::Display| TransportError::Connect {
            addr: addr.to_owned(),
            reason: e.to_string(),
        };
        let connecting = self
            .endpoint
            .connect_with(self.config.clone(), sock, PEER_SERVER_NAME)
            .map_err(|e| connect_err(&e))?;
        let conn = connecting.await.map_err(|e| connect_err(&e))?;
        let peer = Arc::new(Peer {
            conn,
            idle: Mutex::new(Vec::new()),
        });
        if let Ok(mut m) = self.peers.lock() {
            m.insert(addr.to_owned(), peer.clone());
        }
        Ok(peer)
    }

    /// Drops a failed connection so the next call dials afresh.
    fn forget(&self, addr: &str, peer: &Arc<Peer>) {
        if let Ok(mut m) = self.peers.lock() {
            if m.get(addr).is_some_and(|p| Arc::ptr_eq(p, peer)) {
                m.remove(addr);
            }
        }
    }
}

async fn resolve(addr: &str) -> Result<SocketAddr, TransportError> {
    tokio::net::lookup_host(addr)
        .await
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| TransportError::Resolve(addr.to_owned()))
}
