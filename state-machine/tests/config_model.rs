//! Property test: the config state machine against a simple in-memory model — a
//! `serde_json::Value` tree per namespace with Micro's merge semantics — over random sequences
//! of plain and secret sets, deletes and reads, including invalid paths. Also checks
//! determinism: replaying the same log gives the same snapshot bytes, and a snapshot restores
//! to the same answers.

use std::collections::BTreeMap;

use micro_state_machine::config::{
    self, flatten_leaves, to_compact_json, ConfigCommand, ConfigError, ConfigResponse, ConfigValue,
    ConfigView, Secret,
};
use micro_state_machine::kv::commit_to_map;
use micro_state_machine::{apply, snapshot, Command, KvRead, LogEntry, Response, Txn};
use proptest::prelude::*;
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
enum Op {
    Set {
        ns: String,
        path: String,
        value: Value,
        secret: bool,
    },
    Delete {
        ns: String,
        path: String,
    },
    Get {
        ns: String,
        path: String,
    },
}

fn ns() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["micro", "other"]).prop_map(String::from)
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c"]).prop_map(String::from)
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::collection::vec(key(), 0..4).prop_map(|s| s.join(".")),
        1 => prop::sample::select(vec!["a..b", ".a", "b."]).prop_map(String::from),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..300).prop_map(Value::from),
        prop::sample::select(vec![0.5, -2.25]).prop_map(Value::from),
        prop::sample::select(vec!["x", "y z", "<&>"]).prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 3, |inner| {
        prop_oneof![
            1 => prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            3 => prop::collection::btree_map(key(), inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (ns(), path(), json_value(), prop::bool::weighted(0.25))
            .prop_map(|(ns, path, value, secret)| Op::Set { ns, path, value, secret }),
        2 => (ns(), path()).prop_map(|(ns, path)| Op::Delete { ns, path }),
        3 => (ns(), path()).prop_map(|(ns, path)| Op::Get { ns, path }),
    ]
}

/// One namespace in the model: the document as the owner sees it (`revealed`), as everyone
/// else sees it (`masked`), and its revision. Both trees always have the same shape.
#[derive(Debug, Clone)]
struct Doc {
    revealed: Value,
    masked: Value,
    revision: u64,
}

fn segments(path: &str) -> Option<Vec<String>> {
    if path.is_empty() {
        return Some(Vec::new());
    }
    let s: Vec<String> = path.split('.').map(String::from).collect();
    s.iter().all(|x| !x.is_empty()).then_some(s)
}

/// The node at `segs`, made of objects all the way (replacing scalars on the way).
fn slot<'a>(mut v: &'a mut Value, segs: &[String]) -> &'a mut Value {
    for s in segs {
        if !v.is_object() {
            *v = Value::Object(Map::new());
        }
        v = v
            .as_object_mut()
            .unwrap()
            .entry(s.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    v
}

/// Micro's merge: the target becomes an object; objects merge, anything else replaces.
fn merge(target: &mut Value, obj: &Map<String, Value>) {
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let children = target.as_object_mut().unwrap();
    for (k, v) in obj {
        match v {
            Value::Object(inner) => merge(
                children
                    .entry(k.clone())
                    .or_insert_with(|| Value::Object(Map::new())),
                inner,
            ),
            other => {
                children.insert(k.clone(), other.clone());
            }
        }
    }
}

fn has_leaf(obj: &Map<String, Value>) -> bool {
    obj.values().any(|v| match v {
        Value::Object(inner) => has_leaf(inner),
        _ => true,
    })
}

/// A secret object merge: like [`merge`], but every leaf is `leaf(value)` and sub-objects
/// without leaves are skipped (they produce no encrypted leaf).
fn merge_secret(target: &mut Value, obj: &Map<String, Value>, leaf: &dyn Fn(&Value) -> Value) {
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let children = target.as_object_mut().unwrap();
    for (k, v) in obj {
        match v {
            Value::Object(inner) if !has_leaf(inner) => {}
            Value::Object(inner) => merge_secret(
                children
                    .entry(k.clone())
                    .or_insert_with(|| Value::Object(Map::new())),
                inner,
                leaf,
            ),
            other => {
                children.insert(k.clone(), leaf(other));
            }
        }
    }
}

fn lookup<'a>(mut v: &'a Value, segs: &[String]) -> Option<&'a Value> {
    for s in segs {
        v = v.as_object()?.get(s)?;
    }
    Some(v)
}

fn remove(v: &mut Value, segs: &[String]) -> bool {
    let (last, parents) = segs.split_last().unwrap();
    let mut v = v;
    for s in parents {
        match v.as_object_mut().and_then(|m| m.get_mut(s)) {
            Some(c) => v = c,
            None => return false,
        }
    }
    v.as_object_mut().is_some_and(|m| m.remove(last).is_some())
}

/// Stand-in for AES-GCM: the "ciphertext" is the plaintext JSON text.
fn encrypt(v: &Value) -> Secret {
    Secret {
        key_id: "k1".into(),
        ciphertext: to_compact_json(v).into_bytes(),
    }
}

fn decrypt(s: &Secret) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(&s.ciphertext)
}

fn command(ns: &str, path: &str, value: &Value, secret: bool) -> ConfigCommand {
    let value = match (secret, flatten_leaves(value)) {
        (false, _) => ConfigValue::Json(to_compact_json(value)),
        (true, None) => ConfigValue::Secret(encrypt(value)),
        (true, Some(leaves)) => ConfigValue::SecretObject(
            leaves
                .into_iter()
                .map(|(rel, v)| (rel, encrypt(&v)))
                .collect(),
        ),
    };
    ConfigCommand::Set {
        namespace: ns.into(),
        path: path.into(),
        value,
    }
}

/// Applies the model's effect of a set; `false` when the set must be refused.
fn model_set(doc: &mut Doc, segs: &[String], value: &Value, secret: bool) -> bool {
    match (value, secret) {
        (Value::Object(obj), false) => {
            merge(slot(&mut doc.revealed, segs), obj);
            merge(slot(&mut doc.masked, segs), obj);
        }
        (Value::Object(obj), true) => {
            merge_secret(slot(&mut doc.revealed, segs), obj, &|v| v.clone());
            merge_secret(slot(&mut doc.masked, segs), obj, &|_| "[secret]".into());
        }
        _ if segs.is_empty() => return false,
        (v, secret) => {
            *slot(&mut doc.revealed, segs) = v.clone();
            *slot(&mut doc.masked, segs) = if secret { "[secret]".into() } else { v.clone() };
        }
    }
    true
}

fn step(state: &mut BTreeMap<Vec<u8>, Vec<u8>>, index: u64, cmd: ConfigCommand) -> Response {
    let mut txn = Txn::new(state);
    let entry = LogEntry {
        time_ms: 1_000,
        command: Command::Config(cmd),
    };
    let r = apply(&mut txn, index, entry).unwrap();
    let changes = txn.into_changes();
    commit_to_map(state, changes);
    r
}

type Rendered = Result<Option<(String, String)>, ConfigError>;

fn render(kv: &dyn KvRead, ns: &str, path: &str) -> Rendered {
    config::get(kv, ns, path).map(|view: Option<ConfigView>| {
        view.map(|v| (v.render_masked(), v.render_revealed(decrypt).unwrap()))
    })
}

fn invalid(r: &Response) -> bool {
    matches!(
        r,
        Response::Config(ConfigResponse::Err(ConfigError::InvalidArgument(_)))
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn config_matches_model(ops in prop::collection::vec(op(), 1..60)) {
        let mut state = BTreeMap::new();
        let mut model: BTreeMap<String, Doc> = BTreeMap::new();
        let mut log = Vec::new();
        let mut index = 0u64;
        for op in ops {
            match op {
                Op::Set { ns, path, value, secret } => {
                    index += 1;
                    let cmd = command(&ns, &path, &value, secret);
                    log.push((index, cmd.clone()));
                    let got = step(&mut state, index, cmd);
                    let empty = Doc { revealed: Value::Object(Map::new()), masked: Value::Object(Map::new()), revision: 0 };
                    let mut doc = model.get(&ns).cloned().unwrap_or(empty);
                    let ok = segments(&path).is_some_and(|segs| model_set(&mut doc, &segs, &value, secret));
                    if ok {
                        doc.revision = index;
                        model.insert(ns, doc);
                        prop_assert_eq!(got, Response::Config(ConfigResponse::Set { revision: index }));
                    } else {
                        prop_assert!(invalid(&got), "{:?}", got);
                    }
                }
                Op::Delete { ns, path } => {
                    index += 1;
                    let cmd = ConfigCommand::Delete { namespace: ns.clone(), path: path.clone() };
                    log.push((index, cmd.clone()));
                    let got = step(&mut state, index, cmd);
                    let Some(segs) = segments(&path) else {
                        prop_assert!(invalid(&got), "{:?}", got);
                        continue;
                    };
                    let want = match model.get_mut(&ns) {
                        None => ConfigResponse::Err(ConfigError::NotFound),
                        Some(_) if segs.is_empty() => {
                            model.remove(&ns);
                            ConfigResponse::Deleted { existed: true, revision: index }
                        }
                        Some(doc) => {
                            let existed = remove(&mut doc.revealed, &segs);
                            prop_assert_eq!(existed, remove(&mut doc.masked, &segs));
                            if existed {
                                doc.revision = index;
                            }
                            ConfigResponse::Deleted { existed, revision: doc.revision }
                        }
                    };
                    prop_assert_eq!(got, Response::Config(want));
                }
                Op::Get { ns, path } => {
                    let got = render(&state, &ns, &path);
                    match (segments(&path), model.get(&ns)) {
                        (None, _) => prop_assert!(matches!(got, Err(ConfigError::InvalidArgument(_)))),
                        (Some(_), None) => prop_assert_eq!(got, Err(ConfigError::NotFound)),
                        (Some(segs), Some(doc)) => {
                            let want = lookup(&doc.masked, &segs).map(|masked| {
                                let revealed = lookup(&doc.revealed, &segs).unwrap();
                                (to_compact_json(masked), to_compact_json(revealed))
                            });
                            prop_assert_eq!(got, Ok(want));
                            prop_assert_eq!(config::revision(&state, &ns), Ok(doc.revision));
                        }
                    }
                }
            }
        }
        prop_assert_eq!(config::namespaces(&state).unwrap(), model.keys().cloned().collect::<Vec<_>>());

        // Determinism: replaying the same log yields byte-identical snapshots.
        let mut replay = BTreeMap::new();
        for (index, cmd) in log {
            step(&mut replay, index, cmd);
        }
        let a = snapshot::encode(&state.clone().into_iter().collect::<Vec<_>>()).unwrap();
        let b = snapshot::encode(&replay.into_iter().collect::<Vec<_>>()).unwrap();
        prop_assert_eq!(&a, &b);
        // Snapshot → restore → same answers.
        let restored: BTreeMap<_, _> = snapshot::decode(&a).unwrap().into_iter().collect();
        for ns in ["micro", "other"] {
            prop_assert_eq!(render(&restored, ns, ""), render(&state, ns, ""));
            prop_assert_eq!(config::revision(&restored, ns), config::revision(&state, ns));
        }
    }
}
