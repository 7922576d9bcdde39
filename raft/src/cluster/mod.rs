//! One running raft member: how it starts (bootstrap, join, restart), how client writes reach
//! the leader, how reads become linearizable on any node, what it answers to peers, and the
//! application messages services exchange between members, and how leadership moves.

mod app;
mod data_dir;
mod error;
mod handler;
mod join;
mod member;
mod membership;
mod rounds;
mod start;
mod transfer;

pub(crate) use app::AppChannels;
pub use app::{AppError, AppHandler};
pub use error::ClusterError;
pub(crate) use handler::REMOVED_PREFIX;
pub use member::{now_ms, AppliedWatch, Cluster, ClusterView, MemberView};
pub use start::{ClusterOptions, StartMode};

pub use crate::frame::MemberStatus;
