//! The retention worker: the leader proposes `Trim` when some topic holds events its retention
//! no longer keeps, so they leave every replica through the log, judged by the entry's time.

use std::sync::Arc;
use std::time::Duration;

use micro_raft::Cluster;
use micro_state_machine::events::{trim_due, EventsCommand, MAX_TRIM_PER_ENTRY};
use micro_state_machine::Command;
use tokio_util::sync::CancellationToken;

const INTERVAL: Duration = Duration::from_secs(1);

/// Runs until `stop`; proposes trims only while this node leads.
pub async fn trim_events(cluster: Arc<Cluster>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
        if cluster.local_status().role != "leader" {
            continue;
        }
        match trim_due(cluster.reader(), micro_raft::now_ms()) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "could not check event retention");
                continue;
            }
        }
        let trim = EventsCommand::Trim {
            limit: MAX_TRIM_PER_ENTRY,
        };
        if let Err(e) = cluster.write(Command::Events(trim)).await {
            tracing::debug!(error = %e, "event trim not proposed");
        }
    }
}
