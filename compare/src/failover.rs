//! Leader failover: kill -9 of the leader, then the time until a write sent to a surviving
//! member succeeds. A write is started every 10 ms (each may wait up to 5 s), so the figure is
//! the end of the first successful write begun after the kill, measured from the kill.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use micro_proto::store::store_client::StoreClient;
use micro_proto::store::{Record, WriteRequest};
use micro_tests::auth;

use crate::etcd::{EtcdCluster, EtcdOp};
use crate::systems::Micro;

/// How often a new write is started.
const EVERY: Duration = Duration::from_millis(10);
/// How long one write may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// When a trial gives up.
const GIVE_UP: Duration = Duration::from_secs(30);

/// Starts a write with `write(n)` every [`EVERY`] from `killed_at`; returns when the first
/// one succeeded, measured from `killed_at`.
async fn first_success<F, Fut>(killed_at: Instant, write: F) -> Result<Duration>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(EVERY);
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if killed_at.elapsed() > GIVE_UP {
                    bail!("no write succeeded within {GIVE_UP:?} of the kill");
                }
                let (fut, tx) = (write(n), tx.clone());
                n += 1;
                tasks.spawn(async move {
                    if let Ok(Ok(())) = tokio::time::timeout(WRITE_TIMEOUT, fut).await {
                        let _ = tx.send(Instant::now());
                    }
                });
            }
            Some(done) = rx.recv() => {
                tasks.abort_all();
                return Ok(done - killed_at);
            }
        }
    }
}

/// One micro trial: kill -9 the leader, time the first write through a survivor, then
/// restart the node and wait until the cluster is whole again.
pub async fn micro(m: &mut Micro) -> Result<Duration> {
    let c = &mut m.cluster;
    let leader = c.leader(Duration::from_secs(30)).await?;
    let survivors: Vec<String> = (0..c.nodes.len())
        .filter(|&i| i != leader)
        .map(|i| c.nodes[i].addrs.proxy.clone())
        .collect();
    let mut clients = Vec::new();
    for s in &survivors {
        clients.push(StoreClient::new(auth::connect(s, &c.admin).await?));
    }
    let write = |n: u64| {
        let mut client = clients[n as usize % clients.len()].clone();
        async move {
            let req = WriteRequest {
                record: Some(Record {
                    key: format!("failover-{n}"),
                    value: b"x".to_vec(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            client.write(req).await?;
            Ok(())
        }
    };
    // The cluster takes writes before the kill.
    write(u64::MAX).await?;
    c.nodes[leader].kill();
    let took = first_success(Instant::now(), write).await;
    c.nodes[leader].start()?;
    c.nodes[leader].wait_ready(Duration::from_secs(60)).await?;
    c.leader(Duration::from_secs(30)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    took
}

/// One etcd trial, the same way.
pub async fn etcd(e: &mut EtcdCluster) -> Result<Duration> {
    let leader = e.leader().await?;
    let endpoints = e.endpoints();
    let mut clients = Vec::new();
    for (i, ep) in endpoints.iter().enumerate() {
        if i != leader {
            clients.push(EtcdOp::connect(ep, None).await?);
        }
    }
    let write = |n: u64| {
        let client = clients[n as usize % clients.len()].clone();
        async move {
            client
                .put(format!("failover-{n}").into_bytes(), b"x".to_vec(), 0)
                .await
        }
    };
    write(u64::MAX).await?;
    e.kill(leader);
    let took = first_success(Instant::now(), write).await;
    e.restart(leader).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    took
}
