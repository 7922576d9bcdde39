//! Which revisions an info write or cas could have created: revisions observed but unexplained.
//!
//! An info op's revision is unknown, but if it took effect and anyone noticed, some op observed
//! its revision: an ok read (with its value) or an ok cas (expecting it). So an info op may take
//! effect only with a revision some op observed that no ok op created. One whose effect nobody
//! observed is treated as never applied: applying it would leave the key at a revision nobody saw,
//! which only makes later reads and cas harder to place, so "never applied" dominates.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::history::{Op, OpKind, OpResult, Outcome};

/// What is known about a revision some op observed but no ok op created.
#[derive(Debug, Clone, Default)]
struct Unexplained<'a> {
    /// Values ok reads returned at this revision; empty when only a cas expected it.
    values: BTreeSet<&'a str>,
    /// The earliest completion of an ok op that observed it: its creator took effect before
    /// then, so it was invoked no later. `None` when only info cas expected it.
    deadline: Option<u64>,
}

impl Unexplained<'_> {
    /// Whether an info op writing `value`, invoked at `invoke_ns`, could have created it.
    fn could_be(&self, value: &str, invoke_ns: u64) -> bool {
        (self.values.is_empty() || self.values.contains(value))
            && self.deadline.is_none_or(|d| invoke_ns <= d)
    }
}

/// Returns, for each info write or cas (by history index), the sorted revisions it may have
/// created; empty means it can only have never been applied.
///
/// An applied info cas also observed its expected revision, which another info op may have
/// created, but only matters if that cas itself has a candidate. That is a fixpoint: start with
/// no info cas counted as an observer, add those that gain candidates, repeat until stable
/// (candidates only grow, so this terminates).
pub(crate) fn info_candidates(
    ops: &[(usize, &Op)],
    produced: &BTreeSet<u64>,
) -> HashMap<usize, Vec<u64>> {
    let definite = definite_observations(ops, produced);
    let infos: Vec<(usize, &Op)> = ops
        .iter()
        .copied()
        .filter(|(_, op)| op.outcome == Outcome::Info && op.written_value().is_some())
        .collect();
    let mut active: BTreeSet<u64> = BTreeSet::new();
    loop {
        let mut unseen = definite.clone();
        for &r in active.iter().filter(|r| !produced.contains(r)) {
            unseen.entry(r).or_default();
        }
        let result: HashMap<usize, Vec<u64>> = infos
            .iter()
            .map(|&(i, op)| {
                let value = op.written_value().unwrap_or_default();
                let revisions = unseen
                    .iter()
                    .filter(|(_, u)| u.could_be(value, op.invoke_ns))
                    .map(|(&r, _)| r);
                (i, revisions.collect())
            })
            .collect();
        let next: BTreeSet<u64> = infos
            .iter()
            .filter(|(i, _)| result.get(i).is_some_and(|c| !c.is_empty()))
            .filter_map(|(_, op)| match op.kind {
                OpKind::Cas { expected, .. } => expected,
                _ => None,
            })
            .collect();
        if next == active {
            return result;
        }
        active = next;
    }
}

/// Revisions observed by ok reads and ok cas that no ok op created. Failed cas expectations
/// are not observations: the cas may have failed precisely because they were wrong.
fn definite_observations<'a>(
    ops: &[(usize, &'a Op)],
    produced: &BTreeSet<u64>,
) -> BTreeMap<u64, Unexplained<'a>> {
    let mut unseen: BTreeMap<u64, Unexplained<'a>> = BTreeMap::new();
    for (_, op) in ops {
        let (revision, value) = match (&op.kind, &op.outcome) {
            (OpKind::Read, Outcome::Ok(OpResult::Read(Some(v)))) => {
                (v.revision, Some(v.value.as_str()))
            }
            (
                OpKind::Cas {
                    expected: Some(e), ..
                },
                Outcome::Ok(_),
            ) => (*e, None),
            _ => continue,
        };
        if produced.contains(&revision) {
            continue;
        }
        let entry = unseen.entry(revision).or_default();
        entry.values.extend(value);
        if let Some(done) = op.complete_ns {
            entry.deadline = Some(entry.deadline.map_or(done, |d| d.min(done)));
        }
    }
    unseen
}
