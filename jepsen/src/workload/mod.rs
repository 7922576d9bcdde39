//! Workloads: concurrent clients against every node, recording what they asked and got.
//!
//! Clients talk to the public gRPC store API, each pinned to one node, so reads and writes go
//! through followers as much as through the leader.

mod clock;
mod lease;
mod register;
mod set;

pub use clock::Clock;
pub use lease::{lease_client, LeaseRecord, LEASE_TTL};
pub use register::{final_reads, register_client, RegisterConfig};
pub use set::{final_listings, set_client};

use std::sync::OnceLock;
use std::time::Duration;

use micro_proto::store::store_client::StoreClient;
use micro_tests::{Authed, Bearer};

/// The database and table every workload writes to.
pub const DATABASE: &str = "jepsen";
/// Per-request deadline: past it, a write's outcome is unknown.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The token every client sends: the run's admin token, set once before clients start.
static CREDENTIALS: OnceLock<Bearer> = OnceLock::new();

/// Makes every client send `bearer` (the first call wins; a run logs in once).
pub fn use_credentials(bearer: Bearer) {
    // A second run in the same process logs in to the same kind of cluster; keep the first.
    let _ = CREDENTIALS.set(bearer);
}

/// Dials a node's proxy with the run's token; `None` when it does not answer (the op is then
/// not sent).
pub async fn dial(proxy: &str) -> Option<Authed> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{proxy}"))
        .ok()?
        .connect_timeout(Duration::from_secs(1))
        .timeout(REQUEST_TIMEOUT);
    let bearer = CREDENTIALS.get().cloned().unwrap_or_default();
    endpoint
        .connect()
        .await
        .ok()
        .map(|channel| bearer.on(channel))
}

/// A store client of a node's proxy; `None` when it does not answer.
pub async fn connect(proxy: &str) -> Option<StoreClient<Authed>> {
    dial(proxy).await.map(StoreClient::new)
}

/// A client's connection to its node: kept across ops (tonic reconnects underneath), dropped
/// after a failure so the next op dials afresh, with a short pause so a dead node is not
/// hammered in a tight loop.
pub struct Connection {
    proxy: String,
    client: Option<StoreClient<Authed>>,
}

/// Pause after a failed op.
const BACKOFF: Duration = Duration::from_millis(50);

impl Connection {
    /// A connection to `proxy`, dialed on first use.
    pub fn new(proxy: String) -> Self {
        Connection {
            proxy,
            client: None,
        }
    }

    /// The client, dialing when needed; `None` when the node does not answer.
    pub async fn get(&mut self) -> Option<&mut StoreClient<Authed>> {
        if self.client.is_none() {
            self.client = connect(&self.proxy).await;
        }
        self.client.as_mut()
    }

    /// Forgets the client after a failed op and backs off briefly.
    pub async fn failed(&mut self) {
        self.client = None;
        tokio::time::sleep(BACKOFF).await;
    }
}

/// Whether a failed request certainly did not apply: the server refused it before proposing
/// (bad input) or its precondition failed. Everything else (unavailable, timeout, transport
/// error) leaves the outcome unknown.
pub fn definitely_not_applied(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::InvalidArgument | tonic::Code::Aborted | tonic::Code::NotFound
    )
}
