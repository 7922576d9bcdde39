//! `micro bench`: drives a running cluster through its public gRPC or HTTP interfaces with
//! closed-loop clients (or, for registry heartbeats, at a fixed rate; the engine is
//! `micro-bench`'s, shared with `micro-compare`) and prints per workload
//! the operations, throughput, latency percentiles, errors, and client and server CPU seconds.
//! Like `etcdctl check perf`, it is pointed at any cluster; nothing here asserts a figure.

mod report;
mod workload;

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
    #[command(flatten)]
    pub load: micro_bench::LoadArgs,
    /// Which members the clients talk to
    #[arg(long, value_enum, default_value_t = Target::All)]
    pub target: Target,
    /// Admin addresses (host:port, comma-separated) to read server CPU and memory from
    #[arg(long, value_delimiter = ',')]
    pub admin: Vec<String>,
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
    let load = &args.load;
    if load.clients == 0 || load.key_size == 0 || load.keys == 0 || load.instances == 0 {
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
