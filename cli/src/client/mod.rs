//! Talking to a micro server: address lists, failover dialling, and RPC error classification.
//!
//! Commands build requests with [`Client::request`] and run them through [`Client::call`].

mod address;
mod connection;
mod rpc_error;

pub use address::AddressList;
pub use connection::Client;
pub use rpc_error::RpcError;
