//! Checkers: decide whether a recorded history is consistent with the store's guarantees.
//!
//! [`check`] partitions a [`crate::history::History`] by key (linearizability is compositional)
//! and runs a Wing–Gong / Lowe search with Porcupine's memo on each key, over a register with
//! revisions (the store) or a plain one (config paths, auth accounts); [`set`] checks final
//! listings of set- and append-style workloads; [`lease`] checks registry listings against the
//! instances' renewals; [`tokens`] checks that issued access tokens are accepted everywhere.

mod candidates;
mod diagnose;
pub mod lease;
mod linearizable;
mod register;
mod search;
pub mod set;
mod timeline;
pub mod tokens;
mod verdict;

pub use lease::{check_leases, LeaseConfig, LeaseReport, LeaseViolation, Listing, Renewal};
pub use linearizable::{check, CheckerConfig};
pub use set::{check_same_order, check_set, AddOutcome, OrderDivergence, SetCounts, SetReport};
pub use tokens::{check_tokens, TokenConfig, TokenReport, TokenViolation, TokenViolationKind};
pub use verdict::{Counts, KeyReport, OpRef, Report, Verdict, Violation, ViolationKind};

#[cfg(test)]
mod linearizable_test;
#[cfg(test)]
mod oracle_test;
#[cfg(test)]
mod plain_test;
#[cfg(test)]
mod property_test;
#[cfg(test)]
mod simulated;
