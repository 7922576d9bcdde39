//! Differential test: the checker agrees with a brute-force oracle on small random histories.
//!
//! The oracle tries every order of the ok ops and every subset of info ops, each applied with any
//! revision mentioned in the history or a fresh, never-observed one. It shares no code with the
//! checker, so it tests the candidate pruning, the named rules and the search together.

use proptest::collection::vec;
use proptest::prelude::*;

use super::simulated::simulate;
use super::*;
use crate::history::{History, Op, OpKind, OpResult, Outcome, Versioned};

/// A revision as real numbers: `(r, 0)` is revision `r`; `(r, k)` with `k > 0` is a fresh
/// revision just above `r` that no op observed (revisions need not be dense for the oracle).
type Rev = (u64, u32);

#[derive(Clone, PartialEq, Debug)]
struct State {
    value: Option<String>,
    rev: Option<Rev>,
}

/// How an info op took effect: with a mentioned revision, or with a fresh one.
#[derive(Clone, Copy)]
enum Choice {
    Known(u64),
    Fresh,
}

fn oracle(ops: &[Op]) -> bool {
    let ops: Vec<&Op> = ops
        .iter()
        .filter(|o| o.outcome != Outcome::Fail)
        .filter(|o| !(o.kind == OpKind::Read && o.outcome == Outcome::Info))
        .collect();
    let mut mentioned: Vec<u64> = Vec::new();
    for op in &ops {
        mentioned.extend(op.written_revision());
        if let Some(Some(v)) = op.read_result() {
            mentioned.push(v.revision);
        }
        if let OpKind::Cas {
            expected: Some(e), ..
        } = op.kind
        {
            mentioned.push(e);
        }
    }
    let start = State {
        value: None,
        rev: None,
    };
    let mut placed = vec![false; ops.len()];
    explore(&ops, &mentioned, &mut placed, &start)
}

fn explore(ops: &[&Op], mentioned: &[u64], placed: &mut [bool], state: &State) -> bool {
    let pending_ok =
        |placed: &[bool], i: usize| !placed[i] && matches!(ops[i].outcome, Outcome::Ok(_));
    if !(0..ops.len()).any(|i| pending_ok(placed, i)) {
        return true;
    }
    for x in 0..ops.len() {
        // `x` may go next unless some unplaced ok op completed before `x` was invoked.
        let blocked = (0..ops.len())
            .filter(|&y| pending_ok(placed, y))
            .any(|y| ops[y].complete_ns.is_some_and(|c| c < ops[x].invoke_ns));
        if placed[x] || blocked {
            continue;
        }
        let choices: Vec<Option<Choice>> = match (&ops[x].kind, &ops[x].outcome) {
            (_, Outcome::Ok(_)) => vec![None],
            _ => mentioned
                .iter()
                .map(|&r| Some(Choice::Known(r)))
                .chain([Some(Choice::Fresh)])
                .collect(),
        };
        for choice in choices {
            if let Some(next) = step(ops[x], state, choice) {
                placed[x] = true;
                let ok = explore(ops, mentioned, placed, &next);
                placed[x] = false;
                if ok {
                    return true;
                }
            }
        }
    }
    false
}

fn step(op: &Op, s: &State, choice: Option<Choice>) -> Option<State> {
    let (value, new_rev) = match (&op.kind, &op.outcome) {
        (OpKind::Read, Outcome::Ok(OpResult::Read(found))) => {
            let want = found.as_ref().map(|v| (v.value.clone(), (v.revision, 0)));
            let have = s.value.clone().zip(s.rev);
            return (want == have).then(|| s.clone());
        }
        (OpKind::Write { value } | OpKind::Cas { value, .. }, outcome) => {
            if let OpKind::Cas { expected, .. } = op.kind {
                if s.rev != expected.map(|e| (e, 0)) {
                    return None;
                }
            }
            let rev = match (outcome, choice) {
                (Outcome::Ok(OpResult::Written { revision }), _) => (*revision, 0),
                (_, Some(Choice::Known(r))) => (r, 0),
                (_, Some(Choice::Fresh)) => s.rev.map_or((0, 1), |(r, k)| (r, k + 1)),
                _ => return None,
            };
            (value.clone(), rev)
        }
        _ => return None,
    };
    (Some(new_rev) > s.rev).then_some(State {
        value: Some(value),
        rev: Some(new_rev),
    })
}

fn arb_op() -> impl Strategy<Value = Op> {
    let values = prop::sample::select(vec!["a", "b", "c"]);
    let kind = prop_oneof![
        Just(OpKind::Read),
        values
            .clone()
            .prop_map(|v| OpKind::Write { value: v.into() }),
        (prop::option::of(1u64..5), values.clone()).prop_map(|(expected, v)| OpKind::Cas {
            expected,
            value: v.into(),
        }),
    ];
    let found = prop::option::of((values, 1u64..5));
    (kind, 0u64..8, 0u64..5, 0u8..10, found, 1u64..6).prop_map(
        |(kind, invoke, len, roll, found, revision)| {
            let inv = Op::invoke(1, "k", kind.clone(), invoke);
            let done = invoke + len;
            match (roll, kind) {
                (0..=1, _) => inv.info(None),
                (2, _) => inv.fail(done),
                (_, OpKind::Read) => inv.ok_read(
                    found.map(|(v, r)| Versioned {
                        value: v.into(),
                        revision: r,
                    }),
                    done,
                ),
                _ => inv.ok_written(revision, done),
            }
        },
    )
}

/// Rewrites one op of a (linearizable) simulated history into something plausible but random.
fn mutate(history: &mut History, pick: usize, roll: u8, rev: u64) {
    let len = history.ops.len().max(1);
    let Some(op) = history.ops.get_mut(pick % len) else {
        return;
    };
    match (&mut op.outcome, roll % 4) {
        (Outcome::Ok(OpResult::Read(Some(v))), 0) => v.revision = rev,
        (Outcome::Ok(OpResult::Read(found)), 1) => *found = None,
        (Outcome::Ok(OpResult::Written { revision }), 2) => *revision = rev,
        (outcome @ Outcome::Ok(OpResult::Written { .. }), _) => *outcome = Outcome::Info,
        _ => op.invoke_ns = op.invoke_ns.saturating_sub(u64::from(roll)),
    }
}

fn agree(history: &History) -> Result<(), TestCaseError> {
    let report = check(history, &CheckerConfig::default()).unwrap();
    let decided = !matches!(report.verdict, Verdict::Unknown { .. });
    prop_assert!(decided, "{}", report.verdict);
    prop_assert_eq!(
        report.is_linearizable(),
        oracle(&history.ops),
        "{}\n{:#?}",
        report.verdict,
        history.ops
    );
    Ok(())
}

proptest! {
    #[test]
    fn checker_agrees_with_brute_force_on_random_histories(ops in vec(arb_op(), 0..7)) {
        agree(&History::new(ops))?;
    }

    #[test]
    fn checker_agrees_with_brute_force_on_mutated_simulations(
        steps in vec(any::<(u8, u8, u8)>(), 0..16),
        processes in 1usize..4,
        pick in any::<usize>(),
        roll in any::<u8>(),
        rev in 1u64..12,
    ) {
        let mut history = simulate(&steps, processes, 1);
        mutate(&mut history, pick, roll, rev);
        if history.ops.iter().all(|o| o.validate().is_ok()) {
            agree(&history)?;
        }
    }
}
