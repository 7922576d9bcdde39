//! Dead-server cleanup (Consul's autopilot): with `--autopilot-cleanup-dead AFTER`, the leader
//! removes a voter it has not heard from for longer than AFTER, through the same membership
//! change as `micro cluster remove` without `--force`, so a removal that would leave the
//! voters without a live quorum is refused and retried later.

use std::sync::Arc;
use std::time::{Duration, Instant};

use micro_raft::{Cluster, MembershipChange};
use tokio_util::sync::CancellationToken;

const INTERVAL: Duration = Duration::from_secs(1);

/// Runs until `stop`, acting only while this node leads.
pub async fn cleanup_dead(cluster: Arc<Cluster>, after: Duration, stop: CancellationToken) {
    let mut leading_since: Option<Instant> = None;
    let mut refused_logged = std::collections::BTreeSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
        if cluster.local_status().role != "leader" {
            leading_since = None;
            continue;
        }
        // Silence is only counted while this node leads: before, it sent nothing to hear from.
        let leading_for = leading_since.get_or_insert_with(Instant::now).elapsed();
        for id in cluster.voters() {
            if id == cluster.id() {
                continue;
            }
            let silent = cluster
                .since_reply(id)
                .map_or(leading_for, |d| d.min(leading_for));
            if silent <= after {
                refused_logged.remove(&id);
                continue;
            }
            let node = format!("{id:016x}");
            match cluster
                .change_members(MembershipChange::Remove { id, force: false })
                .await
            {
                Ok(()) => {
                    metrics::counter!("micro_autopilot_removed_total").increment(1);
                    tracing::warn!(%node, silent = ?silent, "autopilot removed a dead voter");
                }
                Err(e) => {
                    if refused_logged.insert(id) {
                        tracing::warn!(%node, error = %e, "autopilot could not remove a dead voter");
                    }
                }
            }
        }
    }
}
