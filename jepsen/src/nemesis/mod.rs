//! Nemeses: the faults injected on a schedule while clients run.
//!
//! Each fault is installed, held, then healed; the timeline records every step with its
//! outcome (`installed`, `skipped` — e.g. no leader to kill — or `indeterminate` when the
//! command itself failed).

mod schedule;

pub use schedule::{run_schedule, Fault, NemesisEvent, NemesisKind, Outcome as NemesisOutcome};
