//! Removal workers: while this node leads, it proposes a removal command whenever its state
//! shows something due, so expired or retired data leaves every replica through the log,
//! deterministically. Store records (`x/`) and registry instances (`r/x/`) are due when the
//! first key of their deadline index has passed; events when a topic exceeds its retention.

use std::sync::Arc;
use std::time::Duration;

use micro_raft::state_machine::StateReader;
use micro_raft::Cluster;
use micro_state_machine::Command;
use tokio_util::sync::CancellationToken;

const INTERVAL: Duration = Duration::from_secs(1);

/// How a worker tells that a removal is due.
pub enum Due {
    /// Keys are this prefix, then the deadline (ms, big-endian), then anything.
    DeadlineIndex(&'static [u8]),
    /// A check of the local state at a time.
    Check(fn(&StateReader, u64) -> Result<bool, String>),
}

/// What one worker removes.
pub struct Removal {
    /// For the logs.
    pub name: &'static str,
    /// When it is due.
    pub due: Due,
    /// The command that removes what is due.
    pub command: fn() -> Command,
}

/// Runs until `stop`; proposes removals only while this node leads.
pub async fn remove_due(cluster: Arc<Cluster>, removal: Removal, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
        if cluster.local_status().role != "leader" {
            continue;
        }
        let now = cluster.clock_ms();
        let due = match &removal.due {
            Due::DeadlineIndex(prefix) => Ok(deadline_passed(cluster.reader(), prefix, now)),
            Due::Check(check) => check(cluster.reader(), now),
        };
        match due {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, removal = removal.name, "could not check what is due");
                continue;
            }
        }
        if let Err(e) = cluster.write((removal.command)()).await {
            tracing::debug!(error = %e, removal = removal.name, "removal not proposed");
        }
    }
}

/// Whether the earliest deadline of the index has passed (index keys sort by deadline).
fn deadline_passed(reader: &StateReader, prefix: &[u8], now: u64) -> bool {
    match reader.first_with_prefix(prefix) {
        Some(k) => k
            .get(prefix.len()..prefix.len() + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .is_some_and(|d| d <= now),
        None => false,
    }
}
