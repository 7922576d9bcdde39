//! Key rotation for config secrets. The keyring holds data keys, each sealed under the
//! operator's key (`--config-secret-key`); the active one seals new secrets. Secrets sealed by
//! an older key (or, before any rotation, by the operator's key itself) stay readable and are
//! resealed one by one ([`ConfigCommand::Reseal`](super::ConfigCommand::Reseal), a
//! compare-and-set); a key leaves the ring only when no secret uses it.
//!
//! Keyspace: `gk/keyring` holds the [`Keyring`]. Resealing leaves a document's revision alone:
//! the value did not change, only the key that protects it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::apply::{decode, encode, load};
use super::model::{Leaf, Secret, PREFIX};
use super::{ConfigError, ConfigTree};
use crate::kv::{ApplyError, KvRead, Txn};

pub(crate) const KEYRING_KEY: &[u8] = b"gk/keyring";

/// The data keys of config secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keyring {
    /// The key that seals new secrets; `None` before the first rotation (the operator's key
    /// seals them directly).
    pub active: Option<String>,
    /// Every data key by id, sealed under the operator's key.
    pub keys: BTreeMap<String, Secret>,
}

/// One secret leaf of a document: its namespace, its path segments and its ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedLeaf {
    /// The document's namespace.
    pub namespace: String,
    /// The path of the leaf.
    pub segments: Vec<String>,
    /// The stored secret.
    pub secret: Secret,
}

/// The keyring (empty before the first rotation).
pub fn keyring(kv: &dyn KvRead) -> Result<Keyring, ApplyError> {
    kv.get(KEYRING_KEY)?
        .map(|b| decode(&b))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Every secret leaf of every document, namespace by namespace.
pub fn sealed_leaves(kv: &dyn KvRead) -> Result<Vec<SealedLeaf>, ApplyError> {
    let mut out = Vec::new();
    for (key, bytes) in kv.scan_prefix(PREFIX)? {
        let namespace = String::from_utf8(key[PREFIX.len()..].to_vec())
            .map_err(|_| ApplyError::Corrupt("config namespace key".into()))?;
        let doc = decode::<super::Document>(&bytes)?;
        collect(&doc.root, &mut Vec::new(), &namespace, &mut out);
    }
    Ok(out)
}

fn collect(tree: &ConfigTree, path: &mut Vec<String>, ns: &str, out: &mut Vec<SealedLeaf>) {
    match tree {
        ConfigTree::Leaf(Leaf::Secret(secret)) => out.push(SealedLeaf {
            namespace: ns.to_owned(),
            segments: path.clone(),
            secret: secret.clone(),
        }),
        ConfigTree::Leaf(Leaf::Json(_)) => {}
        ConfigTree::Object(children) => {
            for (name, child) in children {
                path.push(name.clone());
                collect(child, path, ns, out);
                path.pop();
            }
        }
    }
}

/// How many secrets each key id seals.
pub fn usage(kv: &dyn KvRead) -> Result<BTreeMap<String, u64>, ApplyError> {
    let mut counts = BTreeMap::new();
    for leaf in sealed_leaves(kv)? {
        *counts.entry(leaf.secret.key_id).or_insert(0) += 1;
    }
    Ok(counts)
}

/// Adds `sealed` as key `key_id` and makes it active.
pub(crate) fn add_key(
    txn: &mut Txn<'_>,
    key_id: String,
    sealed: Secret,
) -> Result<Result<bool, ConfigError>, ApplyError> {
    if key_id.is_empty() || key_id.len() > super::MAX_KEY_ID_BYTES {
        return Ok(Err(ConfigError::InvalidArgument("bad key id".into())));
    }
    let mut ring = keyring(txn)?;
    let changed = ring.active.as_deref() != Some(&key_id);
    ring.keys.insert(key_id.clone(), sealed);
    ring.active = Some(key_id);
    txn.put(KEYRING_KEY.to_vec(), encode(&ring)?);
    Ok(Ok(changed))
}

/// Replaces the secret at `segments` of `namespace` with `to` if it is still `from`.
pub(crate) fn reseal(
    txn: &mut Txn<'_>,
    namespace: &str,
    segments: &[String],
    from: &Secret,
    to: Secret,
) -> Result<bool, ApplyError> {
    let Some(mut doc) = load(txn, namespace)? else {
        return Ok(false);
    };
    let path: Vec<&str> = segments.iter().map(String::as_str).collect();
    match doc.root.get_mut(&path) {
        Some(ConfigTree::Leaf(Leaf::Secret(current))) if current == from => *current = to,
        _ => return Ok(false),
    }
    txn.put(super::model::document_key(namespace), encode(&doc)?);
    Ok(true)
}

/// Removes key `key_id` unless it is active or still seals a secret.
pub(crate) fn drop_key(
    txn: &mut Txn<'_>,
    key_id: &str,
) -> Result<Result<bool, ConfigError>, ApplyError> {
    let mut ring = keyring(txn)?;
    if ring.active.as_deref() == Some(key_id) {
        return Ok(Err(ConfigError::InvalidArgument(format!(
            "key {key_id} is active"
        ))));
    }
    let in_use = usage(txn)?.get(key_id).copied().unwrap_or(0);
    if in_use > 0 {
        return Ok(Err(ConfigError::InvalidArgument(format!(
            "key {key_id} still seals {in_use} secrets"
        ))));
    }
    let removed = ring.keys.remove(key_id).is_some();
    if removed {
        txn.put(KEYRING_KEY.to_vec(), encode(&ring)?);
    }
    Ok(Ok(removed))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{apply, ConfigCommand, ConfigResponse, ConfigValue};
    use crate::kv::in_txn;
    use crate::ApplyContext;

    type Map = BTreeMap<Vec<u8>, Vec<u8>>;

    fn run(map: &mut Map, cmd: ConfigCommand, index: u64) -> ConfigResponse {
        in_txn(map, |t| {
            apply(t, cmd, &ApplyContext { index, time_ms: 0 }).unwrap()
        })
    }

    fn secret(key: &str, byte: u8) -> Secret {
        Secret {
            key_id: key.into(),
            ciphertext: vec![byte],
        }
    }

    #[test]
    fn rotation_reseals_by_compare_and_set_and_drops_only_unused_keys() {
        let mut m = Map::new();
        let set = |path: &str, s: Secret| ConfigCommand::Set {
            namespace: "micro".into(),
            path: path.into(),
            value: ConfigValue::Secret(s),
        };
        run(&mut m, set("a.pw", secret("op", 1)), 1);
        run(&mut m, set("b", secret("op", 2)), 2);
        let add = |id: &str| ConfigCommand::AddKey {
            key_id: id.into(),
            sealed: secret("op", 9),
        };
        assert_eq!(
            run(&mut m, add("k1"), 3),
            ConfigResponse::Rekeyed { changed: true }
        );
        assert_eq!(keyring(&m).unwrap().active.as_deref(), Some("k1"));
        assert_eq!(usage(&m).unwrap().get("op"), Some(&2));

        let reseal = |segments: &[&str], from: Secret, to: Secret| ConfigCommand::Reseal {
            namespace: "micro".into(),
            segments: segments.iter().map(|s| s.to_string()).collect(),
            from,
            to,
        };
        let before = crate::config::revision(&m, "micro").unwrap();
        let r = run(
            &mut m,
            reseal(&["a", "pw"], secret("op", 1), secret("k1", 3)),
            4,
        );
        assert_eq!(r, ConfigResponse::Rekeyed { changed: true });
        // A stale reseal (the value changed meanwhile) changes nothing.
        let r = run(&mut m, reseal(&["b"], secret("op", 7), secret("k1", 4)), 5);
        assert_eq!(r, ConfigResponse::Rekeyed { changed: false });
        assert_eq!(
            crate::config::revision(&m, "micro").unwrap(),
            before,
            "values unchanged"
        );

        run(&mut m, add("k2"), 6);
        let drop_k1 = ConfigCommand::DropKey {
            key_id: "k1".into(),
        };
        assert!(
            matches!(run(&mut m, drop_k1.clone(), 7), ConfigResponse::Err(_)),
            "k1 in use"
        );
        run(
            &mut m,
            reseal(&["a", "pw"], secret("k1", 3), secret("k2", 5)),
            8,
        );
        assert_eq!(
            run(&mut m, drop_k1, 9),
            ConfigResponse::Rekeyed { changed: true }
        );
        let drop_k2 = ConfigCommand::DropKey {
            key_id: "k2".into(),
        };
        assert!(
            matches!(run(&mut m, drop_k2, 10), ConfigResponse::Err(_)),
            "active"
        );
        assert_eq!(
            keyring(&m).unwrap().keys.keys().collect::<Vec<_>>(),
            vec!["k2"]
        );
    }
}
