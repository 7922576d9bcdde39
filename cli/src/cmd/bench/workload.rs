//! The workloads against a micro cluster: closed-loop store writes and reads and event
//! publishes, or registry renewals at a fixed rate, each operation timed by `micro-bench`'s
//! engine, CPU read before and after.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use base64::Engine;
use micro_bench::report::{server_figures, ServerFigures};
use micro_bench::{key, Report};
use micro_proto::events::stream_client::StreamClient;
use micro_proto::events::PublishRequest;
use micro_proto::registry::registry_client::RegistryClient;
use micro_proto::registry::{Node, Options as RegistryOptions, Service};
use micro_proto::store::store_client::StoreClient;
use micro_proto::store::{ReadOptions, ReadRequest, Record, WriteRequest};
use rand::Rng;
use tonic::transport::Channel;

use super::{BenchArgs, Workload};
use crate::client::Client;

/// Services the heartbeat instances belong to.
const HEARTBEAT_SERVICES: usize = 100;
/// Topic the publish workload appends to.
const PUBLISH_TOPIC: &str = "bench";

/// One operation against one member.
#[derive(Clone)]
struct Op {
    client: Client,
    channel: Channel,
    api: String,
    http: Option<reqwest::Client>,
    headers: Vec<(String, String)>,
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

    async fn publish(&self, payload: Vec<u8>) -> Result<()> {
        if let Some(http) = &self.http {
            let body = serde_json::json!({
                "topic": PUBLISH_TOPIC,
                "payload": base64::engine::general_purpose::STANDARD.encode(payload),
            });
            return self.post(http, "/events/stream/publish", body).await;
        }
        let req = PublishRequest {
            topic: PUBLISH_TOPIC.into(),
            payload,
            ..Default::default()
        };
        StreamClient::new(self.channel.clone())
            .publish(self.client.request(req))
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

/// Server CPU and memory: from the processes `--pids` when given (the same reading the
/// etcd comparison uses), else from `micro_process_cpu_seconds` of each `--admin` node.
async fn servers(args: &BenchArgs) -> Option<ServerFigures> {
    if !args.load.pids.is_empty() {
        return server_figures(&args.load.pids);
    }
    admin_figures(&args.admin).await
}

/// Sums `micro_process_cpu_seconds` over the admin addresses and lists resident memory;
/// `None` without addresses or when one does not answer.
async fn admin_figures(admin: &[String]) -> Option<ServerFigures> {
    if admin.is_empty() {
        return None;
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let mut f = ServerFigures::default();
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
        f.cpu_s += sample("micro_process_cpu_seconds")?;
        f.rss_mib
            .push(sample("process_resident_memory_bytes").unwrap_or(0.0) / (1024.0 * 1024.0));
    }
    Some(f)
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
    let http = args.load.http.then(reqwest::Client::new);
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
        (0..args.load.value_size).map(|_| rng.gen()).collect()
    };
    prepare(args, &ops, &value).await?;

    let before = (own_cpu(), servers(args).await);
    let (tally, elapsed) = match args.workload {
        Workload::Put | Workload::Get | Workload::Publish => closed_loop(args, ops, value).await,
        Workload::Heartbeat => heartbeats(args, ops).await,
    };
    let after = (own_cpu(), servers(args).await);
    let via = if args.load.http { "http" } else { "grpc" };
    let name = match args.workload {
        Workload::Put => format!("put c={} {via} {:?}", args.load.clients, args.target),
        Workload::Get => format!(
            "get{} c={} {via} {:?}",
            if args.load.stale { " stale" } else { "" },
            args.load.clients,
            args.target
        ),
        Workload::Publish => format!("publish c={} {via} {:?}", args.load.clients, args.target),
        Workload::Heartbeat => format!(
            "heartbeat n={} every {:?}",
            args.load.instances, args.load.interval
        ),
    };
    let servers = before.1.zip(after.1);
    Ok(Report::new(
        name.to_lowercase(),
        &tally,
        elapsed,
        after.0 - before.0,
        servers,
    ))
}

/// What must exist before measuring: the keys a read workload reads, the instances a
/// heartbeat workload renews.
async fn prepare(args: &BenchArgs, ops: &[Op], value: &[u8]) -> Result<()> {
    let n = match args.workload {
        Workload::Put | Workload::Publish => return Ok(()),
        Workload::Get => args.load.keys,
        Workload::Heartbeat => args.load.instances,
    };
    let next = Arc::new(AtomicU64::new(0));
    let ttl = args.load.lease_ttl_secs();
    let workers = (0..64).map(|w| {
        let (op, next, value) = (ops[w % ops.len()].clone(), next.clone(), value.to_vec());
        let (workload, key_size) = (args.workload, args.load.key_size);
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

/// `--clients` closed-loop clients, spread over the members round-robin.
async fn closed_loop(
    args: &BenchArgs,
    ops: Vec<Op>,
    value: Vec<u8>,
) -> (micro_bench::Tally, Duration) {
    let limits = args.load.limits();
    let (workload, keys, key_size, stale) = (
        args.workload,
        args.load.keys,
        args.load.key_size,
        args.load.stale,
    );
    let (ops, value) = (Arc::new(ops), Arc::new(value));
    micro_bench::closed_loop(limits, move |c| {
        let (ops, value) = (ops.clone(), value.clone());
        async move {
            let op = &ops[c % ops.len()];
            let k = key(rand::thread_rng().gen_range(0..keys), key_size);
            match workload {
                Workload::Put => op.put(k, value.to_vec()).await,
                Workload::Publish => op.publish(value.to_vec()).await,
                _ => op.get(k, stale).await,
            }
        }
    })
    .await
}

/// Renews every instance once per interval, spread evenly, with at most `--clients`
/// renewals in flight.
async fn heartbeats(args: &BenchArgs, ops: Vec<Op>) -> (micro_bench::Tally, Duration) {
    let (every, total) = args.load.renewal_pace();
    let (instances, ttl) = (args.load.instances, args.load.lease_ttl_secs());
    micro_bench::fixed_rate(total, every, args.load.clients, move |n| {
        let op = ops[n as usize % ops.len()].clone();
        async move { op.renew(n as usize % instances, ttl).await }
    })
    .await
}
