//! Property test: the store state machine against a simple in-memory model, over random
//! sequences of writes, deletes, batches of them, purges and reads with prefixes, suffixes,
//! limits, offsets, TTLs and preconditions. Also checks determinism: replaying the same log gives the same
//! snapshot bytes, and a snapshot restores to the same answers.

use std::collections::BTreeMap;

use micro_state_machine::kv::commit_to_map;
use micro_state_machine::store::{
    self, Order, Precondition, QueryOptions, StoreCommand, StoreError, StoreResponse, Table,
};
use micro_state_machine::{apply, snapshot, Command, LogEntry, Response, Txn};
use proptest::prelude::*;

/// A write or a delete, alone or in a batch.
#[derive(Debug, Clone)]
enum Change {
    Write {
        key: String,
        ttl_ms: Option<u64>,
        pre: Option<Precondition>,
        value: u8,
    },
    Delete {
        key: String,
        pre: Option<Precondition>,
    },
}

#[derive(Debug, Clone)]
enum Op {
    One(Change),
    /// Changes of distinct keys in one `StoreCommand::Batch`, as a node's batcher forms them.
    Batch(Vec<Change>),
    Purge,
    Read {
        key: String,
        prefix: bool,
        suffix: bool,
        limit: u64,
        offset: u64,
        desc: bool,
    },
    List {
        prefix: String,
        suffix: String,
        limit: u64,
        offset: u64,
        desc: bool,
    },
    Tick(u64),
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "ab", "abc", "b", "ba", "bab", "c"]).prop_map(String::from)
}

fn pre() -> impl Strategy<Value = Option<Precondition>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(Precondition::Absent)),
        1 => (0u64..30).prop_map(|r| Some(Precondition::Revision(r))),
    ]
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        2 => (key(), prop::option::of(1u64..50), pre(), any::<u8>())
            .prop_map(|(key, ttl_ms, pre, value)| Change::Write { key, ttl_ms, pre, value }),
        1 => (key(), pre()).prop_map(|(key, pre)| Change::Delete { key, pre }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => change().prop_map(Op::One),
        2 => prop::collection::vec(change(), 1..6).prop_map(|cs| {
            let mut seen = std::collections::BTreeSet::new();
            Op::Batch(cs.into_iter().filter(|c| seen.insert(c.key().to_owned())).collect())
        }),
        1 => Just(Op::Purge),
        2 => (key(), any::<bool>(), any::<bool>(), 0u64..4, 0u64..4, any::<bool>())
            .prop_map(|(key, prefix, suffix, limit, offset, desc)| Op::Read { key, prefix, suffix, limit, offset, desc }),
        2 => (prop::sample::select(vec!["", "a", "b", "ab"]), prop::sample::select(vec!["", "b", "ab"]), 0u64..4, 0u64..4, any::<bool>())
            .prop_map(|(p, s, limit, offset, desc)| Op::List { prefix: p.into(), suffix: s.into(), limit, offset, desc }),
        2 => (0u64..30).prop_map(Op::Tick),
    ]
}

impl Change {
    fn key(&self) -> &str {
        match self {
            Change::Write { key, .. } | Change::Delete { key, .. } => key,
        }
    }

    fn command(&self) -> StoreCommand {
        match self.clone() {
            Change::Write {
                key,
                ttl_ms,
                pre,
                value,
            } => StoreCommand::Write {
                table: table(),
                key,
                value: vec![value],
                metadata: BTreeMap::new(),
                ttl_ms,
                precondition: pre,
            },
            Change::Delete { key, pre } => StoreCommand::Delete {
                table: table(),
                key,
                precondition: pre,
            },
        }
    }

    /// Applies this change to `model` at `index` and `now`; the response the state machine
    /// must give, or `None` where it must refuse a failed precondition.
    fn expect(&self, model: &mut Model, index: u64, now: u64) -> Option<StoreResponse> {
        match self {
            Change::Write {
                key,
                ttl_ms,
                pre,
                value,
            } => model.holds(key, *pre, now).then(|| {
                model
                    .0
                    .insert(key.clone(), (*value, index, ttl_ms.map(|t| now + t)));
                StoreResponse::Written { revision: index }
            }),
            Change::Delete { key, pre } => model.holds(key, *pre, now).then(|| {
                let existed = model.live(now).iter().any(|(k, _)| k == key);
                model.0.remove(key);
                StoreResponse::Deleted { existed }
            }),
        }
    }
}

/// Whether `got` is what `want` (from [`Change::expect`]) says.
fn as_expected(got: &StoreResponse, want: &Option<StoreResponse>) -> bool {
    match want {
        Some(w) => got == w,
        None => matches!(
            got,
            StoreResponse::Err(StoreError::PreconditionFailed { .. })
        ),
    }
}

/// A model record: (value, revision, deadline).
type Entry = (u8, u64, Option<u64>);

/// The model: key → entry.
#[derive(Default)]
struct Model(BTreeMap<String, Entry>);

impl Model {
    fn live(&self, now: u64) -> Vec<(String, Entry)> {
        self.0
            .iter()
            .filter(|(_, v)| v.2.is_none_or(|d| d > now))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
    fn holds(&self, key: &str, pre: Option<Precondition>, now: u64) -> bool {
        let cur = self.0.get(key).filter(|v| v.2.is_none_or(|d| d > now));
        match pre {
            None => true,
            Some(Precondition::Absent) => cur.is_none(),
            Some(Precondition::Revision(r)) => cur.is_some_and(|c| c.1 == r),
        }
    }
}

fn page<T>(v: Vec<T>, offset: u64, limit: u64) -> Vec<T> {
    let it = v.into_iter().skip(offset as usize);
    if limit == 0 {
        it.collect()
    } else {
        it.take(limit as usize).collect()
    }
}

fn table() -> Table {
    Table::new("db", "t").unwrap()
}

fn step(
    state: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    index: u64,
    time_ms: u64,
    cmd: StoreCommand,
) -> Response {
    let mut txn = Txn::new(state);
    let r = apply(
        &mut txn,
        index,
        LogEntry {
            time_ms,
            command: Command::Store(cmd),
        },
    )
    .unwrap();
    let changes = txn.into_changes();
    commit_to_map(state, changes);
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn store_matches_model(ops in prop::collection::vec(op(), 1..60)) {
        let mut state = BTreeMap::new();
        let mut model = Model::default();
        let mut log = Vec::new();
        let mut now = 1_000u64;
        let mut index = 0u64;
        for op in ops {
            match op {
                Op::Tick(d) => now += d,
                Op::One(change) => {
                    index += 1;
                    let cmd = change.command();
                    log.push((index, now, cmd.clone()));
                    let Response::Store(got) = step(&mut state, index, now, cmd) else {
                        return Err(TestCaseError::fail("not a store response"));
                    };
                    let want = change.expect(&mut model, index, now);
                    prop_assert!(as_expected(&got, &want), "{:?}: got {:?}, want {:?}", change, got, want);
                }
                Op::Batch(changes) => {
                    index += 1;
                    let cmd = StoreCommand::Batch { commands: changes.iter().map(Change::command).collect() };
                    log.push((index, now, cmd.clone()));
                    let Response::Store(StoreResponse::Batch { results }) = step(&mut state, index, now, cmd) else {
                        return Err(TestCaseError::fail("a batch not answered by a batch"));
                    };
                    prop_assert_eq!(results.len(), changes.len());
                    for (change, got) in changes.iter().zip(&results) {
                        let want = change.expect(&mut model, index, now);
                        prop_assert!(as_expected(got, &want), "{:?}: got {:?}, want {:?}", change, got, want);
                    }
                }
                Op::Purge => {
                    index += 1;
                    let cmd = StoreCommand::PurgeExpired { limit: 1000 };
                    log.push((index, now, cmd.clone()));
                    step(&mut state, index, now, cmd);
                    model.0.retain(|_, v| v.2.is_none_or(|d| d > now));
                }
                Op::Read { key, prefix, suffix, limit, offset, desc } => {
                    let opts = QueryOptions { prefix, suffix, limit, offset, order: if desc { Order::Desc } else { Order::Asc } };
                    let got = store::read(&state, &table(), &key, &opts, now)
                        .map(|rs| rs.into_iter().map(|r| (r.key, r.record.value[0], r.record.revision)).collect::<Vec<_>>());
                    let mut want: Vec<_> = model.live(now).into_iter()
                        .filter(|(k, _)| if prefix || suffix { (!prefix || k.starts_with(&key)) && (!suffix || k.ends_with(&key)) } else { *k == key })
                        .map(|(k, v)| (k, v.0, v.1)).collect();
                    if desc { want.reverse(); }
                    if prefix || suffix {
                        prop_assert_eq!(got, Ok(page(want, offset, limit)));
                    } else if want.is_empty() {
                        prop_assert_eq!(got, Err(StoreError::NotFound));
                    } else {
                        prop_assert_eq!(got, Ok(want));
                    }
                }
                Op::List { prefix, suffix, limit, offset, desc } => {
                    let opts = QueryOptions { limit, offset, order: if desc { Order::Desc } else { Order::Asc }, ..Default::default() };
                    let got = store::list(&state, &table(), &prefix, &suffix, &opts, now).unwrap();
                    let mut want: Vec<_> = model.live(now).into_iter().map(|(k, _)| k)
                        .filter(|k| k.starts_with(&prefix) && k.ends_with(&suffix)).collect();
                    if desc { want.reverse(); }
                    prop_assert_eq!(got, page(want, offset, limit));
                }
            }
        }

        // Determinism: replaying the same log yields byte-identical snapshots.
        let mut replay = BTreeMap::new();
        for (index, time, cmd) in log {
            step(&mut replay, index, time, cmd);
        }
        let a = snapshot::encode(&state.clone().into_iter().collect::<Vec<_>>()).unwrap();
        let b = snapshot::encode(&replay.into_iter().collect::<Vec<_>>()).unwrap();
        prop_assert_eq!(&a, &b);
        // Snapshot → restore → same answers.
        let restored: BTreeMap<_, _> = snapshot::decode(&a).unwrap().into_iter().collect();
        let opts = QueryOptions { prefix: true, ..Default::default() };
        prop_assert_eq!(store::read(&restored, &table(), "", &opts, now), store::read(&state, &table(), "", &opts, now));
    }
}
