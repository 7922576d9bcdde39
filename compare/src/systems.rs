//! The three clusters the comparison starts, and how one workload runs against each: micro
//! through `micro bench` (the tool users point at their clusters), etcd and NATS through
//! `micro-compare drive`, each in its own client process.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use micro_bench::Report;
use micro_tests::{Cli, TestCluster};

use crate::etcd::EtcdCluster;
use crate::nats::NatsCluster;

/// Which members a workload's clients talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Every member.
    All,
    /// The leader only.
    Leader,
    /// One follower only.
    Follower,
}

impl Target {
    fn flag(self) -> &'static str {
        match self {
            Target::All => "all",
            Target::Leader => "leader",
            Target::Follower => "follower",
        }
    }
}

/// One workload as both sides run it: the arguments they share (`--clients`, sizes, …) and
/// the workload names on each side.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The row's name in the table.
    pub name: String,
    /// `micro bench` workload (`put`, `get`, `publish`, `heartbeat`).
    pub micro: &'static str,
    /// The other side and its `drive` workload, when it has a twin.
    pub other: Option<(Other, &'static str)>,
    /// Members used.
    pub target: Target,
    /// Flags both tools take alike.
    pub args: Vec<String>,
}

/// The system measured beside micro.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Other {
    /// etcd 3.4.
    Etcd,
    /// NATS JetStream 2.9.
    Nats,
}

/// The micro cluster and a logged-in CLI user.
pub struct Micro {
    /// The three `micro server` processes.
    pub cluster: TestCluster,
    cli: Cli,
}

impl Micro {
    /// Starts three nodes (data under `TMPDIR`) and logs a CLI user in as the admin.
    pub async fn start() -> Result<Micro> {
        let cluster = TestCluster::start(3, &[]).await?;
        let proxies: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| n.addrs.proxy.clone())
            .collect();
        let cli = Cli::new()?;
        cli.use_env_as_admin("compare", &proxies.join(","))?;
        Ok(Micro { cluster, cli })
    }

    /// Process ids of the running nodes.
    pub fn pids(&self) -> Vec<u32> {
        self.cluster.nodes.iter().filter_map(|n| n.pid()).collect()
    }

    /// Runs `w` through `micro bench`.
    pub async fn run(&self, w: &Workload) -> Result<Report> {
        let pids = join(&self.pids());
        let mut args: Vec<String> = vec!["bench".into(), w.micro.into()];
        args.extend(w.args.iter().cloned());
        args.extend(["--target".into(), w.target.flag().into()]);
        args.extend(["--pids".into(), pids, "-o".into(), "json".into()]);
        let out = {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            tokio::task::block_in_place(|| self.cli.run(&args))
        };
        if out.code != 0 {
            bail!("micro {}: {}", args.join(" "), out.combined());
        }
        serde_json::from_str(&out.stdout).with_context(|| format!("parsing {}", out.stdout))
    }
}

/// etcd and NATS, started on demand.
pub struct Others {
    /// The etcd cluster.
    pub etcd: EtcdCluster,
    /// The JetStream cluster, unless skipped.
    pub nats: Option<NatsCluster>,
}

impl Others {
    /// Runs `w` against its twin through `micro-compare drive`.
    pub async fn run(&self, w: &Workload) -> Result<Option<Report>> {
        let Some((other, workload)) = w.other else {
            return Ok(None);
        };
        let (system, endpoints, pids) = match other {
            Other::Etcd => {
                let all = self.etcd.endpoints();
                let endpoints = match w.target {
                    Target::All => all,
                    Target::Leader => vec![all[self.etcd.leader().await?].clone()],
                    Target::Follower => {
                        let l = self.etcd.leader().await?;
                        vec![all[(l + 1) % all.len()].clone()]
                    }
                };
                ("etcd", endpoints, self.etcd.pids())
            }
            Other::Nats => match &self.nats {
                Some(n) => ("nats", n.endpoints(), n.pids()),
                None => return Ok(None),
            },
        };
        let mut args: Vec<String> = vec!["drive".into(), system.into(), workload.into()];
        args.extend(w.args.iter().cloned());
        args.extend(["--endpoints".into(), endpoints.join(",")]);
        args.extend(["--pids".into(), join(&pids)]);
        let exe = std::env::current_exe()?;
        let out = tokio::task::block_in_place(|| Command::new(exe).args(&args).output())?;
        if !out.status.success() {
            bail!(
                "micro-compare {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(Some(serde_json::from_slice(&out.stdout).with_context(
            || format!("parsing {}", String::from_utf8_lossy(&out.stdout)),
        )?))
    }
}

fn join(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Starts etcd (and NATS unless `nats` is false) with data under `dir`.
pub async fn start_others(dir: &Path, nats: bool) -> Result<Others> {
    let etcd = with_retries("etcd", |a| {
        let d = dir.join(format!("try{a}"));
        async move { EtcdCluster::start(3, &d).await }
    })
    .await?;
    let nats = if nats {
        Some(
            with_retries("nats", |a| {
                let d = dir.join(format!("try{a}"));
                async move { NatsCluster::start(3, &d).await }
            })
            .await?,
        )
    } else {
        None
    };
    Ok(Others { etcd, nats })
}

/// Starts a cluster, again on fresh ports when a start fails: a port found free can be
/// taken by another process before the server binds it.
pub async fn with_retries<T, F, Fut>(what: &str, start: F) -> Result<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut last = None;
    for attempt in 0..3 {
        match start(attempt).await {
            Ok(t) => {
                eprintln!("{what} cluster up");
                return Ok(t);
            }
            Err(e) => {
                eprintln!(
                    "starting the {what} cluster failed (attempt {}): {e:#}",
                    attempt + 1
                );
                last = Some(e);
            }
        }
    }
    Err(last.expect("three attempts were made"))
}

/// The resident memory of each process, MiB.
pub fn rss(pids: &[u32]) -> Vec<f64> {
    pids.iter()
        .map(|&p| micro_bench::process::rss_mib(p).unwrap_or(0.0))
        .collect()
}

/// Sleeps a moment between runs so one run's tail does not load the next.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}
