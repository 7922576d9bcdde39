//! When this node last heard from its peers: the replies to raft RPCs it sent (a leader's view
//! of each follower, with the round-trip time recorded as `micro_raft_peer_rtt_seconds`) and
//! the last entries it received from a leader (a follower's "last contact", as Consul calls
//! it). Operators read them in `micro cluster members`; dead-server cleanup acts on them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::NodeId;

/// Shared contact times; cheap to clone.
#[derive(Clone, Default)]
pub struct Contacts(Arc<Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    replied: HashMap<NodeId, Instant>,
    from_leader: Option<Instant>,
}

impl Contacts {
    /// `peer` answered an RPC that took `rtt`.
    pub(crate) fn replied(&self, peer: NodeId, rtt: Duration) {
        if let Ok(mut inner) = self.0.lock() {
            inner.replied.insert(peer, Instant::now());
        }
        metrics::histogram!("micro_raft_peer_rtt_seconds", "peer" => format!("{peer:016x}"))
            .record(rtt.as_secs_f64());
    }

    /// A leader sent entries (or a heartbeat).
    pub(crate) fn heard_from_leader(&self) {
        if let Ok(mut inner) = self.0.lock() {
            inner.from_leader = Some(Instant::now());
        }
    }

    /// How long ago `peer` last answered this node.
    pub fn since_reply(&self, peer: NodeId) -> Option<Duration> {
        let inner = self.0.lock().ok()?;
        inner.replied.get(&peer).map(Instant::elapsed)
    }

    /// How long ago a leader last reached this node.
    pub fn since_leader(&self) -> Option<Duration> {
        self.0.lock().ok()?.from_leader.map(|t| t.elapsed())
    }
}
