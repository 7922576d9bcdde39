//! The JSON-lines codec of histories: the flat on-disk record and file read/write.
//!
//! The format is documented in the [`super`] module doc; [`OpRecord`] is its exact shape and the
//! conversions below enforce which fields each `f`/`outcome` pair requires or forbids.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

use super::{History, HistoryError, InvalidOp, Op, OpKind, OpMeta, OpResult, Outcome, Versioned};

/// One line of a history file, field for field.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OpRecord {
    process: u64,
    key: String,
    f: Function,
    invoke_ns: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    complete_ns: Option<u64>,
    outcome: OutcomeTag,
    /// Outer `None`: field absent; `Some(None)`: explicit `null` (an ok read of an absent key).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    value: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revision: Option<u64>,
    /// Outer `None`: field absent; `Some(None)`: explicit `null` ("write only if absent").
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    expected_revision: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node: Option<u64>,
    #[serde(default, skip_serializing_if = "is_false")]
    secret: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    via: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !b
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Function {
    Read,
    Write,
    Cas,
    Delete,
    Use,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum OutcomeTag {
    Ok,
    Fail,
    Info,
}

/// Deserializes a field that is present (possibly `null`), so absence and `null` differ.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn forbid<T>(field: &'static str, v: &Option<T>) -> Result<(), InvalidOp> {
    match v {
        Some(_) => Err(InvalidOp::UnexpectedField { field }),
        None => Ok(()),
    }
}

fn require<T>(field: &'static str, v: Option<T>) -> Result<T, InvalidOp> {
    v.ok_or(InvalidOp::MissingField { field })
}

impl TryFrom<OpRecord> for Op {
    type Error = InvalidOp;

    fn try_from(r: OpRecord) -> Result<Op, InvalidOp> {
        let written_value = |v: Option<Option<String>>| require("value", v.flatten());
        let (kind, answer) = match r.f {
            Function::Read | Function::Use => {
                forbid("expected_revision", &r.expected_revision)?;
                let kind = if r.f == Function::Read {
                    OpKind::Read
                } else {
                    OpKind::Use
                };
                (kind, r.value)
            }
            Function::Write => {
                forbid("expected_revision", &r.expected_revision)?;
                let value = written_value(r.value)?;
                (OpKind::Write { value }, None)
            }
            Function::Cas => {
                let expected = require("expected_revision", r.expected_revision)?;
                let value = written_value(r.value)?;
                (OpKind::Cas { expected, value }, None)
            }
            Function::Delete => {
                forbid("expected_revision", &r.expected_revision)?;
                forbid("value", &r.value)?;
                (OpKind::Delete, None)
            }
        };
        let outcome = match (r.outcome, r.f) {
            (OutcomeTag::Ok, Function::Read) => match (require("value", answer)?, r.revision) {
                (None, revision) => {
                    forbid("revision", &revision)?;
                    Outcome::Ok(OpResult::Read(None))
                }
                (Some(value), Some(revision)) => {
                    Outcome::Ok(OpResult::Read(Some(Versioned { value, revision })))
                }
                // A plain register's read: the answer carries no revision.
                (Some(value), None) => Outcome::Ok(OpResult::Value(value)),
            },
            (OutcomeTag::Ok, Function::Write | Function::Cas) => match r.revision {
                Some(revision) => Outcome::Ok(OpResult::Written { revision }),
                None if r.f == Function::Write => Outcome::Ok(OpResult::Done),
                None => return Err(InvalidOp::MissingField { field: "revision" }),
            },
            (OutcomeTag::Ok, Function::Delete) => {
                forbid("revision", &r.revision)?;
                Outcome::Ok(OpResult::Done)
            }
            (OutcomeTag::Ok, Function::Use) => {
                forbid("revision", &r.revision)?;
                Outcome::Ok(OpResult::Accepted {
                    account: answer.flatten(),
                })
            }
            (tag, _) => {
                forbid("revision", &r.revision)?;
                forbid("value", &answer)?;
                if tag == OutcomeTag::Fail {
                    Outcome::Fail
                } else {
                    Outcome::Info
                }
            }
        };
        let op = Op {
            process: r.process,
            key: r.key,
            kind,
            invoke_ns: r.invoke_ns,
            complete_ns: r.complete_ns,
            outcome,
            meta: OpMeta {
                node: r.node,
                secret: r.secret,
                token: r.token,
                via: r.via,
                error: r.error,
            },
        };
        op.validate()?;
        Ok(op)
    }
}

impl From<Op> for OpRecord {
    fn from(op: Op) -> OpRecord {
        let (f, mut value, expected_revision) = match op.kind {
            OpKind::Read => (Function::Read, None, None),
            OpKind::Write { value } => (Function::Write, Some(Some(value)), None),
            OpKind::Cas { expected, value } => (Function::Cas, Some(Some(value)), Some(expected)),
            OpKind::Delete => (Function::Delete, None, None),
            OpKind::Use => (Function::Use, None, None),
        };
        let (outcome, revision) = match op.outcome {
            Outcome::Ok(OpResult::Read(found)) => {
                let revision = found.as_ref().map(|v| v.revision);
                value = Some(found.map(|v| v.value));
                (OutcomeTag::Ok, revision)
            }
            Outcome::Ok(OpResult::Written { revision }) => (OutcomeTag::Ok, Some(revision)),
            Outcome::Ok(OpResult::Value(found)) => {
                value = Some(Some(found));
                (OutcomeTag::Ok, None)
            }
            Outcome::Ok(OpResult::Done) => (OutcomeTag::Ok, None),
            Outcome::Ok(OpResult::Accepted { account }) => {
                value = Some(account);
                (OutcomeTag::Ok, None)
            }
            Outcome::Fail => (OutcomeTag::Fail, None),
            Outcome::Info => (OutcomeTag::Info, None),
        };
        OpRecord {
            process: op.process,
            key: op.key,
            f,
            invoke_ns: op.invoke_ns,
            complete_ns: op.complete_ns,
            outcome,
            value,
            revision,
            expected_revision,
            node: op.meta.node,
            secret: op.meta.secret,
            token: op.meta.token,
            via: op.meta.via,
            error: op.meta.error,
        }
    }
}

impl Op {
    /// Renders the op as one line of the JSON-lines format (without the newline).
    pub fn to_json_line(&self) -> String {
        // A record of integers, strings and options always serializes; `null` is unreachable.
        serde_json::to_string(&OpRecord::from(self.clone())).unwrap_or_else(|_| "null".into())
    }

    /// Parses one line of the JSON-lines format; `line` (1-based) goes into the error.
    pub fn from_json_line(text: &str, line: usize) -> Result<Op, HistoryError> {
        let record: OpRecord = serde_json::from_str(text)
            .map_err(|source| HistoryError::Malformed { line, source })?;
        Op::try_from(record).map_err(|source| HistoryError::InvalidLine { line, source })
    }
}

impl History {
    /// Writes the history to `path` in the JSON-lines format, replacing the file.
    pub fn write_jsonl(&self, path: impl AsRef<Path>) -> Result<(), HistoryError> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|source| HistoryError::Open {
            path: path.to_owned(),
            source,
        })?;
        self.write_to(BufWriter::new(file))
    }

    /// Reads a JSON-lines history from `path`.
    pub fn read_jsonl(path: impl AsRef<Path>) -> Result<History, HistoryError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| HistoryError::Open {
            path: path.to_owned(),
            source,
        })?;
        History::read_from(BufReader::new(file))
    }

    /// Writes the history as JSON lines to `w`, validating every op first.
    pub fn write_to(&self, mut w: impl Write) -> Result<(), HistoryError> {
        for (index, op) in self.ops.iter().enumerate() {
            op.validate()
                .map_err(|source| HistoryError::InvalidOp { index, source })?;
            writeln!(w, "{}", op.to_json_line()).map_err(HistoryError::Write)?;
        }
        w.flush().map_err(HistoryError::Write)
    }

    /// Reads JSON lines from `r`; blank lines are skipped.
    pub fn read_from(r: impl BufRead) -> Result<History, HistoryError> {
        let mut ops = Vec::new();
        for (i, text) in r.lines().enumerate() {
            let line = i + 1;
            let text = text.map_err(|source| HistoryError::Read { line, source })?;
            if text.trim().is_empty() {
                continue;
            }
            ops.push(Op::from_json_line(&text, line)?);
        }
        Ok(History { ops })
    }
}

#[cfg(test)]
#[path = "jsonl_test.rs"]
mod tests;
