//! Property test: the events state machine against a simple in-memory model, over random
//! sequences of batched publishes (with duplicate ids), claims by several groups with varying
//! start positions, ack waits and retry limits, acks and nacks, retention changes, trims,
//! reads and the passing of time. Every answer must match the model exactly, and so must each
//! topic's bookkeeping and each group's position afterwards. Also checks determinism:
//! replaying the same log gives the same snapshot bytes.

use std::collections::{BTreeMap, VecDeque};

use micro_state_machine::events::{
    self, Appended, Claim, Delivery, EventsCommand, EventsError, EventsResponse, NewEvent,
    Retention, StartPosition, StoredEvent, MAX_TRIM_PER_ENTRY,
};
use micro_state_machine::kv::commit_to_map;
use micro_state_machine::{apply, snapshot, Command, LogEntry, Response, Txn};
use proptest::prelude::*;

const TOPICS: [&str; 2] = ["a", "b"];
const GROUPS: [&str; 2] = ["g", "h"];

#[derive(Debug, Clone)]
enum Op {
    Publish(Vec<(usize, u8, u8, bool)>),
    Claim {
        topic: usize,
        group: usize,
        max: u32,
        ack_wait_ms: u64,
        retry_limit: Option<u32>,
        start: StartPosition,
    },
    Ack {
        topic: usize,
        group: usize,
        seqs: Vec<u64>,
        success: bool,
    },
    Trim(u32),
    SetRetention(usize, Retention),
    Read {
        topic: usize,
        offset: u64,
        limit: usize,
    },
    Tick(u64),
}

fn start() -> impl Strategy<Value = StartPosition> {
    prop_oneof![
        Just(StartPosition::Earliest),
        Just(StartPosition::Latest),
        (0u64..12).prop_map(StartPosition::Sequence),
        (900u64..1300).prop_map(StartPosition::Time),
    ]
}

fn retention() -> impl Strategy<Value = Retention> {
    (
        prop_oneof![Just(0u64), 20u64..200],
        prop_oneof![Just(0u64), 2u64..20],
        prop_oneof![Just(0u64), 1u64..6],
    )
        .prop_map(|(max_age_ms, max_bytes, max_events)| Retention {
            max_age_ms,
            max_bytes,
            max_events,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => prop::collection::vec((0usize..2, 0u8..12, 0u8..4, prop::bool::weighted(0.8)), 1..5)
            .prop_map(Op::Publish),
        5 => (0usize..2, 0usize..2, 1u32..4, 1u64..60, prop::option::of(0u32..3), start())
            .prop_map(|(topic, group, max, ack_wait_ms, retry_limit, start)| Op::Claim {
                topic, group, max, ack_wait_ms, retry_limit, start
            }),
        3 => (0usize..2, 0usize..2, prop::collection::vec(0u64..14, 0..4), any::<bool>())
            .prop_map(|(topic, group, seqs, success)| Op::Ack { topic, group, seqs, success }),
        1 => (1u32..4).prop_map(Op::Trim),
        1 => (0usize..2, retention()).prop_map(|(t, r)| Op::SetRetention(t, r)),
        2 => (0usize..2, 0u64..6, 1usize..5)
            .prop_map(|(topic, offset, limit)| Op::Read { topic, offset, limit }),
        3 => (0u64..40).prop_map(Op::Tick),
    ]
}

#[derive(Debug, Clone)]
struct MTopic {
    /// (seq, event) of the retained log, oldest first.
    log: VecDeque<(u64, StoredEvent)>,
    next: u64,
    retention: Retention,
}

impl Default for MTopic {
    fn default() -> Self {
        MTopic {
            log: VecDeque::new(),
            next: 1,
            retention: Retention::default(),
        }
    }
}

impl MTopic {
    fn first(&self) -> u64 {
        self.log.front().map_or(self.next, |(s, _)| *s)
    }
    fn bytes(&self) -> u64 {
        self.log.iter().map(|(_, e)| e.size()).sum()
    }
    fn get(&self, seq: u64) -> Option<&StoredEvent> {
        self.log.iter().find(|(s, _)| *s == seq).map(|(_, e)| e)
    }
    /// Removes what retention no longer keeps, oldest first, at most `limit`.
    fn trim(&mut self, now: u64, limit: u64) -> u64 {
        let r = self.retention;
        let mut removed = 0;
        while removed < limit {
            let Some((_, first)) = self.log.front() else {
                break;
            };
            let over_count = r.max_events > 0 && self.log.len() as u64 > r.max_events;
            let over_bytes = r.max_bytes > 0 && self.bytes() > r.max_bytes;
            let too_old = r.max_age_ms > 0 && first.appended_ms + r.max_age_ms <= now;
            if !(over_count || over_bytes || too_old) {
                break;
            }
            self.log.pop_front();
            removed += 1;
        }
        removed
    }
}

#[derive(Debug, Clone, Default)]
struct MGroup {
    cursor: u64,
    /// seq → (deadline, attempts).
    pending: BTreeMap<u64, (u64, u32)>,
    dropped: u64,
}

#[derive(Default)]
struct Model {
    topics: BTreeMap<String, MTopic>,
    groups: BTreeMap<(String, String), MGroup>,
}

impl Model {
    fn publish(&mut self, events: &[NewEvent], now: u64) -> Vec<Result<Appended, EventsError>> {
        let mut out = Vec::new();
        let mut touched = Vec::new();
        for e in events {
            let t = self.topics.entry(e.topic.clone()).or_default();
            touched.push(e.topic.clone());
            let held = t
                .log
                .iter()
                .find(|(_, x)| e.dedupe && x.indexed && x.id == e.id);
            if let Some((seq, _)) = held {
                out.push(Ok(Appended {
                    seq: *seq,
                    duplicate: true,
                }));
                continue;
            }
            let seq = t.next;
            t.next += 1;
            t.log.push_back((
                seq,
                StoredEvent {
                    id: e.id.clone(),
                    payload: e.payload.clone(),
                    metadata: e.metadata.clone(),
                    timestamp: (now / 1000) as i64,
                    appended_ms: now,
                    indexed: e.dedupe,
                },
            ));
            out.push(Ok(Appended {
                seq,
                duplicate: false,
            }));
        }
        for name in touched {
            if let Some(t) = self.topics.get_mut(&name) {
                t.trim(now, u64::from(MAX_TRIM_PER_ENTRY));
            }
        }
        out
    }

    fn claim(&mut self, c: &Claim, now: u64) -> EventsResponse {
        let t = self.topics.get(&c.topic).cloned().unwrap_or_default();
        let key = (c.topic.clone(), c.group.clone());
        if !self.groups.contains_key(&key) {
            let cursor = match c.start {
                StartPosition::Earliest => t.first(),
                StartPosition::Latest => t.next,
                StartPosition::Sequence(s) if s > t.next => {
                    return EventsResponse::Err(EventsError::PastEnd {
                        topic: c.topic.clone(),
                        sequence: s,
                        next: t.next,
                    })
                }
                StartPosition::Sequence(s) => s.max(t.first()),
                StartPosition::Time(at) => t
                    .log
                    .iter()
                    .find(|(_, e)| e.appended_ms >= at)
                    .map_or(t.next, |(s, _)| *s),
            };
            self.groups.insert(
                key.clone(),
                MGroup {
                    cursor,
                    ..Default::default()
                },
            );
        }
        let g = self.groups.get_mut(&key).unwrap();
        let deadline = now + c.ack_wait_ms;
        let mut deliveries = Vec::new();
        let mut dropped = 0;
        let mut due: Vec<(u64, u64)> = g
            .pending
            .iter()
            .filter(|(_, (d, _))| *d <= now)
            .map(|(s, (d, _))| (*d, *s))
            .collect();
        due.sort();
        for (_, seq) in due {
            if deliveries.len() == c.max as usize {
                break;
            }
            let attempts = g.pending[&seq].1;
            let exhausted = c.retry_limit.is_some_and(|l| attempts > l);
            match t.get(seq).filter(|_| !exhausted) {
                None => {
                    g.pending.remove(&seq);
                    g.dropped += 1;
                    dropped += 1;
                }
                Some(event) => {
                    g.pending.insert(seq, (deadline, attempts + 1));
                    deliveries.push(Delivery {
                        seq,
                        attempt: attempts + 1,
                        event: event.clone(),
                    });
                }
            }
        }
        g.cursor = g.cursor.max(t.first());
        let from = g.cursor;
        for (seq, event) in t.log.iter().filter(|(s, _)| *s >= from) {
            if deliveries.len() == c.max as usize {
                break;
            }
            g.pending.insert(*seq, (deadline, 1));
            g.cursor = seq + 1;
            deliveries.push(Delivery {
                seq: *seq,
                attempt: 1,
                event: event.clone(),
            });
        }
        EventsResponse::Claimed {
            deliveries,
            dropped,
        }
    }

    fn ack(
        &mut self,
        topic: &str,
        group: &str,
        seqs: &[u64],
        success: bool,
        now: u64,
    ) -> EventsResponse {
        let Some(g) = self.groups.get_mut(&(topic.to_owned(), group.to_owned())) else {
            return EventsResponse::Err(EventsError::GroupNotFound {
                topic: topic.into(),
                group: group.into(),
            });
        };
        let mut settled = 0;
        let mut seqs = seqs.to_vec();
        seqs.sort();
        seqs.dedup();
        for seq in seqs {
            if let Some(p) = g.pending.get_mut(&seq) {
                settled += 1;
                if success {
                    g.pending.remove(&seq);
                } else {
                    p.0 = now;
                }
            }
        }
        EventsResponse::Acked { settled }
    }
}

fn step(
    state: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    index: u64,
    time_ms: u64,
    cmd: EventsCommand,
) -> EventsResponse {
    let mut txn = Txn::new(state);
    let r = apply(
        &mut txn,
        index,
        LogEntry {
            time_ms,
            command: Command::Events(cmd),
        },
    )
    .unwrap();
    let changes = txn.into_changes();
    commit_to_map(state, changes);
    match r {
        Response::Events(r) => r,
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn events_match_model(ops in prop::collection::vec(op(), 1..80)) {
        let mut state = BTreeMap::new();
        let mut model = Model::default();
        let mut log = Vec::new();
        let mut now = 1_000u64;
        let mut index = 0u64;
        for op in ops {
            let cmd = match op {
                Op::Tick(d) => { now += d; continue; }
                Op::Read { topic, offset, limit } => {
                    let got: Vec<_> = events::read(&state, TOPICS[topic], offset, limit).unwrap()
                        .into_iter().map(|v| (v.seq, v.event)).collect();
                    let want: Vec<_> = model.topics.get(TOPICS[topic]).map(|t| {
                        t.log.iter().skip(offset as usize).take(limit).cloned().collect()
                    }).unwrap_or_default();
                    prop_assert_eq!(got, want);
                    continue;
                }
                Op::Publish(items) => EventsCommand::Publish {
                    events: items.into_iter().map(|(t, id, len, dedupe)| NewEvent {
                        topic: TOPICS[t].into(),
                        id: format!("id{id}"),
                        payload: vec![id; len as usize],
                        metadata: BTreeMap::new(),
                        timestamp: None,
                        dedupe,
                    }).collect(),
                },
                Op::Claim { topic, group, max, ack_wait_ms, retry_limit, start } => {
                    EventsCommand::Claim(Claim {
                        topic: TOPICS[topic].into(),
                        group: GROUPS[group].into(),
                        max, ack_wait_ms, retry_limit, start,
                    })
                }
                Op::Ack { topic, group, seqs, success } => EventsCommand::Ack {
                    topic: TOPICS[topic].into(), group: GROUPS[group].into(), seqs, success,
                },
                Op::Trim(limit) => EventsCommand::Trim { limit },
                Op::SetRetention(t, retention) => EventsCommand::SetRetention {
                    topic: TOPICS[t].into(), retention,
                },
            };
            index += 1;
            log.push((index, now, cmd.clone()));
            let got = step(&mut state, index, now, cmd.clone());
            let want = match cmd {
                EventsCommand::Publish { events } => EventsResponse::Published { results: model.publish(&events, now) },
                EventsCommand::Claim(c) => model.claim(&c, now),
                EventsCommand::Ack { topic, group, seqs, success } => model.ack(&topic, &group, &seqs, success, now),
                EventsCommand::Trim { limit } => {
                    let mut left = u64::from(limit);
                    for t in model.topics.values_mut() {
                        left -= t.trim(now, left);
                    }
                    EventsResponse::Trimmed { count: u64::from(limit) - left }
                }
                EventsCommand::SetRetention { topic, retention } => {
                    let t = model.topics.entry(topic).or_default();
                    t.retention = retention;
                    EventsResponse::RetentionSet { trimmed: t.trim(now, u64::from(MAX_TRIM_PER_ENTRY)) }
                }
            };
            prop_assert_eq!(got, want);
            // Bookkeeping agrees with the model after every command.
            for (name, t) in &model.topics {
                let meta = events::topic(&state, name).unwrap().unwrap();
                let first_appended = t.log.front().map_or(0, |(_, e)| e.appended_ms);
                prop_assert_eq!(
                    (meta.first_seq, meta.next_seq, meta.bytes, meta.first_appended_ms),
                    (t.first(), t.next, t.bytes(), first_appended)
                );
                for (seq, e) in t.log.iter().filter(|(_, e)| e.indexed) {
                    prop_assert_eq!(events::seq_of_id(&state, name, &e.id).unwrap(), Some(*seq));
                }
            }
            for ((topic, group), g) in &model.groups {
                let s = events::group(&state, topic, group).unwrap().unwrap();
                prop_assert_eq!((s.cursor, s.pending, s.dropped), (g.cursor, g.pending.len() as u64, g.dropped));
                let due = g.pending.values().map(|(d, _)| *d).min();
                prop_assert_eq!(events::next_due(&state, topic, group).unwrap(), due);
            }
        }

        // Determinism: replaying the same log yields byte-identical snapshots.
        let mut replay = BTreeMap::new();
        for (index, time, cmd) in log {
            step(&mut replay, index, time, cmd);
        }
        let a = snapshot::encode(&state.into_iter().collect::<Vec<_>>()).unwrap();
        let b = snapshot::encode(&replay.into_iter().collect::<Vec<_>>()).unwrap();
        prop_assert_eq!(a, b);
    }
}
