//! Read-only config queries.

use super::apply::load;
use super::model::{split_path, validate_namespace, Document, PREFIX};
use super::{ConfigError, ConfigView};
use crate::kv::{ApplyError, KvRead};

/// Micro's Config.Get: the subtree at `path` (empty = the whole document).
///
/// A namespace without a document is [`ConfigError::NotFound`] (Micro's 404 `Not found`); an
/// absent path inside an existing document, or a path through a leaf, is `Ok(None)` (Micro
/// answers `null`).
pub fn get(
    kv: &dyn KvRead,
    namespace: &str,
    path: &str,
) -> Result<Option<ConfigView>, ConfigError> {
    let segments = split_path(path)?;
    let doc = document(kv, namespace)?;
    doc.root
        .get(&segments)
        .map(ConfigView::from_tree)
        .transpose()
}

/// The revision of `namespace`'s document: the log index of its last change. Read it from the
/// same state as [`get`] to know which change a read reflects.
pub fn revision(kv: &dyn KvRead, namespace: &str) -> Result<u64, ConfigError> {
    document(kv, namespace).map(|doc| doc.revision)
}

/// The stored document of `namespace`, or [`ConfigError::NotFound`].
pub fn document(kv: &dyn KvRead, namespace: &str) -> Result<Document, ConfigError> {
    validate_namespace(namespace)?;
    load(kv, namespace)
        .map_err(internal)?
        .ok_or(ConfigError::NotFound)
}

/// Namespaces that have a config document, sorted.
pub fn namespaces(kv: &dyn KvRead) -> Result<Vec<String>, ConfigError> {
    kv.scan_prefix(PREFIX)
        .map_err(internal)?
        .into_iter()
        .map(|(k, _)| {
            String::from_utf8(k[PREFIX.len()..].to_vec())
                .map_err(|_| internal(ApplyError::Corrupt("config namespace key".into())))
        })
        .collect()
}

fn internal(e: ApplyError) -> ConfigError {
    ConfigError::Storage(e.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::config::{apply, ConfigCommand, ConfigResponse, ConfigValue, Secret};
    use crate::kv::{commit_to_map, Txn};
    use crate::ApplyContext;

    type Map = BTreeMap<Vec<u8>, Vec<u8>>;

    fn set(map: &mut Map, namespace: &str, path: &str, value: ConfigValue, index: u64) {
        let cmd = ConfigCommand::Set {
            namespace: namespace.into(),
            path: path.into(),
            value,
        };
        let mut txn = Txn::new(map);
        let r = apply(&mut txn, cmd, &ApplyContext { index, time_ms: 0 }).unwrap();
        assert_eq!(r, ConfigResponse::Set { revision: index });
        let changes = txn.into_changes();
        commit_to_map(map, changes);
    }

    fn populated() -> Map {
        let mut m = Map::new();
        let json = |s: &str| ConfigValue::Json(s.into());
        set(&mut m, "micro", "svc", json(r#"{"a":{"b":1},"s":"x"}"#), 1);
        let secret = Secret {
            key_id: "k1".into(),
            ciphertext: vec![0xde, 0xad],
        };
        set(&mut m, "micro", "svc.pw", ConfigValue::Secret(secret), 2);
        set(&mut m, "other", "k", json("true"), 3);
        m
    }

    #[test]
    fn unknown_namespaces_are_not_found_and_absent_paths_are_none() {
        let m = populated();
        assert_eq!(get(&m, "nobody", ""), Err(ConfigError::NotFound));
        assert_eq!(get(&m, "nobody", "a"), Err(ConfigError::NotFound));
        assert_eq!(revision(&m, "nobody"), Err(ConfigError::NotFound));
        assert_eq!(get(&m, "micro", "svc.missing"), Ok(None));
        // A path through a leaf is absent too.
        assert_eq!(get(&m, "micro", "svc.s.deeper"), Ok(None));
        assert_eq!(get(&m, "micro", "svc.pw.deeper"), Ok(None));
        assert!(matches!(
            get(&m, "micro", "svc..a"),
            Err(ConfigError::InvalidArgument(_))
        ));
        assert!(matches!(
            get(&m, "", "a"),
            Err(ConfigError::InvalidArgument(_))
        ));
    }

    #[test]
    fn views_expose_values_and_secret_ciphertext() {
        let m = populated();
        assert_eq!(
            get(&m, "micro", "svc.a.b"),
            Ok(Some(ConfigView::Value(json!(1))))
        );
        assert_eq!(
            get(&m, "micro", "svc.pw"),
            Ok(Some(ConfigView::Secret(Secret {
                key_id: "k1".into(),
                ciphertext: vec![0xde, 0xad],
            })))
        );
        let whole = get(&m, "micro", "").unwrap().unwrap();
        assert_eq!(
            whole.render_masked(),
            r#"{"svc":{"a":{"b":1},"pw":"[secret]","s":"x"}}"#
        );
        assert_eq!(whole.masked()["svc"]["pw"], json!("[secret]"));
    }

    #[test]
    fn revisions_and_namespaces() {
        let m = populated();
        assert_eq!(revision(&m, "micro"), Ok(2));
        assert_eq!(revision(&m, "other"), Ok(3));
        assert_eq!(namespaces(&m), Ok(vec!["micro".into(), "other".into()]));
        assert_eq!(document(&m, "other").unwrap().revision, 3);
    }
}
