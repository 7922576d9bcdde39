//! Tests of the checker on plain registers (no revisions): the config workload's paths and the
//! auth workload's accounts. Hand-written histories, named rules checked against the bare
//! search, and a brute-force oracle on small random histories.

use std::collections::{BTreeMap, HashSet};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

use super::linearizable_test::{assert_linearizable, assert_violation, run, search_only};
use super::simulated::simulate;
use super::*;
use crate::history::{History, Op, OpKind, OpResult, Outcome, Versioned};

const K: &str = "c0";

fn write(v: &str, t0: u64, t1: u64) -> Op {
    let kind = OpKind::Write { value: v.into() };
    Op::invoke(1, K, kind, t0).ok_done(t1)
}

fn secret_write(v: &str, t0: u64, t1: u64) -> Op {
    let kind = OpKind::Write { value: v.into() };
    Op::invoke(1, K, kind, t0).secret(true).ok_done(t1)
}

fn read(t0: u64, t1: u64, found: Option<&str>) -> Op {
    Op::invoke(2, K, OpKind::Read, t0).ok_value(found.map(str::to_owned), t1)
}

fn delete(t0: u64, t1: u64) -> Op {
    Op::invoke(3, K, OpKind::Delete, t0).ok_done(t1)
}

fn info_write(v: &str, t0: u64) -> Op {
    let kind = OpKind::Write { value: v.into() };
    Op::invoke(4, K, kind, t0).info(None)
}

fn info_delete(t0: u64) -> Op {
    Op::invoke(4, K, OpKind::Delete, t0).info(None)
}

fn failed_write(v: &str, t0: u64, t1: u64) -> Op {
    let kind = OpKind::Write { value: v.into() };
    Op::invoke(5, K, kind, t0).fail(t1)
}

#[test]
fn sequential_writes_deletes_and_secrets() {
    let report = assert_linearizable(vec![
        read(0, 5, None),
        write("a", 10, 20),
        read(30, 40, Some("a")),
        delete(50, 60),
        read(70, 80, None),
        secret_write("b", 90, 100),
        read(110, 120, Some("b")),
        // Deleting an absent path succeeds too.
        delete(130, 140),
        delete(150, 160),
        read(170, 180, None),
    ]);
    assert_eq!(report.counts.ok, 10);
    assert_eq!(report.keys.len(), 1);
}

#[test]
fn concurrent_ops_take_effect_in_either_order() {
    assert_linearizable(vec![
        write("a", 0, 100),
        write("b", 10, 90),
        delete(20, 95),
        read(5, 15, None),
        read(30, 40, Some("a")),
        read(50, 60, None),
        read(96, 99, Some("b")),
        read(105, 110, Some("b")),
    ]);
}

#[test]
fn info_ops_may_take_effect_late_or_never() {
    let report = assert_linearizable(vec![
        write("a", 0, 10),
        info_write("b", 5),
        info_write("never", 6),
        read(20, 30, Some("a")),
        read(40, 50, Some("b")),
        info_delete(60),
        read(70, 80, Some("b")),
        read(90, 100, None),
        // An info delete nothing could have observed counts as never applied.
        write("c", 110, 120),
        info_delete(130),
        read(140, 150, Some("c")),
    ]);
    assert_eq!(report.counts.info, 4);
    assert_eq!(report.counts.info_unobserved, 2);
}

#[test]
fn failed_writes_and_reads_tell_nothing() {
    let failed_read = Op::invoke(2, K, OpKind::Read, 25).fail(26);
    assert_linearizable(vec![
        write("a", 0, 10),
        failed_write("b", 12, 20),
        failed_read,
        read(30, 40, Some("a")),
    ]);
}

#[test]
fn stale_read_of_a_replaced_value() {
    let v = assert_violation(
        vec![
            write("a", 0, 10),
            write("b", 20, 30),
            read(40, 50, Some("a")),
        ],
        ViolationKind::StaleRead,
    );
    let involved: Vec<usize> = v.ops.iter().map(|r| r.index).collect();
    assert_eq!(involved, vec![2, 1, 0], "{v}");
}

#[test]
fn stale_read_after_an_acknowledged_delete() {
    assert_violation(
        vec![write("a", 0, 10), delete(20, 30), read(40, 50, Some("a"))],
        ViolationKind::StaleRead,
    );
}

#[test]
fn absent_after_an_acknowledged_write_needs_a_delete() {
    assert_violation(
        vec![write("a", 0, 10), read(20, 30, None)],
        ViolationKind::StaleRead,
    );
    // A delete that completed before the write was invoked cannot explain it.
    assert_violation(
        vec![delete(0, 5), write("a", 10, 20), read(30, 40, None)],
        ViolationKind::StaleRead,
    );
    // A concurrent or unknown one can.
    assert_linearizable(vec![write("a", 0, 10), delete(5, 40), read(20, 30, None)]);
    assert_linearizable(vec![write("a", 0, 10), info_delete(15), read(20, 30, None)]);
}

#[test]
fn never_written_and_failed_values_and_reads_from_the_future() {
    // A secret decrypted to the wrong plaintext reads as a value nobody wrote.
    assert_violation(
        vec![secret_write("a", 0, 10), read(20, 30, Some("garbled"))],
        ViolationKind::NeverWrittenValue,
    );
    assert_violation(
        vec![failed_write("a", 0, 10), read(20, 30, Some("a"))],
        ViolationKind::FailedWriteVisible,
    );
    assert_violation(
        vec![read(0, 10, Some("a")), write("a", 20, 30)],
        ViolationKind::FutureRead,
    );
}

#[test]
fn reads_disagreeing_on_the_order_of_two_writes() {
    // No named rule fires: each read alone is explainable; together they are not.
    let v = assert_violation(
        vec![
            write("a", 0, 100),
            write("b", 0, 100),
            read(110, 120, Some("a")),
            read(130, 140, Some("b")),
        ],
        ViolationKind::NoLinearization,
    );
    assert!(v.description.contains("leaves the key \"a\""), "{v}");
}

#[test]
fn versioned_answers_on_a_plain_key_are_judged_by_value() {
    let versioned = Op::invoke(2, K, OpKind::Read, 20).ok_read(
        Some(Versioned {
            value: "a".into(),
            revision: 9,
        }),
        30,
    );
    assert_linearizable(vec![write("a", 0, 10), versioned, delete(40, 50)]);
}

#[test]
fn a_cas_on_a_plain_key_is_not_judged() {
    let cas = OpKind::Cas {
        expected: Some(1),
        value: "b".into(),
    };
    let report = run(vec![
        write("a", 0, 10),
        Op::invoke(1, K, cas, 20).ok_written(1, 30),
    ]);
    assert!(
        matches!(report.verdict, Verdict::Unknown { .. }),
        "{}",
        report.verdict
    );
}

/// An auth-shaped history: account `a1` generated, tokens requested and the account deleted,
/// each answer an observation of whether the account exists.
fn account(ops: &[(&str, u64, u64, Option<&str>)]) -> Vec<Op> {
    ops.iter()
        .map(|&(f, t0, t1, v)| {
            let inv = |kind| Op::invoke(1, "a1", kind, t0).on_node(t0 as usize % 3);
            match f {
                "generate" => inv(OpKind::Write { value: "a1".into() }).ok_done(t1),
                "generate?" => inv(OpKind::Write { value: "a1".into() }).info(None),
                "delete" => inv(OpKind::Delete).ok_done(t1),
                "delete?" => inv(OpKind::Delete).info(None),
                "token" => inv(OpKind::Read)
                    .via("secret")
                    .token(format!("t{t0}"))
                    .ok_value(v.map(str::to_owned), t1),
                other => panic!("unknown step {other}"),
            }
        })
        .collect()
}

#[test]
fn accounts_exist_from_their_generate_until_their_delete() {
    assert_linearizable(account(&[
        ("token", 0, 5, None),
        ("generate", 10, 20, None),
        ("token", 15, 25, None),
        ("token", 30, 40, Some("a1")),
        ("delete", 50, 60, None),
        ("token", 55, 58, Some("a1")),
        ("token", 70, 80, None),
    ]));
    // Unknown outcomes: the generate took effect, the delete did too.
    assert_linearizable(account(&[
        ("generate?", 0, 0, None),
        ("token", 10, 20, Some("a1")),
        ("delete?", 30, 0, None),
        ("token", 40, 50, None),
    ]));
}

#[test]
fn a_fresh_token_after_an_acknowledged_delete_is_a_violation() {
    assert_violation(
        account(&[
            ("generate", 0, 10, None),
            ("delete", 20, 30, None),
            ("token", 40, 50, Some("a1")),
        ]),
        ViolationKind::StaleRead,
    );
}

#[test]
fn an_account_missing_after_its_generate_was_acknowledged_is_a_violation() {
    assert_violation(
        account(&[("generate", 0, 10, None), ("token", 20, 30, None)]),
        ViolationKind::StaleRead,
    );
}

#[test]
fn uses_are_left_to_the_token_checker() {
    let mut ops = account(&[("generate", 0, 10, None), ("token", 20, 30, Some("a1"))]);
    ops.push(Op::invoke(2, "a1", OpKind::Use, 40).token("t20").fail(50));
    let report = assert_linearizable(ops);
    assert_eq!(report.counts.ops, 2);
}

/// Turns a simulated history of a register with revisions into a plain one: revisions
/// dropped, a cas becomes the write it is, a write whose value nobody read becomes a delete
/// (the state it leaves is never read, so the history stays linearizable).
fn plain(history: &History) -> History {
    let read: HashSet<String> = history
        .ops
        .iter()
        .filter_map(|op| op.read_value().flatten().map(str::to_owned))
        .collect();
    let ops = history.ops.iter().map(|op| {
        let mut op = op.clone();
        if let OpKind::Cas { value, .. } = &op.kind {
            op.kind = OpKind::Write {
                value: value.clone(),
            };
        }
        if op.written_value().is_some_and(|v| !read.contains(v)) {
            op.kind = OpKind::Delete;
        }
        op.outcome = match op.outcome {
            Outcome::Ok(OpResult::Read(Some(v))) => Outcome::Ok(OpResult::Value(v.value)),
            Outcome::Ok(OpResult::Written { .. }) => Outcome::Ok(OpResult::Done),
            other => other,
        };
        op
    });
    History::new(ops.collect())
}

/// One small op for the oracle: `(kind roll, invoke, duration, outcome roll, read pick)`.
type Step = (u8, u8, u8, u8, u8);

/// Builds a small plain history from `steps`: unique written values, reads returning any of
/// them or absence, so many histories are not linearizable.
fn small(steps: &[Step]) -> History {
    let ops = steps
        .iter()
        .enumerate()
        .map(|(i, &(kind, t0, d, outcome, pick))| {
            let (t0, t1) = (u64::from(t0 % 20), u64::from(t0 % 20 + d % 10));
            let (kind, is_read) = match kind % 3 {
                0 => (OpKind::Read, true),
                1 => (
                    OpKind::Write {
                        value: format!("v{i}"),
                    },
                    false,
                ),
                _ => (OpKind::Delete, false),
            };
            let inv = Op::invoke(i as u64, K, kind, t0);
            match (outcome % 4, is_read) {
                (0, _) => inv.fail(t1),
                (1, false) => inv.info(None),
                (_, true) => {
                    let found = (pick as usize % (steps.len() + 1)).checked_sub(1);
                    inv.ok_value(found.map(|j| format!("v{j}")), t1)
                }
                (_, false) => inv.ok_done(t1),
            }
        });
    History::new(ops.collect())
}

/// Brute force: some order of the ok ops and any subset of the info writes and deletes,
/// respecting real time, in which every read sees the state it returned.
fn oracle(history: &History) -> bool {
    let ops: Vec<&Op> = history
        .ops
        .iter()
        .filter(|op| op.outcome != Outcome::Fail)
        .filter(|op| !(op.kind == OpKind::Read && op.outcome == Outcome::Info))
        .collect();
    let mut memo = BTreeMap::new();
    explore(&ops, 0, None, &mut memo)
}

fn explore<'a>(
    ops: &[&'a Op],
    placed: u32,
    state: Option<&'a str>,
    memo: &mut BTreeMap<(u32, Option<&'a str>), bool>,
) -> bool {
    let required = |i: usize| matches!(ops[i].outcome, Outcome::Ok(_));
    let open = |i: usize| placed & (1 << i) == 0;
    if (0..ops.len()).all(|i| !open(i) || !required(i)) {
        return true;
    }
    if let Some(&known) = memo.get(&(placed, state)) {
        return known;
    }
    let mut found = false;
    for i in (0..ops.len()).filter(|&i| open(i)) {
        let forced_before = (0..ops.len())
            .filter(|&j| j != i && open(j) && required(j))
            .any(|j| ops[j].complete_ns.is_some_and(|c| c < ops[i].invoke_ns));
        if forced_before {
            continue;
        }
        let next = match (&ops[i].kind, ops[i].read_value()) {
            (OpKind::Read, Some(seen)) if seen == state => state,
            (OpKind::Read, _) => continue,
            (OpKind::Write { value }, _) => Some(value.as_str()),
            _ => None,
        };
        if explore(ops, placed | (1 << i), next, memo) {
            found = true;
            break;
        }
    }
    memo.insert((placed, state), found);
    found
}

proptest! {
    #[test]
    fn plain_histories_of_a_simulated_register_are_linearizable(
        steps in vec(any::<(u8, u8, u8)>(), 0..300),
        processes in 1usize..7,
        keys in 1usize..4,
    ) {
        let history = plain(&simulate(&steps, processes, keys));
        let report = check(&history, &CheckerConfig::default()).unwrap();
        prop_assert!(report.is_linearizable(), "{}", report.verdict);
        prop_assert!(search_only(&history));
    }

    #[test]
    fn a_read_of_a_value_nobody_wrote_is_a_violation(
        steps in vec(any::<(u8, u8, u8)>(), 1..300),
        processes in 1usize..7,
        pick in any::<Index>(),
    ) {
        let mut history = plain(&simulate(&steps, processes, 1));
        let reads: Vec<usize> = (0..history.ops.len())
            .filter(|&i| history.ops[i].read_value().is_some())
            .collect();
        prop_assume!(!reads.is_empty());
        history.ops[reads[pick.index(reads.len())]].outcome =
            Outcome::Ok(OpResult::Value("garbled".into()));
        let report = check(&history, &CheckerConfig::default()).unwrap();
        let kind = report.verdict.violation().map(|v| v.kind);
        prop_assert_eq!(kind, Some(ViolationKind::NeverWrittenValue), "{}", report.verdict);
        prop_assert!(!search_only(&history));
    }

    #[test]
    fn the_checker_agrees_with_brute_force(steps in vec(any::<Step>(), 1..9)) {
        let history = small(&steps);
        let expected = oracle(&history);
        let report = check(&history, &CheckerConfig::default()).unwrap();
        prop_assert_eq!(report.is_linearizable(), expected, "{}\n{:#?}", report.verdict, history);
        prop_assert_eq!(search_only(&history), expected);
    }

    #[test]
    fn plain_histories_round_trip_through_json_lines(
        steps in vec(any::<(u8, u8, u8)>(), 0..200),
    ) {
        let history = plain(&simulate(&steps, 4, 2));
        let mut buf = Vec::new();
        history.write_to(&mut buf).unwrap();
        prop_assert_eq!(History::read_from(&buf[..]).unwrap(), history);
    }
}
