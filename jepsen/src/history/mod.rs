//! Recorded histories of operations on registers, and their file format.
//!
//! A history is a flat list of [`Op`]s, one per client operation, each carrying both its
//! invocation and its completion (no separate invoke/complete events). Ops may appear in any
//! order; checkers sort by time themselves. All times are nanoseconds on **one** monotonic clock
//! shared by every client of a run (for example `Instant` elapsed since the run started).
//!
//! # The registers being modeled
//!
//! Every key starts absent. In a register **with revisions** (the store) a write creates a new
//! **revision** (the raft log index, so revisions of successive writes to a key strictly
//! increase) and returns it. A read returns the current `(value, revision)` or nothing. A
//! compare-and-set names the revision it expects (or "absent") and, when that matches, writes and
//! returns the new revision; otherwise it fails.
//!
//! A **plain** register (a config path, an auth account's existence) answers without
//! revisions: a write or delete is only acknowledged, a read returns the value or nothing. A key
//! with a delete, or with any answer lacking a revision, is checked as a plain register.
//!
//! `use` ops are not register ops: they record a token presented to a node (auth workload) and
//! are judged by the token checker.
//!
//! # JSON-lines format
//!
//! One JSON object per line, UTF-8, no trailing commas; blank lines are ignored. Unknown fields
//! are rejected so typos fail loudly. Fields:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `process` | u64 | client process that ran the op (informational) |
//! | `key` | string | the register the op touched (auth: the account id) |
//! | `f` | `"read"` \| `"write"` \| `"cas"` \| `"delete"` \| `"use"` | the operation |
//! | `invoke_ns` | u64 | when the client sent the request (ns) |
//! | `complete_ns` | u64 or absent | when the client saw the answer (ns); required for `ok` and `fail`, optional for `info` (the time it gave up, ignored by the checker) |
//! | `outcome` | `"ok"` \| `"fail"` \| `"info"` | ok, known not applied, unknown (a use: accepted, refused, unknown) |
//! | `value` | string or null | write/cas: the value written (required). ok read: the value read, `null` when the key was absent (required). ok use: the account the node resolved the token to, `null` or absent when its answer names none. Otherwise absent. |
//! | `revision` | u64 | ok cas: the revision created (required). ok write: the revision created; absent for a plain write. ok read that found a value: its revision; absent for a plain read. Otherwise absent. |
//! | `expected_revision` | u64 or null | cas only, required: the revision the cas expects; `null` means "write only if absent" |
//! | `node` | u64, optional | the node (index in the run) the client sent the op to |
//! | `secret` | bool, optional (written only when true) | config: the write was sealed with `options.secret`, or the read asked for secrets decrypted |
//! | `token` | string, optional | auth: on an ok token request (`read`), the id the harness gave the issued token; on a `use`, the token presented (required) |
//! | `via` | string, optional | how the op was made, where the workload varies it: config reads `get` / `read` (legacy Config.Read), token requests `secret` / `refresh`, uses `inspect` / `bearer` |
//! | `error` | string, optional | auth: on a refused `use`, the node's reason (its error detail) |
//!
//! ```text
//! {"process":1,"key":"k1","f":"write","invoke_ns":100,"complete_ns":900,"outcome":"ok","value":"a","revision":7}
//! {"process":2,"key":"k1","f":"read","invoke_ns":950,"complete_ns":1200,"outcome":"ok","value":"a","revision":7}
//! {"process":3,"key":"k1","f":"cas","invoke_ns":1000,"outcome":"info","value":"b","expected_revision":7}
//! {"process":4,"key":"k2","f":"cas","invoke_ns":1100,"complete_ns":1300,"outcome":"fail","value":"c","expected_revision":null}
//! {"process":5,"key":"k2","f":"read","invoke_ns":1400,"complete_ns":1500,"outcome":"ok","value":null}
//! {"process":0,"key":"s1","f":"write","invoke_ns":2000,"complete_ns":2900,"outcome":"ok","value":"0:4","node":0,"secret":true}
//! {"process":1,"key":"s1","f":"read","invoke_ns":3000,"complete_ns":3200,"outcome":"ok","value":"0:4","node":1,"secret":true,"via":"get"}
//! {"process":2,"key":"c0","f":"delete","invoke_ns":3300,"complete_ns":3900,"outcome":"ok","node":2}
//! {"process":3,"key":"a0-1","f":"read","invoke_ns":4000,"complete_ns":4500,"outcome":"ok","value":"a0-1","node":1,"token":"t7","via":"secret"}
//! {"process":4,"key":"a0-1","f":"use","invoke_ns":4600,"complete_ns":4700,"outcome":"ok","value":"a0-1","node":2,"token":"t7","via":"inspect"}
//! ```
//!
//! Reading reports the 1-based line number of the first malformed or inconsistent line.

mod error;
mod jsonl;
mod op;

pub use error::{HistoryError, InvalidOp};
pub use op::{History, Invocation, Op, OpKind, OpMeta, OpResult, Outcome, Versioned};
