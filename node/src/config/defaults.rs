//! Default values of the server flags, shared with clap's `default_value`.

use std::path::PathBuf;

/// Micro's API gateway port.
pub const DEFAULT_API_ADDRESS: &str = ":8080";
/// Micro's gRPC proxy port.
pub const DEFAULT_PROXY_ADDRESS: &str = ":8081";
/// Peer (QUIC) port, as Micro v3's network service peer port.
pub const DEFAULT_PEER_ADDRESS: &str = ":8085";
/// Admin listener: `/health`, `/ready`, `/metrics` (and later the dashboard).
pub const DEFAULT_ADMIN_ADDRESS: &str = ":8082";
/// Log entries between snapshots.
pub const DEFAULT_SNAPSHOT_THRESHOLD: u64 = 10_000;

/// The platform data directory (`~/.local/share/micro` on Linux), never /tmp.
pub fn default_data_dir() -> PathBuf {
    dirs::data_local_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(|| PathBuf::from("."))
        .join("micro")
}

/// Shortest `--autopilot-cleanup-dead` accepted: several election timeouts, so a voter that
/// is only slow or briefly partitioned is not removed.
pub const MIN_AUTOPILOT_CLEANUP_DEAD: std::time::Duration = std::time::Duration::from_secs(3);
