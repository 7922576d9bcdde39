//! One running micro node: raft membership plus the services, behind the HTTP gateway (:8080)
//! and the gRPC proxy (:8081), with graceful shutdown.
//!
//! Layout:
//! - [`config`]: the validated server configuration and its defaults.
//! - [`server`]: binding listeners, starting the cluster member and the edges, shutdown order.
//! - [`error`]: [`ApiError`], its one mapping to gRPC statuses and one to gateway errors.
//! - [`store`]: the store service (gRPC impl, HTTP JSON dispatch).
//! - [`registry`]: the registry service, and the node announcing its own services there.
//! - [`expiry`]: the leader's workers that remove expired records and instances and retired
//!   events through the log.
//! - [`config_service`]: Micro's config service, with secrets encrypted before proposing.
//! - [`auth`]: Micro's auth services, access tokens, and the guard every request passes.
//! - [`events`]: Micro's events service (durable per-topic logs, consumer groups, retention).
//! - [`cluster`]: the cluster admin API (`Cluster.Members`).
//! - [`broker`]: Micro's pub/sub, fanned out to every node over the peer channel (not raft).
//! - [`admin`]: `/health`, `/ready` and `/metrics` on the admin listener.
//! - [`backup`]: backup files of the whole state (`micro snapshot save`), checked on read.
//! - [`restore`]: founding a new cluster from a backup file (`micro server --restore`).
//! - [`autopilot`]: the leader's optional removal of voters that stay unreachable.
//! - `handlers`: the macros that put every service method behind both edges.
//! - `json_grpc`: Micro's JSON-over-gRPC calls on the proxy, answered by the JSON dispatch.
//! - [`api`]: the gateway backend routing `/{service}/{endpoint}` to the services above.
//!
//! Must not depend on `cli` (no clap in the server library).
#![warn(missing_docs)]

pub mod admin;
pub mod api;
pub mod auth;
pub mod autopilot;
pub mod backup;
pub mod batcher;
pub mod broker;
pub mod cluster;
pub mod config;
pub mod config_service;
pub mod error;
pub mod events;
pub mod expiry;
mod handlers;
mod json_grpc;
mod namespace;
pub mod registry;
pub mod restore;
pub mod server;
pub mod store;

pub use config::{Config, SecretArg, ValidConfig};
pub use error::ApiError;
pub use server::{run, Listeners, Node};

/// The version reported by `GET /` and `micro --version`.
pub const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));
