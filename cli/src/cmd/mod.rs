//! The `micro` commands, one module per noun: `server`, `env`, `store`, `config`, `cluster`,
//! `auth`, `login` (+ `logout`), `user`, `events`, and `root` (global flags, parsing and
//! dispatch).

pub mod auth;
mod auth_output;
pub mod cluster;
pub mod config;
pub mod env;
pub mod events;
pub mod login;
pub mod root;
pub mod server;
pub mod store;
mod store_output;
pub mod user;
