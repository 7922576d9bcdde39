//! `micro server`: flags (each with a `MICRO_*` env var) → `micro_node::Config`, logging, signals.
//!
//! The node runs until SIGINT or SIGTERM cancels the root token, then shuts down gracefully;
//! a second signal exits at once.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use micro_node::config::{
    default_data_dir, DEFAULT_ADMIN_ADDRESS, DEFAULT_API_ADDRESS, DEFAULT_PEER_ADDRESS,
    DEFAULT_PROXY_ADDRESS, DEFAULT_SNAPSHOT_THRESHOLD,
};
use micro_node::{Config, SecretArg};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::EnvFilter;

/// Flags of `micro server`.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Where raft state, certificates and the join token live [default: the platform data
    /// directory, e.g. ~/.local/share/micro]
    #[arg(long, env = "MICRO_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTP API gateway listen address
    #[arg(long, env = "MICRO_API_ADDRESS", default_value = DEFAULT_API_ADDRESS)]
    pub api_address: String,
    /// gRPC proxy listen address (what `micro env` entries point at)
    #[arg(long, env = "MICRO_PROXY_ADDRESS", default_value = DEFAULT_PROXY_ADDRESS)]
    pub proxy_address: String,
    /// Node-to-node (QUIC) listen address
    #[arg(long, env = "MICRO_PEER_ADDRESS", default_value = DEFAULT_PEER_ADDRESS)]
    pub peer_address: String,
    /// Admin listen address: /health, /ready and /metrics (Prometheus)
    #[arg(long, env = "MICRO_ADMIN_ADDRESS", default_value = DEFAULT_ADMIN_ADDRESS)]
    pub admin_address: String,
    /// Peer address other nodes dial, when it differs from --peer-address (an IP or a DNS
    /// name, e.g. node1:8085)
    #[arg(long, env = "MICRO_ADVERTISE_ADDRESS", value_name = "HOST:PORT")]
    pub advertise_address: Option<String>,
    /// Peer address of any cluster member to join; without it the node bootstraps or restarts
    #[arg(long, env = "MICRO_JOIN", value_name = "HOST:PORT")]
    pub join: Option<String>,
    /// The cluster's join token (printed by the first node); without --join, the token to
    /// bootstrap with (it must pin --ca-cert)
    #[arg(
        long,
        env = "MICRO_JOIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub join_token: Option<String>,
    /// Log entries between snapshots
    #[arg(long, env = "MICRO_SNAPSHOT_THRESHOLD", default_value_t = DEFAULT_SNAPSHOT_THRESHOLD)]
    pub snapshot_threshold: u64,
    /// AES-256 key for config secrets, base64 of 32 bytes [default: generated at bootstrap and
    /// shared with joining nodes]
    #[arg(
        long,
        env = "MICRO_CONFIG_SECRET_KEY",
        hide_env_values = true,
        value_name = "BASE64"
    )]
    pub config_secret_key: Option<String>,
    /// Never create the default admin account (admin/micro) in namespace micro
    #[arg(long, env = "MICRO_AUTH_DISABLE_ADMIN")]
    pub disable_admin: bool,
    /// With --join: stay a learner (a non-voting replica) until `micro cluster promote`
    #[arg(long, env = "MICRO_LEARNER")]
    pub learner: bool,
    /// PEM file of the cluster CA to bootstrap with instead of generating one, so a join token
    /// can be made in advance (scripts/cluster-secrets.sh); others must hold the same CA
    #[arg(long, env = "MICRO_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// PEM file of that CA's private key
    #[arg(long, env = "MICRO_CA_KEY", value_name = "FILE")]
    pub ca_key: Option<PathBuf>,
    /// Remove a voter the leader has not heard from for this long (e.g. 10m), if the voters
    /// left keep a live quorum; off by default
    #[arg(long, env = "MICRO_AUTOPILOT_CLEANUP_DEAD", value_name = "AFTER", value_parser = humantime::parse_duration)]
    pub autopilot_cleanup_dead: Option<std::time::Duration>,
    /// Lost quorum for good: restart this member's data dir as a one-voter cluster that keeps
    /// every entry it has; then wipe the other members and join them again
    #[arg(long)]
    pub force_new_cluster: bool,
    /// Found a new one-node cluster holding the state of this backup (`micro snapshot save`);
    /// needs an empty --data-dir and the old cluster's --config-secret-key
    #[arg(long, value_name = "FILE")]
    pub restore: Option<PathBuf>,
    /// Log line format (filter with RUST_LOG, default info)
    #[arg(long, env = "MICRO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Not accepted: `micro server` takes flags only.
    #[arg(hide = true)]
    pub extra: Vec<String>,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl TryFrom<ServerArgs> for Config {
    type Error = anyhow::Error;

    fn try_from(args: ServerArgs) -> Result<Config> {
        if !args.extra.is_empty() {
            bail!(
                "micro server takes no arguments, got: {}. Please refer to 'micro server --help'",
                args.extra.join(" ")
            );
        }
        let nonempty = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(Config {
            data_dir: args.data_dir.unwrap_or_else(default_data_dir),
            api_address: args.api_address,
            proxy_address: args.proxy_address,
            peer_address: args.peer_address,
            admin_address: args.admin_address,
            advertise_address: nonempty(args.advertise_address),
            join: nonempty(args.join),
            join_token: nonempty(args.join_token).map(SecretArg),
            snapshot_threshold: args.snapshot_threshold,
            config_secret_key: nonempty(args.config_secret_key).map(SecretArg),
            disable_admin: args.disable_admin,
            learner: args.learner,
            ca_cert: args.ca_cert.filter(|p| !p.as_os_str().is_empty()),
            ca_key: args.ca_key.filter(|p| !p.as_os_str().is_empty()),
            autopilot_cleanup_dead: args.autopilot_cleanup_dead,
            force_new_cluster: args.force_new_cluster,
            restore: args.restore,
        })
    }
}

/// Runs the server until SIGINT/SIGTERM.
pub async fn run(args: ServerArgs) -> Result<()> {
    let format = args.log_format;
    let config = Config::try_from(args)?;
    init_logging(format)?;
    let stop = CancellationToken::new();
    let signals = tokio::spawn(cancel_on_signal(stop.clone()));
    let result = micro_node::run(config, stop).await;
    signals.abort();
    result
}

/// Log filter when RUST_LOG is unset: openraft narrates every election and membership step at
/// `info`, which drowns the server's own lines.
const DEFAULT_LOG_FILTER: &str = "info,openraft=warn";

/// Installs the tracing subscriber: RUST_LOG filter (default [`DEFAULT_LOG_FILTER`]), stderr,
/// text or JSON; colours only on a terminal, so files and journald get plain lines.
fn init_logging(format: LogFormat) -> Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) => EnvFilter::builder()
            .with_default_directive(LevelFilter::INFO.into())
            .parse(spec)
            .context("invalid RUST_LOG")?,
        Err(_) => EnvFilter::new(DEFAULT_LOG_FILTER),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

/// Cancels `stop` on the first SIGINT or SIGTERM; exits the process on the second.
async fn cancel_on_signal(stop: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut int, mut term) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot install signal handlers; stop with SIGKILL");
            return;
        }
    };
    tokio::select! {
        _ = int.recv() => tracing::info!(signal = "SIGINT", "shutting down"),
        _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutting down"),
    }
    stop.cancel();
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    tracing::warn!("second signal: exiting without waiting for a graceful shutdown");
    std::process::exit(130);
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// A stand-alone parser around the flags, so tests need not go through the root command.
    #[derive(Debug, Parser)]
    struct Harness {
        #[command(flatten)]
        server: ServerArgs,
    }

    fn config(args: &[&str]) -> Result<Config> {
        let parsed =
            Harness::try_parse_from(std::iter::once("server").chain(args.iter().copied()))?;
        Config::try_from(parsed.server)
    }

    /// Serialises the tests that read or write `MICRO_*` variables of this process.
    static ENV_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn defaults_match_the_node_constants() {
        let _guard = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // Only meaningful when the developer has not exported MICRO_* variables.
        if std::env::vars().any(|(k, _)| k.starts_with("MICRO_")) {
            return;
        }
        let c = config(&[]).unwrap();
        let d = Config::default();
        assert_eq!(c.api_address, d.api_address);
        assert_eq!(c.proxy_address, ":8081");
        assert_eq!(c.peer_address, ":8085");
        assert_eq!(c.snapshot_threshold, 10_000);
        assert_eq!(c.data_dir, d.data_dir);
        assert!(c.join.is_none() && c.join_token.is_none() && c.advertise_address.is_none());
    }

    #[test]
    fn flags_convert_into_config() {
        let _guard = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let c = config(&[
            "--data-dir",
            "/tmp/d",
            "--api-address",
            "127.0.0.1:1",
            "--proxy-address=:2",
            "--peer-address",
            ":3",
            "--advertise-address",
            "10.0.0.1:3",
            "--join",
            "10.0.0.2:8085",
            "--join-token",
            "sekrit",
            "--snapshot-threshold",
            "5",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/tmp/d"));
        assert_eq!(c.api_address, "127.0.0.1:1");
        assert_eq!(c.proxy_address, ":2");
        assert_eq!(c.peer_address, ":3");
        assert_eq!(c.advertise_address.as_deref(), Some("10.0.0.1:3"));
        assert_eq!(c.join.as_deref(), Some("10.0.0.2:8085"));
        assert_eq!(c.join_token.map(|t| t.0).as_deref(), Some("sekrit"));
        assert_eq!(c.snapshot_threshold, 5);
    }

    #[test]
    fn env_vars_are_read() {
        let _guard = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let vars = [
            ("MICRO_DATA_DIR", "/tmp/from-env"),
            ("MICRO_API_ADDRESS", "127.0.0.1:18080"),
            ("MICRO_PROXY_ADDRESS", ":18081"),
            ("MICRO_PEER_ADDRESS", ":18085"),
            ("MICRO_ADVERTISE_ADDRESS", "10.0.0.9:18085"),
            ("MICRO_JOIN", "10.0.0.1:8085"),
            ("MICRO_JOIN_TOKEN", "from-env"),
            ("MICRO_SNAPSHOT_THRESHOLD", "42"),
            ("MICRO_LOG_FORMAT", "json"),
            ("MICRO_CA_CERT", "/run/secrets/ca.pem"),
            ("MICRO_CA_KEY", "/run/secrets/ca.key"),
        ];
        for (k, v) in vars {
            std::env::set_var(k, v);
        }
        let parsed = Harness::try_parse_from(["server"]);
        let flag_wins = config(&["--snapshot-threshold", "7"]);
        for (k, _) in vars {
            std::env::remove_var(k);
        }
        let parsed = parsed.unwrap();
        assert_eq!(parsed.server.log_format, LogFormat::Json);
        let c = Config::try_from(parsed.server).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/tmp/from-env"));
        assert_eq!(c.api_address, "127.0.0.1:18080");
        assert_eq!(c.proxy_address, ":18081");
        assert_eq!(c.peer_address, ":18085");
        assert_eq!(c.advertise_address.as_deref(), Some("10.0.0.9:18085"));
        assert_eq!(c.join.as_deref(), Some("10.0.0.1:8085"));
        assert_eq!(c.join_token.map(|t| t.0).as_deref(), Some("from-env"));
        assert_eq!(c.snapshot_threshold, 42);
        assert_eq!(c.ca_cert, Some(PathBuf::from("/run/secrets/ca.pem")));
        assert_eq!(c.ca_key, Some(PathBuf::from("/run/secrets/ca.key")));
        assert_eq!(flag_wins.unwrap().snapshot_threshold, 7);
    }

    #[test]
    fn extra_positionals_and_blank_values() {
        let _guard = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let err = config(&["oops"]).unwrap_err();
        assert!(err.to_string().contains("takes no arguments, got: oops"));
        let c = config(&["--join", " ", "--join-token", ""]).unwrap();
        assert!(c.join.is_none() && c.join_token.is_none());
        assert!(config(&["--snapshot-threshold", "many"]).is_err());
        assert!(config(&["--log-format", "xml"]).is_err());
    }
}
