//! Errors from reading, writing and validating histories.
//!
//! ```text
//! HistoryError
//! ├── Open / Read / Write     the file or stream failed (io)
//! ├── Malformed               a line is not a JSON object of the op shape (serde_json)
//! ├── InvalidLine ── InvalidOp   a line parsed but its fields contradict each other
//! └── InvalidOp ──── InvalidOp   an in-memory op (being written or checked) is inconsistent
//! ```

use std::path::PathBuf;

/// Reading, writing or validating a history failed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The history file could not be opened or created.
    #[error("cannot open history file {path:?}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Reading a line failed.
    #[error("cannot read history line {line}: {source}")]
    Read {
        /// 1-based line number.
        line: usize,
        /// Why.
        source: std::io::Error,
    },
    /// Writing the history failed.
    #[error("cannot write history: {0}")]
    Write(#[source] std::io::Error),
    /// A line is not valid JSON, or not an op object (wrong type, unknown or missing field).
    #[error("history line {line} is not a valid op: {source}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// The parser's complaint.
        source: serde_json::Error,
    },
    /// A line parsed but describes an impossible op.
    #[error("history line {line}: {source}")]
    InvalidLine {
        /// 1-based line number.
        line: usize,
        /// What is inconsistent.
        source: InvalidOp,
    },
    /// An in-memory op is inconsistent.
    #[error("history op #{index}: {source}")]
    InvalidOp {
        /// Position in [`super::History::ops`].
        index: usize,
        /// What is inconsistent.
        source: InvalidOp,
    },
}

/// Why an op is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOp {
    /// A field the op's `f` and `outcome` require is absent.
    #[error("field `{field}` is required here")]
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// A field is present that the op's `f` and `outcome` do not allow.
    #[error("field `{field}` is not allowed here")]
    UnexpectedField {
        /// The field.
        field: &'static str,
    },
    /// An ok or fail op has no completion time.
    #[error("ok and fail ops need `complete_ns`")]
    MissingCompletion,
    /// The completion time precedes the invocation time.
    #[error("completes at {complete_ns} ns, before it was invoked at {invoke_ns} ns")]
    CompletesBeforeInvoke {
        /// Invocation time.
        invoke_ns: u64,
        /// Completion time.
        complete_ns: u64,
    },
    /// An ok result of the wrong shape for the op (a revision for a read, a read for a write).
    #[error("ok result does not match a {f}")]
    ResultMismatch {
        /// The op's function.
        f: &'static str,
    },
}
