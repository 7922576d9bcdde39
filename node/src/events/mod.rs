//! The events service: Micro's `events.Stream` and `events.Store` behind both edges, a publish
//! batcher that coalesces concurrent publishes into one raft entry, consumers for named groups
//! (replicated through raft) and ephemeral ones (from the local applied log), and what
//! retention removes (proposed by `expiry::remove_due`).

mod consumer;
mod convert;
mod ephemeral;
mod group;
mod publisher;
mod service;

pub use service::EventsService;

use micro_state_machine::events::{trim_due, EventsCommand, MAX_TRIM_PER_ENTRY};
use micro_state_machine::Command;

/// Events their topic's retention no longer keeps, removed through the log.
pub const RETENTION: crate::expiry::Removal = crate::expiry::Removal {
    name: "event retention",
    due: crate::expiry::Due::Check(|reader, now| trim_due(reader, now).map_err(|e| e.to_string())),
    command: || {
        Command::Events(EventsCommand::Trim {
            limit: MAX_TRIM_PER_ENTRY,
        })
    },
};
