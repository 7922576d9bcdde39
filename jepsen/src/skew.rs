//! Clock skew without touching the node's code: every node runs under libfaketime, which
//! offsets the wall clock (`CLOCK_REALTIME`, what entry timestamps, TTLs and token checks read)
//! by what a per-node file says, re-read every second. Monotonic time (timeouts, raft's
//! election timers and leases) is left alone, as a real skewed clock would leave it.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Where Debian's `libfaketime` package puts the multi-threaded preload library.
const LIBRARIES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
    "/usr/local/lib/faketime/libfaketimeMT.so.1",
];

/// The skew of every node's clock, set through one file per node.
#[derive(Debug)]
pub struct Skew {
    library: PathBuf,
    dir: PathBuf,
}

impl Skew {
    /// The preload library, or why this machine cannot skew clocks.
    pub fn available() -> Result<PathBuf, String> {
        LIBRARIES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| "libfaketime is not installed (apt-get install libfaketime)".into())
    }

    /// Clocks for `nodes` nodes, their offset files in `dir`, all starting at no offset.
    pub fn create(library: PathBuf, dir: &Path, nodes: usize) -> anyhow::Result<Skew> {
        let skew = Skew {
            library,
            dir: dir.to_owned(),
        };
        for i in 0..nodes {
            skew.set(i, 0)?;
        }
        Ok(skew)
    }

    fn file(&self, i: usize) -> PathBuf {
        self.dir.join(format!("n{i}.faketime"))
    }

    /// The command prefix that starts node `i` under its skewed clock.
    pub fn exec_prefix(&self, i: usize) -> Vec<String> {
        vec![
            "env".into(),
            format!("LD_PRELOAD={}", self.library.display()),
            format!("FAKETIME_TIMESTAMP_FILE={}", self.file(i).display()),
            "FAKETIME_CACHE_DURATION=1".into(),
            "DONT_FAKE_MONOTONIC=1".into(),
        ]
    }

    /// Sets node `i`'s wall clock `offset_s` seconds ahead (behind when negative) of the
    /// machine's; running nodes follow within a second.
    pub fn set(&self, i: usize, offset_s: i64) -> anyhow::Result<()> {
        let path = self.file(i);
        // libfaketime reads a leading sign as "relative to the real clock".
        std::fs::write(&path, format!("{offset_s:+}\n"))
            .with_context(|| format!("writing {}", path.display()))
    }
}
