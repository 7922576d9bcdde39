//! Disks that fill up: each node's data dir is a small tmpfs of its own, and the `full`
//! nemesis writes a filler file into one until the file system refuses more. Healing removes
//! the filler and restarts the node, as the runbook's "A disk is full" tells operators to.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use micro_tests::disk::{fill, Tmpfs};

/// Size of each node's tmpfs: far above what a short run stores, small enough to fill fast.
pub const SIZE: &str = "256m";
const FILLER: &str = "filler";

/// The mounted data dirs; unmounted when dropped.
#[derive(Debug)]
pub struct Disks {
    mounts: Vec<Tmpfs>,
}

impl Disks {
    /// Why this machine cannot mount the tmpfs disks, if it cannot: mounts a probe.
    pub fn available() -> Result<(), String> {
        let probe = tempfile::tempdir().map_err(|e| format!("a probe directory: {e}"))?;
        Tmpfs::mount(probe.path(), "1m")
            .map(drop)
            .map_err(|e| format!("cannot mount a tmpfs per node (needs root): {e:#}"))
    }

    /// Mounts one tmpfs at `dir/nI` for each of `nodes` nodes (the data dirs `Db` uses).
    pub fn create(dir: &Path, nodes: usize) -> anyhow::Result<Disks> {
        let mounts = (0..nodes)
            .map(|i| Tmpfs::mount(&dir.join(format!("n{i}")), SIZE))
            .collect::<anyhow::Result<_>>()?;
        Ok(Disks { mounts })
    }

    fn filler(&self, i: usize) -> anyhow::Result<PathBuf> {
        match self.mounts.get(i) {
            Some(m) => Ok(m.path().join(FILLER)),
            None => bail!("node {i} has no disk of its own"),
        }
    }

    /// Fills node `i`'s disk; returns the bytes written.
    pub fn fill(&self, i: usize) -> anyhow::Result<u64> {
        let path = self.filler(i)?;
        fill(&path).with_context(|| format!("filling {}", path.display()))
    }

    /// Frees node `i`'s disk again.
    pub fn drain(&self, i: usize) -> anyhow::Result<()> {
        let path = self.filler(i)?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", path.display()))
            }
            _ => Ok(()),
        }
    }
}
