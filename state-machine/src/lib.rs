//! The deterministic heart of micro: what the replicated log carries and how it changes state.
//!
//! Layout:
//! - [`entry`]: [`LogEntry`], the top-level [`Command`] and [`Response`] enums.
//! - [`context`]: [`ApplyContext`], the only source of time and position inside apply.
//! - [`kv`]: the ordered key-value storage apply runs against ([`KvRead`], [`Txn`]).
//! - [`store`]: the store service (records, TTLs, revisions, preconditions).
//! - [`config`]: the config service (a JSON document per namespace, dot paths, merges,
//!   secrets stored as ciphertext).
//! - [`auth`]: the auth service (accounts, rules, the token-signing key).
//! - [`registry`]: the registry service (service versions, instances with TTL leases, the
//!   change history watchers resume from).
//! - [`restore`]: loading a backup into a new cluster through the log.
//! - [`events`]: the events service (per-topic ordered logs, consumer groups with
//!   acknowledgements and redelivery, retention).
//! - [`snapshot`]: the versioned snapshot codec.
//!
//! The log holds our own serde enums (encoded with bincode), not protobuf: the wire contract in
//! `proto` can evolve without touching the on-disk format. Enum variants are append-only — never
//! reorder or remove one — so every entry ever written stays decodable.
//!
//! Must not depend on `proto`, tokio, tonic or openraft: apply stays pure and testable.
#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod context;
pub mod entry;
pub mod events;
pub mod kv;
pub mod registry;
pub mod restore;
pub mod snapshot;
pub mod store;

pub use context::ApplyContext;
pub use entry::{Command, LogEntry, Response};
pub use kv::{ApplyError, KvRead, Txn};

/// Applies one log entry to the state held in `txn`.
///
/// The clock is made monotonic here: a new leader whose wall clock lags the previous one's
/// cannot move time backwards, so every replica sees the same, non-decreasing `time_ms`.
/// Domain failures come back inside the [`Response`]; `Err` means corrupt storage and is fatal.
pub fn apply(txn: &mut Txn<'_>, index: u64, entry: LogEntry) -> Result<Response, ApplyError> {
    let ctx = context::advance_clock(txn, index, entry.time_ms)?;
    match entry.command {
        Command::Store(cmd) => Ok(Response::Store(store::apply(txn, cmd, &ctx)?)),
        Command::Config(cmd) => Ok(Response::Config(config::apply(txn, cmd, &ctx)?)),
        Command::Auth(cmd) => Ok(Response::Auth(auth::apply(txn, cmd, &ctx)?)),
        Command::Registry(cmd) => Ok(Response::Registry(registry::apply(txn, cmd, &ctx)?)),
        Command::Restore(cmd) => Ok(Response::Restore(restore::apply(txn, cmd)?)),
        Command::Events(cmd) => Ok(Response::Events(events::apply(txn, cmd, &ctx)?)),
    }
}
