//! The files a node keeps in its data dir besides the raft database.
//!
//! `node-id` (hex), `join-token` (0600), `joined-via` (the join target, until this node is a
//! voter), `bootstrap-pending` (until a bootstrap initialized raft), and `tls/{ca.pem,ca.key,node.pem,node.key}` (keys 0600).

use std::path::{Path, PathBuf};

use super::ClusterError;
use crate::tls::{self, ClusterCa, NodeIdentity};
use crate::token::JoinToken;
use crate::NodeId;

/// Paths of one data dir.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

/// Everything a node needs to take part in peer traffic.
pub struct Credentials {
    pub id: NodeId,
    pub ca: ClusterCa,
    pub identity: NodeIdentity,
    pub token: JoinToken,
    /// Secrets every member must share (e.g. the config encryption key), by name.
    pub secrets: SharedSecrets,
}

/// Named secrets every member holds; handed to joiners over the authenticated join channel.
pub type SharedSecrets = std::collections::BTreeMap<String, Vec<u8>>;

impl DataDir {
    pub fn new(root: &Path) -> Result<Self, ClusterError> {
        std::fs::create_dir_all(root.join("tls")).map_err(|e| ClusterError::DataDir {
            path: root.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(DataDir {
            root: root.to_owned(),
        })
    }

    pub fn raft_db(&self) -> PathBuf {
        self.root.join("raft")
    }

    /// The applied mark (see [`crate::applied_mark`]), beside the raft database.
    pub fn applied_mark(&self) -> crate::applied_mark::AppliedMark {
        crate::applied_mark::AppliedMark::new(self.root.join("applied-mark"))
    }

    pub fn token_file(&self) -> PathBuf {
        self.root.join("join-token")
    }

    fn secrets_file(&self) -> PathBuf {
        self.root.join("tls").join("shared-secrets")
    }

    fn joined_via_file(&self) -> PathBuf {
        self.root.join("joined-via")
    }

    fn tls(&self, name: &str) -> PathBuf {
        self.root.join("tls").join(name)
    }

    /// Whether credentials were ever saved here.
    pub fn has_credentials(&self) -> bool {
        self.tls("ca.pem").exists() && self.root.join("node-id").exists()
    }

    /// Loads saved credentials.
    pub fn load(&self) -> Result<Credentials, ClusterError> {
        let id_text = tls::read_text(&self.root.join("node-id"))?;
        let id = u64::from_str_radix(id_text.trim(), 16).map_err(|_| ClusterError::DataDir {
            path: self.root.join("node-id"),
            reason: "not a hexadecimal node id".into(),
        })?;
        let ca = ClusterCa::from_pem(
            &tls::read_text(&self.tls("ca.pem"))?,
            &tls::read_text(&self.tls("ca.key"))?,
        )?;
        let identity = NodeIdentity {
            cert_pem: tls::read_text(&self.tls("node.pem"))?,
            key_pem: tls::read_text(&self.tls("node.key"))?,
        };
        let token = JoinToken::parse(&tls::read_text(&self.token_file())?).map_err(|e| {
            ClusterError::DataDir {
                path: self.token_file(),
                reason: e.to_string(),
            }
        })?;
        let secrets = match std::fs::read_to_string(self.secrets_file()) {
            Ok(text) => parse_secrets(&text).ok_or_else(|| ClusterError::DataDir {
                path: self.secrets_file(),
                reason: "malformed shared secrets file".into(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SharedSecrets::new(),
            Err(e) => {
                return Err(ClusterError::DataDir {
                    path: self.secrets_file(),
                    reason: e.to_string(),
                })
            }
        };
        Ok(Credentials {
            id,
            ca,
            identity,
            token,
            secrets,
        })
    }

    /// Saves credentials; `node-id` goes last, so a crash midway leaves no half identity.
    pub fn save(&self, c: &Credentials) -> Result<(), ClusterError> {
        tls::write_private(&self.tls("ca.pem"), c.ca.cert_pem().as_bytes())?;
        tls::write_private(&self.tls("ca.key"), c.ca.key_pem().as_bytes())?;
        tls::write_private(&self.tls("node.pem"), c.identity.cert_pem.as_bytes())?;
        tls::write_private(&self.tls("node.key"), c.identity.key_pem.as_bytes())?;
        tls::write_private(
            &self.token_file(),
            format!("{}\n", c.token.reveal()).as_bytes(),
        )?;
        let secrets: String = c
            .secrets
            .iter()
            .map(|(k, v)| format!("{k} {}\n", hex::encode(v)))
            .collect();
        tls::write_private(&self.secrets_file(), secrets.as_bytes())?;
        tls::write_private(
            &self.root.join("node-id"),
            format!("{:016x}\n", c.id).as_bytes(),
        )?;
        Ok(())
    }

    /// The join target recorded until membership completes.
    pub fn joined_via(&self) -> Option<String> {
        std::fs::read_to_string(self.joined_via_file())
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    pub fn set_joined_via(&self, target: &str) -> Result<(), ClusterError> {
        Ok(tls::write_private(
            &self.joined_via_file(),
            target.as_bytes(),
        )?)
    }

    pub fn clear_joined_via(&self) {
        let _ = std::fs::remove_file(self.joined_via_file());
    }

    fn bootstrap_pending_file(&self) -> PathBuf {
        self.root.join("bootstrap-pending")
    }

    /// Marks a bootstrap in progress: credentials may exist before raft is initialized.
    pub fn set_bootstrap_pending(&self) -> Result<(), ClusterError> {
        Ok(tls::write_private(&self.bootstrap_pending_file(), b"1")?)
    }

    /// Whether a bootstrap started here and never finished initializing raft.
    pub fn bootstrap_pending(&self) -> bool {
        self.bootstrap_pending_file().exists()
    }

    pub fn clear_bootstrap_pending(&self) {
        let _ = std::fs::remove_file(self.bootstrap_pending_file());
    }
}

/// Parses `name hex` lines.
fn parse_secrets(text: &str) -> Option<SharedSecrets> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (name, value) = l.trim().split_once(' ')?;
            Some((name.to_owned(), hex::decode(value).ok()?))
        })
        .collect()
}
