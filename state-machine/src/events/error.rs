//! Events domain errors. They travel inside responses, so replicas must agree on them.

use serde::{Deserialize, Serialize};

/// Why an events request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum EventsError {
    /// The request is malformed (bad names, oversized event, bad limits…).
    #[error("{0}")]
    InvalidArgument(String),
    /// A start sequence lies beyond the end of the topic's log.
    #[error("sequence {sequence} is past the end of topic {topic:?} (the next event gets {next})")]
    PastEnd {
        /// The topic.
        topic: String,
        /// The sequence asked for.
        sequence: u64,
        /// The sequence the next appended event gets.
        next: u64,
    },
    /// The consumer group has never consumed the topic.
    #[error("group {group:?} has not consumed topic {topic:?}")]
    GroupNotFound {
        /// The topic.
        topic: String,
        /// The group.
        group: String,
    },
    /// Local storage could not be read while answering a query (never produced by apply).
    #[error("storage failure: {0}")]
    Storage(String),
}
