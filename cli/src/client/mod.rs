//! Talking to a micro server: address lists, failover dialling, and RPC error classification.
//!
//! Commands build requests with [`Client::request`] and run them through [`Client::call`].

mod address;
mod connection;
mod json_codec;
mod rpc_error;

pub use address::AddressList;
pub use connection::Client;
pub use json_codec::{JsonCodec, CONTENT_TYPE_HEADER, JSON};
pub use rpc_error::RpcError;
