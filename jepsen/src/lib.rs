//! The fault-injection harness and linearizability checker for micro clusters.
//!
//! Workloads record a [`history::History`] of operations against the public API; checkers
//! decide whether that history is consistent with linearizable registers (the store's, with
//! revisions; config paths and auth accounts, plain), or with the set, lease and token rules.
//!
//! Outcome contract (openraft's, word for word):
//! - A workload op ends **ok**, **fail** (known not applied) or **info** (unknown). A timeout on a
//!   write is always info: it may or may not take effect, at any time after it was invoked.
//! - A nemesis op ends installed, skipped or indeterminate.
//! - Anything else is a harness failure that aborts the run without a verdict.
//!
//! Layout:
//! - [`history`]: [`history::Op`], [`history::History`] and their JSON-lines file format.
//! - [`checker`]: the per-key linearizability checker over registers with revisions or plain
//!   ones ([`checker::check`]), the set / append-order checker ([`checker::set`]), the lease
//!   checker ([`checker::lease`]) and the token checker ([`checker::tokens`]).
//! - [`workload`]: the register, set, registry, config and auth clients, spread over every node.
//! - [`nemesis`]: the fault schedule (kill -9, SIGSTOP, partitions, replacement, clock skew,
//!   damaged and full disks).
//! - [`net`]: network namespaces and nftables rules for real partitions.
//! - [`skew`], [`disks`]: libfaketime clocks and tmpfs data dirs that fill up.
//! - [`db`]: the cluster under test (real `micro server` processes).
//! - [`runner`], [`report`]: `jepsen test` from start to verdict, and what it prints.
//!
//! Must not depend on `node` internals: go through `micro-tests`' harness or the wire.

pub mod checker;
pub mod db;
pub mod disks;
pub mod history;
pub mod nemesis;
pub mod net;
pub mod report;
pub mod runner;
pub mod skew;
pub mod workload;
