//! Store commands (what the log carries) and responses (what apply answers).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Field, Precondition, StoreError, Table};

/// A replicated store change. Append-only enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreCommand {
    /// Write (create or replace) a record.
    Write {
        /// Where.
        table: Table,
        /// Record key.
        key: String,
        /// Record value.
        value: Vec<u8>,
        /// User metadata.
        metadata: BTreeMap<String, Field>,
        /// Time to live from the entry's time; `None` never expires.
        ttl_ms: Option<u64>,
        /// Optional condition.
        precondition: Option<Precondition>,
    },
    /// Delete a record; deleting an absent key succeeds unless a precondition says otherwise.
    Delete {
        /// Where.
        table: Table,
        /// Record key.
        key: String,
        /// Optional condition.
        precondition: Option<Precondition>,
    },
    /// Physically remove up to `limit` records expired at the entry's time (leader-proposed).
    PurgeExpired {
        /// Most records removed by one entry, to keep entries small.
        limit: u32,
    },
    /// Writes and deletes of concurrent callers sharing one entry (a node's store batcher).
    /// Each applies in order exactly as an entry of its own would; a refused one changes
    /// nothing. All get the entry's index as their revision, so a batch never names a key
    /// twice (the batcher defers the second), or two writes would share a revision.
    Batch {
        /// `Write` and `Delete` commands; anything else is refused on its own.
        commands: Vec<StoreCommand>,
    },
}

/// The outcome of a [`StoreCommand`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreResponse {
    /// The record was written with this revision.
    Written {
        /// The log index of the write.
        revision: u64,
    },
    /// The delete applied.
    Deleted {
        /// Whether a live record was removed.
        existed: bool,
    },
    /// Expired records were removed.
    Purged {
        /// How many.
        count: u32,
    },
    /// The command was refused; nothing changed.
    Err(StoreError),
    /// The outcome of each command of a `Batch`, in order.
    Batch {
        /// One per command.
        results: Vec<StoreResponse>,
    },
}
