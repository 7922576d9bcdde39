//! The registry service: service versions, the instances (nodes) that run them with TTL
//! leases, and a bounded history of changes that watchers resume from.
//!
//! Keyspace (all under `r/`): `r/s/<domain>\0<name>\0<version>` holds a version's
//! [`Definition`]; `r/n/<domain>\0<name>\0<version>\0<node>` a [`NodeRecord`];
//! `r/i/<domain>\0<name>\0<node>` the version a node id belongs to; `r/x/<deadline BE>\0…`
//! indexes node deadlines; `r/w/<revision BE>` holds a [`WatchEvent`]; `r/meta` the history
//! bounds. Invariant: a node whose deadline is at or before the time a reader asks about is
//! never returned, whether or not an `Expire` entry has removed it yet.

mod apply;
mod command;
mod error;
mod model;
mod query;

pub use apply::apply;
pub use command::{Registration, RegistryCommand, RegistryResponse};
pub use error::RegistryError;
pub use model::{
    validate_name, Action, Definition, Endpoint, History, Instance, NodeRecord, Service, Value,
    WatchEvent, DEFAULT_TTL_MS, EXPIRY_PREFIX, HISTORY_LEN, MAX_TTL_MS, MIN_TTL_MS,
};
pub use query::{definition, get_service, history, list_services, watch_events};
