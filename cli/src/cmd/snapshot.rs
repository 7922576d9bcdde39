//! `micro snapshot save FILE` streams a consistent snapshot of the whole replicated state from
//! any node into a backup file (with a progress bar on a terminal); `micro snapshot inspect
//! FILE` checks one and prints its index, term, size, checksum and what it holds.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use micro_node::backup::{self, Backup, Header};
use micro_proto::cluster::cluster_client::ClusterClient;
use micro_proto::cluster::SnapshotRequest;

use super::root::{unknown_subcommand, Globals};
use crate::client::RpcError;
use crate::output;
use crate::table::Table;

/// Sizes from which `save` shows a progress bar (on a terminal).
const PROGRESS_FROM: u64 = 1024 * 1024;

/// `micro snapshot COMMAND`.
#[derive(Debug, Clone, Args)]
pub struct SnapshotArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SnapshotCommand,
}

/// Subcommands of `micro snapshot`.
#[derive(Debug, Clone, Subcommand)]
pub enum SnapshotCommand {
    /// Save a consistent snapshot of the whole cluster state to FILE
    Save {
        /// Where to write it (replaced only once the snapshot is complete)
        file: PathBuf,
    },
    /// Check a snapshot file and print what it holds
    Inspect {
        /// The file
        file: PathBuf,
    },
    /// Anything else is an error.
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

/// Runs one `micro snapshot …` command.
pub async fn run(args: SnapshotArgs, globals: &Globals) -> Result<()> {
    match args.command {
        SnapshotCommand::Save { file } => save(&file, globals).await,
        SnapshotCommand::Inspect { file } => inspect(&file),
        SnapshotCommand::Unknown(words) => bail!(unknown_subcommand("snapshot", &words)),
    }
}

async fn save(file: &Path, globals: &Globals) -> Result<()> {
    let client = globals.client().await?;
    let channel = client.channel().await?;
    let mut stream = ClusterClient::new(channel)
        .snapshot(client.request(SnapshotRequest {}))
        .await
        .map_err(|s| RpcError::from_status(&s))?
        .into_inner();
    let first = stream
        .message()
        .await
        .map_err(|s| RpcError::from_status(&s))?
        .and_then(|c| c.info)
        .context("the server sent no snapshot description")?;
    let header = Header::from(&first);
    let partial = file.with_extension("partial");
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&partial)
            .with_context(|| format!("creating {}", partial.display()))?,
    );
    backup::write_header(&mut out, &header)?;
    let bar = (header.size >= PROGRESS_FROM
        && std::io::IsTerminal::is_terminal(&std::io::stderr()))
    .then(|| indicatif::ProgressBar::new(header.size));
    let mut written = 0u64;
    while let Some(chunk) = stream
        .message()
        .await
        .map_err(|s| RpcError::from_status(&s))?
    {
        out.write_all(&chunk.data)?;
        written += chunk.data.len() as u64;
        if let Some(bar) = &bar {
            bar.set_position(written);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let file_handle = out.into_inner().map_err(|e| e.into_error())?;
    file_handle.sync_all()?;
    drop(file_handle);
    if written != header.size {
        let _ = std::fs::remove_file(&partial);
        bail!(
            "the snapshot stream ended after {written} of {} bytes",
            header.size
        );
    }
    // Check what was written before it replaces anything.
    if let Err(e) = Backup::read(&partial) {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, file).with_context(|| format!("writing {}", file.display()))?;
    output::print(format!(
        "Snapshot saved to {}: index {}, term {}, {} bytes, sha256 {}\n",
        file.display(),
        header.index,
        header.term,
        header.size,
        header.sha256
    ));
    Ok(())
}

fn inspect(file: &Path) -> Result<()> {
    let b = Backup::read(file)?;
    let mut t = Table::with_header(&["FIELD", "VALUE"]);
    for (k, v) in [
        ("index", b.header.index.to_string()),
        ("term", b.header.term.to_string()),
        ("size", b.header.size.to_string()),
        ("sha256", b.header.sha256.clone()),
        ("node", b.header.node_id.clone()),
        ("config key sha256", b.header.config_key_sha256.clone()),
    ] {
        t.row(vec![k.into(), v]);
    }
    for (what, n) in b.census() {
        t.row(vec![what.into(), n.to_string()]);
    }
    output::print(t.render());
    Ok(())
}
