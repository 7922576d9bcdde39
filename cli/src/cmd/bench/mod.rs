//! `micro bench`: drives a running cluster through its public gRPC or HTTP interfaces with
//! closed-loop clients (or, for registry heartbeats, at a fixed rate; the engine is
//! `micro-bench`'s, shared with `micro-compare`) and prints per workload
//! the operations, throughput, latency percentiles, errors, and client and server CPU seconds.
//! Like `etcdctl check perf`, it is pointed at any cluster; nothing here asserts a figure.

mod report;
mod workload;

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use micro_proto::cluster::cluster_client::ClusterClient;
use micro_proto::cluster::MembersRequest;

use super::root::Globals;
use crate::output;

/// `micro bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// What to measure
    #[arg(value_enum, default_value_t = Workload::Put)]
    pub workload: Workload,
    /// Concurrent closed-loop clients (heartbeat: most renewals in flight)
    #[arg(long, default_value_t = 1)]
    pub clients: usize,
    /// How long to run
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Stop after this many operations instead (whichever comes first)
    #[arg(long)]
    pub ops: Option<u64>,
    /// Key size in bytes
    #[arg(long, default_value_t = 8)]
    pub key_size: usize,
    /// Value size in bytes
    #[arg(long, default_value_t = 256)]
    pub value_size: usize,
    /// Distinct keys written or read
    #[arg(long, default_value_t = 1000)]
    pub keys: usize,
    /// Which members the clients talk to
    #[arg(long, value_enum, default_value_t = Target::All)]
    pub target: Target,
    /// Reads skip the read barrier (serve the local replica)
    #[arg(long)]
    pub stale: bool,
    /// Use the HTTP gateway instead of gRPC
    #[arg(long)]
    pub http: bool,
    /// Registry instances renewing (heartbeat)
    #[arg(long, default_value_t = 10_000)]
    pub instances: usize,
    /// Renewal period of each instance (heartbeat)
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Admin addresses (host:port, comma-separated) to read server CPU and memory from
    #[arg(long, value_delimiter = ',')]
    pub admin: Vec<String>,
    /// Process ids of the servers on this machine to read CPU and memory from instead
    #[arg(long, value_delimiter = ',')]
    pub pids: Vec<u32>,
    /// Output format
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

/// A benchmark workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Store writes of random keys
    Put,
    /// Store reads of existing keys (linearizable unless --stale)
    Get,
    /// Durable event publishes to one topic (events.Stream/Publish, --value-size payloads)
    Publish,
    /// Registry renewals of --instances instances every --interval
    Heartbeat,
}

/// Which members clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// Spread over every member.
    All,
    /// Only the leader.
    Leader,
    /// Only one follower.
    Follower,
}

/// Output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// An aligned table.
    #[default]
    Table,
    /// JSON.
    Json,
}

/// The members the clients use, as (proxy address, api address).
async fn targets(globals: &Globals, target: Target) -> Result<Vec<(String, String)>> {
    let client = globals.client().await?;
    let members = client
        .call(|ch| {
            let req = client.request(MembersRequest {});
            async move { Ok(ClusterClient::new(ch).members(req).await?.into_inner()) }
        })
        .await?;
    let pick: Vec<_> = members
        .members
        .iter()
        .filter(|m| match target {
            Target::All => true,
            Target::Leader => m.id == members.leader,
            Target::Follower => m.id != members.leader && m.voter,
        })
        .map(|m| (m.proxy_address.clone(), m.api_address.clone()))
        .collect();
    match (target, pick.len()) {
        (_, 0) => bail!("the cluster has no member to use as {target:?}"),
        (Target::Follower, _) => Ok(pick.into_iter().take(1).collect()),
        _ => Ok(pick),
    }
}

/// Runs `micro bench`.
pub async fn run(args: BenchArgs, globals: &Globals) -> Result<()> {
    if args.clients == 0 || args.key_size == 0 || args.keys == 0 || args.instances == 0 {
        bail!("--clients, --key-size, --keys and --instances must be at least 1");
    }
    let targets = targets(globals, args.target).await?;
    let session = globals.session()?;
    let client = session.client().await?;
    let report = workload::run(&args, &client, &targets)
        .await
        .context("running the benchmark")?;
    output::print(match args.output {
        Output::Json => serde_json::to_string_pretty(&report)? + "\n",
        Output::Table => report::table(std::slice::from_ref(&report)),
    });
    Ok(())
}
