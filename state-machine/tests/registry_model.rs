//! Property test: the registry state machine against a simple in-memory model, over random
//! registrations, renewals, deregistrations, expiries, clock ticks and reads. Checks every
//! response, every read (live instances only), and that the change history is exactly the
//! model's sequence of changes, without gaps.

use std::collections::BTreeMap;

use micro_state_machine::kv::commit_to_map;
use micro_state_machine::registry::{
    self, Action, Definition, Endpoint, Instance, Registration, RegistryCommand, RegistryError,
    RegistryResponse,
};
use micro_state_machine::{apply, Command, LogEntry, Response, Txn};
use proptest::prelude::*;

const DOMAIN: &str = "micro";

#[derive(Debug, Clone)]
enum Op {
    Register {
        name: &'static str,
        version: &'static str,
        endpoint: Option<&'static str>,
        nodes: Vec<(&'static str, u8)>,
        ttl_s: u64,
    },
    Deregister {
        name: &'static str,
        version: &'static str,
        ids: Vec<&'static str>,
    },
    Expire,
    Tick(u64),
    /// Registrations sharing one entry (only `Register` ops inside).
    Batch(Vec<Op>),
}

fn op() -> impl Strategy<Value = Op> {
    let name = prop::sample::select(vec!["a", "b"]);
    let version = prop::sample::select(vec!["", "v1", "v2"]);
    let id = prop::sample::select(vec!["n1", "n2", "n3"]);
    let register = (
        name.clone(),
        version.clone(),
        prop::option::of(prop::sample::select(vec!["E.One", "E.Two"])),
        prop::collection::vec((id.clone(), 0u8..2), 0..3),
        1u64..20,
    )
        .prop_map(|(name, version, endpoint, nodes, ttl_s)| Op::Register {
            name,
            version,
            endpoint,
            nodes,
            ttl_s,
        });
    prop_oneof![
        2 => prop::collection::vec(register.clone(), 1..5).prop_map(Op::Batch),
        5 => register,
        2 => (name, version, prop::collection::vec(id, 0..2))
            .prop_map(|(name, version, ids)| Op::Deregister { name, version, ids }),
        1 => Just(Op::Expire),
        2 => (1u64..15).prop_map(Op::Tick),
    ]
}

/// Per (name, version): its definition and its nodes with their deadlines.
type Key = (String, String);
/// A version's nodes by id, with their deadlines.
type Nodes = BTreeMap<String, (Instance, u64)>;
#[derive(Default)]
struct Model {
    versions: BTreeMap<Key, (Definition, Nodes)>,
    history: Vec<(Action, Key, Vec<Instance>)>,
}

fn definition(endpoint: &str) -> Definition {
    Definition {
        metadata: BTreeMap::new(),
        endpoints: vec![Endpoint {
            name: endpoint.into(),
            ..Default::default()
        }],
    }
}

fn instance(id: &str, port: u8) -> Instance {
    Instance {
        id: id.into(),
        address: format!("127.0.0.1:{port}"),
        ..Default::default()
    }
}

impl Model {
    fn remove(&mut self, key: &Key, ids: Option<&[String]>) -> u32 {
        let Some((_, nodes)) = self.versions.get_mut(key) else {
            return 0;
        };
        let gone: Vec<Instance> = nodes
            .iter()
            .filter(|(id, _)| ids.is_none_or(|ids| ids.contains(id)))
            .map(|(_, (i, _))| i.clone())
            .collect();
        if gone.is_empty() {
            return 0;
        }
        for i in &gone {
            nodes.remove(&i.id);
        }
        if nodes.is_empty() {
            self.versions.remove(key);
        }
        let n = gone.len() as u32;
        self.history.push((Action::Delete, key.clone(), gone));
        n
    }

    fn apply(&mut self, op: &Op, now: u64) -> RegistryResponse {
        match op {
            Op::Register {
                name,
                version,
                endpoint,
                nodes,
                ttl_s,
            } => {
                let key = (name.to_string(), version.to_string());
                if nodes.is_empty() {
                    return RegistryResponse::Err(RegistryError::InvalidArgument(String::new()));
                }
                let mut ids: Vec<_> = nodes.iter().map(|n| n.0).collect();
                ids.sort();
                ids.dedup();
                if ids.len() != nodes.len() {
                    return RegistryResponse::Err(RegistryError::InvalidArgument(String::new()));
                }
                for (id, _) in nodes {
                    let elsewhere = self
                        .versions
                        .iter()
                        .any(|((n, v), (_, ns))| n == name && v != version && ns.contains_key(*id));
                    if elsewhere {
                        return RegistryResponse::Err(RegistryError::NodeConflict {
                            service: String::new(),
                            node: String::new(),
                            registered: String::new(),
                        });
                    }
                }
                let existing = self.versions.get(&key).map(|(d, _)| d.clone());
                let (def, mut changed) = match (endpoint.map(definition), &existing) {
                    (Some(new), Some(old)) => (new.clone(), &new != old),
                    (Some(new), None) => (new, true),
                    (None, Some(old)) => (old.clone(), false),
                    (None, None) => return RegistryResponse::NeedDefinition,
                };
                let entry = self.versions.entry(key.clone()).or_default();
                entry.0 = def;
                let mut touched = Vec::new();
                for (id, port) in nodes {
                    let inst = instance(id, *port);
                    let old = entry
                        .1
                        .insert(id.to_string(), (inst.clone(), now + ttl_s * 1000));
                    if old.map(|o| o.0) != Some(inst.clone()) {
                        changed = true;
                        touched.push(inst);
                    }
                }
                if !changed {
                    return RegistryResponse::Registered { revision: None };
                }
                let action = if existing.is_none() {
                    Action::Create
                } else {
                    Action::Update
                };
                self.history.push((action, key, touched));
                RegistryResponse::Registered {
                    revision: Some(self.history.len() as u64),
                }
            }
            Op::Deregister { name, version, ids } => {
                let key = (name.to_string(), version.to_string());
                let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
                let removed = self.remove(&key, (!ids.is_empty()).then_some(ids.as_slice()));
                RegistryResponse::Deregistered { removed }
            }
            Op::Expire => {
                let mut count = 0;
                let keys: Vec<Key> = self.versions.keys().cloned().collect();
                for key in keys {
                    let due: Vec<String> = self.versions[&key]
                        .1
                        .iter()
                        .filter(|(_, (_, d))| *d <= now)
                        .map(|(id, _)| id.clone())
                        .collect();
                    if !due.is_empty() {
                        count += self.remove(&key, Some(&due));
                    }
                }
                RegistryResponse::Expired { count }
            }
            Op::Batch(ops) => RegistryResponse::Batch {
                results: ops.iter().map(|op| self.apply(op, now)).collect(),
            },
            Op::Tick(_) => unreachable!("ticks are not applied"),
        }
    }
}

fn registration(op: &Op) -> Registration {
    match op {
        Op::Register {
            name,
            version,
            endpoint,
            nodes,
            ttl_s,
        } => Registration {
            domain: DOMAIN.into(),
            name: name.to_string(),
            version: version.to_string(),
            definition: endpoint.map(definition),
            nodes: nodes.iter().map(|(id, p)| instance(id, *p)).collect(),
            ttl_ms: ttl_s * 1000,
        },
        other => unreachable!("not a registration: {other:?}"),
    }
}

fn command(op: &Op) -> RegistryCommand {
    match op {
        Op::Register { .. } => RegistryCommand::Register(registration(op)),
        Op::Deregister { name, version, ids } => RegistryCommand::Deregister {
            domain: DOMAIN.into(),
            name: name.to_string(),
            version: version.to_string(),
            node_ids: ids.iter().map(|s| s.to_string()).collect(),
        },
        Op::Expire => RegistryCommand::Expire { limit: 1000 },
        Op::Batch(ops) => RegistryCommand::RegisterBatch {
            registrations: ops.iter().map(registration).collect(),
        },
        Op::Tick(_) => unreachable!("ticks are not applied"),
    }
}

/// Errors compare by kind: the model does not spell messages.
fn same(a: &RegistryResponse, b: &RegistryResponse) -> bool {
    match (a, b) {
        (RegistryResponse::Err(x), RegistryResponse::Err(y)) => {
            std::mem::discriminant(x) == std::mem::discriminant(y)
        }
        (RegistryResponse::Batch { results: x }, RegistryResponse::Batch { results: y }) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn registry_matches_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let mut state = BTreeMap::new();
        let mut model = Model::default();
        let mut now = 1_000u64;
        for (i, op) in ops.iter().enumerate() {
            if let Op::Tick(s) = op {
                now += s * 1000;
                continue;
            }
            let expected = model.apply(op, now);
            let entry = LogEntry { time_ms: now, command: Command::Registry(command(op)) };
            let mut txn = Txn::new(&state);
            let got = apply(&mut txn, i as u64 + 1, entry).unwrap();
            let changes = txn.into_changes();
            commit_to_map(&mut state, changes);
            let Response::Registry(got) = got else { panic!("not a registry response") };
            prop_assert!(same(&got, &expected), "op {op:?}: got {got:?}, model {expected:?}");

            // Reads show exactly the live instances.
            let listed = registry::list_services(&state, DOMAIN, now).unwrap();
            let mut want = Vec::new();
            for ((n, v), (d, nodes)) in &model.versions {
                let live: Vec<Instance> = nodes.values().filter(|(_, dl)| *dl > now).map(|(i, _)| i.clone()).collect();
                if !live.is_empty() {
                    want.push((n.clone(), v.clone(), d.clone(), live));
                }
            }
            let got: Vec<_> = listed.into_iter().map(|s| (s.name, s.version, s.definition, s.nodes)).collect();
            prop_assert_eq!(got, want);
        }
        // The history is the model's, revision by revision.
        let events = registry::watch_events(&state, 0, usize::MAX).unwrap();
        prop_assert_eq!(events.len(), model.history.len());
        for (i, (e, (action, (name, version), nodes))) in events.iter().zip(&model.history).enumerate() {
            prop_assert_eq!(e.revision, i as u64 + 1);
            prop_assert_eq!(e.action, *action);
            prop_assert_eq!(&e.service.name, name);
            prop_assert_eq!(&e.service.version, version);
            prop_assert_eq!(&e.service.nodes, nodes);
        }
    }
}
