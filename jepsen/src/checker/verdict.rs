//! What the linearizability checker answers: a [`Verdict`] per key and overall, with counts.
//!
//! A verdict is never optimistic: when the search runs out of budget the answer is
//! [`Verdict::Unknown`], not [`Verdict::Linearizable`].

use std::fmt;

use serde::Serialize;

use crate::history::Op;

/// The answer for one key or for a whole history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// A linearization exists (for the whole history: on every key).
    Linearizable,
    /// No linearization exists; the violation explains why.
    Violation(Violation),
    /// The checker could not decide (step budget exhausted).
    Unknown {
        /// Why no decision was reached.
        reason: String,
    },
}

impl Verdict {
    /// Whether the verdict is [`Verdict::Linearizable`].
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }

    /// The violation, if the verdict is one.
    pub fn violation(&self) -> Option<&Violation> {
        match self {
            Verdict::Violation(v) => Some(v),
            _ => None,
        }
    }
}

/// Why a key's history is not linearizable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The key whose history has no linearization.
    pub key: String,
    /// The kind of anomaly, for grouping and tests.
    pub kind: ViolationKind,
    /// A human-readable explanation naming the anomaly and the ops.
    pub description: String,
    /// The ops involved, most relevant first (for a search failure: the op that could not be
    /// placed, the op that produced the state it met, then ops still pending at that point).
    pub ops: Vec<OpRef>,
}

/// An op of the history together with its position in [`crate::history::History::ops`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpRef {
    /// Index in the history.
    pub index: usize,
    /// The op.
    pub op: Op,
}

/// The kind of anomaly a [`Violation`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ViolationKind {
    /// A read returned an older revision (or absent) after a newer write had completed.
    StaleRead,
    /// Like a stale read, but the newer acknowledged write was never observed by anyone.
    LostWrite,
    /// A read returned a value no op ever tried to write.
    NeverWrittenValue,
    /// A read returned a value whose only write failed (fail means known not applied).
    FailedWriteVisible,
    /// A value showed up at a revision its write did not create: it took effect twice.
    DuplicateEffect,
    /// A read returned revision `r` with a value other than the one written at `r`.
    ValueMismatch,
    /// Two acknowledged writes were given the same revision.
    RevisionReused,
    /// A write completed with a revision not above one created by an earlier-completed write.
    RevisionsBackwards,
    /// A cas succeeded although a write completed before it had moved the revision on.
    StaleCas,
    /// A cas succeeded expecting a revision no write on the key could have created.
    UnknownCasRevision,
    /// A read observed a write that was invoked only after the read completed.
    FutureRead,
    /// No rule above explains it, but the exhaustive search found no linearization.
    NoLinearization,
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ViolationKind::StaleRead => "stale read",
            ViolationKind::LostWrite => "lost write",
            ViolationKind::NeverWrittenValue => "read of a never-written value",
            ViolationKind::FailedWriteVisible => "failed write visible",
            ViolationKind::DuplicateEffect => "write took effect twice",
            ViolationKind::ValueMismatch => "value does not match its revision",
            ViolationKind::RevisionReused => "revision reused",
            ViolationKind::RevisionsBackwards => "revisions went backwards",
            ViolationKind::StaleCas => "cas succeeded with a stale revision",
            ViolationKind::UnknownCasRevision => "cas succeeded with an unknown revision",
            ViolationKind::FutureRead => "read from the future",
            ViolationKind::NoLinearization => "no linearization",
        })
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "key {:?}: {}", self.key, self.description)?;
        for r in &self.ops {
            writeln!(f, "  #{} {}", r.index, r.op)?;
        }
        Ok(())
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Linearizable => f.write_str("linearizable"),
            Verdict::Violation(v) => write!(f, "violation: {v}"),
            Verdict::Unknown { reason } => write!(f, "unknown: {reason}"),
        }
    }
}

/// How many ops were checked, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// All ops (`ok + fail + info`).
    pub ops: usize,
    /// Ok ops.
    pub ok: usize,
    /// Fail ops (known not applied; dropped before the search).
    pub fail: usize,
    /// Info ops (unknown outcome).
    pub info: usize,
    /// Info writes and cas whose effect no other op could have observed; they are checked as
    /// never applied, which is equivalent (an unobserved write only narrows what later ops may
    /// see). Info reads tell nothing and are simply skipped.
    pub info_unobserved: usize,
}

impl Counts {
    /// Counts an op by its outcome: `Some(true)` when it must take effect (ok), `Some(false)`
    /// when it may (info), `None` when it did not (fail, left out of the search).
    pub fn count(&mut self, outcome: &crate::history::Outcome) -> Option<bool> {
        use crate::history::Outcome;
        self.ops += 1;
        match outcome {
            Outcome::Ok(_) => {
                self.ok += 1;
                Some(true)
            }
            Outcome::Fail => {
                self.fail += 1;
                None
            }
            Outcome::Info => {
                self.info += 1;
                Some(false)
            }
        }
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Counts) {
        self.ops += other.ops;
        self.ok += other.ok;
        self.fail += other.fail;
        self.info += other.info;
        self.info_unobserved += other.info_unobserved;
    }
}

/// The checker's answer for one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyReport {
    /// The key.
    pub key: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Its op counts.
    pub counts: Counts,
    /// Search steps spent (model steps attempted).
    pub steps: u64,
}

/// The checker's answer for a whole history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Overall: the first key's violation if any (keys in order), else `Unknown` if any key is
    /// undecided, else `Linearizable`.
    pub verdict: Verdict,
    /// One report per key, sorted by key.
    pub keys: Vec<KeyReport>,
    /// Totals over all keys.
    pub counts: Counts,
}

impl Report {
    /// Whether every key is linearizable.
    pub fn is_linearizable(&self) -> bool {
        self.verdict.is_linearizable()
    }

    /// Every violation found, one per failing key.
    pub fn violations(&self) -> impl Iterator<Item = &Violation> {
        self.keys.iter().filter_map(|k| k.verdict.violation())
    }
}
