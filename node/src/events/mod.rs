//! The events service: Micro's `events.Stream` and `events.Store` behind both edges, a publish
//! batcher that coalesces concurrent publishes into one raft entry, consumers for named groups
//! (replicated through raft) and ephemeral ones (from the local applied log), and the
//! retention worker.

mod consumer;
mod convert;
mod ephemeral;
mod group;
mod publisher;
mod service;
mod worker;

pub use service::EventsService;
pub use worker::trim_events;
