//! Events commands (what the log carries) and responses (what apply answers).

use serde::{Deserialize, Serialize};

use super::{EventsError, NewEvent, Retention, StartPosition, StoredEvent};

/// A replicated events change. Append-only enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventsCommand {
    /// Append events, in order. Nodes batch concurrent publishes into one command; each event
    /// gets its own outcome. An event whose id the topic already holds is not appended again.
    Publish {
        /// The events, in the order they are appended.
        events: Vec<NewEvent>,
    },
    /// Hand out events to a consumer group (creating it at `start` if new): deliveries due
    /// for redelivery first, then events after the group's cursor.
    Claim(Claim),
    /// Settle deliveries of a group: acknowledged ones are done, nacked ones are due now.
    Ack {
        /// The topic.
        topic: String,
        /// The group.
        group: String,
        /// Sequences of the deliveries.
        seqs: Vec<u64>,
        /// `true` acknowledges, `false` asks for redelivery.
        success: bool,
    },
    /// Remove up to `limit` events that retention no longer keeps, oldest first, across topics
    /// (leader-proposed; age is judged by the entry's time).
    Trim {
        /// Most events removed by this entry.
        limit: u32,
    },
    /// Replace a topic's retention (creating the topic if needed) and trim what it no longer
    /// keeps.
    SetRetention {
        /// The topic.
        topic: String,
        /// What to keep from now on.
        retention: Retention,
    },
}

/// What a consumer asks of its group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The topic.
    pub topic: String,
    /// The group.
    pub group: String,
    /// Most events to hand out (1..=[`MAX_CLAIM`](super::MAX_CLAIM)).
    pub max: u32,
    /// How long a delivery may stay unacknowledged before it is due again, in ms.
    pub ack_wait_ms: u64,
    /// Most redeliveries of one event; `None` is unlimited. An event whose redeliveries ran
    /// out is dropped from the group (counted in [`GroupState::dropped`](super::GroupState)).
    pub retry_limit: Option<u32>,
    /// Where a group that does not exist yet starts; ignored for an existing group.
    pub start: StartPosition,
}

/// Where an appended (or already present) event sits in its topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    /// Its sequence.
    pub seq: u64,
    /// Whether the topic already held an event with this id, so nothing was appended.
    pub duplicate: bool,
}

/// One event handed to a consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Its sequence in the topic.
    pub seq: u64,
    /// How many times it has been handed out, this time included.
    pub attempt: u32,
    /// The event.
    pub event: StoredEvent,
}

/// The outcome of an [`EventsCommand`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventsResponse {
    /// One outcome per published event, in order.
    Published {
        /// Where each event went, or why it was refused.
        results: Vec<Result<Appended, EventsError>>,
    },
    /// Events handed out by a claim (redeliveries first, then new events in log order).
    Claimed {
        /// The deliveries.
        deliveries: Vec<Delivery>,
        /// Pending deliveries dropped by this claim (retries exhausted or event removed).
        dropped: u32,
    },
    /// Deliveries settled.
    Acked {
        /// How many of the sequences were pending.
        settled: u32,
    },
    /// Events removed by retention.
    Trimmed {
        /// How many.
        count: u64,
    },
    /// A topic's retention was replaced.
    RetentionSet {
        /// Events removed right away.
        trimmed: u64,
    },
    /// The command was refused; nothing changed.
    Err(EventsError),
}
