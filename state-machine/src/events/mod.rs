//! The events service: a durable, ordered log per topic with consumer groups that resume where
//! they left off, at-least-once delivery with acknowledgements, and retention by age and size.
//!
//! Keyspace (`<topic>\0` keeps a topic's keys under one prefix): `em/<topic>` its
//! [`TopicMeta`]; `e/<topic>\0<first seq BE>` a chunk of the [`StoredEvent`]s one entry
//! appended (see `log`); `ei/<topic>\0<id>` → sequence, for ids the publisher chose;
//! `eg/<topic>\0<group>` a [`GroupState`]; `ep/<topic>\0<group>\0<seq BE>` a [`Pending`]
//! delivery; `eq/<topic>\0<group>\0<deadline BE><seq BE>` the same delivery indexed by
//! deadline.
//!
//! Invariants: a topic's retained events are exactly `first_seq..next_seq` (retention removes
//! only the oldest), its chunks cover them without gaps, and each retained event with a
//! publisher-chosen id has an `ei/` entry; sequences are never reused; a group's pending
//! deliveries each have exactly one due-index entry, and `GroupState::pending` counts them;
//! ids, timestamps of appends and deadlines come from the command and the entry's time only.

mod apply;
mod command;
mod error;
mod log;
mod model;
mod query;

pub use apply::apply;
pub use command::{Appended, Claim, Delivery, EventsCommand, EventsResponse};
pub use error::EventsError;
pub use model::{
    event_size, validate_event, validate_id, validate_name, GroupState, NewEvent, Pending,
    Retention, StartPosition, StoredEvent, TopicMeta, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_BYTES,
    MAX_ANSWER_BYTES, MAX_CLAIM, MAX_EVENT_BYTES, MAX_GROUP_PENDING, MAX_ID_BYTES, MAX_NAME_BYTES,
    MAX_TRIM_PER_ENTRY,
};
pub use query::{
    events_from, group, groups, next_due, pending, pending_by_id, read, resolve_start, seq_of_id,
    topic, topics, trim_due, EventView,
};
