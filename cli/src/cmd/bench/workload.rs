//! The workloads: closed-loop clients (put, get) or renewals at a fixed rate (heartbeat), each
//! operation timed into a histogram, CPU read before and after.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use base64::Engine;
use hdrhistogram::Histogram;
use micro_proto::registry::registry_client::RegistryClient;
use micro_proto::registry::{Node, Options as RegistryOptions, Service};
use micro_proto::store::store_client::StoreClient;
use micro_proto::store::{ReadOptions, ReadRequest, Record, WriteRequest};
use rand::Rng;
use tonic::transport::Channel;

use super::{BenchArgs, Report, Workload};
use crate::client::Client;

/// What a task measured: latencies of successful operations, their count, and the errors.
type Tally = (Histogram<u64>, u64, u64);

/// Services the heartbeat instances belong to.
const HEARTBEAT_SERVICES: usize = 100;
/// Highest latency recorded, in microseconds (a minute).
const MAX_LATENCY_US: u64 = 60_000_000;

/// One operation against one member.
#[derive(Clone)]
struct Op {
    client: Client,
    channel: Channel,
    api: String,
    http: Option<reqwest::Client>,
    headers: Vec<(String, String)>,
}

fn key(i: usize, size: usize) -> String {
    let k = format!("{i:0size$}");
    k[k.len() - size.min(k.len())..].to_owned()
}

impl Op {
    async fn put(&self, key: String, value: Vec<u8>) -> Result<()> {
        if let Some(http) = &self.http {
            let body = serde_json::json!({
                "record": {"key": key, "value": base64::engine::general_purpose::STANDARD.encode(value)}
            });
            return self.post(http, "/store/write", body).await;
        }
        let req = WriteRequest {
            record: Some(Record {
                key,
                value,
                ..Default::default()
            }),
            ..Default::default()
        };
        StoreClient::new(self.channel.clone())
            .write(self.client.request(req))
            .await?;
        Ok(())
    }

    async fn get(&self, key: String, stale: bool) -> Result<()> {
        if let Some(http) = &self.http {
            let body = serde_json::json!({"key": key, "options": {"stale": stale}});
            return self.post(http, "/store/read", body).await;
        }
        let req = ReadRequest {
            key,
            options: Some(ReadOptions {
                stale,
                ..Default::default()
            }),
        };
        StoreClient::new(self.channel.clone())
            .read(self.client.request(req))
            .await?;
        Ok(())
    }

    async fn renew(&self, instance: usize, ttl: i64) -> Result<()> {
        let svc = Service {
            name: format!("bench-{}", instance % HEARTBEAT_SERVICES),
            version: "1".into(),
            nodes: vec![Node {
                id: format!("bench-{instance}"),
                address: format!(
                    "10.{}.{}.{}:8080",
                    instance >> 16 & 255,
                    instance >> 8 & 255,
                    instance & 255
                ),
                ..Default::default()
            }],
            options: Some(RegistryOptions {
                ttl,
                domain: String::new(),
            }),
            ..Default::default()
        };
        RegistryClient::new(self.channel.clone())
            .register(self.client.request(svc))
            .await?;
        Ok(())
    }

    async fn post(
        &self,
        http: &reqwest::Client,
        path: &str,
        body: serde_json::Value,
    ) -> Result<()> {
        let mut req = http.post(format!("http://{}{path}", self.api)).json(&body);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        let resp = req.send().await?;
        if !resp.status().is_success() {
            return Err(anyhow!(
                "{}: {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            ));
        }
        Ok(())
    }
}

/// User plus system CPU seconds of this process.
fn own_cpu() -> f64 {
    micro_node::admin::cpu_seconds().unwrap_or(0.0)
}

/// Sums `micro_process_cpu_seconds` over the admin addresses and lists resident memory;
/// `None` without addresses or when one does not answer.
async fn server_figures(admin: &[String]) -> Option<(f64, Vec<f64>)> {
    if admin.is_empty() {
        return None;
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let mut cpu = 0.0;
    let mut rss = Vec::new();
    for a in admin {
        let text = http
            .get(format!("http://{a}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let sample = |name: &str| -> Option<f64> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        };
        cpu += sample("micro_process_cpu_seconds")?;
        rss.push(sample("process_resident_memory_bytes").unwrap_or(0.0) / (1024.0 * 1024.0));
    }
    Some((cpu, rss))
}

/// Runs the workload of `args` against `targets` (proxy, api) and measures it.
pub async fn run(
    args: &BenchArgs,
    client: &Client,
    targets: &[(String, String)],
) -> Result<Report> {
    let probe = client.request(());
    let headers: Vec<(String, String)> = probe
        .metadata()
        .iter()
        .filter_map(|kv| match kv {
            tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned()))
            }
            _ => None,
        })
        .collect();
    let http = args.http.then(reqwest::Client::new);
    let mut ops = Vec::new();
    for (proxy, api) in targets {
        let channel = client
            .channel_to(proxy)
            .await
            .with_context(|| format!("connecting to {proxy}"))?;
        ops.push(Op {
            client: client.clone(),
            channel,
            api: api.clone(),
            http: http.clone(),
            headers: headers.clone(),
        });
    }
    let value: Vec<u8> = {
        let mut rng = rand::thread_rng();
        (0..args.value_size).map(|_| rng.gen()).collect()
    };
    prepare(args, &ops, &value).await?;

    let cpu_before = (own_cpu(), server_figures(&args.admin).await);
    let started = Instant::now();
    let (hist, done, errors) = match args.workload {
        Workload::Put | Workload::Get => closed_loop(args, &ops, &value).await,
        Workload::Heartbeat => heartbeats(args, &ops).await,
    };
    let seconds = started.elapsed().as_secs_f64();
    let cpu_after = (own_cpu(), server_figures(&args.admin).await);
    let server_cpu_s = match (&cpu_before.1, &cpu_after.1) {
        (Some((b, _)), Some((a, _))) => Some(a - b),
        _ => None,
    };
    let q = |p: f64| hist.value_at_quantile(p) as f64 / 1000.0;
    let via = if args.http { "http" } else { "grpc" };
    let name = match args.workload {
        Workload::Put => format!("put c={} {via} {:?}", args.clients, args.target),
        Workload::Get => format!(
            "get{} c={} {via} {:?}",
            if args.stale { " stale" } else { "" },
            args.clients,
            args.target
        ),
        Workload::Heartbeat => format!("heartbeat n={} every {:?}", args.instances, args.interval),
    };
    Ok(Report {
        workload: name.to_lowercase(),
        ops: done,
        errors,
        seconds,
        ops_per_sec: done as f64 / seconds,
        latency_ms: [q(0.5), q(0.9), q(0.99), q(0.999)],
        client_cpu_s: cpu_after.0 - cpu_before.0,
        server_cpu_s,
        server_rss_mib: cpu_after.1.map(|(_, r)| r).unwrap_or_default(),
    })
}

/// What must exist before measuring: the keys a read workload reads, the instances a
/// heartbeat workload renews.
async fn prepare(args: &BenchArgs, ops: &[Op], value: &[u8]) -> Result<()> {
    let n = match args.workload {
        Workload::Put => return Ok(()),
        Workload::Get => args.keys,
        Workload::Heartbeat => args.instances,
    };
    let next = Arc::new(AtomicU64::new(0));
    let ttl = (args.interval.as_secs() * 3).max(1) as i64;
    let workers = (0..64).map(|w| {
        let (op, next, value) = (ops[w % ops.len()].clone(), next.clone(), value.to_vec());
        let (workload, key_size) = (args.workload, args.key_size);
        tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                match workload {
                    Workload::Get => op.put(key(i, key_size), value.clone()).await?,
                    _ => op.renew(i, ttl).await?,
                }
            }
        })
    });
    for w in futures::future::join_all(workers).await {
        w??;
    }
    Ok(())
}

fn histogram() -> Histogram<u64> {
    // Three significant digits up to a minute: a few hundred KiB, fixed.
    Histogram::new_with_max(MAX_LATENCY_US, 3).expect("constant histogram bounds are valid")
}

/// `clients` tasks, each issuing one operation after another until the time or the operation
/// budget runs out.
async fn closed_loop(args: &BenchArgs, ops: &[Op], value: &[u8]) -> Tally {
    let deadline = Instant::now() + args.duration;
    let budget = Arc::new(AtomicU64::new(args.ops.unwrap_or(u64::MAX)));
    let tasks = (0..args.clients).map(|c| {
        let (op, value, budget) = (ops[c % ops.len()].clone(), value.to_vec(), budget.clone());
        let (workload, keys, key_size, stale) =
            (args.workload, args.keys, args.key_size, args.stale);
        tokio::spawn(async move {
            let mut hist = histogram();
            let (mut done, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline
                && budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
                    .is_ok()
            {
                let k = key(rand::thread_rng().gen_range(0..keys), key_size);
                let t = Instant::now();
                let outcome = match workload {
                    Workload::Put => op.put(k, value.clone()).await,
                    _ => op.get(k, stale).await,
                };
                match outcome {
                    Ok(()) => {
                        done += 1;
                        let _ = hist.record((t.elapsed().as_micros() as u64).min(MAX_LATENCY_US));
                    }
                    Err(_) => errors += 1,
                }
            }
            (hist, done, errors)
        })
    });
    merge(futures::future::join_all(tasks).await)
}

/// Renews every instance once per interval, spread evenly, with at most `clients` renewals
/// in flight; latency is measured from each renewal's due time, so a backlog shows.
async fn heartbeats(args: &BenchArgs, ops: &[Op]) -> Tally {
    let per = args.interval.as_secs_f64() / args.instances as f64;
    let ttl = (args.interval.as_secs() * 3).max(1) as i64;
    let slots = Arc::new(tokio::sync::Semaphore::new(args.clients.max(1)));
    let start = Instant::now();
    let total = args
        .ops
        .unwrap_or(u64::MAX)
        .min((args.duration.as_secs_f64() / per) as u64);
    let mut tasks = Vec::new();
    for n in 0..total {
        let due = start + Duration::from_secs_f64(n as f64 * per);
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let op = ops[n as usize % ops.len()].clone();
        let instance = n as usize % args.instances;
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let mut hist = histogram();
            let ok = op.renew(instance, ttl).await.is_ok();
            if ok {
                let _ = hist.record((due.elapsed().as_micros() as u64).min(MAX_LATENCY_US));
            }
            (hist, u64::from(ok), u64::from(!ok))
        }));
    }
    merge(futures::future::join_all(tasks).await)
}

fn merge(results: Vec<Result<Tally, tokio::task::JoinError>>) -> Tally {
    let mut all = histogram();
    let (mut done, mut errors) = (0, 0);
    for (h, d, e) in results.into_iter().flatten() {
        let _ = all.add(&h);
        done += d;
        errors += e;
    }
    (all, done, errors)
}
