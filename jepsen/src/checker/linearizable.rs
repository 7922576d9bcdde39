//! The linearizability checker's entry point: validate, partition by key, check keys in parallel.
//!
//! Linearizability is local (Herlihy & Wing's P-compositionality): a history is linearizable iff
//! each key's sub-history is, so keys are checked independently, each by the named anomaly rules
//! and then by the exhaustive search. Keys with revisions and plain keys share the search; only
//! the lowering and the named rules differ.

use std::collections::{BTreeMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::history::{History, HistoryError, Op, OpKind};

use super::register::{lower, Effect, KeyModel};
use super::search::{search, Deepest, SearchOutcome};
use super::{diagnose, Counts, KeyReport, OpRef, Report, Verdict, Violation, ViolationKind};

/// Limits of the checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckerConfig {
    /// Model steps the search may spend on one key before answering `Unknown`. Memory grows
    /// with steps (about 32 bytes each), so this bounds both time and memory.
    pub max_steps_per_key: u64,
    /// Keys checked in parallel; `0` means one thread per available core.
    pub threads: usize,
}

impl Default for CheckerConfig {
    fn default() -> Self {
        CheckerConfig {
            max_steps_per_key: 5_000_000,
            threads: 0,
        }
    }
}

/// Checks a history of register ops for linearizability, key by key.
///
/// Each key starts absent, so a history must come from keys the run alone wrote. Fails only if
/// an op is malformed (a harness failure, not a verdict).
pub fn check(history: &History, config: &CheckerConfig) -> Result<Report, HistoryError> {
    let mut by_key: BTreeMap<&str, Vec<(usize, &Op)>> = BTreeMap::new();
    for (index, op) in history.ops.iter().enumerate() {
        op.validate()
            .map_err(|source| HistoryError::InvalidOp { index, source })?;
        // Token uses are the token checker's; they read or write no register.
        if op.kind != OpKind::Use {
            by_key.entry(&op.key).or_default().push((index, op));
        }
    }
    let keys: Vec<(&str, Vec<(usize, &Op)>)> = by_key.into_iter().collect();
    let threads = match config.threads {
        0 => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        n => n,
    }
    .clamp(1, keys.len().max(1));

    let next = AtomicUsize::new(0);
    let work = || {
        let mut out = Vec::new();
        while let Some((key, ops)) = keys.get(next.fetch_add(1, Ordering::Relaxed)) {
            out.push(check_key(key, ops, config.max_steps_per_key));
        }
        out
    };
    let mut reports: Vec<KeyReport> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    reports.sort_by(|a, b| a.key.cmp(&b.key));

    let mut counts = Counts::default();
    reports.iter().for_each(|r| counts.add(&r.counts));
    let violation = reports.iter().find_map(|r| r.verdict.violation());
    let unknown: Vec<&KeyReport> = reports
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Unknown { .. }))
        .collect();
    let verdict = match (violation, unknown.first()) {
        (Some(v), _) => Verdict::Violation(v.clone()),
        (None, Some(first)) => Verdict::Unknown {
            reason: format!(
                "{} key(s) undecided; first: {}",
                unknown.len(),
                first.verdict
            ),
        },
        (None, None) => Verdict::Linearizable,
    };
    Ok(Report {
        verdict,
        keys: reports,
        counts,
    })
}

/// Checks one key: named rules first (precise messages), then the search (the final judge).
fn check_key(key: &str, ops: &[(usize, &Op)], max_steps: u64) -> KeyReport {
    let model = lower(ops);
    let report = |verdict, steps| KeyReport {
        key: key.to_owned(),
        verdict,
        counts: model.counts,
        steps,
    };
    if let Some(reason) = &model.unsupported {
        let reason = format!("key {key:?} cannot be checked: {reason}");
        return report(Verdict::Unknown { reason }, 0);
    }
    let named = if model.plain {
        diagnose::diagnose_plain(key, ops)
    } else {
        diagnose::diagnose(key, ops)
    };
    if let Some(v) = named {
        return report(Verdict::Violation(v), 0);
    }
    let result = search(&model, max_steps);
    let verdict = match result.outcome {
        SearchOutcome::Linearizable => Verdict::Linearizable,
        SearchOutcome::OutOfBudget => Verdict::Unknown {
            reason: format!(
                "key {key:?}: search gave up after {max_steps} steps ({} ops)",
                model.ops.len()
            ),
        },
        SearchOutcome::Stuck(deepest) => Verdict::Violation(describe(key, ops, &model, &deepest)),
    };
    report(verdict, result.steps)
}

/// Explains a search failure from the deepest partial linearization it reached.
fn describe(key: &str, ops: &[(usize, &Op)], model: &KeyModel, d: &Deepest) -> Violation {
    let by_index: BTreeMap<usize, &Op> = ops.iter().copied().collect();
    let op_ref = |m: usize| {
        let index = model.ops[m].index;
        by_index.get(&index).map(|op| OpRef {
            index,
            op: (*op).clone(),
        })
    };
    let required = model.ops.iter().filter(|o| o.required).count();
    let placed = d.prefix.iter().filter(|&&m| model.ops[m].required).count();
    let mut description = format!(
        "no linearization: at most {placed} of {required} acknowledged ops fit one; the longest \
         leaves the key {}",
        model.describe(d.cell)
    );
    let mut involved = Vec::new();
    if let Some(b) = d.blocked.and_then(op_ref) {
        description += &format!(", and then #{} ({}) cannot take effect", b.index, b.op);
        involved.push(b);
    }
    // The op that produced the state the blocked op met, then ops still pending at that point.
    let last_write = d.prefix.iter().rev().copied().find(|&m| {
        matches!(
            model.ops[m].effect,
            Effect::Write { .. } | Effect::Assign(_)
        )
    });
    if let Some(w) = last_write.and_then(op_ref) {
        description += &format!("; the state was produced by #{}", w.index);
        involved.push(w);
    }
    let deadline = d
        .blocked
        .and_then(|b| model.ops[b].complete_ns)
        .unwrap_or(u64::MAX);
    let placed_ops: HashSet<usize> = d.prefix.iter().copied().collect();
    let pending = (0..model.ops.len())
        .filter(|m| !placed_ops.contains(m) && Some(*m) != d.blocked)
        .filter(|&m| model.ops[m].invoke_ns <= deadline)
        .filter_map(op_ref);
    involved.extend(pending.take(8));
    Violation {
        key: key.to_owned(),
        kind: ViolationKind::NoLinearization,
        description,
        ops: involved,
    }
}
