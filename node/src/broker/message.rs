//! What the broker moves: a [`Message`] (headers and an opaque body) on a [`Topic`] of one
//! namespace, and the limits every published message and subscription is held to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Largest message body accepted (bytes).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest total size of a message's header names and values (bytes).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Longest topic (bytes).
pub const MAX_TOPIC_BYTES: usize = 1024;
/// Longest queue group name (bytes).
pub const MAX_QUEUE_BYTES: usize = 256;

/// A topic in one namespace. Micro prefixes topics with the publisher's issuer
/// (`<issuer>.<topic>`); keeping the two apart means `a` + `b.c` and `a.b` + `c` cannot meet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Topic {
    /// The namespace (the account's issuer).
    pub namespace: String,
    /// The topic as the client named it.
    pub name: String,
}

/// One published message, shared by every subscriber it reaches.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Message {
    /// Headers: the publisher's, plus its request metadata.
    pub header: BTreeMap<String, String>,
    /// The payload, never interpreted (encoded as one byte string between nodes).
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

/// Why a topic, queue or message is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// The topic is empty.
    #[error("Missing topic")]
    MissingTopic,
    /// The request has no message.
    #[error("Missing message")]
    MissingMessage,
    /// A name is longer than allowed.
    #[error("{what} of {len} bytes exceeds the limit of {limit} bytes")]
    TooLong {
        /// What was too long.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
}

/// Checks a topic name.
pub fn check_topic(topic: &str) -> Result<(), Invalid> {
    if topic.is_empty() {
        return Err(Invalid::MissingTopic);
    }
    within("topic", topic.len(), MAX_TOPIC_BYTES)
}

/// Checks a queue group name (empty: no group).
pub fn check_queue(queue: &str) -> Result<(), Invalid> {
    within("queue", queue.len(), MAX_QUEUE_BYTES)
}

impl Message {
    /// Checks the body and header sizes.
    pub fn check(&self) -> Result<(), Invalid> {
        within("message body", self.body.len(), MAX_BODY_BYTES)?;
        within("message header", self.header_bytes(), MAX_HEADER_BYTES)
    }

    /// Total bytes of header names and values.
    pub fn header_bytes(&self) -> usize {
        self.header.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

fn within(what: &'static str, len: usize, limit: usize) -> Result<(), Invalid> {
    if len > limit {
        return Err(Invalid::TooLong { what, len, limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(check_topic(""), Err(Invalid::MissingTopic));
        assert!(check_topic("events.created").is_ok());
        assert!(check_topic(&"t".repeat(MAX_TOPIC_BYTES + 1)).is_err());
        assert!(check_queue("").is_ok());
        assert!(check_queue(&"q".repeat(MAX_QUEUE_BYTES + 1)).is_err());
        let mut m = Message {
            body: vec![0; MAX_BODY_BYTES],
            ..Default::default()
        };
        assert!(m.check().is_ok());
        m.body.push(0);
        assert_eq!(
            m.check().unwrap_err().to_string(),
            "message body of 1048577 bytes exceeds the limit of 1048576 bytes"
        );
        m.body.clear();
        m.header.insert("k".into(), "v".repeat(MAX_HEADER_BYTES));
        assert!(m.check().is_err());
    }
}
