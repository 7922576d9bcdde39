//! Registry domain types, their validation and their storage keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::RegistryError;
use crate::kv::ApplyError;

/// A registration's lifetime when the caller gives none (Micro: services renew every 30 s).
pub const DEFAULT_TTL_MS: u64 = 90_000;
/// Shortest lifetime accepted.
pub const MIN_TTL_MS: u64 = 1_000;
/// Longest lifetime accepted.
pub const MAX_TTL_MS: u64 = 24 * 60 * 60 * 1000;
/// Changes kept for watchers to resume from; older ones are dropped as new ones arrive.
pub const HISTORY_LEN: u64 = 10_000;
/// Prefix of the node deadline index (the expiry worker peeks at its first key).
pub const EXPIRY_PREFIX: &[u8] = b"r/x/";
/// Longest domain, service name, version or node id, in bytes.
const MAX_NAME_BYTES: usize = 256;
/// Longest node address, in bytes.
const MAX_ADDRESS_BYTES: usize = 1024;

/// A field of an endpoint's request or response schema (Micro's `registry.Value`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Value {
    /// Field name.
    pub name: String,
    /// Type, e.g. `string`, `int64`, `[]string`, `map[string]string` or a message name.
    pub kind: String,
    /// The fields of a message type.
    pub values: Vec<Value>,
}

/// An endpoint of a service version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Endpoint {
    /// `Handler.Method`.
    pub name: String,
    /// Request schema.
    pub request: Option<Value>,
    /// Response schema.
    pub response: Option<Value>,
    /// E.g. `stream: "true"` for streaming endpoints.
    pub metadata: BTreeMap<String, String>,
}

/// What a service version says about itself; the latest registration's definition wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Definition {
    /// Service metadata.
    pub metadata: BTreeMap<String, String>,
    /// Its endpoints.
    pub endpoints: Vec<Endpoint>,
}

/// One running instance of a service version (Micro's `registry.Node`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Instance {
    /// Unique within the service.
    pub id: String,
    /// Where it listens.
    pub address: String,
    /// Legacy port field, kept as given.
    pub port: i64,
    /// Instance metadata.
    pub metadata: BTreeMap<String, String>,
}

/// An instance as persisted, with its lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The instance.
    pub instance: Instance,
    /// Lease length, renewed by each registration.
    pub ttl_ms: u64,
    /// Absolute deadline in ms since the epoch.
    pub expires_at_ms: u64,
}

/// A service version as readers and watchers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Service {
    /// Service name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Its definition.
    pub definition: Definition,
    /// Live instances (in a watch event: the instances the change touched).
    pub nodes: Vec<Instance>,
}

/// What a change did, in Micro's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// A service version appeared.
    Create,
    /// A version's definition or instances changed.
    Update,
    /// Instances left (deregistered or expired).
    Delete,
}

impl Action {
    /// Micro's action name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// One change in the registry's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEvent {
    /// Position in the history, starting at 1, without gaps.
    pub revision: u64,
    /// What happened.
    pub action: Action,
    /// The namespace.
    pub domain: String,
    /// The service version, with the instances the change touched.
    pub service: Service,
    /// When it was applied (leader-stamped ms).
    pub time_ms: u64,
}

/// The bounds of the change history: revisions `oldest..next` are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Oldest revision held.
    pub oldest: u64,
    /// The revision the next change gets.
    pub next: u64,
}

impl Default for History {
    fn default() -> Self {
        History { oldest: 1, next: 1 }
    }
}

/// Checks a domain, service name, version (`allow_empty`) or node id.
pub fn validate_name(what: &str, value: &str, allow_empty: bool) -> Result<(), RegistryError> {
    if value.is_empty() && !allow_empty {
        return Err(RegistryError::InvalidArgument(format!(
            "{what} is required"
        )));
    }
    if value.len() > MAX_NAME_BYTES {
        return Err(RegistryError::InvalidArgument(format!(
            "{what} is longer than {MAX_NAME_BYTES} bytes"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(RegistryError::InvalidArgument(format!(
            "{what} contains control characters"
        )));
    }
    Ok(())
}

/// Checks an instance's fields.
pub(crate) fn validate_instance(node: &Instance) -> Result<(), RegistryError> {
    validate_name("node id", &node.id, false)?;
    if node.address.len() > MAX_ADDRESS_BYTES {
        return Err(RegistryError::InvalidArgument(format!(
            "node address is longer than {MAX_ADDRESS_BYTES} bytes"
        )));
    }
    Ok(())
}

fn push_parts(k: &mut Vec<u8>, parts: &[&str]) {
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p.as_bytes());
    }
}

fn key(prefix: &[u8], parts: &[&str]) -> Vec<u8> {
    let mut k = prefix.to_vec();
    push_parts(&mut k, parts);
    k
}

/// `r/s/<domain>\0<name>\0<version>`.
pub(crate) fn definition_key(domain: &str, name: &str, version: &str) -> Vec<u8> {
    key(b"r/s/", &[domain, name, version])
}

/// Prefix of every version of `name` (or of every service with `name = None`).
pub(crate) fn definition_prefix(domain: &str, name: Option<&str>) -> Vec<u8> {
    let mut k = key(b"r/s/", &[domain]);
    k.push(0);
    if let Some(name) = name {
        k.extend_from_slice(name.as_bytes());
        k.push(0);
    }
    k
}

/// `r/n/<domain>\0<name>\0<version>\0<node>`.
pub(crate) fn node_key(domain: &str, name: &str, version: &str, node: &str) -> Vec<u8> {
    key(b"r/n/", &[domain, name, version, node])
}

/// Prefix of the nodes of one version.
pub(crate) fn nodes_prefix(domain: &str, name: &str, version: &str) -> Vec<u8> {
    let mut k = key(b"r/n/", &[domain, name, version]);
    k.push(0);
    k
}

/// `r/i/<domain>\0<name>\0<node>`: which version a node id runs.
pub(crate) fn node_index_key(domain: &str, name: &str, node: &str) -> Vec<u8> {
    key(b"r/i/", &[domain, name, node])
}

/// `r/x/<deadline BE>\0<domain>\0<name>\0<version>\0<node>`.
pub(crate) fn expiry_key(
    deadline: u64,
    domain: &str,
    name: &str,
    version: &str,
    node: &str,
) -> Vec<u8> {
    let mut k = EXPIRY_PREFIX.to_vec();
    k.extend_from_slice(&deadline.to_be_bytes());
    k.push(0);
    push_parts(&mut k, &[domain, name, version, node]);
    k
}

/// Splits an expiry key into its deadline and `[domain, name, version, node]`.
pub(crate) fn split_expiry_key(k: &[u8]) -> Result<(u64, [String; 4]), ApplyError> {
    let corrupt = || ApplyError::Corrupt("registry expiry key".into());
    let rest = k.strip_prefix(EXPIRY_PREFIX).ok_or_else(corrupt)?;
    let deadline = rest
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(corrupt)?;
    let parts: Vec<String> = rest
        .get(9..)
        .ok_or_else(corrupt)?
        .split(|b| *b == 0)
        .map(|p| String::from_utf8(p.to_vec()).map_err(|_| corrupt()))
        .collect::<Result<_, _>>()?;
    let parts: [String; 4] = parts.try_into().map_err(|_| corrupt())?;
    Ok((deadline, parts))
}

/// `r/w/<revision BE>`.
pub(crate) fn event_key(revision: u64) -> Vec<u8> {
    let mut k = b"r/w/".to_vec();
    k.extend_from_slice(&revision.to_be_bytes());
    k
}

/// Where the history bounds live.
pub(crate) const HISTORY_KEY: &[u8] = b"r/meta";

/// Encodes a stored value.
pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, ApplyError> {
    bincode::serialize(v).map_err(|e| ApplyError::Corrupt(format!("encode registry value: {e}")))
}

/// Decodes a stored value.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(b: &[u8]) -> Result<T, ApplyError> {
    bincode::deserialize(b).map_err(|e| ApplyError::Corrupt(format!("registry value: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_keys_round_trip_and_sort_by_deadline() {
        let a = expiry_key(5, "micro", "svc", "", "n1");
        let b = expiry_key(300, "a", "b", "c", "d");
        assert!(a < b);
        let (d, parts) = split_expiry_key(&a).unwrap();
        assert_eq!(d, 5);
        assert_eq!(parts, ["micro", "svc", "", "n1"].map(String::from));
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("service name", "", false).is_err());
        assert!(validate_name("version", "", true).is_ok());
        assert!(validate_name("node id", "a\0b", false).is_err());
        assert!(validate_name("domain", &"x".repeat(300), false).is_err());
    }
}
