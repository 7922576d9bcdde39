//! Workloads: concurrent clients against every node, recording what they asked and got.
//!
//! Clients talk to the public gRPC APIs (store, registry, config, auth), each pinned to one node
//! or choosing one per op, so requests go through followers as much as through the leader.

mod append;
mod auth;
mod clock;
mod config;
mod lease;
mod register;
mod set;

pub use append::{append_client, final_logs};
pub use auth::{auth_client, final_auth_ops, AuthPool, TOKEN_LIFETIME};
pub use clock::Clock;
pub use config::{config_client, config_keys, final_config_reads};
pub use lease::{lease_client, LeaseRecord, LEASE_TTL};
pub use register::{final_reads, register_client, RegisterConfig};
pub use set::{final_listings, set_client};

use std::sync::OnceLock;
use std::time::Duration;

use micro_proto::store::store_client::StoreClient;
use micro_tests::{Authed, Bearer};
use tonic::transport::Channel;

/// The database and table every workload writes to.
pub const DATABASE: &str = "jepsen";
/// A client that saw an unknown outcome continues under a new process id (the old request may
/// still be in flight), as Jepsen does.
pub(crate) const PROCESS_STRIDE: u64 = 1000;
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
    let bearer = CREDENTIALS.get().cloned().unwrap_or_default();
    dial_channel(proxy).await.map(|channel| bearer.on(channel))
}

/// Dials a node's proxy without credentials (callers choose the token per request); `None`
/// when it does not answer.
pub async fn dial_channel(proxy: &str) -> Option<Channel> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{proxy}"))
        .ok()?
        .connect_timeout(Duration::from_secs(1))
        .timeout(REQUEST_TIMEOUT);
    endpoint.connect().await.ok()
}

/// The run's admin token on `channel`.
pub fn as_admin(channel: Channel) -> Authed {
    CREDENTIALS.get().cloned().unwrap_or_default().on(channel)
}

/// A store client of a node's proxy; `None` when it does not answer.
pub async fn connect(proxy: &str) -> Option<StoreClient<Authed>> {
    dial(proxy).await.map(StoreClient::new)
}

/// A client's connection to its node: kept across ops (tonic reconnects underneath), dropped
/// after a failure so the next op dials afresh, with a short pause so a dead node is not
/// hammered in a tight loop. A store client unless made with [`Connection::to`].
pub struct Connection<C = StoreClient<Authed>> {
    proxy: String,
    client: Option<C>,
    /// Wraps the dialed channel in the service's client.
    wrap: fn(Authed) -> C,
}

/// Pause after a failed op.
const BACKOFF: Duration = Duration::from_millis(50);

impl Connection {
    /// A store connection to `proxy`, dialed on first use.
    pub fn new(proxy: String) -> Self {
        Connection::to(proxy, StoreClient::new)
    }
}

impl<C> Connection<C> {
    /// A connection to `proxy` for the client `wrap` makes, dialed on first use.
    pub fn to(proxy: String, wrap: fn(Authed) -> C) -> Self {
        Connection {
            proxy,
            client: None,
            wrap,
        }
    }

    /// The client, dialing when needed; `None` when the node does not answer.
    pub async fn get(&mut self) -> Option<&mut C> {
        if self.client.is_none() {
            self.client = dial(&self.proxy).await.map(self.wrap);
        }
        self.client.as_mut()
    }

    /// Forgets the client after a failed op and backs off briefly.
    pub async fn failed(&mut self) {
        self.client = None;
        tokio::time::sleep(BACKOFF).await;
    }
}

/// One client adding unique elements (`PPPP-NNNNNNNN`) through `conn` until `until`, each
/// with one call of `add` on a clone of the client; returns each element's outcome.
pub async fn unique_adds<C, F, Fut, T>(
    process: u64,
    mut conn: Connection<C>,
    until: std::time::Instant,
    add: F,
) -> std::collections::BTreeMap<String, crate::checker::AddOutcome>
where
    C: Clone,
    F: Fn(C, String) -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    use crate::checker::AddOutcome;
    let mut adds = std::collections::BTreeMap::new();
    let mut n = 0u64;
    while std::time::Instant::now() < until {
        n += 1;
        let element = format!("{process:04}-{n:08}");
        let outcome = match conn.get().await {
            None => AddOutcome::Fail,
            Some(c) => match add(c.clone(), element.clone()).await {
                Ok(_) => AddOutcome::Ok,
                Err(s) if definitely_not_applied(&s) => AddOutcome::Fail,
                Err(_) => AddOutcome::Info,
            },
        };
        if outcome != AddOutcome::Ok {
            conn.failed().await;
        }
        adds.insert(element, outcome);
    }
    adds
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
