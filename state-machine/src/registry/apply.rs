//! Applying registry commands. Deterministic: deadlines come from the entry's time, and each
//! change that watchers can see is appended to the bounded history.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{
    decode, definition_key, encode, event_key, expiry_key, node_index_key, node_key, nodes_prefix,
    split_expiry_key, validate_instance, HISTORY_KEY,
};
use super::{
    validate_name, Action, Definition, History, Instance, NodeRecord, Registration,
    RegistryCommand, RegistryError, RegistryResponse, Service, WatchEvent, EXPIRY_PREFIX,
    HISTORY_LEN, MAX_TTL_MS, MIN_TTL_MS,
};
use crate::kv::{ApplyError, KvRead, Txn};
use crate::ApplyContext;

/// Applies one registry command to `txn`.
pub fn apply(
    txn: &mut Txn<'_>,
    cmd: RegistryCommand,
    ctx: &ApplyContext,
) -> Result<RegistryResponse, ApplyError> {
    match cmd {
        RegistryCommand::Register(one) => register(txn, one, ctx),
        RegistryCommand::RegisterBatch { registrations } => {
            // A refused registration stages nothing (see `register`), so the ones after it
            // apply as if it had been an entry of its own.
            let results = registrations
                .into_iter()
                .map(|r| register(txn, r, ctx))
                .collect::<Result<_, _>>()?;
            Ok(RegistryResponse::Batch { results })
        }
        RegistryCommand::Deregister {
            domain,
            name,
            version,
            node_ids,
        } => {
            let at = Version {
                domain,
                name,
                version,
            };
            if let Err(e) = validate_version(&at) {
                return Ok(RegistryResponse::Err(e));
            }
            let removed = remove_nodes(txn, &at, Some(&node_ids), ctx)?;
            Ok(RegistryResponse::Deregistered { removed })
        }
        RegistryCommand::Expire { limit } => {
            let mut due: BTreeMap<Version, Vec<String>> = BTreeMap::new();
            for (k, _) in txn
                .scan_prefix(EXPIRY_PREFIX)?
                .into_iter()
                .take(limit as usize)
            {
                let (deadline, [domain, name, version, node]) = split_expiry_key(&k)?;
                if deadline > ctx.time_ms {
                    break;
                }
                due.entry(Version {
                    domain,
                    name,
                    version,
                })
                .or_default()
                .push(node);
            }
            let mut count = 0;
            for (at, ids) in due {
                count += remove_nodes(txn, &at, Some(&ids), ctx)?;
            }
            Ok(RegistryResponse::Expired { count })
        }
    }
}

/// Where a command applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Version {
    domain: String,
    name: String,
    version: String,
}

fn validate_version(at: &Version) -> Result<(), RegistryError> {
    validate_name("domain", &at.domain, false)?;
    validate_name("service name", &at.name, false)?;
    validate_name("version", &at.version, true)
}

fn validate_register(at: &Version, nodes: &[Instance], ttl_ms: u64) -> Result<(), RegistryError> {
    validate_version(at)?;
    if nodes.is_empty() {
        return Err(RegistryError::InvalidArgument(format!(
            "service {} has no nodes to register",
            at.name
        )));
    }
    let mut seen = BTreeSet::new();
    for node in nodes {
        validate_instance(node)?;
        if !seen.insert(node.id.as_str()) {
            return Err(RegistryError::InvalidArgument(format!(
                "node {:?} appears twice in the registration",
                node.id
            )));
        }
    }
    if !(MIN_TTL_MS..=MAX_TTL_MS).contains(&ttl_ms) {
        return Err(RegistryError::InvalidArgument(format!(
            "ttl must be between {} and {} seconds",
            MIN_TTL_MS / 1000,
            MAX_TTL_MS / 1000
        )));
    }
    Ok(())
}

/// Validates and applies one registration; a refusal returns before anything is staged.
fn register(
    txn: &mut Txn<'_>,
    r: Registration,
    ctx: &ApplyContext,
) -> Result<RegistryResponse, ApplyError> {
    let Registration {
        domain,
        name,
        version,
        definition,
        nodes,
        ttl_ms,
    } = r;
    let at = &Version {
        domain,
        name,
        version,
    };
    if let Err(e) = validate_register(at, &nodes, ttl_ms) {
        return Ok(RegistryResponse::Err(e));
    }
    let def_key = definition_key(&at.domain, &at.name, &at.version);
    let stored: Option<Definition> = txn.get(&def_key)?.map(|b| decode(&b)).transpose()?;
    // Conflicts are checked before anything is staged, so a refused command changes nothing.
    for node in &nodes {
        let index = node_index_key(&at.domain, &at.name, &node.id);
        if let Some(v) = txn.get(&index)? {
            let registered: String = decode(&v)?;
            if registered != at.version {
                return Ok(RegistryResponse::Err(RegistryError::NodeConflict {
                    service: at.name.clone(),
                    node: node.id.clone(),
                    registered,
                }));
            }
        }
    }
    let created = stored.is_none();
    let (definition, mut changed) = match (definition, stored) {
        (Some(new), Some(old)) => {
            let changed = new != old;
            (new, changed)
        }
        (Some(new), None) => (new, true),
        (None, Some(old)) => (old, false),
        (None, None) => return Ok(RegistryResponse::NeedDefinition),
    };
    if changed {
        txn.put(def_key, encode(&definition)?);
    }
    let expires_at_ms = ctx.time_ms.saturating_add(ttl_ms);
    let mut touched = Vec::new();
    for node in nodes {
        let key = node_key(&at.domain, &at.name, &at.version, &node.id);
        let old: Option<NodeRecord> = txn.get(&key)?.map(|b| decode(&b)).transpose()?;
        if let Some(old) = &old {
            txn.delete(expiry_key(
                old.expires_at_ms,
                &at.domain,
                &at.name,
                &at.version,
                &node.id,
            ));
        } else {
            txn.put(
                node_index_key(&at.domain, &at.name, &node.id),
                encode(&at.version)?,
            );
        }
        if old.as_ref().map(|o| &o.instance) != Some(&node) {
            changed = true;
            touched.push(node.clone());
        }
        txn.put(
            expiry_key(expires_at_ms, &at.domain, &at.name, &at.version, &node.id),
            Vec::new(),
        );
        let record = NodeRecord {
            instance: node,
            ttl_ms,
            expires_at_ms,
        };
        txn.put(key, encode(&record)?);
    }
    if !changed {
        return Ok(RegistryResponse::Registered { revision: None });
    }
    let action = if created {
        Action::Create
    } else {
        Action::Update
    };
    let revision = record_event(txn, at, action, definition, touched, ctx)?;
    Ok(RegistryResponse::Registered {
        revision: Some(revision),
    })
}

/// Removes the listed nodes of a version (all of them with `None` or an empty list), the
/// version itself once it has none left, and records one delete event. Returns how many went.
fn remove_nodes(
    txn: &mut Txn<'_>,
    at: &Version,
    ids: Option<&[String]>,
    ctx: &ApplyContext,
) -> Result<u32, ApplyError> {
    let prefix = nodes_prefix(&at.domain, &at.name, &at.version);
    let present: Vec<NodeRecord> = txn
        .scan_prefix(&prefix)?
        .into_iter()
        .map(|(_, v)| decode(&v))
        .collect::<Result<_, _>>()?;
    let wanted: Option<BTreeSet<&str>> = ids
        .filter(|ids| !ids.is_empty())
        .map(|ids| ids.iter().map(String::as_str).collect());
    let (gone, kept): (Vec<NodeRecord>, Vec<NodeRecord>) = present.into_iter().partition(|r| {
        wanted
            .as_ref()
            .is_none_or(|w| w.contains(r.instance.id.as_str()))
    });
    if gone.is_empty() {
        return Ok(0);
    }
    for r in &gone {
        let id = &r.instance.id;
        txn.delete(node_key(&at.domain, &at.name, &at.version, id));
        txn.delete(node_index_key(&at.domain, &at.name, id));
        txn.delete(expiry_key(
            r.expires_at_ms,
            &at.domain,
            &at.name,
            &at.version,
            id,
        ));
    }
    let def_key = definition_key(&at.domain, &at.name, &at.version);
    let definition: Definition = txn
        .get(&def_key)?
        .map(|b| decode(&b))
        .transpose()?
        .unwrap_or_default();
    if kept.is_empty() {
        txn.delete(def_key);
    }
    let count = gone.len() as u32;
    let nodes = gone.into_iter().map(|r| r.instance).collect();
    record_event(txn, at, Action::Delete, definition, nodes, ctx)?;
    Ok(count)
}

/// Appends a change to the history, dropping the oldest beyond [`HISTORY_LEN`].
fn record_event(
    txn: &mut Txn<'_>,
    at: &Version,
    action: Action,
    definition: Definition,
    nodes: Vec<Instance>,
    ctx: &ApplyContext,
) -> Result<u64, ApplyError> {
    let mut history = load_history(txn)?;
    let revision = history.next;
    let event = WatchEvent {
        revision,
        action,
        domain: at.domain.clone(),
        service: Service {
            name: at.name.clone(),
            version: at.version.clone(),
            definition,
            nodes,
        },
        time_ms: ctx.time_ms,
    };
    txn.put(event_key(revision), encode(&event)?);
    history.next += 1;
    while history.next - history.oldest > HISTORY_LEN {
        txn.delete(event_key(history.oldest));
        history.oldest += 1;
    }
    txn.put(HISTORY_KEY.to_vec(), encode(&history)?);
    Ok(revision)
}

/// The history bounds (empty history before the first change).
pub(crate) fn load_history(kv: &dyn KvRead) -> Result<History, ApplyError> {
    Ok(kv
        .get(HISTORY_KEY)?
        .map(|b| decode(&b))
        .transpose()?
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::kv::in_txn;
    use crate::registry::{get_service, watch_events, Endpoint};

    fn ctx(index: u64, time_ms: u64) -> ApplyContext {
        ApplyContext { index, time_ms }
    }

    fn node(id: &str, address: &str) -> Instance {
        Instance {
            id: id.into(),
            address: address.into(),
            ..Default::default()
        }
    }

    fn def(endpoint: &str) -> Definition {
        Definition {
            metadata: BTreeMap::new(),
            endpoints: vec![Endpoint {
                name: endpoint.into(),
                ..Default::default()
            }],
        }
    }

    fn registration(
        version: &str,
        definition: Option<Definition>,
        nodes: Vec<Instance>,
    ) -> Registration {
        Registration {
            domain: "micro".into(),
            name: "greeter".into(),
            version: version.into(),
            definition,
            nodes,
            ttl_ms: 10_000,
        }
    }

    fn register(
        version: &str,
        definition: Option<Definition>,
        nodes: Vec<Instance>,
    ) -> RegistryCommand {
        RegistryCommand::Register(registration(version, definition, nodes))
    }

    fn run(
        map: &mut BTreeMap<Vec<u8>, Vec<u8>>,
        cmd: RegistryCommand,
        c: ApplyContext,
    ) -> RegistryResponse {
        in_txn(map, |txn| apply(txn, cmd, &c).unwrap())
    }

    #[test]
    fn renewal_extends_the_lease_without_a_change_event() {
        let mut map = BTreeMap::new();
        let first = run(
            &mut map,
            register("v1", Some(def("G.Hi")), vec![node("n1", "a:1")]),
            ctx(1, 1000),
        );
        assert_eq!(first, RegistryResponse::Registered { revision: Some(1) });
        let renew = run(
            &mut map,
            register("v1", None, vec![node("n1", "a:1")]),
            ctx(2, 9000),
        );
        assert_eq!(renew, RegistryResponse::Registered { revision: None });
        // Alive past the first deadline (11 000) thanks to the renewal, gone after the second.
        assert_eq!(
            get_service(&map, "micro", "greeter", 15_000).unwrap()[0]
                .nodes
                .len(),
            1
        );
        assert_eq!(
            get_service(&map, "micro", "greeter", 19_000),
            Err(RegistryError::NotFound)
        );
        let expired = run(
            &mut map,
            RegistryCommand::Expire { limit: 10 },
            ctx(3, 19_000),
        );
        assert_eq!(expired, RegistryResponse::Expired { count: 1 });
        let events = watch_events(&map, 0, 10).unwrap();
        let actions: Vec<_> = events.iter().map(|e| e.action).collect();
        assert_eq!(actions, vec![Action::Create, Action::Delete]);
        assert_eq!(events[1].service.nodes, vec![node("n1", "a:1")]);
    }

    #[test]
    fn a_renewal_of_an_unknown_version_asks_for_the_definition() {
        let mut map = BTreeMap::new();
        let r = run(
            &mut map,
            register("v1", None, vec![node("n1", "a:1")]),
            ctx(1, 0),
        );
        assert_eq!(r, RegistryResponse::NeedDefinition);
        assert!(map.is_empty());
    }

    #[test]
    fn a_node_id_belongs_to_one_version_and_a_refusal_changes_nothing() {
        let mut map = BTreeMap::new();
        run(
            &mut map,
            register("v1", Some(def("G.Hi")), vec![node("n1", "a:1")]),
            ctx(1, 0),
        );
        let before = map.clone();
        let r = run(
            &mut map,
            register(
                "v2",
                Some(def("G.Hi")),
                vec![node("n2", "b:1"), node("n1", "a:1")],
            ),
            ctx(2, 0),
        );
        assert!(matches!(
            r,
            RegistryResponse::Err(RegistryError::NodeConflict { .. })
        ));
        assert_eq!(map, before);
        let dup = run(
            &mut map,
            register(
                "v1",
                Some(def("G.Hi")),
                vec![node("n2", "b:1"), node("n2", "b:2")],
            ),
            ctx(3, 0),
        );
        assert!(matches!(
            dup,
            RegistryResponse::Err(RegistryError::InvalidArgument(_))
        ));
    }

    #[test]
    fn a_batch_applies_each_registration_on_its_own() {
        let mut map = BTreeMap::new();
        let item = |version: &str, definition, id: &str| {
            registration(version, definition, vec![node(id, "a:1")])
        };
        let batch = RegistryCommand::RegisterBatch {
            registrations: vec![
                item("v1", Some(def("G.Hi")), "n1"),
                // n1 belongs to v1 by now: refused, and the rest of the entry still applies.
                item("v2", Some(def("G.Hi")), "n1"),
                // The definition came earlier in the same entry.
                item("v1", None, "n2"),
                item("v3", None, "n3"),
            ],
        };
        let RegistryResponse::Batch { results } = run(&mut map, batch, ctx(1, 0)) else {
            panic!("a batch is answered with a batch");
        };
        assert_eq!(
            results[0],
            RegistryResponse::Registered { revision: Some(1) }
        );
        assert!(matches!(
            results[1],
            RegistryResponse::Err(RegistryError::NodeConflict { .. })
        ));
        assert_eq!(
            results[2],
            RegistryResponse::Registered { revision: Some(2) }
        );
        assert_eq!(results[3], RegistryResponse::NeedDefinition);
        let live = get_service(&map, "micro", "greeter", 0).unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].nodes, vec![node("n1", "a:1"), node("n2", "a:1")]);
    }

    #[test]
    fn deregistering_the_last_node_removes_the_version() {
        let mut map = BTreeMap::new();
        run(
            &mut map,
            register(
                "v1",
                Some(def("G.Hi")),
                vec![node("n1", "a:1"), node("n2", "b:1")],
            ),
            ctx(1, 0),
        );
        let d = RegistryCommand::Deregister {
            domain: "micro".into(),
            name: "greeter".into(),
            version: "v1".into(),
            node_ids: vec!["n1".into()],
        };
        assert_eq!(
            run(&mut map, d, ctx(2, 0)),
            RegistryResponse::Deregistered { removed: 1 }
        );
        let all = RegistryCommand::Deregister {
            domain: "micro".into(),
            name: "greeter".into(),
            version: "v1".into(),
            node_ids: vec![],
        };
        assert_eq!(
            run(&mut map, all, ctx(3, 0)),
            RegistryResponse::Deregistered { removed: 1 }
        );
        assert_eq!(
            get_service(&map, "micro", "greeter", 0),
            Err(RegistryError::NotFound)
        );
        // Only the history remains.
        assert!(map.keys().all(|k| k.starts_with(b"r/w/") || k == b"r/meta"));
    }

    #[test]
    fn history_is_bounded_and_reports_compaction() {
        let mut map = BTreeMap::new();
        for i in 0..(HISTORY_LEN + 5) {
            let address = format!("a:{i}");
            run(
                &mut map,
                register("v1", Some(def("G.Hi")), vec![node("n1", &address)]),
                ctx(i + 1, 0),
            );
        }
        let h = crate::registry::history(&map).unwrap();
        assert_eq!((h.oldest, h.next), (6, HISTORY_LEN + 6));
        assert!(matches!(
            watch_events(&map, 3, 10),
            Err(RegistryError::Compacted {
                requested: 3,
                oldest: 6
            })
        ));
        assert_eq!(watch_events(&map, 5, 1).unwrap()[0].revision, 6);
    }
}
