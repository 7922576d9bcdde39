//! Disks that fill up: each node's data dir is a small tmpfs of its own, and the `full`
//! nemesis writes a filler file into one until the file system refuses more. Healing removes
//! the filler and restarts the node, as the runbook's "A disk is full" tells operators to.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// Size of each node's tmpfs: far above what a short run stores, small enough to fill fast.
pub const SIZE: &str = "256m";
const FILLER: &str = "filler";

/// The mounted data dirs; unmounted (lazily, a process may still hold one) on drop.
#[derive(Debug)]
pub struct Disks {
    mounts: Vec<PathBuf>,
}

impl Disks {
    /// Why this machine cannot mount the tmpfs disks, if it cannot: mounts a probe and
    /// unmounts it.
    pub fn available() -> Result<(), String> {
        let probe = tempfile::tempdir().map_err(|e| format!("a probe directory: {e}"))?;
        mount(probe.path())
            .map_err(|e| format!("cannot mount a tmpfs per node (needs root): {e}"))?;
        let _ = Command::new("umount").arg(probe.path()).status();
        Ok(())
    }

    /// Mounts one tmpfs at `dir/nI` for each of `nodes` nodes (the data dirs `Db` uses).
    pub fn create(dir: &Path, nodes: usize) -> anyhow::Result<Disks> {
        let mut disks = Disks { mounts: Vec::new() };
        for i in 0..nodes {
            let at = dir.join(format!("n{i}"));
            std::fs::create_dir_all(&at)?;
            mount(&at)?;
            disks.mounts.push(at);
        }
        Ok(disks)
    }

    fn filler(&self, i: usize) -> anyhow::Result<PathBuf> {
        match self.mounts.get(i) {
            Some(m) => Ok(m.join(FILLER)),
            None => bail!("node {i} has no disk of its own"),
        }
    }

    /// Fills node `i`'s disk: writes zeros into a filler file until the file system is full.
    /// Returns the bytes written.
    pub fn fill(&self, i: usize) -> anyhow::Result<u64> {
        let path = self.filler(i)?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        let chunk = vec![0u8; 1 << 20];
        let mut written = 0u64;
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => return Err(e).context("filling the disk"),
            }
        }
        Ok(written)
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

fn mount(at: &Path) -> anyhow::Result<()> {
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={SIZE}"), "tmpfs"])
        .arg(at)
        .output()
        .context("running mount")?;
    if !out.status.success() {
        bail!(
            "mounting a tmpfs at {}: {}",
            at.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Drop for Disks {
    fn drop(&mut self) {
        for m in &self.mounts {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}
