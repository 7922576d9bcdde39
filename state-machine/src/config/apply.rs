//! Applying config commands. Deterministic: the revision comes from the [`ApplyContext`], and
//! JSON members are applied in key order whatever order the request text had.

use serde_json::Value;

use super::json;
use super::model::{
    document_key, secret_bytes, split_path, validate_namespace, Document, Leaf, MAX_DOCUMENT_BYTES,
    MAX_SECRET_BYTES, MAX_VALUE_BYTES,
};
use super::{keyring, ConfigCommand, ConfigError, ConfigResponse, ConfigTree, ConfigValue};
use crate::kv::{ApplyError, KvRead, Txn};
use crate::ApplyContext;

/// Applies one config command to `txn`.
pub fn apply(
    txn: &mut Txn<'_>,
    cmd: ConfigCommand,
    ctx: &ApplyContext,
) -> Result<ConfigResponse, ApplyError> {
    match cmd {
        ConfigCommand::Set {
            namespace,
            path,
            value,
        } => {
            if let Err(e) = validate_namespace(&namespace) {
                return Ok(ConfigResponse::Err(e));
            }
            let mut doc = load(txn, &namespace)?.unwrap_or(Document {
                revision: 0,
                root: ConfigTree::default(),
            });
            if let Err(e) = set(&mut doc.root, &path, value) {
                return Ok(ConfigResponse::Err(e));
            }
            doc.revision = ctx.index;
            let bytes = encode(&doc)?;
            if bytes.len() > MAX_DOCUMENT_BYTES {
                return Ok(ConfigResponse::Err(ConfigError::InvalidArgument(format!(
                    "the config document would be larger than {MAX_DOCUMENT_BYTES} bytes"
                ))));
            }
            txn.put(document_key(&namespace), bytes);
            Ok(ConfigResponse::Set {
                revision: ctx.index,
            })
        }
        ConfigCommand::Delete { namespace, path } => {
            let segments = match validate_namespace(&namespace).and_then(|_| split_path(&path)) {
                Ok(segments) => segments,
                Err(e) => return Ok(ConfigResponse::Err(e)),
            };
            let Some(mut doc) = load(txn, &namespace)? else {
                return Ok(ConfigResponse::Err(ConfigError::NotFound));
            };
            if segments.is_empty() {
                txn.delete(document_key(&namespace));
            } else if doc.root.remove(&segments) {
                doc.revision = ctx.index;
                txn.put(document_key(&namespace), encode(&doc)?);
            } else {
                return Ok(ConfigResponse::Deleted {
                    existed: false,
                    revision: doc.revision,
                });
            }
            Ok(ConfigResponse::Deleted {
                existed: true,
                revision: ctx.index,
            })
        }
        ConfigCommand::AddKey { key_id, sealed } => {
            Ok(match keyring::add_key(txn, key_id, sealed)? {
                Ok(changed) => ConfigResponse::Rekeyed { changed },
                Err(e) => ConfigResponse::Err(e),
            })
        }
        ConfigCommand::Reseal {
            namespace,
            segments,
            from,
            to,
        } => Ok(ConfigResponse::Rekeyed {
            changed: keyring::reseal(txn, &namespace, &segments, &from, to)?,
        }),
        ConfigCommand::DropKey { key_id } => Ok(match keyring::drop_key(txn, &key_id)? {
            Ok(changed) => ConfigResponse::Rekeyed { changed },
            Err(e) => ConfigResponse::Err(e),
        }),
    }
}

/// Writes `value` at `path` in `root`. On error `root` may be half-changed; the caller then
/// drops it without writing.
fn set(root: &mut ConfigTree, path: &str, value: ConfigValue) -> Result<(), ConfigError> {
    let segments = split_path(path)?;
    match value {
        ConfigValue::Json(text) => {
            if text.len() > MAX_VALUE_BYTES {
                return Err(ConfigError::InvalidArgument(format!(
                    "value is larger than {MAX_VALUE_BYTES} bytes"
                )));
            }
            match json::parse(&text)? {
                Value::Object(object) => root.slot(&segments).merge(object, path.len()),
                _ if segments.is_empty() => Err(whole_document_must_be_an_object()),
                other => {
                    let text = json::canonical(other).to_string();
                    *root.slot(&segments) = ConfigTree::Leaf(Leaf::Json(text));
                    Ok(())
                }
            }
        }
        ConfigValue::Secret(secret) => {
            if segments.is_empty() {
                return Err(whole_document_must_be_an_object());
            }
            check_secret_size(secret_bytes(&secret)?)?;
            *root.slot(&segments) = ConfigTree::Leaf(Leaf::Secret(secret));
            Ok(())
        }
        ConfigValue::SecretObject(leaves) => {
            let mut total = 0;
            for (relative, secret) in &leaves {
                total += relative.len() + secret_bytes(secret)?;
            }
            check_secret_size(total)?;
            root.slot(&segments).merge_secrets(leaves, path.len())
        }
    }
}

fn check_secret_size(bytes: usize) -> Result<(), ConfigError> {
    if bytes > MAX_SECRET_BYTES {
        return Err(ConfigError::InvalidArgument(format!(
            "secret value is larger than {MAX_SECRET_BYTES} bytes"
        )));
    }
    Ok(())
}

fn whole_document_must_be_an_object() -> ConfigError {
    ConfigError::InvalidArgument("the whole config document must be a JSON object".into())
}

/// Loads the document of `namespace`, if it has one.
pub(crate) fn load(kv: &dyn KvRead, namespace: &str) -> Result<Option<Document>, ApplyError> {
    kv.get(&document_key(namespace))?
        .map(|b| decode(&b))
        .transpose()
}

pub(crate) fn encode<T: serde::Serialize>(doc: &T) -> Result<Vec<u8>, ApplyError> {
    bincode::serialize(doc).map_err(|e| ApplyError::Corrupt(format!("encode config: {e}")))
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, ApplyError> {
    bincode::deserialize(b).map_err(|e| ApplyError::Corrupt(format!("decode config: {e}")))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{get, ConfigView, Secret, MAX_PATH_BYTES};
    use crate::kv::in_txn;

    type Map = BTreeMap<Vec<u8>, Vec<u8>>;

    fn run(map: &mut Map, cmd: ConfigCommand, index: u64) -> ConfigResponse {
        in_txn(map, |t| {
            apply(t, cmd, &ApplyContext { index, time_ms: 0 }).unwrap()
        })
    }

    fn set(map: &mut Map, path: &str, json: &str, index: u64) -> ConfigResponse {
        let value = ConfigValue::Json(json.into());
        let cmd = ConfigCommand::Set {
            namespace: "micro".into(),
            path: path.into(),
            value,
        };
        run(map, cmd, index)
    }

    fn del(map: &mut Map, path: &str, index: u64) -> ConfigResponse {
        let cmd = ConfigCommand::Delete {
            namespace: "micro".into(),
            path: path.into(),
        };
        run(map, cmd, index)
    }

    fn render(map: &Map, path: &str) -> String {
        crate::config::render_masked(get(map, "micro", path).unwrap().as_ref())
    }

    fn secret(text: &str) -> Secret {
        // Stand-in for AES-GCM: the "ciphertext" is the plaintext JSON text.
        Secret {
            key_id: "k1".into(),
            ciphertext: text.as_bytes().to_vec(),
        }
    }

    fn reveal(map: &Map, path: &str) -> String {
        let view: Option<ConfigView> = get(map, "micro", path).unwrap();
        view.unwrap()
            .render_revealed(|s| serde_json::from_slice::<Value>(&s.ciphertext))
            .unwrap()
    }

    #[test]
    fn the_getting_started_walkthrough() {
        let mut m = Map::new();
        assert_eq!(
            set(&mut m, "helloworld.somekey", r#""hello""#, 1),
            ConfigResponse::Set { revision: 1 }
        );
        assert_eq!(render(&m, "helloworld.somekey"), r#""hello""#);
        set(&mut m, "helloworld.someotherkey", r#""Hi there!""#, 2);
        assert_eq!(
            render(&m, "helloworld"),
            r#"{"somekey":"hello","someotherkey":"Hi there!"}"#
        );
        set(&mut m, "helloworld.someboolkey", "true", 3);
        assert_eq!(render(&m, "helloworld.someboolkey"), "true");
        set(&mut m, "helloworld.keywithsubs.subkey1", r#""So easy!""#, 4);
        assert_eq!(
            render(&m, "helloworld"),
            r#"{"keywithsubs":{"subkey1":"So easy!"},"someboolkey":true,"somekey":"hello","someotherkey":"Hi there!"}"#
        );
        assert_eq!(
            del(&mut m, "helloworld.someotherkey", 5),
            ConfigResponse::Deleted {
                existed: true,
                revision: 5
            }
        );
        del(&mut m, "helloworld.keywithsubs", 6);
        assert_eq!(
            render(&m, "helloworld"),
            r#"{"someboolkey":true,"somekey":"hello"}"#
        );
    }

    #[test]
    fn secrets_are_masked_unless_revealed_including_numbers_and_booleans() {
        let mut m = Map::new();
        set(&mut m, "helloworld.somekey", r#""hello""#, 1);
        for (i, (path, plain)) in [
            ("helloworld.hushkey", r#""Very secret stuff""#),
            ("helloworld.hush_number_key", "42"),
            ("helloworld.hush_bool", "false"),
        ]
        .into_iter()
        .enumerate()
        {
            let cmd = ConfigCommand::Set {
                namespace: "micro".into(),
                path: path.into(),
                value: ConfigValue::Secret(secret(plain)),
            };
            assert!(matches!(
                run(&mut m, cmd, 2 + i as u64),
                ConfigResponse::Set { .. }
            ));
        }
        assert_eq!(render(&m, "helloworld.hushkey"), r#""[secret]""#);
        assert_eq!(
            render(&m, "helloworld"),
            r#"{"hush_bool":"[secret]","hush_number_key":"[secret]","hushkey":"[secret]","somekey":"hello"}"#
        );
        assert_eq!(
            reveal(&m, "helloworld"),
            r#"{"hush_bool":false,"hush_number_key":42,"hushkey":"Very secret stuff","somekey":"hello"}"#
        );
    }

    #[test]
    fn secret_objects_are_stored_leaf_by_leaf() {
        let mut m = Map::new();
        set(&mut m, "svc", r#"{"plain":1,"db":"x"}"#, 1);
        let cmd = ConfigCommand::Set {
            namespace: "micro".into(),
            path: "svc".into(),
            value: ConfigValue::SecretObject(vec![
                ("db".into(), secret(r#""pw""#)),
                ("api.token".into(), secret("7")),
            ]),
        };
        assert_eq!(run(&mut m, cmd, 2), ConfigResponse::Set { revision: 2 });
        assert_eq!(
            render(&m, "svc"),
            r#"{"api":{"token":"[secret]"},"db":"[secret]","plain":1}"#
        );
        assert_eq!(
            reveal(&m, "svc"),
            r#"{"api":{"token":7},"db":"pw","plain":1}"#
        );
    }

    #[test]
    fn objects_merge_and_scalars_replace_subtrees() {
        let mut m = Map::new();
        set(&mut m, "helloworld", r#"{"a": "val1", "b": "val2"}"#, 1);
        assert_eq!(render(&m, "helloworld.a"), r#""val1""#);
        del(&mut m, "helloworld", 2);
        set(&mut m, "helloworld", r#"{"a":1}"#, 3);
        assert_eq!(render(&m, "helloworld"), r#"{"a":1}"#);
        set(&mut m, "helloworld", r#"{"b":2}"#, 4);
        assert_eq!(render(&m, "helloworld"), r#"{"a":1,"b":2}"#);
        set(&mut m, "helloworld.x", "5", 5);
        assert_eq!(render(&m, "helloworld"), r#"{"a":1,"b":2,"x":5}"#);
        // Deep merge keeps nested siblings.
        set(&mut m, "helloworld", r#"{"n":{"p":1}}"#, 6);
        set(&mut m, "helloworld", r#"{"n":{"q":[1,{"z":0,"y":1}]}}"#, 7);
        assert_eq!(
            render(&m, "helloworld.n"),
            r#"{"p":1,"q":[1,{"y":1,"z":0}]}"#
        );
        // A scalar overwrites a subtree; an object overwrites a scalar.
        set(&mut m, "helloworld.n", "null", 8);
        assert_eq!(render(&m, "helloworld.n"), "null");
        set(&mut m, "helloworld.a", r#"{"deep":true}"#, 9);
        assert_eq!(render(&m, "helloworld.a"), r#"{"deep":true}"#);
        // A path through a scalar replaces it with an object.
        set(&mut m, "helloworld.b.c", "3", 10);
        assert_eq!(
            render(&m, "helloworld"),
            r#"{"a":{"deep":true},"b":{"c":3},"n":null,"x":5}"#
        );
        // An empty object turns a scalar into an empty object and leaves an object alone.
        set(&mut m, "helloworld.x", "{}", 11);
        set(&mut m, "helloworld.b", "{}", 12);
        assert_eq!(render(&m, "helloworld.x"), "{}");
        assert_eq!(render(&m, "helloworld.b"), r#"{"c":3}"#);
    }

    #[test]
    fn deletes_keep_emptied_parents_and_report_revisions() {
        let mut m = Map::new();
        assert_eq!(
            del(&mut m, "a", 1),
            ConfigResponse::Err(ConfigError::NotFound)
        );
        set(&mut m, "a.b", "1", 2);
        assert_eq!(
            del(&mut m, "zzz", 3),
            ConfigResponse::Deleted {
                existed: false,
                revision: 2
            }
        );
        del(&mut m, "a.b", 4);
        assert_eq!(render(&m, ""), r#"{"a":{}}"#);
        assert_eq!(crate::config::revision(&m, "micro"), Ok(4));
        assert_eq!(
            del(&mut m, "", 5),
            ConfigResponse::Deleted {
                existed: true,
                revision: 5
            }
        );
        assert_eq!(get(&m, "micro", ""), Err(ConfigError::NotFound));
        assert!(m.is_empty());
    }

    #[test]
    fn invalid_requests_change_nothing() {
        let mut m = Map::new();
        set(&mut m, "keep", "1", 1);
        let before = m.clone();
        let long_path = "p".repeat(MAX_PATH_BYTES + 1);
        for (path, value) in [
            ("a..b", "1"),
            (".a", "1"),
            ("a.", "1"),
            (long_path.as_str(), "1"),
            ("a", "{not json"),
            ("", "5"),
            ("a", r#"{"ok":1,"":2}"#),
            ("a", r#"{"ok":1,"x..y":2}"#),
        ] {
            assert!(
                matches!(
                    set(&mut m, path, value, 9),
                    ConfigResponse::Err(ConfigError::InvalidArgument(_))
                ),
                "{path:?} {value:?}"
            );
        }
        let big = format!("\"{}\"", "v".repeat(MAX_VALUE_BYTES));
        assert!(matches!(
            set(&mut m, "a", &big, 9),
            ConfigResponse::Err(ConfigError::InvalidArgument(_))
        ));
        assert!(matches!(
            del(&mut m, "a..b", 9),
            ConfigResponse::Err(ConfigError::InvalidArgument(_))
        ));
        for namespace in ["", "a\0b"] {
            let cmd = ConfigCommand::Set {
                namespace: namespace.into(),
                path: "a".into(),
                value: ConfigValue::Json("1".into()),
            };
            assert!(matches!(
                run(&mut m, cmd, 9),
                ConfigResponse::Err(ConfigError::InvalidArgument(_))
            ));
        }
        for value in [
            ConfigValue::Secret(Secret {
                key_id: String::new(),
                ciphertext: vec![1],
            }),
            ConfigValue::SecretObject(vec![(String::new(), secret("1"))]),
        ] {
            let cmd = ConfigCommand::Set {
                namespace: "micro".into(),
                path: "a".into(),
                value,
            };
            assert!(matches!(
                run(&mut m, cmd, 9),
                ConfigResponse::Err(ConfigError::InvalidArgument(_))
            ));
        }
        assert_eq!(m, before);
    }

    #[test]
    fn documents_are_capped() {
        let mut m = Map::new();
        let chunk = format!("\"{}\"", "v".repeat(MAX_VALUE_BYTES - 2));
        let mut refused = false;
        for i in 0..(MAX_DOCUMENT_BYTES / MAX_VALUE_BYTES + 1) {
            let r = set(&mut m, &format!("k{i}"), &chunk, i as u64 + 1);
            refused |= matches!(r, ConfigResponse::Err(ConfigError::InvalidArgument(_)));
        }
        assert!(refused);
        let doc = load(&m, "micro").unwrap().unwrap();
        assert!(encode(&doc).unwrap().len() <= MAX_DOCUMENT_BYTES);
    }
}
