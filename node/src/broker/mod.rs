//! Micro's broker: fire-and-forget publish/subscribe across the cluster, never through raft
//! (nothing is persisted or replicated). Subscribers connect to any node; a message published
//! on any node reaches them over the peer channel, at most once, with queue groups for
//! competing consumers and topics isolated per namespace (the account's issuer).

mod fanout;
mod hub;
mod interest;
mod message;
mod peer;
mod service;

#[cfg(test)]
mod delivery_test;

pub use fanout::{Fanout, Published, ANNOUNCE_WAIT, LIMITS, REFRESH, STALE};
pub use hub::{Delivery, HubFull, Limits, Subscription};
pub use message::{Message, Topic, MAX_BODY_BYTES, MAX_HEADER_BYTES};
pub use service::BrokerService;
