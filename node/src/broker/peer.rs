//! What brokers on different members tell each other, on the cluster's `broker` application
//! channel: interest announcements (in full, or a heartbeat naming the version) and messages
//! to deliver. Encoded with bincode, like the peer frames that carry them.

use bincode::Options;
use micro_raft::NodeId;
use serde::{Deserialize, Serialize};

use super::interest::{Interest, Version};
use super::message::{Message, Topic, MAX_BODY_BYTES, MAX_HEADER_BYTES};

/// The application channel the broker registers on the cluster.
pub const CHANNEL: &str = "broker";

/// Largest encoded broker message accepted from a peer. Interest announcements are the largest
/// (every topic a node's subscribers listen to); a delivery is far smaller.
const MAX_ENCODED: u64 = 64 * 1024 * 1024;

/// A message from one broker to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerMessage {
    /// The sender's interest, in full.
    Interest {
        /// The sender.
        from: NodeId,
        /// Its peer address (where deliveries go).
        address: String,
        /// The version of `interest`.
        version: Version,
        /// What its subscribers listen to.
        interest: Interest,
    },
    /// The sender's interest is unchanged since `version`.
    Heartbeat {
        /// The sender.
        from: NodeId,
        /// The version it still has.
        version: Version,
    },
    /// Deliver `message` to the receiver's subscribers of `topic`.
    Deliver {
        /// The topic.
        topic: Topic,
        /// The message.
        message: Message,
        /// To every plain subscriber.
        plain: bool,
        /// To one member of each of these queue groups.
        groups: Vec<String>,
    },
}

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerReply {
    /// Done.
    Ok,
    /// A heartbeat named a version the receiver does not hold: announce in full.
    Unknown,
}

fn options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_limit(MAX_ENCODED)
}

/// Encodes a broker message or reply.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    options().serialize(value).map_err(|e| e.to_string())
}

/// Decodes a broker message or reply.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    options()
        .deserialize(bytes)
        .map_err(|e| format!("malformed broker message: {e}"))
}

impl PeerMessage {
    /// Refuses a delivery larger than any publisher may send (a peer is authenticated, but a
    /// bug there must not grow memory here).
    pub fn check(&self) -> Result<(), String> {
        match self {
            PeerMessage::Deliver { message, .. }
                if message.body.len() > MAX_BODY_BYTES
                    || message.header_bytes() > MAX_HEADER_BYTES =>
            {
                Err("delivered message exceeds the broker's limits".into())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::interest::TopicInterest;

    #[test]
    fn messages_round_trip_and_garbage_is_refused() {
        let topic = Topic {
            namespace: "micro".into(),
            name: "t".into(),
        };
        let version = Version {
            started_ms: 1,
            seq: 2,
        };
        let all = [
            PeerMessage::Interest {
                from: 7,
                address: "127.0.0.1:1".into(),
                version,
                interest: [(
                    topic.clone(),
                    TopicInterest {
                        plain: true,
                        groups: [("q".to_string(), 2)].into(),
                    },
                )]
                .into(),
            },
            PeerMessage::Heartbeat { from: 7, version },
            PeerMessage::Deliver {
                topic,
                message: Message {
                    header: [("a".to_string(), "b".to_string())].into(),
                    body: b"hi".to_vec(),
                },
                plain: false,
                groups: vec!["q".into()],
            },
        ];
        for m in all {
            let bytes = encode(&m).unwrap();
            assert_eq!(decode::<PeerMessage>(&bytes).unwrap(), m);
        }
        assert!(decode::<PeerMessage>(&[9, 9, 9]).is_err());
        // A length prefix claiming more than the limit is refused without allocating it.
        let mut huge = Vec::new();
        huge.extend_from_slice(&2u32.to_le_bytes());
        huge.extend_from_slice(&[0; 8]);
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode::<PeerMessage>(&huge).is_err());
    }
}
