//! Small disks that fill up, for the tests and jepsen nemeses that exercise a full disk: a
//! tmpfs mounted for as long as a value lives, and a filler that writes until it is full.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// A tmpfs mounted at a directory, unmounted (lazily, a process may still hold it) on drop.
#[derive(Debug)]
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `64m`) at `at`, creating the directory; fails with the
    /// reason where mounting is not permitted (it needs root).
    pub fn mount(at: &Path, size: &str) -> anyhow::Result<Tmpfs> {
        std::fs::create_dir_all(at)?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
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
        Ok(Tmpfs(at.to_owned()))
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Appends zeros to `file` until its file system is full; returns the bytes written.
pub fn fill(file: &Path) -> std::io::Result<u64> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    let chunk = vec![0u8; 1 << 20];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => return Ok(written),
            Ok(n) => written += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => return Ok(written),
            Err(e) => return Err(e),
        }
    }
}
