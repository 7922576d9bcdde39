//! The reseal worker: after a key rotation the leader re-encrypts, one compare-and-set at a
//! time, every secret not sealed by the active key, then drops keys nothing uses any more.
//! Reads never wait for it: secrets open with whichever key sealed them.

use std::sync::Arc;
use std::time::Duration;

use micro_raft::Cluster;
use micro_state_machine::config::{self, ConfigCommand};
use micro_state_machine::Command;
use tokio_util::sync::CancellationToken;

use super::Keys;

const INTERVAL: Duration = Duration::from_secs(1);
/// Secrets resealed per round, so a rotation never floods the log.
const BATCH: usize = 100;

/// Runs until `stop`; works only while this node leads.
pub async fn reseal_secrets(cluster: Arc<Cluster>, keys: Keys, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
        if cluster.local_status().role != "leader" {
            continue;
        }
        if let Err(e) = round(&cluster, &keys).await {
            tracing::warn!(error = %e, "resealing config secrets failed; retrying");
        }
    }
}

async fn round(cluster: &Cluster, keys: &Keys) -> anyhow::Result<()> {
    let ring = keys.ring()?;
    let Some(active_id) = ring.active.clone() else {
        return Ok(());
    };
    let active = keys.active()?;
    let stale: Vec<_> = config::sealed_leaves(cluster.reader())?
        .into_iter()
        .filter(|leaf| leaf.secret.key_id != active_id)
        .take(BATCH)
        .collect();
    for leaf in stale {
        let plain = keys.open(&leaf.secret)?;
        let cmd = ConfigCommand::Reseal {
            namespace: leaf.namespace,
            segments: leaf.segments,
            to: active.seal(&plain),
            from: leaf.secret,
        };
        cluster.write(Command::Config(cmd)).await?;
    }
    let usage = config::usage(cluster.reader())?;
    for id in ring.keys.keys().filter(|id| **id != active_id) {
        if usage.get(id).copied().unwrap_or(0) == 0 {
            let cmd = ConfigCommand::DropKey { key_id: id.clone() };
            cluster.write(Command::Config(cmd)).await?;
            tracing::info!(key = %id, "dropped a config key no secret uses any more");
        }
    }
    Ok(())
}
