//! `jepsen`: runs fault-injection tests against real `micro` clusters and checks histories.
//!
//! `jepsen test --nodes 5 --time 60 --workload register --nemesis kill,pause,partition` starts
//! the cluster from an already built `micro` binary (`--micro-bin`, default
//! `target/release/micro`), and `jepsen check HISTORY` re-checks a recorded history.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use micro_jepsen::checker::{self, CheckerConfig};
use micro_jepsen::history::{History, OpKind};
use micro_jepsen::nemesis::NemesisKind;
use micro_jepsen::runner::{run_test, token_config, TestOptions, Workload};

#[derive(Parser)]
#[command(
    name = "jepsen",
    about = "Fault-injection tests and linearizability checks for micro"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a cluster, run a workload under faults and check the outcome.
    Test {
        /// Number of nodes.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Seconds of client traffic.
        #[arg(long, default_value_t = 30)]
        time: u64,
        /// register, set, registry, config or auth.
        #[arg(long, default_value = "register")]
        workload: Workload,
        /// Comma-separated faults: kill, pause, partition, member, clock, disk, or none.
        #[arg(long, default_value = "kill,pause,partition", value_delimiter = ',')]
        nemesis: Vec<String>,
        /// Concurrent clients (default: two per node).
        #[arg(long)]
        concurrency: Option<usize>,
        /// Keys of the register workload (paths of the config workload).
        #[arg(long, default_value_t = 5)]
        keys: usize,
        /// Random seed (default: from the clock).
        #[arg(long)]
        seed: Option<u64>,
        /// Snapshot threshold passed to every node (small so snapshots install under faults).
        #[arg(long, default_value_t = 100)]
        snapshot_threshold: u64,
        /// Where data dirs, logs and history.jsonl go (default: a new directory under /tmp).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The micro binary to run.
        #[arg(long, env = "MICRO_BIN", default_value = "target/release/micro")]
        micro_bin: PathBuf,
        /// Run without nemeses this machine cannot provide instead of failing.
        #[arg(long)]
        skip_unavailable: bool,
    },
    /// Check a recorded history (JSON lines) for linearizability (and, when it has token uses,
    /// with the token checker).
    Check {
        /// The history file.
        history: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("jepsen: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("jepsen: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> anyhow::Result<bool> {
    match command {
        Command::Check { history } => {
            let h = History::read_jsonl(&history)?;
            let report = checker::check(&h, &CheckerConfig::default())?;
            println!(
                "{} ops, {} keys: {}",
                report.counts.ops,
                report.keys.len(),
                report.verdict
            );
            if !h.ops.iter().any(|op| op.kind == OpKind::Use) {
                return Ok(report.is_linearizable());
            }
            let tokens = checker::check_tokens(&h, token_config())?;
            println!(
                "tokens: {} issued, uses {:?} (accepted, refused, unknown), {} violations",
                tokens.issued,
                tokens.uses,
                tokens.violations.len()
            );
            for v in &tokens.violations {
                println!("  {:?}: {}", v.kind, v.description);
            }
            Ok(report.is_linearizable() && tokens.is_valid())
        }
        Command::Test {
            nodes,
            time,
            workload,
            nemesis,
            concurrency,
            keys,
            seed,
            snapshot_threshold,
            dir,
            micro_bin,
            skip_unavailable,
        } => {
            if !micro_bin.exists() {
                anyhow::bail!(
                    "{} not found: build it first (cargo build --release)",
                    micro_bin.display()
                );
            }
            std::env::set_var("MICRO_BIN", std::fs::canonicalize(&micro_bin)?);
            let seed = seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            });
            // A directory we made is removed after a passing run; a failing run keeps it (and
            // a directory given with --dir is always kept) so the history can be studied.
            let (dir, ours) = match dir {
                Some(d) => (d, false),
                None => (
                    tempfile::Builder::new().prefix("jepsen-").tempdir()?.keep(),
                    true,
                ),
            };
            let nemesis = nemesis
                .iter()
                .filter(|n| !matches!(n.trim(), "" | "none"))
                .map(|n| n.parse::<NemesisKind>().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let opts = TestOptions {
                nodes,
                time: Duration::from_secs(time),
                workload,
                nemesis,
                concurrency: concurrency.unwrap_or(nodes * 2),
                keys,
                seed,
                snapshot_threshold,
                dir: dir.clone(),
                skip_unavailable,
            };
            let valid = run_test(opts).await?;
            if valid && ours {
                let _ = std::fs::remove_dir_all(&dir);
            } else {
                println!("run data kept in {}", dir.display());
            }
            Ok(valid)
        }
    }
}
