//! One recorded client operation ([`Op`]) and a run's list of them ([`History`]).
//!
//! Ops are built by workloads with [`Op::invoke`] and one of the [`Invocation`] completions, so
//! the result always matches the kind; [`Op::validate`] re-checks ops built by hand. Registers
//! come in two flavours: with revisions (the store) and plain (config paths, auth accounts),
//! whose answers carry no revision.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::jsonl::OpRecord;
use super::InvalidOp;

/// A recorded history: every op of a run, in any order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The ops; their position is their index in checker reports.
    pub ops: Vec<Op>,
}

impl History {
    /// Creates a history from its ops.
    pub fn new(ops: Vec<Op>) -> Self {
        History { ops }
    }

    /// Appends one op.
    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }
}

/// One client operation: what was asked, when, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "OpRecord", into = "OpRecord")]
pub struct Op {
    /// The client process; informational (checkers do not rely on per-process order).
    pub process: u64,
    /// The register (store key) the op touched; checkers partition by it.
    pub key: String,
    /// What the op asked for.
    pub kind: OpKind,
    /// When the request was sent, in ns on the run's shared monotonic clock.
    pub invoke_ns: u64,
    /// When the answer arrived. `None` only for info ops, which checkers treat as never
    /// completing: an unknown write may take effect at any later time.
    pub complete_ns: Option<u64>,
    /// How the op ended.
    pub outcome: Outcome,
    /// Where and how it was made; informational, except [`OpMeta::token`].
    pub meta: OpMeta,
}

/// Annotations of an op: which node served it and how the client asked. Checkers ignore all
/// of them but `token`, which ties a token's uses to the request that issued it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpMeta {
    /// The node (its index in the run) the client sent the op to.
    pub node: Option<u64>,
    /// Config: the write was sealed (`options.secret`), or the read asked for secrets revealed.
    pub secret: bool,
    /// Auth: on an ok token request, the id the harness gave the issued token; on a use, the
    /// token presented (required there).
    pub token: Option<String>,
    /// How the op was made, where a workload varies it (config reads: `get`, or `read` for
    /// the legacy masked Config.Read; token requests: `secret` or `refresh`; uses: `inspect`
    /// or `bearer`).
    pub via: Option<String>,
    /// Auth: on a refused use, why the node refused it (its error detail).
    pub error: Option<String>,
}

/// What an op asked the store to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpKind {
    /// Read the key's current value and revision.
    Read,
    /// Unconditionally write `value`, creating a new revision.
    Write {
        /// The value written.
        value: String,
    },
    /// Write `value` only if the key's current revision is `expected` (`None`: only if absent).
    Cas {
        /// The revision the key must have; `None` means the key must be absent.
        expected: Option<u64>,
        /// The value written when the precondition holds.
        value: String,
    },
    /// Make the key absent (a plain register's delete: config Delete, account deletion).
    Delete,
    /// Present the token [`OpMeta::token`] of account `key` to a node. Not a register op: ok
    /// means accepted, fail refused, info unknown; the token checker judges these.
    Use,
}

/// How an op ended, per the outcome contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Applied, with this result.
    Ok(OpResult),
    /// Known not applied (for a cas: the precondition did not hold, or the request was refused).
    Fail,
    /// Unknown (a timeout, a dropped connection): may take effect at any time after invocation,
    /// or never.
    Info,
}

/// The result of an ok op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    /// A read's answer: the current value and its revision, or `None` when the key was absent.
    Read(Option<Versioned>),
    /// A write's or cas's answer: the revision it created.
    Written {
        /// The new revision (the raft log index of the write).
        revision: u64,
    },
    /// A plain read found this value; no revision is known. (Absence is `Read(None)`.)
    Value(String),
    /// A plain write or delete was acknowledged without a revision.
    Done,
    /// A use was accepted.
    Accepted {
        /// The account the node said the token stands for, when its answer names one.
        account: Option<String>,
    },
}

/// A value together with the revision that wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Versioned {
    /// The value.
    pub value: String,
    /// The revision that created it.
    pub revision: u64,
}

/// An op that has been sent but has not ended yet; complete it to get an [`Op`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The client process.
    pub process: u64,
    /// The key.
    pub key: String,
    /// What is asked.
    pub kind: OpKind,
    /// When it was sent (ns).
    pub invoke_ns: u64,
    /// Annotations, set with the builder methods below.
    pub meta: OpMeta,
}

impl Op {
    /// Starts recording an op sent at `invoke_ns`.
    pub fn invoke(
        process: u64,
        key: impl Into<String>,
        kind: OpKind,
        invoke_ns: u64,
    ) -> Invocation {
        Invocation {
            process,
            key: key.into(),
            kind,
            invoke_ns,
            meta: OpMeta::default(),
        }
    }

    /// Checks that the op is well formed: ok and fail ops have a completion not before the
    /// invocation, and an ok result matches the kind (reads get a read result, writes a revision).
    pub fn validate(&self) -> Result<(), InvalidOp> {
        match (self.complete_ns, &self.outcome) {
            (None, Outcome::Ok(_) | Outcome::Fail) => return Err(InvalidOp::MissingCompletion),
            (Some(c), _) if c < self.invoke_ns => {
                return Err(InvalidOp::CompletesBeforeInvoke {
                    invoke_ns: self.invoke_ns,
                    complete_ns: c,
                })
            }
            _ => {}
        }
        if self.kind == OpKind::Use && self.meta.token.is_none() {
            return Err(InvalidOp::MissingField { field: "token" });
        }
        let Outcome::Ok(result) = &self.outcome else {
            return Ok(());
        };
        let fits = match &self.kind {
            OpKind::Read => matches!(result, OpResult::Read(_) | OpResult::Value(_)),
            OpKind::Write { .. } => matches!(result, OpResult::Written { .. } | OpResult::Done),
            OpKind::Cas { .. } => matches!(result, OpResult::Written { .. }),
            OpKind::Delete => matches!(result, OpResult::Done),
            OpKind::Use => matches!(result, OpResult::Accepted { .. }),
        };
        if fits {
            Ok(())
        } else {
            Err(InvalidOp::ResultMismatch {
                f: self.kind.name(),
            })
        }
    }

    /// Whether the op belongs to a plain register (no revisions): a delete, or an answer
    /// without a revision.
    pub fn is_plain(&self) -> bool {
        self.kind == OpKind::Delete
            || matches!(
                self.outcome,
                Outcome::Ok(OpResult::Value(_) | OpResult::Done)
            )
    }

    /// What an ok read found, revision or not (`Some(None)`: the key was absent).
    pub fn read_value(&self) -> Option<Option<&str>> {
        match &self.outcome {
            Outcome::Ok(OpResult::Read(found)) => Some(found.as_ref().map(|v| v.value.as_str())),
            Outcome::Ok(OpResult::Value(v)) => Some(Some(v)),
            _ => None,
        }
    }

    /// The revision an ok write or cas created.
    pub fn written_revision(&self) -> Option<u64> {
        match self.outcome {
            Outcome::Ok(OpResult::Written { revision }) => Some(revision),
            _ => None,
        }
    }

    /// The value a write or cas tries to write.
    pub fn written_value(&self) -> Option<&str> {
        match &self.kind {
            OpKind::Read | OpKind::Delete | OpKind::Use => None,
            OpKind::Write { value } | OpKind::Cas { value, .. } => Some(value),
        }
    }

    /// The answer of an ok read (`Some(None)`: the key was absent).
    pub fn read_result(&self) -> Option<Option<&Versioned>> {
        match &self.outcome {
            Outcome::Ok(OpResult::Read(r)) => Some(r.as_ref()),
            _ => None,
        }
    }
}

impl Invocation {
    /// The op succeeded with `result` at `complete_ns`.
    pub fn ok(self, result: OpResult, complete_ns: u64) -> Op {
        self.end(Outcome::Ok(result), Some(complete_ns))
    }

    /// A read succeeded, finding `found` (`None`: the key was absent).
    pub fn ok_read(self, found: Option<Versioned>, complete_ns: u64) -> Op {
        self.ok(OpResult::Read(found), complete_ns)
    }

    /// A write or cas succeeded, creating `revision`.
    pub fn ok_written(self, revision: u64, complete_ns: u64) -> Op {
        self.ok(OpResult::Written { revision }, complete_ns)
    }

    /// A plain read succeeded, finding `found` (`None`: the key was absent).
    pub fn ok_value(self, found: Option<String>, complete_ns: u64) -> Op {
        match found {
            Some(v) => self.ok(OpResult::Value(v), complete_ns),
            None => self.ok_read(None, complete_ns),
        }
    }

    /// A plain write or delete was acknowledged.
    pub fn ok_done(self, complete_ns: u64) -> Op {
        self.ok(OpResult::Done, complete_ns)
    }

    /// A use was accepted, the node naming `account` if it did.
    pub fn ok_accepted(self, account: Option<String>, complete_ns: u64) -> Op {
        self.ok(OpResult::Accepted { account }, complete_ns)
    }

    /// Records the node the op is sent to.
    pub fn on_node(mut self, node: usize) -> Self {
        self.meta.node = Some(node as u64);
        self
    }

    /// Marks a config op that seals or reveals secrets.
    pub fn secret(mut self, secret: bool) -> Self {
        self.meta.secret = secret;
        self
    }

    /// Records the token issued (token requests) or presented (uses).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.meta.token = Some(token.into());
        self
    }

    /// Records how the op was made.
    pub fn via(mut self, via: &str) -> Self {
        self.meta.via = Some(via.to_owned());
        self
    }

    /// Records why the node refused the op.
    pub fn error(mut self, error: impl Into<String>) -> Self {
        self.meta.error = Some(error.into());
        self
    }

    /// The op is known not to have been applied.
    pub fn fail(self, complete_ns: u64) -> Op {
        self.end(Outcome::Fail, Some(complete_ns))
    }

    /// The outcome is unknown; `gave_up_ns` is when the client stopped waiting, if it did.
    pub fn info(self, gave_up_ns: Option<u64>) -> Op {
        self.end(Outcome::Info, gave_up_ns)
    }

    fn end(self, outcome: Outcome, complete_ns: Option<u64>) -> Op {
        Op {
            process: self.process,
            key: self.key,
            kind: self.kind,
            invoke_ns: self.invoke_ns,
            complete_ns,
            outcome,
            meta: self.meta,
        }
    }
}

impl OpKind {
    /// The op's `f` in the history file.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Read => "read",
            OpKind::Write { .. } => "write",
            OpKind::Cas { .. } => "cas",
            OpKind::Delete => "delete",
            OpKind::Use => "use",
        }
    }
}

impl fmt::Display for Op {
    /// Renders a one-line summary such as `p3 cas k1 expect@7 := "b" [100..900] ok @9`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{} ", self.process)?;
        match &self.kind {
            OpKind::Read => write!(f, "read {}", self.key)?,
            OpKind::Write { value } => write!(f, "write {} := {value:?}", self.key)?,
            OpKind::Cas { expected, value } => match expected {
                Some(r) => write!(f, "cas {} expect@{r} := {value:?}", self.key)?,
                None => write!(f, "cas {} expect absent := {value:?}", self.key)?,
            },
            OpKind::Delete => write!(f, "delete {}", self.key)?,
            OpKind::Use => write!(f, "use {}", self.key)?,
        }
        let meta = &self.meta;
        if let Some(t) = &meta.token {
            write!(f, " token {t}")?;
        }
        if let Some(n) = meta.node {
            write!(f, " on n{n}")?;
        }
        if let Some(via) = &meta.via {
            write!(f, " via {via}")?;
        }
        if meta.secret {
            write!(f, " secret")?;
        }
        match self.complete_ns {
            Some(c) => write!(f, " [{}..{c}]", self.invoke_ns)?,
            None => write!(f, " [{}..]", self.invoke_ns)?,
        }
        match &self.outcome {
            Outcome::Ok(OpResult::Read(None)) => write!(f, " ok -> absent"),
            Outcome::Ok(OpResult::Read(Some(v))) => {
                write!(f, " ok -> {:?}@{}", v.value, v.revision)
            }
            Outcome::Ok(OpResult::Written { revision }) => write!(f, " ok @{revision}"),
            Outcome::Ok(OpResult::Value(v)) => write!(f, " ok -> {v:?}"),
            Outcome::Ok(OpResult::Done) => write!(f, " ok"),
            Outcome::Ok(OpResult::Accepted { account: Some(a) }) => write!(f, " accepted as {a:?}"),
            Outcome::Ok(OpResult::Accepted { account: None }) => write!(f, " accepted"),
            Outcome::Fail => write!(f, " fail"),
            Outcome::Info => write!(f, " info"),
        }?;
        match &self.meta.error {
            Some(e) => write!(f, ": {e}"),
            None => Ok(()),
        }
    }
}
