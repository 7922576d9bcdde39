//! The `micro` commands, one module per noun: `server`, `env`, `store`, `config`, `cluster`,
//! `auth`, `broker`, `events`, `login` (+ `logout`), `user`, `services`, `snapshot`, `bench`,
//! dynamic commands for any registered service (`dynamic`), and `root` (global flags, parsing
//! and dispatch).

pub mod auth;
mod auth_output;
pub mod bench;
pub mod broker;
pub mod cluster;
pub mod config;
pub mod dynamic;
pub mod env;
pub mod events;
pub mod login;
pub mod root;
pub mod server;
pub mod services;
pub mod snapshot;
pub mod store;
mod store_output;
pub mod user;
