//! `micro server --restore FILE`: founds a new one-node cluster holding a backup's state. The
//! file is checked whole and the config key compared with the one that sealed its secrets
//! before anything is written; the pairs then go through the log in chunks. A marker file
//! makes a restore that was interrupted refuse to start instead of serving half a state.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use micro_raft::Cluster;
use micro_state_machine::kv::Pair;
use micro_state_machine::restore::{RestoreCommand, RestoreResponse};
use micro_state_machine::{Command, Response};
use sha2::{Digest, Sha256};

use crate::backup::Backup;
use crate::config::ValidConfig;

/// Bytes of pairs per log entry.
const CHUNK_BYTES: usize = 1024 * 1024;
/// Present while a restore has not finished.
const MARKER: &str = "restore-pending";

/// A checked backup, ready to load once the new cluster runs.
pub struct Pending {
    backup: Backup,
    file: PathBuf,
    marker: PathBuf,
}

/// Refuses to start on a data dir whose restore never finished.
pub fn check_unfinished(data_dir: &Path) -> Result<()> {
    if data_dir.join(MARKER).exists() {
        bail!(
            "a --restore into {} did not finish; empty the data dir and run the restore again",
            data_dir.display()
        );
    }
    Ok(())
}

/// Checks everything a restore needs before the cluster is founded.
pub fn prepare(cfg: &ValidConfig, file: &Path) -> Result<Pending> {
    let empty = match std::fs::read_dir(&cfg.data_dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(e).context("reading --data-dir"),
    };
    if !empty {
        bail!(
            "--restore needs an empty --data-dir; {} holds data",
            cfg.data_dir.display()
        );
    }
    let backup = Backup::read(file)?;
    let wanted = &backup.header.config_key_sha256;
    if !wanted.is_empty() {
        let given = cfg
            .config_secret_key
            .as_ref()
            .map(|k| hex::encode(Sha256::digest(&k.0)));
        if given.as_deref() != Some(wanted.as_str()) {
            bail!(
                "the backup's secrets are sealed with the config key whose SHA-256 is {wanted}; \
                 start with that key as --config-secret-key (the old cluster's flag, or the hex \
                 on the config-secret-key line of tls/shared-secrets in an old member's data dir)"
            );
        }
    }
    std::fs::create_dir_all(&cfg.data_dir)?;
    let marker = cfg.data_dir.join(MARKER);
    std::fs::write(&marker, file.display().to_string())?;
    Ok(Pending {
        backup,
        file: file.to_owned(),
        marker,
    })
}

/// Loads the backup into the new cluster through the log, then clears the marker.
pub async fn load(pending: Pending, cluster: &Cluster) -> Result<()> {
    let mut chunk: Vec<Pair> = Vec::new();
    let (mut size, mut first, mut total) = (0usize, true, 0u64);
    let pairs = pending.backup.pairs;
    let mut iter = pairs.into_iter().peekable();
    while let Some(pair) = iter.next() {
        size += pair.0.len() + pair.1.len();
        chunk.push(pair);
        if size >= CHUNK_BYTES || iter.peek().is_none() {
            total += propose(cluster, first, std::mem::take(&mut chunk)).await?;
            first = false;
            size = 0;
        }
    }
    if first {
        // An empty backup still replaces whatever the new cluster made at start.
        propose(cluster, true, Vec::new()).await?;
    }
    std::fs::remove_file(&pending.marker)?;
    tracing::info!(
        file = %pending.file.display(),
        pairs = total,
        old_index = pending.backup.header.index,
        "restored a backup into a new cluster"
    );
    Ok(())
}

async fn propose(cluster: &Cluster, clear: bool, pairs: Vec<Pair>) -> Result<u64> {
    let cmd = Command::Restore(RestoreCommand::Load { clear, pairs });
    match cluster.write(cmd).await? {
        Response::Restore(RestoreResponse::Loaded { count }) => Ok(count),
        Response::Restore(RestoreResponse::Refused(why)) => bail!("the restore was refused: {why}"),
        other => bail!("a restore chunk produced {other:?}"),
    }
}
