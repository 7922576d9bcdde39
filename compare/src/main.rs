//! `micro-compare`: starts a three-node micro cluster, a three-member etcd cluster and a
//! three-server NATS JetStream cluster on this machine and runs the benchmark workloads of
//! issue 8 against them side by side, interleaved and repeated, then prints the table
//! (Markdown) with medians, ranges, ratios and operations per CPU second.
//!
//! Layout:
//! - `suite`: the workloads as rows, medians.
//! - `systems`: the clusters and how a row runs on each (micro through `micro bench`, the
//!   others through `micro-compare drive`, each a client process of its own).
//! - `drive`: one measured run against etcd or NATS.
//! - `etcd`, `nats`: their clusters and clients; `failover`: kill -9 trials; `table`: output.
//!
//! Depends on `micro-bench` (the engine `micro bench` uses too), `micro-proto` and
//! `micro-tests` (the harness that starts `micro` processes); nothing depends on it.

mod drive;
mod etcd;
mod failover;
mod nats;
mod suite;
mod systems;
mod table;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use suite::{Budget, Runs};
use systems::{Micro, Other};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "micro side by side with etcd and NATS JetStream on this machine",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Without a subcommand: `run`'s flags.
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start the clusters, run every workload and print the table (the default)
    Run(RunArgs),
    /// One measured run against etcd or NATS (what `run` starts for each of their rows)
    Drive(drive::DriveArgs),
}

#[derive(Debug, Clone, Args)]
struct RunArgs {
    /// Rounds of every workload (each round runs micro and its twin back to back)
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Length of each measured run
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Leader kill -9 trials per side
    #[arg(long, default_value_t = 5)]
    failovers: usize,
    /// A few hundred operations per workload, one round, one failover each: keeps it working
    #[arg(long)]
    smoke: bool,
    /// Only rows whose name contains this
    #[arg(long)]
    only: Option<String>,
    /// Skip NATS (and the publish rows' twin)
    #[arg(long)]
    no_nats: bool,
    /// Where the clusters keep their data (must be a disk, not tmpfs)
    #[arg(long, default_value = "/var/tmp")]
    data_dir: PathBuf,
    /// Also write every run's report here as JSON
    #[arg(long)]
    json: Option<PathBuf>,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Cmd::Drive(args)) => {
            let report = drive::run(args).await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        command => {
            let args = match command {
                Some(Cmd::Run(a)) => a,
                _ => cli.run,
            };
            tokio::select! {
                r = run(args) => r,
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("interrupted: stopping the clusters");
                    Ok(())
                }
            }
        }
    }
}

fn version(cmd: &str, flag: &str) -> String {
    std::process::Command::new(cmd)
        .arg(flag)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| format!("{cmd}: not found"))
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Elementwise maximum of the servers' memory at the end of `reports`.
fn loaded(reports: &[&micro_bench::Report]) -> Vec<f64> {
    let mut max: Vec<f64> = Vec::new();
    for r in reports {
        for (i, m) in r.server_rss_mib.iter().enumerate() {
            if max.len() <= i {
                max.push(*m);
            } else {
                max[i] = max[i].max(*m);
            }
        }
    }
    max
}

async fn run(args: RunArgs) -> Result<()> {
    let (rounds, failovers) = if args.smoke {
        (1, 1)
    } else {
        (args.rounds.max(1), args.failovers)
    };
    let budget = Budget {
        duration: args.duration,
        ops: args.smoke.then_some(300),
    };
    std::fs::create_dir_all(&args.data_dir)?;
    let dir = tempfile::Builder::new()
        .prefix("micro-compare-")
        .tempdir_in(&args.data_dir)
        .with_context(|| format!("making a data dir in {}", args.data_dir.display()))?;
    // The micro harness makes its node dirs under TMPDIR; its logs at warn keep them quiet.
    std::env::set_var("TMPDIR", dir.path());
    if std::env::var_os("MICRO_TEST_LOG").is_none() {
        std::env::set_var("MICRO_TEST_LOG", "warn");
    }
    let load_before = load();
    eprintln!(
        "starting micro, etcd and NATS clusters under {}",
        dir.path().display()
    );
    let mut micro = systems::with_retries("micro", |_| Micro::start()).await?;
    let mut others = systems::start_others(dir.path(), !args.no_nats).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = (
        systems::rss(&micro.pids()),
        systems::rss(&others.etcd.pids()),
        others
            .nats
            .as_ref()
            .map(|n| systems::rss(&n.pids()))
            .unwrap_or_default(),
    );

    let workloads: Vec<_> = suite::workloads(&budget, args.smoke)
        .into_iter()
        .filter(|w| {
            args.only
                .as_ref()
                .is_none_or(|o| w.name.contains(o.as_str()))
        })
        .collect();
    let mut rows: Vec<Runs> = workloads
        .iter()
        .map(|w| Runs {
            name: w.name.clone(),
            other_name: match w.other {
                Some((Other::Etcd, _)) => "etcd".into(),
                Some((Other::Nats, _)) if others.nats.is_some() => "nats".into(),
                _ => String::new(),
            },
            ..Default::default()
        })
        .collect();
    let mut failed = Vec::new();
    for round in 0..rounds {
        for (w, runs) in workloads.iter().zip(rows.iter_mut()) {
            // micro first in even rounds, the twin first in odd ones.
            for side in [round % 2, 1 - round % 2] {
                let outcome = if side == 0 {
                    micro.run(w).await.map(Some)
                } else {
                    others.run(w).await
                };
                match outcome {
                    Ok(Some(r)) => {
                        eprintln!(
                            "round {} {:<48} {:<5} {:>8.0} ops/s p99 {:>7.2} ms errors {}",
                            round + 1,
                            w.name,
                            if side == 0 { "micro" } else { &runs.other_name },
                            r.ops_per_sec,
                            r.latency_ms[2],
                            r.errors
                        );
                        if side == 0 {
                            &mut runs.micro
                        } else {
                            &mut runs.other
                        }
                        .push(r);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        eprintln!("round {} {}: {e:#}", round + 1, w.name);
                        failed.push(format!("{}: {e:#}", w.name));
                    }
                }
                systems::settle().await;
            }
        }
    }
    let rss_loaded = (
        loaded(&rows.iter().flat_map(|r| &r.micro).collect::<Vec<_>>()),
        loaded(
            &rows
                .iter()
                .filter(|r| r.other_name == "etcd")
                .flat_map(|r| &r.other)
                .collect::<Vec<_>>(),
        ),
        loaded(
            &rows
                .iter()
                .filter(|r| r.other_name == "nats")
                .flat_map(|r| &r.other)
                .collect::<Vec<_>>(),
        ),
    );

    let (mut micro_fo, mut etcd_fo, mut fo_failed) = (Vec::new(), Vec::new(), (0, 0));
    let run_failover = args
        .only
        .as_ref()
        .is_none_or(|o| "6 leader failover".contains(o.as_str()));
    for trial in 0..if run_failover { failovers } else { 0 } {
        match failover::micro(&mut micro).await {
            Ok(d) => micro_fo.push(d),
            Err(e) => {
                eprintln!("micro failover trial {}: {e:#}", trial + 1);
                fo_failed.0 += 1;
            }
        }
        match failover::etcd(&mut others.etcd).await {
            Ok(d) => etcd_fo.push(d),
            Err(e) => {
                eprintln!("etcd failover trial {}: {e:#}", trial + 1);
                fo_failed.1 += 1;
            }
        }
        eprintln!(
            "failover trial {}: micro {:?}, etcd {:?}",
            trial + 1,
            micro_fo.last(),
            etcd_fo.last()
        );
    }

    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "{} · {} · {} · {cpus} CPUs · load average {load_before} before, {} after · \
         data under {} · {} round(s) of {}{}\n",
        version(
            &micro_tests::binary::micro_bin().display().to_string(),
            "--version"
        ),
        version("etcd", "--version"),
        version("nats-server", "--version"),
        load(),
        args.data_dir.display(),
        rounds,
        humantime::format_duration(args.duration),
        if args.smoke {
            " (smoke: 300 operations per run)"
        } else {
            ""
        },
    );
    println!("{}", table::throughput(&rows));
    if run_failover {
        println!("{}", table::failover(&micro_fo, &etcd_fo, fo_failed));
    }
    println!(
        "{}",
        table::memory(&[
            ("micro", idle.0, rss_loaded.0),
            ("etcd", idle.1, rss_loaded.1),
            ("nats (JetStream)", idle.2, rss_loaded.2),
        ])
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)?;
    }
    if !failed.is_empty() || fo_failed != (0, 0) {
        anyhow::bail!("{} run(s) failed:\n{}", failed.len(), failed.join("\n"));
    }
    Ok(())
}
