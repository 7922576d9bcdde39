//! What one replicated log entry carries, and what applying it answers.

use serde::{Deserialize, Serialize};

use crate::auth::{AuthCommand, AuthResponse};
use crate::config::{ConfigCommand, ConfigResponse};
use crate::events::{EventsCommand, EventsResponse};
use crate::registry::{RegistryCommand, RegistryResponse};
use crate::restore::{RestoreCommand, RestoreResponse};
use crate::store::{StoreCommand, StoreResponse};

/// The application payload of a raft log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Milliseconds since the Unix epoch on the cluster clock, stamped by the leader when it
    /// proposes the entry (the raft crate's `clock` module: monotonic, never a wall-clock jump).
    pub time_ms: u64,
    /// The state change.
    pub command: Command,
}

/// Every replicated state change, one variant per service. Append-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A store service change.
    Store(StoreCommand),
    /// A config service change.
    Config(ConfigCommand),
    /// An auth service change.
    Auth(AuthCommand),
    /// A registry service change.
    Registry(RegistryCommand),
    /// A chunk of a backup being restored.
    Restore(RestoreCommand),
    /// An events service change.
    Events(EventsCommand),
}

/// The outcome of applying a [`Command`], one variant per service. Append-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Response {
    /// The entry carried no application command (blank or membership entries).
    #[default]
    None,
    /// A store service outcome.
    Store(StoreResponse),
    /// A config service outcome.
    Config(ConfigResponse),
    /// An auth service outcome.
    Auth(AuthResponse),
    /// A registry service outcome.
    Registry(RegistryResponse),
    /// A restore chunk's outcome.
    Restore(RestoreResponse),
    /// An events service outcome.
    Events(EventsResponse),
}
