//! Locating the `micro` binary: `MICRO_BIN`, else the workspace's `target/{debug,release}`.

use std::path::PathBuf;

/// Path of the `micro` binary under test. `cargo test --workspace` builds it (the `micro-cli`
/// package has integration tests), so it exists whenever the workspace's tests run.
pub fn micro_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("MICRO_BIN") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    for profile in ["debug", "release"] {
        let p = target.join(profile).join("micro");
        if p.exists() {
            return p;
        }
    }
    panic!(
        "micro binary not found under {}: run `cargo build` first or set MICRO_BIN",
        target.display()
    );
}
