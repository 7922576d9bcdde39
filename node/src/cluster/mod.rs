//! The cluster admin API (`cluster.Cluster`): membership as seen from any node.

mod service;

pub use service::ClusterService;
