//! Unit tests of the linearizability checker on hand-written histories.
//!
//! Each violation is checked twice: through [`check`] (which names it) and through the bare
//! search (which must reject it on its own, so the named rules are never the only defence).

use std::collections::BTreeMap;

use super::register::lower;
use super::search::{search, SearchOutcome};
use super::*;
use crate::history::{History, HistoryError, Op, OpKind, Versioned};

const K: &str = "k";

fn write(v: &str, t0: u64, t1: u64, rev: u64) -> Op {
    let kind = OpKind::Write { value: v.into() };
    Op::invoke(1, K, kind, t0).ok_written(rev, t1)
}

fn read(t0: u64, t1: u64, found: Option<(&str, u64)>) -> Op {
    let found = found.map(|(v, r)| Versioned {
        value: v.into(),
        revision: r,
    });
    Op::invoke(2, K, OpKind::Read, t0).ok_read(found, t1)
}

fn cas_kind(expected: Option<u64>, v: &str) -> OpKind {
    OpKind::Cas {
        expected,
        value: v.into(),
    }
}

fn cas(expected: Option<u64>, v: &str, t0: u64, t1: u64, rev: u64) -> Op {
    Op::invoke(3, K, cas_kind(expected, v), t0).ok_written(rev, t1)
}

fn info_write(v: &str, t0: u64) -> Op {
    let kind = OpKind::Write { value: v.into() };
    Op::invoke(4, K, kind, t0).info(None)
}

pub(super) fn run(ops: Vec<Op>) -> Report {
    check(&History::new(ops), &CheckerConfig::default()).unwrap()
}

/// Runs only the search (no named rules) on every key; true when all are linearizable.
pub(super) fn search_only(history: &History) -> bool {
    let mut by_key: BTreeMap<&str, Vec<(usize, &Op)>> = BTreeMap::new();
    for (i, op) in history.ops.iter().enumerate() {
        by_key.entry(&op.key).or_default().push((i, op));
    }
    by_key
        .values()
        .all(|ops| match search(&lower(ops), u64::MAX).outcome {
            SearchOutcome::Linearizable => true,
            SearchOutcome::Stuck(_) => false,
            SearchOutcome::OutOfBudget => unreachable!("unbounded search"),
        })
}

pub(super) fn assert_linearizable(ops: Vec<Op>) -> Report {
    let history = History::new(ops.clone());
    assert!(search_only(&history), "search rejected {history:#?}");
    let report = run(ops);
    assert_eq!(report.verdict, Verdict::Linearizable, "{}", report.verdict);
    report
}

pub(super) fn assert_violation(ops: Vec<Op>, kind: ViolationKind) -> Violation {
    let history = History::new(ops.clone());
    assert!(!search_only(&history), "search accepted {history:#?}");
    let report = run(ops);
    let v = report.verdict.violation().cloned();
    let v = v.unwrap_or_else(|| panic!("expected {kind}, got {}", report.verdict));
    assert_eq!(v.kind, kind, "{v}");
    assert!(v.description.starts_with(&kind.to_string()), "{v}");
    v
}

#[test]
fn empty_history_is_linearizable() {
    let report = assert_linearizable(vec![]);
    assert_eq!(report.counts, Counts::default());
    assert!(report.keys.is_empty());
}

#[test]
fn sequential_history_is_linearizable() {
    let report = assert_linearizable(vec![
        read(0, 5, None),
        write("a", 10, 20, 3),
        read(30, 40, Some(("a", 3))),
        cas(Some(3), "b", 50, 60, 7),
        read(70, 80, Some(("b", 7))),
    ]);
    assert_eq!(report.keys.len(), 1);
    assert_eq!(report.counts.ok, 5);
}

#[test]
fn overlapping_ops_may_take_effect_in_any_order_inside_their_intervals() {
    assert_linearizable(vec![
        write("a", 0, 100, 1),
        write("b", 10, 90, 2),
        read(5, 15, None),
        read(20, 30, Some(("b", 2))),
        read(40, 50, Some(("b", 2))),
        // Touching intervals count as concurrent.
        read(100, 110, Some(("b", 2))),
    ]);
}

#[test]
fn write_if_absent_and_failed_cas() {
    let failed = Op::invoke(5, K, cas_kind(None, "b"), 20).fail(30);
    let stale = Op::invoke(5, K, cas_kind(Some(9), "c"), 40).fail(45);
    let report = assert_linearizable(vec![
        cas(None, "a", 0, 10, 1),
        failed,
        stale,
        read(50, 60, Some(("a", 1))),
    ]);
    assert_eq!((report.counts.ok, report.counts.fail), (2, 2));
}

#[test]
fn info_write_that_took_effect_late() {
    let report = assert_linearizable(vec![
        write("b", 0, 10, 3),
        info_write("a", 5),
        read(20, 30, Some(("b", 3))),
        read(40, 50, Some(("a", 8))),
        read(60, 70, Some(("a", 8))),
    ]);
    assert_eq!((report.counts.info, report.counts.info_unobserved), (1, 0));
}

#[test]
fn info_write_that_never_took_effect() {
    let report = assert_linearizable(vec![
        info_write("a", 0),
        read(100, 110, None),
        write("b", 120, 130, 4),
        read(140, 150, Some(("b", 4))),
    ]);
    assert_eq!(report.counts.info_unobserved, 1);
}

#[test]
fn info_cas_that_took_effect() {
    let info = Op::invoke(5, K, cas_kind(Some(2), "b"), 20).info(Some(25));
    assert_linearizable(vec![
        write("a", 0, 10, 2),
        info,
        read(30, 40, Some(("b", 5))),
    ]);
}

#[test]
fn info_cas_with_unmet_expectation_cannot_explain_a_read() {
    let info = Op::invoke(5, K, cas_kind(Some(1), "b"), 20).info(None);
    let v = assert_violation(
        vec![write("a", 0, 10, 2), info, read(30, 40, Some(("b", 5)))],
        ViolationKind::NoLinearization,
    );
    assert_eq!(v.ops[0].index, 2, "{v}");
}

#[test]
fn stale_read() {
    assert_violation(
        vec![
            write("a", 0, 10, 1),
            write("b", 20, 30, 2),
            read(40, 50, Some(("b", 2))),
            read(60, 70, Some(("a", 1))),
        ],
        ViolationKind::StaleRead,
    );
}

#[test]
fn lost_write() {
    let v = assert_violation(
        vec![
            write("a", 0, 10, 1),
            read(12, 18, Some(("a", 1))),
            write("b", 20, 30, 2),
            read(40, 50, Some(("a", 1))),
            read(60, 70, Some(("a", 1))),
        ],
        ViolationKind::LostWrite,
    );
    let involved: Vec<usize> = v.ops.iter().map(|r| r.index).collect();
    assert_eq!(involved, vec![3, 2], "{v}");
}

#[test]
fn read_after_write_must_not_find_the_key_absent() {
    assert_violation(
        vec![write("a", 0, 10, 1), read(20, 30, None)],
        ViolationKind::LostWrite,
    );
}

#[test]
fn read_of_a_never_written_value() {
    assert_violation(
        vec![write("a", 0, 10, 1), read(20, 30, Some(("zz", 4)))],
        ViolationKind::NeverWrittenValue,
    );
}

#[test]
fn overwritten_value_reappearing_at_a_new_revision() {
    assert_violation(
        vec![
            write("a", 0, 10, 1),
            write("b", 20, 30, 2),
            read(40, 50, Some(("a", 3))),
        ],
        ViolationKind::DuplicateEffect,
    );
}

#[test]
fn cas_with_a_stale_expected_revision() {
    assert_violation(
        vec![
            write("a", 0, 10, 1),
            write("b", 20, 30, 2),
            cas(Some(1), "c", 40, 50, 3),
        ],
        ViolationKind::StaleCas,
    );
    assert_violation(
        vec![cas(None, "a", 0, 10, 1), cas(None, "b", 20, 30, 2)],
        ViolationKind::StaleCas,
    );
}

#[test]
fn cas_with_a_revision_nobody_created() {
    assert_violation(
        vec![write("a", 0, 10, 1), cas(Some(7), "c", 20, 30, 9)],
        ViolationKind::UnknownCasRevision,
    );
}

#[test]
fn value_and_revision_disagree() {
    assert_violation(
        vec![write("a", 0, 10, 1), read(20, 30, Some(("b", 1)))],
        ViolationKind::ValueMismatch,
    );
}

#[test]
fn reused_and_backwards_revisions() {
    assert_violation(
        vec![write("a", 0, 10, 5), write("b", 0, 10, 5)],
        ViolationKind::RevisionReused,
    );
    assert_violation(
        vec![write("a", 0, 10, 5), write("b", 20, 30, 3)],
        ViolationKind::RevisionsBackwards,
    );
}

#[test]
fn failed_write_must_stay_invisible() {
    let failed = Op::invoke(1, K, OpKind::Write { value: "a".into() }, 0).fail(10);
    assert_violation(
        vec![failed, read(20, 30, Some(("a", 3)))],
        ViolationKind::FailedWriteVisible,
    );
}

#[test]
fn read_from_the_future() {
    assert_violation(
        vec![read(0, 10, Some(("a", 1))), write("a", 20, 30, 1)],
        ViolationKind::FutureRead,
    );
}

#[test]
fn non_monotonic_reads_need_the_search() {
    let v = assert_violation(
        vec![
            write("a", 0, 100, 1),
            write("b", 0, 100, 2),
            read(10, 20, Some(("b", 2))),
            read(30, 40, Some(("a", 1))),
        ],
        ViolationKind::NoLinearization,
    );
    assert_eq!(v.ops[0].index, 3, "{v}");
    assert!(v.description.contains("#3"), "{v}");
    assert!(v.description.contains("\"b\"@2"), "{v}");
}

#[test]
fn keys_are_checked_independently() {
    let mut other = read(60, 70, Some(("a", 1)));
    other.key = "other".into();
    let mut ops = vec![
        write("a", 0, 10, 1),
        write("b", 20, 30, 2),
        read(40, 50, Some(("b", 2))),
        read(60, 70, Some(("a", 1))),
    ];
    let mut fine = write("a", 0, 10, 1);
    fine.key = "other".into();
    ops.extend([fine, other]);
    let report = run(ops);
    let verdicts: Vec<(&str, bool)> = report
        .keys
        .iter()
        .map(|k| (k.key.as_str(), k.verdict.is_linearizable()))
        .collect();
    assert_eq!(verdicts, vec![("k", false), ("other", true)]);
    assert_eq!(report.violations().count(), 1);
    assert_eq!(report.counts.ops, 6);
}

#[test]
fn exhausted_budget_is_unknown_never_linearizable() {
    let ops = vec![
        write("a", 0, 100, 1),
        write("b", 0, 100, 2),
        read(10, 120, Some(("b", 2))),
    ];
    let config = CheckerConfig {
        max_steps_per_key: 2,
        threads: 1,
    };
    let report = check(&History::new(ops), &config).unwrap();
    assert!(
        matches!(report.verdict, Verdict::Unknown { .. }),
        "{}",
        report.verdict
    );
}

#[test]
fn malformed_ops_are_an_error_not_a_verdict() {
    let bad = Op::invoke(1, K, OpKind::Read, 10).ok_written(3, 20);
    let err = check(&History::new(vec![bad]), &CheckerConfig::default()).unwrap_err();
    assert!(
        matches!(err, HistoryError::InvalidOp { index: 0, .. }),
        "{err}"
    );
}
