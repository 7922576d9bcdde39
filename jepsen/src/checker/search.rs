//! The Wing–Gong / Lowe just-in-time linearizability search with Porcupine's memo, for one key.
//!
//! Required (ok) ops sit on a [`Timeline`]. The search walks it: at a call it tries to linearize
//! that op now; on reaching a return, every op invoked before it has been tried, so it then tries
//! the info ops invoked before that return whose candidate revision fits the current state, and
//! only then backtracks (that return's op had to take effect before it returned). Info ops live
//! outside the timeline because they never return: scanning them at every step would be quadratic.
//! A memo of (set of linearized ops, state) prunes configurations already explored.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use super::register::{Cell, Effect, KeyModel};
use super::timeline::{Timeline, HEAD, NIL};

/// How one key's search ended.
#[derive(Debug)]
pub(crate) enum SearchOutcome {
    Linearizable,
    /// No linearization exists; the deepest partial one shows where it breaks.
    Stuck(Deepest),
    /// The step budget ran out before a decision.
    OutOfBudget,
}

/// The longest partial linearization the search reached before failing.
#[derive(Debug)]
pub(crate) struct Deepest {
    /// Positions in [`KeyModel::ops`], in linearization order.
    pub prefix: Vec<usize>,
    /// The op whose return was reached while it was still unplaced.
    pub blocked: Option<usize>,
    /// The state after `prefix`.
    pub cell: Cell,
}

/// The search's answer and the steps it spent.
#[derive(Debug)]
pub(crate) struct SearchResult {
    pub outcome: SearchOutcome,
    pub steps: u64,
}

/// The group key of a plain register's info ops (see [`InfoIndex::new`]).
const PLAIN_GROUP: u64 = u64::MAX;

/// The info ops that may create one revision.
struct InfoGroup {
    revision: u64,
    /// As in [`super::register::Slot`].
    pred: Option<u64>,
    /// `(model op, choice)`, sorted by invocation.
    ops: Vec<(usize, usize)>,
}

/// Info ops grouped by the revision they may create, ascending.
struct InfoIndex {
    groups: Vec<InfoGroup>,
}

impl InfoIndex {
    fn new(model: &KeyModel) -> Self {
        let mut map: BTreeMap<u64, InfoGroup> = BTreeMap::new();
        for (i, op) in model.ops.iter().enumerate().filter(|(_, o)| !o.required) {
            let slots: Vec<(u64, Option<u64>)> = match &op.effect {
                Effect::Write { slots, .. } => slots.iter().map(|s| (s.revision, s.pred)).collect(),
                // A plain register has no revisions: its info ops share one group that sorts
                // after every state's revision and has no predecessor, so every state admits it.
                Effect::Assign(_) => vec![(PLAIN_GROUP, None)],
                Effect::Read(_) => continue,
            };
            for (choice, (revision, pred)) in slots.into_iter().enumerate() {
                let group = map.entry(revision).or_insert(InfoGroup {
                    revision,
                    pred,
                    ops: Vec::new(),
                });
                group.ops.push((i, choice));
            }
        }
        let mut groups: Vec<InfoGroup> = map.into_values().collect();
        for group in &mut groups {
            group.ops.sort_by_key(|&(i, _)| (model.ops[i].invoke_ns, i));
        }
        InfoIndex { groups }
    }

    /// The first group whose revision is above the state's.
    fn start(&self, cell: Cell) -> usize {
        let current = cell.revision();
        self.groups.partition_point(|g| Some(g.revision) <= current)
    }
}

/// Where the search is looking for the next op to linearize.
#[derive(Clone, Copy)]
enum Cursor {
    /// Scanning the timeline at `node`, trying choices from `resume`.
    Timeline { node: usize, resume: usize },
    /// Trying info ops: group `group`, position `pos`, invoked no later than `frontier`.
    Info {
        group: usize,
        pos: usize,
        frontier: u64,
    },
}

/// One linearized op on the search stack, with where to resume when it is undone.
struct Frame {
    op: usize,
    /// The cursor that placed it.
    at: Cursor,
    /// For a timeline op, its call node.
    node: usize,
    choice: usize,
    before: Cell,
}

/// Runs the search on one key's model, giving up after `max_steps` steps.
pub(crate) fn search(model: &KeyModel, max_steps: u64) -> SearchResult {
    let ops = &model.ops;
    let mut timeline = Timeline::new(ops);
    let info = InfoIndex::new(model);
    let mut applied = vec![false; ops.len()];
    let keys: Vec<u128> = (0..ops.len()).map(op_key).collect();
    // Fingerprints instead of full bitsets keep the memo at 16 bytes an entry; see `op_key`.
    let mut memo: HashSet<u128, BuildHasherDefault<FoldHasher>> = HashSet::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut cell = Cell::Absent;
    let mut set_fp: u128 = 0;
    let mut remaining = ops.iter().filter(|o| o.required).count();
    let mut deepest: Option<Deepest> = None;
    let mut cursor = Cursor::Timeline {
        node: timeline.next(HEAD),
        resume: 0,
    };
    let mut steps = 0u64;
    let done = |outcome, steps| SearchResult { outcome, steps };

    loop {
        // Info ops left over were never applied, which is always allowed.
        if remaining == 0 {
            return done(SearchOutcome::Linearizable, steps);
        }
        steps += 1;
        if steps > max_steps {
            return done(SearchOutcome::OutOfBudget, steps);
        }
        // Find the next (op, choice) to try from the cursor, or learn that none is left.
        let attempt = match cursor {
            Cursor::Timeline { node, resume } if timeline.is_call(node) => {
                let i = timeline.op(node);
                let legal = ops[i].effect.legal(cell);
                let choice = legal.start.max(resume);
                if choice < legal.end {
                    Some((i, node, choice))
                } else {
                    cursor = Cursor::Timeline {
                        node: timeline.next(node),
                        resume: 0,
                    };
                    continue;
                }
            }
            Cursor::Timeline { node, .. } => {
                // A return: its op should have taken effect by now. Record how far we got,
                // then try info ops invoked before this return.
                if deepest
                    .as_ref()
                    .is_none_or(|d| stack.len() > d.prefix.len())
                {
                    deepest = Some(Deepest {
                        prefix: stack.iter().map(|f| f.op).collect(),
                        blocked: (node != NIL).then(|| timeline.op(node)),
                        cell,
                    });
                }
                cursor = Cursor::Info {
                    group: info.start(cell),
                    pos: 0,
                    frontier: timeline.time(node),
                };
                continue;
            }
            Cursor::Info {
                group,
                pos,
                frontier,
            } => next_info(&info, model, &applied, cell, group, pos, frontier).map(
                |(group, pos, i, choice)| {
                    cursor = Cursor::Info {
                        group,
                        pos,
                        frontier,
                    };
                    (i, NIL, choice)
                },
            ),
        };

        match attempt {
            Some((i, node, choice)) => {
                let next = ops[i].effect.after(cell, choice);
                let fp = set_fp ^ keys[i];
                if memo.insert(fp ^ cell_fingerprint(next)) {
                    stack.push(Frame {
                        op: i,
                        at: cursor,
                        node,
                        choice,
                        before: cell,
                    });
                    cell = next;
                    set_fp = fp;
                    applied[i] = true;
                    if node != NIL {
                        timeline.lift(node);
                    }
                    remaining -= usize::from(ops[i].required);
                    cursor = Cursor::Timeline {
                        node: timeline.next(HEAD),
                        resume: 0,
                    };
                } else {
                    cursor = advance(cursor, choice);
                }
            }
            None => {
                // Nothing left to try here: undo the last placement and try its next sibling.
                let Some(frame) = stack.pop() else {
                    let deepest = deepest.unwrap_or(Deepest {
                        prefix: Vec::new(),
                        blocked: None,
                        cell,
                    });
                    return done(SearchOutcome::Stuck(deepest), steps);
                };
                cell = frame.before;
                set_fp ^= keys[frame.op];
                applied[frame.op] = false;
                if frame.node != NIL {
                    timeline.unlift(frame.node);
                }
                remaining += usize::from(ops[frame.op].required);
                cursor = advance(frame.at, frame.choice);
            }
        }
    }
}

/// The cursor just past an attempt made at `at` with `choice`.
fn advance(at: Cursor, choice: usize) -> Cursor {
    match at {
        Cursor::Timeline { node, .. } => Cursor::Timeline {
            node,
            resume: choice + 1,
        },
        Cursor::Info {
            group,
            pos,
            frontier,
        } => Cursor::Info {
            group,
            pos: pos + 1,
            frontier,
        },
    }
}

/// The next info op (at or after `group`/`pos`) that may take effect now: invoked by
/// `frontier`, not yet applied, and legal in `cell`. Returns `(group, pos, op, choice)`.
fn next_info(
    info: &InfoIndex,
    model: &KeyModel,
    applied: &[bool],
    cell: Cell,
    mut group: usize,
    mut pos: usize,
    frontier: u64,
) -> Option<(usize, usize, usize, usize)> {
    let current = cell.revision();
    while let Some(g) = info.groups.get(group) {
        // Groups are ascending and so are their preds: once one skips an ok revision, all do.
        if g.pred > current {
            return None;
        }
        while let Some(&(i, choice)) = g.ops.get(pos) {
            if model.ops[i].invoke_ns > frontier {
                break;
            }
            if !applied[i] && model.ops[i].effect.legal(cell).contains(&choice) {
                return Some((group, pos, i, choice));
            }
            pos += 1;
        }
        group += 1;
        pos = 0;
    }
    None
}

/// A random-looking 128-bit key per op; a set's fingerprint is the XOR of its members' keys
/// (Zobrist hashing), so it updates in O(1). Two distinct configurations collide with
/// probability about 2^-128 per pair; a collision could only prune a branch (a spurious
/// violation), never report a false "linearizable".
fn op_key(i: usize) -> u128 {
    let i = i as u64;
    let hi = mix64(i.wrapping_mul(2).wrapping_add(0x243F_6A88_85A3_08D3));
    let lo = mix64(i.wrapping_mul(2).wrapping_add(0x1319_8A2E_0370_7345));
    (u128::from(hi) << 64) | u128::from(lo)
}

fn cell_fingerprint(cell: Cell) -> u128 {
    match cell {
        Cell::Absent => 0xA409_3822_299F_31D0_082E_FA98_EC4E_6C89,
        Cell::Present { value, revision } => {
            let hi = mix64(revision ^ mix64(u64::from(value) ^ 0xBE54_66CF_34E9_0C6C));
            let lo = mix64(u64::from(value) ^ mix64(revision ^ 0xC0AC_29B7_C97C_50DD));
            (u128::from(hi) << 64) | u128::from(lo)
        }
    }
}

/// SplitMix64's finalizer: a bijection on u64 with good avalanche.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Memo keys are already uniformly random, so hashing just folds them to 64 bits.
#[derive(Default)]
struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, x: u128) {
        self.0 ^= (x as u64) ^ ((x >> 64) as u64);
    }
}
