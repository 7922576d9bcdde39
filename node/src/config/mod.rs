//! Server configuration: a plain struct with defaults, validated once into [`ValidConfig`].
//!
//! `cli` owns the clap flags and converts them into [`Config`]; the node never sees clap.

mod defaults;

pub use defaults::*;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// What `micro server` was asked to do, before validation.
#[derive(Clone)]
pub struct Config {
    /// Where raft state, certificates and the join token live.
    pub data_dir: PathBuf,
    /// HTTP API gateway listen address (Micro's `:8080`).
    pub api_address: String,
    /// gRPC proxy listen address (Micro's `:8081`).
    pub proxy_address: String,
    /// QUIC peer listen address.
    pub peer_address: String,
    /// Admin listen address: health, readiness and metrics.
    pub admin_address: String,
    /// The peer address other nodes dial, when it differs from the listen address.
    pub advertise_address: Option<String>,
    /// Peer address of any member to join; `None` bootstraps (or restarts) a cluster.
    pub join: Option<String>,
    /// The cluster join token (`MICRO_JOIN_TOKEN`).
    pub join_token: Option<SecretArg>,
    /// Log entries between snapshots; the log is purged behind each snapshot.
    pub snapshot_threshold: u64,
    /// The AES-256 key for config secrets, base64 (`MICRO_CONFIG_SECRET_KEY`); generated at
    /// bootstrap and shared with joiners when not given.
    pub config_secret_key: Option<SecretArg>,
    /// Never create the default `admin` account (`MICRO_AUTH_DISABLE_ADMIN`).
    pub disable_admin: bool,
    /// Join as a learner (a non-voting replica) that is never promoted automatically.
    pub learner: bool,
    /// Remove a voter the leader has not heard from for this long, when the voters left keep
    /// a live quorum (Consul's autopilot dead-server cleanup); `None` never does.
    pub autopilot_cleanup_dead: Option<std::time::Duration>,
    /// Restart this member's data dir as a one-voter cluster keeping every entry it has
    /// (recovery from a permanently lost quorum).
    pub force_new_cluster: bool,
}

/// A secret as given on the command line (join token, key); redacted in `Debug`.
#[derive(Clone)]
pub struct SecretArg(pub String);

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretArg([redacted])")
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("api_address", &self.api_address)
            .field("proxy_address", &self.proxy_address)
            .field("peer_address", &self.peer_address)
            .field("admin_address", &self.admin_address)
            .field("advertise_address", &self.advertise_address)
            .field("join", &self.join)
            .field("join_token", &self.join_token)
            .field("snapshot_threshold", &self.snapshot_threshold)
            .field(
                "config_secret_key",
                &self.config_secret_key.as_ref().map(|_| "[redacted]"),
            )
            .field("disable_admin", &self.disable_admin)
            .field("learner", &self.learner)
            .field("autopilot_cleanup_dead", &self.autopilot_cleanup_dead)
            .field("force_new_cluster", &self.force_new_cluster)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: default_data_dir(),
            api_address: DEFAULT_API_ADDRESS.into(),
            proxy_address: DEFAULT_PROXY_ADDRESS.into(),
            peer_address: DEFAULT_PEER_ADDRESS.into(),
            admin_address: DEFAULT_ADMIN_ADDRESS.into(),
            advertise_address: None,
            join: None,
            join_token: None,
            snapshot_threshold: DEFAULT_SNAPSHOT_THRESHOLD,
            config_secret_key: None,
            disable_admin: false,
            learner: false,
            autopilot_cleanup_dead: None,
            force_new_cluster: false,
        }
    }
}

/// Why a [`Config`] was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An address did not parse.
    #[error("invalid {flag} {value:?}: expected HOST:PORT or :PORT")]
    Address {
        /// The flag name.
        flag: &'static str,
        /// What was given.
        value: String,
    },
    /// `--join` without a token.
    #[error("--join needs --join-token (or MICRO_JOIN_TOKEN)")]
    MissingJoinToken,
    /// A zero snapshot threshold.
    #[error("--snapshot-threshold must be at least 1")]
    SnapshotThreshold,
    /// `--force-new-cluster` restarts a member alone; it cannot also join one.
    #[error("--force-new-cluster cannot be combined with --join")]
    ForceNewClusterWithJoin,
    /// A dead-server threshold short enough to remove a merely slow voter.
    #[error("--autopilot-cleanup-dead must be at least {MIN_AUTOPILOT_CLEANUP_DEAD:?} (several election timeouts)")]
    AutopilotCleanupDead,
    /// The config secret key is not base64 of 32 bytes.
    #[error("--config-secret-key must be the base64 of 32 bytes")]
    ConfigSecretKey,
}

/// A [`Config`] whose addresses parsed.
#[derive(Debug, Clone)]
pub struct ValidConfig {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Gateway bind address.
    pub api_address: SocketAddr,
    /// Proxy bind address.
    pub proxy_address: SocketAddr,
    /// Peer bind address.
    pub peer_address: SocketAddr,
    /// Admin bind address.
    pub admin_address: SocketAddr,
    /// Peer address advertised to other members.
    pub advertise_address: SocketAddr,
    /// Join target, with its token.
    pub join: Option<(String, SecretArg)>,
    /// Snapshot threshold.
    pub snapshot_threshold: u64,
    /// The decoded config secret key, when given.
    pub config_secret_key: Option<SecretKey>,
    /// Never create the default `admin` account.
    pub disable_admin: bool,
    /// Join as a learner.
    pub learner: bool,
    /// Dead-server cleanup threshold.
    pub autopilot_cleanup_dead: Option<std::time::Duration>,
    /// Found a one-voter cluster from this data dir.
    pub force_new_cluster: bool,
}

/// A 32-byte key; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(pub Vec<u8>);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl Config {
    /// Parses addresses and checks flag combinations.
    pub fn validate(self) -> Result<ValidConfig, ConfigError> {
        let api_address = parse_addr("--api-address", &self.api_address)?;
        let proxy_address = parse_addr("--proxy-address", &self.proxy_address)?;
        let peer_address = parse_addr("--peer-address", &self.peer_address)?;
        let admin_address = parse_addr("--admin-address", &self.admin_address)?;
        let advertise_address = match &self.advertise_address {
            Some(a) => parse_addr("--advertise-address", a)?,
            None => advertised(peer_address),
        };
        if self.force_new_cluster && self.join.is_some() {
            return Err(ConfigError::ForceNewClusterWithJoin);
        }
        let join = match (self.join, self.join_token) {
            (Some(j), Some(t)) => Some((j, t)),
            (Some(_), None) => return Err(ConfigError::MissingJoinToken),
            (None, _) => None,
        };
        if self.snapshot_threshold == 0 {
            return Err(ConfigError::SnapshotThreshold);
        }
        if self
            .autopilot_cleanup_dead
            .is_some_and(|d| d < MIN_AUTOPILOT_CLEANUP_DEAD)
        {
            return Err(ConfigError::AutopilotCleanupDead);
        }
        let config_secret_key = match &self.config_secret_key {
            None => None,
            Some(b64) => {
                use base64::Engine;
                let key = base64::engine::general_purpose::STANDARD
                    .decode(b64.0.trim())
                    .map_err(|_| ConfigError::ConfigSecretKey)?;
                if key.len() != 32 {
                    return Err(ConfigError::ConfigSecretKey);
                }
                Some(SecretKey(key))
            }
        };
        Ok(ValidConfig {
            data_dir: self.data_dir,
            api_address,
            proxy_address,
            peer_address,
            admin_address,
            advertise_address,
            join,
            snapshot_threshold: self.snapshot_threshold,
            config_secret_key,
            disable_admin: self.disable_admin,
            learner: self.learner,
            autopilot_cleanup_dead: self.autopilot_cleanup_dead,
            force_new_cluster: self.force_new_cluster,
        })
    }
}

/// Parses `HOST:PORT` or Micro's `:PORT` (all interfaces).
pub fn parse_addr(flag: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    let full = if value.starts_with(':') {
        format!("0.0.0.0{value}")
    } else {
        value.to_owned()
    };
    full.parse().map_err(|_| ConfigError::Address {
        flag,
        value: value.to_owned(),
    })
}

/// The address others should dial for a listener bound to `bound`: a wildcard bind advertises
/// loopback, which is right for one host; multi-host deployments pass `--advertise-address`.
pub fn advertised(bound: SocketAddr) -> SocketAddr {
    if bound.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), bound.port())
    } else {
        bound
    }
}
