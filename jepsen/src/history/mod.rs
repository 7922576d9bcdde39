//! Recorded histories of operations on the key-value register store, and their file format.
//!
//! A history is a flat list of [`Op`]s, one per client operation, each carrying both its
//! invocation and its completion (no separate invoke/complete events). Ops may appear in any
//! order; checkers sort by time themselves. All times are nanoseconds on **one** monotonic clock
//! shared by every client of a run (for example `Instant` elapsed since the run started).
//!
//! # The store being modeled
//!
//! Every key starts absent. A write creates a new **revision** (the raft log index, so revisions
//! of successive writes to a key strictly increase) and returns it. A read returns the current
//! `(value, revision)` or nothing. A compare-and-set names the revision it expects (or "absent")
//! and, when that matches, writes and returns the new revision; otherwise it fails.
//!
//! # JSON-lines format
//!
//! One JSON object per line, UTF-8, no trailing commas; blank lines are ignored. Unknown fields
//! are rejected so typos fail loudly. Fields:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `process` | u64 | client process that ran the op (informational) |
//! | `key` | string | the register the op touched |
//! | `f` | `"read"` \| `"write"` \| `"cas"` | the operation |
//! | `invoke_ns` | u64 | when the client sent the request (ns) |
//! | `complete_ns` | u64 or absent | when the client saw the answer (ns); required for `ok` and `fail`, optional for `info` (the time it gave up, ignored by the checker) |
//! | `outcome` | `"ok"` \| `"fail"` \| `"info"` | ok, known not applied, unknown |
//! | `value` | string or null | write/cas: the value written (required). ok read: the value read, `null` when the key was absent (required). Otherwise absent. |
//! | `revision` | u64 | ok write/cas: the revision created. ok read that found a value: its revision. Otherwise absent. |
//! | `expected_revision` | u64 or null | cas only, required: the revision the cas expects; `null` means "write only if absent" |
//!
//! ```text
//! {"process":1,"key":"k1","f":"write","invoke_ns":100,"complete_ns":900,"outcome":"ok","value":"a","revision":7}
//! {"process":2,"key":"k1","f":"read","invoke_ns":950,"complete_ns":1200,"outcome":"ok","value":"a","revision":7}
//! {"process":3,"key":"k1","f":"cas","invoke_ns":1000,"outcome":"info","value":"b","expected_revision":7}
//! {"process":4,"key":"k2","f":"cas","invoke_ns":1100,"complete_ns":1300,"outcome":"fail","value":"c","expected_revision":null}
//! {"process":5,"key":"k2","f":"read","invoke_ns":1400,"complete_ns":1500,"outcome":"ok","value":null}
//! ```
//!
//! Reading reports the 1-based line number of the first malformed or inconsistent line.

mod error;
mod jsonl;
mod op;

pub use error::{HistoryError, InvalidOp};
pub use op::{History, Invocation, Op, OpKind, OpResult, Outcome, Versioned};
