//! Unit tests of events apply: appends and duplicates, claims with redelivery and retry
//! limits, acks and nacks, retention, start positions and refused input.

use std::collections::BTreeMap;

use super::*;
use crate::events::{
    events_from, group, groups, next_due, pending, pending_by_id, read, resolve_start, seq_of_id,
    topic, trim_due, Appended, Claim, EventsCommand, EventsError, EventsResponse, NewEvent,
    Retention, StartPosition, MAX_EVENT_BYTES,
};
use crate::kv::in_txn;
use crate::ApplyContext;

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

fn run(m: &mut Map, cmd: EventsCommand, time_ms: u64) -> EventsResponse {
    in_txn(m, |txn| {
        apply(txn, cmd, &ApplyContext { index: 1, time_ms }).unwrap()
    })
}

fn ev(topic: &str, id: &str, payload: &[u8]) -> NewEvent {
    NewEvent {
        topic: topic.into(),
        id: id.into(),
        payload: payload.to_vec(),
        metadata: BTreeMap::new(),
        timestamp: None,
        dedupe: true,
    }
}

fn publish(m: &mut Map, events: Vec<NewEvent>, time_ms: u64) -> Vec<Result<Appended, EventsError>> {
    match run(m, EventsCommand::Publish { events }, time_ms) {
        EventsResponse::Published { results } => results,
        other => panic!("{other:?}"),
    }
}

fn claim(topic: &str, group: &str, max: u32, retry_limit: Option<u32>) -> EventsCommand {
    EventsCommand::Claim(Claim {
        topic: topic.into(),
        group: group.into(),
        max,
        ack_wait_ms: 1000,
        retry_limit,
        start: StartPosition::Earliest,
    })
}

/// (sequence, attempt) of each delivery.
fn claimed(r: EventsResponse) -> Vec<(u64, u32)> {
    match r {
        EventsResponse::Claimed { deliveries, .. } => {
            deliveries.iter().map(|d| (d.seq, d.attempt)).collect()
        }
        other => panic!("{other:?}"),
    }
}

fn ack(topic: &str, group: &str, seqs: &[u64], success: bool) -> EventsCommand {
    EventsCommand::Ack {
        topic: topic.into(),
        group: group.into(),
        seqs: seqs.to_vec(),
        success,
    }
}

#[test]
fn publishes_append_in_order_and_duplicates_are_not_appended() {
    let mut m = Map::new();
    let r = publish(
        &mut m,
        vec![ev("t", "a", b"1"), ev("u", "a", b"x"), ev("t", "b", b"2")],
        5_000,
    );
    assert_eq!(
        r,
        vec![
            Ok(Appended {
                seq: 1,
                duplicate: false
            }),
            Ok(Appended {
                seq: 1,
                duplicate: false
            }),
            Ok(Appended {
                seq: 2,
                duplicate: false
            }),
        ]
    );
    let r = publish(
        &mut m,
        vec![ev("t", "b", b"again"), ev("t", "c", b"3")],
        6_000,
    );
    assert_eq!(
        r[0],
        Ok(Appended {
            seq: 2,
            duplicate: true
        })
    );
    assert_eq!(
        r[1],
        Ok(Appended {
            seq: 3,
            duplicate: false
        })
    );
    let got = read(&m, "t", 0, 10).unwrap();
    let payloads: Vec<_> = got.iter().map(|v| v.event.payload.clone()).collect();
    assert_eq!(payloads, vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
    assert_eq!(got[0].event.timestamp, 5);
    assert_eq!(got[2].event.appended_ms, 6_000);
    assert_eq!(read(&m, "t", 1, 1).unwrap()[0].seq, 2);
    assert!(read(&m, "t", 3, 10).unwrap().is_empty());
    assert!(read(&m, "nope", 0, 10).unwrap().is_empty());
    assert_eq!(seq_of_id(&m, "t", "c").unwrap(), Some(3));
    let meta = topic(&m, "t").unwrap().unwrap();
    assert_eq!((meta.first_seq, meta.next_seq, meta.bytes), (1, 4, 3));
}

#[test]
fn a_bad_event_is_refused_alone() {
    let mut m = Map::new();
    let big = ev("t", "big", &vec![0; MAX_EVENT_BYTES + 1]);
    let r = publish(
        &mut m,
        vec![ev("bad topic", "a", b""), big, ev("t", "ok", b"")],
        1,
    );
    assert!(matches!(r[0], Err(EventsError::InvalidArgument(_))));
    assert!(matches!(r[1], Err(EventsError::InvalidArgument(_))));
    assert_eq!(
        r[2],
        Ok(Appended {
            seq: 1,
            duplicate: false
        })
    );
    assert!(topic(&m, "bad topic").unwrap().is_none());
}

#[test]
fn a_group_gets_each_event_once_and_unacked_ones_again_after_the_wait() {
    let mut m = Map::new();
    publish(
        &mut m,
        (0..5).map(|i| ev("t", &i.to_string(), b"p")).collect(),
        1_000,
    );
    assert_eq!(
        claimed(run(&mut m, claim("t", "g", 2, None), 1_000)),
        [(1, 1), (2, 1)]
    );
    assert_eq!(
        claimed(run(&mut m, claim("t", "g", 2, None), 1_100)),
        [(3, 1), (4, 1)]
    );
    run(&mut m, ack("t", "g", &[1, 3], true), 1_200);
    assert_eq!(next_due(&m, "t", "g").unwrap(), Some(2_000));
    // Before the wait: only the new event.
    assert_eq!(
        claimed(run(&mut m, claim("t", "g", 10, None), 1_500)),
        [(5, 1)]
    );
    // After it: 2 (due at 2000) and 4 (due at 2100), oldest deadline first.
    assert_eq!(
        claimed(run(&mut m, claim("t", "g", 10, None), 2_100)),
        [(2, 2), (4, 2)]
    );
    // Another group starts from its own position.
    assert_eq!(
        claimed(run(&mut m, claim("t", "h", 1, None), 2_100)),
        [(1, 1)]
    );
    let g = group(&m, "t", "g").unwrap().unwrap();
    assert_eq!((g.cursor, g.pending), (6, 3));
    let names: Vec<_> = groups(&m, "t")
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["g", "h"]);
    let p = pending(&m, "t", "g", 2).unwrap().unwrap();
    assert_eq!((p.attempts, p.deadline_ms), (2, 3_100));
    assert_eq!(pending(&m, "t", "g", 1).unwrap(), None);
}

#[test]
fn nack_makes_a_delivery_due_now_and_retry_limits_drop_it() {
    let mut m = Map::new();
    publish(&mut m, vec![ev("t", "a", b"")], 0);
    assert_eq!(
        claimed(run(&mut m, claim("t", "g", 1, Some(1)), 0)),
        [(1, 1)]
    );
    assert_eq!(
        run(&mut m, ack("t", "g", &[1], false), 10),
        EventsResponse::Acked { settled: 1 }
    );
    assert_eq!(
        claimed(run(&mut m, claim("t", "g", 1, Some(1)), 10)),
        [(1, 2)]
    );
    // One redelivery allowed: the next time it is due, it is dropped.
    let r = run(&mut m, claim("t", "g", 1, Some(1)), 5_000);
    assert_eq!(
        r,
        EventsResponse::Claimed {
            deliveries: vec![],
            dropped: 1
        }
    );
    let g = group(&m, "t", "g").unwrap().unwrap();
    assert_eq!((g.pending, g.dropped), (0, 1));
    assert_eq!(next_due(&m, "t", "g").unwrap(), None);
    // Acks of unknown deliveries settle nothing; unknown groups are an error.
    assert_eq!(
        run(&mut m, ack("t", "g", &[1, 9], true), 5_000),
        EventsResponse::Acked { settled: 0 }
    );
    assert!(matches!(
        run(&mut m, ack("t", "x", &[1], true), 5_000),
        EventsResponse::Err(EventsError::GroupNotFound { .. })
    ));
}

#[test]
fn start_positions_of_new_groups() {
    let mut m = Map::new();
    for (i, t) in [1_000u64, 2_000, 3_000].iter().enumerate() {
        publish(&mut m, vec![ev("t", &i.to_string(), b"")], *t);
    }
    let start = |m: &mut Map, g: &str, start| {
        let cmd = EventsCommand::Claim(Claim {
            topic: "t".into(),
            group: g.into(),
            max: 10,
            ack_wait_ms: 10,
            retry_limit: None,
            start,
        });
        run(m, cmd, 4_000)
    };
    assert_eq!(claimed(start(&mut m, "a", StartPosition::Latest)), []);
    assert_eq!(
        claimed(start(&mut m, "b", StartPosition::Time(1_500))),
        [(2, 1), (3, 1)]
    );
    assert_eq!(
        claimed(start(&mut m, "c", StartPosition::Sequence(3))),
        [(3, 1)]
    );
    assert_eq!(claimed(start(&mut m, "d", StartPosition::Sequence(4))), []);
    assert_eq!(
        start(&mut m, "e", StartPosition::Sequence(5)),
        EventsResponse::Err(EventsError::PastEnd {
            topic: "t".into(),
            sequence: 5,
            next: 4
        })
    );
    assert!(group(&m, "t", "e").unwrap().is_none());
    assert_eq!(
        resolve_start(&m, "t", StartPosition::Time(9_999)).unwrap(),
        4
    );
    assert_eq!(
        resolve_start(&m, "nope", StartPosition::Earliest).unwrap(),
        1
    );
    // The start position only matters when the group is created.
    publish(&mut m, vec![ev("t", "new", b"")], 5_000);
    assert_eq!(
        claimed(start(&mut m, "a", StartPosition::Earliest)),
        [(4, 1)]
    );
}

#[test]
fn retention_removes_the_oldest_by_count_size_and_age() {
    let mut m = Map::new();
    let keep = |max_age_ms, max_bytes, max_events| Retention {
        max_age_ms,
        max_bytes,
        max_events,
    };
    run(
        &mut m,
        EventsCommand::SetRetention {
            topic: "t".into(),
            retention: keep(0, 0, 3),
        },
        0,
    );
    publish(
        &mut m,
        (0..5).map(|i| ev("t", &i.to_string(), b"xx")).collect(),
        1_000,
    );
    let meta = topic(&m, "t").unwrap().unwrap();
    assert_eq!((meta.first_seq, meta.next_seq, meta.bytes), (3, 6, 6));
    // The removed ids may be published again.
    assert_eq!(seq_of_id(&m, "t", "0").unwrap(), None);
    let r = run(
        &mut m,
        EventsCommand::SetRetention {
            topic: "t".into(),
            retention: keep(0, 3, 0),
        },
        1_000,
    );
    assert_eq!(r, EventsResponse::RetentionSet { trimmed: 2 });
    run(
        &mut m,
        EventsCommand::SetRetention {
            topic: "t".into(),
            retention: keep(500, 0, 0),
        },
        1_000,
    );
    publish(&mut m, vec![ev("t", "late", b"y")], 1_400);
    assert!(!trim_due(&m, 1_499).unwrap());
    assert!(trim_due(&m, 1_500).unwrap());
    assert_eq!(
        run(&mut m, EventsCommand::Trim { limit: 10 }, 1_500),
        EventsResponse::Trimmed { count: 1 }
    );
    assert_eq!(
        events_from(&m, "t", 0, 10)
            .unwrap()
            .iter()
            .map(|v| v.seq)
            .collect::<Vec<_>>(),
        [6]
    );
    // Pending deliveries of removed events are dropped when they come due.
    assert_eq!(
        claimed(run(&mut m, claim("t", "g", 10, None), 1_500)),
        [(6, 1)]
    );
    run(&mut m, EventsCommand::Trim { limit: 10 }, 2_000);
    let r = run(&mut m, claim("t", "g", 10, None), 3_000);
    assert_eq!(
        r,
        EventsResponse::Claimed {
            deliveries: vec![],
            dropped: 1
        }
    );
}

#[test]
fn pending_deliveries_are_bounded_per_group() {
    let mut m = Map::new();
    let n = MAX_GROUP_PENDING + 5;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        publish(
            &mut m,
            chunk.iter().map(|i| ev("t", &i.to_string(), b"")).collect(),
            0,
        );
    }
    let mut handed = 0;
    loop {
        let got = claimed(run(&mut m, claim("t", "g", MAX_CLAIM, None), 0)).len();
        if got == 0 {
            break;
        }
        handed += got as u64;
    }
    assert_eq!(handed, MAX_GROUP_PENDING);
    run(&mut m, ack("t", "g", &[1, 2], true), 0);
    assert_eq!(
        claimed(run(&mut m, claim("t", "g", MAX_CLAIM, None), 0)).len(),
        2
    );
}

#[test]
fn refused_claims_change_nothing() {
    let mut m = Map::new();
    for bad in [
        claim("t", "g", 0, None),
        claim("t", "g", MAX_CLAIM + 1, None),
        claim("t", "", 1, None),
    ] {
        assert!(matches!(
            run(&mut m, bad, 0),
            EventsResponse::Err(EventsError::InvalidArgument(_))
        ));
    }
    let zero_wait = EventsCommand::Claim(Claim {
        topic: "t".into(),
        group: "g".into(),
        max: 1,
        ack_wait_ms: 0,
        retry_limit: None,
        start: StartPosition::Earliest,
    });
    assert!(matches!(run(&mut m, zero_wait, 0), EventsResponse::Err(_)));
    assert!(m.is_empty());
}

#[test]
fn generated_ids_are_not_indexed_but_acks_by_id_find_pending_deliveries() {
    let mut m = Map::new();
    let generated = |id: &str| NewEvent {
        dedupe: false,
        ..ev("t", id, b"")
    };
    let r = publish(
        &mut m,
        vec![generated("u1"), generated("u2"), ev("t", "c1", b"")],
        0,
    );
    assert!(r.iter().all(|r| matches!(
        r,
        Ok(Appended {
            duplicate: false,
            ..
        })
    )));
    assert_eq!(seq_of_id(&m, "t", "u1").unwrap(), None);
    assert_eq!(seq_of_id(&m, "t", "c1").unwrap(), Some(3));
    assert_eq!(claimed(run(&mut m, claim("t", "g", 10, None), 0)).len(), 3);
    assert_eq!(pending_by_id(&m, "t", "g", "u2").unwrap(), Some(2));
    assert_eq!(pending_by_id(&m, "t", "g", "c1").unwrap(), Some(3));
    run(&mut m, ack("t", "g", &[2], true), 0);
    assert_eq!(pending_by_id(&m, "t", "g", "u2").unwrap(), None);
    assert!(m.keys().filter(|k| k.starts_with(b"ei/")).count() == 1);
}

#[test]
fn each_entry_stores_one_chunk_per_topic_and_trims_delete_emptied_chunks() {
    let mut m = Map::new();
    let chunks = |m: &Map| m.keys().filter(|k| k.starts_with(b"e/")).count();
    publish(
        &mut m,
        vec![ev("t", "a", b"1"), ev("u", "b", b"2"), ev("t", "c", b"3")],
        0,
    );
    publish(&mut m, vec![ev("t", "d", b"4"), ev("t", "e", b"5")], 0);
    assert_eq!(chunks(&m), 3);
    let keep = |max_events| Retention {
        max_age_ms: 0,
        max_bytes: 0,
        max_events,
    };
    // Removing event 1 leaves the first chunk (1, 2) in place; removing 2 as well drops it.
    run(
        &mut m,
        EventsCommand::SetRetention {
            topic: "t".into(),
            retention: keep(3),
        },
        0,
    );
    assert_eq!(chunks(&m), 3);
    assert_eq!(
        read(&m, "t", 0, 10)
            .unwrap()
            .iter()
            .map(|v| v.seq)
            .collect::<Vec<_>>(),
        [2, 3, 4]
    );
    run(
        &mut m,
        EventsCommand::SetRetention {
            topic: "t".into(),
            retention: keep(2),
        },
        0,
    );
    assert_eq!(chunks(&m), 2);
    assert_eq!(events_from(&m, "t", 1, 1).unwrap()[0].seq, 3);
    assert_eq!(
        claimed(run(&mut m, claim("t", "g", 10, None), 0)),
        [(3, 1), (4, 1)]
    );
}
