//! The register models the search runs on: states, op effects and their choices.
//!
//! With revisions, a key's state is absent or `(value, revision)`. Revisions strictly increase
//! along a linearization (they are raft log indexes). Ok ops carry their revision. An info write
//! or cas has an unknown revision, so it gets one *choice* per revision it could explain (see
//! [`super::candidates`]), or is never applied. A plain register (no revisions in any answer)
//! is the same search with every revision 0 and writes and deletes legal in any state.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use crate::history::{Op, OpKind, OpResult, Outcome};

use super::candidates::info_candidates;
use super::Counts;

/// An interned value: the search compares small integers, not strings.
pub(crate) type ValueId = u32;

/// The revision of every present state of a plain register: it has none, and one constant
/// keeps [`Cell`] and the search unchanged.
pub(crate) const PLAIN_REVISION: u64 = 0;

/// The state of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Cell {
    Absent,
    Present { value: ValueId, revision: u64 },
}

impl Cell {
    pub fn revision(self) -> Option<u64> {
        match self {
            Cell::Absent => None,
            Cell::Present { revision, .. } => Some(revision),
        }
    }
}

/// One revision a writing op may create, with the ordering constraint it implies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    pub revision: u64,
    /// The largest revision below `revision` created by an ok op. That op must already be
    /// linearized (revisions increase), so the state's revision must be at least this; checking
    /// it here prunes branches that would only fail later.
    pub pred: Option<u64>,
}

/// What an op does to the state, already resolved against the history.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    /// An ok read: legal only in exactly this state.
    Read(Cell),
    /// A write (`guard: None`) or a cas (`guard: Some(expected)`); one choice per slot.
    Write {
        guard: Option<Option<u64>>,
        value: ValueId,
        slots: Vec<Slot>,
    },
    /// A plain register's write (`Some`) or delete (`None`): legal in any state, one choice.
    Assign(Option<ValueId>),
}

impl Effect {
    /// The choices legal in `cell`, as a range: slots are sorted by revision, and a write may
    /// create revision `r` only if `r` is above the current revision and no ok op's revision
    /// lies between them (that op could never be placed afterwards).
    pub fn legal(&self, cell: Cell) -> Range<usize> {
        match self {
            Effect::Read(expect) if *expect == cell => 0..1,
            Effect::Read(_) => 0..0,
            Effect::Assign(_) => 0..1,
            Effect::Write { guard, slots, .. } => {
                let current = cell.revision();
                if guard.is_some_and(|expected| expected != current) {
                    return 0..0;
                }
                let lo = slots.partition_point(|s| Some(s.revision) <= current);
                let hi = slots.partition_point(|s| s.pred <= current);
                lo..hi.max(lo)
            }
        }
    }

    /// The state after taking effect in `cell` by `choice`, which must be in [`Effect::legal`].
    pub fn after(&self, cell: Cell, choice: usize) -> Cell {
        match self {
            Effect::Read(_) => cell,
            Effect::Assign(None) => Cell::Absent,
            Effect::Assign(Some(value)) => Cell::Present {
                value: *value,
                revision: PLAIN_REVISION,
            },
            Effect::Write { value, slots, .. } => match slots.get(choice) {
                Some(slot) => Cell::Present {
                    value: *value,
                    revision: slot.revision,
                },
                None => cell,
            },
        }
    }
}

/// One op as the search sees it.
#[derive(Debug, Clone)]
pub(crate) struct ModelOp {
    /// Position in the history, for reports.
    pub index: usize,
    pub invoke_ns: u64,
    /// `None` for info ops: they never return, so they never block the search.
    pub complete_ns: Option<u64>,
    pub effect: Effect,
    /// Ok ops must be linearized; info ops may be left out (never applied).
    pub required: bool,
}

impl ModelOp {
    /// History op `op` (at `index`) lowered to `effect`; an op that need not take effect
    /// never completes for the search.
    fn new(index: usize, op: &Op, effect: Effect, required: bool) -> Self {
        ModelOp {
            index,
            invoke_ns: op.invoke_ns,
            complete_ns: if required { op.complete_ns } else { None },
            effect,
            required,
        }
    }
}

/// A key's ops lowered for the search.
#[derive(Debug, Default)]
pub(crate) struct KeyModel {
    pub ops: Vec<ModelOp>,
    /// Interned values, indexed by [`ValueId`].
    pub values: Vec<String>,
    pub counts: Counts,
    /// A plain register: states and messages carry no revisions.
    pub plain: bool,
    /// Why the key cannot be checked, if it cannot (a cas on a plain register).
    pub unsupported: Option<String>,
}

impl KeyModel {
    /// Renders a state for messages.
    pub fn describe(&self, cell: Cell) -> String {
        match cell {
            Cell::Absent => "absent".to_owned(),
            Cell::Present { value, revision } => {
                let v = self.values.get(value as usize).map_or("?", String::as_str);
                if self.plain {
                    format!("{v:?}")
                } else {
                    format!("{v:?}@{revision}")
                }
            }
        }
    }
}

/// Lowers one key's ops (with their history indexes): drops fail ops and info reads, interns
/// values, and resolves each info write's candidate revisions. A key with any plain op is
/// lowered as a plain register ([`lower_plain`]).
pub(crate) fn lower(ops: &[(usize, &Op)]) -> KeyModel {
    if ops.iter().any(|(_, op)| op.is_plain()) {
        return lower_plain(ops);
    }
    let mut model = KeyModel::default();
    let mut values = Interner::default();

    let mut produced = BTreeSet::new();
    for (_, op) in ops {
        if let Some(r) = op.written_revision() {
            produced.insert(r);
        }
    }
    let candidates = info_candidates(ops, &produced);
    let pred = |r: u64| produced.range(..r).next_back().copied();
    let slot = |revision: u64| Slot {
        revision,
        pred: pred(revision),
    };

    for &(index, op) in ops {
        let Some(required) = model.counts.count(&op.outcome) else {
            continue;
        };
        let effect = match (&op.kind, &op.outcome) {
            (OpKind::Read, Outcome::Ok(OpResult::Read(found))) => {
                Effect::Read(found.as_ref().map_or(Cell::Absent, |v| Cell::Present {
                    value: values.id(&v.value),
                    revision: v.revision,
                }))
            }
            // An info read tells nothing; a mismatched ok result is rejected before lowering.
            (OpKind::Read, _) => continue,
            // Plain ops send the key to `lower_plain`; uses are filtered out before lowering.
            (OpKind::Delete | OpKind::Use, _) => continue,
            (OpKind::Write { value } | OpKind::Cas { value, .. }, outcome) => {
                let guard = match op.kind {
                    OpKind::Cas { expected, .. } => Some(expected),
                    _ => None,
                };
                let slots: Vec<Slot> = match outcome {
                    Outcome::Ok(OpResult::Written { revision }) => vec![slot(*revision)],
                    Outcome::Ok(OpResult::Read(_)) => continue,
                    _ => candidates
                        .get(&index)
                        .map_or(Vec::new(), |c| c.iter().map(|&r| slot(r)).collect()),
                };
                if slots.is_empty() {
                    model.counts.info_unobserved += 1;
                    continue;
                }
                Effect::Write {
                    guard,
                    value: values.id(value),
                    slots,
                }
            }
        };
        model.ops.push(ModelOp::new(index, op, effect, required));
    }
    model.values = values.values;
    model
}

/// Lowers a plain register's ops: revisions are ignored (a versioned answer on such a key
/// keeps only its value), writes and deletes become [`Effect::Assign`].
///
/// An info write whose value no ok read returned, and an info delete that no ok read of
/// absence completed after its invocation could have observed, are treated as never applied:
/// applying one only changes the state where no read looks, so "never applied" dominates (the
/// same argument as [`super::candidates`]). The others get one choice, in any state.
fn lower_plain(ops: &[(usize, &Op)]) -> KeyModel {
    let mut model = KeyModel {
        plain: true,
        ..KeyModel::default()
    };
    let mut values = Interner::default();
    let observed: std::collections::HashSet<&str> = ops
        .iter()
        .filter_map(|(_, op)| op.read_value().flatten())
        .collect();
    let last_absent_read = ops
        .iter()
        .filter(|(_, op)| op.read_value() == Some(None))
        .filter_map(|(_, op)| op.complete_ns)
        .max();
    for &(index, op) in ops {
        let Some(required) = model.counts.count(&op.outcome) else {
            continue;
        };
        let effect = match &op.kind {
            OpKind::Read => match op.read_value() {
                Some(found) => Effect::Read(found.map_or(Cell::Absent, |v| Cell::Present {
                    value: values.id(v),
                    revision: PLAIN_REVISION,
                })),
                None => continue,
            },
            OpKind::Write { value } => {
                if !required && !observed.contains(value.as_str()) {
                    model.counts.info_unobserved += 1;
                    continue;
                }
                Effect::Assign(Some(values.id(value)))
            }
            OpKind::Delete => {
                if !required && last_absent_read.is_none_or(|done| done < op.invoke_ns) {
                    model.counts.info_unobserved += 1;
                    continue;
                }
                Effect::Assign(None)
            }
            OpKind::Cas { .. } => {
                model.unsupported =
                    Some("a compare-and-set on a register without revisions".to_owned());
                continue;
            }
            OpKind::Use => continue,
        };
        model.ops.push(ModelOp::new(index, op, effect, required));
    }
    model.values = values.values;
    model
}

/// Maps each distinct value to a small id.
#[derive(Default)]
struct Interner<'a> {
    ids: HashMap<&'a str, ValueId>,
    values: Vec<String>,
}

impl<'a> Interner<'a> {
    fn id(&mut self, v: &'a str) -> ValueId {
        let values = &mut self.values;
        *self.ids.entry(v).or_insert_with(|| {
            values.push(v.to_owned());
            // Ids fit: a key with more than 2^32 distinct values is far beyond any history.
            (values.len() - 1) as ValueId
        })
    }
}
