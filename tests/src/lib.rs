//! The end-to-end harness: real `micro` processes on 127.0.0.1 with free ports and temp data
//! dirs, plus clients for their HTTP gateway, gRPC proxy and the `micro` CLI.
//!
//! Layout:
//! - [`auth`]: logging in (admin token) and sending the token over gRPC.
//! - [`binary`]: where the `micro` binary under test is.
//! - [`ports`]: free loopback ports.
//! - [`process`]: [`ServerProcess`], one `micro server` (start, kill -9, restart, stop).
//! - [`cluster`]: [`TestCluster`], N processes joined into one cluster.
//! - [`cli`]: [`Cli`], running `micro` client commands against a node.
//! - [`disk`]: a tmpfs that fills up, for full-disk tests and nemeses.
//!
//! Must not depend on `cli` (binary-driven tests run the built binary instead).

pub mod auth;
pub mod binary;
pub mod cli;
pub mod cluster;
pub mod disk;
pub mod ports;
pub mod process;

pub use auth::{Authed, Bearer};
pub use cli::{Cli, CliOutput};
pub use cluster::TestCluster;
pub use process::{NodeAddrs, ServerProcess};
