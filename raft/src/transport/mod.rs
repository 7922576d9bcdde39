//! QUIC transport between members: one endpoint per node serving peers and dialing them.
//!
//! Connections are cached per peer address and request streams are pooled per connection, so
//! steady traffic opens neither. The raft network (`network`) is a thin layer over the client.

mod client;
mod endpoint;
mod network;
mod server;

pub use client::{PeerClient, TransportError};
pub use endpoint::{make_endpoint, transport_config};
pub use network::NetworkFactory;
pub use server::{serve, PeerHandler};
