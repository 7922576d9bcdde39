//! The fault-injection harness and linearizability checker for micro clusters.
//!
//! Not built yet: its workloads, nemeses and checkers arrive with the jepsen issue. The crate
//! exists now so the workspace has its final shape and the crate-graph test covers it.
//!
//! Must not depend on `node` internals: go through `micro-tests`' harness or the wire.
