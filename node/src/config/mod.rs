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
    /// The peer address other nodes dial, when it differs from the listen address: `IP:PORT`
    /// or `HOST:PORT` (a DNS name, resolved whenever a peer dials it).
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
    /// PEM file of a cluster CA certificate to bootstrap with instead of generating one
    /// (`MICRO_CA_CERT`), so a join token can be made before the cluster exists.
    pub ca_cert: Option<PathBuf>,
    /// PEM file of that CA's private key (`MICRO_CA_KEY`).
    pub ca_key: Option<PathBuf>,
    /// Remove a voter the leader has not heard from for this long, when the voters left keep
    /// a live quorum (Consul's autopilot dead-server cleanup); `None` never does.
    pub autopilot_cleanup_dead: Option<std::time::Duration>,
    /// Restart this member's data dir as a one-voter cluster keeping every entry it has
    /// (recovery from a permanently lost quorum).
    pub force_new_cluster: bool,
    /// Found a new one-node cluster holding the state of this backup file.
    pub restore: Option<PathBuf>,
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
            .field("ca_cert", &self.ca_cert)
            .field("ca_key", &self.ca_key)
            .field("autopilot_cleanup_dead", &self.autopilot_cleanup_dead)
            .field("force_new_cluster", &self.force_new_cluster)
            .field("restore", &self.restore)
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
            ca_cert: None,
            ca_key: None,
            autopilot_cleanup_dead: None,
            force_new_cluster: false,
            restore: None,
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
    /// `--restore` founds a new cluster; it cannot join one or force an old one.
    #[error("--restore cannot be combined with --join or --force-new-cluster")]
    RestoreWith,
    /// A dead-server threshold short enough to remove a merely slow voter.
    #[error("--autopilot-cleanup-dead must be at least {MIN_AUTOPILOT_CLEANUP_DEAD:?} (several election timeouts)")]
    AutopilotCleanupDead,
    /// The config secret key is not 32 bytes in base64 or hex.
    #[error("--config-secret-key must be 32 bytes in base64 (or in hex, as tls/shared-secrets keeps it)")]
    ConfigSecretKey,
    /// Only one of `--ca-cert` and `--ca-key`.
    #[error("--ca-cert and --ca-key go together")]
    CaPair,
    /// A CA file could not be read.
    #[error("cannot read {flag} {path}: {reason}")]
    CaFile {
        /// The flag name.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
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
    /// Peer address advertised to other members (`IP:PORT` or `HOST:PORT`), when given.
    pub advertise_address: Option<String>,
    /// Join target, with its token.
    pub join: Option<(String, SecretArg)>,
    /// Without a join target: the join token to bootstrap with (it must pin [`Self::ca`]).
    pub bootstrap_token: Option<SecretArg>,
    /// The CA to bootstrap with, `(certificate PEM, key PEM)`, read from the given files.
    pub ca: Option<(String, SecretArg)>,
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
    /// A backup file to found a new cluster with.
    pub restore: Option<PathBuf>,
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
            Some(a) => Some(parse_advertise(a)?),
            None => None,
        };
        if self.force_new_cluster && self.join.is_some() {
            return Err(ConfigError::ForceNewClusterWithJoin);
        }
        if self.restore.is_some() && (self.join.is_some() || self.force_new_cluster) {
            return Err(ConfigError::RestoreWith);
        }
        let (join, bootstrap_token) = match (self.join, self.join_token) {
            (Some(j), Some(t)) => (Some((j, t)), None),
            (Some(_), None) => return Err(ConfigError::MissingJoinToken),
            (None, t) => (None, t),
        };
        let ca = match (&self.ca_cert, &self.ca_key) {
            (Some(cert), Some(key)) => Some((
                read_pem("--ca-cert", cert)?,
                SecretArg(read_pem("--ca-key", key)?),
            )),
            (None, None) => None,
            _ => return Err(ConfigError::CaPair),
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
            Some(text) => {
                // Base64 as documented, or the hex form a member keeps in tls/shared-secrets.
                use base64::Engine;
                let text = text.0.trim();
                let key = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .ok()
                    .filter(|k| k.len() == 32)
                    .or_else(|| hex::decode(text).ok().filter(|k| k.len() == 32))
                    .ok_or(ConfigError::ConfigSecretKey)?;
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
            bootstrap_token,
            ca,
            snapshot_threshold: self.snapshot_threshold,
            config_secret_key,
            disable_admin: self.disable_admin,
            learner: self.learner,
            autopilot_cleanup_dead: self.autopilot_cleanup_dead,
            force_new_cluster: self.force_new_cluster,
            restore: self.restore,
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

/// Parses `--advertise-address`: `IP:PORT`, or `HOST:PORT` with a DNS name (container and
/// Kubernetes deployments advertise stable names, since their IPs change on restart).
pub fn parse_advertise(value: &str) -> Result<String, ConfigError> {
    if let Ok(addr) = parse_addr("--advertise-address", value) {
        return Ok(addr.to_string());
    }
    let bad = || ConfigError::Address {
        flag: "--advertise-address",
        value: value.to_owned(),
    };
    let (host, port) = value.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if port == 0 || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(bad());
    }
    Ok(format!("{host}:{port}"))
}

/// The host part of an advertised `HOST:PORT` (brackets kept for IPv6).
pub fn advertised_host(advertise: &str) -> &str {
    advertise
        .rsplit_once(':')
        .map(|(host, _)| host)
        .unwrap_or(advertise)
}

/// Reads a PEM file given by `flag`.
fn read_pem(flag: &'static str, path: &std::path::Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError::CaFile {
        flag,
        path: path.to_owned(),
        reason: e.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertise_accepts_ips_and_dns_names() {
        assert_eq!(parse_advertise("10.0.0.1:8085").unwrap(), "10.0.0.1:8085");
        assert_eq!(parse_advertise("[::1]:8085").unwrap(), "[::1]:8085");
        assert_eq!(parse_advertise("node1:8085").unwrap(), "node1:8085");
        assert_eq!(
            parse_advertise("micro-0.micro-peer.default.svc.cluster.local.:8085").unwrap(),
            "micro-0.micro-peer.default.svc.cluster.local:8085"
        );
        for bad in [
            "node1",
            "node1:",
            "node1:0",
            "node1:99999",
            ":x",
            "-node:1",
            "a..b:1",
            "no_underscore:1",
            "sp ace:1",
        ] {
            assert!(parse_advertise(bad).is_err(), "{bad}");
        }
        assert_eq!(advertised_host("node1:8085"), "node1");
        assert_eq!(advertised_host("[::1]:8085"), "[::1]");
    }

    #[test]
    fn ca_files_are_read_together_and_a_lone_token_is_for_bootstrap() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("ca.pem"), dir.path().join("ca.key"));
        std::fs::write(&cert, "CERT").unwrap();
        std::fs::write(&key, "KEY").unwrap();
        let with = |c: Option<&PathBuf>, k: Option<&PathBuf>| Config {
            ca_cert: c.cloned(),
            ca_key: k.cloned(),
            join_token: Some(SecretArg("t".into())),
            ..Config::default()
        };
        let v = with(Some(&cert), Some(&key)).validate().unwrap();
        let (c, k) = v.ca.unwrap();
        assert_eq!((c.as_str(), k.0.as_str()), ("CERT", "KEY"));
        assert_eq!(v.bootstrap_token.unwrap().0, "t");
        assert!(v.join.is_none());
        assert!(matches!(
            with(Some(&cert), None).validate(),
            Err(ConfigError::CaPair)
        ));
        let missing = dir.path().join("nope.pem");
        let err = with(Some(&missing), Some(&key)).validate().unwrap_err();
        assert!(err.to_string().contains("cannot read --ca-cert"), "{err}");
    }
}
