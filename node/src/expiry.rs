//! Expiry workers: while this node leads, it proposes a removal command whenever the first
//! key of a deadline index is due, so expired data leaves every replica through the log,
//! deterministically. Store records (`x/`) and registry instances (`r/x/`) use it.

use std::sync::Arc;
use std::time::Duration;

use micro_raft::Cluster;
use micro_state_machine::Command;
use tokio_util::sync::CancellationToken;

const INTERVAL: Duration = Duration::from_secs(1);

/// A deadline index: keys are `prefix`, then the deadline (ms, big-endian), then anything;
/// `removal` is the command that removes what is due.
pub struct DeadlineIndex {
    /// What the log says when it proposes (for the debug log).
    pub name: &'static str,
    /// Key prefix of the index.
    pub prefix: &'static [u8],
    /// The removal command.
    pub removal: fn() -> Command,
}

/// Runs until `stop`; proposes removals only while this node leads.
pub async fn remove_expired(cluster: Arc<Cluster>, index: DeadlineIndex, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
        if cluster.local_status().role != "leader" || !is_due(&cluster, index.prefix) {
            continue;
        }
        if let Err(e) = cluster.write((index.removal)()).await {
            tracing::debug!(error = %e, index = index.name, "expiry removal not proposed");
        }
    }
}

/// Whether the earliest deadline of the index has passed (index keys sort by deadline).
fn is_due(cluster: &Cluster, prefix: &[u8]) -> bool {
    let now = micro_raft::now_ms();
    match cluster.reader().first_with_prefix(prefix) {
        Some(k) => k
            .get(prefix.len()..prefix.len() + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .is_some_and(|d| d <= now),
        None => false,
    }
}
