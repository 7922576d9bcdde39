//! `micro-compare drive`: one measured run against etcd or NATS, in its own process (as
//! `micro bench` is for micro), so each side's client CPU is its own. Prints the
//! [`Report`] as JSON.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use micro_bench::report::server_figures;
use micro_bench::{process, Limits, Report};
use rand::Rng;

use crate::etcd::EtcdOp;
use crate::nats::NatsOp;

/// Arguments of `micro-compare drive`, named as `micro bench`'s.
#[derive(Debug, Clone, Args)]
pub struct DriveArgs {
    /// Which system
    #[arg(value_enum)]
    pub system: System,
    /// What to measure
    #[arg(value_enum)]
    pub workload: DriveWorkload,
    /// Client addresses (host:port, comma-separated); clients are spread over them
    #[arg(long, value_delimiter = ',', required = true)]
    pub endpoints: Vec<String>,
    #[command(flatten)]
    pub load: micro_bench::LoadArgs,
}

/// The system driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum System {
    /// etcd v3.
    Etcd,
    /// NATS JetStream.
    Nats,
}

/// What `drive` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriveWorkload {
    /// Writes of random keys (etcd)
    Put,
    /// Reads of existing keys (etcd)
    Get,
    /// Durable publishes (NATS JetStream)
    Publish,
    /// Lease renewals of --instances leases every --interval (etcd)
    Keepalive,
}

/// Key `i` of `size` bytes, as `micro bench` makes them.
fn key(i: usize, size: usize) -> Vec<u8> {
    micro_bench::key(i, size).into_bytes()
}

/// Runs one measured workload and returns its report.
pub async fn run(args: DriveArgs) -> Result<Report> {
    use DriveWorkload::*;
    match (args.system, args.workload) {
        (System::Etcd, Put | Get | Keepalive) | (System::Nats, Publish) => {}
        (s, w) => bail!("{s:?} has no {w:?} workload here"),
    }
    let value: Arc<Vec<u8>> = {
        let mut rng = rand::thread_rng();
        Arc::new((0..args.load.value_size).map(|_| rng.gen()).collect())
    };
    let limits = args.load.limits();
    let via = if args.load.http { "http" } else { "grpc" };
    let (name, measured) = match args.system {
        System::Nats => {
            let mut ops = Vec::new();
            for e in &args.endpoints {
                ops.push(NatsOp::connect(e).await?);
            }
            let ops = Arc::new(ops);
            let before = (process::cpu_seconds(None), server_figures(&args.load.pids));
            let (tally, elapsed) = micro_bench::closed_loop(limits, move |c| {
                let (ops, value) = (ops.clone(), value.clone());
                async move { ops[c % ops.len()].publish(value.to_vec()).await }
            })
            .await;
            (
                format!("publish c={}", args.load.clients),
                (before, tally, elapsed),
            )
        }
        System::Etcd => {
            let http = args.load.http.then(reqwest::Client::new);
            let mut ops = Vec::new();
            for e in &args.endpoints {
                ops.push(EtcdOp::connect(e, http.clone()).await?);
            }
            match args.workload {
                Keepalive => keepalive(&args, ops).await?,
                _ => {
                    if args.workload == Get {
                        prepare_keys(&args, &ops, &value).await?;
                    }
                    let ops = Arc::new(ops);
                    let (workload, keys, key_size, stale) = (
                        args.workload,
                        args.load.keys,
                        args.load.key_size,
                        args.load.stale,
                    );
                    let before = (process::cpu_seconds(None), server_figures(&args.load.pids));
                    let (tally, elapsed) = micro_bench::closed_loop(limits, move |c| {
                        let (ops, value) = (ops.clone(), value.clone());
                        async move {
                            let op = &ops[c % ops.len()];
                            let k = key(rand::thread_rng().gen_range(0..keys), key_size);
                            match workload {
                                Put => op.put(k, value.to_vec(), 0).await,
                                _ => op.get(k, stale).await,
                            }
                        }
                    })
                    .await;
                    let name = match args.workload {
                        Put => format!("put c={} {via}", args.load.clients),
                        _ => format!(
                            "get{} c={} {via}",
                            if args.load.stale { " stale" } else { "" },
                            args.load.clients
                        ),
                    };
                    (name, (before, tally, elapsed))
                }
            }
        }
    };
    let (before, tally, elapsed) = measured;
    let after = (process::cpu_seconds(None), server_figures(&args.load.pids));
    Ok(Report::new(
        name,
        &tally,
        elapsed,
        after.0.unwrap_or(0.0) - before.0.unwrap_or(0.0),
        before.1.zip(after.1),
    ))
}

type Measured = (
    (Option<f64>, Option<micro_bench::report::ServerFigures>),
    micro_bench::Tally,
    Duration,
);

/// Writes the keys a read workload reads, 64 at a time.
async fn prepare_keys(args: &DriveArgs, ops: &[EtcdOp], value: &[u8]) -> Result<()> {
    let limits = Limits {
        clients: 64,
        duration: Duration::from_secs(3600),
        ops: Some(args.load.keys as u64),
    };
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (ops, value, key_size) = (
        Arc::new(ops.to_vec()),
        Arc::new(value.to_vec()),
        args.load.key_size,
    );
    let (tally, _) = micro_bench::closed_loop(limits, move |c| {
        let (ops, value, next) = (ops.clone(), value.clone(), next.clone());
        async move {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            ops[c % ops.len()]
                .put(key(i, key_size), value.to_vec(), 0)
                .await
        }
    })
    .await;
    match tally.first_error {
        Some(e) => bail!("writing the keys to read: {e}"),
        None => Ok(()),
    }
}

/// etcd's twin of registry heartbeats: `--instances` leases (each with a key attached, as a
/// registration would be), each renewed once per `--interval` at a fixed rate.
async fn keepalive(args: &DriveArgs, ops: Vec<EtcdOp>) -> Result<(String, Measured)> {
    let ttl = args.load.lease_ttl_secs();
    let limits = Limits {
        clients: 64,
        duration: Duration::from_secs(3600),
        ops: Some(args.load.instances as u64),
    };
    let leases = Arc::new(std::sync::Mutex::new(Vec::with_capacity(
        args.load.instances,
    )));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let (ops, leases, next) = (Arc::new(ops.clone()), leases.clone(), next.clone());
        let (tally, _) = micro_bench::closed_loop(limits, move |c| {
            let (ops, leases, next) = (ops.clone(), leases.clone(), next.clone());
            async move {
                let op = &ops[c % ops.len()];
                let id = op.grant(ttl).await?;
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let k = format!("bench/instances/{i}").into_bytes();
                op.put(
                    k,
                    format!("10.0.{}.{}:8080", i >> 8 & 255, i & 255).into_bytes(),
                    id,
                )
                .await?;
                // std Mutex: held for one push, never across an await.
                leases.lock().expect("lease list").push(id);
                Ok(())
            }
        })
        .await;
        if let Some(e) = tally.first_error {
            bail!("granting the leases: {e}");
        }
    }
    let leases: Arc<Vec<i64>> = Arc::new(std::mem::take(&mut *leases.lock().expect("lease list")));
    let (every, total) = args.load.renewal_pace();
    let before = (process::cpu_seconds(None), server_figures(&args.load.pids));
    let ops = Arc::new(ops);
    let (tally, elapsed) = micro_bench::fixed_rate(total, every, args.load.clients, move |n| {
        let op = ops[n as usize % ops.len()].clone();
        let id = leases[n as usize % leases.len()];
        async move { op.keep_alive(id).await }
    })
    .await;
    let name = format!(
        "keepalive n={} every {:?}",
        args.load.instances, args.load.interval
    );
    Ok((name, (before, tally, elapsed)))
}
