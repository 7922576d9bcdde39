//! The benchmark engine shared by `micro bench` (which drives a micro cluster) and
//! `micro-compare` (which drives etcd and NATS the same way and prints them side by side):
//! closed-loop clients and fixed-rate renewals timed into latency histograms, the figures of
//! one run ([`Report`]), and the CPU and memory of processes on this machine.
//!
//! Layout:
//! - [`engine`]: [`engine::closed_loop`], [`engine::fixed_rate`], [`engine::Tally`].
//! - [`report`]: [`Report`], what one run measured.
//! - [`process`]: CPU seconds and resident memory of a process, from procfs.
//! - [`load`]: [`LoadArgs`], the load flags both tools take.
//!
//! Must not depend on any workspace crate: the engine knows operations only as futures, so
//! any client (micro's, etcd's, NATS's) can be measured by it.

pub mod engine;
pub mod load;
pub mod process;
pub mod report;

pub use engine::{closed_loop, fixed_rate, Limits, Tally};
pub use load::LoadArgs;
pub use report::Report;

/// Key `i` of `size` bytes (its last digits, zero-padded), so every system is given the same
/// keys.
pub fn key(i: usize, size: usize) -> String {
    let k = format!("{i:0size$}");
    k[k.len() - size.min(k.len())..].to_owned()
}
