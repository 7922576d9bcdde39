//! `jepsen test`: start a cluster, run a workload under faults, heal, read the final state from
//! every node, check the history and report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::checker::{self, CheckerConfig, LeaseConfig, TokenConfig};
use crate::db::Db;
use crate::disks::Disks;
use crate::history::History;
use crate::nemesis::{run_schedule, NemesisKind};
use crate::net::TestNet;
use crate::report;
use crate::skew::Skew;
use crate::workload::{self, AuthPool, Clock, RegisterConfig};

/// How far past its lease a silent instance may still be listed (the leader's expiry worker
/// and the removal's commit), and how far apart node clocks may be, for the lease checker.
/// One second covers what NTP keeps clocks within; the clock nemesis goes far beyond it on
/// purpose.
const LEASE_SLACK: Duration = Duration::from_millis(1500);

/// How far node clocks may be apart for the token checker: the clock nemesis moves a clock up
/// to a minute either way, and a token's expiry is judged by the verifying node's clock
/// against the issuing node's.
const TOKEN_CLOCK_SLACK: Duration = Duration::from_secs(120);

/// What the token checker is told: tokens must be accepted for their lifetime, less the slack.
pub fn token_config() -> TokenConfig {
    let valid = workload::TOKEN_LIFETIME.saturating_sub(TOKEN_CLOCK_SLACK);
    TokenConfig {
        valid_for_ns: u64::try_from(valid.as_nanos()).unwrap_or(u64::MAX),
    }
}

/// Which workload to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Per-key linearizability of reads, writes and compare-and-set.
    Register,
    /// Every acknowledged write present once on every node.
    Set,
    /// Every acknowledged event in the log once on every node, in one order everywhere.
    Append,
    /// Registry leases: no renewing instance missing, no silent one staying.
    Registry,
    /// Per-path linearizability of config reads, writes and deletes, half of them secrets.
    Config,
    /// Accounts exist from generate to delete on every node; issued tokens are accepted.
    Auth,
}

impl std::str::FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "register" => Ok(Workload::Register),
            "set" => Ok(Workload::Set),
            "append" => Ok(Workload::Append),
            "registry" => Ok(Workload::Registry),
            "config" => Ok(Workload::Config),
            "auth" => Ok(Workload::Auth),
            other => Err(format!(
                "unknown workload {other:?}: expected register, set, append, registry, config \
                 or auth"
            )),
        }
    }
}

/// Everything `jepsen test` was asked to do.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// Cluster size.
    pub nodes: usize,
    /// How long clients run.
    pub time: Duration,
    /// The workload.
    pub workload: Workload,
    /// Enabled fault families.
    pub nemesis: Vec<NemesisKind>,
    /// Concurrent clients (spread over all nodes).
    pub concurrency: usize,
    /// Keys of the register workload (paths of the config workload).
    pub keys: usize,
    /// Random seed of the schedule and the clients.
    pub seed: u64,
    /// Passed to every node, small so snapshots install under faults.
    pub snapshot_threshold: u64,
    /// Where data dirs, logs and the history go.
    pub dir: PathBuf,
    /// Run without the nemeses this machine cannot provide instead of failing.
    pub skip_unavailable: bool,
}

/// What nemesis `kind` needs, made by `make` when the nemesis is on: `Err(why)` when this
/// machine cannot provide it, which fails the run unless `--skip-unavailable` drops the nemesis.
fn provide<T>(
    opts: &mut TestOptions,
    kind: NemesisKind,
    make: impl FnOnce() -> Result<anyhow::Result<T>, String>,
) -> anyhow::Result<Option<T>> {
    if !opts.nemesis.contains(&kind) {
        return Ok(None);
    }
    match make() {
        Ok(made) => made.map(Some),
        Err(why) if opts.skip_unavailable => {
            println!("nemesis {kind:?} unavailable ({why}); skipped as asked");
            opts.nemesis.retain(|k| *k != kind);
            Ok(None)
        }
        Err(why) => {
            bail!("nemesis {kind:?} unavailable: {why} (use --skip-unavailable to run without it)")
        }
    }
}

/// Runs one test; `Ok(true)` when every check passed.
pub async fn run_test(mut opts: TestOptions) -> anyhow::Result<bool> {
    if opts.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    let (nodes, dir) = (opts.nodes, opts.dir.clone());
    let net = provide(&mut opts, NemesisKind::Partition, || {
        TestNet::available()?;
        Ok(TestNet::create(nodes).context("creating the test network"))
    })?;
    std::fs::create_dir_all(&dir)?;
    let skew = provide(&mut opts, NemesisKind::Clock, || {
        let library = Skew::available()?;
        Ok(Skew::create(library, &dir, nodes))
    })?;
    let disks = provide(&mut opts, NemesisKind::Full, || {
        Disks::available()?;
        Ok(Disks::create(&dir, nodes))
    })?;
    println!(
        "jepsen: {} nodes, {:?}, workload {:?}, nemesis {:?}, seed {}, dir {}",
        opts.nodes,
        opts.time,
        opts.workload,
        opts.nemesis,
        opts.seed,
        opts.dir.display()
    );
    let extra = vec![
        "--snapshot-threshold".to_owned(),
        opts.snapshot_threshold.to_string(),
    ];
    let mut db = Db::start(opts.nodes, &opts.dir, net, skew, disks, &extra).await?;
    workload::use_credentials(db.admin.clone());
    let proxies: Vec<String> = (0..opts.nodes).map(|i| db.proxy(i)).collect();

    let clock = Clock::start();
    let until = Instant::now() + opts.time;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let register = RegisterConfig {
        keys: (0..opts.keys).map(|k| format!("r{k}")).collect(),
    };
    let config_keys = workload::config_keys(opts.keys);
    let pool = Arc::new(AuthPool::default());
    let mut history_tasks = Vec::new();
    let mut set_tasks = Vec::new();
    let mut lease_tasks = Vec::new();
    for c in 0..opts.concurrency {
        let proxy = proxies[c % proxies.len()].clone();
        let rng = StdRng::seed_from_u64(opts.seed.wrapping_add(c as u64 + 1));
        match opts.workload {
            Workload::Config => history_tasks.push(tokio::spawn(workload::config_client(
                c as u64,
                c % proxies.len(),
                proxy,
                config_keys.clone(),
                clock,
                until,
                rng,
            ))),
            Workload::Auth => history_tasks.push(tokio::spawn(workload::auth_client(
                c as u64,
                c % proxies.len(),
                proxies.clone(),
                pool.clone(),
                clock,
                until,
                rng,
            ))),
            Workload::Register => {
                history_tasks.push(tokio::spawn(workload::register_client(
                    c as u64,
                    proxy,
                    register.clone(),
                    clock,
                    until,
                    rng,
                )));
            }
            Workload::Set => {
                set_tasks.push(tokio::spawn(workload::set_client(c as u64, proxy, until)))
            }
            Workload::Append => set_tasks.push(tokio::spawn(workload::append_client(
                c as u64, proxy, until,
            ))),
            Workload::Registry => {
                lease_tasks.push(tokio::spawn(workload::lease_client(
                    c as u64,
                    c % proxies.len(),
                    proxy,
                    clock,
                    until,
                    rng,
                )));
            }
        }
    }
    let timeline = run_schedule(&mut db, &opts.nemesis, clock.started(), until, &mut rng).await;

    let mut history = History::default();
    let mut adds = BTreeMap::new();
    for t in history_tasks {
        for op in t.await? {
            history.push(op);
        }
    }
    for t in set_tasks {
        adds.extend(t.await?);
    }
    let mut leases = workload::LeaseRecord::default();
    for t in lease_tasks {
        let r = t.await?;
        leases.renewals.extend(r.renewals);
        leases.listings.extend(r.listings);
        leases.silent.extend(r.silent);
    }

    // Heal whatever is left, then let the cluster recover before the final reads.
    if let Some(net) = &db.net {
        net.heal()?;
    }
    for i in 0..db.nodes.len() {
        if !db.nodes[i].is_running() {
            db.restart(i).await?;
        } else {
            db.nodes[i].resume()?;
        }
    }
    db.await_leader(Duration::from_secs(60)).await?;

    let valid = match opts.workload {
        Workload::Register => {
            for op in workload::final_reads(&proxies, &register, &clock, 1_000_000).await {
                history.push(op);
            }
            let path = opts.dir.join("history.jsonl");
            history.write_jsonl(&path)?;
            let verdict = checker::check(&history, &CheckerConfig::default())?;
            report::print_register(&history, &timeline, &verdict, &path);
            verdict.is_linearizable()
        }
        Workload::Set => {
            let listings = workload::final_listings(&proxies).await?;
            let verdict = checker::check_set(&adds, &listings);
            report::print_set(&verdict, None, &timeline);
            verdict.is_valid()
        }
        Workload::Append => {
            let logs = workload::final_logs(&proxies).await?;
            let verdict = checker::check_set(&adds, &logs);
            let order = checker::check_same_order(&logs);
            report::print_set(&verdict, Some(&order), &timeline);
            verdict.is_valid() && order.is_empty()
        }
        Workload::Registry => {
            let config = LeaseConfig {
                ttl_ns: workload::LEASE_TTL.as_nanos() as u64,
                slack_ns: LEASE_SLACK.as_nanos() as u64,
            };
            let verdict =
                checker::check_leases(&leases.renewals, &leases.listings, &leases.silent, config);
            report::print_leases(&verdict, &leases.listings, &timeline);
            verdict.is_valid()
        }
        Workload::Config => {
            let finals = workload::final_config_reads(&proxies, &config_keys, &clock, 1_000_000);
            history.ops.extend(finals.await);
            let path = opts.dir.join("history.jsonl");
            history.write_jsonl(&path)?;
            let verdict = checker::check(&history, &CheckerConfig::default())?;
            report::print_register(&history, &timeline, &verdict, &path);
            verdict.is_linearizable()
        }
        Workload::Auth => {
            let finals = workload::final_auth_ops(&proxies, &pool, &clock, 1_000_000, opts.seed);
            history.ops.extend(finals.await);
            let path = opts.dir.join("history.jsonl");
            history.write_jsonl(&path)?;
            let accounts = checker::check(&history, &CheckerConfig::default())?;
            let tokens = checker::check_tokens(&history, token_config())?;
            report::print_auth(&history, &timeline, &accounts, &tokens, &path);
            accounts.is_linearizable() && tokens.is_valid()
        }
    };
    Ok(valid)
}
