//! The expiry purge worker: the leader proposes `PurgeExpired` when expired records exist, so
//! expired data leaves every replica through the log, deterministically.

use std::sync::Arc;
use std::time::Duration;

use micro_raft::Cluster;
use micro_state_machine::store::StoreCommand;
use micro_state_machine::Command;
use tokio_util::sync::CancellationToken;

const INTERVAL: Duration = Duration::from_secs(1);
/// Records removed per entry, to keep entries small.
const BATCH: u32 = 1000;

/// Runs until `stop`; proposes purges only while this node leads.
pub async fn purge_expired(cluster: Arc<Cluster>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
        if cluster.local_status().role != "leader" || !has_expired(&cluster) {
            continue;
        }
        if let Err(e) = cluster
            .write(Command::Store(StoreCommand::PurgeExpired { limit: BATCH }))
            .await
        {
            tracing::debug!(error = %e, "expiry purge not proposed");
        }
    }
}

/// Whether the earliest entry of the expiry index is due (index keys sort by deadline).
fn has_expired(cluster: &Cluster) -> bool {
    let now = micro_raft::now_ms();
    match cluster.reader().first_with_prefix(b"x/") {
        Some(k) => k
            .get(2..10)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .is_some_and(|d| d <= now),
        None => false,
    }
}
